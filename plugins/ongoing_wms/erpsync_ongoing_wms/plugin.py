"""The Ongoing WMS plugin: hook implementations, thin; the work is in client and mapping.

Status numbers, never the localised texts, decide what may change and what is reported
(https://docs.ongoingwarehouse.com/manuals/statuses: "It is possible for each warehouse to
customize the statuses", so every set is a setting). Deliveries and receipts ignore ``since``:
Ongoing itself remembers what the ERP has been told (``reportedNumberOfItems``), so every
unreported one is returned however old it is. Inventory adjustments are read from ``since``
(else ``lookback_days`` back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from erpsync.errors import RecordRejected
from erpsync.hookspecs import Context, PluginInfo, WriteResult, hookimpl
from erpsync.http import check_base_url
from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    LengthUnit,
    Order,
    PurchaseOrder,
    Receipt,
    StockBalance,
)
from erpsync.secrets import Secret

from . import mapping
from .client import VENDOR, OngoingClient

__all__ = ["OngoingSettings"]

Statuses = frozenset[int]
"""A set of Ongoing status numbers (the operator writes a list: ``[450, 500]``)."""


class OngoingSettings(BaseModel):
    """The Ongoing WMS connection of one goods owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    """The REST API of the warehouse: ``https://api.ongoingsystems.se/{warehouse}/api/v1``
    ({warehouse} as in the warehouse's login URL); demo systems have other hosts."""
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    """The API user of the goods owner (Administration => API for goods owners)."""
    password: Secret
    goods_owner_id: int = Field(ge=1)
    page_size: int = Field(default=500, ge=1)
    """Records per list request (``maxOrdersToGet``, ``maxArticlesToGet`` ...)."""
    editable_order_statuses: Statuses = frozenset({150, 200})
    """Order statuses in which an order may still be updated or cancelled: 150 Error and
    200 Open ("The goods owner is creating the order"); from 300 Released "the warehouse
    operators may begin picking" (https://docs.ongoingwarehouse.com/manuals/statuses).
    Ongoing itself refuses a change to a started order; when it refuses a write, an order in
    any other status is reported as skipped (the warehouse has it), not as a rejected record.
    A cancellation is sent only in these statuses."""
    cancelled_order_statuses: Statuses = frozenset({1000})
    """1000 Cancelled: an order the ERP cancelled that is already here needs nothing more."""
    delivered_order_statuses: Statuses = Field(default=frozenset({450, 500}), min_length=1)
    """450 Sent, 500 Collected: "A finished order will generally have status 450 or 500"
    (statuses manual); seed 000 reports orders "set to status Sent or Collected"."""
    editable_purchase_order_statuses: Statuses = frozenset({100})
    """100 Notified: nothing has arrived yet (``GET /purchaseOrders/statuses`` in the vendor's
    examples: 100 Notified, 200 Arrival space, 300 Inbound, 400 Deflection, 500 Received,
    900 Cancelled). A refused write to a purchase order in any other status is skipped."""
    complete_purchase_order_statuses: Statuses = Field(default=frozenset({400, 500}),
                                                       min_length=1)
    """400 Deflection, 500 Received: the warehouse closed the purchase order (seed 002)."""
    stock_quantity: Literal["sellable", "physical"] = "sellable"
    """``sellableNumberOfItems`` (may be negative) or ``numberOfItems`` (physically there):
    https://developer.ongoingwarehouse.com/inventory."""
    length_unit: LengthUnit = LengthUnit.METRE
    """The unit Ongoing's article length, width and height are kept in. The API does not say;
    metres unless the warehouse says otherwise (SEED-READINGS, Fortnox). Weights are kg."""
    lookback_days: int = Field(default=30, ge=1)
    """How far back the first read of inventory adjustments (and of purchase orders closed
    without new goods) looks, when there is no cursor yet."""
    requests_per_minute: int = Field(default=300, ge=1)
    """A pace under which calls are made (the vendor publishes no limit); always one at a
    time (https://developer.ongoingwarehouse.com/parallel-requests)."""

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value, example="https://api.ongoingsystems.se/WAREHOUSE/api/v1")


@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="ongoing_wms",
        version="0.1.0",
        hookspec_version="1.1",  # the hook specifications this plugin was built for
        role="wms",
        settings_model=OngoingSettings,
        description="Ongoing WMS through its Goods Owner REST API v1.",
    )


async def _client(ctx: Context, settings: OngoingSettings) -> OngoingClient:
    async def connect() -> OngoingClient:
        return OngoingClient(
            settings.base_url,
            username=settings.username,
            password=settings.password.get_secret_value(),
            goods_owner_id=settings.goods_owner_id,
            page_size=settings.page_size,
            requests_per_minute=settings.requests_per_minute,
        )

    return await ctx.resource("client", connect)


def _now() -> datetime:
    return datetime.now(UTC)


def _skipped(what: str, number: str, status: tuple[int, str], allowed: frozenset[int]
             ) -> WriteResult:
    code, text = status
    return WriteResult(
        outcome="skipped",
        reason=(f"{what} {number} is {text} (status {code}) in Ongoing WMS, which allows no "
                f"more changes from the ERP (allowed in statuses {sorted(allowed)}); change it "
                "in the warehouse if it must change"),
    )


async def _started(what: str, number: str, find: Callable[[str], Awaitable[mapping.Json | None]],
                   status_of: Callable[[mapping.Json], tuple[int, str]],
                   editable: frozenset[int]) -> WriteResult | None:
    """After Ongoing refused a write: "skipped" if the record is in a status the warehouse
    works in (so the refusal was the warehouse's), else None (the record was at fault)."""
    existing = await find(number)
    if existing is None:
        return None
    status = status_of(existing)
    return None if status[0] in editable else _skipped(what, number, status, editable)


@hookimpl
async def check_connection(ctx: Context, settings: OngoingSettings) -> None:
    await (await _client(ctx, settings)).ping()


# --- writes --------------------------------------------------------------------------------


@hookimpl
async def upsert_article(ctx: Context, settings: OngoingSettings, article: Article
                         ) -> WriteResult:
    body = mapping.article_body(article, goods_owner_id=settings.goods_owner_id,
                                length_unit=settings.length_unit)
    answer = await (await _client(ctx, settings)).put_article(body, key=article.article_number)
    ctx.log.debug("%s: article %s: %s", VENDOR, article.article_number, answer.get("message"))
    return WriteResult(outcome="written", wms_key=_id(answer, "articleSystemId"))


@hookimpl
async def upsert_order(ctx: Context, settings: OngoingSettings, order: Order) -> WriteResult:
    client = await _client(ctx, settings)
    number = order.order_number
    if order.cancelled:
        return await _cancel_order(ctx, settings, client, number)
    body = mapping.order_body(order, goods_owner_id=settings.goods_owner_id,
                              today=_now().date())
    try:
        answer = await client.put_order(body, key=number)
    except RecordRejected:
        # Ongoing refuses a change once the warehouse has started on the order (C4 of the
        # simulator: "you are not allowed to update an order after the warehouse has started
        # working on it"). The write goes first and the status is read only on a refusal, so
        # that an order costs one request, not a look-up and a write.
        started = await _started("order", number, client.find_order, mapping.order_status,
                                 settings.editable_order_statuses)
        if started is None:
            raise
        return started
    ctx.log.debug("%s: order %s: %s", VENDOR, number, answer.get("message"))
    return WriteResult(outcome="written", wms_key=_id(answer, "orderId"))


async def _cancel_order(ctx: Context, settings: OngoingSettings, client: OngoingClient,
                        number: str) -> WriteResult:
    existing = await client.find_order(number)
    if existing is None:
        ctx.log.info("%s: order %s was cancelled before it reached the warehouse", VENDOR, number)
        return WriteResult(outcome="written")
    status = mapping.order_status(existing)
    wms_id = mapping.order_id(existing)
    if status[0] in settings.cancelled_order_statuses:
        return WriteResult(outcome="written", wms_key=str(wms_id))
    if status[0] not in settings.editable_order_statuses:
        return _skipped("order", number, status, settings.editable_order_statuses)
    await client.cancel_order(wms_id, key=number)
    ctx.log.info("%s: order %s cancelled", VENDOR, number)
    return WriteResult(outcome="written", wms_key=str(wms_id))


@hookimpl
async def upsert_purchase_order(
    ctx: Context, settings: OngoingSettings, purchase_order: PurchaseOrder
) -> WriteResult:
    client = await _client(ctx, settings)
    number = purchase_order.order_number
    body = mapping.purchase_order_body(purchase_order, goods_owner_id=settings.goods_owner_id)
    try:
        answer = await client.put_purchase_order(body, key=number)
    except RecordRejected:
        # As for orders: a refused write is looked at, a written one costs no look-up.
        started = await _started("purchase order", number, client.find_purchase_order,
                                 mapping.purchase_order_status,
                                 settings.editable_purchase_order_statuses)
        if started is None:
            raise
        return started
    ctx.log.debug("%s: purchase order %s: %s", VENDOR, number, answer.get("message"))
    return WriteResult(outcome="written", wms_key=_id(answer, "purchaseOrderId"))


def _id(answer: mapping.Json, field: str) -> str | None:
    value = answer.get(field)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


# --- reads ---------------------------------------------------------------------------------


@hookimpl
async def fetch_deliveries(
    ctx: Context, settings: OngoingSettings, since: datetime | None
) -> AsyncIterator[Delivery]:
    statuses = settings.delivered_order_statuses
    now = _now()
    async for order in (await _client(ctx, settings)).orders_to_report(min(statuses),
                                                                       max(statuses)):
        delivery = mapping.delivery_of(order, delivered_statuses=statuses, now=now)
        if delivery is not None:
            yield delivery


@hookimpl
async def fetch_receipts(
    ctx: Context, settings: OngoingSettings, since: datetime | None
) -> AsyncIterator[Receipt]:
    client = await _client(ctx, settings)
    complete = settings.complete_purchase_order_statuses
    now = _now()
    seen: set[int] = set()
    async for purchase_order in client.purchase_orders_to_report():
        seen.add(mapping.purchase_order_id(purchase_order))
        receipt = mapping.receipt_of(purchase_order, complete_statuses=complete, now=now)
        if receipt is not None:
            yield receipt
    # A purchase order closed with nothing new to report: the ERP still hears it is complete.
    closed_since = since or now - timedelta(days=settings.lookback_days)
    async for purchase_order in client.purchase_orders_changed(min(complete), max(complete),
                                                               closed_since):
        if mapping.purchase_order_id(purchase_order) in seen:
            continue
        receipt = mapping.receipt_of(purchase_order, complete_statuses=complete, now=now,
                                     completion=True)
        if receipt is not None:
            yield receipt


@hookimpl
async def fetch_inventory_adjustments(
    ctx: Context, settings: OngoingSettings, since: datetime | None
) -> AsyncIterator[InventoryAdjustment]:
    now = _now()
    if since is not None and since > now:
        return
    start = since or now - timedelta(days=settings.lookback_days)
    lines = await (await _client(ctx, settings)).inventory_adjustments(start, now)
    for adjustment in mapping.adjustments_of(lines, since=since):
        yield adjustment


@hookimpl
async def fetch_stock_balances(
    ctx: Context, settings: OngoingSettings
) -> AsyncIterator[StockBalance]:
    async for article in (await _client(ctx, settings)).articles():
        balance = mapping.balance_of(article, quantity=settings.stock_quantity, as_of=_now())
        if balance is not None:
            yield balance


@hookimpl
async def mark_reported(ctx: Context, settings: OngoingSettings, flow: Flow, event: Event
                        ) -> None:
    client = await _client(ctx, settings)
    kind, wms_id, article_id = mapping.event_wms_ids(event.event_id)
    if flow is Flow.DELIVERIES and isinstance(event, Delivery) and kind == "order":
        totals = {line.external_line_key: line.total_delivered_quantity for line in event.lines}
        order = await client.get_order(wms_id)
        updates, missing = mapping.line_updates(order, "orderLines", "externalId", totals,
                                                where=f"order {event.order_number}")
        for line_id, quantity in updates:
            await client.set_order_line_reported(wms_id, line_id, quantity,
                                                 key=event.order_number)
    elif flow is Flow.RECEIPTS and isinstance(event, Receipt) and kind == "purchase-order":
        totals = {row.row_key: row.total_received_quantity for row in event.rows}
        purchase_order = await client.get_purchase_order(wms_id)
        number = event.purchase_order_number
        updates, missing = mapping.line_updates(
            purchase_order, "purchaseOrderLines", "externalOrderLineId", totals,
            where=f"purchase order {number}")
        for line_id, quantity in updates:
            await client.set_purchase_order_line_reported(wms_id, line_id, quantity, key=number)
    elif (flow is Flow.ADJUSTMENTS and isinstance(event, InventoryAdjustment)
          and kind == "inventory" and article_id is not None):
        await client.set_adjustment_reported(wms_id, article_id, key=event.article_number)
        missing = []
    else:
        raise ValueError(f"{VENDOR} cannot mark a {type(event).__name__} "
                         f"({event.event_id}) reported as {flow}")
    if missing:
        ctx.log.warning("%s: %s %s: lines %s are no longer in the warehouse; nothing to mark",
                        VENDOR, flow.value, event.business_key(), ", ".join(missing))
    ctx.log.debug("%s: %s %s marked reported", VENDOR, flow.value, event.event_id)


@hookimpl
def sandbox() -> object:
    """The Ongoing WMS simulator, for ``erpsync demo`` (needs the ``sandbox`` extra)."""
    from .sandbox import OngoingSandbox

    return OngoingSandbox()

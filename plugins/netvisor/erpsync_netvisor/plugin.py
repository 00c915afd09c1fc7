"""The Netvisor plugin: hook implementations, thin; the work is in client and mapping.

Flows (seed 000): articles, orders and purchase orders are read from Netvisor; deliveries,
receipts and inventory adjustments are written back once each. Deliveries and receipts are
absolute: what is written is what Netvisor still lacks of the warehouse's totals, so a report
repeated after a crash adds nothing, and ``lookup_report`` finds an earlier one by the totals
already being there (and a receipt also by the comment line carrying its event id). An
adjustment is one warehouse event whose reference is the adjustment's event id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from erpsync.config import TimeZoneName
from erpsync.errors import ConfigError, ConfigProblem, RecordRejected, VendorError
from erpsync.hookspecs import Context, PluginInfo, hookimpl
from erpsync.http import RateLimit, check_base_url
from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    Unreadable,
    readable,
)
from erpsync.secrets import Secret

from . import mapping
from .client import (
    ORDER_KEY_LIST_MAX,
    PRODUCT_ID_LIST_MAX,
    PRODUCTION_URL,
    PURCHASE_ORDER_KEY_LIST_MAX,
    VENDOR,
    Credentials,
    NetvisorAuth,
    NetvisorClient,
)
from .mapping import Element

__all__ = ["NetvisorSettings"]

R = TypeVar("R")

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              pattern=r"^[\x21-\x7e]+$")]
"""A printable ASCII identifier (it goes into a header and the MAC)."""


class NetvisorSettings(BaseModel):
    """The Netvisor connection of one goods owner (one Netvisor company)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = PRODUCTION_URL
    """``https://isvapi.netvisor.fi`` (production) or ``https://isvapitest.netvisor.fi`` (the
    vendor's test environment); a local simulator's URL in tests and the demo."""
    sender: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             pattern=r"^[\x20-\x7e]+$")] = "erpsync"
    """``X-Netvisor-Authentication-Sender``: a free name for the integration."""
    customer_id: Identifier
    """The API user's ID (``X-Netvisor-Authentication-CustomerId``)."""
    private_key: Secret
    """The API user's key: the "customer key" of the MAC, never sent."""
    partner_id: Identifier
    """The software partner's ID (``X-Netvisor-Authentication-PartnerId``)."""
    partner_key: Secret
    """The software partner's key: in the MAC, never sent."""
    organisation_id: Annotated[str, StringConstraints(strip_whitespace=True,
                                                      pattern=r"^\d{7}-\d$")]
    """The company's business ID (Y-tunnus, ``1234567-8``): ``X-Netvisor-Organisation-ID``."""
    language: Literal["FI", "EN", "SE"] = "FI"
    """``X-Netvisor-Interface-Language``: the language of Netvisor's messages."""
    inventory_event_type: Annotated[str, StringConstraints(strip_whitespace=True,
                                                           min_length=1)] | None = None
    """The inventory event type of stock transactions (Netvisor: Products => Stock
    transactions => Inventory event types); needed for the adjustments flow (seed 000)."""
    inventory_place: Annotated[str, StringConstraints(strip_whitespace=True,
                                                      min_length=1)] | None = None
    """The Netvisor warehouse (inventory place) of stock transactions when the adjustment names
    none; Netvisor's default warehouse when unset."""
    timezone: TimeZoneName = "Europe/Helsinki"
    """The time zone of Netvisor's dates and change-time filters."""
    product_batch_size: int = Field(default=PRODUCT_ID_LIST_MAX, ge=1, le=PRODUCT_ID_LIST_MAX)
    """Products per getproduct.nv ``idlist`` (at most 400, as documented)."""
    order_batch_size: int = Field(default=ORDER_KEY_LIST_MAX, ge=1, le=ORDER_KEY_LIST_MAX)
    """Orders per getorder.nv ``netvisorkeylist`` (at most 500)."""
    purchase_order_batch_size: int = Field(default=PURCHASE_ORDER_KEY_LIST_MAX, ge=1,
                                           le=PURCHASE_ORDER_KEY_LIST_MAX)
    """Purchase orders per getpurchaseorder.nv ``NetvisorKeyList`` (at most 500)."""
    requests_per_minute: int = Field(default=600, ge=1)
    """A ceiling on the pace (Netvisor publishes no number). What Netvisor asks for is one call
    at a time per company, which holds whatever this says. Goods owners on the same company
    share the pace and must give the same number."""
    timeout_seconds: float = Field(default=120.0, gt=0)
    """Netvisor recommends "at least 120 000 ms"."""

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value, example=PRODUCTION_URL)



@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="netvisor",
        version="0.1.0",
        hookspec_version="1.1",  # the hook specifications this plugin was built for
        role="erp",
        settings_model=NetvisorSettings,
        description="Visma Netvisor through its XML API (seed 000: articles, orders, purchase "
                    "orders; deliveries, receipts, stock transactions).",
    )


async def _client(ctx: Context, settings: NetvisorSettings) -> NetvisorClient:
    async def connect() -> NetvisorClient:
        auth = NetvisorAuth(Credentials(
            sender=settings.sender,
            customer_id=settings.customer_id,
            partner_id=settings.partner_id,
            organisation_id=settings.organisation_id,
            language=settings.language,
            customer_key=settings.private_key.get_secret_value(),
            partner_key=settings.partner_key.get_secret_value(),
        ))
        return NetvisorClient(
            settings.base_url, auth, zone=ZoneInfo(settings.timezone),
            rate_limit=RateLimit(requests=settings.requests_per_minute, per=60.0,
                                 concurrency=1,
                                 key=f"netvisor:{settings.base_url}:{settings.organisation_id}"),
            timeout=settings.timeout_seconds,
            product_batch=settings.product_batch_size,
            order_batch=settings.order_batch_size,
            purchase_order_batch=settings.purchase_order_batch_size,
        )

    return await ctx.resource("netvisor.client", connect)


def _mapped(what: str, key: str | None, convert: Callable[..., R], *args: object) -> R:
    """``convert(*args)``; a vendor value it cannot read becomes a VendorError naming the
    record."""
    try:
        return convert(*args)
    except (ValueError, KeyError, TypeError) as error:
        raise VendorError(f"{VENDOR} sent {what} {key!r} that cannot be read: {error}") from error


def _local_date(moment: datetime, settings: NetvisorSettings) -> date:
    return moment.astimezone(ZoneInfo(settings.timezone)).date()


@hookimpl
async def check_connection(ctx: Context, settings: NetvisorSettings) -> None:
    await (await _client(ctx, settings)).ping()


# --- reads ---------------------------------------------------------------------------------


@hookimpl
async def fetch_articles(
    ctx: Context, settings: NetvisorSettings, since: datetime | None
) -> AsyncIterator[Article | Unreadable]:
    client = await _client(ctx, settings)
    listed = {product.key: product for product in await client.product_list(since)}
    seen: set[str] = set()
    for batch in mapping.batches(list(listed), settings.product_batch_size):
        products = await client.products(batch)
        codes = _codes(products)
        missing = mapping.unique(key for product in products
                                 for key in mapping.sub_product_keys(product) if key not in codes)
        if missing:
            codes.update(_codes(await client.products(missing, published_only=False)))
        for product in products:
            key = mapping.text(product, "ProductBaseInformation/NetvisorKey")
            code = mapping.text(product, "ProductBaseInformation/ProductCode") or key
            article = readable(VENDOR, "product", code, mapping.to_article, product,
                                listed.get(key or ""), codes)
            if isinstance(article, Unreadable):
                yield article
            elif article.article_number not in seen:
                seen.add(article.article_number)
                yield article
    ctx.log.debug("%s: read %d products since %s", VENDOR, len(seen), since)


def _codes(products: list[Element]) -> dict[str, str]:
    codes: dict[str, str] = {}
    for product in products:
        key = mapping.text(product, "ProductBaseInformation/NetvisorKey")
        code = mapping.text(product, "ProductBaseInformation/ProductCode")
        if key and code:
            codes[key] = code
    return codes


@hookimpl
async def fetch_orders(
    ctx: Context, settings: NetvisorSettings, since: datetime | None
) -> AsyncIterator[Order | Unreadable]:
    client = await _client(ctx, settings)
    seen: set[str] = set()
    for batch in mapping.batches(await client.order_keys(since), settings.order_batch_size):
        orders = await client.orders(batch)
        customers = [key for key in (mapping.text(order, "InvoicingCustomerNetvisorKey")
                                     for order in orders) if key]
        cards = await client.customer_cards(customers) if customers else {}
        for element in orders:
            key = mapping.text(element, "SalesInvoiceNetvisorKey")
            number = mapping.text(element, "SalesInvoiceNumber") or key
            order = readable(VENDOR, "order", number, mapping.to_order, element, cards, ctx.log)
            if isinstance(order, Unreadable):
                yield order
            elif order.order_number not in seen:
                seen.add(order.order_number)
                yield order
    ctx.log.debug("%s: read %d orders since %s", VENDOR, len(seen), since)


@hookimpl
async def fetch_purchase_orders(
    ctx: Context, settings: NetvisorSettings, since: datetime | None
) -> AsyncIterator[PurchaseOrder | Unreadable]:
    client = await _client(ctx, settings)
    seen: set[str] = set()
    keys = await client.purchase_order_keys(since)
    for batch in mapping.batches(keys, settings.purchase_order_batch_size):
        for element in await client.purchase_orders(batch):
            key = mapping.text(element, "NetvisorKey")
            status = mapping.text(element, "OrderStatus")
            if status not in (None, "senttovendor") or not _mapped(
                    "purchase order", key, mapping.has_undelivered_rows, element):
                continue
            number = mapping.text(element, "OrderNumber") or key
            purchase_order = readable(VENDOR, "purchase order", number, mapping.to_purchase_order,
                                       element)
            if isinstance(purchase_order, Unreadable):
                yield purchase_order
            elif purchase_order.order_number not in seen:
                seen.add(purchase_order.order_number)
                yield purchase_order
    ctx.log.debug("%s: read %d purchase orders since %s", VENDOR, len(seen), since)


# --- write-back ----------------------------------------------------------------------------


async def _order_state(client: NetvisorClient, delivery: Delivery) -> mapping.OrderState | None:
    key = delivery.erp_key or await client.find_order_key(delivery.order_number)
    return None if key is None else await client.order_state(key)


@hookimpl
async def report_delivery(ctx: Context, settings: NetvisorSettings, delivery: Delivery) -> str:
    client = await _client(ctx, settings)
    number = delivery.order_number
    state = await _order_state(client, delivery)
    if state is None:
        raise _refused(f"order {number} is not in Netvisor as a sales order", number)
    try:
        plan = mapping.delivery_plan(delivery, state)
    except KeyError as error:
        raise _refused(f"order {number} has no line {error.args[0]} in Netvisor", number) from None
    reference = f"salesorder:{state.key}"
    if not plan:
        ctx.log.info("%s: order %s already has delivery %s", VENDOR, number, delivery.event_id)
        return reference
    if state.customer_key is None:
        raise VendorError(f"{VENDOR}: the delivery report of order {number} names no customer")
    document = mapping.delivery_xml(state.customer_key,
                                    _local_date(delivery.occurred_at, settings), plan,
                                    mapping.closed_lines(delivery))
    await client.deliver(document, key=number)
    ctx.log.info("%s: delivery %s of order %s recorded (%d lines)", VENDOR, delivery.event_id,
                 number, len(plan))
    return reference


@hookimpl
async def report_receipt(ctx: Context, settings: NetvisorSettings, receipt: Receipt) -> str:
    client = await _client(ctx, settings)
    number = receipt.purchase_order_number
    key = receipt.erp_key or await client.find_purchase_order_key(number)
    po = None if key is None else await client.purchase_order(key)
    if key is None or po is None:
        raise _refused(f"purchase order {number} is not in Netvisor", number)
    lines = _mapped("purchase order", number, mapping.purchase_order_lines, po)
    try:
        plan = mapping.receipt_plan(receipt, lines)
    except KeyError as error:
        raise _refused(f"purchase order {number} has no row {error.args[0]} in Netvisor",
                       number) from None
    reference = f"purchaseorder:{key}"
    if not plan:
        ctx.log.info("%s: purchase order %s already has receipt %s", VENDOR, number,
                     receipt.event_id)
        return reference
    document = mapping.receipt_xml(receipt, plan, _local_date(receipt.occurred_at, settings))
    await client.edit_purchase_order(key, document, number=number)
    ctx.log.info("%s: receipt %s of purchase order %s recorded", VENDOR, receipt.event_id, number)
    return reference


@hookimpl
async def push_inventory_adjustment(
    ctx: Context, settings: NetvisorSettings, adjustment: InventoryAdjustment
) -> str:
    if settings.inventory_event_type is None:
        raise ConfigError([ConfigProblem(
            where=f"goods owner {ctx.goods_owner!r}: erp.settings.inventory_event_type",
            problem="stock transactions need an inventory event type (seed 000)",
            fix="set it to one of the types under Products => Stock transactions => Inventory "
                "event types in Netvisor",
        )])
    client = await _client(ctx, settings)
    document = mapping.warehouse_event_xml(
        adjustment, event_type=settings.inventory_event_type,
        inventory_place=settings.inventory_place,
        when=_local_date(adjustment.occurred_at, settings))
    inserted = await client.add_warehouse_event(document, key=adjustment.article_number)
    reference = inserted or mapping.warehouse_event_reference(adjustment.event_id)
    ctx.log.info("%s: adjustment %s of %s recorded as warehouse event %s", VENDOR,
                 adjustment.event_id, adjustment.article_number, reference)
    return f"warehouseevent:{reference}"


@hookimpl
async def lookup_report(
    ctx: Context, settings: NetvisorSettings, flow: Flow, event: Event
) -> str | None:
    client = await _client(ctx, settings)
    if flow == Flow.DELIVERIES and isinstance(event, Delivery):
        state = await _order_state(client, event)
        if state is None:
            return None
        for line in event.lines:
            current = state.lines.get(line.external_line_key)
            if current is None or current.delivered < line.total_delivered_quantity:
                return None
        return f"salesorder:{state.key}"
    if flow == Flow.RECEIPTS and isinstance(event, Receipt):
        number = event.purchase_order_number
        key = event.erp_key or await client.find_purchase_order_key(number)
        po = None if key is None else await client.purchase_order(key)
        if po is None or not _mapped("purchase order", number, mapping.receipt_found, po,
                                     event):
            return None
        return f"purchaseorder:{key}"
    if flow == Flow.ADJUSTMENTS and isinstance(event, InventoryAdjustment):
        found = await client.find_warehouse_event(mapping.warehouse_event_reference(
            event.event_id))
        return None if found is None else f"warehouseevent:{found}"
    raise ValueError(f"{VENDOR} has no reports of {type(event).__name__} for flow {flow}")


def _refused(message: str, key: str) -> RecordRejected:
    return RecordRejected(f"{VENDOR}: {message}", key=key, vendor_message=message)


@hookimpl
def sandbox() -> object:
    """The Netvisor simulator, for ``erpsync demo`` (needs the ``sandbox`` extra)."""
    from .sandbox import NetvisorSandbox

    return NetvisorSandbox()

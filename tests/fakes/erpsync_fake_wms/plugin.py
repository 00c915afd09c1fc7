"""The Fake WMS plugin: hook implementations, thin; the work is in client and mapping.

The warehouse reads (``fetch_deliveries``, ``fetch_receipts``,
``fetch_inventory_adjustments``) ignore ``since``: they return every event not yet marked
reported, which is what the contract asks for, and an unreported event is never lost however
old it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from erpsync.hookspecs import Context, PluginInfo, WriteResult, hookimpl
from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    StockBalance,
    Supplier,
)
from erpsync.secrets import Secret

from . import mapping
from .client import VENDOR, FakeWmsClient

__all__ = ["FakeWmsSettings"]


class FakeWmsSettings(BaseModel):
    """The Fake WMS connection of one goods owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warehouse: str
    """The name the warehouse was registered under (``FakeWarehouse.register``)."""
    password: Secret


@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="fake_wms",
        version="0.1.0",
        role="wms",
        settings_model=FakeWmsSettings,
        description="The reference WMS plugin, against an in-memory warehouse (tests only).",
    )


def _client(settings: FakeWmsSettings) -> FakeWmsClient:
    # In-memory and free to make: no per-cycle resource needed.
    return FakeWmsClient(settings.warehouse, settings.password.get_secret_value())


def _written(key: str) -> WriteResult:
    return WriteResult(outcome="written", wms_key=key)


@hookimpl
async def check_connection(ctx: Context, settings: FakeWmsSettings) -> None:
    await _client(settings).ping()


# --- writes --------------------------------------------------------------------------------


@hookimpl
async def upsert_article(ctx: Context, settings: FakeWmsSettings, article: Article
                         ) -> WriteResult:
    result = await _client(settings).put_article(mapping.to_wms_article(article))
    ctx.log.debug("%s: article %s %s", VENDOR, article.article_number, result)
    return _written(article.article_number)


@hookimpl
async def upsert_supplier(ctx: Context, settings: FakeWmsSettings, supplier: Supplier
                          ) -> WriteResult:
    result = await _client(settings).put_supplier(mapping.to_wms_supplier(supplier))
    ctx.log.debug("%s: supplier %s %s", VENDOR, supplier.supplier_number, result)
    return _written(supplier.supplier_number)


@hookimpl
async def upsert_order(ctx: Context, settings: FakeWmsSettings, order: Order) -> WriteResult:
    client = _client(settings)
    result = await client.put_order(mapping.to_wms_order(order))
    ctx.log.debug("%s: order %s %s", VENDOR, order.order_number, result)
    if result == "locked":
        status = await client.status("order", order.order_number)
        return WriteResult(outcome="skipped", reason=f"order is {status} in the warehouse",
                           wms_key=order.order_number)
    return _written(order.order_number)


@hookimpl
async def upsert_purchase_order(
    ctx: Context, settings: FakeWmsSettings, purchase_order: PurchaseOrder
) -> WriteResult:
    client = _client(settings)
    result = await client.put_purchase_order(mapping.to_wms_purchase_order(purchase_order))
    number = purchase_order.order_number
    ctx.log.debug("%s: purchase order %s %s", VENDOR, number, result)
    if result == "locked":
        status = await client.status("purchase_order", number)
        return WriteResult(outcome="skipped",
                           reason=f"purchase order is {status} in the warehouse", wms_key=number)
    return _written(number)


# --- reads (``since`` is ignored: every unreported event is returned) ------------------------


@hookimpl
async def fetch_deliveries(
    ctx: Context, settings: FakeWmsSettings, since: datetime | None
) -> AsyncIterator[Delivery]:
    for order in await _client(settings).orders():
        delivery = mapping.delivery_of(order)
        if delivery is not None:
            yield delivery


@hookimpl
async def fetch_receipts(
    ctx: Context, settings: FakeWmsSettings, since: datetime | None
) -> AsyncIterator[Receipt]:
    for purchase_order in await _client(settings).purchase_orders():
        receipt = mapping.receipt_of(purchase_order)
        if receipt is not None:
            yield receipt


@hookimpl
async def fetch_inventory_adjustments(
    ctx: Context, settings: FakeWmsSettings, since: datetime | None
) -> AsyncIterator[InventoryAdjustment]:
    for adjustment in await _client(settings).unreported_adjustments():
        yield mapping.adjustment_of(adjustment)


@hookimpl
async def fetch_stock_balances(
    ctx: Context, settings: FakeWmsSettings
) -> AsyncIterator[StockBalance]:
    as_of, stock = await _client(settings).stock()
    for article, quantity in stock.items():
        yield mapping.balance_of(article, quantity, as_of)


@hookimpl
async def mark_reported(ctx: Context, settings: FakeWmsSettings, flow: Flow, event: Event
                        ) -> None:
    client = _client(settings)
    if flow is Flow.DELIVERIES and isinstance(event, Delivery):
        totals = {line.external_line_key: line.total_delivered_quantity for line in event.lines}
        await client.mark_order(event.order_number, totals)
    elif flow is Flow.RECEIPTS and isinstance(event, Receipt):
        totals = {row.row_key: row.total_received_quantity for row in event.rows}
        await client.mark_purchase_order(event.purchase_order_number, totals, event.complete)
    elif flow is Flow.ADJUSTMENTS and isinstance(event, InventoryAdjustment):
        await client.mark_adjustment(event.event_id)
    else:
        raise ValueError(f"{VENDOR} cannot mark a {type(event).__name__} reported as {flow}")
    ctx.log.debug("%s: %s %s marked reported", VENDOR, flow, event.event_id)

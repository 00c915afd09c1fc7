"""The Fake ERP plugin: hook implementations, thin; the work is in client and mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from erpsync import oauth
from erpsync.errors import RecordRejected, VendorError
from erpsync.hookspecs import Context, PluginInfo, Rejection, hookimpl
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
from .client import VENDOR, FakeErpClient

__all__ = ["FakeErpSettings"]

R = TypeVar("R")


class FakeErpSettings(BaseModel):
    """The Fake ERP connection of one goods owner: an API key, or an OAuth client whose
    tokens ``erpsync authorize`` obtains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    """Where the API is served (the sandbox's mount point in tests)."""
    api_key: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    page_size: int = Field(default=50, ge=1, le=100)
    suppliers: bool = True
    """The suppliers process (a switch, as real ERPs have per goods owner)."""

    @model_validator(mode="after")
    def _one_way_in(self) -> FakeErpSettings:
        oauth_given = self.client_id is not None or self.client_secret is not None
        if (self.api_key is None) == (not oauth_given):
            raise ValueError("give either api_key or client_id and client_secret")
        if oauth_given and (self.client_id is None or self.client_secret is None):
            raise ValueError("OAuth needs both client_id and client_secret")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None


@hookimpl
def enabled_flows(settings: FakeErpSettings) -> set[Flow]:
    return {flow for flow in Flow if flow is not Flow.SUPPLIERS or settings.suppliers}


@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="fake_erp",
        version="0.1.0",
        role="erp",
        settings_model=FakeErpSettings,
        description="The reference ERP plugin, against the Fake ERP sandbox (tests only).",
    )


def _endpoint(settings: FakeErpSettings) -> oauth.TokenEndpoint:
    assert settings.client_id is not None and settings.client_secret is not None
    return oauth.TokenEndpoint(f"{settings.base_url}/oauth/token", settings.client_id,
                               settings.client_secret.get_secret_value(), VENDOR)


async def _tokens(ctx: Context, settings: FakeErpSettings) -> oauth.RotatingTokens:
    async def connect() -> oauth.RotatingTokens:
        return oauth.RotatingTokens(ctx.credentials("oauth"), _endpoint(settings),
                                    action=f"erpsync authorize {ctx.goods_owner}")

    return await ctx.resource("fake_erp.tokens", connect)


async def _client(ctx: Context, settings: FakeErpSettings) -> FakeErpClient:
    # Named after the plugin: the ERP and WMS plugins of a goods owner share one context.
    async def connect() -> FakeErpClient:
        if settings.uses_oauth:
            return FakeErpClient(settings.base_url, tokens=await _tokens(ctx, settings),
                                 page_size=settings.page_size)
        assert settings.api_key is not None
        return FakeErpClient(
            settings.base_url, settings.api_key.get_secret_value(), page_size=settings.page_size
        )

    return await ctx.resource("fake_erp.client", connect)


# --- authorisation (OAuth consent) ----------------------------------------------------------


@hookimpl
def authorization_url(settings: FakeErpSettings, redirect_uri: str, state: str) -> str | None:
    if not settings.uses_oauth:
        return None  # an API key needs no consent
    assert settings.client_id is not None
    return oauth.authorization_url(f"{settings.base_url}/oauth/authorize",
                                   client_id=settings.client_id, redirect_uri=redirect_uri,
                                   scopes=["read", "write"], state=state)


@hookimpl
async def complete_authorization(
    ctx: Context, settings: FakeErpSettings, code: str, redirect_uri: str
) -> None:
    if not settings.uses_oauth:
        raise VendorError(f"{VENDOR}: this goods owner uses an API key, not OAuth")
    await (await _tokens(ctx, settings)).exchange_code(code, redirect_uri)


@hookimpl
async def check_connection(ctx: Context, settings: FakeErpSettings) -> None:
    await (await _client(ctx, settings)).ping()


# --- reads ---------------------------------------------------------------------------------


async def _fetch(
    ctx: Context,
    settings: FakeErpSettings,
    resource: str,
    since: datetime | None,
    to_record: Callable[[dict[str, Any]], R],
) -> AsyncIterator[R]:
    client = await _client(ctx, settings)
    count = 0
    async for raw in client.iterate(resource, since):
        try:
            record = to_record(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise VendorError(
                f"{VENDOR} sent {resource} record {raw.get('number')!r} that cannot be read: "
                f"{error}"
            ) from error
        count += 1
        yield record
    ctx.log.debug("%s: read %d %s since %s", VENDOR, count, resource, since)


@hookimpl
async def fetch_articles(
    ctx: Context, settings: FakeErpSettings, since: datetime | None
) -> AsyncIterator[Article]:
    async for article in _fetch(ctx, settings, "products", since, mapping.to_article):
        yield article


@hookimpl
async def fetch_suppliers(
    ctx: Context, settings: FakeErpSettings, since: datetime | None
) -> AsyncIterator[Supplier]:
    async for supplier in _fetch(ctx, settings, "suppliers", since, mapping.to_supplier):
        yield supplier


@hookimpl
async def fetch_orders(
    ctx: Context, settings: FakeErpSettings, since: datetime | None
) -> AsyncIterator[Order]:
    async for order in _fetch(ctx, settings, "orders", since, mapping.to_order):
        yield order


@hookimpl
async def fetch_purchase_orders(
    ctx: Context, settings: FakeErpSettings, since: datetime | None
) -> AsyncIterator[PurchaseOrder]:
    async for purchase_order in _fetch(
        ctx, settings, "purchase-orders", since, mapping.to_purchase_order
    ):
        yield purchase_order


# --- write-back ----------------------------------------------------------------------------


@hookimpl
async def report_delivery(ctx: Context, settings: FakeErpSettings, delivery: Delivery) -> str:
    client = await _client(ctx, settings)
    reference = await client.create(
        "deliveries", mapping.delivery_body(delivery), key=delivery.order_number
    )
    ctx.log.info("%s: delivery %s of order %s recorded as %s", VENDOR, delivery.event_id,
                 delivery.order_number, reference)
    return reference


@hookimpl
async def report_receipt(ctx: Context, settings: FakeErpSettings, receipt: Receipt) -> str:
    client = await _client(ctx, settings)
    reference = await client.create(
        "receipts", mapping.receipt_body(receipt), key=receipt.purchase_order_number
    )
    ctx.log.info("%s: receipt %s of purchase order %s recorded as %s", VENDOR, receipt.event_id,
                 receipt.purchase_order_number, reference)
    return reference


@hookimpl
async def push_inventory_adjustment(
    ctx: Context, settings: FakeErpSettings, adjustment: InventoryAdjustment
) -> str:
    client = await _client(ctx, settings)
    reference = await client.create(
        "stock-transactions", mapping.adjustment_body(adjustment), key=adjustment.article_number
    )
    ctx.log.info("%s: adjustment %s of %s recorded as %s", VENDOR, adjustment.event_id,
                 adjustment.article_number, reference)
    return reference


@hookimpl
async def lookup_report(
    ctx: Context, settings: FakeErpSettings, flow: Flow, event: Event
) -> str | None:
    resource = mapping.REPORT_RESOURCES.get(flow)
    if resource is None:
        raise ValueError(f"{VENDOR} has no reports for flow {flow}")
    client = await _client(ctx, settings)
    return await client.find(resource, event.event_id)


@hookimpl
async def push_stock(
    ctx: Context, settings: FakeErpSettings, balances: Sequence[StockBalance]
) -> Sequence[Rejection]:
    client = await _client(ctx, settings)
    rejections: list[Rejection] = []
    for balance in balances:
        try:
            await client.set_stock(balance.article_number, mapping.stock_quantity(balance))
        except RecordRejected as error:
            message = error.vendor_message or error.message
            ctx.log.warning("%s: stock of %s refused: %s", VENDOR, balance.key(), message)
            rejections.append(Rejection(key=balance.key(), message=message))
    return rejections


@hookimpl
def sandbox() -> object:
    """The Fake ERP simulator with the conformance and demo control surface."""
    from .sandbox import ConformanceSandbox

    return ConformanceSandbox()

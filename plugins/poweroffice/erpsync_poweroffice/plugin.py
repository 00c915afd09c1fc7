"""The PowerOffice Go plugin: hook implementations, thin; the work is in client and mapping.

Flows (seed 001): articles (products) and orders (paid outgoing invoices) are read from
PowerOffice Go; the warehouse's stock balances are written to the products' stock on hand.
PowerOffice Go takes no deliveries, receipts or inventory adjustments from the warehouse (seed
001 lists none), so the plugin offers no such hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from erpsync.config import TimeZoneName
from erpsync.errors import RecordRejected, VendorError
from erpsync.hookspecs import Context, PluginInfo, Rejection, hookimpl
from erpsync.http import check_base_url
from erpsync.models import Article, Order, StockBalance, Unreadable, readable
from erpsync.secrets import Secret

from . import mapping
from .client import HOST, PAGE_SIZE_MAX, VENDOR, Environment, Keys, PowerOfficeClient

__all__ = ["PowerOfficeSettings"]

R = TypeVar("R")

STOCK_BATCH = 100
"""Product codes per ``GET /v2/Products?codes=`` when pushing stock."""


class PowerOfficeSettings(BaseModel):
    """The PowerOffice Go connection of one goods owner (one Go client)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment = "production"
    """``production`` or ``demo``: the path prefix of the token endpoint and the API (``/`` or
    ``/Demo/``). All three keys must be from this environment."""
    base_url: str = HOST
    """The API host, ``https://goapi.poweroffice.net``; a local simulator's URL in tests and
    the demo. The environment's prefix is added to it."""
    application_key: Secret
    """The integration's application key (the OAuth client id)."""
    client_key: Secret
    """The key the customer's Go client gave when it activated the integration (the OAuth
    client secret)."""
    subscription_key: Secret
    """The product subscription key of the developer portal (``Ocp-Apim-Subscription-Key``).
    Goods owners on the same key share its rate limit of 10 requests per second."""
    page_size: int = Field(default=1000, ge=1, le=PAGE_SIZE_MAX)
    """Objects per page of a list read (``PageSize``)."""
    timezone: TimeZoneName = "Europe/Oslo"
    """The time zone of "today", the delivery date of an invoice that has none."""
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value, example=HOST)



@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="poweroffice",
        version="0.1.0",
        hookspec_version="1.1",  # the hook specifications this plugin was built for
        role="erp",
        settings_model=PowerOfficeSettings,
        description="PowerOffice Go through its API v2 (seed 001: products and paid invoices "
                    "in, stock on hand out).",
    )


async def _client(ctx: Context, settings: PowerOfficeSettings) -> PowerOfficeClient:
    async def connect() -> PowerOfficeClient:
        keys = Keys(
            application_key=settings.application_key.get_secret_value(),
            client_key=settings.client_key.get_secret_value(),
            subscription_key=settings.subscription_key.get_secret_value(),
        )
        return PowerOfficeClient(settings.base_url, settings.environment, keys,
                                 page_size=settings.page_size, timeout=settings.timeout_seconds)

    return await ctx.resource("poweroffice.client", connect)


def _mapped(what: str, key: str | None, convert: Callable[..., R], *args: object) -> R:
    """``convert(*args)``; a vendor value it cannot read becomes a VendorError naming the
    record."""
    try:
        return convert(*args)
    except (ValueError, KeyError, TypeError, ArithmeticError) as error:
        raise VendorError(f"{VENDOR} sent {what} {key!r} that cannot be read: {error}") from error


def _today(settings: PowerOfficeSettings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


@hookimpl
async def check_connection(ctx: Context, settings: PowerOfficeSettings) -> None:
    await (await _client(ctx, settings)).ping()


@hookimpl
async def fetch_articles(
    ctx: Context, settings: PowerOfficeSettings, since: datetime | None
) -> AsyncIterator[Article | Unreadable]:
    client = await _client(ctx, settings)
    seen: set[str] = set()
    names: dict[str, str] | None = None
    async for page in client.products(since):
        if names is None:
            names = await client.group_names()
        for product in page:
            article = readable(VENDOR, "product", str(product.get("Code") or product.get("Id")),
                                mapping.to_article, product, names)
            if isinstance(article, Unreadable):
                yield article
            elif article.article_number not in seen:
                seen.add(article.article_number)
                yield article
    ctx.log.debug("%s: read %d products since %s", VENDOR, len(seen), since)


@hookimpl
async def fetch_orders(
    ctx: Context, settings: PowerOfficeSettings, since: datetime | None
) -> AsyncIterator[Order | Unreadable]:
    client = await _client(ctx, settings)
    seen: set[str] = set()
    today = _today(settings)
    # Crediting an invoice moves its balance time too, so its credit note is in the same
    # window: a first pass over the (unordered) list collects what was credited.
    credited: set[str] = set()
    async for page in client.paid_invoice_pages(since):
        credited.update(n for n in map(mapping.credited_invoice_number, page) if n)
    async for page in client.paid_invoice_pages(since):
        paid = [invoice for invoice in page
                if _mapped("invoice", str(invoice.get("Id")), mapping.is_paid_invoice, invoice)]
        for invoice in [i for i in paid if str(i.get("InvoiceNo")) in credited]:
            ctx.log.info("%s: invoice %s was credited: not an order", VENDOR,
                         invoice.get("InvoiceNo"))
            paid.remove(invoice)
        numbers = sorted({str(invoice["CustomerNo"]) for invoice in paid
                          if invoice.get("CustomerNo") is not None})
        customers = await client.customers(numbers)
        for invoice in paid:
            key = str(invoice.get("Id"))
            lines = await client.invoice_lines(key)
            customer = customers.get(str(invoice.get("CustomerNo")))
            number = str(invoice.get("OrderNo") or invoice.get("InvoiceNo") or key)  # the key
            mapped = readable(VENDOR, "invoice", number, mapping.to_order, invoice, lines, customer,
                               today)
            if isinstance(mapped, Unreadable):
                yield mapped
                continue
            order, skipped = mapped
            for line in skipped:
                ctx.log.info("%s: invoice %s line %s is not an order line: %s", VENDOR,
                             order.order_number, line.key, line.reason)
            if order.order_number not in seen:
                seen.add(order.order_number)
                yield order
    ctx.log.debug("%s: read %d paid invoices since %s", VENDOR, len(seen), since)


@hookimpl
async def push_stock(
    ctx: Context, settings: PowerOfficeSettings, balances: Sequence[StockBalance]
) -> Sequence[Rejection]:
    client = await _client(ctx, settings)
    rejections: list[Rejection] = []
    written = unchanged = 0
    for start in range(0, len(balances), STOCK_BATCH):
        batch = balances[start:start + STOCK_BATCH]
        codes = sorted({balance.article_number for balance in batch})
        products = await client.products_by_code(codes)
        for balance in batch:
            number = balance.article_number
            product = products.get(number)
            if product is None:
                rejections.append(Rejection(
                    key=number, message=f"PowerOffice Go has no product with code {number}"))
                continue
            patch = _mapped("product", number, mapping.stock_patch, product, balance.quantity)
            if patch is None:
                unchanged += 1
                continue
            try:
                await client.set_stock(str(product.get("Id")), patch, key=number)
            except RecordRejected as error:
                rejections.append(Rejection(key=number, message=error.message))
                continue
            written += 1
    ctx.log.info("%s: stock on hand written for %d products, %d unchanged or no stock item, "
                 "%d unknown", VENDOR, written, unchanged, len(rejections))
    return rejections


@hookimpl
def sandbox() -> object:
    """The PowerOffice Go simulator, for ``erpsync demo`` (needs the ``sandbox`` extra)."""
    from .sandbox import PowerOfficeSandbox  # type: ignore[import-not-found, unused-ignore]

    return PowerOfficeSandbox()

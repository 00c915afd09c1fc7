"""The Fortnox plugin: hook implementations, thin; the work is in client and mapping.

Processes (seed 002), each switchable in the settings, all on by default except where the seed
says otherwise:

- the article and supplier registries and sales orders are read from Fortnox;
- fulfilment: the delivered quantity of every row is written back (every row is sent again,
  since Fortnox regenerates row ids and deletes rows left out), then the invoice is created
  unless one exists (Fortnox makes a back order of an undelivered rest); with the warehouse
  module the order is set warehouse-ready first;
- stock: classic mode writes ``QuantityInStock`` on the article; with the warehouse module
  that is refused by configuration, and inventory changes and returns become custom warehouse
  documents instead (OngoingInboundInventory, OngoingOutboundInventory, OngoingInboundReturn),
  saved and released once each;
- purchase orders (warehouse module only): state sent, purchase type warehouse; a receipt
  creates incoming goods for the received amount, releases and completes them, and completes
  the purchase order only when the warehouse closed it.

A mismatch between the tenant's warehouse module and the ``warehouse_module`` setting is found
by ``erpsync check --connect`` and by the first write of a cycle, before anything is written.
Authorisation is OAuth 2.0: the authorisation code flow with rotating refresh tokens
(``erpsync authorize GOODS_OWNER``) or, for service accounts, client credentials with the
tenant id; tokens are kept by :mod:`erpsync.oauth`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from erpsync import oauth
from erpsync.errors import (
    AuthenticationLost,
    ConfigError,
    ConfigProblem,
    RecordRejected,
)
from erpsync.hookspecs import Context, PluginInfo, Rejection, hookimpl
from erpsync.http import check_base_url
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
    Unreadable,
    readable,
)
from erpsync.oauth import ClientCredentials, RotatingTokens, TokenEndpoint
from erpsync.secrets import Secret

from . import mapping
from .client import (
    API_URL,
    AUTH_URL,
    PAGE_SIZE_MAX,
    VENDOR,
    FortnoxClient,
    rate_limit_for,
)
from .mapping import FORTNOX_ZONE

__all__ = ["FortnoxSettings", "scopes"]

R = TypeVar("R")

AUTH_PATH = "/oauth-v1/auth"
TOKEN_PATH = "/oauth-v1/token"  # noqa: S105 - a path, not a secret
"""The OAuth server's consent page and token endpoint
(https://www.fortnox.se/developer/authorization, get-access-token, get-refresh-token)."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FortnoxSettings(BaseModel):
    """The Fortnox connection of one goods owner (one Fortnox tenant) and its processes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = API_URL
    """The API host, ``https://api.fortnox.se``; a local simulator's URL in tests and the
    demo."""
    auth_url: str = AUTH_URL
    """The OAuth server, ``https://apps.fortnox.se``."""
    client_id: Text
    """The integration's client id (Fortnox Developer Portal)."""
    client_secret: Secret
    """The integration's client secret."""
    auth_mode: Literal["authorization_code", "client_credentials"] = "authorization_code"
    """``authorization_code``: a Fortnox user consents (``erpsync authorize``) and the
    refresh token rotates; ``client_credentials``: a service account, by ``tenant_id``."""
    tenant_id: Text | None = None
    """The Fortnox tenant (the ``TenantId`` header of client credentials). Also names the
    rate-limit budget shared by goods owners on one tenant."""
    warehouse_module: bool = False
    """Whether the tenant uses Fortnox Lager (the warehouse module): seed 002's warehouse
    processes are on only with it, the classic stock balance only without it."""

    # -- the processes of seed 002 --
    articles: bool = True
    """The article registry."""
    suppliers: bool = True
    """The supplier registry."""
    orders: bool = True
    """Sales orders."""
    order_type: bool = False
    """Set the order type B2B or B2C from the customer's type (seed 002: off by default)."""
    notify_by_email: bool = False
    """Notification by e-mail (seed 002: "turned off by default")."""
    notify_by_sms: bool = False
    """Notification by SMS (seed 002: "turned off by default")."""
    fulfilment: bool = True
    """Delivered quantities written back to the order."""
    create_invoice: bool = True
    """After the delivered quantities, an invoice unless the order has one."""
    stock_balance: bool | None = None
    """Classic stock balance on the article; default: on without the warehouse module, and
    refused with it (seed 002)."""
    inventory_changes: bool | None = None
    """Inventory changes and returns as custom warehouse documents; default: on with the
    warehouse module, and only possible with it."""
    purchase_orders: bool | None = None
    """Purchase orders and their receipts (incoming goods); default: on with the warehouse
    module, and only possible with it."""

    page_size: int = Field(default=PAGE_SIZE_MAX, ge=1, le=PAGE_SIZE_MAX)
    """Records per page of a list read (``limit``, at most 500)."""
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("base_url", "auth_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_base_url(value, example=API_URL)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.auth_mode == "client_credentials" and self.tenant_id is None:
            raise ValueError("client_credentials needs tenant_id: the Fortnox tenant id of the "
                             "service account")
        if self.warehouse_module and self.stock_balance:
            raise ValueError("stock_balance (the classic stock on the article) cannot be used "
                             "with the warehouse module (seed 002): set it to false; inventory "
                             "changes are sent as documents instead")
        if not self.warehouse_module and self.inventory_changes:
            raise ValueError("inventory_changes needs warehouse_module = true (custom warehouse "
                             "documents exist only with Fortnox Lager)")
        if not self.warehouse_module and self.purchase_orders:
            raise ValueError("purchase_orders needs warehouse_module = true (seed 002: purchase "
                             "orders are handled only with Fortnox Lager)")
        return self

    def on(self, process: str) -> bool:
        """Whether ``process`` (a field name above) is switched on, defaults applied."""
        value = getattr(self, process)
        if value is None:
            return self.warehouse_module != (process == "stock_balance")
        return bool(value)


def scopes(settings: FortnoxSettings) -> list[str]:
    """The scopes the switched-on processes need, from the scope table of
    https://www.fortnox.se/developer/guides-and-good-to-know/scopes (articles: ``article``,
    suppliers: ``supplier``, orders: ``order``, customers: ``customer``, invoices:
    ``invoice``) and ``warehouse`` for the warehouse module's API."""
    wanted: list[str] = []
    if settings.on("articles") or settings.on("stock_balance"):
        wanted.append("article")
    if settings.on("suppliers"):
        wanted.append("supplier")
    if settings.on("orders") or settings.on("fulfilment"):
        wanted.append("order")
    if settings.on("orders") and settings.on("order_type"):
        wanted.append("customer")
    if settings.on("fulfilment") and settings.on("create_invoice"):
        wanted.append("invoice")
    if settings.warehouse_module:
        wanted.append("warehouse")
    return wanted


PROCESS_OF_FLOW = {
    Flow.ARTICLES: "articles",
    Flow.SUPPLIERS: "suppliers",
    Flow.ORDERS: "orders",
    Flow.PURCHASE_ORDERS: "purchase_orders",
    Flow.DELIVERIES: "fulfilment",
    Flow.RECEIPTS: "purchase_orders",
    Flow.STOCK: "stock_balance",
    Flow.ADJUSTMENTS: "inventory_changes",
}
"""The process of seed 002 (a settings switch) that each flow belongs to."""


@hookimpl
def enabled_flows(settings: FortnoxSettings) -> list[Flow]:
    """The flows whose process is switched on: the classic stock balance only without the
    warehouse module; purchase orders, receipts and inventory documents only with it."""
    return [flow for flow, process in PROCESS_OF_FLOW.items() if settings.on(process)]


@hookimpl
def describe() -> PluginInfo:
    return PluginInfo(
        name="fortnox",
        version="0.1.0",
        hookspec_version="1.1",  # the hook specifications this plugin was built for
        role="erp",
        settings_model=FortnoxSettings,
        description="Fortnox through its REST API and warehouse module, OAuth 2.0 (seed 002: "
                    "articles, suppliers, orders, purchase orders in; fulfilment, invoices, "
                    "stock, warehouse documents, incoming goods out).",
    )


# --- connection ----------------------------------------------------------------------------


def _reauthorise(ctx: Context, settings: FortnoxSettings) -> str:
    if settings.auth_mode == "client_credentials":
        return ("check client_id, client_secret and tenant_id of the Fortnox service account, "
                "and that the integration is still activated for the tenant in Fortnox")
    return (f"run `erpsync authorize {ctx.goods_owner}` and accept every permission Fortnox "
            f"asks for ({', '.join(scopes(settings))}); a Fortnox user with access to those "
            "parts of Fortnox must give it")


def _endpoint(settings: FortnoxSettings) -> TokenEndpoint:
    headers = ({"TenantId": settings.tenant_id}
               if settings.auth_mode == "client_credentials" and settings.tenant_id else {})
    return TokenEndpoint(url=settings.auth_url + TOKEN_PATH, client_id=settings.client_id,
                         client_secret=settings.client_secret.get_secret_value(),
                         vendor="Fortnox", headers=headers)


def _tokens(ctx: Context, settings: FortnoxSettings) -> RotatingTokens | ClientCredentials:
    store = ctx.credentials("oauth")
    action = _reauthorise(ctx, settings)
    if settings.auth_mode == "client_credentials":
        return ClientCredentials(store, _endpoint(settings), action=action)
    return RotatingTokens(store, _endpoint(settings), action=action)


async def _client(ctx: Context, settings: FortnoxSettings) -> FortnoxClient:
    async def tokens() -> RotatingTokens | ClientCredentials:
        return _tokens(ctx, settings)

    async def connect() -> FortnoxClient:
        source = await ctx.resource("fortnox.tokens", tokens)
        tenant = settings.tenant_id or f"owner:{ctx.goods_owner}"
        return FortnoxClient(
            settings.base_url, source,
            rate_limit=rate_limit_for(settings.base_url, settings.client_id, tenant),
            reauthorise=_reauthorise(ctx, settings), page_size=settings.page_size,
            timeout=settings.timeout_seconds,
        )

    return await ctx.resource("fortnox.client", connect)


class _ModuleChecked:
    """The outcome of one cycle's warehouse-module check (a ctx resource: once per cycle)."""


async def _checked(ctx: Context, settings: FortnoxSettings) -> FortnoxClient:
    """The client, after the tenant's warehouse module was found to match the setting (once
    per cycle, before the cycle's first write)."""
    client = await _client(ctx, settings)

    async def check() -> _ModuleChecked:
        await _check_module(ctx, settings, client)
        return _ModuleChecked()

    await ctx.resource("fortnox.module", check)
    return client


async def _check_module(ctx: Context, settings: FortnoxSettings, client: FortnoxClient) -> None:
    """Compare ``GET /api/warehouse/tenants-v4`` (``activated``) with the setting.

    Without the module the keys need not hold the ``warehouse`` scope: a 403 then means
    "cannot tell", and the classic processes go on."""
    try:
        activated = await client.warehouse_activated()
    except AuthenticationLost as error:
        if error.status != 403:
            raise
        if settings.warehouse_module:
            raise AuthenticationLost(
                f"{VENDOR}: the keys give no access to the warehouse module (keys made before "
                f"Fortnox Lager was activated lack it, seed 002): {error.message}",
                action=_reauthorise(ctx, settings), vendor_message=error.vendor_message,
                status=403) from None
        ctx.log.debug("%s: the warehouse module's state cannot be read with these keys",
                      VENDOR)
        return
    if activated == settings.warehouse_module:
        return
    where = f"goods owner {ctx.goods_owner!r}: erp.settings.warehouse_module"
    if activated:
        raise ConfigError([ConfigProblem(
            where, "the Fortnox tenant has the warehouse module (Fortnox Lager) activated, but "
                   "the setting says it does not: fulfilment would fail and classic stock "
                   "writes are refused (seed 002)",
            "set warehouse_module = true and re-authorise so the keys include the warehouse "
            f"scope (`erpsync authorize {ctx.goods_owner}`)")])
    raise ConfigError([ConfigProblem(
        where, "warehouse_module is true but the Fortnox tenant has no warehouse module "
               "(Fortnox Lager) activated",
        "activate Fortnox Lager in Fortnox (a system administrator), or set warehouse_module "
        "= false")])


def _off(ctx: Context, process: str, flow: Flow) -> ConfigError:
    return ConfigError([ConfigProblem(
        f"goods owner {ctx.goods_owner!r}: erp.settings.{process}",
        f"the Fortnox process {process!r} is switched off, so the {flow.value} flow cannot "
        "write to Fortnox",
        f"switch {process} on, or remove {flow.value!r} from the goods owner's flows")])


def _refused(message: str, key: str) -> RecordRejected:
    return RecordRejected(f"{VENDOR}: {message}", key=key, vendor_message=message)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(FORTNOX_ZONE).date()


def _today() -> date:
    return datetime.now(FORTNOX_ZONE).date()


@hookimpl
async def check_connection(ctx: Context, settings: FortnoxSettings) -> None:
    client = await _client(ctx, settings)
    if settings.on("orders") or settings.on("fulfilment"):
        await client.ping("/3/orders", action="read orders")
    elif settings.on("articles") or settings.on("stock_balance"):
        await client.ping("/3/articles", action="read articles")
    await _check_module(ctx, settings, client)


# --- authorisation -------------------------------------------------------------------------


@hookimpl
def authorization_url(settings: FortnoxSettings, redirect_uri: str, state: str) -> str | None:
    """Fortnox's consent page (``GET /oauth-v1/auth``) with the scopes of the switched-on
    processes and ``access_type=offline`` (a refresh token); None for client credentials."""
    if settings.auth_mode == "client_credentials":
        return None
    return _consent_url(settings, redirect_uri, state)


def _consent_url(settings: FortnoxSettings, redirect_uri: str, state: str) -> str:
    return oauth.authorization_url(settings.auth_url + AUTH_PATH, client_id=settings.client_id,
                             redirect_uri=redirect_uri, scopes=scopes(settings), state=state,
                             extra={"access_type": "offline"})


@hookimpl
async def complete_authorization(ctx: Context, settings: FortnoxSettings, code: str,
                                 redirect_uri: str) -> None:
    tokens = RotatingTokens(ctx.credentials("oauth"), _endpoint(settings),
                            action=_reauthorise(ctx, settings))
    try:
        await tokens.exchange_code(code, redirect_uri)
    finally:
        await tokens.aclose()


# --- reads ---------------------------------------------------------------------------------


@hookimpl
async def fetch_articles(
    ctx: Context, settings: FortnoxSettings, since: datetime | None
) -> AsyncIterator[Article | Unreadable]:
    if not settings.on("articles"):
        ctx.log.info("%s: the article registry process is switched off", VENDOR)
        return
    client = await _client(ctx, settings)
    async for article in _registry(ctx, "article", "ArticleNumber", client.articles(since),
                                   client.article, mapping.to_article, since):
        yield article


@hookimpl
async def fetch_suppliers(
    ctx: Context, settings: FortnoxSettings, since: datetime | None
) -> AsyncIterator[Supplier | Unreadable]:
    if not settings.on("suppliers"):
        ctx.log.info("%s: the supplier registry process is switched off", VENDOR)
        return
    client = await _client(ctx, settings)
    async for supplier in _registry(ctx, "supplier", "SupplierNumber", client.suppliers(since),
                                    client.supplier, mapping.to_supplier, since):
        yield supplier


async def _registry(
    ctx: Context, what: str, field: str, pages: AsyncIterator[list[dict[str, Any]]],
    read: Callable[[str], Awaitable[dict[str, Any] | None]],
    convert: Callable[[dict[str, Any]], R], since: datetime | None,
) -> AsyncIterator[R | Unreadable]:
    """A register read: the list changed since the cursor gives the numbers, each record is
    then read whole (the list leaves fields out) and mapped; one that cannot be read is an
    :class:`Unreadable` for the core to dead-letter."""
    seen: set[str] = set()
    async for page in pages:
        for listed in page:
            number = mapping.text(listed, field)
            if number is None or number in seen:
                continue
            seen.add(number)
            found = await read(number)
            if found is not None:
                yield readable(VENDOR, what, number, convert, found)
    ctx.log.debug("%s: read %d %ss since %s", VENDOR, len(seen), what, since)


@hookimpl
async def fetch_orders(
    ctx: Context, settings: FortnoxSettings, since: datetime | None
) -> AsyncIterator[Order | Unreadable]:
    if not settings.on("orders"):
        ctx.log.info("%s: the sales order process is switched off", VENDOR)
        return
    client = await _client(ctx, settings)
    seen: set[str] = set()
    customers: dict[str, dict[str, Any] | None] = {}
    async for page in client.orders(since, "invoicenotcreated"):
        for listed in page:
            number = mapping.text(listed, "DocumentNumber")
            if number is None or number in seen:
                continue
            seen.add(number)
            order = await client.order(number)
            if order is None:
                continue
            if order.get("WarehouseReady") is True:
                ctx.log.debug("%s: order %s is warehouse-ready: handled", VENDOR, number)
                continue
            customer = None
            customer_number = mapping.text(order, "CustomerNumber")
            if settings.on("order_type") and customer_number:
                if customer_number not in customers:
                    customers[customer_number] = await client.customer(customer_number)
                customer = customers[customer_number]
            result = readable(VENDOR, "order", number, mapping.to_order, order, customer,
                               notify_by_email=settings.on("notify_by_email"),
                               notify_by_sms=settings.on("notify_by_sms"))
            if isinstance(result, Unreadable):
                yield result
                continue
            canonical, skipped = result
            for row in skipped:
                ctx.log.info("%s: order %s row %s is no order line: %s", VENDOR, number,
                             row.key, row.reason)
            yield canonical
    # Seed 002: "If an order is updated or cancelled, the change is transferred unless the
    # warehouse workers have started working on it". Fortnox lists cancelled orders under their
    # own filter (one filter per request); the list entry is enough to cancel by number.
    async for page in client.orders(since, "cancelled"):
        for listed in page:
            number = mapping.text(listed, "DocumentNumber")
            if number is None or number in seen:
                continue
            seen.add(number)
            result = readable(VENDOR, "order", number, mapping.to_order,
                               {**listed, "Cancelled": True, "OrderRows": []})
            yield result if isinstance(result, Unreadable) else result[0]
    ctx.log.debug("%s: read %d orders since %s", VENDOR, len(seen), since)


@hookimpl
async def fetch_purchase_orders(
    ctx: Context, settings: FortnoxSettings, since: datetime | None
) -> AsyncIterator[PurchaseOrder | Unreadable]:
    # The warehouse purchase-order list has no change-time filter and its purchase orders no
    # change time (apidocs, warehouse_PurchaseOrder): every open one is read each time, and the
    # core's fingerprints keep unchanged ones from being written again. Narrowing by orderDate
    # would lose a purchase order entered with an earlier date, or one changed after its
    # date: only a ``since`` still to come is certain to have nothing.
    if not settings.on("purchase_orders"):
        ctx.log.info("%s: the purchase order process is off (it needs the warehouse module)",
                     VENDOR)
        return
    if since is not None and since > datetime.now(UTC):
        return
    client = await _checked(ctx, settings)
    seen: set[str] = set()
    for listed in await client.purchase_orders():
        number = mapping.text(listed, "id")
        if number is None or number in seen:
            continue
        seen.add(number)
        purchase_order: dict[str, Any] | None = listed
        if not isinstance(listed.get("rows"), list):
            purchase_order = await client.purchase_order(number)
        if purchase_order is None or not mapping.is_open_warehouse_purchase_order(
                purchase_order):
            continue
        yield readable(VENDOR, "purchase order", number, mapping.to_purchase_order, purchase_order)
    ctx.log.debug("%s: read %d purchase orders", VENDOR, len(seen))


# --- write-back ----------------------------------------------------------------------------


def _has_invoice(order: dict[str, Any]) -> bool:
    reference = mapping.text(order, "InvoiceReference")
    return reference is not None and reference != "0"


async def _order(client: FortnoxClient, delivery: Delivery) -> dict[str, Any] | None:
    return await client.order(delivery.erp_key or delivery.order_number)


@hookimpl
async def report_delivery(ctx: Context, settings: FortnoxSettings, delivery: Delivery) -> str:
    if not settings.on("fulfilment"):
        raise _off(ctx, "fulfilment", Flow.DELIVERIES)
    client = await _checked(ctx, settings)
    number = delivery.order_number
    order = await _order(client, delivery)
    if order is None:
        raise _refused(f"order {number} is not in Fortnox", number)
    number = mapping.text(order, "DocumentNumber") or number
    if order.get("Cancelled") is True:
        raise _refused(f"order {number} is cancelled in Fortnox", number)
    try:
        delivered = mapping.order_delivered(order, delivery)
    except KeyError as error:
        raise _refused(f"order {number} has no row {error.args[0]} for this article in "
                       "Fortnox", number) from None
    invoiced = _has_invoice(order)
    ready = order.get("WarehouseReady") is True
    if not delivered:
        if invoiced or ready:
            raise _refused(
                f"order {number} is already {'invoiced' if invoiced else 'warehouse-ready'} "
                "in Fortnox, so its delivered quantities can no longer change; the rest of "
                "the order is on its back order", number)
        written = await client.set_order_rows(number, mapping.delivered_rows(order, delivery),
                                              delivery_state=settings.warehouse_module)
        if written is not None and not mapping.order_delivered(written, delivery):
            # Fortnox Lager stores a delivered quantity above the stock as 0, without an error:
            # stop before warehouse-ready locks the order with it.
            raise _refused(
                f"Fortnox did not keep the delivered quantities of order {number} (is the "
                "stock in Fortnox Lager lower than what was delivered?)", number)
    if settings.warehouse_module and not ready:
        await client.warehouse_ready(number)
    if settings.on("create_invoice") and not invoiced:
        invoice = await client.create_invoice(number)
        ctx.log.info("%s: order %s invoiced%s", VENDOR, number,
                     f" (invoice {invoice})" if invoice else "")
    ctx.log.info("%s: delivery %s of order %s recorded", VENDOR, delivery.event_id, number)
    return f"order:{number}"


async def _delivery_found(client: FortnoxClient, settings: FortnoxSettings,
                          delivery: Delivery) -> str | None:
    order = await _order(client, delivery)
    if order is None:
        return None
    try:
        delivered = mapping.order_delivered(order, delivery)
    except KeyError:
        return None
    if not delivered:
        return None
    if settings.warehouse_module and order.get("WarehouseReady") is not True:
        return None
    if settings.on("create_invoice") and not _has_invoice(order):
        return None
    return f"order:{mapping.text(order, 'DocumentNumber') or delivery.order_number}"


@hookimpl
async def report_receipt(ctx: Context, settings: FortnoxSettings, receipt: Receipt) -> str:
    if not settings.on("purchase_orders"):
        raise _off(ctx, "purchase_orders", Flow.RECEIPTS)
    client = await _checked(ctx, settings)
    number = receipt.erp_key or receipt.purchase_order_number
    purchase_order = await client.purchase_order(number)
    if purchase_order is None:
        raise _refused(f"purchase order {number} is not in Fortnox", number)
    reference = f"purchaseorder:{number}"
    if any(row.received_quantity > 0 for row in receipt.rows):
        try:
            document = mapping.incoming_goods(purchase_order, receipt,
                                              _local_date(receipt.occurred_at))
        except KeyError as error:
            raise _refused(f"purchase order {number} has no row {error.args[0]} for this "
                           "article in Fortnox", number) from None
        goods = await _incoming_goods(client, receipt)
        if goods is None:
            goods = await client.create_incoming_goods(document, key=number)
            ctx.log.info("%s: incoming goods %s created for purchase order %s", VENDOR,
                         goods.get("id"), number)
        goods_id = str(goods["id"])
        if goods.get("released") is not True:
            await client.release_incoming_goods(goods_id, key=number)
        if goods.get("completed") is not True:
            await client.complete_incoming_goods(goods_id, _today().isoformat(), key=number)
        reference = f"incominggoods:{goods_id}"
    if receipt.complete and not mapping.is_completed_purchase_order(purchase_order):
        await client.complete_purchase_order(number)
        ctx.log.info("%s: purchase order %s completed", VENDOR, number)
    return reference


async def _incoming_goods(client: FortnoxClient, receipt: Receipt) -> dict[str, Any] | None:
    """The incoming goods made for ``receipt`` earlier (found by its delivery note), read in
    full, or None."""
    found = await client.incoming_goods_by_note(mapping.document_reference(receipt.event_id))
    if not found:
        return None
    goods_id = mapping.text(found[0], "id")
    full = await client.incoming_goods(goods_id) if goods_id else None
    return full or found[0]


async def _receipt_found(client: FortnoxClient, receipt: Receipt) -> str | None:
    number = receipt.erp_key or receipt.purchase_order_number
    reference = f"purchaseorder:{number}"
    if any(row.received_quantity > 0 for row in receipt.rows):
        goods = await _incoming_goods(client, receipt)
        if goods is None or goods.get("released") is not True or goods.get(
                "completed") is not True:
            return None
        reference = f"incominggoods:{goods['id']}"
    if receipt.complete:
        purchase_order = await client.purchase_order(number)
        if purchase_order is None or not mapping.is_completed_purchase_order(purchase_order):
            return None
    return reference


@hookimpl
async def push_inventory_adjustment(
    ctx: Context, settings: FortnoxSettings, adjustment: InventoryAdjustment
) -> str:
    # Without the warehouse module the process is off (seed 002: only the stock balance goes
    # to Fortnox then, and the stock flow carries this change).
    if not settings.on("inventory_changes"):
        raise _off(ctx, "inventory_changes", Flow.ADJUSTMENTS)
    client = await _checked(ctx, settings)
    document = mapping.custom_document(adjustment, _local_date(adjustment.occurred_at))
    key = adjustment.article_number
    existing = await client.custom_document(document.category, document.type, document.id)
    if existing is None:
        await client.save_custom_document(document.category, document.type, document.id,
                                          document.body, key=key)
    if existing is None or existing.get("warehouseReady") is not True:
        await client.release_custom_document(document.category, document.type, document.id,
                                             key=key)
    ctx.log.info("%s: adjustment %s of %s recorded as %s %s", VENDOR, adjustment.event_id, key,
                 document.type, document.id)
    return f"{document.category}:{document.type}:{document.id}"


async def _adjustment_found(client: FortnoxClient, settings: FortnoxSettings,
                            adjustment: InventoryAdjustment) -> str | None:
    if not settings.warehouse_module:
        return None  # no document is ever written without the module
    document = mapping.custom_document(adjustment, _local_date(adjustment.occurred_at))
    existing = await client.custom_document(document.category, document.type, document.id)
    if existing is None or existing.get("warehouseReady") is not True:
        return None
    return f"{document.category}:{document.type}:{document.id}"


@hookimpl
async def lookup_report(
    ctx: Context, settings: FortnoxSettings, flow: Flow, event: Event
) -> str | None:
    if flow == Flow.ADJUSTMENTS and isinstance(event, InventoryAdjustment):
        return await _adjustment_found(await _client(ctx, settings), settings, event)
    client = await _client(ctx, settings)
    if flow == Flow.DELIVERIES and isinstance(event, Delivery):
        return await _delivery_found(client, settings, event)
    if flow == Flow.RECEIPTS and isinstance(event, Receipt):
        return await _receipt_found(client, event)
    raise ValueError(f"{VENDOR} has no reports of {type(event).__name__} for flow {flow}")


@hookimpl
async def push_stock(
    ctx: Context, settings: FortnoxSettings, balances: Sequence[StockBalance]
) -> Sequence[Rejection]:
    if settings.warehouse_module:
        raise ConfigError([ConfigProblem(
            f"goods owner {ctx.goods_owner!r}: flows",
            "with the warehouse module the classic stock balance cannot be written to Fortnox "
            "(seed 002: the warehouse module only allows transactions)",
            "remove 'stock' from the goods owner's flows; inventory changes are sent as "
            "documents by the adjustments flow")])
    if not settings.on("stock_balance"):
        raise _off(ctx, "stock_balance", Flow.STOCK)
    client = await _checked(ctx, settings)
    rejections: list[Rejection] = []
    for balance in balances:
        number = balance.article_number
        try:
            await client.set_quantity_in_stock(number, balance.quantity)
        except RecordRejected as error:
            rejections.append(Rejection(key=number, message=error.vendor_message or error.message))
    ctx.log.info("%s: stock written for %d articles, %d refused", VENDOR,
                 len(balances) - len(rejections), len(rejections))
    return rejections


@hookimpl
def sandbox() -> object:
    """The Fortnox simulator, for ``erpsync demo`` (needs the ``sandbox`` extra)."""
    from .sandbox import FortnoxSandbox

    return FortnoxSandbox()


"""The Fortnox client and the plugin's hooks over small inline responders (httpx.MockTransport,
a tiny starlette app), not the simulator: tokens (bearer, one fresh token on 401), pacing
shared per client id and tenant, 429 retried after the window, paging with limit/page and
MetaInformation, lastmodified in Swedish local time, ErrorInformation in either key casing with
the Swedish message verbatim, the settings and scopes, and the write-back order of
fulfilment."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from erpsync_fortnox import client as fx
from erpsync_fortnox import plugin
from erpsync_fortnox.plugin import FortnoxSettings
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erpsync import http
from erpsync.errors import (
    AuthenticationLost,
    ConfigError,
    RecordRejected,
    TransientError,
    VendorError,
)
from erpsync.hookspecs import CredentialStore
from erpsync.models import Delivery, DeliveryLine, DeliveryStatus, Flow, StockBalance

T = TypeVar("T")
API = "https://api.fortnox.se"


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_retry_sleep", _no_sleep)


class Tokens:
    """A token source that counts: TOKEN-1, then a new one per 401."""

    def __init__(self) -> None:
        self.issued = 1
        self.refused: list[str] = []

    async def access_token(self) -> str:
        return f"TOKEN-{self.issued}"

    async def after_unauthorized(self, used: str) -> str:
        self.refused.append(used)
        self.issued += 1
        return f"TOKEN-{self.issued}"


def make_client(handler: Callable[[httpx.Request], httpx.Response], *,
                tokens: Tokens | None = None, page_size: int = 2) -> fx.FortnoxClient:
    return fx.FortnoxClient(
        API, tokens or Tokens(), rate_limit=http.RateLimit(requests=1000, per=1.0),
        reauthorise="run `erpsync authorize acme`", page_size=page_size,
        transport=httpx.MockTransport(handler), max_attempts=3,
    )


def error(status: int, message: str, code: int, *, upper: bool = False) -> httpx.Response:
    keys = ("Error", "Message", "Code") if upper else ("error", "message", "code")
    body = {"ErrorInformation": dict(zip(keys, (1, message, code), strict=True))}
    return httpx.Response(status, json=body)


# --- tokens --------------------------------------------------------------------------------------


async def test_every_call_carries_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Article": {"ArticleNumber": "A"}})

    await make_client(handler).article("A")
    assert seen[0].headers["Authorization"] == "Bearer TOKEN-1"
    assert seen[0].headers["Accept"] == "application/json"
    assert seen[0].url.path == "/3/articles/A"


async def test_a_401_gets_one_fresh_token_and_one_more_try() -> None:
    answers = [httpx.Response(401, json={"message": "unauthorized"}),
               httpx.Response(200, json={"Article": {"ArticleNumber": "A"}})]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return answers.pop(0)

    tokens = Tokens()
    assert await make_client(handler, tokens=tokens).article("A") == {"ArticleNumber": "A"}
    assert seen == ["Bearer TOKEN-1", "Bearer TOKEN-2"]
    assert tokens.refused == ["TOKEN-1"]


async def test_a_second_401_is_authentication_lost_with_the_action() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(401, "Ogiltig inloggning", 2000310)

    tokens = Tokens()
    with pytest.raises(AuthenticationLost) as caught:
        await make_client(handler, tokens=tokens).article("A")
    assert tokens.issued == 2, "one fresh token, not a loop"
    assert "Ogiltig inloggning" in caught.value.message
    assert caught.value.vendor_message == "Ogiltig inloggning"
    assert caught.value.action == "run `erpsync authorize acme`"
    assert "TOKEN" not in str(caught.value)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("upper", [False, True])
async def test_error_information_in_either_casing_is_a_rejection_with_the_swedish_message(
    upper: bool,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(400, "Kan inte hitta artikeln \"X-1\".", 2000428, upper=upper)

    with pytest.raises(RecordRejected) as caught:
        await make_client(handler).set_quantity_in_stock("X-1", Decimal(3))
    assert caught.value.vendor_message == 'Kan inte hitta artikeln "X-1".'
    assert 'Kan inte hitta artikeln "X-1". (code 2000428)' in caught.value.message
    assert caught.value.key == "X-1"
    assert caught.value.status == 400


async def test_the_warehouse_error_body_is_read_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "cannot_modify_released_document",
                                         "id": "abc", "message": "Dokumentet är släppt"})

    with pytest.raises(RecordRejected) as caught:
        await make_client(handler).save_custom_document("inbound", "OngoingInboundInventory",
                                                        "123", {"rows": []}, key="A")
    assert caught.value.vendor_message == "Dokumentet är släppt"


async def test_403_is_authentication_lost_and_5xx_transient() -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return error(403, "Har inte behörighet för scope", 2000663)

    with pytest.raises(AuthenticationLost, match="Har inte behörighet för scope"):
        await make_client(forbidden).article("A")

    def broken(request: httpx.Request) -> httpx.Response:
        return error(500, "System exception", 1000003)

    with pytest.raises(TransientError, match="System exception"):
        await make_client(broken).article("A")


async def test_a_missing_resource_is_none_on_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(404, "Kan inte hitta ordern", 2000433)

    assert await make_client(handler).order("99") is None


async def test_create_invoice_is_not_retried_after_a_gateway_error() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(TransientError) as caught:
        await make_client(handler).create_invoice("1001")
    assert calls == ["/3/orders/1001/createinvoice"], "an append write is sent once"
    assert caught.value.maybe_sent


# --- pacing ---------------------------------------------------------------------------------------


async def test_429_is_retried_after_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(http, "_retry_sleep", sleep)
    answers = [httpx.Response(429, json={"message": "Too many requests"}),
               httpx.Response(200, json={"Article": {"ArticleNumber": "A"}})]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    assert await make_client(handler).article("A") == {"ArticleNumber": "A"}
    assert len(waits) == 1
    assert waits[0] >= fx.RATE_LIMIT_WINDOW, "Fortnox gives no Retry-After: a whole window"


def test_goods_owners_on_one_client_and_tenant_share_one_budget() -> None:
    one = fx.rate_limit_for(API, "client-id-1", "tenant-7")
    two = fx.rate_limit_for(API, "client-id-1", "tenant-7")
    other = fx.rate_limit_for(API, "client-id-1", "tenant-8")
    assert one == two and one.key == two.key
    assert one.key != other.key
    assert (one.requests, one.per, one.even) == (24, 5.0, True), "spaced, one under 25 per 5 s"
    assert one.key is not None and "client-id-1" not in one.key


async def test_two_clients_on_one_tenant_pace_together() -> None:
    """25 attempts start in any 5 seconds, across both clients (the pacer's own clock)."""
    limit = fx.rate_limit_for("https://pace.example", "client-x", "tenant-pace")
    starts: list[float] = []
    loop = asyncio.get_running_loop()

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(loop.time())
        return httpx.Response(200, json={"Article": {"ArticleNumber": "A"}})

    clients = [fx.FortnoxClient("https://pace.example", Tokens(), rate_limit=limit,
                                reauthorise="-", transport=httpx.MockTransport(handler))
               for _ in range(2)]
    await asyncio.gather(*(client.article("A") for client in clients for _ in range(13)))
    assert len(starts) == 26
    starts.sort()
    assert starts[25] - starts[0] >= fx.RATE_LIMIT_WINDOW * 0.95, \
        "the 26th attempt waited for the window of the first"


# --- paging and lastmodified -----------------------------------------------------------------


async def test_lists_page_with_limit_and_page_until_the_total_pages() -> None:
    queries: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        queries.append(query)
        page = int(query["page"][0])
        items = [{"ArticleNumber": f"A{page}-{n}"} for n in range(2 if page < 3 else 1)]
        return httpx.Response(200, json={
            "MetaInformation": {"@TotalResources": "5", "@TotalPages": "3",
                                "@CurrentPage": str(page)},
            "Articles": items})

    since = datetime(2024, 7, 1, 10, 30, 59, tzinfo=UTC)
    pages = [page async for page in make_client(handler).articles(since)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [q["page"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(q["limit"] == ["2"] for q in queries)
    assert queries[0]["lastmodified"] == ["2024-07-01 12:30"], "Swedish summer time, minutes"
    assert queries[0]["sortby"] == ["articlenumber"]


async def test_orders_ask_for_one_filter_only() -> None:
    queries: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(parse_qs(urlsplit(str(request.url)).query))
        return httpx.Response(200, json={"MetaInformation": {"@TotalPages": 1},
                                         "Orders": []})

    assert [page async for page in make_client(handler).orders(None)] == []
    assert queries[0]["filter"] == ["invoicenotcreated"]
    assert "lastmodified" not in queries[0]


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2024, 1, 15, 8, 0, 30, tzinfo=UTC), "2024-01-15 09:00"),  # CET
    (datetime(2024, 7, 15, 8, 0, 0, tzinfo=UTC), "2024-07-15 10:00"),  # CEST
    (datetime(2024, 7, 15, 9, 59, 59, 999999, tzinfo=UTC), "2024-07-15 11:59"),  # rounded down
    # 2024-10-27: 02:00-03:00 local happens twice; the first time (00:30 UTC) is sent an hour
    # earlier, so that it cannot be read as the second (later) one.
    (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), "2024-10-27 01:30"),
    (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), "2024-10-27 02:30"),
])
def test_lastmodified_is_swedish_local_time_never_later_than_the_cursor(
    moment: datetime, expected: str
) -> None:
    assert fx.lastmodified(moment) == expected


async def test_string_numbers_arrive_as_decimals() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"Article": {"PurchasePrice": 0.1, '
                                           b'"QuantityInStock": "7.50"}}')

    article = await make_client(handler).article("A")
    assert article == {"PurchasePrice": Decimal("0.1"), "QuantityInStock": "7.50"}


async def test_a_body_that_is_not_json_is_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(VendorError, match="not valid JSON"):
        await make_client(handler).article("A")


# --- settings and scopes ---------------------------------------------------------------------


def settings(**fields: Any) -> FortnoxSettings:
    base: dict[str, Any] = {"client_id": "client-1", "client_secret": SecretStr("s3cr3t-xyz")}
    return FortnoxSettings.model_validate(base | fields)


def test_processes_are_on_by_default_except_where_the_seed_says_otherwise() -> None:
    classic = settings()
    assert [classic.on(p) for p in ("articles", "suppliers", "orders", "fulfilment",
                                    "create_invoice", "stock_balance")] == [True] * 6
    assert [classic.on(p) for p in ("order_type", "notify_by_email", "notify_by_sms",
                                    "inventory_changes", "purchase_orders")] == [False] * 5
    module = settings(warehouse_module=True)
    assert [module.on(p) for p in ("stock_balance", "inventory_changes",
                                   "purchase_orders")] == [False, True, True]


@pytest.mark.parametrize(("fields", "message"), [
    ({"auth_mode": "client_credentials"}, "tenant_id"),
    ({"warehouse_module": True, "stock_balance": True}, "warehouse module"),
    ({"purchase_orders": True}, "warehouse_module = true"),
    ({"inventory_changes": True}, "warehouse_module = true"),
    ({"base_url": "http://api.fortnox.se"}, "https"),
])
def test_settings_that_cannot_work_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**fields)


def test_the_flows_switched_on_follow_the_module() -> None:
    assert plugin.enabled_flows(settings()) == [
        Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS, Flow.DELIVERIES, Flow.STOCK]
    assert plugin.enabled_flows(settings(warehouse_module=True)) == [
        Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES,
        Flow.RECEIPTS, Flow.ADJUSTMENTS]
    assert plugin.enabled_flows(settings(warehouse_module=True, purchase_orders=False,
                                         fulfilment=False, suppliers=False)) == [
        Flow.ARTICLES, Flow.ORDERS, Flow.ADJUSTMENTS]


def test_scopes_follow_the_switched_on_processes() -> None:
    assert plugin.scopes(settings()) == ["article", "supplier", "order", "invoice"]
    assert plugin.scopes(settings(order_type=True, warehouse_module=True)) == [
        "article", "supplier", "order", "customer", "invoice", "warehouse"]
    assert plugin.scopes(settings(articles=False, stock_balance=False, suppliers=False,
                                  fulfilment=False)) == ["order"]


def test_the_consent_url_asks_for_offline_access_and_the_scopes() -> None:
    url = plugin.authorization_url(settings(auth_url="http://127.0.0.1:9"),
                                   "http://127.0.0.1:8765/callback", "st4te")
    assert url is not None
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("127.0.0.1:9", "/oauth-v1/auth")
    query = parse_qs(parts.query)
    assert query["scope"] == ["article supplier order invoice"]
    assert (query["access_type"], query["response_type"], query["state"],
            query["client_id"], query["redirect_uri"]) == (
        ["offline"], ["code"], ["st4te"], ["client-1"], ["http://127.0.0.1:8765/callback"])
    assert plugin.authorization_url(settings(auth_mode="client_credentials", tenant_id="7"),
                                    "http://x", "s") is None


# --- the hooks over a tiny starlette app ----------------------------------------------------


class Store:
    """An in-memory credential store."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data
        self.saves = 0
        self._lock = asyncio.Lock()

    def load(self) -> dict[str, Any] | None:
        return None if self.data is None else dict(self.data)

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)
        self.saves += 1

    def lock(self) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def held() -> AsyncIterator[None]:
            async with self._lock:
                yield

        return held()


class Ctx:
    goods_owner = "kaffe"
    log = logging.getLogger("test.fortnox")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.resources: dict[str, Any] = {}

    def credentials(self, name: str) -> CredentialStore:
        assert name == "oauth"
        return self.store

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        if name not in self.resources:
            self.resources[name] = await factory()
        result: T = self.resources[name]
        return result

    async def aclose(self) -> None:
        for value in self.resources.values():
            closer = getattr(value, "aclose", None)
            if closer is not None:
                await closer()


SIM = "http://127.0.0.1:9"


class TinyFortnox:
    """Just enough of Fortnox for the write-back hooks: its token endpoint (rotating refresh
    tokens), one order, the row update that replaces every row, createinvoice, the tenant."""

    def __init__(self, *, activated: bool = False, scoped: bool = True) -> None:
        self.activated = activated
        self.scoped = scoped
        self.refresh = "REFRESH-1"
        self.access = "ACCESS-1"
        self.requests: list[tuple[str, str]] = []
        self.puts: list[dict[str, Any]] = []
        self.invoices = 0
        self.order: dict[str, Any] = {
            "DocumentNumber": "1001", "InvoiceReference": "", "WarehouseReady": False,
            "Cancelled": False,
            "OrderRows": [
                {"RowId": 1, "ArticleNumber": "KAFFE-1", "OrderedQuantity": "3",
                 "DeliveredQuantity": "0", "Price": "100"},
                {"RowId": 2, "Description": "Tack!"},
                {"RowId": 3, "ArticleNumber": "TE-2", "OrderedQuantity": "2",
                 "DeliveredQuantity": "0", "Price": "50"},
            ]}
        self.app = Starlette(routes=[
            Route("/oauth-v1/token", self.token, methods=["POST"]),
            Route("/3/orders", self.list_orders, methods=["GET"]),
            Route("/3/orders/{n}", self.get_order, methods=["GET"]),
            Route("/3/orders/{n}", self.put_order, methods=["PUT"]),
            Route("/3/orders/{n}/createinvoice", self.create_invoice, methods=["PUT"]),
            Route("/3/articles/{n}", self.put_article, methods=["PUT"]),
            Route("/api/warehouse/tenants-v4", self.tenant, methods=["GET"]),
        ])

    def _authorised(self, request: Request) -> bool:
        self.requests.append((request.method, request.url.path))
        return request.headers.get("Authorization") == f"Bearer {self.access}"

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "Invalid refresh token"}, 400)
        number = int(self.refresh.split("-")[1]) + 1
        self.refresh, self.access = f"REFRESH-{number}", f"ACCESS-{number}"
        return JSONResponse({"access_token": self.access, "refresh_token": self.refresh,
                             "scope": "order invoice", "expires_in": 3600,
                             "token_type": "bearer"})

    async def list_orders(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        return JSONResponse({"MetaInformation": {"@TotalPages": 1}, "Orders": [
            {"DocumentNumber": self.order["DocumentNumber"]}]})

    async def get_order(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        return JSONResponse({"Order": self.order})

    async def put_order(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        body = json.loads(await request.body())
        self.puts.append(body)
        rows = body["Order"]["OrderRows"]
        # Every update regenerates the row ids and drops the rows left out.
        self.order["OrderRows"] = [row | {"RowId": 100 * len(self.puts) + n}
                                   for n, row in enumerate(rows, start=1)]
        return JSONResponse({"Order": self.order})

    async def create_invoice(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        self.invoices += 1
        self.order["InvoiceReference"] = str(5000 + self.invoices)
        return JSONResponse({"Invoice": {"DocumentNumber": self.order["InvoiceReference"]}})

    async def put_article(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        number = request.path_params["n"]
        if number != "KAFFE-1":
            return JSONResponse({"ErrorInformation": {
                "Error": 1, "Message": f"Kan inte hitta artikeln \"{number}\"",
                "Code": 2000428}}, 404)
        return JSONResponse({"Article": {"ArticleNumber": number}})

    async def tenant(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        if not self.scoped:
            return JSONResponse({"ErrorInformation": {
                "Error": 1, "Message": "Saknar behörighet för lager", "Code": 2003275}}, 403)
        return JSONResponse({"activated": self.activated, "tenantId": 7})


def expired_pair() -> Store:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return Store({"access_token": "ACCESS-0", "refresh_token": "REFRESH-1",
                  "expires_at": past, "scope": "order invoice"})


def sim_settings(**fields: Any) -> FortnoxSettings:
    return settings(base_url=SIM, auth_url=SIM, **fields)


def shipped(*lines: tuple[str, str, int], event: str = "ongoing:order:1:a") -> Delivery:
    return Delivery(event_id=event, occurred_at=datetime(2024, 5, 17, 12, tzinfo=UTC),
                    order_number="1001", status=DeliveryStatus.SENT,
                    lines=tuple(DeliveryLine(external_line_key=key, article_number=number,
                                             delivered_quantity=Decimal(qty),
                                             total_delivered_quantity=Decimal(qty))
                                for key, number, qty in lines))


async def test_a_delivery_refreshes_the_token_writes_every_row_then_invoices_once() -> None:
    fortnox = TinyFortnox()
    store = expired_pair()
    ctx = Ctx(store)
    delivery = shipped(("1", "KAFFE-1", 2), ("3", "TE-2", 2))
    with http.mount(SIM, fortnox.app):
        try:
            reference = await plugin.report_delivery(ctx, sim_settings(), delivery)
            assert await plugin.lookup_report(ctx, sim_settings(), Flow.DELIVERIES,
                                              delivery) == reference
            again = await plugin.report_delivery(ctx, sim_settings(), delivery)
        finally:
            await ctx.aclose()
    assert reference == again == "order:1001"
    assert store.data is not None and store.data["refresh_token"] == "REFRESH-2", \
        "the rotated pair is stored"
    (put,) = fortnox.puts
    assert [row.get("ArticleNumber") for row in put["Order"]["OrderRows"]] == [
        "KAFFE-1", None, "TE-2"], "every row is sent, the text row too"
    assert [row.get("DeliveredQuantity") for row in put["Order"]["OrderRows"]] == [
        "2", None, "2"]
    assert "DeliveryState" not in put["Order"], "classic mode"
    assert fortnox.invoices == 1, "a repeated report finds the invoice and makes none"


async def test_a_delivery_of_an_invoiced_order_with_other_totals_is_refused() -> None:
    fortnox = TinyFortnox()
    fortnox.order["InvoiceReference"] = "5001"
    ctx = Ctx(expired_pair())
    with http.mount(SIM, fortnox.app):
        try:
            with pytest.raises(RecordRejected, match="back order"):
                await plugin.report_delivery(ctx, sim_settings(), shipped(("1", "KAFFE-1", 1)))
            assert await plugin.lookup_report(ctx, sim_settings(), Flow.DELIVERIES,
                                              shipped(("1", "KAFFE-1", 1))) is None
        finally:
            await ctx.aclose()
    assert fortnox.puts == [] and fortnox.invoices == 0


async def test_the_first_write_finds_a_warehouse_module_mismatch_before_writing() -> None:
    fortnox = TinyFortnox(activated=True)
    ctx = Ctx(expired_pair())
    with http.mount(SIM, fortnox.app):
        try:
            with pytest.raises(ConfigError) as caught:
                await plugin.report_delivery(ctx, sim_settings(), shipped(("1", "KAFFE-1", 1)))
        finally:
            await ctx.aclose()
    assert "warehouse_module" in str(caught.value)
    assert "set warehouse_module = true" in str(caught.value)
    assert fortnox.puts == [] and fortnox.invoices == 0
    assert ("GET", "/3/orders/1001") not in fortnox.requests, "checked before anything else"


async def test_check_connection_reports_a_module_the_tenant_lacks() -> None:
    fortnox = TinyFortnox(activated=False)
    ctx = Ctx(expired_pair())
    with http.mount(SIM, fortnox.app):
        try:
            with pytest.raises(ConfigError, match="no warehouse module"):
                await plugin.check_connection(ctx, sim_settings(warehouse_module=True))
        finally:
            await ctx.aclose()


async def test_a_dead_refresh_token_stops_with_the_command_to_run() -> None:
    fortnox = TinyFortnox()
    fortnox.refresh = "REFRESH-9"  # the stored REFRESH-1 was rotated away
    ctx = Ctx(expired_pair())
    with http.mount(SIM, fortnox.app):
        try:
            with pytest.raises(AuthenticationLost) as caught:
                await plugin.report_delivery(ctx, sim_settings(), shipped(("1", "KAFFE-1", 1)))
        finally:
            await ctx.aclose()
    assert "invalid_grant" in caught.value.message
    assert caught.value.action is not None and "erpsync authorize kaffe" in caught.value.action
    assert "REFRESH" not in str(caught.value) and "s3cr3t" not in str(caught.value)


async def test_classic_stock_is_written_on_the_article_and_refusals_come_back() -> None:
    fortnox = TinyFortnox()
    ctx = Ctx(expired_pair())
    now = datetime(2024, 5, 17, tzinfo=UTC)
    balances = [StockBalance(article_number="KAFFE-1", quantity=Decimal(7), as_of=now),
                StockBalance(article_number="OKÄND", quantity=Decimal(1), as_of=now)]
    with http.mount(SIM, fortnox.app):
        try:
            rejections = await plugin.push_stock(ctx, sim_settings(), balances)
        finally:
            await ctx.aclose()
    assert [(r.key, r.message) for r in rejections] == [
        ("OKÄND", 'Kan inte hitta artikeln "OKÄND"')]
    with pytest.raises(ConfigError, match="warehouse module"):
        await plugin.push_stock(Ctx(Store()), sim_settings(warehouse_module=True), balances)


async def test_classic_keys_without_the_warehouse_scope_still_deliver() -> None:
    fortnox = TinyFortnox(scoped=False)
    ctx = Ctx(expired_pair())
    module = Ctx(ctx.store)  # the same credential, a goods owner set up for the module
    with http.mount(SIM, fortnox.app):
        try:
            await plugin.report_delivery(ctx, sim_settings(), shipped(("1", "KAFFE-1", 3)))
            with pytest.raises(AuthenticationLost, match="no access to the warehouse module"):
                await plugin.check_connection(module, sim_settings(warehouse_module=True))
        finally:
            await ctx.aclose()
            await module.aclose()
    assert fortnox.invoices == 1, "403 on the probe: the module cannot be read, classic goes on"

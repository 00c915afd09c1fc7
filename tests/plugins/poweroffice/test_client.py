"""The PowerOffice Go client and the plugin's hooks over small inline responders
(httpx.MockTransport, a tiny starlette app), not the simulator: tokens (reuse, one renewal on
401), the subscription key on every call, ProblemDetails errors, paging with 204, and the
pacer shared by every goods owner on one subscription key."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from erpsync_poweroffice import client as po
from erpsync_poweroffice import plugin
from erpsync_poweroffice.plugin import PowerOfficeSettings
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erpsync import http
from erpsync.errors import AuthenticationLost, RecordRejected, TransientError, VendorError
from erpsync.hookspecs import CredentialStore
from erpsync.models import StockBalance

T = TypeVar("T")

KEYS = po.Keys(application_key="APPKEY-1", client_key="CLIENTKEY-1",
               subscription_key="SUBKEY-0001")
HOST = "https://goapi.poweroffice.net"


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_retry_sleep", _no_sleep)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_answer(n: int, expires_in: int = 1200) -> httpx.Response:
    return httpx.Response(200, json={"access_token": f"TOKEN-{n}", "token_type": "Bearer",
                                     "expires_in": expires_in})


class Go:
    """A scripted PowerOffice Go: records every request; ``api`` answers the API calls."""

    def __init__(self, api: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens = 0
        self.api = api

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/OAuth/Token"):
            self.tokens += 1
            return token_answer(self.tokens)
        return self.api(request)


def make_client(go: Any, *, environment: po.Environment = "production",
                clock: Clock | None = None, page_size: int = 2) -> po.PowerOfficeClient:
    return po.PowerOfficeClient(
        HOST, environment, KEYS, page_size=page_size, transport=httpx.MockTransport(go),
        rate_limit=http.RateLimit(requests=1000, per=1.0), clock=clock or Clock(),
        max_attempts=2,
    )


def ok(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def problem(status: int, title: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "about:blank", "title": title,
                                        "status": status, "detail": detail},
                          headers={"Content-Type": "application/problem+json"})


# --- tokens and keys ---------------------------------------------------------------------------


async def test_token_call_is_basic_auth_with_client_credentials_and_the_subscription_key() -> None:
    go = Go(lambda request: httpx.Response(204))
    client = make_client(go, environment="demo")
    await client.ping()
    token_call, api_call = go.requests
    assert token_call.method == "POST"
    assert str(token_call.url) == "https://goapi.poweroffice.net/Demo/OAuth/Token"
    expected = base64.b64encode(b"APPKEY-1:CLIENTKEY-1").decode()
    assert token_call.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(token_call.content.decode()) == {"grant_type": ["client_credentials"]}
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert str(api_call.url).startswith("https://goapi.poweroffice.net/Demo/v2/")
    assert api_call.headers["Authorization"] == "Bearer TOKEN-1"
    for request in go.requests:
        assert request.headers["Ocp-Apim-Subscription-Key"] == "SUBKEY-0001"


async def test_production_has_no_prefix() -> None:
    go = Go(lambda request: httpx.Response(204))
    await make_client(go).ping()
    assert [str(r.url).split("?")[0] for r in go.requests] == [
        "https://goapi.poweroffice.net/OAuth/Token",
        "https://goapi.poweroffice.net/v2/ClientIntegrationInformation"]


async def test_the_token_is_reused_until_shortly_before_it_expires() -> None:
    clock = Clock()
    go = Go(lambda request: httpx.Response(204))
    client = make_client(go, clock=clock)
    await client.ping()
    clock.now += 1100  # 20 minutes = 1200 s; renewed within the last 60 s
    await client.ping()
    assert go.tokens == 1
    clock.now += 60
    await client.ping()
    assert go.tokens == 2
    assert go.requests[-1].headers["Authorization"] == "Bearer TOKEN-2"


async def test_a_401_gets_one_new_token_and_one_more_try() -> None:
    answers = [httpx.Response(401, json={"statusCode": 401, "message": "expired"}),
               httpx.Response(204)]
    go = Go(lambda request: answers.pop(0))
    client = make_client(go)
    await client.ping()
    assert go.tokens == 2
    assert [r.headers["Authorization"] for r in go.requests if "/v2/" in r.url.path] == [
        "Bearer TOKEN-1", "Bearer TOKEN-2"]


async def test_a_second_401_is_authentication_lost() -> None:
    go = Go(lambda request: problem(401, "Unauthorized", "The token is not valid"))
    client = make_client(go)
    with pytest.raises(AuthenticationLost) as caught:
        await client.ping()
    assert go.tokens == 2
    assert "The token is not valid" in caught.value.message
    assert caught.value.action and "client key" in caught.value.action


async def test_refused_keys_at_the_token_endpoint_are_authentication_lost() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_client"})

    with pytest.raises(AuthenticationLost) as caught:
        await make_client(handler).ping()
    assert "invalid_client" in caught.value.message
    for secret in ("APPKEY-1", "CLIENTKEY-1", "SUBKEY-0001"):
        assert secret not in str(caught.value)


def test_keys_are_never_shown() -> None:
    assert "APPKEY" not in repr(KEYS)
    assert "SUBKEY" not in repr(po.rate_limit_for(KEYS.subscription_key, "production"))
    assert "SUBKEY-0001" not in str(po.rate_limit_for(KEYS.subscription_key, "demo").key)


# --- errors -------------------------------------------------------------------------------------


async def test_403_names_the_privilege_to_grant() -> None:
    go = Go(lambda request: problem(403, "Forbidden",
                                    "Integration does not have required permission"))
    client = make_client(go)
    with pytest.raises(AuthenticationLost) as caught:
        async for _ in client.products(None):
            pass
    assert "Product" in caught.value.message
    assert "Integration does not have required permission" in caught.value.message
    assert caught.value.action and "grant the privilege Product" in caught.value.action
    assert caught.value.status == 403


async def test_403_on_invoices_names_the_outgoing_invoice_privilege() -> None:
    go = Go(lambda request: problem(403, "Forbidden", "no access"))
    with pytest.raises(AuthenticationLost, match="OutgoingInvoice"):
        async for _ in make_client(go).paid_invoice_pages(None):
            pass


async def test_a_refused_write_is_record_rejected_with_title_and_detail() -> None:
    go = Go(lambda request: problem(400, "Validation failed",
                                    "StockOnHand cannot be set on a product that is not a "
                                    "stock item"))
    client = make_client(go)
    with pytest.raises(RecordRejected) as caught:
        await client.set_stock("4711", [{"op": "replace", "path": "/StockOnHand", "value": 1}],
                               key="A-100")
    assert caught.value.key == "A-100"
    assert caught.value.vendor_message == ("Validation failed: StockOnHand cannot be set on a "
                                           "product that is not a stock item")


async def test_a_bad_read_is_a_vendor_error_and_5xx_is_transient() -> None:
    with pytest.raises(VendorError, match="unsupported"):
        await make_client(Go(lambda r: problem(400, "Bad Request", "unsupported"))).ping()
    with pytest.raises(TransientError):
        await make_client(Go(lambda r: problem(500, "Server Error", "boom"))).ping()


async def test_429_is_retried_by_the_http_layer() -> None:
    answers = [httpx.Response(429, json={"statusCode": 429, "message": "Rate limit"},
                              headers={"Retry-After": "0"}), httpx.Response(204)]
    go = Go(lambda request: answers.pop(0))
    await make_client(go).ping()
    assert answers == []


# --- paging --------------------------------------------------------------------------------------


async def test_pages_until_a_short_page_with_order_by_and_page_size() -> None:
    data = [{"Id": n, "Code": f"P{n}", "Name": f"p{n}"} for n in range(1, 6)]

    def api(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["PageNumber"])
        size = int(request.url.params["PageSize"])
        return ok(data[(page - 1) * size: page * size])

    go = Go(api)
    pages = [page async for page in make_client(go, page_size=2).products(None)]
    assert [[p["Id"] for p in page] for page in pages] == [[1, 2], [3, 4], [5]]
    api_calls = [r for r in go.requests if "/v2/" in r.url.path]
    assert [r.url.params["PageNumber"] for r in api_calls] == ["1", "2", "3"]
    assert all(r.url.params["OrderBy"] == "Id" for r in api_calls)


async def test_a_204_ends_the_list() -> None:
    data = [{"Id": 1}, {"Id": 2}]

    def api(request: httpx.Request) -> httpx.Response:
        return ok(data) if request.url.params["PageNumber"] == "1" else httpx.Response(204)

    pages = [page async for page in make_client(Go(api), page_size=2).products(None)]
    assert pages == [data]
    assert [page async for page in make_client(Go(lambda r: httpx.Response(204))).products(
        None)] == []


async def test_x_pagination_says_the_last_page() -> None:
    go = Go(lambda r: ok([{"Id": 1}, {"Id": 2}],
                         **{"X-Pagination": json.dumps({"TotalPages": 1, "CurrentPage": 1})}))
    pages = [page async for page in make_client(go, page_size=2).products(None)]
    assert len(pages) == 1


async def test_since_is_sent_as_an_exclusive_filter_a_millisecond_earlier() -> None:
    go = Go(lambda r: httpx.Response(204))
    since = datetime(2024, 3, 5, 10, 0, 0, tzinfo=UTC)
    [_ async for _ in make_client(go).products(since)]
    [_ async for _ in make_client(go).paid_invoice_pages(since)]
    calls = [r for r in go.requests if "/v2/" in r.url.path]
    assert calls[0].url.params["lastChangedDateTimeOffsetGreaterThan"] == (
        "2024-03-05T09:59:59.999000Z")
    assert calls[1].url.params["balanceLastChangedDateTimeOffsetGreaterThan"] == (
        "2024-03-05T09:59:59.999000Z")


async def test_numbers_are_decimal_and_keys_pascal_case() -> None:
    go = Go(lambda r: ok([{"id": 1, "unitPrice": 0.1}]))
    (page,) = [page async for page in make_client(go).products(None)]
    assert page == [{"Id": 1, "UnitPrice": Decimal("0.1")}]


# --- the shared pacer ---------------------------------------------------------------------------


def test_goods_owners_on_one_subscription_key_share_one_pacer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)

    def client_for(keys: po.Keys) -> po.PowerOfficeClient:
        return po.PowerOfficeClient(HOST, "production", keys,
                                    transport=httpx.MockTransport(handler))

    a = client_for(KEYS)
    b = client_for(po.Keys("APPKEY-1", "OTHER-CLIENT", "SUBKEY-0001"))
    c = client_for(po.Keys("APPKEY-1", "CLIENTKEY-1", "SUBKEY-0002"))
    assert a.http._pacer is b.http._pacer
    assert a.http._pacer is not c.http._pacer
    limit = po.rate_limit_for("SUBKEY-0001", "production")
    assert (limit.requests, limit.per, limit.even) == (9, 1.0, True), "spaced, one under 10"


async def test_two_goods_owners_on_one_key_stay_under_ten_per_second() -> None:
    started: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        started.append(time.monotonic())
        if request.url.path.endswith("/OAuth/Token"):
            return token_answer(1)
        return httpx.Response(204)

    key = po.Keys("APP", "CLIENT", f"SUBKEY-pacer-{time.monotonic_ns()}")
    owners = [po.PowerOfficeClient(HOST, "production", key,
                                   transport=httpx.MockTransport(handler)) for _ in range(2)]

    async def run(client: po.PowerOfficeClient) -> None:
        for _ in range(5):
            await client.ping()

    await asyncio.gather(*(run(owner) for owner in owners))
    assert len(started) == 12  # 2 tokens + 10 calls
    for index in range(10, len(started)):
        assert started[index] - started[index - 10] >= 0.95


# --- the hooks over a tiny starlette app ----------------------------------------------------------


class _Store:
    def load(self) -> dict[str, Any] | None:
        return None

    def save(self, data: dict[str, Any]) -> None:
        return None

    def lock(self) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError


class Ctx:
    goods_owner = "acme"
    log = logging.getLogger("test.poweroffice")

    def __init__(self) -> None:
        self.resources: dict[str, Any] = {}

    def credentials(self, name: str) -> CredentialStore:
        return _Store()

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        if name not in self.resources:
            self.resources[name] = await factory()
        result: T = self.resources[name]
        return result

    async def aclose(self) -> None:
        for value in self.resources.values():
            await value.aclose()


SIM = "http://127.0.0.1:9"


class TinyGo:
    """Just enough of PowerOffice Go for the hooks: products, groups, invoices, customers."""

    def __init__(self) -> None:
        self.products: list[dict[str, Any]] = [
            {"Id": 1, "Code": "A-1", "Name": "Mug", "ProductGroupId": 7, "IsStockItem": True,
             "StockOnHand": 5, "LastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
            {"Id": 2, "Code": "A-2", "Name": "Plate", "IsArchived": True, "IsStockItem": True,
             "StockOnHand": 1, "LastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
            {"Id": 3, "Code": "S-1", "Name": "Service", "ProductType": "Service",
             "IsStockItem": False, "LastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
        ]
        self.invoices: list[dict[str, Any]] = [
            {"Id": "inv-1", "InvoiceNo": 1, "OrderNo": 11, "CustomerNo": 100, "Balance": 0,
             "VoucherType": "OutgoingInvoice", "CurrencyCode": "NOK",
             "BalanceLastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
            {"Id": "inv-2", "InvoiceNo": 2, "OrderNo": 12, "CustomerNo": 100, "Balance": 50,
             "VoucherType": "OutgoingInvoice",
             "BalanceLastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
            {"Id": "inv-3", "InvoiceNo": 3, "CustomerNo": 100, "Balance": 0,
             "VoucherType": "OutgoingCreditNote",
             "BalanceLastChangedDateTimeOffset": "2024-03-05T10:00:00+00:00"},
        ]
        self.patches: list[tuple[str, str, Any]] = []
        self.app = Starlette(routes=[
            Route("/OAuth/Token", self.token, methods=["POST"]),
            Route("/v2/Products", self.list_products),
            Route("/v2/Products/{id}", self.patch_product, methods=["PATCH"]),
            Route("/v2/ProductGroups", self.groups),
            Route("/v2/OutgoingInvoices", self.list_invoices),
            Route("/v2/OutgoingInvoices/{id}/Lines", self.lines),
            Route("/v2/Customers", self.customers),
        ])

    async def token(self, request: Request) -> Response:
        return JSONResponse({"access_token": "T", "expires_in": 1200})

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]]) -> Response:
        assert request.headers["Ocp-Apim-Subscription-Key"] == "SUB"
        assert request.query_params["OrderBy"] == "Id"
        page, size = int(request.query_params["PageNumber"]), int(request.query_params[
            "PageSize"])
        chunk = items[(page - 1) * size: page * size]
        return JSONResponse(chunk) if chunk else Response(status_code=204)

    async def list_products(self, request: Request) -> Response:
        codes = request.query_params.get("codes")
        items = self.products
        if codes is not None:
            wanted = {c.strip() for c in codes.split(",")}
            items = [p for p in items if p["Code"] in wanted]
        return self._page(request, items)

    async def patch_product(self, request: Request) -> Response:
        assert request.headers["Content-Type"] == "application/json-patch+json"
        for op in json.loads(await request.body()):
            self.patches.append((request.path_params["id"], op["path"], op["value"]))
        return JSONResponse({})

    async def groups(self, request: Request) -> Response:
        return self._page(request, [{"Id": 7, "Name": "Kitchen"}])

    async def list_invoices(self, request: Request) -> Response:
        return self._page(request, self.invoices)

    async def lines(self, request: Request) -> Response:
        return self._page(request, [
            {"Id": 1, "LineType": "Normal", "ProductCode": "A-1", "Quantity": 2,
             "ProductUnitPrice": 10, "NetAmount": 18, "Allowance": 10},
            {"Id": 2, "LineType": "Text", "Description": "Fragile"},
        ])

    async def customers(self, request: Request) -> Response:
        assert request.query_params["customerNos"] == "100"
        return self._page(request, [{"Id": 9, "Number": 100, "Name": "Acme",
                                     "EmailAddress": "a@acme.example"}])


def settings() -> PowerOfficeSettings:
    return PowerOfficeSettings(base_url=SIM, application_key=SecretStr("APP"),
                               client_key=SecretStr("CLIENT"),
                               subscription_key=SecretStr("SUB"), page_size=2)


async def hooks_against(go: TinyGo) -> AsyncIterator[Ctx]:
    with http.mount(SIM, go.app):
        ctx = Ctx()
        try:
            yield ctx
        finally:
            await ctx.aclose()


async def test_fetch_articles_hook() -> None:
    go = TinyGo()
    async for ctx in hooks_against(go):
        articles = [a async for a in plugin.fetch_articles(ctx, settings(), None)]
    assert [(a.article_number, a.is_active, a.is_stock_article) for a in articles] == [
        ("A-1", True, True), ("A-2", False, True), ("S-1", True, False)]
    assert articles[0].group is not None and articles[0].group.name == "Kitchen"


async def test_fetch_orders_hook_yields_only_paid_invoices() -> None:
    go = TinyGo()
    async for ctx in hooks_against(go):
        orders = [o async for o in plugin.fetch_orders(ctx, settings(), None)]
    (order,) = orders
    assert order.order_number == "11"
    assert order.customer.name == "Acme"
    assert order.notify_by_email is True
    assert [ln.line_price for ln in order.lines] == [Decimal(20)]
    assert [t.text for t in order.text_lines] == ["Fragile"]


async def test_push_stock_hook_writes_only_changes_and_rejects_unknown_products() -> None:
    go = TinyGo()
    now = datetime.now(UTC)
    balances = [StockBalance(article_number=code, quantity=Decimal(q), as_of=now)
                for code, q in (("A-1", 5), ("A-2", 4), ("S-1", 3), ("NOPE", 1))]
    async for ctx in hooks_against(go):
        rejections = await plugin.push_stock(ctx, settings(), balances)
    assert go.patches == [("2", "/StockOnHand", 4)]
    assert [r.key for r in rejections] == ["NOPE"]


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="https"):
        PowerOfficeSettings(base_url="http://goapi.poweroffice.net",
                            application_key=SecretStr("a"), client_key=SecretStr("b"),
                            subscription_key=SecretStr("c"))
    with pytest.raises(ValidationError, match="environment"):
        PowerOfficeSettings.model_validate({
            "environment": "test", "application_key": SecretStr("a"),
            "client_key": SecretStr("b"), "subscription_key": SecretStr("c")})
    with pytest.raises(ValidationError, match="by reference"):
        PowerOfficeSettings.model_validate({"application_key": "inline", "client_key": "b",
                                            "subscription_key": "c"})

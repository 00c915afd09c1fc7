"""The PowerOffice Go simulator: the vendor's documented behaviour, strictly, and the control
surface that plays the Go user (erpsync_poweroffice/sandbox.py).

Requests are made here by hand as the vendor documents them (not with the plugin's client):
client credentials in Basic auth on ``{prefix}/OAuth/Token`` and the ``Ocp-Apim-Subscription-Key``
header on every call (https://developer.poweroffice.net/documentation/authentication).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from erpsync_poweroffice.sandbox import (
    BASE_URL,
    PowerOfficeSandbox,
    ProductLine,
    TextLine,
)

from erpsync.conformance import ErpSandbox
from erpsync.models import Flow
from erpsync.sandbox import DemoCompany

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEMO = "/Demo"


class Clock:
    """A rate-limit clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> PowerOfficeSandbox:
    box = PowerOfficeSandbox(rate_clock=clock, seed=7)
    box.set_time(T0)
    return box


@pytest.fixture
async def http(sandbox: PowerOfficeSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app),
                                 base_url=BASE_URL) as client:
        yield client


def keys(sandbox: PowerOfficeSandbox, environment: str = "demo") -> tuple[str, str, str]:
    return (sandbox.application_key[environment], sandbox.client_key[environment],
            sandbox.subscription_key[environment])


async def token(http: httpx.AsyncClient, sandbox: PowerOfficeSandbox, *, prefix: str = DEMO,
                environment: str = "demo", client_key: str | None = None,
                subscription: str | None = None) -> httpx.Response:
    app_key, own_client, own_subscription = keys(sandbox, environment)
    basic = base64.b64encode(f"{app_key}:{client_key or own_client}".encode()).decode()
    return await http.post(f"{prefix}/OAuth/Token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {basic}",
                                    "Ocp-Apim-Subscription-Key":
                                        subscription or own_subscription})


async def bearer(http: httpx.AsyncClient, sandbox: PowerOfficeSandbox) -> str:
    answer = await token(http, sandbox)
    assert answer.status_code == 200, answer.text
    access: str = answer.json()["access_token"]
    return access


class Api:
    """Calls to the demo v2 API with a fresh token, as a client following the docs makes them."""

    def __init__(self, http: httpx.AsyncClient, sandbox: PowerOfficeSandbox, access: str):
        self.http, self.sandbox, self.access = http, sandbox, access

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}",
                "Ocp-Apim-Subscription-Key": self.sandbox.subscription_key["demo"]} | extra

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{DEMO}/v2{path}", params=params, headers=self.headers())

    async def patch(self, path: str, body: Any,
                    content_type: str = "application/json-patch+json") -> httpx.Response:
        return await self.http.patch(f"{DEMO}/v2{path}", content=json.dumps(body),
                                     headers=self.headers(**{"Content-Type": content_type}))

    async def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = await self.get(path, PageNumber=page, **params)
            if answer.status_code == 204:
                return rows
            assert answer.status_code == 200, answer.text
            rows += answer.json()
            if not json.loads(answer.headers["X-Pagination"])["HasNext"]:
                return rows
            page += 1


@pytest.fixture
async def api(http: httpx.AsyncClient, sandbox: PowerOfficeSandbox) -> Api:
    return Api(http, sandbox, await bearer(http, sandbox))


def test_implements_the_conformance_protocol(sandbox: PowerOfficeSandbox) -> None:
    protocol: ErpSandbox = sandbox
    settings = protocol.settings()
    assert set(settings) == {"environment", "base_url", "application_key", "client_key",
                             "subscription_key", "page_size"}
    assert settings["environment"] == "demo" and settings["base_url"] == BASE_URL
    assert protocol.bad_settings()["client_key"] != settings["client_key"]


# --- authentication -------------------------------------------------------------------------


async def test_token_is_a_20_minute_bearer_token(http: httpx.AsyncClient,
                                                 sandbox: PowerOfficeSandbox) -> None:
    answer = await token(http, sandbox)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1200


async def test_an_expired_token_is_refused(api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product("A-1", "Brunost")
    assert (await api.get("/Products")).status_code == 200
    sandbox.advance(timedelta(minutes=19, seconds=59))
    assert (await api.get("/Products")).status_code == 200
    sandbox.advance(timedelta(seconds=1))
    refused = await api.get("/Products")
    assert refused.status_code == 401
    assert refused.content == b""
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "expired" in refused.headers["WWW-Authenticate"]


async def test_keys_of_the_other_environment_are_refused(http: httpx.AsyncClient,
                                                         sandbox: PowerOfficeSandbox) -> None:
    # demo keys at the production token endpoint: the subscription key is not production's
    wrong = await token(http, sandbox, prefix="")
    assert wrong.status_code == 401
    assert "invalid subscription key" in wrong.json()["message"]
    # demo client key with production's subscription key and application key
    production = await http.post(
        "/OAuth/Token", data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(
            f"{sandbox.application_key['production']}:{sandbox.client_key['demo']}".encode()
        ).decode(), "Ocp-Apim-Subscription-Key": sandbox.subscription_key["production"]})
    assert production.status_code == 401
    assert production.json()["error"] == "invalid_client"
    assert production.headers["WWW-Authenticate"].startswith("Basic")
    # a demo token used on the production API (with production's key)
    access = await bearer(http, sandbox)
    mixed = await http.get("/v2/Products", headers={
        "Authorization": f"Bearer {access}",
        "Ocp-Apim-Subscription-Key": sandbox.subscription_key["production"]})
    assert mixed.status_code == 401


async def test_production_works_under_its_own_prefix(http: httpx.AsyncClient,
                                                     sandbox: PowerOfficeSandbox) -> None:
    answer = await token(http, sandbox, prefix="", environment="production")
    assert answer.status_code == 200
    listed = await http.get("/v2/ProductGroups", headers={
        "Authorization": f"Bearer {answer.json()['access_token']}",
        "Ocp-Apim-Subscription-Key": sandbox.subscription_key["production"]})
    assert listed.status_code == 200
    assert [g["Name"] for g in listed.json()] == ["Standard"]


async def test_paths_are_spelled_as_documented(http: httpx.AsyncClient,
                                               sandbox: PowerOfficeSandbox) -> None:
    lower = await token(http, sandbox, prefix="/demo")
    assert lower.status_code == 404
    assert lower.json() == {"statusCode": 404, "message": "Resource not found"}


async def test_the_subscription_key_is_required_on_every_call(
        http: httpx.AsyncClient, sandbox: PowerOfficeSandbox, api: Api) -> None:
    app_key, client_key, _ = keys(sandbox)
    basic = base64.b64encode(f"{app_key}:{client_key}".encode()).decode()
    no_key = await http.post(f"{DEMO}/OAuth/Token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"})
    assert no_key.status_code == 401
    assert no_key.json() == {"statusCode": 401, "message": (
        "Access denied due to missing subscription key. Make sure to include subscription key "
        "when making requests to an API.")}
    call = await http.get(f"{DEMO}/v2/Products",
                          headers={"Authorization": f"Bearer {api.access}"})
    assert call.status_code == 401 and "missing subscription key" in call.json()["message"]


async def test_a_token_is_bound_to_its_subscription_key(http: httpx.AsyncClient,
                                                        sandbox: PowerOfficeSandbox,
                                                        api: Api) -> None:
    other = sandbox.add_subscription_key("demo")
    answer = await http.get(f"{DEMO}/v2/Products", headers={
        "Authorization": f"Bearer {api.access}", "Ocp-Apim-Subscription-Key": other})
    assert answer.status_code == 401


async def test_token_request_refusals(http: httpx.AsyncClient,
                                      sandbox: PowerOfficeSandbox) -> None:
    bad_client = await token(http, sandbox, client_key="no-such-client")
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    app_key, client_key, subscription = keys(sandbox)
    basic = base64.b64encode(f"{app_key}:{client_key}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "Ocp-Apim-Subscription-Key": subscription}
    grant = await http.post(f"{DEMO}/OAuth/Token", data={"grant_type": "password"},
                            headers=headers)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    as_json = await http.post(f"{DEMO}/OAuth/Token", json={"grant_type": "client_credentials"},
                              headers=headers)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    sandbox.deactivate_client()
    gone = await http.post(f"{DEMO}/OAuth/Token", data={"grant_type": "client_credentials"},
                           headers=headers)
    assert gone.status_code == 401


# --- rate limit, privileges, faults -----------------------------------------------------------


async def test_ten_calls_per_second_per_subscription_key(api: Api, sandbox: PowerOfficeSandbox,
                                                         clock: Clock) -> None:
    # the token call counted as one of the ten
    for _ in range(9):
        assert (await api.get("/ProductGroups")).status_code == 200
    refused = await api.get("/ProductGroups")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {"statusCode": 429,
                              "message": "Rate limit is exceeded. Try again in 1 seconds."}
    key = sandbox.subscription_key["demo"]
    assert sandbox.throttled(key) == 1 and sandbox.peak_rate(key) == 11
    clock.now += 1.0
    assert (await api.get("/ProductGroups")).status_code == 200
    assert sandbox.request_count(status=429) == 1


async def test_a_second_subscription_key_has_its_own_budget(
        http: httpx.AsyncClient, sandbox: PowerOfficeSandbox, api: Api) -> None:
    for _ in range(9):
        await api.get("/ProductGroups")
    assert (await api.get("/ProductGroups")).status_code == 429
    other = sandbox.add_subscription_key("demo")
    assert (await token(http, sandbox, subscription=other)).status_code == 200


async def test_a_missing_privilege_is_403_naming_it(api: Api,
                                                     sandbox: PowerOfficeSandbox) -> None:
    sandbox.set_privileges(["Product", "Customer"])
    forbidden = await api.get("/OutgoingInvoices")
    assert forbidden.status_code == 403
    problem = forbidden.json()
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == 403 and problem["title"] == "Forbidden"
    assert "OutgoingInvoice" in problem["detail"]
    sandbox.add_product("A-1", "Brunost", stock_item=True)
    product_id = sandbox.product("A-1")["Id"]
    read_only = await api.patch(f"/Products/{product_id}",
                                [{"op": "replace", "path": "/StockOnHand", "value": 3}])
    assert read_only.status_code == 403 and "Product_Full" in read_only.json()["detail"]
    info = (await api.get("/ClientIntegrationInformation")).json()
    assert "OutgoingInvoice" in info["InvalidPrivileges"]
    assert info["ValidPrivileges"] == ["Customer", "Product"]


async def test_fail_next_injects_failures_and_counts_them(api: Api,
                                                          sandbox: PowerOfficeSandbox) -> None:
    sandbox.fail_next(2, 503)
    assert (await api.get("/Products")).status_code == 503
    second = await api.get("/Products")
    assert second.status_code == 503 and second.json()["status"] == 503
    assert (await api.get("/Products")).status_code == 204
    sandbox.fail_next(1, 500, {"oops": True}, path=f"{DEMO}/v2/Customers")
    assert (await api.get("/Products")).status_code == 204
    assert (await api.get("/Customers")).json() == {"oops": True}
    assert sandbox.request_count("/v2/Products") == 4


async def test_fail_next_answers_with_the_headers_given(api: Api,
                                                        sandbox: PowerOfficeSandbox) -> None:
    """A 429 as the gateway sends it, Retry-After included (the fault suite's share of 429s)."""
    body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 2 seconds."}
    sandbox.fail_next(1, 429, body, {"Retry-After": "2"}, path=f"{DEMO}/v2/Products")
    refused = await api.get("/Products")
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "2")
    assert refused.json() == body
    assert "Retry-After" not in (await api.get("/Products")).headers
    assert sandbox.request_count("/v2/Products", status=429) == 1
    assert sandbox.throttled(sandbox.subscription_key["demo"]) == 0, \
        "an injected 429 is not the rate limit's"


async def test_latency_is_spent_on_api_calls(api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.latency = 0.05
    started = datetime.now(UTC)
    await api.get("/Products")
    assert datetime.now(UTC) - started >= timedelta(seconds=0.05)


# --- query rules, paging ----------------------------------------------------------------------


async def test_unsupported_query_parameters_are_400(api: Api) -> None:
    unknown = await api.get("/Products", changedSince="2026-01-01T00:00:00Z")
    assert unknown.status_code == 400
    assert "changedSince" in unknown.json()["errors"]
    spelled = await api.get("/Products", pageSize="10")
    assert spelled.status_code == 400
    assert "'PageSize'" in spelled.json()["errors"]["pageSize"][0]
    unsimulated = await api.get("/Customers", externalNos="1-5")
    assert unsimulated.status_code == 400 and "not simulated" in unsimulated.text
    bad_time = await api.get("/Products", lastChangedDateTimeOffsetGreaterThan="2026-01-01")
    assert bad_time.status_code == 400
    # an unencoded '+' arrives as a space: refused
    raw = await api.http.get(
        f"{DEMO}/v2/Products?lastChangedDateTimeOffsetGreaterThan=2026-01-01T00:00:00+01:00",
        headers=api.headers())
    assert raw.status_code == 400
    too_big = await api.get("/Products", PageSize="20001")
    assert too_big.status_code == 400
    by_id = await api.get("/Products/1001", PageSize="5")
    assert by_id.status_code == 400


async def test_empty_lists_are_204_and_pages_carry_x_pagination(
        api: Api, sandbox: PowerOfficeSandbox) -> None:
    empty = await api.get("/Products")
    assert empty.status_code == 204 and empty.content == b""
    for n in range(12):
        sandbox.add_product(f"A-{n:02d}", f"Vare {n}")
    first = await api.get("/Products", OrderBy="Code", PageSize="5")
    assert first.status_code == 200
    assert json.loads(first.headers["X-Pagination"]) == {
        "TotalCount": 12, "PageSize": 5, "CurrentPage": 1, "TotalPages": 3, "HasNext": True,
        "HasPrevious": False}
    assert [p["Code"] for p in first.json()] == [f"A-{n:02d}" for n in range(5)]
    default = await api.get("/Products")
    assert len(default.json()) == sandbox.page_size
    past = await api.get("/Products", PageNumber="4", PageSize="5")
    assert past.status_code == 204
    rows = await api.all("/Products", OrderBy="Id", PageSize="5")
    assert sorted(p["Code"] for p in rows) == [f"A-{n:02d}" for n in range(12)]
    assert len(rows) == 12


async def test_there_is_no_stable_order_without_order_by(api: Api,
                                                         sandbox: PowerOfficeSandbox) -> None:
    for n in range(20):
        sandbox.add_product(f"A-{n:02d}", "Vare")
    orders = {tuple(p["Code"] for p in (await api.get("/Products", PageSize="20")).json())
              for _ in range(5)}
    assert len(orders) > 1
    descending = await api.get("/Products", PageSize="20", OrderBy="Code desc")
    assert [p["Code"] for p in descending.json()] == [f"A-{n:02d}" for n in range(19, -1, -1)]
    unknown = await api.get("/Products", OrderBy="code")
    assert unknown.status_code == 400


async def test_fields_limits_the_properties(api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product("A-1", "Brunost")
    answer = await api.get("/Products", Fields="Code,Name")
    assert answer.json() == [{"Code": "A-1", "Name": "Brunost"}]


# --- products --------------------------------------------------------------------------------


async def test_products_are_pascal_case_with_v2_names(api: Api,
                                                      sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product_group("MAT", "Matvarer")
    sandbox.add_product("KAFFE-1", "Kaffe 250 g", group="MAT", unit_price=Decimal("59.90"),
                        unit_cost=Decimal("30.50"), gtin="7038010000000", unit="EA",
                        description="Kokmalt", stock_item=True, stock_on_hand=12)
    product = (await api.get("/Products")).json()[0]
    assert product["Code"] == "KAFFE-1" and product["Name"] == "Kaffe 250 g"
    assert product["UnitPrice"] == 59.9 and product["UnitCost"] == 30.5
    assert product["Gtin"] == "7038010000000" and product["UnitOfMeasureCode"] == "EA"
    assert product["ProductGroupCode"] == "MAT" and product["IsStockItem"] is True
    assert product["StockOnHand"] == 12 and product["ProductType"] == "Product"
    assert product["LastChangedDateTimeOffset"] == "2026-03-02T09:00:00.0000000+00:00"
    assert "SalesPrice" not in product and "CostPrice" not in product
    group = (await api.get(f"/ProductGroups/{product['ProductGroupId']}")).json()
    assert group["Name"] == "Matvarer"


async def test_product_filters(api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product_group("DRIKKE", "Drikkevarer")
    sandbox.add_product("A-1", "Eplemost", group="DRIKKE", at=T0 - timedelta(days=2))
    sandbox.add_product("A-2", "Lefse", archived=True, at=T0 - timedelta(days=1))
    sandbox.add_product("A-3", "Frakt", product_type="Service", at=T0)

    async def codes(**params: Any) -> list[str]:
        return sorted(p["Code"] for p in await api.all("/Products", **params))

    since = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    assert await codes(lastChangedDateTimeOffsetGreaterThan=since) == ["A-3"]  # exclusive
    just_before = (T0 - timedelta(days=1, microseconds=1)).isoformat()
    assert await codes(lastChangedDateTimeOffsetGreaterThan=just_before) == ["A-2", "A-3"]
    assert await codes(isArchived="false") == ["A-1", "A-3"]
    assert await codes(isArchived="true") == ["A-2"]
    assert await codes(productGroupCodes="DRIKKE") == ["A-1"]
    assert await codes(type="Service") == ["A-3"]
    assert await codes(codes="A-1, A-3") == ["A-1", "A-3"]
    assert (await api.get("/Products", type="service")).status_code == 400


async def test_patching_stock_on_hand_moves_only_the_stock_timestamp(
        api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product("A-1", "Brunost", stock_item=True, at=T0 - timedelta(days=1))
    product = sandbox.product("A-1")
    sandbox.advance(timedelta(minutes=10))
    answer = await api.patch(f"/Products/{product['Id']}",
                             [{"op": "replace", "path": "/StockOnHand", "value": 7}])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["StockOnHand"] == 7 and sandbox.stock_level("A-1") == Decimal(7)
    assert body["LastChangedDateTimeOffset"] == product["LastChangedDateTimeOffset"]
    assert body["StockOnHandLastChangedDatetimeOffset"] == "2026-03-02T09:10:00.0000000+00:00"
    assert sandbox.stock_writes("A-1") == 1
    since = (T0 - timedelta(minutes=1)).isoformat()
    assert await api.all("/Products", lastChangedDateTimeOffsetGreaterThan=since) == []
    stocked = await api.all("/Products", stockOnHandLastChangedDatetimeOffsetGreaterThan=since)
    assert [p["Code"] for p in stocked] == ["A-1"]
    # the same value again changes nothing
    again = await api.patch(f"/Products/{product['Id']}",
                            [{"op": "replace", "path": "/StockOnHand", "value": 7}])
    assert again.status_code == 200 and sandbox.stock_writes("A-1") == 1
    # another field moves the last changed timestamp
    named = await api.patch(f"/Products/{product['Id']}",
                            [{"op": "replace", "path": "/Name", "value": "Gudbrandsdalsost"}])
    assert named.json()["LastChangedDateTimeOffset"] == "2026-03-02T09:10:00.0000000+00:00"


async def test_patch_refusals(api: Api, sandbox: PowerOfficeSandbox) -> None:
    sandbox.add_product("A-1", "Brunost", stock_item=True)
    sandbox.add_product("S-1", "Frakt")
    stock_id, service_id = sandbox.product("A-1")["Id"], sandbox.product("S-1")["Id"]
    camel = await api.patch(f"/Products/{stock_id}",
                            [{"op": "replace", "path": "/stockOnHand", "value": 5}])
    assert camel.status_code == 400 and "/StockOnHand" in camel.text
    not_stock = await api.patch(f"/Products/{service_id}",
                                [{"op": "replace", "path": "/StockOnHand", "value": 5}])
    assert not_stock.status_code == 400 and "not a stock item" in not_stock.text
    wrong_type = await api.patch(f"/Products/{stock_id}",
                                 [{"op": "replace", "path": "/StockOnHand", "value": "5"}])
    assert wrong_type.status_code == 400
    read_only = await api.patch(f"/Products/{stock_id}",
                                [{"op": "replace", "path": "/StockAvailable", "value": 5}])
    assert read_only.status_code == 400 and "read-only" in read_only.text
    as_json = await api.patch(f"/Products/{stock_id}",
                              [{"op": "replace", "path": "/StockOnHand", "value": 5}],
                              content_type="application/json")
    assert as_json.status_code == 415
    atomic = await api.patch(f"/Products/{stock_id}", [
        {"op": "replace", "path": "/StockOnHand", "value": 5},
        {"op": "replace", "path": "/Nope", "value": 1}])
    assert atomic.status_code == 400 and sandbox.stock_level("A-1") == 0
    missing = await api.patch("/Products/999999",
                              [{"op": "replace", "path": "/StockOnHand", "value": 5}])
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert sandbox.stock_writes("A-1") == 0


# --- customers ---------------------------------------------------------------------------------


async def test_customers_with_and_without_a_mail_address(api: Api,
                                                         sandbox: PowerOfficeSandbox) -> None:
    with_mail = sandbox.add_customer(
        "Kafé Ærlig", legal_name="Kafé Ærlig AS", phone="+47 900 00 000",
        mail_address={"AddressLine1": "Postboks 7", "ZipCode": "0101", "City": "Oslo",
                      "CountryCode": "NO"},
        delivery_address={"AddressLine1": "Storgata 1", "ZipCode": "0150", "City": "Oslo",
                          "CountryCode": "NO"})
    without = sandbox.add_customer("Bakeriet", delivery_address={
        "AddressLine1": "Torget 2", "ZipCode": "5003", "City": "Bergen", "CountryCode": "NO"})
    rows = {c["Number"]: c for c in await api.all("/Customers", OrderBy="Number")}
    assert rows[with_mail]["MailAddress"]["AddressLine1"] == "Postboks 7"
    assert rows[with_mail]["LegalName"] == "Kafé Ærlig AS"
    assert rows[with_mail]["PhoneNumber"] == "+47 900 00 000"
    mail = rows[without]["MailAddress"]  # present, every address field null
    assert all(mail[f] is None for f in ("AddressLine1", "AddressLine2", "ZipCode", "City",
                                         "CountryCode"))
    contact = rows[without]["Id"]
    addresses = await api.all("/ContactDeliveryAddresses", contactIds=str(contact))
    assert [(a["AddressLine1"], a["IsPrimary"]) for a in addresses] == [("Torget 2", True)]
    one = await api.get(f"/Customers/{contact}")
    assert one.json()["Name"] == "Bakeriet"
    assert [c["Number"] for c in await api.all("/Customers", customerNos=f"{without}-")] == [
        without]


# --- outgoing invoices, payments ----------------------------------------------------------------


def shop(sandbox: PowerOfficeSandbox) -> int:
    sandbox.add_product("KAFFE-1", "Kaffe", unit_price=Decimal("50"), stock_item=True,
                        unit="EA")
    return sandbox.add_customer("Kafé Ærlig", delivery_address={
        "AddressLine1": "Storgata 1", "ZipCode": "0150", "City": "Oslo", "CountryCode": "NO"})


async def test_an_invoice_with_product_and_text_lines(api: Api,
                                                      sandbox: PowerOfficeSandbox) -> None:
    customer = shop(sandbox)
    number = sandbox.send_invoice(customer, [
        ProductLine("KAFFE-1", 3, discount_percent=10), TextLine("Leveres bakdøren")],
        currency="EUR", exchange_rate=Decimal("11.5"), delivery_term="FCA",
        customer_reference="Kari")
    invoice = (await api.get("/OutgoingInvoices")).json()[0]
    assert invoice["InvoiceNo"] == number and invoice["OrderNo"] != number
    assert invoice["VoucherType"] == "OutgoingInvoice" and invoice["CurrencyCode"] == "EUR"
    assert invoice["NetAmount"] == 135.0 and invoice["TotalAmount"] == 168.75
    assert invoice["Balance"] == pytest.approx(1940.63)  # in NOK
    assert invoice["DeliveryAddress1"] == "Storgata 1" and invoice["DeliveryTerm"] == "FCA"
    lines = (await api.get(f"/OutgoingInvoices/{invoice['Id']}/Lines", OrderBy="SortOrder"))
    product, text = lines.json()
    assert product["LineType"] == "Normal" and product["ProductCode"] == "KAFFE-1"
    assert product["Quantity"] == 3 and product["ProductUnitPrice"] == 50
    assert product["Allowance"] == 10 and product["NetAmount"] == 135
    assert text["LineType"] == "Text" and text["Description"] == "Leveres bakdøren"
    assert text["Quantity"] is None and text["ProductCode"] is None
    missing = await api.get("/OutgoingInvoices/not-a-guid")
    assert missing.status_code == 400


async def test_payments_bring_the_balance_to_zero_and_move_its_timestamp(
        api: Api, sandbox: PowerOfficeSandbox) -> None:
    customer = shop(sandbox)
    number = sandbox.send_invoice(customer, [ProductLine("KAFFE-1", 2)])  # 125.00 NOK
    marker = T0.isoformat()
    assert await api.all("/OutgoingInvoices",
                         balanceLastChangedDateTimeOffsetGreaterThan=marker) == []
    sandbox.advance(timedelta(minutes=5))
    assert sandbox.register_payment(number, Decimal("100")) == Decimal("25.00")
    part = await api.all("/OutgoingInvoices", balanceLastChangedDateTimeOffsetGreaterThan=marker)
    assert part[0]["Balance"] == 25.0 and part[0]["MatchId"] is None
    assert len(await api.all("/OutgoingInvoices", onlyUnpaidInvoices="true")) == 1
    sandbox.advance(timedelta(minutes=5))
    sandbox.register_payment(number)
    paid = (await api.all("/OutgoingInvoices"))[0]
    assert paid["Balance"] == 0 and paid["MatchId"] is not None
    assert paid["BalanceLastChangedDateTimeOffset"] == "2026-03-02T09:10:00.0000000+00:00"
    assert paid["LastChangedDateTimeOffset"] == "2026-03-02T09:00:00.0000000+00:00"
    assert await api.all("/OutgoingInvoices", onlyUnpaidInvoices="true") == []
    with pytest.raises(ValueError, match="balance"):
        sandbox.register_payment(number, Decimal("1"))


async def test_credit_notes_and_reversals_zero_the_balance_unpaid(
        api: Api, sandbox: PowerOfficeSandbox) -> None:
    customer = shop(sandbox)
    credited = sandbox.send_invoice(customer, [ProductLine("KAFFE-1", 1)])
    note = sandbox.send_credit_note(credited)
    reversed_ = sandbox.send_invoice(customer, [ProductLine("KAFFE-1", 1)])
    sandbox.reverse_invoice(reversed_)
    rows = {i["InvoiceNo"]: i for i in await api.all("/OutgoingInvoices")}
    assert rows[note]["VoucherType"] == "OutgoingCreditNote"
    assert rows[note]["RelatedInvoiceNo"] == credited and rows[note]["TotalAmount"] == -62.5
    assert rows[credited]["Balance"] == 0 and rows[credited]["MatchId"] == rows[note]["MatchId"]
    assert rows[reversed_]["IsReversed"] is True and rows[reversed_]["Balance"] == 0
    assert [i["InvoiceNo"] for i in await api.all(
        "/OutgoingInvoices", invoiceNos=f"{credited}")] == [credited]


# --- the conformance control surface ------------------------------------------------------------


def test_seed_and_change(sandbox: PowerOfficeSandbox) -> None:
    at = T0 - timedelta(days=1)
    articles = sandbox.seed(Flow.ARTICLES, 3, at)
    assert len(set(articles)) == 3
    assert sandbox.product(articles[0])["LastChangedDateTimeOffset"].startswith("2026-03-01")
    orders = sandbox.seed(Flow.ORDERS, 2, at)
    invoices = {str(i["OrderNo"]): i for i in
                (sandbox.invoice(n) for n in range(1, 3))}
    assert set(orders) == set(invoices)
    assert all(i["Balance"] == 0 for i in invoices.values())
    sandbox.change(Flow.ORDERS, orders[0], T0)
    changed = invoices[orders[0]]["InvoiceNo"]
    assert sandbox.invoice(changed)["BalanceLastChangedDateTimeOffset"].startswith("2026-03-02")
    sandbox.change(Flow.ARTICLES, articles[0], T0)
    assert sandbox.product(articles[0])["Name"].endswith("(endret)")
    assert sandbox.stock_level(articles[0]) == 0 and sandbox.stock_level("nope") is None
    for flow in (Flow.DELIVERIES, Flow.RECEIPTS, Flow.ADJUSTMENTS):
        with pytest.raises(ValueError, match="takes no"):
            sandbox.event(flow)
    with pytest.raises(ValueError, match="no purchase_orders"):
        sandbox.seed(Flow.PURCHASE_ORDERS, 1, at)


def test_populate_demo(sandbox: PowerOfficeSandbox) -> None:
    company = sandbox.populate_demo(30)
    assert isinstance(company, DemoCompany)
    assert len(company.articles) == 30 and company.purchase_orders == {}
    assert len(company.orders) == 3
    for order_no, lines in company.orders.items():
        invoice = next(sandbox.invoice(n) for n in range(1, 100)
                       if str(sandbox.invoice(n)["OrderNo"]) == order_no)
        assert invoice["Balance"] == 0
        assert {str(line["Id"]) for line in invoice["Lines"]
                if line["LineType"] == "Normal"} == set(lines)
        assert any(line["LineType"] == "Text" for line in invoice["Lines"])
    assert any("ø" in sandbox.product(code)["Name"] or "å" in sandbox.product(code)["Name"]
               for code in company.articles)

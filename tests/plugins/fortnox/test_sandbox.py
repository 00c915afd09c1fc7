"""The Fortnox simulator: the vendor's documented behaviour, strictly, and the control surface
that plays the Fortnox user (erpsync_fortnox/sandbox.py).

Requests are made here by hand as Fortnox documents them, not with the plugin's client: Basic
client authentication on ``/oauth-v1/token`` (https://www.fortnox.se/developer/authorization),
a bearer token on ``/3`` and ``/api/warehouse`` (https://api.fortnox.se/apidocs).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from erpsync_fortnox.sandbox import (
    API_URL,
    RATE_LIMIT,
    FortnoxSandbox,
    OrderRow,
)

from erpsync.conformance import ErpSandbox
from erpsync.models import Delivery, Flow, InventoryAdjustment, Receipt, ReceiptRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Stockholm


class Clock:
    """A rate-limit clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **options: Any) -> FortnoxSandbox:
    box = FortnoxSandbox(rate_clock=clock, **options)
    box.set_time(T0)
    return box


@pytest.fixture
def sandbox(clock: Clock) -> FortnoxSandbox:
    return make(clock)


@pytest.fixture
def wms(clock: Clock) -> FortnoxSandbox:
    """A tenant with the warehouse module (Fortnox Lager) activated."""
    return make(clock, warehouse_module=True)


def client(box: FortnoxSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=box.app), base_url=API_URL)


@pytest.fixture
async def http(sandbox: FortnoxSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with client(sandbox) as http:
        yield http


@pytest.fixture
async def whttp(wms: FortnoxSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with client(wms) as http:
        yield http


def basic(box: FortnoxSandbox, secret: str | None = None) -> dict[str, str]:
    pair = f"{box.client_id}:{secret or box.client_secret}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


async def token_call(http: httpx.AsyncClient, box: FortnoxSandbox, form: dict[str, str],
                     **headers: str) -> httpx.Response:
    return await http.post("/oauth-v1/token", data=form, headers=basic(box) | headers)


async def service_token(http: httpx.AsyncClient, box: FortnoxSandbox) -> str:
    answer = await token_call(http, box, {"grant_type": "client_credentials"},
                              TenantId=str(box.tenant_id))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def put(http: httpx.AsyncClient, token: str, path: str, body: Any = None
              ) -> httpx.Response:
    if body is None:
        return await http.put(path, headers=bearer(token))
    return await http.put(path, json=body, headers=bearer(token))


# --- the conformance protocol ----------------------------------------------------------------


def test_the_sandbox_implements_the_conformance_protocol(sandbox: FortnoxSandbox) -> None:
    protocol: ErpSandbox = sandbox
    settings = protocol.settings()
    assert settings["base_url"] == settings["auth_url"] == sandbox.base_url
    assert settings["client_secret"].get_secret_value() == sandbox.client_secret
    assert settings["auth_mode"] == "client_credentials"
    assert settings["tenant_id"] == str(sandbox.tenant_id)
    assert settings["warehouse_module"] is False
    assert protocol.bad_settings()["client_secret"].get_secret_value() != sandbox.client_secret


async def test_bad_settings_are_refused_as_invalid_client(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    secret = sandbox.bad_settings()["client_secret"].get_secret_value()
    answer = await http.post("/oauth-v1/token", data={"grant_type": "client_credentials"},
                             headers=basic(sandbox, secret) | {"TenantId":
                                                               str(sandbox.tenant_id)})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_events_are_counted_where_fortnox_records_them(wms: FortnoxSandbox) -> None:
    delivery = wms.event(Flow.DELIVERIES)
    receipt = wms.event(Flow.RECEIPTS)
    adjustment = wms.event(Flow.ADJUSTMENTS)
    assert isinstance(delivery, Delivery) and isinstance(receipt, Receipt)
    assert isinstance(adjustment, InventoryAdjustment)
    for event, flow in ((delivery, Flow.DELIVERIES), (receipt, Flow.RECEIPTS),
                        (adjustment, Flow.ADJUSTMENTS)):
        assert wms.times_applied(flow, event) == 0
        rejected = wms.rejected_event(flow)
        assert wms.times_applied(flow, rejected) == 0
    assert wms.stock_level(adjustment.article_number) == 0
    assert wms.stock_level("NO-SUCH") is None


def test_seeded_records_carry_the_given_time(wms: FortnoxSandbox) -> None:
    at = datetime(2026, 2, 27, 23, 30, tzinfo=UTC)  # already 28 February in Stockholm
    [po] = wms.seed(Flow.PURCHASE_ORDERS, 1, at)
    assert wms.purchase_order(int(po))["orderDate"] == "2026-02-28"
    with pytest.raises(ValueError, match="warehouse module"):
        make(Clock()).seed(Flow.PURCHASE_ORDERS, 1, at)


# --- OAuth -------------------------------------------------------------------------------------


async def test_the_code_flow_redirects_with_a_single_use_code(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    consent = await http.get("/oauth-v1/auth", params={
        "client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri,
        "scope": "article order", "state": "xyz", "access_type": "offline",
        "response_type": "code"})
    assert consent.status_code == 302
    location = urlsplit(consent.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == sandbox.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": sandbox.redirect_uri}
    first = await token_call(http, sandbox, form)
    assert first.status_code == 200
    pair = first.json()
    assert pair["expires_in"] == 3600 and pair["token_type"] == "bearer"
    assert pair["scope"] == "article order" and pair["refresh_token"]
    again = await token_call(http, sandbox, form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # A code used twice revokes what it gave (RFC 6749 4.1.2).
    refused = await http.get("/3/articles", headers=bearer(pair["access_token"]))
    assert refused.status_code == 401


async def test_the_consent_page_never_redirects_to_an_unregistered_uri(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    answer = await http.get("/oauth-v1/auth", params={
        "client_id": sandbox.client_id, "redirect_uri": "https://evil.example/cb",
        "scope": "article", "state": "s", "response_type": "code"})
    assert answer.status_code == 400 and "location" not in answer.headers
    sandbox.auto_consent = False
    with pytest.raises(ValueError, match="access_denied"):
        sandbox.authorize_code(sandbox.client_id, sandbox.redirect_uri, ["article"], "s")


async def test_an_expired_access_token_is_401(sandbox: FortnoxSandbox,
                                              http: httpx.AsyncClient) -> None:
    tokens = sandbox.issue_tokens()
    assert datetime.fromisoformat(tokens["expires_at"]) == T0 + timedelta(hours=1)
    ok = await http.get("/3/articles", headers=bearer(tokens["access_token"]))
    assert ok.status_code == 200
    sandbox.advance(timedelta(hours=1))
    expired = await http.get("/3/articles", headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401
    assert expired.json() == {"ErrorInformation": {"error": 1, "message": "Ogiltig inloggning",
                                                   "code": 2000310}}
    missing = await http.get("/3/articles")
    assert missing.status_code == 401
    assert missing.json()["ErrorInformation"]["code"] == 2000311


async def test_a_refresh_token_is_single_use(sandbox: FortnoxSandbox,
                                             http: httpx.AsyncClient) -> None:
    tokens = sandbox.issue_tokens()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    rotated = await token_call(http, sandbox, form)
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert set(fresh) == {"access_token", "refresh_token", "scope", "expires_in", "token_type"}
    reused = await token_call(http, sandbox, form)
    assert reused.status_code == 400
    assert reused.headers["content-type"] == "application/json"
    assert reused.json() == {"error": "invalid_grant",
                             "error_description": "Invalid refresh token"}
    assert sandbox.refresh_tokens_alive() == 1
    onward = await token_call(http, sandbox, {"grant_type": "refresh_token",
                                              "refresh_token": fresh["refresh_token"]})
    assert onward.status_code == 200


async def test_a_refresh_token_dies_after_45_unused_days(sandbox: FortnoxSandbox,
                                                         http: httpx.AsyncClient) -> None:
    tokens = sandbox.issue_tokens()
    sandbox.advance(timedelta(days=45))
    answer = await token_call(http, sandbox, {"grant_type": "refresh_token",
                                              "refresh_token": tokens["refresh_token"]})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_revocation_kills_the_chain(sandbox: FortnoxSandbox,
                                          http: httpx.AsyncClient) -> None:
    tokens = sandbox.issue_tokens()
    revoked = await http.post("/oauth-v1/revoke", data={"token": tokens["refresh_token"]},
                              headers=basic(sandbox))
    assert revoked.status_code == 200
    assert (await http.get("/3/articles", headers=bearer(tokens["access_token"]))
            ).status_code == 401
    refresh = await token_call(http, sandbox, {"grant_type": "refresh_token",
                                               "refresh_token": tokens["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"
    # The user removing the integration ends every chain and the service consent.
    other = sandbox.issue_tokens()
    sandbox.revoke_integration()
    assert (await http.get("/3/articles", headers=bearer(other["access_token"]))
            ).status_code == 401
    answer = await token_call(http, sandbox, {"grant_type": "client_credentials"},
                              TenantId=str(sandbox.tenant_id))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_client_credentials_need_the_tenant_id(sandbox: FortnoxSandbox,
                                                     http: httpx.AsyncClient) -> None:
    missing = await token_call(http, sandbox, {"grant_type": "client_credentials"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = await token_call(http, sandbox, {"grant_type": "client_credentials"},
                             TenantId="999")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    answer = await token_call(http, sandbox, {"grant_type": "client_credentials"},
                              TenantId=str(sandbox.tenant_id))
    assert answer.status_code == 200
    assert "refresh_token" not in answer.json()
    claims = answer.json()["access_token"].split(".")[1]
    assert str(sandbox.tenant_id) in base64.urlsafe_b64decode(claims + "==").decode()


async def test_scopes_are_enforced(sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    sandbox.add_article("A-1", "Kaffe")
    tokens = sandbox.issue_tokens(scopes=["order"])
    refused = await http.get("/3/articles/A-1", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 403
    information = refused.json()["ErrorInformation"]
    assert information["Code"] == 2003275 and "Saknar behörighet" in information["Message"]
    assert (await http.get("/3/orders", headers=bearer(tokens["access_token"]))
            ).status_code == 200


# --- the API's rules ---------------------------------------------------------------------------


async def test_25_calls_in_5_seconds_then_429(sandbox: FortnoxSandbox, http: httpx.AsyncClient,
                                              clock: Clock) -> None:
    token = await service_token(http, sandbox)
    for _ in range(RATE_LIMIT):
        assert (await http.get("/3/articles", headers=bearer(token))).status_code == 200
    over = await http.get("/3/articles", headers=bearer(token))
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    # A new token for the same client and tenant shares the window.
    other = await service_token(http, sandbox)
    assert (await http.get("/3/articles", headers=bearer(other))).status_code == 429
    clock.now += 5.0
    assert (await http.get("/3/articles", headers=bearer(token))).status_code == 200
    assert sandbox.peak_rate() == RATE_LIMIT and sandbox.throttled() == 2


async def test_one_filter_per_request(sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    token = await service_token(http, sandbox)
    two = await http.get("/3/orders", params={"filter": "invoicenotcreated",
                                              "customernumber": "2001"},
                         headers=bearer(token))
    assert two.status_code == 400
    assert two.json()["ErrorInformation"]["code"] == 2000588
    with_global = await http.get("/3/orders", params={"filter": "invoicenotcreated",
                                                      "lastmodified": "2026-03-01 10:00"},
                                 headers=bearer(token))
    assert with_global.status_code == 200
    unknown = await http.get("/3/orders", params={"Filter": "cancelled"},
                             headers=bearer(token))
    assert unknown.status_code == 400


async def test_lastmodified_is_swedish_local_time_and_inclusive(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    early = sandbox.add_article("A-1", "Före", at=T0 - timedelta(minutes=1))
    exact = sandbox.add_article("A-2", "Precis", at=T0)
    token = await service_token(http, sandbox)

    async def numbers(since: str) -> list[str]:
        answer = await http.get("/3/articles", params={"lastmodified": since},
                                headers=bearer(token))
        assert answer.status_code == 200, answer.text
        return [a["ArticleNumber"] for a in answer.json()["Articles"]]

    assert await numbers("2026-03-02 10:00") == [exact]  # T0 is 10:00 in Stockholm
    assert await numbers("2026-03-02 09:59") == [early, exact]
    assert await numbers("2026-03-02 10:00:01") == []
    assert await numbers("2026-03-02") == [early, exact]
    iso = await http.get("/3/articles", params={"lastmodified": "2026-03-02T10:00:00Z"},
                         headers=bearer(token))
    assert iso.status_code == 400


async def test_lists_page_with_meta_information_and_string_numbers(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    for n in range(7):
        sandbox.add_article(f"A-{n}", f"Vara {n}", quantity=Decimal("2.5"))
    token = await service_token(http, sandbox)
    first = (await http.get("/3/articles", headers=bearer(token))).json()
    assert first["MetaInformation"] == {"@TotalResources": 7, "@TotalPages": 2,
                                        "@CurrentPage": 1}
    assert len(first["Articles"]) == sandbox.page_size
    assert first["Articles"][0]["QuantityInStock"] == "2.5"
    big = await http.get("/3/articles", params={"limit": "501"}, headers=bearer(token))
    assert big.status_code == 400
    one = (await http.get("/3/articles/A-0", headers=bearer(token))).json()
    assert one["Article"]["QuantityInStock"] == 2.5 and one["Article"]["Description"] == "Vara 0"


async def test_an_order_row_update_regenerates_row_ids_and_deletes_omitted_rows(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    for number in ("A-1", "A-2", "A-3"):
        sandbox.add_article(number, number)
    customer = sandbox.add_customer("Kund AB")
    order = sandbox.add_order(customer, [OrderRow("A-1", 2), OrderRow("A-2", 1),
                                         OrderRow("A-3", 4)])
    token = await service_token(http, sandbox)
    before = sandbox.order(order)["OrderRows"]
    body = {"Order": {"OrderRows": [
        {"RowId": before[0]["RowId"], "DeliveredQuantity": "2"},
        {"ArticleNumber": "A-3", "OrderedQuantity": 4, "DeliveredQuantity": 1}]}}
    answer = await put(http, token, f"/3/orders/{order}", body)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["Order"]["OrderRows"]
    assert [(r["ArticleNumber"], r["DeliveredQuantity"]) for r in rows] == [("A-1", "2"),
                                                                             ("A-3", "1")]
    assert not {r["RowId"] for r in rows} & {r["RowId"] for r in before}
    stale = await put(http, token, f"/3/orders/{order}",
                      {"Order": {"OrderRows": [{"RowId": before[0]["RowId"]}]}})
    assert stale.status_code == 400
    too_many = await put(http, token, f"/3/orders/{order}", {"Order": {"OrderRows": [
        {"ArticleNumber": "A-1", "OrderedQuantity": 1, "DeliveredQuantity": 2}]}})
    assert too_many.status_code == 400
    assert [r["RowId"] for r in sandbox.order(order)["OrderRows"]] == [r["RowId"]
                                                                       for r in rows]


async def test_createinvoice_makes_a_back_order_for_the_rest(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    sandbox.add_article("A-1", "Kaffe", sales_price=Decimal(10))
    sandbox.add_article("A-2", "Te", sales_price=Decimal(20))
    order = sandbox.add_order(sandbox.add_customer("Kund AB"),
                              [OrderRow("A-1", 5), OrderRow("A-2", 2)])
    token = await service_token(http, sandbox)
    nothing = await put(http, token, f"/3/orders/{order}/createinvoice")
    assert nothing.status_code == 400
    rows = sandbox.order(order)["OrderRows"]
    await put(http, token, f"/3/orders/{order}", {"Order": {"OrderRows": [
        {"RowId": rows[0]["RowId"], "DeliveredQuantity": 3},
        {"RowId": rows[1]["RowId"], "DeliveredQuantity": 2}]}})
    invoiced = await put(http, token, f"/3/orders/{order}/createinvoice")
    assert invoiced.status_code == 200, invoiced.text
    invoice = invoiced.json()["Invoice"]
    assert invoice["OrderReference"] == str(order)
    assert [(r["ArticleNumber"], r["DeliveredQuantity"]) for r in invoice["InvoiceRows"]] == [
        ("A-1", "3"), ("A-2", "2")]
    assert sandbox.order(order)["InvoiceReference"] == invoice["DocumentNumber"]
    [back] = sandbox.back_orders(order)
    assert [(r["ArticleNumber"], r["OrderedQuantity"])
            for r in sandbox.order(back)["OrderRows"]] == [("A-1", "2")]
    again = await put(http, token, f"/3/orders/{order}/createinvoice")
    assert again.status_code == 400
    locked = await put(http, token, f"/3/orders/{order}", {"Order": {"Remarks": "x"}})
    assert locked.status_code == 400
    assert sandbox.times_applied(Flow.DELIVERIES, sandbox.event(Flow.DELIVERIES)) == 0


# --- the warehouse module ------------------------------------------------------------------------


async def test_classic_stock_writes_only_without_the_module(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    sandbox.add_article("A-1", "Kaffe")
    token = await service_token(http, sandbox)
    written = await put(http, token, "/3/articles/A-1", {"Article": {"QuantityInStock": "7"}})
    assert written.status_code == 200
    assert sandbox.stock_level("A-1") == 7 and sandbox.stock_writes("A-1") == 1
    module = await http.get("/api/warehouse/status-v1/stockbalance", headers=bearer(token))
    assert module.status_code == 403
    assert module.json()["error"] == "warehouse_not_activated"
    tenant = await http.get("/api/warehouse/tenants-v4", headers=bearer(token))
    assert tenant.json() == {"activated": False, "tenantId": sandbox.tenant_id}
    sandbox.activate_warehouse_module()  # the item register's stock moves to the warehouse
    refused = await put(http, token, "/3/articles/A-1", {"Article": {"QuantityInStock": "9"}})
    assert refused.status_code == 400
    assert "Fortnox Lager" in refused.json()["ErrorInformation"]["message"]
    balance = await http.get("/api/warehouse/status-v1/stockbalance",
                             params={"itemIds": "A-1"}, headers=bearer(token))
    assert balance.json() == [{"availableStock": 7, "inStock": 7, "itemId": "A-1",
                               "stockPointCode": "LAGER"}]


async def test_warehouseready_needs_delivery_state_and_locks_the_rows(
        wms: FortnoxSandbox, whttp: httpx.AsyncClient) -> None:
    wms.add_article("A-1", "Kaffe", quantity=Decimal(10))
    wms.add_article("A-2", "Te")  # no stock: its delivered quantity becomes 0
    order = wms.add_order(wms.add_customer("Kund AB"), [OrderRow("A-1", 4), OrderRow("A-2", 1)])
    token = await service_token(whttp, wms)
    rows = wms.order(order)["OrderRows"]
    delivered = {"OrderRows": [{"RowId": rows[0]["RowId"], "DeliveredQuantity": 4},
                               {"RowId": rows[1]["RowId"], "DeliveredQuantity": 1}]}
    refused = await put(whttp, token, f"/3/orders/{order}", {"Order": delivered})
    assert refused.status_code == 400  # still in DeliveryState reservation
    assert (await put(whttp, token, f"/3/orders/{order}/warehouseready")).status_code == 400
    answer = await put(whttp, token, f"/3/orders/{order}",
                       {"Order": {"DeliveryState": "delivery"} | delivered})
    assert answer.status_code == 200, answer.text
    assert [r["DeliveredQuantity"] for r in answer.json()["Order"]["OrderRows"]] == ["4", "0"]
    ready = await put(whttp, token, f"/3/orders/{order}/warehouseready")
    assert ready.status_code == 200 and ready.json()["Order"]["WarehouseReady"] is True
    assert wms.stock_level("A-1") == 6
    rows = wms.order(order)["OrderRows"]
    locked = await put(whttp, token, f"/3/orders/{order}", {"Order": {"OrderRows": [
        {"RowId": rows[0]["RowId"], "DeliveredQuantity": 3}]}})
    assert locked.status_code == 400
    twice = await put(whttp, token, f"/3/orders/{order}/warehouseready")
    assert twice.status_code == 400
    assert (await put(whttp, token, f"/3/orders/{order}/createinvoice")).status_code == 200


async def test_custom_documents_are_saved_then_released_once(
        wms: FortnoxSandbox, whttp: httpx.AsyncClient) -> None:
    wms.add_article("A-1", "Kaffe", quantity=Decimal(2))
    token = await service_token(whttp, wms)
    base = "/api/warehouse/documentdeliveries/custom"
    doc = {"date": "2026-03-02", "note": "adjustment-1",
           "rows": [{"itemId": "A-1", "quantity": 5, "rowId": 1}]}
    saved = await put(whttp, token, f"{base}/inbound-v1/OngoingInboundInventory/1001", doc)
    assert saved.status_code == 200, saved.text
    assert saved.json()["type"] == "ONGOINGINBOUNDINVENTORY"
    assert wms.stock_level("A-1") == 2  # not before release
    release = f"{base}/inbound-v1/OngoingInboundInventory/1001/release"
    assert (await put(whttp, token, release)).status_code == 204
    assert wms.stock_level("A-1") == 7
    twice = await put(whttp, token, release)
    assert twice.status_code == 400 and twice.json()["error"] == "document_already_released"
    changed = await put(whttp, token, f"{base}/inbound-v1/OngoingInboundInventory/1001", doc)
    assert changed.json()["error"] == "cannot_modify_released_document"
    wrong_category = await put(whttp, token,
                               f"{base}/outbound-v1/OngoingInboundInventory/1002",
                               doc | {"deliveryState": "delivery"})
    assert wrong_category.status_code == 400
    letters = await put(whttp, token, f"{base}/inbound-v1/OngoingInboundInventory/ev-1", doc)
    assert letters.json()["error"] == "invalid_id"
    forbidden = await put(whttp, token, f"{base}/inbound-v1/Manual_Inbound/1003", doc)
    assert forbidden.json()["error"] == "referenceTypeNotAllowed"
    out = {"date": "2026-03-02", "deliveryState": "delivery",
           "rows": [{"itemId": "A-1", "quantity": 3, "rowId": 1}]}
    path = f"{base}/outbound-v1/OngoingOutboundInventory/2001"
    assert (await put(whttp, token, path, out)).status_code == 200
    assert (await put(whttp, token, path + "/release")).status_code == 204
    assert wms.stock_level("A-1") == 4
    adjustment = InventoryAdjustment(event_id="x", occurred_at=T0, article_number="A-1",
                                     quantity=Decimal(5))
    assert wms.times_applied(Flow.ADJUSTMENTS, adjustment) == 2


async def test_incoming_goods_are_created_released_and_completed(
        wms: FortnoxSandbox, whttp: httpx.AsyncClient) -> None:
    wms.add_article("A-1", "Kaffe")
    supplier = wms.add_supplier("Grossisten AB")
    po = wms.add_purchase_order(supplier, [("A-1", Decimal(10))])
    token = await service_token(whttp, wms)
    listed = await whttp.get("/api/warehouse/purchaseorders-v1",
                             params={"state": "SENT", "purchaseType": "WAREHOUSE"},
                             headers=bearer(token))
    [sent] = listed.json()
    row = sent["rows"][0]
    assert sent["id"] == po and row["rowNum"] == 1

    def goods(quantity: int, note: str) -> dict[str, Any]:
        return {"deliveryNoteId": note, "supplierNumber": supplier, "rows": [{
            "itemId": "A-1", "receivedQuantity": quantity, "orderedQuantity": 10,
            "backOrderQuantity": 0, "invoicedQuantity": 0, "takenQuantity": 0,
            "purchaseOrderId": po, "purchaseOrderRowId": row["id"]}]}

    created = await whttp.post("/api/warehouse/incominggoods-v1", json=goods(4, "receipt-1"),
                               headers=bearer(token))
    assert created.status_code == 201, created.text
    number = created.json()["id"]
    assert created.headers["location"].endswith(f"/api/warehouse/incominggoods-v1/{number}")
    over = await whttp.post("/api/warehouse/incominggoods-v1", json=goods(7, "receipt-2"),
                            headers=bearer(token))
    assert over.json()["error"] == "received_quantity_exceeds_remaining"
    early = await put(whttp, token, f"/api/warehouse/incominggoods-v1/{number}/completed",
                      "2026-03-02")
    assert early.json()["error"] == "document_not_released"
    release = f"/api/warehouse/incominggoods-v1/{number}/release"
    assert (await put(whttp, token, release)).status_code == 204
    assert (await put(whttp, token, release)).status_code == 400
    assert wms.stock_level("A-1") == 4
    future = await put(whttp, token, f"/api/warehouse/incominggoods-v1/{number}/completed",
                       "2026-03-03")
    assert future.json()["error"] == "invalid_date"
    done = await put(whttp, token, f"/api/warehouse/incominggoods-v1/{number}/completed",
                     "2026-03-02")
    assert done.status_code == 204
    found = await whttp.get("/api/warehouse/incominggoods-v1",
                            params={"deliveryNote": "receipt-1"}, headers=bearer(token))
    assert [g["id"] for g in found.json()] == [number]
    assert wms.purchase_order(po)["rows"][0]["remainingOrderedQuantity"] == 6
    assert wms.purchase_order(po)["purchaseOrderState"] == "SENT"
    rest = await whttp.post("/api/warehouse/incominggoods-v1", json=goods(6, "receipt-3"),
                            headers=bearer(token))
    assert (await put(whttp, token, f"/api/warehouse/incominggoods-v1/{rest.json()['id']}"
                                    "/release")).status_code == 204
    assert wms.purchase_order(po)["purchaseOrderState"] == "RECEIVED"
    assert wms.stock_level("A-1") == 10
    receipt = Receipt(event_id="r", occurred_at=T0, purchase_order_number=str(po),
                      complete=True, rows=(ReceiptRow(row_key="1", article_number="A-1",
                                                      received_quantity=Decimal(6),
                                                      total_received_quantity=Decimal(10)),))
    assert wms.times_applied(Flow.RECEIPTS, receipt) == 2  # two incoming goods documents
    # The warehouse marked it complete: completing a received purchase order is accepted once.
    complete = f"/api/warehouse/purchaseorders-v1/{po}/complete"
    assert (await put(whttp, token, complete)).status_code == 204
    assert (await put(whttp, token, complete)).status_code == 400


async def test_a_purchase_order_is_completed_once(wms: FortnoxSandbox,
                                                  whttp: httpx.AsyncClient) -> None:
    wms.add_article("A-1", "Kaffe")
    po = wms.add_purchase_order(wms.add_supplier("Grossisten AB"), [("A-1", Decimal(10))])
    token = await service_token(whttp, wms)
    complete = f"/api/warehouse/purchaseorders-v1/{po}/complete"
    assert (await put(whttp, token, complete)).status_code == 204
    state = wms.purchase_order(po)
    assert state["purchaseOrderState"] == "RECEIVED" and state["manuallyCompleted"] is True
    again = await put(whttp, token, complete)
    assert again.status_code == 400 and again.json()["error"] == "already_completed"
    listed = await whttp.get("/api/warehouse/purchaseorders-v1", params={"state": "SENT"},
                             headers=bearer(token))
    assert listed.json() == []


async def test_injected_faults_come_first_and_are_logged(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    sandbox.fail_next(1, 503, path="/3/articles")
    token = await service_token(http, sandbox)
    assert (await http.get("/3/articles", headers=bearer(token))).status_code == 503
    assert (await http.get("/3/articles", headers=bearer(token))).status_code == 200
    assert sandbox.request_count("/3/articles", status=503) == 1
    assert all(token not in r.query and token not in r.path for r in sandbox.requests)


async def test_an_injected_fault_carries_its_headers(
        sandbox: FortnoxSandbox, http: httpx.AsyncClient) -> None:
    """What the fault-injection suite plays: the gateway's 429 with ``Retry-After``
    (https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api)."""
    sandbox.fail_next(1, 429, {"message": "API rate limit exceeded"}, path="/3/orders",
                      headers={"Retry-After": "2"})
    token = await service_token(http, sandbox)
    throttled = await http.get("/3/orders", headers=bearer(token))
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "2")
    assert throttled.json() == {"message": "API rate limit exceeded"}
    again = await http.get("/3/orders", headers=bearer(token))
    assert again.status_code == 200 and "retry-after" not in again.headers
    assert sandbox.throttled() == 0, "an injected 429 is not the rate limit's"


def test_the_demo_company(wms: FortnoxSandbox) -> None:
    demo = wms.populate_demo(12)
    assert len(demo.articles) == 12 and len(demo.orders) >= 3
    assert len(demo.purchase_orders) == 2
    number, lines = next(iter(demo.orders.items()))
    rows = wms.order(int(number))["OrderRows"]
    assert {str(n) for n in range(1, len(rows) + 1)} == set(lines)
    assert make(Clock()).populate_demo(5).purchase_orders == {}  # no module, no purchases

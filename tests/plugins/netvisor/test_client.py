"""The Netvisor client: MAC and headers, the envelope, numbers, dates and encodings; and the
plugin's hooks over small inline responders (httpx.MockTransport, a tiny starlette app), not
the simulator.

No worked MAC example is published in the pages available to us (the vendor's Python example
at https://support.netvisor.fi/en/support/solutions/articles/77000557880-api-authentication is
not in them), so the MAC is checked against the documented algorithm computed by hand: the
nine values in the documented order, joined with ``&``, SHA-256 in hex.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from erpsync_netvisor import client as nv
from erpsync_netvisor import plugin
from erpsync_netvisor.plugin import NetvisorSettings
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from erpsync import http
from erpsync.errors import (
    AuthenticationLost,
    ConfigError,
    RecordRejected,
    ResponseInvalid,
    TransientError,
    VendorError,
)
from erpsync.hookspecs import CredentialStore
from erpsync.models import (
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    Flow,
    InventoryAdjustment,
    Receipt,
    ReceiptRow,
)

T = TypeVar("T")

CREDENTIALS = nv.Credentials(sender="erpsync", customer_id="TESTUSER", partner_id="PARTNER",
                             organisation_id="1234567-8", language="FI",
                             customer_key="USERKEY", partner_key="PARTNERKEY")
BASE = "https://isvapitest.netvisor.fi"
OK = "<Root><ResponseStatus><Status>OK</Status><TimeStamp>05.03.2024 10:00:00</TimeStamp>" \
     "</ResponseStatus>{}</Root>"


def ok(body: str = "") -> str:
    return OK.format(body)


def failed(text: str) -> str:
    return ("<Root><ResponseStatus><Status>FAILED</Status><Status>" + text + "</Status>"
            "<TimeStamp>05.03.2024 10:00:00</TimeStamp></ResponseStatus></Root>")


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_retry_sleep", _no_sleep)


Handler = Callable[[httpx.Request], httpx.Response]


def client_with(
    handler: Handler | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    **options: Any,
) -> nv.NetvisorClient:
    return nv.NetvisorClient(
        BASE, nv.NetvisorAuth(CREDENTIALS), zone=ZoneInfo("Europe/Helsinki"),
        rate_limit=http.RateLimit(requests=1000, per=1.0, concurrency=1),
        transport=httpx.MockTransport(handler), **options)


def xml_response(body: str, status: int = 200, charset: str = "utf-8") -> httpx.Response:
    return httpx.Response(status, content=body.encode(charset),
                          headers={"Content-Type": f"text/xml; charset={charset}"})


# --- the MAC and the headers -------------------------------------------------------------------


def test_mac_is_sha256_of_the_documented_fields_in_order() -> None:
    by_hand = ("https://isvapitest.netvisor.fi/productlist.nv?published=1&erpsync&TESTUSER&"
               "2024-03-05 08:15:02.123&FI&1234567-8&5f0a2c&USERKEY&PARTNERKEY")
    expected = hashlib.sha256(by_hand.encode("utf-8")).hexdigest()
    assert expected == "d76ef165e152bf8c803832951fc5094e505f2c800882fa05cec35db189ff83b9"
    assert nv.mac("https://isvapitest.netvisor.fi/productlist.nv?published=1", "erpsync",
                  "TESTUSER", "2024-03-05 08:15:02.123", "FI", "1234567-8", "5f0a2c",
                  "USERKEY", "PARTNERKEY") == expected


def test_the_timestamp_is_utc_ansi_with_milliseconds() -> None:
    helsinki = datetime(2024, 3, 5, 10, 15, 2, 123456, tzinfo=ZoneInfo("Europe/Helsinki"))
    assert nv.timestamp(helsinki) == "2024-03-05 08:15:02.123"


async def test_every_attempt_has_its_own_transaction_id_timestamp_and_mac() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return xml_response(ok("<ProductList/>"))

    client = client_with(handler)
    since = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
    await client.product_list(since)
    await client.aclose()
    assert len(seen) == 2
    first, second = seen
    assert (first.headers["X-Netvisor-Authentication-TransactionId"]
            != second.headers["X-Netvisor-Authentication-TransactionId"])
    for request in seen:
        headers = request.headers
        assert headers["X-Netvisor-Authentication-Sender"] == "erpsync"
        assert headers["X-Netvisor-Authentication-CustomerId"] == "TESTUSER"
        assert headers["X-Netvisor-Authentication-PartnerId"] == "PARTNER"
        assert headers["X-Netvisor-Interface-Language"] == "FI"
        assert headers["X-Netvisor-Organisation-ID"] == "1234567-8"
        assert headers["X-Netvisor-Authentication-MACHashCalculationAlgorithm"] == "SHA256"
        url = str(request.url)
        # the query is sent as the MAC saw it: ':' and ',' unescaped, in Helsinki time
        assert url == ("https://isvapitest.netvisor.fi/productlist.nv?published=1&unpublished=0"
                       "&deleted=0&changedsince=2024-03-05T09:59:59")
        assert headers["X-Netvisor-Authentication-MAC"] == nv.mac(
            url, "erpsync", "TESTUSER", headers["X-Netvisor-Authentication-Timestamp"], "FI",
            "1234567-8", headers["X-Netvisor-Authentication-TransactionId"], "USERKEY",
            "PARTNERKEY")
        assert "USERKEY" not in str(headers) and "PARTNERKEY" not in str(headers)


async def test_calls_are_made_one_at_a_time() -> None:
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return xml_response(ok("<ProductList/>"))

    client = client_with(handler)
    await asyncio.gather(*(client.product_list(None) for _ in range(5)))
    await client.aclose()
    assert most == 1


async def test_goods_owners_on_one_company_call_it_one_at_a_time() -> None:
    in_flight = 0
    most = 0

    async def answer(request: Request) -> Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return Response(ok("<ProductList/>"), media_type="text/xml")

    app = Starlette(routes=[Route("/productlist.nv", answer)])
    settings = NetvisorSettings(**settings_dict())
    contexts = [StubContext(), StubContext()]
    with http.mount(BASE, app):
        await asyncio.gather(*(plugin.check_connection(context, settings)
                               for context in contexts for _ in range(3)))
    for context in contexts:
        await context.aclose()
    assert most == 1
    assert settings.timeout_seconds == 120


# --- the envelope ------------------------------------------------------------------------------


async def call(body: str, status: int = 200, *, write: bool = False) -> Any:
    client = client_with(lambda request: xml_response(body, status))
    try:
        if write:
            return await client.post("warehouseevent.nv", {}, etree.Element("root"),
                                     action="record the stock transaction", key="KAHVI-1")
        return await client.get("productlist.nv", action="read the product list")
    finally:
        await client.aclose()


async def test_an_ok_answer_returns_its_root() -> None:
    root = await call(ok("<Replies><InsertedDataIdentifier>1802</InsertedDataIdentifier>"
                         "</Replies>"), write=True)
    assert root.findtext("Replies/InsertedDataIdentifier") == "1802"


async def test_authentication_failure_says_the_identifiers_may_belong_to_a_user_who_left(
) -> None:
    with pytest.raises(AuthenticationLost) as caught:
        await call(failed("AUTHENTICATION_FAILED :: Integration keys are not valid. Please "
                          "check the keys specific to the user and partner."))
    error = caught.value
    assert "left the company" in error.message
    assert "Integration keys are not valid" in error.message
    assert error.action is not None
    assert "Create new API identifier" in error.action
    assert "customer_id and private_key" in error.action


async def test_service_access_error_names_the_blocked_resource_and_where_to_allow_it() -> None:
    with pytest.raises(AuthenticationLost) as caught:
        await call(failed("SERVICE_ACCESS_ERROR :: Service error. The company has blocked "
                          "access to the api resource: getproduct.nv"))
    error = caught.value
    assert "getproduct.nv" in error.message
    assert error.action is not None
    assert "getproduct.nv" in error.action
    assert "Rights of interface resources" in error.action


async def test_a_refused_record_is_rejected_with_the_vendors_text_and_key() -> None:
    with pytest.raises(RecordRejected) as caught:
        await call(failed("INVALID_DATA :: Tuotetta ei löydy: KAHVI-1"), write=True)
    assert caught.value.key == "KAHVI-1"
    assert caught.value.vendor_message == "INVALID_DATA :: Tuotetta ei löydy: KAHVI-1"


async def test_invalid_data_on_a_read_is_the_plugins_fault_not_a_record() -> None:
    with pytest.raises(VendorError) as caught:
        await call(failed("INVALID_DATA :: unknown parameter"))
    assert not isinstance(caught.value, RecordRejected | AuthenticationLost | TransientError)


@pytest.mark.parametrize("code", ["REQUEST_NOT_UNIQUE", "SYSTEM_MAINTANANCE", "TECHNICAL_ERROR"])
async def test_passing_failures_are_transient(code: str) -> None:
    with pytest.raises(TransientError):
        await call(failed(f"{code} :: try later"))


async def test_http_500_is_transient_and_a_write_may_have_been_done() -> None:
    with pytest.raises(TransientError) as caught:
        await call("oops", 500, write=True)
    assert caught.value.maybe_sent


async def test_an_unavailable_vendor_is_transient() -> None:
    with pytest.raises(TransientError):
        await call("unavailable", 503)


async def test_an_answer_without_an_envelope_is_invalid() -> None:
    with pytest.raises(ResponseInvalid):
        await call("<Root><ProductList/></Root>")


async def test_a_body_that_is_no_xml_is_invalid() -> None:
    with pytest.raises(ResponseInvalid):
        await call("<html>maintenance")


async def test_http_401_without_an_envelope_is_an_authentication_failure() -> None:
    with pytest.raises(AuthenticationLost):
        await call("Unauthorized", 401)


# --- encodings, numbers, dates -----------------------------------------------------------------


def test_requests_are_iso_8859_15_without_a_declaration() -> None:
    root = etree.Element("root")
    etree.SubElement(root, "name").text = "Pähkinä Öljy Åke €"
    body = nv.encode(root)
    assert body == b"<root><name>P\xe4hkin\xe4 \xd6ljy \xc5ke \xa4</name></root>"


async def test_a_post_sends_iso_8859_15() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return xml_response(ok())

    root = etree.Element("root")
    etree.SubElement(root, "description").text = "Hävikki ä/ö/å"
    client = client_with(handler)
    await client.post("warehouseevent.nv", {}, root, action="x", key="k")
    await client.aclose()
    (request,) = sent
    assert request.headers["Content-Type"] == "text/xml; charset=ISO-8859-15"
    assert request.content == "<root><description>Hävikki ä/ö/å</description></root>".encode(
        "iso-8859-15")


@pytest.mark.parametrize("charset", ["iso-8859-15", "utf-8"])
async def test_answers_are_read_in_their_encoding(charset: str) -> None:
    body = ok("<ProductList><Product><NetvisorKey>1</NetvisorKey>"
              "<ProductGroupDescription>Pähkinät ja öljyt Åland</ProductGroupDescription>"
              "</Product></ProductList>")
    client = client_with(lambda request: xml_response(body, charset=charset))
    (product,) = await client.product_list(None)
    await client.aclose()
    assert product.group_name == "Pähkinät ja öljyt Åland"


async def test_an_answer_in_iso_8859_15_without_a_charset_is_read() -> None:
    body = ok("<ProductList><Product><NetvisorKey>1</NetvisorKey>"
              "<ProductGroupDescription>Säilykkeet</ProductGroupDescription>"
              "</Product></ProductList>").encode("iso-8859-15")
    client = client_with(lambda request: httpx.Response(200, content=body))
    (product,) = await client.product_list(None)
    await client.aclose()
    assert product.group_name == "Säilykkeet"


async def test_a_product_list_larger_than_the_usual_body_cap_is_read() -> None:
    count = 80_000  # about 21 MB: over the HttpClient's usual 20 MB cap
    products = "".join(f"<Product><NetvisorKey>{n}</NetvisorKey><ProductCode>P-{n:06d}"
                       f"</ProductCode><Name>Tuote {n} äöå ja vähän pidempi nimi</Name>"
                       f"<ProductGroupID>7</ProductGroupID><ProductGroupDescription>Kahvit"
                       f"</ProductGroupDescription><UnitPrice>12,50</UnitPrice></Product>"
                       for n in range(count))
    body = ok(f"<ProductList>{products}</ProductList>")
    assert len(body.encode()) > 20_000_000
    client = client_with(lambda request: xml_response(body))
    listed = await client.product_list(None)
    await client.aclose()
    assert [p.key for p in listed] == [str(n) for n in range(count)]
    assert {p.group_name for p in listed} == {"Kahvit"}


async def test_a_failed_product_list_is_raised_as_its_error() -> None:
    client = client_with(lambda request: xml_response(failed(
        "SERVICE_ACCESS_ERROR :: Service error. The company has blocked access to the api "
        "resource: productlist.nv")))
    with pytest.raises(AuthenticationLost, match=r"productlist\.nv"):
        await client.product_list(None)
    await client.aclose()


def test_change_time_filters_are_netvisor_local_time_one_second_early() -> None:
    since = datetime(2024, 7, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert nv.netvisor_time(since, ZoneInfo("Europe/Helsinki")) == "2024-07-01T14:59:59"
    assert nv.netvisor_time(since, ZoneInfo("UTC")) == "2024-07-01T11:59:59"


# --- settings ----------------------------------------------------------------------------------


def settings_dict(**changes: Any) -> dict[str, Any]:
    return {"base_url": BASE, "customer_id": "TESTUSER", "private_key": SecretStr("USERKEY"),
            "partner_id": "PARTNER", "partner_key": SecretStr("PARTNERKEY"),
            "organisation_id": "2468013-5", "inventory_event_type": "Inventointi"} | changes


def test_settings_defaults() -> None:
    settings = NetvisorSettings(**settings_dict(base_url="https://isvapi.netvisor.fi/"))
    assert settings.base_url == "https://isvapi.netvisor.fi"
    assert (settings.sender, settings.language, settings.timezone) == ("erpsync", "FI",
                                                                        "Europe/Helsinki")
    assert (settings.product_batch_size, settings.order_batch_size,
            settings.purchase_order_batch_size) == (400, 500, 500)
    assert "USERKEY" not in repr(settings)


@pytest.mark.parametrize(("field", "value"), [
    ("base_url", "http://isvapi.netvisor.fi"), ("organisation_id", "ACME"),
    ("language", "SV"), ("product_batch_size", 401), ("timezone", "Mars/Olympus"),
    ("private_key", "inline-secret"), ("customer_id", "with space"), ("extra", 1),
])
def test_settings_refuse_what_cannot_work(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        NetvisorSettings(**settings_dict(**{field: value}))


# --- the hooks over an inline responder --------------------------------------------------------


class StubContext:
    """The smallest :class:`erpsync.hookspecs.Context`: resources cached in a dict."""

    def __init__(self) -> None:
        self._resources: dict[str, Any] = {}

    @property
    def goods_owner(self) -> str:
        return "acme"

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("test.netvisor")

    def credentials(self, name: str) -> CredentialStore:
        raise NotImplementedError

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        if name not in self._resources:
            self._resources[name] = await factory()
        resource: T = self._resources[name]
        return resource

    async def aclose(self) -> None:
        for resource in self._resources.values():
            await resource.aclose()


class Responder:
    """A tiny Netvisor: one answer function per resource, every request recorded."""

    def __init__(self, routes: dict[str, Callable[[Request, bytes], str]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/{resource}", self._answer, methods=["GET",
                                                                                   "POST"])])

    async def _answer(self, request: Request) -> Response:
        resource = request.path_params["resource"]
        body = await request.body()
        self.requests.append((resource, dict(request.query_params), body))
        answer = self.routes[resource](request, body)
        return Response(answer.encode("iso-8859-15"), media_type="text/xml",
                        headers={"Content-Type": "text/xml; charset=iso-8859-15"})

    def calls(self, resource: str) -> list[tuple[dict[str, str], bytes]]:
        return [(query, body) for name, query, body in self.requests if name == resource]


@pytest.fixture
async def ctx() -> AsyncIterator[StubContext]:
    context = StubContext()
    yield context
    await context.aclose()


@pytest.fixture
def settings() -> NetvisorSettings:
    return NetvisorSettings(**settings_dict())


NOW = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)

PRODUCTS = {
    "1": "<NetvisorKey>1</NetvisorKey><ProductCode>KAHVI-1</ProductCode><Name>Kahvi</Name>",
    "2": "<NetvisorKey>2</NetvisorKey><ProductCode>SETTI</ProductCode><Name>Setti</Name>",
    "9": "<NetvisorKey>9</NetvisorKey><ProductCode>OSA-9</ProductCode><Name>Osa</Name>",
}


def product_answer(request: Request, body: bytes) -> str:
    keys = request.query_params["idlist"].split(",")
    products = []
    for key in keys:
        children = ("<SubProductInformation><Children><Product><NetvisorKey>9</NetvisorKey>"
                    "<Amount>2</Amount></Product></Children></SubProductInformation>"
                    if key == "2" else "")
        products.append(f"<Product><ProductBaseInformation>{PRODUCTS[key]}"
                        f"</ProductBaseInformation>{children}</Product>")
    return ok("<Products>" + "".join(products) + "</Products>")


async def collect(records: AsyncIterator[T]) -> list[T]:
    return [record async for record in records]


async def test_articles_are_read_in_id_batches_with_their_sub_products(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    responder = Responder({
        "productlist.nv": lambda request, body: ok(
            "<ProductList>" + "".join(
                f"<Product><NetvisorKey>{key}</NetvisorKey><ProductGroupID>7</ProductGroupID>"
                "<ProductGroupDescription>Kahvit</ProductGroupDescription></Product>"
                for key in ("1", "2", "1")) + "</ProductList>"),
        "getproduct.nv": product_answer,
    })
    with http.mount(BASE, responder.app):
        articles = await collect(plugin.fetch_articles(
            ctx, settings.model_copy(update={"product_batch_size": 1}), NOW))
    assert [a.article_number for a in articles] == ["KAHVI-1", "SETTI"]
    assert articles[1].structure[0].article_number == "OSA-9"
    (listing, _), = responder.calls("productlist.nv")
    assert listing == {"published": "1", "unpublished": "0", "deleted": "0",
                       "changedsince": "2024-03-05T11:59:59"}
    details = [query for query, _ in responder.calls("getproduct.nv")]
    assert [(q["idlist"], q["replyoption"]) for q in details] == [
        ("1", "3"), ("2", "3"), ("9", "1")]


ORDER_STATE = ("<InventoryReport><SalesEntities><SalesEntity Type=\"salesorder\">"
               "<NetvisorKey>3001</NetvisorKey><OrderNumber>1045</OrderNumber>"
               "<Customer><NetvisorKey>55</NetvisorKey></Customer><SalesEntityProductLines>"
               "<SalesEntityProductLine><NetvisorKey>9001</NetvisorKey>"
               "<DeliveredAmount>{delivered}</DeliveredAmount></SalesEntityProductLine>"
               "</SalesEntityProductLines></SalesEntity></SalesEntities></InventoryReport>")


def delivery(event_id: str, now: str, total: str) -> Delivery:
    return Delivery(event_id=event_id, occurred_at=NOW, order_number="1045", erp_key="3001",
                    status=DeliveryStatus.SENT, complete=now == total, lines=(DeliveryLine(
                        external_line_key="9001", article_number="KAHVI-1",
                        delivered_quantity=Decimal(now), total_delivered_quantity=Decimal(total)),))


async def test_a_delivery_tops_netvisor_up_to_the_total_and_never_twice(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    delivered = {"amount": Decimal(0)}

    def deliver(request: Request, body: bytes) -> str:
        amount = etree.fromstring(body).findtext(".//deliveryamount")
        delivered["amount"] += Decimal(amount.replace(",", "."))
        return ok()

    responder = Responder({
        "warehousereport.nv": lambda request, body: ok(ORDER_STATE.format(
            delivered=str(delivered["amount"]).replace(".", ","))),
        "salesorderinvoicing.nv": deliver,
    })
    first = delivery("d1", "1.5", "1.5")
    rest = delivery("d2", "2", "3.5")
    with http.mount(BASE, responder.app):
        assert await plugin.lookup_report(ctx, settings, Flow.DELIVERIES, first) is None
        assert await plugin.report_delivery(ctx, settings, first) == "salesorder:3001"
        assert await plugin.lookup_report(ctx, settings, Flow.DELIVERIES, first) == (
            "salesorder:3001")
        assert await plugin.lookup_report(ctx, settings, Flow.DELIVERIES, rest) is None
        await plugin.report_delivery(ctx, settings, rest)
        await plugin.report_delivery(ctx, settings, rest)  # again: nothing is added
    assert delivered["amount"] == Decimal("3.5")
    posts = responder.calls("salesorderinvoicing.nv")
    assert [query for query, _ in posts] == [{"method": "deliveryonly"}] * 2
    assert b"<netvisorkey>55</netvisorkey>" in posts[0][1]
    state_query = responder.calls("warehousereport.nv")[0][0]
    assert state_query == {"report": "salesinventoryevents", "salesentitytype": "salesorder",
                           "salesentitystatuses": "undelivered,delivered",
                           "salesentitiesnetvisorkeys": "3001"}


async def test_a_delivery_of_an_order_netvisor_does_not_have_is_refused(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    responder = Responder({"warehousereport.nv": lambda request, body: ok(
        "<InventoryReport><SalesEntities/></InventoryReport>")})
    with http.mount(BASE, responder.app), pytest.raises(RecordRejected) as caught:
        await plugin.report_delivery(ctx, settings, delivery("d1", "1", "1"))
    assert caught.value.key == "1045"


PO = ("<PurchaseOrder><NetvisorKey>77</NetvisorKey><OrderNumber>11228</OrderNumber>"
      "<OrderStatus>senttovendor</OrderStatus><PurchaseOrderLines>"
      "<PurchaseOrderProductLine><NetvisorKey>501</NetvisorKey>"
      "<PurchaseOrderProductDeliveryGroupID>43</PurchaseOrderProductDeliveryGroupID>"
      "<ProductCode>KAHVI-1</ProductCode><OrderedAmount>10</OrderedAmount>"
      "<DeliveredAmount>{delivered}</DeliveredAmount></PurchaseOrderProductLine>"
      "{comments}</PurchaseOrderLines></PurchaseOrder>")


async def test_a_receipt_is_written_once_and_found_by_its_comment_line(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    state = {"delivered": "0", "comments": ""}

    def edit(request: Request, body: bytes) -> str:
        document = etree.fromstring(body)
        state["delivered"] = document.findtext(".//deliveredamount")
        comment = document.findtext(".//purchaseordercommentline/comment")
        state["comments"] += (f"<PurchaseOrderCommentLine><NetvisorKey>1</NetvisorKey>"
                              f"<Comment>{comment}</Comment></PurchaseOrderCommentLine>")
        return ok()

    responder = Responder({
        "purchaseorderlist.nv": lambda request, body: ok(
            "<PurchaseOrderList><PurchaseOrder><NetvisorKey>77</NetvisorKey>"
            "<OrderNumber>11228</OrderNumber></PurchaseOrder></PurchaseOrderList>"),
        "getpurchaseorder.nv": lambda request, body: ok(PO.format(**state)),
        "purchaseorder.nv": edit,
    })
    receipt = Receipt(event_id="r1", occurred_at=NOW, purchase_order_number="11228",
                      complete=True, rows=(ReceiptRow(
                          row_key="501", article_number="KAHVI-1",
                          received_quantity=Decimal(8), total_received_quantity=Decimal(8)),))
    with http.mount(BASE, responder.app):
        assert await plugin.lookup_report(ctx, settings, Flow.RECEIPTS, receipt) is None
        assert await plugin.report_receipt(ctx, settings, receipt) == "purchaseorder:77"
        assert await plugin.lookup_report(ctx, settings, Flow.RECEIPTS, receipt) == (
            "purchaseorder:77")
        await plugin.report_receipt(ctx, settings, receipt)
    (query, body), = responder.calls("purchaseorder.nv")
    assert query == {"method": "edit", "id": "77"}
    assert b"<deliverymanuallyconfirmed>true</deliverymanuallyconfirmed>" in body


async def test_an_adjustment_is_one_warehouse_event_found_by_its_reference(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    events: list[str] = []

    def add(request: Request, body: bytes) -> str:
        events.append(etree.fromstring(body).findtext("warehouseevent/reference"))
        return ok(f"<Replies><InsertedDataIdentifier>{len(events)}</InsertedDataIdentifier>"
                  "</Replies>")

    def find(request: Request, body: bytes) -> str:
        wanted = request.query_params["reference"]
        found = "".join(f"<WarehouseEvent><NetvisorKey>{n}</NetvisorKey>"
                        f"<Reference>{ref}</Reference></WarehouseEvent>"
                        for n, ref in enumerate(events, start=1) if ref == wanted)
        return ok(f"<WarehouseEvents>{found}</WarehouseEvents>")

    responder = Responder({"warehouseevent.nv": add, "warehousereport.nv": find})
    adjustment = InventoryAdjustment(event_id="adj-7", occurred_at=NOW,
                                     article_number="KAHVI-1", quantity=Decimal(-2))
    with http.mount(BASE, responder.app):
        assert await plugin.lookup_report(ctx, settings, Flow.ADJUSTMENTS, adjustment) is None
        assert await plugin.push_inventory_adjustment(ctx, settings, adjustment) == (
            "warehouseevent:1")
        assert await plugin.lookup_report(ctx, settings, Flow.ADJUSTMENTS, adjustment) == (
            "warehouseevent:1")
    assert events == ["adj-7"]
    (_, body), = responder.calls("warehouseevent.nv")
    assert b"<quantity>-2</quantity>" in body
    assert b'<eventtype type="customer">Inventointi</eventtype>' in body


async def test_an_adjustment_needs_an_inventory_event_type(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    adjustment = InventoryAdjustment(event_id="adj-7", occurred_at=NOW,
                                     article_number="KAHVI-1", quantity=Decimal(1))
    with pytest.raises(ConfigError, match="inventory_event_type"):
        await plugin.push_inventory_adjustment(
            ctx, settings.model_copy(update={"inventory_event_type": None}), adjustment)


async def test_a_blocked_resource_stops_the_flow_naming_it(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    responder = Responder({
        "salesinvoicelist.nv": lambda request, body: ok(
            "<SalesInvoiceList><SalesInvoice><NetvisorKey>3001</NetvisorKey></SalesInvoice>"
            "</SalesInvoiceList>") if "invoicesabovenetvisorkey" not in request.query_params
        else ok("<SalesInvoiceList/>"),
        "getorder.nv": lambda request, body: ok(
            "<SalesInvoice><SalesInvoiceNetvisorKey>3001</SalesInvoiceNetvisorKey>"
            "<SalesInvoiceNumber>1045</SalesInvoiceNumber>"
            "<InvoicingCustomerNetvisorKey>55</InvoicingCustomerNetvisorKey>"
            "<InvoicingCustomerName>Kuppi Oy</InvoicingCustomerName></SalesInvoice>"),
        "getcustomer.nv": lambda request, body: failed(
            "SERVICE_ACCESS_ERROR :: Service error. The company has blocked access to the api "
            "resource: getcustomer.nv"),
    })
    with http.mount(BASE, responder.app), pytest.raises(AuthenticationLost) as caught:
        await collect(plugin.fetch_orders(ctx, settings, NOW - timedelta(days=1)))
    assert "getcustomer.nv" in caught.value.message
    listing = responder.calls("salesinvoicelist.nv")[0][0]
    assert listing["listtype"] == "preinvoice"
    assert listing["invoicestatus"] == "undelivered"


async def test_a_warehouse_event_lookup_netvisor_refuses_is_never_taken_for_absent(
        ctx: StubContext, settings: NetvisorSettings) -> None:
    responder = Responder({"warehousereport.nv": lambda request, body: failed(
        "INVALID_DATA :: Unknown report")})
    adjustment = InventoryAdjustment(event_id="adj-7", occurred_at=NOW,
                                     article_number="KAHVI-1", quantity=Decimal(1))
    with http.mount(BASE, responder.app), pytest.raises(VendorError) as caught:
        await plugin.lookup_report(ctx, settings, Flow.ADJUSTMENTS, adjustment)
    assert "Stock transactions" in caught.value.message
    assert "adj-7" in caught.value.message

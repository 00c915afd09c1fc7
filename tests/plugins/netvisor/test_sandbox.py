"""The Netvisor simulator: the vendor's documented behaviour, strictly, and the control surface
that plays the Netvisor user (erpsync_netvisor/sandbox.py).

Requests are signed here by hand with the documented algorithm (not with the plugin's client):
the MAC is SHA-256 over the URL, the header values and the two keys joined with ``&``
(https://support.netvisor.fi/en/support/solutions/articles/77000577954-security-and-authentication).
No worked example with a known output is published in the pages available to us, so
:func:`test_mac_is_the_documented_sha256` computes it from its parts and pins one value.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from erpsync_netvisor.sandbox import (
    CommentLine,
    DeliveryAddress,
    NetvisorSandbox,
    ProductLine,
    PurchaseLine,
    hmac_mac,
    mac,
)
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from erpsync.conformance import ErpSandbox
from erpsync.models import (
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    Flow,
    InventoryAdjustment,
    Receipt,
    ReceiptRow,
)

H = "X-Netvisor-Authentication-"


def sign(sandbox: NetvisorSandbox, url: str, **override: str | None) -> dict[str, str]:
    """The authentication headers of one request, the MAC computed as documented (``override``
    replaces a header, None drops it; ``customer_key``/``partner_key`` replace the keys)."""
    settings = sandbox.settings()
    customer_key = override.pop("customer_key", None) or settings["private_key"].get_secret_value()
    partner_key = override.pop("partner_key", None) or settings["partner_key"].get_secret_value()
    headers: dict[str, str | None] = {
        H + "Sender": settings["sender"],
        H + "CustomerId": settings["customer_id"],
        H + "PartnerId": settings["partner_id"],
        H + "Timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        H + "TransactionId": uuid.uuid4().hex,
        "X-Netvisor-Interface-Language": settings["language"],
        "X-Netvisor-Organisation-ID": settings["organisation_id"],
        H + "MACHashCalculationAlgorithm": "SHA256",
    }
    headers.update({key.replace("_", "-"): value for key, value in override.items()})

    def value(name: str) -> str:
        return headers.get(name) or ""

    common = (url, value(H + "Sender"), value(H + "CustomerId"), value(H + "Timestamp"),
              value("X-Netvisor-Interface-Language"), value("X-Netvisor-Organisation-ID"),
              value(H + "TransactionId"))
    if headers[H + "MACHashCalculationAlgorithm"] == "HMACSHA256":
        headers[H + "MAC"] = hmac_mac(*common, value(H + "TimestampUnix"), customer_key,
                                      partner_key)
    else:
        headers[H + "MAC"] = mac(*common, customer_key, partner_key)
    return {key: value for key, value in headers.items() if value is not None}


def hdr(name: str) -> str:
    """An override keyword for header ``name``."""
    return name.replace("-", "_")


class Api:
    """A client of the simulator that signs every request as documented."""

    def __init__(self, sandbox: NetvisorSandbox, client: httpx.AsyncClient) -> None:
        self.sandbox = sandbox
        self.client = client

    async def send(self, method: str, path: str, body: bytes | None = None,
                   **override: str | None) -> httpx.Response:
        url = self.sandbox.base_url + path
        headers = sign(self.sandbox, url, **override)
        return await self.client.request(method, url, content=body, headers=headers)

    async def get(self, path: str, **override: str | None) -> httpx.Response:
        return await self.send("GET", path, None, **override)

    async def post(self, path: str, body: str | bytes, encoding: str = "iso-8859-15",
                   **override: str | None) -> httpx.Response:
        content = body.encode(encoding) if isinstance(body, str) else body
        return await self.send("POST", path, content, **override)


def root(response: httpx.Response) -> Any:
    assert response.content.startswith(
        b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>'), response.content[:80]
    return etree.fromstring(response.content)


def ok(response: httpx.Response) -> Any:
    document = root(response)
    statuses = [s.text for s in document.findall("ResponseStatus/Status")]
    assert statuses == ["OK"], statuses
    assert response.status_code == 200
    return document


def failed(response: httpx.Response) -> str:
    """The ``CODE :: text`` of a FAILED envelope."""
    statuses = [s.text for s in root(response).findall("ResponseStatus/Status")]
    assert statuses[0] == "FAILED", statuses
    text: str = statuses[1]
    return text


@pytest.fixture
def sandbox() -> NetvisorSandbox:
    return NetvisorSandbox(page_size=3)


@pytest.fixture
async def api(sandbox: NetvisorSandbox) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app)) as client:
        yield Api(sandbox, client)


T0 = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


# --- the MAC and authentication -------------------------------------------------------------------


def test_mac_is_the_documented_sha256() -> None:
    parts = ("https://isvapitest.netvisor.fi/productlist.nv?published=1", "erpsync",
             "ERPSYNC_1234_API", "2024-05-31 08:00:00.000", "FI", "1234567-1",
             "0f1e2d3c4b5a", "CUSTOMERKEY", "PARTNERKEY")
    expected = hashlib.sha256("&".join(parts).encode()).hexdigest()
    assert mac(*parts) == expected
    # pinned, so that a change of the function shows (computed with hashlib as above)
    assert expected == "4cd78e24493ab35b4ab0e436dfed7ab67271c4d5d9c459834f2483c749b5eca2"
    # the keys matter, and so does every part's position
    assert mac(*parts[:-1], "OTHER") != expected
    assert mac(parts[1], parts[0], *parts[2:]) != expected


def test_hmac_mac_keys_with_both_secrets() -> None:
    parts = ("https://isvapi.netvisor.fi/getorder.nv?netvisorkey=1", "s", "c",
             "2024-05-31 08:00:00.000", "EN", "1234567-1", "t", "1717142400")
    message = "&".join((*parts, "CK", "PK")).encode()
    assert hmac_mac(*parts, "CK", "PK") == hmac.new(b"CK&PK", message,
                                                    hashlib.sha256).hexdigest()


async def test_a_signed_request_is_served(api: Api) -> None:
    document = ok(await api.get("/productlist.nv"))
    assert document.find("ProductList") is not None
    stamp = document.findtext("ResponseStatus/TimeStamp")
    datetime.strptime(stamp, "%d.%m.%Y %H:%M:%S")


async def test_hmacsha256_is_accepted_with_its_unix_timestamp(api: Api) -> None:
    unix = str(int(datetime.now(UTC).timestamp()))
    ok(await api.get("/productlist.nv", **{hdr(H + "MACHashCalculationAlgorithm"): "HMACSHA256",
                                           hdr(H + "TimestampUnix"): unix}))
    text = failed(await api.get("/productlist.nv",
                                **{hdr(H + "MACHashCalculationAlgorithm"): "HMACSHA256"}))
    assert text.startswith("AUTHENTICATION_FAILED :: ")


async def test_a_wrong_mac_is_refused_as_documented(api: Api) -> None:
    response = await api.get("/productlist.nv", customer_key="WRONGKEY")
    assert response.status_code == 200
    assert failed(response) == ("AUTHENTICATION_FAILED :: Integration keys are not valid. Please "
                                "check the keys specific to the user and partner.")
    response = await api.get("/productlist.nv", customer_key="WRONGKEY",
                             **{hdr(H + "UseHTTPResponseStatusCodes"): "1"})
    assert response.status_code == 401
    # the MAC covers the URL: a query changed after signing is refused
    url = api.sandbox.base_url + "/productlist.nv?published=1"
    headers = sign(api.sandbox, url)
    tampered = await api.client.get(url.replace("published=1", "published=0"), headers=headers)
    assert failed(tampered).startswith("AUTHENTICATION_FAILED")


async def test_a_stale_or_future_timestamp_is_refused(api: Api) -> None:
    for delta in (timedelta(minutes=-2), timedelta(minutes=2)):
        stamp = (datetime.now(UTC) + delta).strftime("%Y-%m-%d %H:%M:%S.000")
        text = failed(await api.get("/productlist.nv", **{hdr(H + "Timestamp"): stamp}))
        assert text.startswith("AUTHENTICATION_FAILED :: The timestamp")
    text = failed(await api.get("/productlist.nv",
                                **{hdr(H + "Timestamp"): datetime.now(UTC).isoformat()}))
    assert "yyyy-MM-dd HH:mm:ss" in text


async def test_a_reused_transaction_id_is_refused(api: Api) -> None:
    ok(await api.get("/productlist.nv", **{hdr(H + "TransactionId"): "same-id"}))
    response = await api.get("/productlist.nv", **{hdr(H + "TransactionId"): "same-id",
                                                   hdr(H + "UseHTTPResponseStatusCodes"): "1"})
    assert failed(response).startswith("REQUEST_NOT_UNIQUE :: Duplicate transaction id")
    assert response.status_code == 409


@pytest.mark.parametrize(("header", "value", "expected"), [
    (H + "CustomerId", "NOBODY", "Integration keys are not valid"),
    (H + "PartnerId", "NOPARTNER", "Integration partner not found"),
    ("X-Netvisor-Interface-Language", "SV", "Unknown interface language"),
    (H + "MACHashCalculationAlgorithm", "MD5", "Unsupported MAC hash calculation algorithm"),
    (H + "Sender", None, "The header X-Netvisor-Authentication-Sender is missing"),
    ("X-Netvisor-Organisation-ID", "7654321-0", "no rights to the organisation 7654321-0"),
])
async def test_authentication_refusals(api: Api, header: str, value: str | None,
                                       expected: str) -> None:
    text = failed(await api.get("/productlist.nv", **{hdr(header): value}))
    assert text.startswith("AUTHENTICATION_FAILED :: ")
    assert expected in text


async def test_an_organisation_the_user_has_no_rights_to(sandbox: NetvisorSandbox,
                                                         api: Api) -> None:
    sandbox.revoke_access()
    assert "no rights to the organisation 1234567-1" in failed(await api.get("/productlist.nv"))
    sandbox.add_organisation("7654321-0")
    text = failed(await api.get("/productlist.nv",
                                **{hdr("X-Netvisor-Organisation-ID"): "7654321-0"}))
    assert text.startswith("AUTHENTICATION_FAILED")
    sandbox.grant_access()
    ok(await api.get("/productlist.nv"))


async def test_a_blocked_resource_is_a_service_access_error(sandbox: NetvisorSandbox,
                                                            api: Api) -> None:
    sandbox.block("getproduct.nv")
    ok(await api.get("/productlist.nv"))
    response = await api.get("/getproduct.nv?id=1", **{hdr(H + "UseHTTPResponseStatusCodes"): "1"})
    assert failed(response) == ("SERVICE_ACCESS_ERROR :: Service error. The company has blocked "
                                "access to the api resource: getproduct.nv")
    assert response.status_code == 403
    sandbox.unblock("getproduct.nv")
    assert failed(await api.get("/getproduct.nv?id=1")).startswith("INVALID_DATA")


async def test_unknown_resources_and_methods(api: Api) -> None:
    response = await api.get("/nosuchthing.nv")
    assert response.status_code == 404
    assert failed(response).startswith("INVALID_DATA :: unknown resource")
    assert (await api.post("/productlist.nv", "<root/>")).status_code == 405
    # resource and parameter names are case-insensitive (C10)
    ok(await api.get("/ProductList.nv?Published=1"))


# --- lists, filters and paging --------------------------------------------------------------------


async def test_productlist_filters(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P-1", "Julkaistu", at=T0)
    sandbox.add_product("P-2", "Julkaisematon", published=False, at=T0)
    sandbox.add_product("P-3", "Poistettu", at=T0)
    sandbox.delete_product("P-3", at=T0 + timedelta(hours=1))
    sandbox.add_product("P-4", "Uusi", at=T0 + timedelta(hours=2))

    async def codes(query: str) -> list[str]:
        document = ok(await api.get("/productlist.nv" + query))
        return [p.findtext("ProductCode") for p in document.iterfind("ProductList/Product")]

    assert await codes("") == ["P-1", "P-2", "P-3", "P-4"]
    assert await codes("?published=1") == ["P-1", "P-4"]
    assert await codes("?published=1&unpublished=0&deleted=0") == ["P-1", "P-4"]
    assert await codes("?unpublished=1&deleted=1") == ["P-2", "P-3"]
    # changedsince is Finnish local time (UTC+3 in summer) and exclusive
    assert await codes("?published=1&changedsince=2024-05-31T12:59:59") == ["P-4"]
    assert await codes("?published=1&changedsince=2024-05-31T13:00:00") == []
    assert await codes("?keyword=uusi") == ["P-4"]
    assert failed(await api.get("/productlist.nv?changedsince=2024-05-31T%2012:00:00")
                  ).startswith("INVALID_DATA :: parameter changedsince")
    assert "given twice" in failed(await api.get("/productlist.nv?published=1&published=1"))
    assert "unknown" in failed(await api.get("/productlist.nv?page=2"))


async def test_getproduct_details_and_id_list_limit(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("OSA", "Osa", at=T0)
    sandbox.add_product("SETTI", "Setti äöå", description="Kuvaus", unit_price=Decimal("12.5"),
                        vat_percent=Decimal(24), purchase_price=Decimal("5.25"),
                        tariff_heading="82055980", country_of_origin="SE", ean="6412345678901",
                        net_weight=Decimal("1.25"), gross_weight=Decimal("1.5"),
                        length=Decimal(30), width=Decimal("20.5"), height=Decimal(10),
                        group="Työkalut", sub_products={"OSA": 2}, at=T0)
    key = sandbox.product("SETTI")["key"]
    product = ok(await api.get(f"/getproduct.nv?id={key}&showsubproducts=1")).find("Product")
    base = product.find("ProductBaseInformation")
    assert base.findtext("Name") == "Setti äöå"
    assert base.findtext("UnitPrice") == "12,50"
    assert base.find("UnitPrice").get("type") == "net"
    assert base.findtext("UnitGrossPrice") == "15,50"
    assert base.findtext("PurchasePrice") == "5,2500"
    assert base.findtext("TariffHeading") == "82055980"
    assert base.findtext("CountryOfOrigin") == "SE"
    assert base.find("CountryOfOrigin").get("type") == "ISO-3166"
    assert base.findtext("ProductGroup") == "Työkalut"
    extra = product.find("ProductAdditionalInformation")
    assert extra.findtext("ProductNetWeight") == "1,25"
    assert extra.find("ProductNetWeight").get("weightunit") == "kg"
    assert extra.findtext("ProductPackageInformation/PackageWidth") == "20,5"
    assert extra.findtext("PrimaryEanCode") == "6412345678901"
    children = product.findall("SubProductInformation/Children/Product")
    assert [(c.findtext("NetvisorKey"), c.findtext("Amount")) for c in children] == [
        (sandbox.product("OSA")["key"], "2")]
    listed = ok(await api.get("/productlist.nv")).find("ProductList/Product[ProductCode='SETTI']")
    assert listed.findtext("UnitPrice") == "12,500000000000"
    assert listed.findtext("ProductGroupDescription") == "Työkalut"
    too_many = ",".join(str(n) for n in range(401))
    assert failed(await api.get(f"/getproduct.nv?idlist={too_many}")).startswith(
        "INVALID_DATA_SIZE")
    sandbox.delete_product("OSA")
    both = f"{key},{sandbox.product('OSA')['key']}"
    document = ok(await api.get(f"/getproduct.nv?idlist={both}&replyoption=3"))
    assert [p.findtext("ProductBaseInformation/ProductCode")
            for p in document.iterfind("Products/Product")] == ["SETTI"]
    assert failed(await api.get("/getproduct.nv?id=1&code=x")).startswith("INVALID_DATA")


async def test_order_list_filters_and_pages(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote", at=T0)
    sandbox.add_customer("C", "Asiakas")
    numbers = [sandbox.add_order("C", [ProductLine("P", 1)], at=T0) for _ in range(5)]
    sandbox.change_order(numbers[4], status="delivered", at=T0)
    later = sandbox.add_order("C", [ProductLine("P", 1)], at=T0 + timedelta(days=1))
    query = "?listtype=preinvoice&invoicestatus=undelivered"
    first = ok(await api.get("/salesinvoicelist.nv" + query)).findall(
        "SalesInvoiceList/SalesInvoice")
    assert len(first) == 3  # page_size
    above = first[-1].findtext("NetvisorKey")
    second = ok(await api.get(f"/salesinvoicelist.nv{query}&invoicesabovenetvisorkey={above}"))
    numbers_read = [i.findtext("InvoiceNumber") for i in first] + [
        i.findtext("InvoiceNumber") for i in second.iterfind("SalesInvoiceList/SalesInvoice")]
    assert numbers_read == [*numbers[:4], later]
    since = ok(await api.get(f"/salesinvoicelist.nv{query}&lastmodifiedstart=2024-06-01"))
    assert [i.findtext("InvoiceNumber") for i in since.iterfind("SalesInvoiceList/SalesInvoice")
            ] == [later]
    item = first[0]
    assert item.find("Invoicedate").get("format") == "ansi"
    assert item.findtext("InvoiceStatus") == "undelivered"
    # the invoice list of this company is empty; orders are not invoices
    assert ok(await api.get("/salesinvoicelist.nv")).find("SalesInvoiceList/SalesInvoice") is None
    assert "not simulated" in failed(await api.get("/salesinvoicelist.nv?replyoption=1"))
    too_many = ",".join(str(n) for n in range(501))
    assert failed(await api.get(f"/getorder.nv?netvisorkeylist={too_many}")).startswith(
        "INVALID_DATA_SIZE")


async def test_getorder_shape(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Hylly äö", unit_price=Decimal("10"), vat_percent=Decimal(24))
    sandbox.add_customer("C", "Asiakas Oy", street="Katu 1", post_code="00100",
                         city="Helsinki", email="a@example.fi", phone="+358401")
    number = sandbox.add_order(
        "C", [ProductLine("P", Decimal("2.5")), CommentLine("Soita ennen äö")],
        our_reference="Myyjä", your_reference="PO-9", text_before="Ennen", text_after="Jälkeen",
        delivery_method="Posti", delivery_term="EXW",
        delivery_address=DeliveryAddress(name="Vastaanottaja", name_extension="Varasto 2",
                                         line="Tie 2", post_code="33100", town="Tampere"))
    key = sandbox.order(number)["key"]
    order = ok(await api.get(f"/getorder.nv?netvisorkey={key}&showcommentlines=1")
               ).find("SalesInvoice")
    assert order.findtext("SalesInvoiceNumber") == number
    assert order.findtext("SalesInvoiceAmount") == "31,00"
    assert order.find("InvoiceStatus").get("status") == "undelivered"
    assert order.findtext("DeliveryAddressNameExtension") == "Varasto 2"
    assert order.findtext("SalesInvoiceYourReference") == "PO-9"
    lines = order.findall("InvoiceLines/InvoiceLine/*")
    assert [line.tag for line in lines] == ["SalesInvoiceProductLine", "SalesInvoiceCommentLine"]
    assert lines[0].findtext("SalesInvoiceProductLineQuantity") == "2,5"
    assert lines[0].findtext("SalesInvoiceProductLineSum") == "25,00"
    assert lines[0].findtext("SalesInvoiceProductLineVatSum") == "6,00"
    assert lines[1].findtext("Comment") == "Soita ennen äö"
    without = ok(await api.get(f"/getorder.nv?netvisorkey={key}"))
    assert without.find(".//SalesInvoiceCommentLine") is None
    listed = ok(await api.get(f"/getorder.nv?netvisorkeylist={key},999"))
    assert len(listed.findall("SalesInvoices/SalesInvoice")) == 1
    customer = order.findtext("InvoicingCustomerNetvisorKey")
    card = ok(await api.get(f"/getcustomer.nv?idlist={customer}"))
    assert card.findtext("Customers/Customer/CustomerBaseInformation/Email") == "a@example.fi"


async def test_purchase_order_list_filters_and_pages(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote", at=T0)
    numbers = [sandbox.add_purchase_order("Toimittaja", [PurchaseLine("P", 5)], at=T0)
               for _ in range(4)]
    sandbox.change_purchase_order(numbers[1], status="approved", at=T0)
    query = "/purchaseorderlist.nv?limitorderstatus=senttovendor"
    first = ok(await api.get(query)).findall("PurchaseOrderList/PurchaseOrder")
    assert [p.findtext("OrderNumber") for p in first] == [numbers[0], numbers[2], numbers[3]]
    sandbox.page_size = 2
    page = ok(await api.get(f"{query}&limitstartordernumber={int(numbers[2]) + 1}"))
    assert [p.findtext("OrderNumber") for p in page.iterfind("PurchaseOrderList/PurchaseOrder")
            ] == [numbers[3]]
    sandbox.change_purchase_order(numbers[3], comment="muutos", at=T0 + timedelta(days=1))
    since = ok(await api.get(f"{query}&lastmodifiedstart=2024-06-01T00:00:00"))
    assert [p.findtext("OrderNumber") for p in since.iterfind("PurchaseOrderList/PurchaseOrder")
            ] == [numbers[3]]
    assert "limitorderstatus" in failed(await api.get(
        "/purchaseorderlist.nv?limitorderstatus=sent"))


# --- write-back: deliveries -----------------------------------------------------------------------


def delivery(customer: str, lines: list[tuple[str, str]], post: str = "true") -> str:
    rows = "".join(
        f"<invoicingproductline><netvisorkey>{key}</netvisorkey>"
        f'<deliverydate format="ansi">2024-06-01</deliverydate>'
        f'<deliveryamount ispostdelivery="{post}">{amount}</deliveryamount>'
        f"</invoicingproductline>" for key, amount in lines)
    return ("<root><salesorderinvoicing><invoicingcustomer>"
            f"<netvisorkey>{customer}</netvisorkey>"
            '<invoicedate format="ansi">2024-06-01</invoicedate>'
            f"<invoicingproductlines>{rows}</invoicingproductlines>"
            "</invoicingcustomer></salesorderinvoicing></root>")


async def test_delivered_quantities_are_recorded(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote", inventory=10)
    sandbox.add_customer("C", "Asiakas")
    number = sandbox.add_order("C", [ProductLine("P", 5)], at=T0)
    order = sandbox.order(number)
    line = order["lines"][0]["key"]
    customer = ok(await api.get(f"/getorder.nv?netvisorkey={order['key']}")).findtext(
        "SalesInvoice/InvoicingCustomerNetvisorKey")
    path = "/salesorderinvoicing.nv?method=deliveryonly"
    ok(await api.post(path, delivery(customer, [(line, "2")])))
    assert sandbox.delivered(number) == {line: Decimal(2)}
    assert sandbox.order(number)["status"] == "undelivered"
    assert sandbox.order(number)["changed_at"] > T0
    report = ok(await api.get(
        "/warehousereport.nv?report=salesinventoryevents&salesentitytype=salesorder"
        f"&salesentitiesnetvisorkeys={order['key']}"))
    assert report.findtext(".//SalesEntityProductLine/DeliveredAmount") == "2"
    assert "more than the 3 still undelivered" in failed(
        await api.post(path, delivery(customer, [(line, "4")])))
    ok(await api.post(path, delivery(customer, [(line, "3")])))
    assert sandbox.delivered(number) == {line: Decimal(5)}
    assert sandbox.order(number)["status"] == "delivered"
    assert sandbox.product("P")["inventory"] == Decimal(5)
    assert sandbox.times_applied(Flow.DELIVERIES, _delivery_event(number, line)) == 2
    assert "is delivered" in failed(await api.post(path, delivery(customer, [(line, "1")])))


def _delivery_event(number: str, line: str) -> Delivery:
    return Delivery(event_id="e", occurred_at=T0, order_number=number,
                    status=DeliveryStatus.SENT, lines=(DeliveryLine(
                        external_line_key=line, article_number="P", delivered_quantity=Decimal(1),
                        total_delivered_quantity=Decimal(1)),))


async def test_delivery_refusals(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote")
    sandbox.add_customer("C", "Asiakas")
    number = sandbox.add_order("C", [ProductLine("P", 5)])
    line = sandbox.order(number)["lines"][0]["key"]
    path = "/salesorderinvoicing.nv?method=deliveryonly"
    customer = "1001"
    assert "Sales order line not found: 99" in failed(
        await api.post(path, delivery(customer, [("99", "1")])))
    assert "not the customer" in failed(await api.post(path, delivery("1", [(line, "1")])))
    no_attribute = delivery(customer, [(line, "1")]).replace(' ispostdelivery="true"', "")
    assert "'ispostdelivery' is missing" in failed(await api.post(path, no_attribute))
    assert "is not a number" in failed(await api.post(path, delivery(customer,
                                                                     [(line, "1.5")])))
    assert "not simulated" in failed(await api.post(
        "/salesorderinvoicing.nv?method=billanddelivery", delivery(customer, [(line, "1")])))
    assert sandbox.delivered(number) == {line: Decimal(0)}
    # ispostdelivery="false" closes the line with what was delivered
    ok(await api.post(path, delivery(customer, [(line, "2")], post="false")))
    assert sandbox.order(number)["status"] == "delivered"
    assert sandbox.order(number)["lines"][0]["closed"] is True


# --- write-back: receipts -------------------------------------------------------------------------


def po_edit(*lines: str) -> str:
    return f"<root><purchaseorder><purchaseorderlines>{''.join(lines)}</purchaseorderlines>" \
           "</purchaseorder></root>"


def partial(method: str, key: str, *rows: tuple[str, str, str]) -> str:
    contents = "".join(
        "<purchaseorderproductlinepartialdeliverycontent>"
        f"<orderedamount>{o}</orderedamount><deliveredamount>{d}</deliveredamount>"
        f'<deliveryreceiveddate format="ansi">{when}</deliveryreceiveddate>'
        "</purchaseorderproductlinepartialdeliverycontent>" for o, d, when in rows)
    return (f'<purchaseorderproductline method="{method}" netvisorkey="{key}">'
            f"<purchaseorderproductlinepartialdelivery>{contents}"
            "</purchaseorderproductlinepartialdelivery></purchaseorderproductline>")


def details(key: str, amount: str, confirmed: bool = False) -> str:
    extra = "<deliverymanuallyconfirmed>true</deliverymanuallyconfirmed>" if confirmed else ""
    return (f'<purchaseorderproductline method="edit" netvisorkey="{key}">'
            "<purchaseorderproductlinedeliverydetails>"
            f"<deliveredamount>{amount}</deliveredamount>"
            f'<deliveryreceiveddate format="ansi">2024-06-03</deliveryreceiveddate>{extra}'
            "</purchaseorderproductlinedeliverydetails></purchaseorderproductline>")


async def test_partial_receipts_per_seed_003(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote")
    number = sandbox.add_purchase_order("Toimittaja", [PurchaseLine("P", 10)], at=T0)
    po_key = ok(await api.get("/purchaseorderlist.nv")).findtext(
        "PurchaseOrderList/PurchaseOrder/NetvisorKey")
    row = sandbox.purchase_order_rows(number)[0]["key"]
    path = f"/purchaseorder.nv?method=edit&id={po_key}"
    # partialdeliver: at least two rows whose ordered amounts add up to the line's
    assert "at least two" in failed(await api.post(path, po_edit(
        partial("partialdeliver", row, ("10", "6", "2024-06-01")))))
    assert "must correspond" in failed(await api.post(path, po_edit(
        partial("partialdeliver", row, ("6", "6", "2024-06-01"), ("3", "0", "2024-06-09")))))
    reply = ok(await api.post(path, po_edit(
        partial("partialdeliver", row, ("6", "6", "2024-06-01"), ("4", "0", "2024-06-09")),
        '<purchaseordercommentline method="add"><comment>erpsync receipt e1</comment>'
        "</purchaseordercommentline>")))
    assert reply.findtext("Replies/InsertedDataIdentifier") == po_key
    assert sandbox.received(number) == {row: Decimal(6)}
    rows = sandbox.purchase_order_rows(number)
    assert [(r["ordered"], r["delivered"]) for r in rows] == [(6, 6), (4, 0)]
    assert sandbox.purchase_order_comments(number) == ["erpsync receipt e1"]
    detail = ok(await api.get(f"/getpurchaseorder.nv?netvisorkey={po_key}")).find("PurchaseOrder")
    assert detail.find("OrderStatus").get("deliverystatus") == "partiallydelivered"
    groups = detail.findall("PurchaseOrderLines/PurchaseOrderProductDeliveryGroup")
    lines = detail.findall("PurchaseOrderLines/PurchaseOrderProductLine")
    assert len(groups) == 1 and groups[0].findtext("OrderedAmount") == "10"
    assert {line.findtext("PurchaseOrderProductDeliveryGroupID") for line in lines} == {
        groups[0].findtext("NetvisorKey")}
    assert [line.findtext("DeliveredAmount") for line in lines] == ["6", "0"]
    # the rest arrives, 3 short, and is confirmed by hand
    ok(await api.post(path, po_edit(details(rows[1]["key"], "1", confirmed=True))))
    assert sandbox.received(number) == {row: Decimal(7)}
    detail = ok(await api.get(f"/getpurchaseorder.nv?netvisorkey={po_key}"))
    assert detail.find("PurchaseOrder/OrderStatus").get("deliverystatus") == "fullydelivered"
    assert sandbox.product("P")["inventory"] == Decimal(7)
    receipt = Receipt(event_id="r", occurred_at=T0, purchase_order_number=number, complete=True,
                      rows=(_receipt_row(row),))
    assert sandbox.times_applied(Flow.RECEIPTS, receipt) == 2


def _receipt_row(key: str) -> ReceiptRow:
    return ReceiptRow(row_key=key, article_number="P", received_quantity=Decimal(1),
                      total_received_quantity=Decimal(1))


async def test_addtopartialdeliverygroup_and_refusals(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote")
    number = sandbox.add_purchase_order("Toimittaja", [PurchaseLine("P", 10)])
    po_key = ok(await api.get("/purchaseorderlist.nv")).findtext(".//NetvisorKey")
    row = sandbox.purchase_order_rows(number)[0]["key"]
    path = f"/purchaseorder.nv?method=edit&id={po_key}"
    ok(await api.post(path, po_edit(
        partial("partialdeliver", row, ("6", "6", "2024-06-01"), ("4", "0", "2024-06-09")))))
    rest = sandbox.purchase_order_rows(number)[1]["key"]
    # a new row for the group alone breaks the group's total: refused, nothing applied
    assert "must correspond" in failed(await api.post(path, po_edit(
        partial("addtopartialdeliverygroup", row, ("2", "2", "2024-06-05")))))
    # with the open row lowered in the same message it is accepted
    lowered = (f'<purchaseorderproductline method="edit" netvisorkey="{rest}">'
               "<orderedamount>2</orderedamount></purchaseorderproductline>")
    ok(await api.post(path, po_edit(
        partial("addtopartialdeliverygroup", row, ("2", "2", "2024-06-05")), lowered)))
    assert [(r["ordered"], r["delivered"]) for r in sandbox.purchase_order_rows(number)] == [
        (6, 6), (2, 0), (2, 2)]
    assert "not found in purchase order" in failed(await api.post(path, po_edit(
        details("99999", "1"))))
    with_partial = partial("partialdeliver", rest, ("1", "1", "2024-06-01"),
                           ("1", "0", "2024-06-01")).replace("partialdeliver", "edit", 1)
    assert "may not include partial delivery" in failed(await api.post(path, po_edit(
        with_partial)))
    delete = (f'<purchaseorderproductline method="delete" netvisorkey="{row}">'
              "<orderedamount>1</orderedamount></purchaseorderproductline>")
    assert "delete needs an empty element" in failed(await api.post(path, po_edit(delete)))
    assert "not simulated" in failed(await api.post(
        "/purchaseorder.nv?method=add", po_edit(details(row, "1"))))
    assert "Purchase order not found" in failed(await api.post(
        "/purchaseorder.nv?method=edit&id=1", po_edit(details(row, "1"))))


# --- write-back: warehouse events -----------------------------------------------------------------


def warehouse_event(reference: str, product: str, quantity: str = "-2",
                    event_type: str = "Inventointi", description: str = "Inventaario") -> str:
    return ("<root><warehouseevent>"
            f"<description>{description}</description><reference>{reference}</reference>"
            "<warehouseeventlines><warehouseeventline>"
            f'<eventtype type="customer">{event_type}</eventtype>'
            f'<product type="customer">{product}</product>'
            f"<quantity>{quantity}</quantity><unitprice>0</unitprice>"
            '<valuedate format="ansi">2024-06-01</valuedate><status>open</status>'
            "</warehouseeventline></warehouseeventlines></warehouseevent></root>")


async def test_warehouse_events_are_recorded(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote", inventory=10)
    reply = ok(await api.post("/warehouseevent.nv", warehouse_event("evt-1", "P", "-2,5")))
    key = reply.findtext("Replies/InsertedDataIdentifier")
    events = sandbox.warehouse_events("evt-1")
    assert [e["key"] for e in events] == [key]
    assert events[0]["lines"][0]["quantity"] == Decimal("-2.5")
    assert events[0]["lines"][0]["event_type"] == "Inventointi"
    assert sandbox.product("P")["inventory"] == Decimal("7.5")
    adjustment = InventoryAdjustment(event_id="x", occurred_at=T0, article_number="P",
                                     quantity=Decimal(1))
    assert sandbox.times_applied(Flow.ADJUSTMENTS, adjustment) == 1
    # Netvisor does not refuse a second event with the same reference (C21)
    ok(await api.post("/warehouseevent.nv", warehouse_event("evt-1", "P", "-2,5")))
    assert sandbox.times_applied(Flow.ADJUSTMENTS, adjustment) == 2


async def test_warehouse_event_refusals(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Tuote")
    path = "/warehouseevent.nv"
    assert failed(await api.post(path, warehouse_event("e", "P", event_type="Inventory"))) == (
        "INVALID_DATA :: warehouse event type 'Inventory' not found")
    assert "Product not found: NOPE" in failed(await api.post(path, warehouse_event("e", "NOPE")))
    assert "at most 50 characters" in failed(await api.post(path, warehouse_event("e" * 51, "P")))
    assert "changes nothing" in failed(await api.post(path, warehouse_event("e", "P", "0")))
    assert "is not a number" in failed(await api.post(path, warehouse_event("e", "P", "-2.5")))
    swapped = warehouse_event("e", "P").replace(
        "<description>Inventaario</description><reference>e</reference>",
        "<reference>e</reference><description>Inventaario</description>")
    assert "must come before" in failed(await api.post(path, swapped))
    assert sandbox.warehouse_events() == []


async def test_the_warehouse_event_report_is_an_opt_in_reading(sandbox: NetvisorSandbox,
                                                               api: Api) -> None:
    sandbox.add_product("P", "Tuote")
    ok(await api.post("/warehouseevent.nv", warehouse_event("evt-7", "P")))
    query = "/warehousereport.nv?report=warehouseevents&reference=evt-7"
    assert "unknown report" in failed(await api.get(query))
    sandbox.warehouse_event_report = True
    found = ok(await api.get(query)).findall(".//WarehouseEvent")
    assert [e.findtext("Reference") for e in found] == ["evt-7"]
    assert ok(await api.get(query.replace("evt-7", "evt-8"))).find(".//WarehouseEvent") is None


# --- encodings and documents ----------------------------------------------------------------------


async def test_scandinavian_letters_round_trip(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.add_product("P", "Räätälöity öljy å")
    listed = ok(await api.get("/productlist.nv")).findtext("ProductList/Product/Name")
    assert listed == "Räätälöity öljy å"
    text = "Hyllyssä ÄÖÅ äöå €"
    ok(await api.post("/warehouseevent.nv", warehouse_event("e1", "P", description=text)))
    utf8 = '<?xml version="1.0" encoding="UTF-8"?>' + warehouse_event("e2", "P",
                                                                         description=text)
    ok(await api.post("/warehouseevent.nv", utf8, encoding="utf-8"))
    assert [e["description"] for e in sandbox.warehouse_events()] == [text, text]
    # UTF-8 bytes without a declaration are read as ISO-8859-15, as Netvisor documents:
    # "ä" (C3 A4) arrives as "Ã€" (A4 is the euro sign in ISO-8859-15)
    ok(await api.post("/warehouseevent.nv", warehouse_event("e3", "P", description="ä"),
                      encoding="utf-8"))
    assert sandbox.warehouse_events("e3")[0]["description"] == "Ã€"
    emoji = '<?xml version="1.0" encoding="UTF-8"?>' + warehouse_event("e4", "P",
                                                                          description="🙂")
    assert "cannot be stored" in failed(await api.post("/warehouseevent.nv", emoji,
                                                       encoding="utf-8"))


async def test_documents_are_checked(api: Api) -> None:
    path = "/warehouseevent.nv"
    assert "must start with <root>" in failed(await api.post(
        path, "<Root><warehouseevent/></Root>"))
    assert "DOCTYPE" in failed(await api.post(
        path, '<!DOCTYPE root [<!ENTITY x "y">]><root>&x;</root>'))
    assert "not well-formed" in failed(await api.post(path, "<root>"))
    assert "encoding 'utf-16'" in failed(await api.post(
        path, '<?xml version="1.0" encoding="UTF-16"?><root/>'))
    assert "no XML message" in failed(await api.post(path, b""))
    assert "takes no XML message" in failed(await api.send("GET", "/productlist.nv", b"<root/>"))
    assert "<warehouseevent> is missing" in failed(await api.post(path, "<root></root>"))


# --- faults, latency, counting --------------------------------------------------------------------


async def test_faults_latency_and_counting(sandbox: NetvisorSandbox, api: Api) -> None:
    sandbox.fail_next(1, 503, resource="productlist.nv")
    assert (await api.get("/productlist.nv")).status_code == 503
    ok(await api.get("/productlist.nv"))
    sandbox.add_product("P", "Tuote")
    sandbox.fail_next(1, 502, after=True)
    assert (await api.post("/warehouseevent.nv", warehouse_event("lost", "P"))).status_code == 502
    assert sandbox.warehouse_events("lost") != []  # the write happened, its answer was lost
    assert sandbox.request_count("productlist.nv") == 2
    assert sandbox.request_count(method="POST") == 1
    sandbox.latency = 0.05
    first, second = await asyncio.gather(api.get("/productlist.nv"), api.get("/productlist.nv"))
    texts = [failed(r) for r in (first, second) if root(r).findtext("ResponseStatus/Status")
             == "FAILED"]
    assert len(texts) == 1 and texts[0].startswith("TECHNICAL_ERROR")
    assert sandbox.peak_in_flight() == 1
    assert sandbox.requests[-1].code in (None, "TECHNICAL_ERROR")


# --- the conformance protocol ---------------------------------------------------------------------


def test_the_conformance_protocol(sandbox: NetvisorSandbox) -> None:
    protocol: ErpSandbox = sandbox
    assert inspect.iscoroutinefunction(protocol.app)  # ASGI 3, as servers detect it
    settings = protocol.settings()
    assert settings["private_key"].get_secret_value() not in repr(settings)
    assert protocol.bad_settings()["private_key"] != settings["private_key"]
    articles = protocol.seed(Flow.ARTICLES, 2, T0)
    orders = protocol.seed(Flow.ORDERS, 2, T0)
    purchase_orders = protocol.seed(Flow.PURCHASE_ORDERS, 1, T0)
    assert sandbox.product(articles[0])["changed_at"] == T0
    protocol.change(Flow.ORDERS, orders[0], T0 + timedelta(hours=1))
    assert sandbox.order(orders[0])["changed_at"] == T0 + timedelta(hours=1)
    protocol.change(Flow.PURCHASE_ORDERS, purchase_orders[0], T0)
    for flow in (Flow.DELIVERIES, Flow.RECEIPTS, Flow.ADJUSTMENTS):
        assert protocol.times_applied(flow, protocol.event(flow)) == 0
        assert protocol.times_applied(flow, protocol.rejected_event(flow)) == 0
    assert protocol.stock_level(articles[0]) is None

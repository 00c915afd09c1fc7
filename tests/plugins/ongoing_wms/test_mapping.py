"""The Ongoing WMS plugin's mapping: one test per mapping row, and the reading of Ongoing's
answers into canonical events.

The answers below are shaped like the vendor's GET examples
(https://github.com/OngoingWarehouse/Ongoing-Warehouse-REST-API-Example-Requests, v1/) and
parsed as the client parses them (numbers as Decimal).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from erpsync_ongoing_wms import mapping
from erpsync_ongoing_wms.client import _json, encode_json
from erpsync_ongoing_wms.plugin import OngoingSettings
from pydantic import SecretStr, ValidationError

from erpsync.errors import ResponseInvalid
from erpsync.models import (
    Address,
    Article,
    ArticleGroup,
    CodeName,
    Customer,
    CustomerType,
    DeliveryStatus,
    Dimensions,
    Length,
    LengthUnit,
    Order,
    OrderLine,
    OrderTextLine,
    PurchaseOrder,
    PurchaseOrderRow,
    StructureComponent,
    Supplier,
    SupplierRef,
    Weight,
    WeightUnit,
)

OWNER = 159
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
TODAY = date(2024, 5, 2)


def parse(text: str) -> Any:
    """JSON as the client reads it: numbers with a fraction as Decimal."""
    return json.loads(text, parse_float=Decimal)


# --- articles ----------------------------------------------------------------------------------


def _article(**changes: Any) -> Article:
    fields: dict[str, Any] = {"article_number": "A-1", "erp_key": "nv-77", "name": "Kahvi"}
    fields.update(changes)
    return Article(**fields)


def _article_body(article: Article, unit: LengthUnit = LengthUnit.METRE) -> dict[str, Any]:
    return mapping.article_body(article, goods_owner_id=OWNER, length_unit=unit)


def test_article_minimal_sends_only_what_is_known() -> None:
    assert _article_body(_article()) == {
        "goodsOwnerId": OWNER, "articleNumber": "A-1", "articleName": "Kahvi",
        "productCode": "nv-77", "isStockArticle": True, "isActive": True,
    }


def test_article_number_name_and_description() -> None:
    body = _article_body(_article(description="Tumma paahto, 500 g"))
    assert (body["articleNumber"], body["articleName"], body["description"]) == (
        "A-1", "Kahvi", "Tumma paahto, 500 g")


def test_article_stock_and_active_flags() -> None:
    body = _article_body(_article(is_stock_article=False, is_active=False))
    assert (body["isStockArticle"], body["isActive"]) == (False, False)


def test_article_barcode() -> None:
    assert _article_body(_article(barcode="6417700050015"))["barCodeInfo"] == {
        "barCode": "6417700050015"}


def test_article_unit_code() -> None:
    assert _article_body(_article(unit="st"))["unitCode"] == "st"


def test_article_product_code_is_the_erp_key() -> None:
    # Seed 000: "Order line => Product code <= Product netvisor key".
    assert _article_body(_article(erp_key="1234"))["productCode"] == "1234"


def test_article_dimensions_millimetres_to_metres_exactly() -> None:
    article = _article(dimensions=Dimensions(
        length=Length(value=Decimal(1234), unit=LengthUnit.MILLIMETRE),
        width=Length(value=Decimal("0.5"), unit=LengthUnit.MILLIMETRE),
        height=Length(value=Decimal(15), unit=LengthUnit.CENTIMETRE)))
    body = _article_body(article)
    assert (body["length"], body["width"], body["height"]) == (
        Decimal("1.234"), Decimal("0.0005"), Decimal("0.15"))


def test_article_dimensions_in_the_length_unit_setting() -> None:
    two_metres = Length(value=Decimal(2), unit=LengthUnit.METRE)
    article = _article(dimensions=Dimensions(length=two_metres))
    assert _article_body(article, LengthUnit.MILLIMETRE)["length"] == Decimal(2000)
    assert _article_body(article, LengthUnit.CENTIMETRE)["length"] == Decimal(200)


def test_article_weights_grams_to_kilograms_exactly() -> None:
    body = _article_body(_article(
        gross_weight=Weight(value=Decimal(1500), unit=WeightUnit.GRAM),
        net_weight=Weight(value=Decimal("333.3"), unit=WeightUnit.GRAM)))
    assert (body["weight"], body["netWeight"]) == (Decimal("1.5"), Decimal("0.3333"))


def test_article_weight_in_kilograms_is_unchanged() -> None:
    body = _article_body(_article(gross_weight=Weight(value=Decimal("2.25"),
                                                      unit=WeightUnit.KILOGRAM)))
    assert body["weight"] == Decimal("2.25")
    assert "netWeight" not in body


def test_article_prices_and_currency() -> None:
    body = _article_body(_article(purchase_price=Decimal("4.10"), sales_price=Decimal("9.90"),
                                  currency="EUR"))
    assert (body["purchasePrice"], body["customerPrice"], body["purcaseCurrencyCode"]) == (
        Decimal("4.10"), Decimal("9.90"), "EUR")


def test_article_statistics_number_and_country_of_origin() -> None:
    body = _article_body(_article(statistics_number="09012100", country_of_origin="BR"))
    assert (body["statisticsNumber"], body["countryOfOriginCode"]) == ("09012100", "BR")


def test_article_group() -> None:
    body = _article_body(_article(group=ArticleGroup(code="7", name="Kahvit")))
    assert body["articleGroup"] == {"code": "7", "name": "Kahvit"}
    only_name = _article_body(_article(group=ArticleGroup(name="Kahvit")))
    assert only_name["articleGroup"] == {"name": "Kahvit"}


def test_article_supplier() -> None:
    body = _article_body(_article(supplier=SupplierRef(supplier_number="S1", name="Tukku Oy")))
    assert body["supplierInfo"] == {"supplierNumber": "S1", "supplierName": "Tukku Oy"}


def test_article_structure() -> None:
    body = _article_body(_article(structure=(
        StructureComponent(article_number="B-1", quantity=Decimal(2)),
        StructureComponent(article_number="B-2", quantity=Decimal("0.5")))))
    assert body["structureDefinition"] == {
        "articleKind": "Structure",
        "rows": [{"articleNumber": "B-1", "numberOfItems": Decimal(2)},
                 {"articleNumber": "B-2", "numberOfItems": Decimal("0.5")}],
    }


# --- orders ------------------------------------------------------------------------------------


def _order(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_number": "1001", "erp_key": "nv-1001",
        "customer": Customer(name="Testi Oy", customer_number="C-9", address=Address(
            name="Testi Oy / Varasto", address1="Katu 1", address2="B-rappu",
            post_code="00100", city="Helsinki", country_code="FI")),
        "lines": (OrderLine(external_line_key="L1", article_number="A-1",
                            quantity=Decimal(4)),),
    }
    fields.update(changes)
    return Order(**fields)


def _order_body(order: Order) -> dict[str, Any]:
    return mapping.order_body(order, goods_owner_id=OWNER, today=TODAY)


def test_order_numbers_and_goods_owner() -> None:
    body = _order_body(_order())
    assert (body["goodsOwnerId"], body["orderNumber"], body["goodsOwnerOrderId"]) == (
        OWNER, "1001", "nv-1001")


def test_order_delivery_date_or_today() -> None:
    assert _order_body(_order(delivery_date=date(2024, 6, 1)))["deliveryDate"] == "2024-06-01"
    assert _order_body(_order())["deliveryDate"] == "2024-05-02"


def test_order_references() -> None:
    body = _order_body(_order(reference="Matti", customer_reference="PO-55"))
    assert (body["referenceNumber"], body["consigneeOrderNumber"]) == ("Matti", "PO-55")
    fortnox = _order_body(_order(customer_order_number="YO-1"))
    assert fortnox["consigneeOrderNumber"] == "YO-1"


def test_order_customer_price() -> None:
    assert _order_body(_order(total_price=Decimal("123.45")))["customerPrice"] == Decimal(
        "123.45")


def test_order_comment_and_free_text() -> None:
    body = _order_body(_order(comment="Before the rows", free_text="After the rows"))
    assert (body["orderRemark"], body["freeText1"]) == ("Before the rows", "After the rows")


def test_order_terms_and_way_of_delivery_as_code_and_name() -> None:
    body = _order_body(_order(terms_of_delivery=CodeName(code="FCA", name="Free carrier"),
                              way_of_delivery=CodeName(code="PN", name="PostNord")))
    assert body["termsOfDeliveryType"] == {"code": "FCA", "name": "Free carrier"}
    assert body["wayOfDelivery"] == {"code": "PN", "name": "PostNord"}


def test_order_type() -> None:
    assert _order_body(_order(order_type=CustomerType.CONSUMER))["orderType"] == {
        "code": "B2C", "name": "Business to consumer"}
    assert "orderType" not in _order_body(_order())


def test_order_production_code_language_and_terms_of_payment() -> None:
    body = _order_body(_order(production_code="INV-7", language="sv",
                              terms_of_payment=CodeName(code="30", name="30 days")))
    assert (body["productionCode"], body["languageCode"]) == ("INV-7", "sv")
    assert body["advanced"] == {"termsOfPaymentString": "30 days"}


def test_order_notifications_follow_the_flags() -> None:
    customer = Customer(name="Testi Oy", email="a@b.fi", mobile="+358401", phone="+35891",
                        phone2="+35892")
    body = _order_body(_order(customer=customer, notify_by_email=True, notify_by_sms=False))
    assert body["emailNotification"] == {"toBeNotified": True, "value": "a@b.fi"}
    assert body["smsNotification"] == {"toBeNotified": False, "value": "+358401"}
    assert body["telephoneNotification"] == {"toBeNotified": False, "value": "+35891"}
    advanced = body["consignee"]["advanced"]
    assert advanced["emailNotification"] == {"toBeNotified": True, "value": "a@b.fi"}
    assert advanced["smsNotification"] == {"toBeNotified": False, "value": "+358401"}
    assert advanced["telephoneNotification"] == {"toBeNotified": False, "value": "+35892"}


def test_order_notifications_are_off_when_the_order_says_so() -> None:
    body = _order_body(_order())
    assert body["emailNotification"] == {"toBeNotified": False}
    assert body["smsNotification"] == {"toBeNotified": False}


def test_order_sms_falls_back_to_the_phone() -> None:
    body = _order_body(_order(customer=Customer(name="X", phone="+35891"), notify_by_sms=True))
    assert body["smsNotification"] == {"toBeNotified": True, "value": "+35891"}


def test_order_consignee_is_one_address_block() -> None:
    customer = Customer(name="Testi Oy", customer_number="C-9", erp_key="nv-c-9",
                        organisation_number="1234567-8", address=Address(
                            name="Testi Oy / Varasto", address1="Katu 1", address2="B-rappu",
                            post_code="00100", city="Helsinki", country_code="FI"))
    consignee = _order_body(_order(customer=customer))["consignee"]
    assert consignee == {
        "customerNumber": "C-9", "name": "Testi Oy / Varasto", "address1": "Katu 1",
        "address2": "B-rappu", "postCode": "00100", "city": "Helsinki", "countryCode": "FI",
        "organisationNumber": "1234567-8",
        "advanced": {"externalCustomerCode": "nv-c-9",
                     "emailNotification": {"toBeNotified": False},
                     "smsNotification": {"toBeNotified": False},
                     "telephoneNotification": {"toBeNotified": False}},
    }


def test_order_consignee_name_falls_back_to_the_customer() -> None:
    customer = Customer(name="Testi Oy", address=Address(address1="Katu 1"))
    assert _order_body(_order(customer=customer))["consignee"]["name"] == "Testi Oy"


def test_order_line_identity_quantity_and_comment() -> None:
    line = OrderLine(external_line_key="9876", article_number="A-1", quantity=Decimal("2.5"),
                     comment="Gift wrap", article_name="Kahvi", article_erp_key="77")
    (sent,) = _order_body(_order(lines=(line,)))["orderLines"]
    assert sent == {"rowNumber": "9876", "articleNumber": "A-1", "numberOfItems": Decimal("2.5"),
                    "externalId": "9876", "comment": "Gift wrap"}


def test_order_line_prices_discount_and_currency() -> None:
    line = OrderLine(external_line_key="L1", article_number="A-1", quantity=Decimal(3),
                     line_price=Decimal("30.00"), customer_line_price=Decimal("27.00"),
                     discount_percent=Decimal(10), currency="SEK", vat_percent=Decimal(25))
    (sent,) = _order_body(_order(lines=(line,), currency="EUR"))["orderLines"]
    assert sent["prices"] == {"linePrice": Decimal("30.00"), "customerLinePrice": Decimal("27.00"),
                              "discountPercentage": Decimal(10), "currencyCode": "SEK"}
    assert sent["vat"] == {"percent": Decimal(25)}


def test_order_line_price_from_unit_price_and_order_currency() -> None:
    line = OrderLine(external_line_key="L1", article_number="A-1", quantity=Decimal(3),
                     unit_price=Decimal("1.10"))
    (sent,) = _order_body(_order(lines=(line,), currency="NOK"))["orderLines"]
    assert sent["prices"] == {"linePrice": Decimal("3.30"), "currencyCode": "NOK"}


def test_order_line_customs_value() -> None:
    line = OrderLine(external_line_key="L1", article_number="A-1", quantity=Decimal(1),
                     customs_value=Decimal("12.40"))
    body = _order_body(_order(lines=(line,), currency="EUR"))
    assert body["orderLines"][0]["lineTotalCustomsValue"] == Decimal("12.40")
    assert body["customsInfo"] == {"customsValueCurrencyCode": "EUR"}
    assert "customsInfo" not in _order_body(_order())


def test_order_text_lines() -> None:
    body = _order_body(_order(text_lines=(OrderTextLine(external_line_key="T7", text="Hauras"),)))
    assert body["advanced"]["orderTextLines"] == [
        {"rowNumber": "T7", "comment": "Hauras", "numberOfItems": Decimal(1)}]


# --- purchase orders ---------------------------------------------------------------------------


def _purchase_order(**changes: Any) -> PurchaseOrder:
    fields: dict[str, Any] = {
        "order_number": "PO-1", "erp_key": "nv-po-1",
        "rows": (PurchaseOrderRow(row_key="r-55", row_number=1, article_number="A-1",
                                  quantity=Decimal(10)),),
    }
    fields.update(changes)
    return PurchaseOrder(**fields)


def _po_body(purchase_order: PurchaseOrder) -> dict[str, Any]:
    return mapping.purchase_order_body(purchase_order, goods_owner_id=OWNER)


def test_purchase_order_header() -> None:
    body = _po_body(_purchase_order(reference="Matti", comment="Kiireellinen",
                                    order_date=date(2024, 5, 1),
                                    delivery_date=date(2024, 5, 20)))
    assert {k: v for k, v in body.items() if k != "purchaseOrderLines"} == {
        "goodsOwnerId": OWNER, "purchaseOrderNumber": "PO-1", "goodsOwnerReference": "Matti",
        "purchaseOrderRemark": "Kiireellinen", "inDate": "2024-05-20",
        "advanced": {"orderDate": "2024-05-01"},
    }


def test_purchase_order_supplier_and_address() -> None:
    supplier = Supplier(supplier_number="S1", erp_key="s1", name="Tukku Oy", phone="+3589",
                        email="t@tukku.fi", address=Address(
                            address1="Tie 2", address2="PL 5", post_code="00200",
                            city="Espoo", country_code="FI"))
    assert _po_body(_purchase_order(supplier=supplier))["supplierInfo"] == {
        "supplierNumber": "S1", "supplierName": "Tukku Oy",
        "supplierAddress": {"name": "Tukku Oy", "address": "Tie 2", "address2": "PL 5",
                            "postCode": "00200", "city": "Espoo", "countryCode": "FI",
                            "telePhone": "+3589", "email": "t@tukku.fi"},
    }


def test_purchase_order_lines_carry_the_erp_row_key() -> None:
    (line,) = _po_body(_purchase_order())["purchaseOrderLines"]
    assert line == {"rowNumber": "r-55", "externalOrderLineId": "r-55", "articleNumber": "A-1",
                    "numberOfItems": Decimal(10)}


def test_purchase_order_line_price_and_currency() -> None:
    row = PurchaseOrderRow(row_key="r-1", article_number="A-1", quantity=Decimal(2),
                           price=Decimal("3.50"))
    (line,) = _po_body(_purchase_order(rows=(row,), currency="SEK"))["purchaseOrderLines"]
    assert (line["rowPrice"], line["currencyCode"]) == (Decimal("3.50"), "SEK")


# --- JSON both ways ----------------------------------------------------------------------------


def test_json_numbers_are_written_exactly() -> None:
    text = encode_json({"a": Decimal("0.1"), "b": Decimal("1E+2"), "c": [Decimal("-0.000"), 3],
                        "d": "Å", "e": None, "f": True})
    assert text == '{"a":0.1,"b":100,"c":[-0.000,3],"d":"Å","e":null,"f":true}'.encode()
    assert parse(text.decode())["a"] == Decimal("0.1")


def test_json_refuses_floats() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        encode_json({"weight": 1.5})


def test_answers_are_read_with_decimals() -> None:
    response = httpx.Response(200, content=b'\xef\xbb\xbf{"numberOfItems": 0.1, "id": 3}')
    assert _json(response) == {"numberOfItems": Decimal("0.1"), "id": 3}


def test_an_answer_that_is_not_json_is_response_invalid() -> None:
    response = httpx.Response(200, content=b"<html>oops</html>",
                              request=httpx.Request("GET", "https://x.test/orders"))
    with pytest.raises(ResponseInvalid):
        _json(response)


# --- deliveries ------------------------------------------------------------------------------

# v1/Order/Get an order (GET request)/GET response - order with many fields.js, trimmed.
ORDER = parse("""{
  "goodsOwner": {"id": 159, "name": "REST example"},
  "orderInfo": {
    "orderId": 50163, "orderNumber": "O1231234", "goodsOwnerOrderId": "KL33334",
    "wayOfDelivery": {"code": "SHP1", "name": "Shipment way 1"},
    "deliveryDate": "2019-10-10", "createdDate": "2019-10-10T09:03:49.437Z",
    "shippedTime": "2019-10-10T09:05:47.127Z", "wayBill": "UA65456546",
    "orderStatus": {"number": 500, "text": "Hämtad"}
  },
  "orderLines": [
    {
      "id": 48838, "rowNumber": "1",
      "article": {"articleSystemId": 18069, "articleNumber": "1009", "articleName": ""},
      "orderedNumberOfItems": 2.0, "allocatedNumberOfItems": 2.0, "pickedNumberOfItems": 2.0,
      "reportedNumberOfItems": null, "shouldBePicked": true,
      "pickedArticleItems": [{"numberOfItems": 2.0, "pickedTime": "2019-10-10T09:05:41.25Z"}]
    }
  ]
}""")


def _order_json(status: int = 450, lines: list[tuple[str, str, str, str | None]] | None = None
                ) -> dict[str, Any]:
    """An order with lines (key, ordered, picked, reported)."""
    order: dict[str, Any] = copy.deepcopy(ORDER)
    order["orderInfo"]["orderStatus"] = {"number": status, "text": "Skickad"}
    rows = lines or [("L1", "10", "8", None)]
    order["orderLines"] = [
        {"id": 100 + n, "rowNumber": key, "externalId": key,
         "article": {"articleSystemId": 7, "articleNumber": "A-1"},
         "orderedNumberOfItems": parse(ordered), "pickedNumberOfItems": parse(picked),
         "reportedNumberOfItems": None if reported is None else parse(reported),
         "shouldBePicked": True}
        for n, (key, ordered, picked, reported) in enumerate(rows)
    ]
    return order


DELIVERED = frozenset({450, 500})


def test_delivery_from_the_vendor_example() -> None:
    delivery = mapping.delivery_of(ORDER, delivered_statuses=DELIVERED, now=NOW)
    assert delivery is not None
    assert delivery.event_id.startswith("ongoing:order:50163:")
    assert (delivery.order_number, delivery.erp_key, delivery.status) == (
        "O1231234", "KL33334", DeliveryStatus.COLLECTED)
    assert delivery.occurred_at == datetime(2019, 10, 10, 9, 5, 47, 127000, tzinfo=UTC)
    assert (delivery.complete, delivery.tracking_number, delivery.way_of_delivery) == (
        True, "UA65456546", "SHP1")
    (line,) = delivery.lines
    # The example order has no externalId: the row number (which the plugin sets to the ERP's
    # line key) stands in.
    assert (line.external_line_key, line.article_number) == ("1", "1009")
    assert (line.delivered_quantity, line.total_delivered_quantity, line.ordered_quantity) == (
        Decimal(2), Decimal(2), Decimal(2))


def test_delivery_status_is_read_from_the_number_never_the_text() -> None:
    sent = mapping.delivery_of(_order_json(450), delivered_statuses=DELIVERED, now=NOW)
    assert sent is not None and sent.status is DeliveryStatus.SENT
    picked = _order_json(400)
    picked["orderInfo"]["orderStatus"]["text"] = "Sent"
    assert mapping.delivery_of(picked, delivered_statuses=DELIVERED, now=NOW) is None


def test_a_partial_pick_then_the_rest_are_two_deliveries() -> None:
    first = mapping.delivery_of(_order_json(lines=[("L1", "10", "8", None)]),
                                delivered_statuses=DELIVERED, now=NOW)
    assert first is not None and not first.complete
    (line,) = first.lines
    assert (line.delivered_quantity, line.total_delivered_quantity) == (Decimal(8), Decimal(8))
    marked = _order_json(lines=[("L1", "10", "8", "8")])
    assert mapping.delivery_of(marked, delivered_statuses=DELIVERED, now=NOW) is None
    second = mapping.delivery_of(_order_json(lines=[("L1", "10", "10", "8")]),
                                 delivered_statuses=DELIVERED, now=NOW)
    assert second is not None and second.complete
    assert second.event_id != first.event_id
    (rest,) = second.lines
    assert (rest.delivered_quantity, rest.total_delivered_quantity) == (Decimal(2), Decimal(10))


def test_only_lines_with_something_to_report_are_delivered() -> None:
    order = _order_json(lines=[("L1", "2", "2", "2"), ("L2", "3", "3", None)])
    delivery = mapping.delivery_of(order, delivered_statuses=DELIVERED, now=NOW)
    assert delivery is not None
    assert [line.external_line_key for line in delivery.lines] == ["L2"]


def test_a_line_not_to_be_picked_does_not_hold_the_order_open() -> None:
    order = _order_json(lines=[("L1", "2", "2", None), ("L2", "1", "0", None)])
    order["orderLines"][1]["shouldBePicked"] = False
    delivery = mapping.delivery_of(order, delivered_statuses=DELIVERED, now=NOW)
    assert delivery is not None and delivery.complete


def test_delivery_event_id_is_stable_until_marked() -> None:
    one = mapping.delivery_of(_order_json(lines=[("L1", "10", "8", None)]),
                              delivered_statuses=DELIVERED, now=NOW)
    again = mapping.delivery_of(_order_json(lines=[("L1", "10", "8.000", "0")]),
                                delivered_statuses=DELIVERED, now=NOW + timedelta(hours=1))
    assert one is not None and again is not None
    assert again.event_id == one.event_id  # the spelling of 8 and the clock do not matter


def test_delivery_event_id_changes_with_any_new_pick() -> None:
    before = mapping.delivery_of(_order_json(lines=[("L1", "4", "4", None), ("L2", "4", "1",
                                                                              None)]),
                                 delivered_statuses=DELIVERED, now=NOW)
    after = mapping.delivery_of(_order_json(lines=[("L1", "4", "4", None), ("L2", "4", "2",
                                                                             None)]),
                                delivered_statuses=DELIVERED, now=NOW)
    assert before is not None and after is not None
    assert before.event_id != after.event_id


def test_delivery_time_falls_back_to_the_last_pick() -> None:
    order = copy.deepcopy(ORDER)
    del order["orderInfo"]["shippedTime"]
    delivery = mapping.delivery_of(order, delivered_statuses=DELIVERED, now=NOW)
    assert delivery is not None
    assert delivery.occurred_at == datetime(2019, 10, 10, 9, 5, 41, 250000, tzinfo=UTC)


def test_a_malformed_order_is_response_invalid() -> None:
    order = copy.deepcopy(ORDER)
    order["orderLines"][0]["pickedNumberOfItems"] = "many"
    with pytest.raises(ResponseInvalid, match="pickedNumberOfItems"):
        mapping.delivery_of(order, delivered_statuses=DELIVERED, now=NOW)


def test_marking_a_delivery_never_lowers_what_was_reported() -> None:
    order = _order_json(lines=[("L1", "10", "10", "8"), ("L2", "5", "5", "5")])
    updates, missing = mapping.line_updates(
        order, "orderLines", "externalId",
        {"L1": Decimal(10), "L2": Decimal(4), "gone": Decimal(1)}, where="order O1")
    assert updates == [(100, Decimal(10))]
    assert missing == ["gone"]


# --- receipts ----------------------------------------------------------------------------------

# v1/Purchase order/Get a purchase order (GET request)/GET response - purchase order with many
# fields.js, trimmed.
PURCHASE_ORDER = parse("""{
  "goodsOwner": {"id": 159, "name": "REST example"},
  "supplierInfo": {"supplierNumber": "SUP3", "supplierName": "Supplier No. 3, Inc"},
  "purchaseOrderInfo": {
    "purchaseOrderId": 247, "purchaseOrderNumber": "PO1213534",
    "purchaseOrderStatus": {"number": 400, "text": "Avvikelse"}, "inDate": "2019-11-01"
  },
  "purchaseOrderLines": [
    {"id": 555, "rowNumber": "1", "article": {"articleSystemId": 18071, "articleNumber": "CK2"},
     "advisedNumberOfItems": 2.0, "receivedNumberOfItems": 2.0, "reportedNumberOfItems": null,
     "articleItems": [{"numberOfItems": 1.0, "inDate": "2019-10-10T09:15:42.527Z"},
                      {"numberOfItems": 1.0, "inDate": "2019-10-10T09:15:45.9Z"}]},
    {"id": 556, "rowNumber": "2", "article": {"articleSystemId": 18072, "articleNumber": "CK5"},
     "advisedNumberOfItems": 10.0, "receivedNumberOfItems": 7.0, "reportedNumberOfItems": null,
     "articleItems": [{"numberOfItems": 7.0, "inDate": "2019-10-10T09:15:53.23Z"}]}
  ]
}""")
COMPLETE = frozenset({400, 500})


def _po_json(status: int, received: str, reported: str | None) -> dict[str, Any]:
    purchase_order: dict[str, Any] = copy.deepcopy(PURCHASE_ORDER)
    purchase_order["purchaseOrderInfo"]["purchaseOrderStatus"] = {"number": status, "text": "x"}
    line = purchase_order["purchaseOrderLines"][1]
    line["externalOrderLineId"] = "r-2"
    line["receivedNumberOfItems"] = parse(received)
    line["reportedNumberOfItems"] = None if reported is None else parse(reported)
    purchase_order["purchaseOrderLines"][0]["reportedNumberOfItems"] = Decimal(2)
    return purchase_order


def test_receipt_from_the_vendor_example() -> None:
    receipt = mapping.receipt_of(PURCHASE_ORDER, complete_statuses=COMPLETE, now=NOW)
    assert receipt is not None
    assert receipt.event_id.startswith("ongoing:purchase-order:247:")
    assert (receipt.purchase_order_number, receipt.complete) == ("PO1213534", True)
    assert receipt.occurred_at == datetime(2019, 10, 10, 9, 15, 53, 230000, tzinfo=UTC)
    assert [(r.row_key, r.article_number, r.received_quantity, r.total_received_quantity,
             r.ordered_quantity) for r in receipt.rows] == [
        ("1", "CK2", Decimal(2), Decimal(2), Decimal(2)),
        ("2", "CK5", Decimal(7), Decimal(7), Decimal(10)),
    ]


def test_a_partial_receipt_then_the_rest_are_two_receipts() -> None:
    first = mapping.receipt_of(_po_json(300, "6", None), complete_statuses=COMPLETE, now=NOW)
    assert first is not None and not first.complete
    (row,) = first.rows
    assert (row.row_key, row.received_quantity, row.total_received_quantity) == (
        "r-2", Decimal(6), Decimal(6))
    assert mapping.receipt_of(_po_json(300, "6", "6"), complete_statuses=COMPLETE,
                              now=NOW) is None
    second = mapping.receipt_of(_po_json(500, "9", "6"), complete_statuses=COMPLETE, now=NOW)
    assert second is not None and second.complete and second.event_id != first.event_id
    (rest,) = second.rows
    assert (rest.received_quantity, rest.total_received_quantity) == (Decimal(3), Decimal(9))


def test_receipt_event_id_is_stable_until_marked() -> None:
    one = mapping.receipt_of(_po_json(300, "6", None), complete_statuses=COMPLETE, now=NOW)
    two = mapping.receipt_of(_po_json(300, "6.0", "0"), complete_statuses=COMPLETE, now=NOW)
    assert one is not None and two is not None and one.event_id == two.event_id


def test_a_purchase_order_closed_without_new_goods_is_a_completion() -> None:
    closed = _po_json(400, "6", "6")
    assert mapping.receipt_of(closed, complete_statuses=COMPLETE, now=NOW) is None
    receipt = mapping.receipt_of(closed, complete_statuses=COMPLETE, now=NOW, completion=True)
    assert receipt is not None and receipt.complete
    assert [(r.row_key, r.received_quantity, r.total_received_quantity) for r in
            receipt.rows] == [("1", Decimal(0), Decimal(2)), ("r-2", Decimal(0), Decimal(6))]
    still_open = _po_json(300, "6", "6")
    assert mapping.receipt_of(still_open, complete_statuses=COMPLETE, now=NOW,
                              completion=True) is None


def test_a_completion_has_the_id_of_a_complete_receipt_of_the_same_totals() -> None:
    complete = mapping.receipt_of(_po_json(500, "6", None), complete_statuses=COMPLETE, now=NOW)
    completion = mapping.receipt_of(_po_json(500, "6", "6"), complete_statuses=COMPLETE,
                                    now=NOW, completion=True)
    assert complete is not None and completion is not None
    assert completion.event_id == complete.event_id


def test_marking_a_receipt_uses_the_erp_row_key() -> None:
    updates, missing = mapping.line_updates(
        _po_json(300, "6", None), "purchaseOrderLines", "externalOrderLineId",
        {"r-2": Decimal(6), "1": Decimal(2)}, where="purchase order PO1")
    assert (updates, missing) == ([(556, Decimal(6))], [])


# --- inventory adjustments -----------------------------------------------------------------

# v1/Inventory adjustments/GET inventory adjustments - response.js, trimmed.
ADJUSTMENTS = parse("""[
  {"article": {"articleSystemId": 18068, "articleNumber": "TestArticleNumber_ManyFields1"},
   "inventoryAdjustments": [
     {"inventoryId": 107, "numberOfItems": -2.0, "inventoryTime": "2019-10-10T09:19:41.597Z",
      "articleItemComment": "", "inventoryItemComment": "Dropped on floor",
      "inventoryAdjustmentCause": null, "location": "A15"}]},
  {"article": {"articleSystemId": 18067, "articleNumber": "TestArticleNumber1"},
   "inventoryAdjustments": [
     {"inventoryId": 108, "numberOfItems": 3.0, "inventoryTime": "2019-10-10T09:20:00.57Z",
      "articleItemComment": "Found in corner", "inventoryItemComment": "Found in corner",
      "inventoryAdjustmentCause": {"code": "FOUND", "name": "Found goods"},
      "warehouse": {"id": 1, "code": "MAIN", "name": "Main warehouse"}}]}
]""")


def test_adjustments_from_the_vendor_example_signed_and_oldest_first() -> None:
    first, second = mapping.adjustments_of(ADJUSTMENTS)
    assert (first.event_id, first.article_number, first.quantity, first.cause,
            first.warehouse) == ("ongoing:inventory:107:article:18068",
                                 "TestArticleNumber_ManyFields1", Decimal(-2),
                                 "Dropped on floor", None)
    assert first.occurred_at == datetime(2019, 10, 10, 9, 19, 41, 597000, tzinfo=UTC)
    assert (second.event_id, second.quantity, second.cause, second.warehouse) == (
        "ongoing:inventory:108:article:18067", Decimal(3), "Found goods", "MAIN")


def test_adjustments_of_one_article_in_one_inventory_are_one_event() -> None:
    lines = copy.deepcopy(ADJUSTMENTS)
    items = lines[0]["inventoryAdjustments"]
    items.append({**items[0], "numberOfItems": Decimal("-0.5"),
                  "inventoryTime": "2019-10-10T09:30:00Z"})
    found, latest = mapping.adjustments_of(lines)  # oldest first: this one is now the latest
    assert [found.event_id, latest.event_id] == [
        "ongoing:inventory:108:article:18067", "ongoing:inventory:107:article:18068"]
    assert latest.quantity == Decimal("-2.5")
    assert latest.occurred_at == datetime(2019, 10, 10, 9, 30, tzinfo=UTC)


def test_an_adjustment_that_sums_to_zero_is_left_out() -> None:
    lines = copy.deepcopy(ADJUSTMENTS)
    items = lines[0]["inventoryAdjustments"]
    items.append({**items[0], "numberOfItems": Decimal(2)})
    assert [a.event_id for a in mapping.adjustments_of(lines)] == [
        "ongoing:inventory:108:article:18067"]


def test_adjustments_since() -> None:
    since = datetime(2019, 10, 10, 9, 20, tzinfo=UTC)
    assert [a.quantity for a in mapping.adjustments_of(ADJUSTMENTS, since=since)] == [Decimal(3)]


def test_event_ids_carry_the_wms_ids() -> None:
    assert mapping.event_wms_ids("ongoing:inventory:107:article:18068") == (
        "inventory", 107, 18068)
    assert mapping.event_wms_ids("ongoing:order:50163:0123456789abcdef") == (
        "order", 50163, None)
    with pytest.raises(ValueError, match="not an Ongoing WMS event id"):
        mapping.event_wms_ids("delivery:1001:abc")


# --- stock balances ------------------------------------------------------------------------

# v1/Article/Get an article (GET request)/GET response - example article with many fields.js
ARTICLE = parse("""{
  "articleSystemId": 18068, "articleNumber": "TestArticleNumber_ManyFields1",
  "isStockArticle": true,
  "inventoryInfo": {"numberOfItems": 11.0, "numberOfBookedItems": 3.0,
                    "numberOfLockedItems": 0.0, "lastInDate": "2019-10-10T08:32:53.083Z"}
}""")


def test_stock_physical() -> None:
    balance = mapping.balance_of(ARTICLE, quantity="physical", as_of=NOW)
    assert balance is not None
    assert (balance.article_number, balance.quantity, balance.as_of) == (
        "TestArticleNumber_ManyFields1", Decimal(11), NOW)


def test_stock_sellable() -> None:
    article = copy.deepcopy(ARTICLE)
    article["inventoryInfo"]["sellableNumberOfItems"] = Decimal("-1.5")
    balance = mapping.balance_of(article, quantity="sellable", as_of=NOW)
    assert balance is not None and balance.quantity == Decimal("-1.5")


def test_stock_sellable_without_the_field_is_physical_less_booked() -> None:
    balance = mapping.balance_of(ARTICLE, quantity="sellable", as_of=NOW)
    assert balance is not None and balance.quantity == Decimal(8)


def test_no_balance_for_an_article_kept_without_stock() -> None:
    article = {**ARTICLE, "isStockArticle": False}
    assert mapping.balance_of(article, quantity="physical", as_of=NOW) is None


# --- settings ------------------------------------------------------------------------------


def _settings(**changes: Any) -> OngoingSettings:
    fields: dict[str, Any] = {
        "base_url": "https://api.ongoingsystems.se/demo/api/v1/", "username": "api-user",
        "password": SecretStr("not-a-real-password"), "goods_owner_id": 159,
    }
    fields.update(changes)
    return OngoingSettings(**fields)


def test_settings_defaults() -> None:
    settings = _settings()
    assert settings.base_url == "https://api.ongoingsystems.se/demo/api/v1"
    assert settings.editable_order_statuses == {150, 200}
    assert settings.delivered_order_statuses == {450, 500}
    assert settings.editable_purchase_order_statuses == {100}
    assert settings.complete_purchase_order_statuses == {400, 500}
    assert (settings.stock_quantity, settings.length_unit, settings.page_size) == (
        "sellable", LengthUnit.METRE, 500)


@pytest.mark.parametrize("url", ["http://localhost:8000/api/v1", "http://127.0.0.1/x/api/v1"])
def test_settings_accept_plain_http_only_on_this_machine(url: str) -> None:
    assert _settings(base_url=url).base_url == url


@pytest.mark.parametrize("url", ["http://api.ongoingsystems.se/demo/api/v1", "ftp://x/api",
                                 "https://user:pw@api.ongoingsystems.se/x", "not a url"])
def test_settings_refuse_other_urls(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        _settings(base_url=url)


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="warehouse"):
        _settings(warehouse="demo")

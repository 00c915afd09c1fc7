"""Fortnox JSON <-> canonical records: a test per field of seed 002's lists, with the readings
of SEED-READINGS 002 (Description is the name, Note the description; mm and g with their units;
country names mapped to ISO codes, an unknown one refused), and the write-back bodies (every
order row kept, incoming goods, custom documents)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from erpsync_fortnox import mapping

from erpsync.models import (
    Address,
    CodeName,
    CustomerType,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    InventoryAdjustment,
    LengthUnit,
    Receipt,
    ReceiptRow,
    WeightUnit,
)

NOW = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)


def article(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ArticleNumber": "KAFFE-1", "Description": "Kaffe Mörkrost 500 g", "EAN": "7310000000017",
        "Width": "120", "Height": Decimal("200"), "Depth": 80, "Weight": "510",
        "StockGoods": True, "PurchasePrice": "41.50", "Unit": "st",
        "Note": "Ekologiskt, från Åre", "SupplierNumber": "7", "SupplierName": "Rosteriet AB",
        "Active": True,
    }
    return base | fields


def order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "DocumentNumber": "1001", "Remarks": "Lämna vid dörren", "TermsOfDelivery": "FVL",
        "TermsOfPayment": "30", "YourOrderNumber": "PO-77", "Total": "1250.00",
        "Language": "SV", "OurReference": "Åsa Säljare", "YourReference": "Örjan Köpare",
        "DeliveryDate": "2024-05-20", "WayOfDelivery": "P", "OrderDate": "2024-05-17",
        "Currency": "SEK", "Cancelled": False,
        "CustomerNumber": "10", "CustomerName": "Kafé Ärlig AB",
        "Address1": "Fakturagatan 1", "Address2": "", "ZipCode": "111 22", "City": "Stockholm",
        "Country": "Sverige",
        "DeliveryName": "Kafé Ärlig Lager", "DeliveryAddress1": "Lagervägen 5",
        "DeliveryAddress2": "Port 3", "DeliveryZipCode": "831 30", "DeliveryCity": "Östersund",
        "DeliveryCountry": "Sverige",
        "Phone1": "070-1234567", "Phone2": "063-123456", "OrganisationNumber": "556677-8899",
        "EmailInformation": {"EmailAddressTo": "order@arlig.example"},
        "OrderRows": [
            {"RowId": 501, "ArticleNumber": "KAFFE-1", "Description": "Kaffe Mörkrost",
             "OrderedQuantity": "3.00", "DeliveredQuantity": "0", "Price": "100.00",
             "Total": "270.00", "Discount": "10", "DiscountType": "PERCENT", "Unit": "st",
             "VAT": 12},
            {"RowId": 502, "Description": "Tack för beställningen!"},
            {"RowId": 503, "ArticleNumber": "TE-2", "Description": "Te Grönt",
             "OrderedQuantity": "2", "DeliveredQuantity": "0", "Price": Decimal("50"),
             "Total": "100.00", "VAT": 12},
        ],
    }
    return base | fields


def to_order(data: dict[str, Any] | None = None, customer: dict[str, Any] | None = None,
             **switches: bool) -> Any:
    result, _ = mapping.to_order(order() if data is None else data, customer, **switches)
    return result


# --- articles ----------------------------------------------------------------------------------


def test_article_name_is_the_description_field() -> None:
    assert mapping.to_article(article()).name == "Kaffe Mörkrost 500 g"


def test_article_number_is_the_key_too() -> None:
    result = mapping.to_article(article())
    assert (result.article_number, result.erp_key) == ("KAFFE-1", "KAFFE-1")


def test_article_ean_is_the_barcode() -> None:
    assert mapping.to_article(article()).barcode == "7310000000017"


@pytest.mark.parametrize(("field", "attribute", "value"), [
    ("Width", "width", Decimal(120)),
    ("Height", "height", Decimal(200)),
    ("Depth", "length", Decimal(80)),
])
def test_article_dimensions_arrive_in_millimetres(field: str, attribute: str,
                                                  value: Decimal) -> None:
    length = getattr(mapping.to_article(article()).dimensions, attribute)
    assert (length.value, length.unit) == (value, LengthUnit.MILLIMETRE)
    assert length.to(LengthUnit.METRE).value == value / 1000


def test_a_zero_dimension_is_not_given() -> None:
    assert mapping.to_article(article(Width="0", Depth=None)).dimensions.width is None
    assert mapping.to_article(article(Depth=None)).dimensions.length is None


def test_article_weight_arrives_in_grams() -> None:
    weight = mapping.to_article(article()).gross_weight
    assert weight is not None
    assert (weight.value, weight.unit) == (Decimal(510), WeightUnit.GRAM)
    assert weight.to(WeightUnit.KILOGRAM).value == Decimal("0.51")


@pytest.mark.parametrize(("stock_goods", "expected"), [(True, True), (False, False),
                                                      (None, False)])
def test_stock_article_follows_lagervara(stock_goods: bool | None, expected: bool) -> None:
    assert mapping.to_article(article(StockGoods=stock_goods)).is_stock_article is expected


def test_article_purchase_price_is_a_decimal_from_a_string() -> None:
    assert mapping.to_article(article()).purchase_price == Decimal("41.50")


def test_article_unit() -> None:
    assert mapping.to_article(article()).unit == "st"


def test_article_description_is_the_note() -> None:
    assert mapping.to_article(article()).description == "Ekologiskt, från Åre"


def test_article_supplier() -> None:
    supplier = mapping.to_article(article()).supplier
    assert supplier is not None
    assert (supplier.supplier_number, supplier.name) == ("7", "Rosteriet AB")
    assert mapping.to_article(article(SupplierNumber="")).supplier is None


def test_an_inactive_article_is_yielded_inactive() -> None:
    assert mapping.to_article(article(Active=False)).is_active is False


def test_an_unreadable_number_names_the_field() -> None:
    with pytest.raises(ValueError, match="PurchasePrice"):
        mapping.to_article(article(PurchasePrice="12,50 kr"))


# --- suppliers ---------------------------------------------------------------------------------


def test_supplier_fields() -> None:
    supplier = mapping.to_supplier({
        "SupplierNumber": "7", "Name": "Rosteriet AB", "Address1": "Bryggvägen 1",
        "Address2": "Box 4", "ZipCode": "123 45", "City": "Göteborg", "CountryCode": "se",
        "Phone1": "031-11 22 33", "Email": "info@rosteriet.example"})
    assert (supplier.supplier_number, supplier.erp_key, supplier.name) == (
        "7", "7", "Rosteriet AB")
    assert supplier.address == Address(name="Rosteriet AB", address1="Bryggvägen 1",
                                       address2="Box 4", post_code="123 45", city="Göteborg",
                                       country_code="SE")
    assert (supplier.phone, supplier.email) == ("031-11 22 33", "info@rosteriet.example")


def test_a_supplier_with_only_a_country_name_gets_its_code() -> None:
    supplier = mapping.to_supplier({"SupplierNumber": "8", "Name": "Kaffe Oy",
                                    "Country": "Finland"})
    assert supplier.address.country_code == "FI"


# --- sales orders -------------------------------------------------------------------------------


def test_document_number_is_the_order_number_and_key() -> None:
    result = to_order()
    assert (result.order_number, result.erp_key) == ("1001", "1001")


def test_remarks() -> None:
    assert to_order().comment == "Lämna vid dörren"


def test_terms_of_delivery_and_payment_and_way_of_delivery_are_codes() -> None:
    result = to_order()
    assert result.terms_of_delivery == CodeName(code="FVL")
    assert result.terms_of_payment == CodeName(code="30")
    assert result.way_of_delivery == CodeName(code="P")


def test_your_order_number() -> None:
    assert to_order().customer_order_number == "PO-77"


def test_total_price_is_a_decimal() -> None:
    assert to_order().total_price == Decimal("1250.00")


def test_language() -> None:
    assert to_order().language == "SV"


def test_our_and_your_reference() -> None:
    result = to_order()
    assert (result.reference, result.customer_reference) == ("Åsa Säljare", "Örjan Köpare")


def test_delivery_and_order_date() -> None:
    result = to_order()
    assert (result.delivery_date, result.order_date) == (date(2024, 5, 20), date(2024, 5, 17))


def test_currency() -> None:
    assert to_order().currency == "SEK"


def test_delivery_address_block_with_country_name_mapped() -> None:
    assert to_order().customer.address == Address(
        name="Kafé Ärlig Lager", address1="Lagervägen 5", address2="Port 3",
        post_code="831 30", city="Östersund", country_code="SE")


def test_without_a_delivery_address_the_invoice_address_goes_whole() -> None:
    bare = order(DeliveryName="", DeliveryAddress1="", DeliveryAddress2=None,
                 DeliveryZipCode="", DeliveryCity="", DeliveryCountry="")
    assert to_order(bare).customer.address == Address(
        name="Kafé Ärlig AB", address1="Fakturagatan 1", post_code="111 22",
        city="Stockholm", country_code="SE")


@pytest.mark.parametrize(("name", "code"), [("Sverige", "SE"), ("NORGE", "NO"),
                                            ("Danmark", "DK"), ("Tyskland", "DE"),
                                            ("Finland", "FI"), (" Österrike ", "AT"),
                                            ("United Kingdom", "GB"), ("se", "SE")])
def test_country_names_map_to_iso_codes(name: str, code: str) -> None:
    assert mapping.country_code(name) == code


def test_an_unknown_country_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'Atlantis'"):
        to_order(order(DeliveryCountry="Atlantis"))
    assert mapping.country_code("") is None


def test_iso_codes_map_back_to_fortnox_names() -> None:
    assert [mapping.country_name(c) for c in ("SE", "no", "FI")] == ["Sverige", "Norge",
                                                                      "Finland"]
    with pytest.raises(ValueError, match="ZZ"):
        mapping.country_name("ZZ")


def test_customer_number_phones_and_organisation_number() -> None:
    customer = to_order().customer
    assert (customer.customer_number, customer.phone, customer.phone2,
            customer.organisation_number) == ("10", "070-1234567", "063-123456",
                                              "556677-8899")
    assert customer.name == "Kafé Ärlig Lager"


def test_notifications_are_off_unless_switched_on() -> None:
    quiet = to_order()
    assert (quiet.notify_by_email, quiet.notify_by_sms) == (False, False)
    loud = to_order(notify_by_email=True, notify_by_sms=True)
    assert (loud.notify_by_email, loud.notify_by_sms) == (True, True)
    assert loud.customer.email == "order@arlig.example"
    assert loud.customer.mobile == "070-1234567"


@pytest.mark.parametrize(("kind", "expected"), [("COMPANY", CustomerType.BUSINESS),
                                                ("PRIVATE", CustomerType.CONSUMER)])
def test_order_type_from_the_customer_type(kind: str, expected: CustomerType) -> None:
    assert to_order(customer={"CustomerNumber": "10", "Type": kind}).order_type == expected
    assert to_order().order_type is None, "no customer read: no order type"


def test_a_cancelled_order_is_passed_on_cancelled() -> None:
    assert to_order(order(Cancelled=True)).cancelled is True


def test_rows_article_number_description_quantity_and_price_total() -> None:
    first, second = to_order().lines
    assert (first.external_line_key, first.article_number, first.article_name,
            first.quantity) == ("1", "KAFFE-1", "Kaffe Mörkrost", Decimal(3))
    assert first.customer_line_price == Decimal("270.00"), "Total: after the row's discount"
    assert (first.unit_price, first.line_price) == (Decimal(100), Decimal(300))
    assert (second.external_line_key, second.article_number, second.quantity) == (
        "3", "TE-2", Decimal(2)), "keys are positions: the text row keeps its place"


def test_a_row_without_an_article_is_a_text_line() -> None:
    (text_line,) = to_order().text_lines
    assert (text_line.external_line_key, text_line.text) == ("2", "Tack för beställningen!")


def test_a_row_ordering_nothing_is_left_out_and_reported() -> None:
    rows = order()["OrderRows"] + [{"ArticleNumber": "X", "OrderedQuantity": "0"}]
    result, skipped = mapping.to_order(order(OrderRows=rows))
    assert [line.article_number for line in result.lines] == ["KAFFE-1", "TE-2"]
    assert [s.key for s in skipped] == ["4"]


# --- deliveries ----------------------------------------------------------------------------------


def delivery(*lines: tuple[str, str, str], complete: bool = True) -> Delivery:
    return Delivery(
        event_id="ongoing:order:1:abc", occurred_at=NOW, order_number="1001",
        status=DeliveryStatus.SENT, complete=complete,
        lines=tuple(DeliveryLine(external_line_key=key, article_number=number,
                                 delivered_quantity=Decimal(total),
                                 total_delivered_quantity=Decimal(total))
                    for key, number, total in lines))


def test_delivered_rows_keep_every_row_in_order_with_their_fields() -> None:
    rows = mapping.delivered_rows(order(), delivery(("1", "KAFFE-1", "2")))
    assert [row.get("ArticleNumber") for row in rows] == ["KAFFE-1", None, "TE-2"]
    assert rows[0]["DeliveredQuantity"] == "2"
    assert rows[2]["DeliveredQuantity"] == "0", "a row not delivered keeps its value"
    assert rows[1] == {"RowId": 502, "Description": "Tack för beställningen!"}, \
        "the text row is kept"
    assert [row["RowId"] for row in rows] == [501, 502, 503], "each row is updated in place"
    assert rows[0]["Discount"] == "10" and rows[0]["OrderedQuantity"] == "3.00"
    assert all("Total" not in row for row in rows), "computed fields are not sent"


def test_order_delivered_compares_the_totals() -> None:
    partial = delivery(("1", "KAFFE-1", "2"))
    assert not mapping.order_delivered(order(), partial)
    rows = order()["OrderRows"]
    rows[0] = rows[0] | {"DeliveredQuantity": "2.00"}
    assert mapping.order_delivered(order(OrderRows=rows), partial)


@pytest.mark.parametrize("line", [("9", "KAFFE-1", "1"), ("1", "TE-2", "1"),
                                  ("x", "KAFFE-1", "1")])
def test_a_line_the_order_does_not_have_is_named(line: tuple[str, str, str]) -> None:
    with pytest.raises(KeyError) as caught:
        mapping.delivered_rows(order(), delivery(line))
    assert caught.value.args == (line[0],)


# --- purchase orders -----------------------------------------------------------------------------


def purchase_order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 42, "supplierNumber": "7", "supplierName": "Rosteriet AB",
        "supplierAddress": "Bryggvägen 1", "supplierAddress2": "Box 4",
        "supplierPostCode": "123 45", "supplierCity": "Göteborg", "supplierCountryCode": "SE",
        "deliveryDate": "2024-05-24", "orderDate": "2024-05-10", "note": "Ring innan",
        "currencyCode": "SEK", "purchaseOrderState": "SENT", "purchaseType": "WAREHOUSE",
        "manuallyCompleted": False, "voided": False,
        "rows": [
            {"id": "1b0f-a", "rowNum": 1, "itemId": "KAFFE-1", "itemDescription": "Kaffe",
             "orderedQuantity": "10", "receivedQuantity": "0", "price": "40.00",
             "currencyCode": "SEK"},
            {"id": "1b0f-b", "rowNum": 2, "itemId": "TE-2", "itemDescription": "Te",
             "orderedQuantity": Decimal(5), "receivedQuantity": "2", "price": "20"},
        ],
    }
    return base | fields


def test_purchase_order_head_fields() -> None:
    result = mapping.to_purchase_order(purchase_order())
    assert (result.order_number, result.erp_key, result.delivery_date, result.comment,
            result.order_date, result.currency) == (
        "42", "42", date(2024, 5, 24), "Ring innan", date(2024, 5, 10), "SEK")


def test_purchase_order_supplier_data() -> None:
    supplier = mapping.to_purchase_order(purchase_order()).supplier
    assert supplier is not None
    assert (supplier.supplier_number, supplier.name) == ("7", "Rosteriet AB")
    assert supplier.address == Address(name="Rosteriet AB", address1="Bryggvägen 1",
                                       address2="Box 4", post_code="123 45", city="Göteborg",
                                       country_code="SE")


def test_purchase_order_rows() -> None:
    first, second = mapping.to_purchase_order(purchase_order()).rows
    assert (first.row_key, first.row_number, first.article_number, first.article_name,
            first.quantity, first.price, first.currency) == (
        "1", 1, "KAFFE-1", "Kaffe", Decimal(10), Decimal("40.00"), "SEK")
    assert (second.row_key, second.quantity, second.currency) == ("2", Decimal(5), "SEK")


def test_only_sent_warehouse_purchase_orders_are_open() -> None:
    assert mapping.is_open_warehouse_purchase_order(purchase_order())
    assert not mapping.is_open_warehouse_purchase_order(purchase_order(purchaseType="DEFAULT"))
    assert not mapping.is_open_warehouse_purchase_order(purchase_order(
        purchaseOrderState="RECEIVED"))


def receipt(*rows: tuple[str, str, str], complete: bool = False) -> Receipt:
    return Receipt(
        event_id="ongoing:purchase-order:9:abc", occurred_at=NOW, purchase_order_number="42",
        complete=complete,
        rows=tuple(ReceiptRow(row_key=key, article_number=number,
                              received_quantity=Decimal(qty),
                              total_received_quantity=Decimal(qty))
                   for key, number, qty in rows))


def test_incoming_goods_for_the_received_amount() -> None:
    document = mapping.incoming_goods(purchase_order(), receipt(
        ("1", "KAFFE-1", "4"), ("2", "TE-2", "0")), date(2024, 5, 17))
    assert document["deliveryNoteId"] == mapping.document_reference(
        "ongoing:purchase-order:9:abc")
    assert len(document["deliveryNoteId"]) <= 50
    assert (document["date"], document["supplierNumber"]) == ("2024-05-17", "7")
    (row,) = document["rows"]
    assert (row["purchaseOrderRowId"], row["purchaseOrderId"]) == ("1b0f-a", 42), \
        "the row by its uuid, the purchase order by its integer id"
    assert (row["itemId"], row["receivedQuantity"], row["orderedQuantity"],
            row["backOrderQuantity"], row["invoicedQuantity"], row["takenQuantity"]) == (
        "KAFFE-1", 4, 10, 6, 0, 4)


def test_incoming_goods_put_a_surplus_on_a_row_of_its_own() -> None:
    document = mapping.incoming_goods(purchase_order(), receipt(("2", "TE-2", "4.5")),
                                      date(2024, 5, 17))
    on_row, surplus = document["rows"]
    assert (on_row["receivedQuantity"], on_row["backOrderQuantity"],
            on_row["purchaseOrderRowId"]) == (3, 0, "1b0f-b"), "2 of 5 came before"
    assert surplus["receivedQuantity"] == 1.5 and "purchaseOrderRowId" not in surplus
    assert [row["rowOrder"] for row in document["rows"]] == [1, 2]


def test_incoming_goods_refuse_an_unknown_row() -> None:
    with pytest.raises(KeyError):
        mapping.incoming_goods(purchase_order(), receipt(("nope", "KAFFE-1", "1")),
                               date(2024, 5, 17))


# --- custom documents ---------------------------------------------------------------------------


def adjustment(quantity: str, cause: str | None = None) -> InventoryAdjustment:
    return InventoryAdjustment(event_id="ongoing:inventory:5:article:6", occurred_at=NOW,
                               article_number="KAFFE-1", quantity=Decimal(quantity),
                               cause=cause)


def test_a_positive_adjustment_is_an_inbound_inventory_document() -> None:
    document = mapping.custom_document(adjustment("3", "Inventering"), date(2024, 5, 17))
    assert (document.category, document.type) == ("inbound", "OngoingInboundInventory")
    assert document.body["rows"] == [{"rowId": 1, "itemId": "KAFFE-1", "quantity": 3}]
    assert document.id.isdigit() and len(document.id) <= 25
    assert document.id == mapping.document_id("ongoing:inventory:5:article:6"), "stable"


def test_a_negative_adjustment_is_an_outbound_inventory_document_delivered() -> None:
    document = mapping.custom_document(adjustment("-2", "Trasig"), date(2024, 5, 17))
    assert (document.category, document.type) == ("outbound", "OngoingOutboundInventory")
    assert document.body["deliveryState"] == "delivery"
    assert document.body["rows"][0]["quantity"] == 2


def test_a_return_is_an_inbound_return_document() -> None:
    document = mapping.custom_document(adjustment("1", "Retur order 1001"), date(2024, 5, 17))
    assert (document.category, document.type) == ("inbound", "OngoingInboundReturn")


# --- values -------------------------------------------------------------------------------------


def test_numbers_are_decimals_never_floats() -> None:
    body = mapping.loads(b'{"a": 0.1, "b": "2.50", "c": 3}')
    assert body["a"] == Decimal("0.1")
    assert mapping.decimal(body["b"]) == Decimal("2.50")
    assert mapping.decimal(body["c"]) == Decimal(3)
    assert mapping.decimal("") is None
    with pytest.raises(ValueError, match="x"):
        mapping.decimal("NaN", "x")

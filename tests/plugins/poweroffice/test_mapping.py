"""PowerOffice Go v2 -> canonical records: every row of seed 001's tables, with the readings of
SEED-READINGS 001 (name joining, mail address or street address per block, discount percent)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from erpsync_poweroffice import mapping

from erpsync.models import Address, ArticleGroup, CodeName

TODAY = date(2024, 3, 5)


def product(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": 4711, "Code": "A-100", "Name": "Blue mug", "UnitPrice": Decimal("99.50"),
        "UnitCost": Decimal("41.25"), "Gtin": "7038010000010", "Description": "Stoneware, 3 dl",
        "UnitOfMeasureCode": "EA", "ProductGroupId": 12, "ProductGroupCode": "KITCHEN",
        "IsArchived": False, "IsStockItem": True, "ProductType": "Product",
        "StockOnHand": Decimal(7),
        "LastChangedDateTimeOffset": "2024-03-05T10:15:02.1234567+01:00",
    }
    return base | fields


GROUPS = mapping.group_names([{"Id": 12, "Name": "Kitchen", "Code": "KITCHEN"},
                              {"Id": 13, "Name": None}])


def invoice(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": "38ecfc1a-bf51-448f-99a8-a61bc5771109", "OrderNo": 1001, "InvoiceNo": 20001,
        "DeliveryDate": "2024-03-07T00:00:00+01:00", "DeliveryTerm": "FCA",
        "CustomerReference": "Ola Buyer", "OrderDate": "2024-03-01T00:00:00+01:00",
        "CurrencyCode": "NOK", "CustomerNo": 10001, "CustomerId": 555,
        "Balance": Decimal(0), "VoucherType": "OutgoingInvoice", "IsReversed": False,
        "BalanceLastChangedDateTimeOffset": "2024-03-05T12:00:00.5+01:00",
        "DeliveryAddress1": "Delivery street 1", "DeliveryAddress2": "Door 2",
        "DeliveryAddressZipCode": "0150", "DeliveryAddressCity": "Oslo",
        "DeliveryAddressCountryCode": "NO",
    }
    return base | fields


def customer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": 555, "Number": 10001, "LegalName": "Acme Holding AS", "Name": "Acme",
        "LastName": None, "EmailAddress": "orders@acme.example", "PhoneNumber": "+4791234567",
        "MailAddress": {"AddressLine1": "Postboks 12", "AddressLine2": "c/o Acme",
                        "ZipCode": "0101", "City": "Oslo", "CountryCode": "no"},
    }
    return base | fields


def line(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": 9001, "LineType": "Normal", "ProductCode": "A-100", "ProductId": 4711,
        "Quantity": Decimal(3), "ProductUnitPrice": Decimal("99.50"),
        "Allowance": Decimal(10), "NetAmount": Decimal("268.65"),
        "Description": "Blue mug", "SortOrder": 0,
    }
    return base | fields


def order_of(inv: dict[str, Any] | None = None, lines: list[dict[str, Any]] | None = None,
             cust: dict[str, Any] | None = None) -> Any:
    result, _ = mapping.to_order(inv or invoice(), [line()] if lines is None else lines,
                                 customer() if cust is None else cust, TODAY)
    return result


# --- article registry -------------------------------------------------------------------------


def test_article_rows() -> None:
    article = mapping.to_article(product(), GROUPS)
    assert article.article_number == "A-100"  # ArticleNumber <- Product => Code
    assert article.erp_key == "4711"
    assert article.name == "Blue mug"  # ArticleName <- Product => Name
    assert article.sales_price == Decimal("99.50")  # CustomerPrice <- SalesPrice (v2 UnitPrice)
    assert article.purchase_price == Decimal("41.25")  # PurchasePrice <- CostPrice (UnitCost)
    assert article.barcode == "7038010000010"  # BarCode <- Gtin
    assert article.description == "Stoneware, 3 dl"  # ArticleDescription <- Description
    assert article.unit == "EA"  # ArticleUnitCode <- Unit (UnitOfMeasureCode)
    assert article.group == ArticleGroup(code="KITCHEN", name="Kitchen")  # the product group
    assert article.is_active is True
    assert article.is_stock_article is True
    assert article.modified_at == datetime(2024, 3, 5, 9, 15, 2, 123456, tzinfo=UTC)


def test_an_archived_product_is_an_inactive_article() -> None:
    assert mapping.to_article(product(IsArchived=True), GROUPS).is_active is False


def test_a_service_is_no_stock_article() -> None:
    assert mapping.to_article(product(ProductType="Service"), GROUPS).is_stock_article is False


def test_missing_optional_product_fields_stay_unset() -> None:
    article = mapping.to_article(product(Name=None, UnitPrice=None, UnitCost=None, Gtin="",
                                         Description=None, UnitOfMeasureCode=None,
                                         ProductGroupId=None, ProductGroupCode=None), GROUPS)
    assert article.name == "A-100"
    assert article.sales_price is None
    assert article.purchase_price is None
    assert article.barcode is None
    assert article.group is None


def test_a_group_the_groups_resource_does_not_name_keeps_its_code() -> None:
    article = mapping.to_article(product(ProductGroupId=13, ProductGroupCode="MISC"), GROUPS)
    assert article.group == ArticleGroup(code="MISC", name=None)


def test_a_product_without_code_is_refused() -> None:
    with pytest.raises(ValueError, match="Code"):
        mapping.to_article(product(Code=" "), GROUPS)


def test_camel_case_answers_read_the_same() -> None:
    camel = mapping.pascal({"code": "A-1", "name": "x", "id": 1, "isArchived": True})
    assert mapping.to_article(camel, {}).is_active is False


# --- invoices -> orders -------------------------------------------------------------------------


def test_order_info_rows() -> None:
    order = order_of()
    assert order.erp_key == "38ecfc1a-bf51-448f-99a8-a61bc5771109"  # GoodsOwnerOrderId <- Id
    assert order.order_number == "1001"  # GoodsOwnerOrderNumber <- Order no
    assert order.delivery_date == date(2024, 3, 7)  # DeliveryDate, its own date
    assert order.terms_of_delivery == CodeName(name="FCA")  # TermsOfDeliveryType <- DeliveryTerm
    assert order.production_code == "20001"  # ProductionCode <- DocumentNo (InvoiceNo)
    assert order.customer_reference == "Ola Buyer"  # ReferenceNumber <- CustomerReference
    assert order.order_date == date(2024, 3, 1)
    assert order.currency == "NOK"
    assert order.modified_at == datetime(2024, 3, 5, 11, 0, 0, 500000, tzinfo=UTC)


def test_delivery_date_is_today_when_unset() -> None:
    assert order_of(invoice(DeliveryDate=None)).delivery_date == TODAY


def test_order_number_falls_back_to_the_invoice_number() -> None:
    assert order_of(invoice(OrderNo=None)).order_number == "20001"


def test_notifications_follow_email_and_phone() -> None:
    order = order_of()
    assert order.customer.email == "orders@acme.example"
    assert order.notify_by_email is True
    assert order.customer.mobile == "+4791234567"
    assert order.notify_by_sms is True
    bare = order_of(cust=customer(EmailAddress=None, InvoiceEmailAddress=None, PhoneNumber=" "))
    assert bare.customer.email is None
    assert bare.notify_by_email is False
    assert bare.customer.mobile is None
    assert bare.notify_by_sms is False


def test_the_invoice_email_address_stands_in_for_the_general_one() -> None:
    order = order_of(cust=customer(EmailAddress="", InvoiceEmailAddress="inv@acme.example"))
    assert order.customer.email == "inv@acme.example"
    assert order.notify_by_email is True


def test_customer_number() -> None:
    order = order_of()
    assert order.customer.customer_number == "10001"
    assert order.customer.erp_key == "555"


@pytest.mark.parametrize(
    ("legal", "name", "last", "expected"),
    [
        ("Acme Holding AS", "Acme", None, "Acme Holding AS Acme"),
        ("Acme AS", "Acme AS", None, "Acme AS"),  # a part equal to one already used
        (None, "Kari", "Nordmann", "Kari Nordmann"),
        ("", " Kari  ", "Nordmann", "Kari Nordmann"),  # empty parts left out, single spaces
        ("Nordmann", "Kari", "Nordmann", "Nordmann Kari"),
        ("A", "B", "C", "A B C"),  # the order: legal name, name, last name
    ],
)
def test_customer_name_joining(legal: str | None, name: str | None, last: str | None,
                               expected: str) -> None:
    cust = customer(LegalName=legal, Name=name, LastName=last)
    assert mapping.customer_name(cust) == expected
    assert order_of(cust=cust).customer.name == expected


def test_address_from_the_mail_address_when_set() -> None:
    assert order_of().customer.address == Address(
        address1="Postboks 12", address2="c/o Acme", post_code="0101", city="Oslo",
        country_code="NO")


def test_one_mail_address_field_is_enough_and_nothing_is_mixed_in() -> None:
    cust = customer(MailAddress={"AddressLine1": None, "AddressLine2": None, "ZipCode": None,
                                 "City": "Bergen", "CountryCode": None})
    assert order_of(cust=cust).customer.address == Address(city="Bergen")


def test_address_from_the_street_address_when_no_mail_address() -> None:
    cust = customer(MailAddress={"AddressLine1": "", "City": None},
                    StreetAddress={"AddressLine1": "Storgata 1", "ZipCode": "0155",
                                   "City": "Oslo", "CountryCode": "NO"})
    assert order_of(cust=cust).customer.address == Address(
        address1="Storgata 1", post_code="0155", city="Oslo", country_code="NO")


def test_address_from_the_invoice_delivery_address_when_the_customer_has_none() -> None:
    cust = customer(MailAddress=None)
    assert order_of(cust=cust).customer.address == Address(
        address1="Delivery street 1", address2="Door 2", post_code="0150", city="Oslo",
        country_code="NO")


def test_order_line_rows() -> None:
    (order_line,) = order_of().lines
    assert order_line.external_line_key == "9001"  # ExternalOrderLineCode <- Invoice Line Id
    assert order_line.article_number == "A-100"  # ArticleNumber <- ProductCode
    assert order_line.quantity == Decimal(3)  # NumberOfItems <- Qty
    assert order_line.line_price == Decimal("298.50")  # LinePrice <- Qty * UnitPrice
    assert order_line.currency == "NOK"  # CurrencyCode <- Invoice CurrencyCode
    assert order_line.discount_percent == Decimal(10)  # Discount <- DiscountPercent (Allowance)
    assert order_line.customer_line_price == Decimal("268.65")  # CustomerLinePrice <- NetAmount
    assert order_line.comment == "Blue mug"  # OrderLineComment <- Description
    assert order_line.article_erp_key == "4711"


def test_discount_is_a_percent_as_given() -> None:
    (order_line,) = order_of(lines=[line(Allowance=Decimal("12.5"))]).lines
    assert order_line.discount_percent == Decimal("12.5")  # not 0.125, not 1250
    (surcharge,) = order_of(lines=[line(Allowance=Decimal(-5))]).lines
    assert surcharge.discount_percent is None
    (none,) = order_of(lines=[line(Allowance=None)]).lines
    assert none.discount_percent is None


def test_text_lines_become_order_text_lines() -> None:
    order = order_of(lines=[line(), line(Id=9002, LineType="Text", ProductCode=None,
                                         Quantity=None, Description="Leave at the back door",
                                         SortOrder=1)])
    assert [tl.model_dump() for tl in order.text_lines] == [
        {"external_line_key": "9002", "text": "Leave at the back door"}]
    assert [ol.external_line_key for ol in order.lines] == ["9001"]


def test_other_line_types_are_order_lines_and_lines_without_goods_are_left_out() -> None:
    lines = [line(Id=1, LineType="InvoiceFee", ProductCode="FEE", Quantity=Decimal(1)),
             line(Id=2, LineType="Summary", ProductCode=None, Quantity=None),
             line(Id=3, Quantity=Decimal(-1))]
    order, skipped = mapping.to_order(invoice(), lines, customer(), TODAY)
    assert [ol.external_line_key for ol in order.lines] == ["1"]
    assert [s.key for s in skipped] == ["2", "3"]


@pytest.mark.parametrize(
    ("fields", "paid"),
    [
        ({}, True),
        ({"Balance": Decimal("10.00")}, False),
        ({"VoucherType": "OutgoingCreditNote"}, False),
        ({"IsReversed": True}, False),
        ({"Balance": None}, False),
    ],
)
def test_only_paid_invoices_that_are_not_credit_notes_or_reversed(
    fields: dict[str, Any], paid: bool
) -> None:
    assert mapping.is_paid_invoice(invoice(**fields)) is paid


def test_timestamps_keep_their_offset() -> None:
    moment = mapping.parse_time("2024-03-05T10:00:00+02:00")
    assert moment == datetime(2024, 3, 5, 10, tzinfo=timezone(timedelta(hours=2)))
    with pytest.raises(ValueError, match="time zone"):
        mapping.parse_time("2024-03-05T10:00:00")


# --- stock ------------------------------------------------------------------------------------


def test_stock_patch_is_pascal_case_and_only_when_different() -> None:
    assert mapping.stock_patch(product(StockOnHand=Decimal(7)), Decimal(9)) == [
        {"op": "replace", "path": "/StockOnHand", "value": 9}]
    assert mapping.stock_patch(product(StockOnHand=Decimal(7)), Decimal("7.000")) is None
    assert mapping.stock_patch(product(IsStockItem=False), Decimal(9)) is None
    assert mapping.stock_patch(product(StockOnHand=None), Decimal("2.5")) == [
        {"op": "replace", "path": "/StockOnHand", "value": 2.5}]


def test_a_credit_note_names_the_invoice_it_credits() -> None:
    from erpsync_poweroffice import mapping as m

    note = {"VoucherType": "OutgoingCreditNote", "RelatedInvoiceNo": "10042", "Balance": 0}
    assert m.credited_invoice_number(note) == "10042"
    assert m.credited_invoice_number({"VoucherType": "OutgoingInvoice",
                                      "RelatedInvoiceNo": "10042"}) is None

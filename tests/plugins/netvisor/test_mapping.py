"""Netvisor XML -> canonical records and back: a test for every row of seed 000's tables.

The XML is shaped like the vendor's documented responses (element names, decimal commas, ANSI
dates, ISO 3166 codes): productlist.nv and getproduct.nv
(https://support.netvisor.fi/en/support/solutions/articles/77000554240, .../77000554241),
getorder.nv (as getsalesinvoice.nv, https://support.netvisor.fi/fi/support/solutions/articles/
77000554151), getcustomer.nv, getpurchaseorder.nv (seed 003) and the request bodies of
salesorderinvoicing.nv, purchaseorder.nv and warehouseevent.nv.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from erpsync_netvisor import mapping
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from erpsync.models import (
    Address,
    Article,
    ArticleGroup,
    CodeName,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    InventoryAdjustment,
    Length,
    LengthUnit,
    Order,
    PurchaseOrder,
    Receipt,
    ReceiptRow,
    StructureComponent,
    Weight,
    WeightUnit,
)

OK = ("<ResponseStatus><Status>OK</Status><TimeStamp>05.03.2024 10:00:00</TimeStamp>"
      "</ResponseStatus>")


def xml(body: str) -> Any:
    return etree.fromstring(f"<Root>{OK}{body}</Root>".encode())


# --- articles ----------------------------------------------------------------------------------

PRODUCT_LIST = """
<ProductList>
  <Product>
    <NetvisorKey>165</NetvisorKey><ProductCode>KAHVI-1</ProductCode><Name>Kahvi</Name>
    <UnitPrice>1,960000000000</UnitPrice><UnitGrossPrice>2,430000000000</UnitGrossPrice>
    <ProductGroupID>12</ProductGroupID><ProductGroupDescription>Kahvit</ProductGroupDescription>
    <Uri>/getproduct.nv?id=165</Uri>
  </Product>
</ProductList>
"""

PRODUCT = """
<Product>
  <ProductBaseInformation>
    <NetvisorKey>165</NetvisorKey>
    <ProductCode>KAHVI-1</ProductCode>
    <ProductGroup>Kahvit ja teet</ProductGroup>
    <Name>Pähkinäinen kahvi</Name>
    <Description>Tumma paahto, 500 g</Description>
    <UnitPrice type="net">12,500000000000</UnitPrice>
    <UnitGrossPrice type="gross">15,500000000000</UnitGrossPrice>
    <Unit>kpl</Unit>
    <PurchasePrice>6,25</PurchasePrice>
    <TariffHeading>09012100</TariffHeading>
    <ComissionPercentage>0</ComissionPercentage>
    <IsActive>1</IsActive>
    <IsSalesProduct>1</IsSalesProduct>
    <InventoryEnabled>1</InventoryEnabled>
    <CountryOfOrigin type="ISO-3166">BR</CountryOfOrigin>
  </ProductBaseInformation>
  <ProductAdditionalInformation>
    <ProductNetWeight weightunit="g">500</ProductNetWeight>
    <ProductGrossWeight weightunit="kg">0,55</ProductGrossWeight>
    <ProductPackageInformation>
      <PackageWidth unit="cm">10,5</PackageWidth>
      <PackageHeight unit="cm">20</PackageHeight>
      <PackageLength unit="cm">7,25</PackageLength>
    </ProductPackageInformation>
    <PrimaryEanCode>6412345678901</PrimaryEanCode>
    <SecondaryEanCode>6412345678918</SecondaryEanCode>
  </ProductAdditionalInformation>
  <SubProductInformation>
    <Children>
      <Product><NetvisorKey>170</NetvisorKey><Amount>2</Amount></Product>
      <Product><NetvisorKey>171</NetvisorKey><Amount>0,5</Amount></Product>
    </Children>
  </SubProductInformation>
</Product>
"""


def article(extra_codes: dict[str, str] | None = None) -> Article:
    listed = {p.key: p for p in mapping.listed_products(xml(PRODUCT_LIST).iter("Product"))}
    (product,) = mapping.product_elements(xml(f"<Products>{PRODUCT}</Products>"))
    codes = {"170": "SUODATIN", "171": "MITTA"} if extra_codes is None else extra_codes
    return mapping.to_article(product, listed["165"], codes)


@pytest.mark.parametrize(("seed_row", "field", "expected"), [
    ("Product => Code", "article_number", "KAHVI-1"),
    ("(Netvisor key)", "erp_key", "165"),
    ("Product => Name", "name", "Pähkinäinen kahvi"),
    ("Product => Description", "description", "Tumma paahto, 500 g"),
    ("Product => Stockable", "is_stock_article", True),
    ("Product => Primary EAN code", "barcode", "6412345678901"),
    ("Product => Length", "dimensions.length", Length(value=Decimal("7.25"),
                                                       unit=LengthUnit.CENTIMETRE)),
    ("Product => Width", "dimensions.width", Length(value=Decimal("10.5"),
                                                     unit=LengthUnit.CENTIMETRE)),
    ("Product => Height", "dimensions.height", Length(value=Decimal("20"),
                                                       unit=LengthUnit.CENTIMETRE)),
    ("Product => Net weight", "net_weight", Weight(value=Decimal("500"), unit=WeightUnit.GRAM)),
    ("Product => Gross weight", "gross_weight", Weight(value=Decimal("0.55"),
                                                        unit=WeightUnit.KILOGRAM)),
    ("Product => Purchase price", "purchase_price", Decimal("6.25")),
    ("Product => Basic price (Unit price)", "sales_price", Decimal("12.500000000000")),
    ("Product => Tariff heading", "statistics_number", "09012100"),
    ("Product => Intrastat => CountryOfOrigin", "country_of_origin", "BR"),
    ("Product => Group => Name", "group.name", "Kahvit"),
    ("Product => Group => ID", "group.code", "12"),
    ("Product => Sub products", "structure", (
        StructureComponent(article_number="SUODATIN", quantity=Decimal(2)),
        StructureComponent(article_number="MITTA", quantity=Decimal("0.5")))),
    ("(unit)", "unit", "kpl"),
])
def test_article_rows(seed_row: str, field: str, expected: object) -> None:
    value: object = article()
    for part in field.split("."):
        value = getattr(value, part)
    assert value == expected, seed_row


def test_prices_with_decimal_commas_are_exact() -> None:
    result = article()
    assert isinstance(result.sales_price, Decimal)
    assert str(result.sales_price) == "12.500000000000"
    assert result.gross_weight is not None
    assert result.gross_weight.value == Decimal("0.55")


def test_group_name_falls_back_to_the_detail_when_the_list_has_none() -> None:
    (product,) = mapping.product_elements(xml(PRODUCT))
    result = mapping.to_article(product, None, {"170": "A", "171": "B"})
    assert result.group == ArticleGroup(code=None, name="Kahvit ja teet")


def test_weights_in_tonnes_become_kilograms_and_units_default() -> None:
    product = etree.fromstring(PRODUCT.replace('weightunit="g">500', 'weightunit="tn">0,002')
                               .replace(' unit="cm">20', ">20")
                               .replace(' weightunit="kg"', "").encode())
    result = mapping.to_article(product, None, {"170": "A", "171": "B"})
    assert result.net_weight == Weight(value=Decimal("2.000"), unit=WeightUnit.KILOGRAM)
    assert result.gross_weight == Weight(value=Decimal("0.55"), unit=WeightUnit.KILOGRAM)
    assert result.dimensions.height == Length(value=Decimal(20), unit=LengthUnit.CENTIMETRE)


def test_not_stockable_in_the_interface_language() -> None:
    product = etree.fromstring(PRODUCT.replace("<InventoryEnabled>1", "<InventoryEnabled>Ei")
                               .encode())
    assert not mapping.to_article(product, None, {"170": "A", "171": "B"}).is_stock_article


def test_a_sub_product_not_read_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="171"):
        article({"170": "SUODATIN"})


def test_sub_products_are_not_products_of_the_answer() -> None:
    root = xml(f"<Products>{PRODUCT}</Products>")
    assert [mapping.text(p, "ProductBaseInformation/NetvisorKey")
            for p in mapping.product_elements(root)] == ["165"]
    assert mapping.sub_product_keys(mapping.product_elements(root)[0]) == ["170", "171"]


# --- orders ------------------------------------------------------------------------------------

DELIVERY_ADDRESS = """
  <DeliveryAddressName>Kahvila Kuppi Oy</DeliveryAddressName>
  <DeliveryAddressNameExtension>Takaovi, lastauslaituri</DeliveryAddressNameExtension>
  <DeliveryAddressLine>Satamakatu 4</DeliveryAddressLine>
  <DeliveryAddressPostnumber>00160</DeliveryAddressPostnumber>
  <DeliveryAddressTown>Helsinki</DeliveryAddressTown>
  <DeliveryAddressCountryCode type="ISO-3166">FI</DeliveryAddressCountryCode>
"""

ORDER = """
<SalesInvoice>
  <SalesInvoiceNetvisorKey>3001</SalesInvoiceNetvisorKey>
  <SalesInvoiceNumber>1045</SalesInvoiceNumber>
  <SalesInvoiceDate format="ansi">2024-03-01</SalesInvoiceDate>
  <SalesInvoiceDeliveryDate format="ansi">2024-3-8</SalesInvoiceDeliveryDate>
  <SalesInvoiceAmount iso4217currencycode="EUR">1 234,56</SalesInvoiceAmount>
  <InvoiceStatus status="undelivered">Toimittamaton</InvoiceStatus>
  <SalesInvoiceFreeTextBeforeLines>Toimitus aamulla</SalesInvoiceFreeTextBeforeLines>
  <SalesInvoiceFreeTextAfterLines>Kiitos tilauksesta</SalesInvoiceFreeTextAfterLines>
  <SalesInvoiceOurReference>Myyjä Mäki</SalesInvoiceOurReference>
  <SalesInvoiceYourReference>PO-77</SalesInvoiceYourReference>
  <InvoicingCustomerCode>ASIAKAS-9</InvoicingCustomerCode>
  <InvoicingCustomerName>Kuppi Oy</InvoicingCustomerName>
  <InvoicingCustomerNetvisorKey>55</InvoicingCustomerNetvisorKey>
  <InvoicingCustomerAddressline>Laskutie 1</InvoicingCustomerAddressline>
  <InvoicingCustomerAdditionalAddressLine>PL 12</InvoicingCustomerAdditionalAddressLine>
  <InvoicingCustomerPostnumber>33100</InvoicingCustomerPostnumber>
  <InvoicingCustomerTown>Tampere</InvoicingCustomerTown>
  <InvoicingCustomerCountryCode type="ISO-3166">FI</InvoicingCustomerCountryCode>
  {delivery}
  <DeliveryMethod>Matkahuolto</DeliveryMethod>
  <DeliveryTerm>EXW</DeliveryTerm>
  <InvoiceLines>
    <InvoiceLine>
      <SalesInvoiceProductLine>
        <NetvisorKey>9001</NetvisorKey>
        <ProductIdentifier type="customer">KAHVI-1</ProductIdentifier>
        <ProductName>Pähkinäinen kahvi</ProductName>
        <ProductNetvisorKey>165</ProductNetvisorKey>
        <ProductUnitPrice>12,50</ProductUnitPrice>
        <ProductVatPercentage vatcode="KOMY">24</ProductVatPercentage>
        <SalesInvoiceProductLineQuantity>3,5</SalesInvoiceProductLineQuantity>
        <SalesInvoiceProductLineVatSum>10,50</SalesInvoiceProductLineVatSum>
        <SalesInvoiceProductLineSum>43,75</SalesInvoiceProductLineSum>
      </SalesInvoiceProductLine>
      <SalesInvoiceCommentLine>
        <NetvisorKey>9002</NetvisorKey>
        <Comment>Särkyvää – käsittele varoen</Comment>
      </SalesInvoiceCommentLine>
      <SalesInvoiceCommentLine><Comment>Ilman avainta</Comment></SalesInvoiceCommentLine>
    </InvoiceLine>
  </InvoiceLines>
</SalesInvoice>
"""

CUSTOMER = """
<Customer><CustomerBaseInformation>
  <NetvisorKey>55</NetvisorKey><InternalIdentifier>ASIAKAS-9</InternalIdentifier>
  <Name>Kuppi Oy</Name><Email>tilaukset@kuppi.fi</Email><PhoneNumber>+358 40 123 4567</PhoneNumber>
</CustomerBaseInformation></Customer>
"""


def order(delivery: str = DELIVERY_ADDRESS, logger: logging.Logger | None = None) -> Order:
    (element,) = mapping.order_elements(xml(f"<SalesInvoices>{ORDER.format(delivery=delivery)}"
                                            "</SalesInvoices>"))
    cards = mapping.customer_cards(xml(f"<Customers>{CUSTOMER}</Customers>"))
    return mapping.to_order(element, cards, logger)


@pytest.mark.parametrize(("seed_row", "field", "expected"), [
    ("Order => Order number", "order_number", "1045"),
    ("(Netvisor key of the order)", "erp_key", "3001"),
    ("(order date)", "order_date", date(2024, 3, 1)),
    ("Order => Delivery date", "delivery_date", date(2024, 3, 8)),
    ("Order => Our reference", "reference", "Myyjä Mäki"),
    ("Order => Your reference", "customer_reference", "PO-77"),
    ("Order => Total (EUR) including tax", "total_price", Decimal("1234.56")),
    ("(total includes tax)", "total_includes_vat", True),
    ("(currency)", "currency", "EUR"),
    ("Order => Text before order rows", "comment", "Toimitus aamulla"),
    ("Order => Text after order rows", "free_text", "Kiitos tilauksesta"),
    ("Order => Term of delivery", "terms_of_delivery", CodeName(name="EXW")),
    ("Order => Delivery method", "way_of_delivery", CodeName(name="Matkahuolto")),
    ("Order => Delivery address => Name", "customer.address.name", "Kahvila Kuppi Oy"),
    ("(delivery street line)", "customer.address.address1", "Satamakatu 4"),
    ("Order => Delivery address => Place of business", "customer.address.address2",
     "Takaovi, lastauslaituri"),
    ("Customer => Delivery address => City", "customer.address.city", "Helsinki"),
    ("Order => Delivery address => Country of delivery", "customer.address.country_code",
     "FI"),
    ("Order => Delivery address => Postal code", "customer.address.post_code", "00160"),
    ("Order => Customer => Customer code", "customer.customer_number", "ASIAKAS-9"),
    ("Order => Customer => Email", "customer.email", "tilaukset@kuppi.fi"),
    ("Order => Customer => Telephone", "customer.mobile", "+358 40 123 4567"),
    ("Order => Customer => Netvisor key", "customer.erp_key", "55"),
    ("Order => Customer => Name", "customer.name", "Kuppi Oy"),
])
def test_order_rows(seed_row: str, field: str, expected: object) -> None:
    value: object = order()
    for part in field.split("."):
        value = getattr(value, part)
    assert value == expected, seed_row


@pytest.mark.parametrize(("seed_row", "field", "expected"), [
    ("Order line => Product code", "article_number", "KAHVI-1"),
    ("Order line => Product", "article_name", "Pähkinäinen kahvi"),
    ("Order line => Product netvisor key", "article_erp_key", "165"),
    ("Order line => Netvisor key", "external_line_key", "9001"),
    ("Order line => Total (VAT inclusive) -> line price", "line_price", Decimal("54.25")),
    ("Order line => Total (VAT inclusive) -> customs value", "customs_value", Decimal("54.25")),
    ("(prices include VAT)", "prices_include_vat", True),
    ("Order line => Amount", "quantity", Decimal("3.5")),
])
def test_order_line_rows(seed_row: str, field: str, expected: object) -> None:
    (line,) = order().lines
    assert getattr(line, field) == expected, seed_row


def test_comment_lines_become_text_lines_with_their_netvisor_key() -> None:
    """Comment line => Product -> Order text line => Order line comment."""
    texts = order().text_lines
    assert [(t.external_line_key, t.text) for t in texts] == [
        ("9002", "Särkyvää – käsittele varoen"),
        ("comment-3", "Ilman avainta"),
    ]


def test_the_delivery_address_block_is_taken_whole() -> None:
    assert order().customer.address == Address(
        name="Kahvila Kuppi Oy", address1="Satamakatu 4", address2="Takaovi, lastauslaituri",
        post_code="00160", city="Helsinki", country_code="FI")


def test_without_a_delivery_address_the_invoicing_block_is_used_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.netvisor")
    with caplog.at_level(logging.INFO, logger="test.netvisor"):
        result = order(delivery="", logger=logger)
    assert result.customer.address == Address(
        name="Kuppi Oy", address1="Laskutie 1", address2="PL 12", post_code="33100",
        city="Tampere", country_code="FI")
    assert "1045" in caplog.text
    assert "invoicing customer's address" in caplog.text


def test_a_partial_delivery_address_is_never_mixed_with_the_invoicing_one() -> None:
    result = order(delivery="<DeliveryAddressTown>Espoo</DeliveryAddressTown>")
    assert result.customer.address == Address(city="Espoo")


def test_an_empty_delivery_address_block_counts_as_none() -> None:
    empty = "<DeliveryAddressName/><DeliveryAddressLine> </DeliveryAddressLine>"
    assert order(delivery=empty).customer.address.city == "Tampere"


def test_a_country_that_is_no_iso_code_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="Suomi"):
        order(delivery=DELIVERY_ADDRESS.replace(">FI<", ">Suomi<"))


def test_a_line_with_nothing_to_ship_is_left_out() -> None:
    element = etree.fromstring(ORDER.format(delivery=DELIVERY_ADDRESS).replace(
        "<SalesInvoiceProductLineQuantity>3,5", "<SalesInvoiceProductLineQuantity>0").encode())
    assert mapping.to_order(element, {}).lines == ()


def test_without_a_customer_card_email_and_phone_are_empty() -> None:
    element = etree.fromstring(ORDER.format(delivery="").encode())
    result = mapping.to_order(element, {})
    assert (result.customer.email, result.customer.mobile) == (None, None)


# --- purchase orders -------------------------------------------------------------------------

PURCHASE_ORDER = """
<PurchaseOrder>
  <NetvisorKey>77</NetvisorKey>
  <OrderNumber>11228</OrderNumber>
  <OrderStatus deliverystatus="partiallydelivered">senttovendor</OrderStatus>
  <OrderDate format="ansi">2024-02-20</OrderDate>
  <VendorName>Paahtimo Oy</VendorName>
  <VendorAddressLine>Paahtajantie 2</VendorAddressLine>
  <VendorPostNumber>00500</VendorPostNumber>
  <VendorCity>Helsinki</VendorCity>
  <VendorCountry type="ISO-3166">FI</VendorCountry>
  <Comment>Lavat muovitettuina</Comment>
  <OurReference>Ostaja Öhman</OurReference>
  <Amount currencycode="EUR" type="ISO-4217">1000,34</Amount>
  <PurchaseOrderLines>
    <PurchaseOrderProductDeliveryGroup><NetvisorKey>43</NetvisorKey></PurchaseOrderProductDeliveryGroup>
    <PurchaseOrderProductLine>
      <NetvisorKey>501</NetvisorKey>
      <PurchaseOrderProductDeliveryGroupID>43</PurchaseOrderProductDeliveryGroupID>
      <ProductCode>KAHVI-1</ProductCode><ProductName>Kahvi</ProductName>
      <OrderedAmount>10,00</OrderedAmount><DeliveredAmount>0</DeliveredAmount>
      <UnitPrice>8,39</UnitPrice><VatPercent>24</VatPercent><LineSum>83,90</LineSum>
      <DeliveryDate format="ansi">2024-03-10</DeliveryDate>
    </PurchaseOrderProductLine>
    <PurchaseOrderProductLine>
      <NetvisorKey>502</NetvisorKey>
      <PurchaseOrderProductDeliveryGroupID>44</PurchaseOrderProductDeliveryGroupID>
      <ProductCode>TEE-2</ProductCode>
      <OrderedAmount>4</OrderedAmount><DeliveredAmount>4</DeliveredAmount>
      <DeliveryDate format="ansi">2024-03-05</DeliveryDate>
    </PurchaseOrderProductLine>
    <PurchaseOrderCommentLine>
      <NetvisorKey>1</NetvisorKey><Comment>Free Text</Comment>
    </PurchaseOrderCommentLine>
  </PurchaseOrderLines>
</PurchaseOrder>
"""


def purchase_order(body: str = PURCHASE_ORDER) -> PurchaseOrder:
    (element,) = mapping.purchase_order_elements(xml(body))
    return mapping.to_purchase_order(element)


@pytest.mark.parametrize(("seed_row", "field", "expected"), [
    ("Purchase order => Order number", "order_number", "11228"),
    ("(Netvisor key)", "erp_key", "77"),
    ("Purchase order => Our reference", "reference", "Ostaja Öhman"),
    ("Purchase order => Order comment", "comment", "Lavat muovitettuina"),
    ("Purchase order => Purchase order date", "order_date", date(2024, 2, 20)),
    ("Purchase order => Vendor", "supplier.name", "Paahtimo Oy"),
    ("(vendor address)", "supplier.address.city", "Helsinki"),
    ("(expected arrival)", "delivery_date", date(2024, 3, 5)),
    ("(currency)", "currency", "EUR"),
])
def test_purchase_order_rows(seed_row: str, field: str, expected: object) -> None:
    value: object = purchase_order()
    for part in field.split("."):
        value = getattr(value, part)
    assert value == expected, seed_row


@pytest.mark.parametrize(("seed_row", "field", "expected"), [
    ("Purchase order line => Product code", "article_number", "KAHVI-1"),
    ("Purchase order line => Amount", "quantity", Decimal("10.00")),
    ("Purchase order line => Netvisor key", "row_key", "501"),
    ("(price)", "price", Decimal("8.39")),
])
def test_purchase_order_line_rows(seed_row: str, field: str, expected: object) -> None:
    row = purchase_order().rows[0]
    assert getattr(row, field) == expected, seed_row


def test_undelivered_rows_left_is_the_filter() -> None:
    (element,) = mapping.purchase_order_elements(xml(PURCHASE_ORDER))
    assert mapping.has_undelivered_rows(element)
    delivered = PURCHASE_ORDER.replace("<DeliveredAmount>0</DeliveredAmount>",
                                       "<DeliveredAmount>10</DeliveredAmount>")
    (element,) = mapping.purchase_order_elements(xml(delivered))
    assert not mapping.has_undelivered_rows(element)


def test_a_vendor_country_name_is_not_taken_for_a_code() -> None:
    result = purchase_order(PURCHASE_ORDER.replace(">FI</VendorCountry>",
                                                   ">Finland</VendorCountry>"))
    assert result.supplier is not None
    assert result.supplier.address.country_code is None


# --- numbers and dates -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1,960000000000", Decimal("1.960000000000")),
    ("-3", Decimal(-3)),
    ("1000,34", Decimal("1000.34")),
    ("0,1", Decimal("0.1")),
    ("5.0", Decimal("5.0")),
    ("1 234,56", Decimal("1234.56")),
])
def test_numbers_with_decimal_commas_are_read_exactly(text: str, expected: Decimal) -> None:
    value = mapping.parse_decimal(text, "x")
    assert isinstance(value, Decimal)
    assert value == expected
    assert str(value) == str(expected)


def test_a_number_that_is_not_one_is_an_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match="OrderedAmount"):
        mapping.parse_decimal("kymmenen", "OrderedAmount")


@pytest.mark.parametrize(("value", "written"), [
    (Decimal("12.50"), "12,50"), (Decimal(-3), "-3"), (Decimal("0.1"), "0,1"),
    (Decimal("1E+3"), "1000"), (Decimal("2.000"), "2,000"),
])
def test_numbers_are_written_with_a_decimal_comma(value: Decimal, written: str) -> None:
    assert mapping.netvisor_decimal(value) == written


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-06-01", date(2018, 6, 1)), ("2017-1-1", date(2017, 1, 1)),
    ("28.11.2014", date(2014, 11, 28)), ("2021-10-26 10:49", date(2021, 10, 26)),
])
def test_dates_are_read_as_ansi(text: str, expected: date) -> None:
    assert mapping.parse_date(text, "x") == expected


def test_dates_are_written_as_ansi() -> None:
    assert mapping.netvisor_date(date(2024, 3, 5)) == "2024-03-05"


# --- writing back --------------------------------------------------------------------------


def _flat(element: Any) -> str:
    flat: str = etree.tostring(element, encoding="unicode")
    return flat


NOW = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)


def delivery(total: str, now: str) -> Delivery:
    return Delivery(event_id="d1", occurred_at=NOW, order_number="1045", erp_key="3001",
                    status=DeliveryStatus.SENT, lines=(DeliveryLine(
                        external_line_key="9001", article_number="KAHVI-1",
                        delivered_quantity=Decimal(now),
                        total_delivered_quantity=Decimal(total)),))


STATE = """
<InventoryReport Report="SalesInvetoryEvents"><SalesEntities><SalesEntity Type="salesorder">
  <NetvisorKey>3001</NetvisorKey><OrderNumber>1045</OrderNumber><OrderState>undelivered</OrderState>
  <Customer><NetvisorKey>55</NetvisorKey><CustomerName>Kuppi Oy</CustomerName></Customer>
  <SalesEntityProductLines><SalesEntityProductLine>
    <NetvisorKey>9001</NetvisorKey><DeliveredAmount>{delivered}</DeliveredAmount>
  </SalesEntityProductLine></SalesEntityProductLines>
</SalesEntity></SalesEntities></InventoryReport>
"""


def state(delivered: str) -> mapping.OrderState:
    result = mapping.order_state(xml(STATE.format(delivered=delivered)), "3001")
    assert result is not None
    return result


def test_the_order_state_names_the_customer_and_the_delivered_amounts() -> None:
    result = state("1,5")
    assert (result.number, result.customer_key) == ("1045", "55")
    assert mapping.delivered_amounts(result) == {"9001": Decimal("1.5")}
    assert mapping.order_state(xml(STATE.format(delivered="0")), "9999") is None


def test_a_delivery_writes_what_netvisor_lacks_of_the_total() -> None:
    assert mapping.delivery_plan(delivery("2", "2"), state("0")) == {"9001": Decimal(2)}
    # the rest, later: the total is 3,5 and 2 are there
    assert mapping.delivery_plan(delivery("3.5", "1.5"), state("2")) == {"9001": Decimal("1.5")}
    # the same report again adds nothing
    assert mapping.delivery_plan(delivery("3.5", "1.5"), state("3,5")) == {}


def test_a_delivery_of_a_line_netvisor_does_not_have_is_refused() -> None:
    other = delivery("1", "1").model_copy(update={"lines": (DeliveryLine(
        external_line_key="404", article_number="X", delivered_quantity=Decimal(1),
        total_delivered_quantity=Decimal(1)),)})
    with pytest.raises(KeyError, match="404"):
        mapping.delivery_plan(other, state("0"))


def test_a_delivery_that_completes_a_line_closes_it_and_a_partial_one_leaves_it_open() -> None:
    body = _flat(mapping.delivery_xml("55", date(2024, 3, 5),
                                      {"1": Decimal(2), "2": Decimal(1)}, closed={"2"}))
    assert '<netvisorkey>1</netvisorkey><deliverydate format="ansi">2024-03-05</deliverydate>' \
           '<deliveryamount ispostdelivery="true">2</deliveryamount>' in body
    assert '<deliveryamount ispostdelivery="false">1</deliveryamount>' in body


def test_the_delivery_message_delivers_without_invoicing() -> None:
    body = _flat(mapping.delivery_xml("55", date(2024, 3, 5), {"9001": Decimal("1.5")}))
    assert body == (
        "<root><salesorderinvoicing><invoicingcustomer><netvisorkey>55</netvisorkey>"
        '<invoicedate format="ansi">2024-03-05</invoicedate><invoicingproductlines>'
        "<invoicingproductline><netvisorkey>9001</netvisorkey>"
        '<deliverydate format="ansi">2024-03-05</deliverydate>'
        '<deliveryamount ispostdelivery="true">1,5</deliveryamount></invoicingproductline>'
        "</invoicingproductlines></invoicingcustomer></salesorderinvoicing></root>")


def receipt(received: str, total: str, *, complete: bool = False) -> Receipt:
    return Receipt(event_id="r1", occurred_at=NOW, purchase_order_number="11228",
                   complete=complete, rows=(ReceiptRow(
                       row_key="501", article_number="KAHVI-1",
                       received_quantity=Decimal(received),
                       total_received_quantity=Decimal(total)),))


def lines(body: str = PURCHASE_ORDER) -> list[mapping.PurchaseOrderLine]:
    (element,) = mapping.purchase_order_elements(xml(body))
    return mapping.purchase_order_lines(element)


def test_a_partial_receipt_is_a_partial_delivery_of_two_rows() -> None:
    plan = mapping.receipt_plan(receipt("4", "4"), lines())
    body = _flat(mapping.receipt_xml(receipt("4", "4"), plan, date(2024, 3, 5)))
    assert body == (
        "<root><purchaseorder><purchaseorderlines>"
        '<purchaseorderproductline method="partialdeliver" netvisorkey="501">'
        "<purchaseorderproductlinepartialdelivery>"
        "<purchaseorderproductlinepartialdeliverycontent><orderedamount>4</orderedamount>"
        '<deliveredamount>4</deliveredamount><deliveryreceiveddate format="ansi">2024-03-05'
        "</deliveryreceiveddate></purchaseorderproductlinepartialdeliverycontent>"
        "<purchaseorderproductlinepartialdeliverycontent><orderedamount>6,00</orderedamount>"
        '<deliveredamount>0</deliveredamount><deliveryreceiveddate format="ansi">2024-03-10'
        "</deliveryreceiveddate></purchaseorderproductlinepartialdeliverycontent>"
        "</purchaseorderproductlinepartialdelivery></purchaseorderproductline>"
        '<purchaseordercommentline method="add"><comment>erpsync receipt r1</comment>'
        "</purchaseordercommentline></purchaseorderlines></purchaseorder></root>")


def test_a_receipt_completing_the_row_edits_its_delivery_details() -> None:
    plan = mapping.receipt_plan(receipt("10", "10"), lines())
    body = _flat(mapping.receipt_xml(receipt("10", "10"), plan, date(2024, 3, 5)))
    assert ('<purchaseorderproductline method="edit" netvisorkey="501">'
            "<purchaseorderproductlinedeliverydetails><deliveredamount>10</deliveredamount>"
            '<deliveryreceiveddate format="ansi">2024-03-05</deliveryreceiveddate>'
            "</purchaseorderproductlinedeliverydetails></purchaseorderproductline>") in body


def test_a_shortfall_on_a_closed_purchase_order_is_confirmed_by_hand() -> None:
    plan = mapping.receipt_plan(receipt("8", "8", complete=True), lines())
    body = _flat(mapping.receipt_xml(receipt("8", "8", complete=True), plan, date(2024, 3, 5)))
    assert "<deliveredamount>8</deliveredamount>" in body
    assert "<deliverymanuallyconfirmed>true</deliverymanuallyconfirmed>" in body


def test_the_rest_of_a_split_row_goes_to_its_open_line() -> None:
    split = PURCHASE_ORDER.replace(
        "<OrderedAmount>10,00</OrderedAmount><DeliveredAmount>0</DeliveredAmount>",
        "<OrderedAmount>4</OrderedAmount><DeliveredAmount>4</DeliveredAmount>",
    ).replace("<PurchaseOrderCommentLine>", """<PurchaseOrderProductLine>
      <NetvisorKey>503</NetvisorKey>
      <PurchaseOrderProductDeliveryGroupID>43</PurchaseOrderProductDeliveryGroupID>
      <ProductCode>KAHVI-1</ProductCode>
      <OrderedAmount>6</OrderedAmount><DeliveredAmount>0</DeliveredAmount>
    </PurchaseOrderProductLine><PurchaseOrderCommentLine>""")
    plan = mapping.receipt_plan(receipt("6", "10"), lines(split))
    assert [(w.line.key, w.method, w.delivered) for w in plan.writes] == [
        ("503", "edit", Decimal(6))]
    # repeated: Netvisor has the total, nothing is written
    done = split.replace("<OrderedAmount>6</OrderedAmount><DeliveredAmount>0</DeliveredAmount>",
                         "<OrderedAmount>6</OrderedAmount><DeliveredAmount>6</DeliveredAmount>")
    assert not mapping.receipt_plan(receipt("6", "10"), lines(done))


def test_a_receipt_is_found_by_its_comment_line_or_by_its_totals() -> None:
    (element,) = mapping.purchase_order_elements(xml(PURCHASE_ORDER))
    assert not mapping.receipt_found(element, receipt("4", "4"))
    marked = PURCHASE_ORDER.replace("<Comment>Free Text</Comment>",
                                    "<Comment>erpsync receipt r1</Comment>")
    (element,) = mapping.purchase_order_elements(xml(marked))
    assert mapping.receipt_found(element, receipt("4", "4"))
    there = PURCHASE_ORDER.replace("<DeliveredAmount>0</DeliveredAmount>",
                                   "<DeliveredAmount>4</DeliveredAmount>")
    (element,) = mapping.purchase_order_elements(xml(there))
    assert mapping.receipt_found(element, receipt("4", "4"))


def test_a_receipt_row_not_on_the_purchase_order_is_refused() -> None:
    other = receipt("1", "1").model_copy(update={"rows": (ReceiptRow(
        row_key="999", article_number="X", received_quantity=Decimal(1),
        total_received_quantity=Decimal(1)),)})
    with pytest.raises(KeyError, match="999"):
        mapping.receipt_plan(other, lines())


def adjustment(quantity: str, event_id: str = "adj-1") -> InventoryAdjustment:
    return InventoryAdjustment(event_id=event_id, occurred_at=NOW, article_number="KAHVI-1",
                               quantity=Decimal(quantity), cause="Rikkoutunut")


def test_an_adjustment_is_one_warehouse_event_with_its_signed_quantity() -> None:
    body = _flat(mapping.warehouse_event_xml(adjustment("-2.5"), event_type="Inventointi",
                                             inventory_place="Päävarasto",
                                             when=date(2024, 3, 5)))
    assert body == (
        "<root><warehouseevent><description>erpsync adjustment adj-1: Rikkoutunut</description>"
        "<reference>adj-1</reference><warehouseeventlines><warehouseeventline>"
        '<eventtype type="customer">Inventointi</eventtype>'
        '<product type="customer">KAHVI-1</product>'
        "<inventoryplace>Päävarasto</inventoryplace><description>Rikkoutunut</description>"
        "<quantity>-2,5</quantity><unitprice>0</unitprice>"
        '<valuedate format="ansi">2024-03-05</valuedate><status>open</status>'
        "</warehouseeventline></warehouseeventlines></warehouseevent></root>")
    assert "<quantity>3</quantity>" in _flat(mapping.warehouse_event_xml(
        adjustment("3"), event_type="Inventointi", inventory_place=None, when=date(2024, 3, 5)))


def test_the_wms_warehouse_code_is_not_sent_as_a_netvisor_inventory_place() -> None:
    in_w1 = adjustment("-1").model_copy(update={"warehouse": "W1"})
    body = _flat(mapping.warehouse_event_xml(in_w1, event_type="Inventointi",
                                             inventory_place=None, when=date(2024, 3, 5)))
    assert "inventoryplace" not in body
    body = _flat(mapping.warehouse_event_xml(in_w1, event_type="Inventointi",
                                             inventory_place="Päävarasto", when=date(2024, 3, 5)))
    assert "<inventoryplace>Päävarasto</inventoryplace>" in body


def test_a_long_event_id_gets_a_reference_of_fifty_characters() -> None:
    long_id = "ongoing:inventory:123456789:article:987654321:x" * 2
    reference = mapping.warehouse_event_reference(long_id)
    assert len(reference) == 50
    assert reference.startswith("erpsync-")
    assert reference == mapping.warehouse_event_reference(long_id)
    body = _flat(mapping.warehouse_event_xml(adjustment("1", long_id), event_type="T",
                                             inventory_place=None, when=date(2024, 3, 5)))
    assert long_id in body
    assert f"<reference>{reference}</reference>" in body


def test_warehouse_events_are_found_by_reference() -> None:
    root = xml("<WarehouseEvents><WarehouseEvent><NetvisorKey>8</NetvisorKey>"
               "<Reference>adj-1</Reference></WarehouseEvent></WarehouseEvents>")
    assert mapping.warehouse_event_keys(root, "adj-1") == ["8"]
    assert mapping.warehouse_event_keys(root, "adj-2") == []

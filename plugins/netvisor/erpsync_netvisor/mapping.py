"""Netvisor XML <-> canonical models, field by field as seed 000 lists them.

Element names are those of Netvisor's reference pages (cited per table); the responses are
parsed by :mod:`erpsync_netvisor.client` with :func:`erpsync.http.parse_xml` and handed here as
lxml elements. Every row of seed 000's field-mapping tables has its place below (the WMS column
of the seed is the WMS plugin's business; here is where each value comes from in Netvisor and
where it goes in the canonical model).

Articles: ``productlist.nv`` (list: the key and the product group) then ``getproduct.nv``
(detail, ``idlist`` batches); https://support.netvisor.fi/en/support/solutions/articles/
77000554240 and .../77000554241 (canonical: :class:`Article`; ``base`` is
``Product/ProductBaseInformation``, ``extra`` is ``Product/ProductAdditionalInformation``)

===============================  ======================================  ======================
seed 000 row (Netvisor side)     Netvisor element                        canonical field
===============================  ======================================  ======================
Product => Code                  base/ProductCode                        article_number
(the product's key)              base/NetvisorKey                        erp_key
Product => Name                  base/Name                               name
Product => Description           base/Description                        description
Product => Stockable [a]         base/InventoryEnabled                   is_stock_article
Product => Primary EAN code      extra/PrimaryEanCode (else base/)       barcode
Product => Length, Width,        extra/ProductPackageInformation/        dimensions (unit from
Height [b]                        PackageLength, PackageWidth,            @unit, default cm)
                                  PackageHeight
Product => Net weight [b]        extra/ProductNetWeight                  net_weight (@weightunit,
                                                                         default kg)
Product => Gross weight [b]      extra/ProductGrossWeight                gross_weight
Product => Purchase price         base/PurchasePrice                      purchase_price
Product => Basic price (Unit     base/UnitPrice (net)                    sales_price
price)
Product => Tariff heading        base/TariffHeading                      statistics_number
Product => Intrastat =>          base/CountryOfOrigin (ISO-3166)         country_of_origin
CountryOfOrigin [c]
Product => Group => Name [d]     list ProductGroupDescription, else      group.name
                                  base/ProductGroup
Product => Group => ID [d]       list ProductGroupID                     group.code
Product => Sub products [e]      SubProductInformation/Children/Product  structure
                                  {NetvisorKey, Amount}
(unit)                           base/Unit                               unit
===============================  ======================================  ======================

Filters: ``productlist.nv?published=1&unpublished=0&deleted=0&changedsince=`` and
``getproduct.nv?replyoption=3`` ("only active published products"): published only, deleted
ones never synced (seed 000 "Filters").

Orders: ``salesinvoicelist.nv?listtype=preinvoice&invoicestatus=undelivered&lastmodifiedstart=``
then ``getorder.nv?netvisorkeylist=`` ("follows the same structure" as getsalesinvoice.nv:
https://support.netvisor.fi/fi/support/solutions/articles/77000554151), and the invoicing
customer's card from ``getcustomer.nv?idlist=``
(https://support.netvisor.fi/en/articles/766863-get-customer-details-getcustomer-nv)
(canonical: :class:`Order`; ``o`` is ``SalesInvoice``, ``card`` is
``Customer/CustomerBaseInformation``, ``line`` ``InvoiceLines/InvoiceLine/SalesInvoiceProductLine``)

===============================  ======================================  ======================
seed 000 row (Netvisor side)     Netvisor element                        canonical field
===============================  ======================================  ======================
(the order's key)                o/SalesInvoiceNetvisorKey               erp_key
Order => Order number            o/SalesInvoiceNumber                    order_number
(order date)                     o/SalesInvoiceDate                      order_date
Order => Delivery date           o/SalesInvoiceDeliveryDate              delivery_date
Order => Our reference           o/SalesInvoiceOurReference              reference
Order => Your reference          o/SalesInvoiceYourReference             customer_reference
Order => Total (EUR) including   o/SalesInvoiceAmount                    total_price
tax                                                                       (total_includes_vat)
Order => Text before order rows  o/SalesInvoiceFreeTextBeforeLines       comment
Order => Text after order rows   o/SalesInvoiceFreeTextAfterLines        free_text
Order => Term of delivery        o/DeliveryTerm                          terms_of_delivery.name
Order => Delivery method         o/DeliveryMethod                        way_of_delivery.name
Order => Delivery address =>     o/DeliveryAddressName                   customer.address.name
Name [f]
(delivery street line) [f]       o/DeliveryAddressLine                   customer.address.
                                                                          address1
Order => Delivery address =>     o/DeliveryAddressNameExtension          customer.address.
Place of business [f]                                                     address2
Customer => Delivery address =>  o/DeliveryAddressTown                   customer.address.city
City [f]
Order => Delivery address =>     o/DeliveryAddressPostnumber             customer.address.
Postal code [f]                                                           post_code
Order => Delivery address =>     o/DeliveryAddressCountryCode            customer.address.
Country of delivery [f]                                                   country_code
(no delivery address) [f]        o/InvoicingCustomerName, ...Addressline,  customer.address
                                  ...AdditionalAddressLine,
                                  ...Postnumber, ...Town, ...CountryCode
Order => Customer => Customer    o/InvoicingCustomerCode                 customer.
code                                                                      customer_number
Order => Customer => Netvisor    o/InvoicingCustomerNetvisorKey          customer.erp_key
key
Order => Customer => Name        o/InvoicingCustomerName                 customer.name
Order => Customer => Email [g]   card/Email                              customer.email
Order => Customer => Telephone   card/PhoneNumber                        customer.mobile
[g]
Order line => Product code       line/ProductIdentifier                  line.article_number
Order line => Product            line/ProductName                        line.article_name
Order line => Product netvisor   line/ProductNetvisorKey                 line.article_erp_key
key
Order line => Netvisor key       line/NetvisorKey                        line.external_line_key
Order line => Total (VAT         line/SalesInvoiceProductLineSum +       line.line_price and
inclusive) [h]                    SalesInvoiceProductLineVatSum           line.customs_value
Order line => Amount             line/SalesInvoiceProductLineQuantity    line.quantity
Comment line => Product [i]      InvoiceLine/SalesInvoiceCommentLine     text_lines (NetvisorKey
                                  {NetvisorKey, Comment}                  -> external_line_key,
                                                                          Comment -> text)
===============================  ======================================  ======================

Purchase orders: ``purchaseorderlist.nv?limitorderstatus=senttovendor&lastmodifiedstart=`` then
``getpurchaseorder.nv?NetvisorKeyList=`` (seed 003) (canonical: :class:`PurchaseOrder`; ``po``
is ``PurchaseOrder``, ``row`` ``PurchaseOrderLines/PurchaseOrderProductLine``)

===============================  ======================================  ======================
seed 000 row (Netvisor side)     Netvisor element                        canonical field
===============================  ======================================  ======================
(the purchase order's key)       po/NetvisorKey                          erp_key
Purchase order => Order number   po/OrderNumber                          order_number
Purchase order => Our reference  po/OurReference                         reference
Purchase order => Order comment  po/Comment                              comment
Purchase order => Purchase order po/OrderDate                            order_date
date
Purchase order => Vendor [j]     po/VendorName (+ VendorAddressLine,     supplier
                                  VendorPostNumber, VendorCity,
                                  VendorCountry)
Purchase order line => Product   row/ProductCode                         row.article_number
code
Purchase order line => Amount    row/OrderedAmount                       row.quantity
Purchase order line => Netvisor  row/NetvisorKey                         row.row_key
key
(expected arrival)               earliest row/DeliveryDate               delivery_date
===============================  ======================================  ======================

Filter: status "Sent to vendor" (``limitorderstatus=senttovendor``, and ``OrderStatus`` checked
again on the list) with undelivered rows left (some row's ``DeliveredAmount`` below its
``OrderedAmount``), changed since the cursor (``lastmodifiedstart``).

Notes (readings and choices; SEED-READINGS is the project's reading of the garbled rows):

[a] "Stockable" is the product's inventory flag, ``inventoryenabled`` in product.nv
    (https://support.netvisor.fi/en/support/solutions/articles/77000554243), read back as
    ``InventoryEnabled``; booleans come as 1/0, true/false or the interface language's words.
[b] Netvisor gives units with the values: package dimensions in centimetres unless ``@unit``
    says otherwise, weights with ``@weightunit`` (g, kg or tn), kilograms when absent (product.nv:
    "all existing product weight units will change to kilograms"). The canonical models carry
    the unit; tonnes become kilograms here (x 1000, exactly), because the model has no tonne.
[c] Intrastat's country of origin is the product's ``CountryOfOrigin`` (``@type`` ISO-3166).
[d] getproduct.nv gives only the group's name; productlist.nv gives ``ProductGroupID`` and
    ``ProductGroupDescription``: the list's values go with the product read in detail.
[e] showsubproducts=1 returns the sub products ("If 1, returns all the sub products as well");
    a child's product code is taken from its own element, else from the products read.
[f] SEED-READINGS 000, the delivery address: the rows are shifted in the copy; the consignee is
    the order's delivery address as a whole (name, street line, name extension as address2,
    post code, city, country). An order without a delivery address (none of those elements set)
    gets the invoicing customer's address block instead, never a mix, and the run's log says so.
[g] The customer card's e-mail and telephone (getcustomer.nv ``Email``, ``PhoneNumber``); the
    WMS column of the row is "Mobile", so the telephone is ``customer.mobile``.
[h] The line's sum is VAT exclusive and its VAT sum is given apart; their sum is the line's
    "Total (VAT inclusive)", the seed's line price and customs value (``prices_include_vat``).
[i] Comment lines (``showcommentlines=1``) become text lines with their Netvisor key; a comment
    line without one is keyed by its position (``comment-<n>``) so that the key is stable.
[j] getpurchaseorder.nv names the vendor but gives no vendor code or key: the supplier's number
    and key are its name (the seed maps the name only). ``VendorCountry`` is kept only when it
    is an ISO 3166 code.

Numbers are Netvisor's (decimal comma, ``1,960000000000``), read and written with
:class:`~decimal.Decimal` only (:func:`parse_decimal`, :func:`netvisor_decimal`); dates are ANSI
(``yyyy-MM-dd``; ``2017-1-1`` is read too): https://support.netvisor.fi/en/articles/
766841-resources-general ("Dates are in ANSI format", "Country codes are always in ISO 3166").

Writing back (request bodies, encoded by the client in ISO-8859-15) is at
:func:`delivery_xml`, :func:`receipt_xml` and :func:`warehouse_event_xml`, with the rules each
follows.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from erpsync.models import (
    Address,
    Article,
    ArticleGroup,
    CodeName,
    Customer,
    Delivery,
    Dimensions,
    InventoryAdjustment,
    Length,
    LengthUnit,
    Order,
    OrderLine,
    OrderTextLine,
    PurchaseOrder,
    PurchaseOrderRow,
    Receipt,
    StructureComponent,
    Supplier,
    Weight,
    WeightUnit,
)

__all__ = [
    "RECEIPT_MARKER",
    "REFERENCE_CHARS",
    "CustomerCard",
    "Element",
    "LineState",
    "ListedProduct",
    "OrderState",
    "PurchaseOrderLine",
    "ReceiptPlan",
    "batches",
    "children",
    "closed_lines",
    "customer_cards",
    "delivered_amounts",
    "delivery_plan",
    "delivery_xml",
    "has_undelivered_rows",
    "listed_products",
    "netvisor_date",
    "netvisor_decimal",
    "order_address",
    "order_elements",
    "order_state",
    "parse_bool",
    "parse_date",
    "parse_decimal",
    "product_elements",
    "purchase_order_elements",
    "purchase_order_lines",
    "receipt_comment",
    "receipt_found",
    "receipt_plan",
    "receipt_xml",
    "sub_product_keys",
    "text",
    "to_article",
    "to_order",
    "to_purchase_order",
    "unique",
    "warehouse_event_keys",
    "warehouse_event_reference",
    "warehouse_event_xml",
]

Element = Any
"""An lxml element (lxml ships no type information)."""

log = logging.getLogger(__name__)

REFERENCE_CHARS = 50
"""warehouseevent.nv: "reference | String, max 50 characters | 1"
(https://support.netvisor.fi/en/articles/766879-import-warehouse-event-warehouseevent-nv)."""

RECEIPT_MARKER = "erpsync receipt"
"""The start of the comment line a receipt adds to the purchase order (see :func:`receipt_xml`)."""

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_ANSI_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_FINNISH_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_TRUE = frozenset({"1", "true", "yes", "kyllä", "ja", "on"})
_FALSE = frozenset({"0", "false", "no", "ei", "nej", "off"})
_LENGTH_UNITS = {"mm": LengthUnit.MILLIMETRE, "cm": LengthUnit.CENTIMETRE, "m": LengthUnit.METRE}
_WEIGHT_UNITS = {"g": (WeightUnit.GRAM, Decimal(1)), "kg": (WeightUnit.KILOGRAM, Decimal(1)),
                 "tn": (WeightUnit.KILOGRAM, Decimal(1000)), "t": (WeightUnit.KILOGRAM,
                                                                     Decimal(1000))}


# --- Netvisor values -------------------------------------------------------------------------


def parse_decimal(value: str | None, field: str) -> Decimal | None:
    """A Netvisor number (``1,960000000000``, ``-3``, ``5.0``) as an exact Decimal; None when
    empty. Never through float.

    :raises ValueError: naming ``field`` when the text is not a number.
    """
    if value is None or not value.strip():
        return None
    cleaned = value.strip().replace("\u00a0", "").replace(" ", "")
    if not _DECIMAL.fullmatch(cleaned):
        raise ValueError(f"{field}: {value!r} is not a number")
    try:
        return Decimal(cleaned.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{field}: {value!r} is not a number") from None


def netvisor_decimal(value: Decimal) -> str:
    """A Decimal as Netvisor writes numbers: plain digits with a decimal comma (``12,50``),
    never exponent notation, exactly as many decimals as the value has."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    return format(value, "f").replace(".", ",")


def parse_date(value: str | None, field: str) -> date | None:
    """An ANSI date (``2018-06-01``, ``2017-1-1``; a time after it is ignored) or a Finnish one
    (``28.11.2014``, as some examples show) as a date; None when empty."""
    if value is None or not value.strip():
        return None
    text_ = value.strip()
    try:
        if match := _ANSI_DATE.match(text_):
            year, month, day = (int(part) for part in match.groups())
            return date(year, month, day)
        if match := _FINNISH_DATE.match(text_):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise ValueError(f"{field}: {value!r} is not an ANSI date (yyyy-MM-dd)")


def netvisor_date(value: date) -> str:
    """A date as Netvisor takes it, ANSI: ``2024-03-05``."""
    return value.isoformat()


def parse_bool(value: str | None, field: str) -> bool | None:
    """1/0, true/false, yes/no and the Finnish and Swedish words (the interface language decides
    which Netvisor writes); None when empty."""
    if value is None or not value.strip():
        return None
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{field}: {value!r} is not a yes or no")


# --- reading elements ------------------------------------------------------------------------


def text(element: Element | None, path: str) -> str | None:
    """The stripped text at ``path`` under ``element``; None when absent or empty."""
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    value: str = found.text.strip()
    return value or None


def children(element: Element | None, path: str) -> list[Element]:
    """The elements at ``path`` under ``element`` (none when ``element`` is None)."""
    return [] if element is None else list(element.findall(path))


def _required(element: Element, path: str, what: str) -> str:
    value = text(element, path)
    if value is None:
        raise ValueError(f"{what}: {path} is missing")
    return value


def _decimal(element: Element | None, path: str) -> Decimal | None:
    return parse_decimal(text(element, path), path)


def _country(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not _COUNTRY.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not an ISO 3166 country code")
    return value.upper()


# --- articles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedProduct:
    """What productlist.nv says of a product: its key and its group."""

    key: str
    group_id: str | None
    group_name: str | None


def listed_products(products: Iterable[Element]) -> Iterator[ListedProduct]:
    """The ``ProductList/Product`` elements of a productlist.nv answer, each read before the
    next is taken (they may come one at a time from :func:`erpsync.http.iter_xml`)."""
    for product in products:
        if product.find("NetvisorKey") is not None:
            group = text(product, "ProductGroupDescription")
            yield ListedProduct(
                key=_required(product, "NetvisorKey", "productlist.nv Product"),
                group_id=text(product, "ProductGroupID"),
                group_name=sys.intern(group) if group else group,  # a few groups, many products
            )


def product_elements(root: Element) -> list[Element]:
    """The products of a getproduct.nv answer: ``Product`` elements with base information (the
    ``Product`` elements inside ``SubProductInformation`` are references, not products)."""
    return [el for el in root.iter("Product") if el.find("ProductBaseInformation") is not None]


def sub_product_keys(product: Element) -> list[str]:
    """The Netvisor keys of a product's sub products (its structure's components)."""
    keys = (text(child, "NetvisorKey")
            for child in children(product, "SubProductInformation/Children/Product"))
    return [key for key in keys if key]


def _length(element: Element | None, name: str) -> Length | None:
    found = None if element is None else element.find(name)
    value = parse_decimal(None if found is None else found.text, name)
    if value is None or found is None:
        return None
    unit = (found.get("unit") or "cm").strip().lower()
    if unit not in _LENGTH_UNITS:
        raise ValueError(f"{name}: unknown length unit {unit!r}")
    return Length(value=value, unit=_LENGTH_UNITS[unit])


def _weight(extra: Element | None, name: str) -> Weight | None:
    found = None if extra is None else extra.find(name)
    value = parse_decimal(None if found is None else found.text, name)
    if value is None or found is None:
        return None
    unit = (found.get("weightunit") or found.get("unit") or text(extra, "ProductWeightUnit")
            or "kg").strip().lower()
    if unit not in _WEIGHT_UNITS:
        raise ValueError(f"{name}: unknown weight unit {unit!r}")
    canonical, factor = _WEIGHT_UNITS[unit]
    return Weight(value=value * factor, unit=canonical)


def to_article(
    product: Element, listed: ListedProduct | None, codes: Mapping[str, str]
) -> Article:
    """A getproduct.nv ``Product`` as an :class:`Article` (see the table above).

    :param listed: what productlist.nv said of it (the group's ID and name).
    :param codes: product codes by Netvisor key, to name the sub products.
    """
    base = product.find("ProductBaseInformation")
    extra = product.find("ProductAdditionalInformation")
    key = _required(base, "NetvisorKey", "getproduct.nv Product")
    code = _required(base, "ProductCode", f"product {key}")
    package = None if extra is None else extra.find("ProductPackageInformation")
    structure: list[StructureComponent] = []
    for child in children(product, "SubProductInformation/Children/Product"):
        child_key = text(child, "NetvisorKey")
        child_code = text(child, "ProductCode") or (codes.get(child_key) if child_key else None)
        if child_code is None:
            raise ValueError(f"product {code}: sub product {child_key} is not a product read")
        amount = _decimal(child, "Amount")
        structure.append(StructureComponent(article_number=child_code,
                                            quantity=Decimal(1) if amount is None else amount))
    group_name = (listed.group_name if listed else None) or text(base, "ProductGroup")
    group_id = listed.group_id if listed else None
    stockable = parse_bool(text(base, "InventoryEnabled"), "InventoryEnabled")
    active = parse_bool(text(base, "IsActive"), "IsActive")
    return Article(
        article_number=code,
        erp_key=key,
        name=_required(base, "Name", f"product {code}"),
        description=text(base, "Description"),
        is_stock_article=True if stockable is None else stockable,
        is_active=True if active is None else active,
        barcode=text(extra, "PrimaryEanCode") or text(base, "PrimaryEanCode"),
        unit=text(base, "Unit"),
        group=ArticleGroup(code=group_id, name=group_name) if group_id or group_name else None,
        dimensions=Dimensions(
            length=_length(package, "PackageLength"),
            width=_length(package, "PackageWidth"),
            height=_length(package, "PackageHeight"),
        ),
        net_weight=_weight(extra, "ProductNetWeight"),
        gross_weight=_weight(extra, "ProductGrossWeight"),
        purchase_price=_decimal(base, "PurchasePrice"),
        sales_price=_decimal(base, "UnitPrice"),
        statistics_number=text(base, "TariffHeading"),
        country_of_origin=_country(text(base, "CountryOfOrigin")
                                   or text(extra, "CountryOfOrigin"), "CountryOfOrigin"),
        structure=tuple(structure),
    )


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerCard:
    """The contact details of a customer card (getcustomer.nv)."""

    email: str | None
    phone: str | None


def customer_cards(root: Element) -> dict[str, CustomerCard]:
    """getcustomer.nv's ``Customer/CustomerBaseInformation`` by Netvisor key."""
    cards: dict[str, CustomerCard] = {}
    for base in root.iter("CustomerBaseInformation"):
        key = text(base, "NetvisorKey")
        if key:
            cards[key] = CustomerCard(email=text(base, "Email"), phone=text(base, "PhoneNumber"))
    return cards


_DELIVERY_BLOCK = ("DeliveryAddressName", "DeliveryAddressNameExtension", "DeliveryAddressLine",
                   "DeliveryAddressPostnumber", "DeliveryAddressTown",
                   "DeliveryAddressCountryCode")


def order_address(order: Element) -> tuple[Address, bool]:
    """The consignee's address block and whether it is the order's delivery address (True) or,
    the order having none, the invoicing customer's (False): SEED-READINGS 000, never mixed."""
    if any(text(order, name) for name in _DELIVERY_BLOCK):
        return Address(
            name=text(order, "DeliveryAddressName"),
            address1=text(order, "DeliveryAddressLine"),
            address2=text(order, "DeliveryAddressNameExtension"),
            post_code=text(order, "DeliveryAddressPostnumber"),
            city=text(order, "DeliveryAddressTown"),
            country_code=_country(text(order, "DeliveryAddressCountryCode"),
                                  "DeliveryAddressCountryCode"),
        ), True
    return Address(
        name=text(order, "InvoicingCustomerName"),
        address1=text(order, "InvoicingCustomerAddressline"),
        address2=text(order, "InvoicingCustomerAdditionalAddressLine"),
        post_code=text(order, "InvoicingCustomerPostnumber"),
        city=text(order, "InvoicingCustomerTown"),
        country_code=_country(text(order, "InvoicingCustomerCountryCode"),
                              "InvoicingCustomerCountryCode"),
    ), False


def order_elements(root: Element) -> list[Element]:
    """The orders of a getorder.nv answer (``SalesInvoice``, as getsalesinvoice.nv names them;
    ``SalesOrder`` is read too)."""
    return [el for el in root.iter("SalesInvoice", "SalesOrder")
            if el.find("SalesInvoiceNetvisorKey") is not None]


def to_order(order: Element, cards: Mapping[str, CustomerCard],
             logger: logging.Logger | None = None) -> Order:
    """A getorder.nv order as an :class:`Order` (see the table above).

    :param cards: the invoicing customers' cards by Netvisor key (e-mail and telephone).
    :param logger: told when the invoicing customer's address stands in for a missing delivery
        address.
    """
    key = _required(order, "SalesInvoiceNetvisorKey", "getorder.nv order")
    number = _required(order, "SalesInvoiceNumber", f"order {key}")
    address, is_delivery_address = order_address(order)
    if not is_delivery_address:
        (logger or log).info("order %s has no delivery address: the invoicing customer's "
                             "address is used", number)
    customer_key = text(order, "InvoicingCustomerNetvisorKey")
    card = cards.get(customer_key) if customer_key else None
    lines: list[OrderLine] = []
    text_lines: list[OrderTextLine] = []
    for position, line in enumerate(children(order, "InvoiceLines/InvoiceLine/*"), start=1):
        if line.tag == "SalesInvoiceCommentLine":
            comment = text(line, "Comment")
            if comment:
                text_lines.append(OrderTextLine(
                    external_line_key=text(line, "NetvisorKey") or f"comment-{position}",
                    text=comment,
                ))
        elif line.tag == "SalesInvoiceProductLine":
            mapped = _order_line(line, number)
            if mapped is not None:
                lines.append(mapped)
    amount = order.find("SalesInvoiceAmount")
    currency = None if amount is None else amount.get("iso4217currencycode")
    return Order(
        order_number=number,
        erp_key=key,
        order_date=parse_date(text(order, "SalesInvoiceDate"), "SalesInvoiceDate"),
        delivery_date=parse_date(text(order, "SalesInvoiceDeliveryDate"),
                                 "SalesInvoiceDeliveryDate"),
        reference=text(order, "SalesInvoiceOurReference"),
        customer_reference=text(order, "SalesInvoiceYourReference"),
        total_price=_decimal(order, "SalesInvoiceAmount"),
        total_includes_vat=True,
        currency=currency.upper() if currency else None,
        comment=text(order, "SalesInvoiceFreeTextBeforeLines"),
        free_text=text(order, "SalesInvoiceFreeTextAfterLines"),
        terms_of_delivery=_code_name(text(order, "DeliveryTerm")),
        way_of_delivery=_code_name(text(order, "DeliveryMethod")),
        customer=Customer(
            customer_number=text(order, "InvoicingCustomerCode"),
            erp_key=customer_key,
            name=_required(order, "InvoicingCustomerName", f"order {number}"),
            address=address,
            email=card.email if card else None,
            mobile=card.phone if card else None,
        ),
        lines=tuple(lines),
        text_lines=tuple(text_lines),
    )


def _code_name(name: str | None) -> CodeName | None:
    return CodeName(name=name) if name else None


def _order_line(line: Element, number: str) -> OrderLine | None:
    key = _required(line, "NetvisorKey", f"order {number} product line")
    quantity = _decimal(line, "SalesInvoiceProductLineQuantity")
    if quantity is None or quantity <= 0:
        log.debug("order %s line %s has no quantity to ship; left out", number, key)
        return None
    net = _decimal(line, "SalesInvoiceProductLineSum")
    vat = _decimal(line, "SalesInvoiceProductLineVatSum")
    total = None if net is None else net + (vat or Decimal(0))
    return OrderLine(
        external_line_key=key,
        article_number=_required(line, "ProductIdentifier", f"order {number} line {key}"),
        article_name=text(line, "ProductName"),
        article_erp_key=text(line, "ProductNetvisorKey"),
        quantity=quantity,
        line_price=total,
        customs_value=total,
        prices_include_vat=True,
    )


# --- purchase orders -------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseOrderLine:
    """A product line of a purchase order as the receipt rules need it."""

    key: str
    group: str
    """Its partial-delivery group (``PurchaseOrderProductDeliveryGroupID``), else its own key."""
    ordered: Decimal
    delivered: Decimal
    delivery_date: date | None


def purchase_order_lines(po: Element) -> list[PurchaseOrderLine]:
    """The product lines of a getpurchaseorder.nv ``PurchaseOrder``, in their order."""
    lines = []
    for row in children(po, "PurchaseOrderLines/PurchaseOrderProductLine"):
        key = _required(row, "NetvisorKey", "getpurchaseorder.nv PurchaseOrderProductLine")
        lines.append(PurchaseOrderLine(
            key=key,
            group=text(row, "PurchaseOrderProductDeliveryGroupID") or key,
            ordered=_decimal(row, "OrderedAmount") or Decimal(0),
            delivered=_decimal(row, "DeliveredAmount") or Decimal(0),
            delivery_date=parse_date(text(row, "DeliveryDate"), "DeliveryDate"),
        ))
    return lines


def has_undelivered_rows(po: Element) -> bool:
    """Seed 000's filter: "There must also still be undelivered order rows"."""
    return any(line.delivered < line.ordered for line in purchase_order_lines(po))


def purchase_order_elements(root: Element) -> list[Element]:
    """The purchase orders of a getpurchaseorder.nv answer."""
    return [el for el in root.iter("PurchaseOrder") if el.find("OrderNumber") is not None]


def to_purchase_order(po: Element) -> PurchaseOrder:
    """A getpurchaseorder.nv ``PurchaseOrder`` as a :class:`PurchaseOrder` (table above)."""
    key = _required(po, "NetvisorKey", "getpurchaseorder.nv PurchaseOrder")
    number = _required(po, "OrderNumber", f"purchase order {key}")
    amount = po.find("Amount")
    currency = None if amount is None else amount.get("currencycode")
    rows: list[PurchaseOrderRow] = []
    dates: list[date] = []
    for position, row in enumerate(children(po, "PurchaseOrderLines/PurchaseOrderProductLine"),
                                   start=1):
        row_key = _required(row, "NetvisorKey", f"purchase order {number} line")
        code = text(row, "ProductCode")
        quantity = _decimal(row, "OrderedAmount")
        if code is None or quantity is None or quantity <= 0:
            log.debug("purchase order %s line %s has no product or amount; left out", number,
                      row_key)
            continue
        when = parse_date(text(row, "DeliveryDate"), "DeliveryDate")
        if when is not None:
            dates.append(when)
        rows.append(PurchaseOrderRow(
            row_key=row_key,
            row_number=position,
            article_number=code,
            article_name=text(row, "ProductName"),
            quantity=quantity,
            price=_decimal(row, "UnitPrice"),
            currency=currency.upper() if currency else None,
        ))
    vendor = text(po, "VendorName")
    supplier = None
    if vendor:
        country = text(po, "VendorCountry")
        supplier = Supplier(
            supplier_number=vendor,
            erp_key=vendor,
            name=vendor,
            address=Address(
                name=vendor,
                address1=text(po, "VendorAddressLine"),
                post_code=text(po, "VendorPostNumber"),
                city=text(po, "VendorCity"),
                country_code=country.upper() if country and _COUNTRY.fullmatch(country)
                else None,
            ),
        )
    return PurchaseOrder(
        order_number=number,
        erp_key=key,
        order_date=parse_date(text(po, "OrderDate"), "OrderDate"),
        delivery_date=min(dates) if dates else None,
        reference=text(po, "OurReference"),
        comment=text(po, "Comment"),
        supplier=supplier,
        currency=currency.upper() if currency else None,
        rows=tuple(rows),
    )


# --- writing: deliveries -----------------------------------------------------------------------


@dataclass(frozen=True)
class LineState:
    """An order line's delivered quantity as Netvisor reports it."""

    key: str
    delivered: Decimal


@dataclass(frozen=True)
class OrderState:
    """A sales order as warehousereport.nv's salesinventoryevents report gives it."""

    key: str
    number: str | None
    customer_key: str | None
    lines: Mapping[str, LineState]


def order_state(root: Element, order_key: str) -> OrderState | None:
    """The order ``order_key`` of a ``warehousereport.nv?report=salesinventoryevents`` answer
    (``InventoryReport/SalesEntities/SalesEntity``), or None when the report does not hold it.

    Documented (https://support.netvisor.fi/en/support/solutions/articles/77000554249):
    ``SalesEntity/NetvisorKey``, ``OrderNumber``, ``Customer/NetvisorKey`` and
    ``SalesEntityProductLines/SalesEntityProductLine/NetvisorKey``. The line's delivered total
    is read from ``DeliveredAmount`` (our reading: the stored page breaks off after the line's
    key); a line without one has delivered nothing.
    """
    for entity in root.iter("SalesEntity"):
        if text(entity, "NetvisorKey") != order_key:
            continue
        lines: dict[str, LineState] = {}
        for line in children(entity, "SalesEntityProductLines/SalesEntityProductLine"):
            key = text(line, "NetvisorKey")
            if key:
                delivered = _decimal(line, "DeliveredAmount") or Decimal(0)
                lines[key] = LineState(key=key, delivered=delivered)
        return OrderState(key=order_key, number=text(entity, "OrderNumber"),
                          customer_key=text(entity, "Customer/NetvisorKey"), lines=lines)
    return None


def delivered_amounts(state: OrderState) -> dict[str, Decimal]:
    """Delivered quantity by order line key."""
    return {key: line.delivered for key, line in state.lines.items()}


def delivery_plan(delivery: Delivery, state: OrderState) -> dict[str, Decimal]:
    """What to deliver now per order line so that Netvisor's delivered quantity reaches the
    warehouse's ``total_delivered_quantity``: absolute, so a repeated report adds nothing.

    Each line gets ``min(delivered_quantity, total - already delivered)``; lines already at
    their total are left out. An empty plan means Netvisor has the whole delivery already.

    :raises KeyError: naming the line the order in Netvisor does not have.
    """
    plan: dict[str, Decimal] = {}
    for line in delivery.lines:
        current = state.lines.get(line.external_line_key)
        if current is None:
            raise KeyError(line.external_line_key)
        need = min(line.delivered_quantity, line.total_delivered_quantity - current.delivered)
        if need > 0:
            plan[line.external_line_key] = plan.get(line.external_line_key, Decimal(0)) + need
    return plan


def closed_lines(delivery: Delivery) -> set[str]:
    """The order lines this delivery completes: nothing more is to come on them.

    Netvisor's ``deliveryamount`` carries a required ``ispostdelivery`` attribute (article
    77000554163): ``true`` leaves the rest of the line to be delivered later, ``false`` closes
    it. A line whose ordered quantity is unknown stays open, so a later delivery is possible.
    """
    return {line.external_line_key for line in delivery.lines
            if line.ordered_quantity is not None
            and line.total_delivered_quantity >= line.ordered_quantity}


def delivery_xml(customer_key: str, when: date, plan: Mapping[str, Decimal],
                 closed: Collection[str] = ()) -> Element:
    """``salesorderinvoicing.nv?method=deliveryonly``: the order lines' delivered amounts, no
    invoice (SEED-READINGS 000: "Netvisor is told the delivered quantity only").

    Elements in the documented order
    (https://support.netvisor.fi/en/support/solutions/articles/77000554163): ``invoicingcustomer``
    {``netvisorkey``, ``invoicedate``, ``invoicingproductlines/invoicingproductline``
    {``netvisorkey``, ``deliverydate``, ``deliveryamount``}}; the delivery date is the warehouse's.
    """
    root = etree.Element("root")
    invoicing = etree.SubElement(etree.SubElement(root, "salesorderinvoicing"),
                                 "invoicingcustomer")
    etree.SubElement(invoicing, "netvisorkey").text = customer_key
    _ansi(invoicing, "invoicedate", when)
    lines = etree.SubElement(invoicing, "invoicingproductlines")
    for key, amount in plan.items():
        line = etree.SubElement(lines, "invoicingproductline")
        etree.SubElement(line, "netvisorkey").text = key
        _ansi(line, "deliverydate", when)
        amount_element = etree.SubElement(line, "deliveryamount",
                                          ispostdelivery="false" if key in closed else "true")
        amount_element.text = netvisor_decimal(amount)
    return root


def _ansi(parent: Element, name: str, when: date) -> None:
    element = etree.SubElement(parent, name, format="ansi")
    element.text = netvisor_date(when)


# --- writing: receipts -------------------------------------------------------------------------


@dataclass(frozen=True)
class _RowWrite:
    """One purchase-order product line written by a receipt."""

    line: PurchaseOrderLine
    method: str
    """``edit`` (delivery details) or ``partialdeliver`` (two partial delivery rows)."""
    delivered: Decimal
    """edit: the line's delivered amount; partialdeliver: the part delivered now."""
    confirmed: bool


@dataclass(frozen=True)
class ReceiptPlan:
    """What a receipt writes to a purchase order (nothing when Netvisor has it all)."""

    writes: tuple[_RowWrite, ...]

    def __bool__(self) -> bool:
        return bool(self.writes)


def receipt_plan(receipt: Receipt, lines: Sequence[PurchaseOrderLine]) -> ReceiptPlan:
    """Seed 003's rules, applied so that Netvisor's received quantity per row reaches the
    warehouse's ``total_received_quantity`` (quantities may differ from those advised):

    - A row's state is its partial-delivery group (the lines sharing its
      ``PurchaseOrderProductDeliveryGroupID``): ordered and delivered are summed over it, and
      ``min(received_quantity, total_received - delivered)`` is what this receipt adds (nothing
      when Netvisor already has the total: a repeated receipt writes nothing).
    - The amount goes to the group's open line (the first with nothing delivered; the row itself
      while it was never split). When it completes the open line, or the warehouse closed the
      purchase order, the line is edited: ``method="edit"`` with
      ``purchaseorderproductlinedeliverydetails`` (delivered amount, received date, and
      ``deliverymanuallyconfirmed`` when the amount differs from the one ordered: "Delivery
      manually confirmed, even if divergent amount").
    - A part of the open line is a partial delivery: ``method="partialdeliver"`` with two
      partial delivery rows, the part received (ordered = delivered = the part, on the received
      date) and the rest still expected (ordered = the rest, delivered 0, on the line's
      delivery date). Our reading of "the amount of ordered products (orderedamount) must
      correspond to the ordered amount of the targeted productline": the rows' ordered amounts
      add up to the line's ("Partially delivered product amount must correspond to the original
      purchase order line's product amount").
    - More than the group ordered, once its lines are all delivered, is added to its last line
      (edit, manually confirmed).

    :raises KeyError: naming a row the purchase order does not have.
    """
    by_key = {line.key: line for line in lines}
    writes: list[_RowWrite] = []
    for row in receipt.rows:
        line = by_key.get(row.row_key)
        if line is None:
            raise KeyError(row.row_key)
        group = [other for other in lines if other.group == line.group]
        delivered = sum((other.delivered for other in group), Decimal(0))
        need = min(row.received_quantity, row.total_received_quantity - delivered)
        if need <= 0:
            continue
        open_line = next((other for other in group if other.delivered == 0 and other.ordered > 0),
                         None)
        if open_line is None:
            last = group[-1]
            writes.append(_RowWrite(last, "edit", last.delivered + need, confirmed=True))
        elif need >= open_line.ordered or receipt.complete:
            writes.append(_RowWrite(open_line, "edit", need,
                                    confirmed=need != open_line.ordered))
        else:
            writes.append(_RowWrite(open_line, "partialdeliver", need, confirmed=False))
    return ReceiptPlan(tuple(writes))


def receipt_comment(receipt: Receipt) -> str:
    """The comment line that carries the receipt's event id (how :func:`receipt_xml` makes the
    receipt findable again)."""
    return f"{RECEIPT_MARKER} {receipt.event_id}"


def receipt_xml(receipt: Receipt, plan: ReceiptPlan, when: date) -> Element:
    """``purchaseorder.nv?method=edit&id=``: the rows of :func:`receipt_plan` and a comment line
    ``erpsync receipt <event id>`` in the same message (so both are written or neither), in the
    order of purchaseorder.dtd (seed 003: "When editing an order, ... give only edited and/or new
    data in the XML")."""
    root = etree.Element("root")
    lines = etree.SubElement(etree.SubElement(root, "purchaseorder"), "purchaseorderlines")
    for write in plan.writes:
        line = etree.SubElement(lines, "purchaseorderproductline", method=write.method,
                                netvisorkey=write.line.key)
        if write.method == "partialdeliver":
            rest = write.line.ordered - write.delivered
            partial = etree.SubElement(line, "purchaseorderproductlinepartialdelivery")
            _partial_row(partial, write.delivered, write.delivered, when)
            _partial_row(partial, rest, Decimal(0), write.line.delivery_date or when)
        else:
            details = etree.SubElement(line, "purchaseorderproductlinedeliverydetails")
            etree.SubElement(details, "deliveredamount").text = netvisor_decimal(write.delivered)
            _ansi(details, "deliveryreceiveddate", when)
            if write.confirmed:
                etree.SubElement(details, "deliverymanuallyconfirmed").text = "true"
    comment = etree.SubElement(lines, "purchaseordercommentline", method="add")
    etree.SubElement(comment, "comment").text = receipt_comment(receipt)
    return root


def _partial_row(parent: Element, ordered: Decimal, delivered: Decimal, when: date) -> None:
    row = etree.SubElement(parent, "purchaseorderproductlinepartialdeliverycontent")
    etree.SubElement(row, "orderedamount").text = netvisor_decimal(ordered)
    etree.SubElement(row, "deliveredamount").text = netvisor_decimal(delivered)
    _ansi(row, "deliveryreceiveddate", when)


def receipt_found(po: Element, receipt: Receipt) -> bool:
    """Whether the purchase order shows ``receipt``: its comment line, or every row's group
    delivered up to the warehouse's total (receipts are absolute too)."""
    marker = receipt_comment(receipt)
    if any(text(line, "Comment") == marker
           for line in children(po, "PurchaseOrderLines/PurchaseOrderCommentLine")):
        return True
    lines = purchase_order_lines(po)
    by_key = {line.key: line for line in lines}
    for row in receipt.rows:
        line = by_key.get(row.row_key)
        if line is None:
            return False
        delivered = sum((other.delivered for other in lines if other.group == line.group),
                        Decimal(0))
        if delivered < row.total_received_quantity:
            return False
    return True


# --- writing: inventory adjustments ------------------------------------------------------------


def warehouse_event_reference(event_id: str) -> str:
    """The warehouse event's ``reference`` (max 50 characters): the adjustment's event id, or
    when longer, ``erpsync-`` and a hash of it (the full id is in the description)."""
    if len(event_id) <= REFERENCE_CHARS:
        return event_id
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return "erpsync-" + digest[: REFERENCE_CHARS - len("erpsync-")]


def warehouse_event_xml(adjustment: InventoryAdjustment, *, event_type: str,
                        inventory_place: str | None, when: date) -> Element:
    """``warehouseevent.nv``: one warehouse event per adjustment (SEED-READINGS 000), with the
    configured inventory event type, the signed quantity (positive into stock, negative out)
    and the event id as its reference
    (https://support.netvisor.fi/en/articles/766879-import-warehouse-event-warehouseevent-nv).

    ``unitprice`` is required and "always imported as net price": the warehouse knows no price,
    so 0. ``status`` is ``open`` as the documented example. The product is given by its code
    (``type="customer"``).
    """
    root = etree.Element("root")
    event = etree.SubElement(root, "warehouseevent")
    cause = f": {adjustment.cause}" if adjustment.cause else ""
    etree.SubElement(event, "description").text = (
        f"erpsync adjustment {adjustment.event_id}{cause}")
    etree.SubElement(event, "reference").text = warehouse_event_reference(adjustment.event_id)
    lines = etree.SubElement(event, "warehouseeventlines")
    line = etree.SubElement(lines, "warehouseeventline")
    etree.SubElement(line, "eventtype", type="customer").text = event_type
    etree.SubElement(line, "product", type="customer").text = adjustment.article_number
    # The WMS's warehouse code names a warehouse in the WMS, not a Netvisor inventory place:
    # only the configured place (settings.inventory_place) is sent, else Netvisor's default.
    if inventory_place:
        etree.SubElement(line, "inventoryplace").text = inventory_place
    if adjustment.cause:
        etree.SubElement(line, "description").text = adjustment.cause
    etree.SubElement(line, "quantity").text = netvisor_decimal(adjustment.quantity)
    etree.SubElement(line, "unitprice").text = "0"
    _ansi(line, "valuedate", when)
    etree.SubElement(line, "status").text = "open"
    return root


def warehouse_event_keys(root: Element, reference: str) -> list[str]:
    """The Netvisor keys (else the references) of the warehouse events whose ``Reference`` is
    ``reference`` in a warehouse-event read (see the client's ``find_warehouse_event``)."""
    found = []
    for event in root.iter("WarehouseEvent"):
        if text(event, "Reference") == reference:
            found.append(text(event, "NetvisorKey") or reference)
    return found


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (the id-list limits)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))

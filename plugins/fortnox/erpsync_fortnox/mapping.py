"""Fortnox JSON <-> canonical models, field by field as seed 002 lists them.

Field names are those of Fortnox's API reference (https://apps.fortnox.se/apidocs: Articles,
Suppliers, Customers, Orders; the warehouse module's purchase orders, incoming goods and custom
documents) and of the warehouse field guide
(https://www.fortnox.se/developer/guides-and-good-to-know/warehouse-resource-specific-fields).
Each table gives the seed's row, the Fortnox field that stands for it and the canonical field
it lands in; the WMS column of the seed is the WMS plugin's business. Vendor objects arrive
here as dicts as Fortnox spells them, with JSON numbers already :class:`~decimal.Decimal`;
Fortnox also sends many numbers as strings (``"OrderedQuantity": "2.00"``), which
:func:`decimal` reads the same way.

Articles: ``GET /3/articles/{ArticleNumber}`` (``Article``); canonical :class:`Article`.

=============================  ===========================  ===============================  ===
seed 002 row                   Fortnox field                canonical field                  note
=============================  ===========================  ===============================  ===
Article name                   Description                  name                             [a]
Article number                 ArticleNumber                article_number, erp_key
EAN (barcode)                  EAN                          barcode
Width                          Width (mm)                   dimensions.width (mm)            [b]
Height                         Height (mm)                  dimensions.height (mm)           [b]
Depth (length)                 Depth (mm)                   dimensions.length (mm)           [b]
Weight                         Weight (g)                   gross_weight (g)                 [b]
Whether it is a stock article  StockGoods (Lagervara)       is_stock_article                 [c]
Purchase price                 PurchasePrice                purchase_price
Unit                           Unit                         unit
Description                    Note                         description                      [a]
Supplier                       SupplierNumber, SupplierName supplier
(inactive article)             Active                       is_active
=============================  ===========================  ===============================  ===

Suppliers: ``GET /3/suppliers/{SupplierNumber}`` (``Supplier``); canonical :class:`Supplier`.
Seed 002 says only "new suppliers"; these fields are what the WMS's supplier register holds:
SupplierNumber -> supplier_number and erp_key, Name -> name, Address1, Address2, ZipCode, City,
CountryCode (else Country, a name: [e]) -> address, Phone1 -> phone, Email -> email.

Sales orders: ``GET /3/orders/{DocumentNumber}`` (``Order`` with ``OrderRows``), the customer
from ``GET /3/customers/{CustomerNumber}`` for the order type; canonical :class:`Order`.

=============================  ===========================  ===============================  ===
seed 002 row                   Fortnox field                canonical field                  note
=============================  ===========================  ===============================  ===
Document number                DocumentNumber               order_number, erp_key
Remarks                        Remarks                      comment
Terms of delivery              TermsOfDelivery (a code)     terms_of_delivery.code
Terms of payment               TermsOfPayment (a code)      terms_of_payment.code
Your order number              YourOrderNumber              customer_order_number
Total price                    Total                        total_price (incl. VAT)
Language                       Language (SV, EN)            language
Our reference                  OurReference                 reference
Your reference                 YourReference                customer_reference
Delivery date                  DeliveryDate                 delivery_date
Way of delivery                WayOfDelivery (a code)       way_of_delivery.code
(order date, currency)         OrderDate, Currency          order_date, currency
(cancelled)                    Cancelled                    cancelled
Delivery address: Name         DeliveryName                 customer.address.name            [d]
Address                        DeliveryAddress1, 2          customer.address.address1, 2     [d]
City                           DeliveryCity                 customer.address.city            [d]
Country code                   DeliveryCountry (a name)     customer.address.country_code    [e]
ZIP code                       DeliveryZipCode              customer.address.post_code       [d]
Customer number                CustomerNumber               customer.customer_number
Phone 1 and 2                  Phone1, Phone2               customer.phone, customer.phone2
Organisation number            OrganisationNumber           customer.organisation_number
(customer name)                CustomerName                 customer.name
(e-mail for notification)      EmailInformation.            customer.email                   [f]
                               EmailAddressTo
Notification SMS and e-mail    (a setting)                  notify_by_sms, notify_by_email   [f]
Order type B2B / B2C           customer's Type (COMPANY,    order_type                       [g]
                               PRIVATE)
Row: Article number            OrderRows[].ArticleNumber    line.article_number              [h]
Row: Description               OrderRows[].Description      line.article_name                [h]
Row: Ordered quantity          OrderRows[].OrderedQuantity  line.quantity                    [h]
Row: Price total               OrderRows[].Total            line.customer_line_price         [i]
(row unit price)               OrderRows[].Price            line.unit_price, line_price      [i]
=============================  ===========================  ===============================  ===

Purchase orders (warehouse module), ``GET /api/warehouse/purchaseorders-v1/{id}``
(``PurchaseOrder``, camelCase, not wrapped); canonical :class:`PurchaseOrder`.

=============================  ===========================  ===============================  ===
seed 002 row                   Fortnox field                canonical field                  note
=============================  ===========================  ===============================  ===
Purchase order id              id                           order_number, erp_key
Delivery date                  deliveryDate                 delivery_date
Note                           note                         comment
Supplier: Name                 supplierName                 supplier.name
Supplier: Number               supplierNumber               supplier.supplier_number
Supplier: Address, Address2    supplierAddress, 2           supplier.address.address1, 2
Supplier: Post code, City      supplierPostCode,            supplier.address.post_code,
                               supplierCity                 city
Supplier: Country code         supplierCountryCode          supplier.address.country_code
Row: Article number            rows[].itemId                row.article_number
Row: Article name              rows[].itemDescription       row.article_name
Row: Row number                rows[].rowNum                row.row_number, row.row_key      [j]
Row: Ordered quantity          rows[].orderedQuantity       row.quantity
Row: Price                     rows[].price                 row.price
Row: Currency code             rows[].currencyCode, else    row.currency, currency
                               currencyCode
(order date)                   orderDate                    order_date
=============================  ===========================  ===============================  ===

Notes:

[a] SEED-READINGS 002: Fortnox's article ``Description`` is the article's name; its longer
    text, ``Note``, is the description.
[b] SEED-READINGS 002: Fortnox gives dimensions in millimetres and the weight in grams. They
    travel with their unit (:class:`Length`, :class:`Weight`); the WMS plugin converts them
    with :meth:`Length.to` / :meth:`Weight.to`, the one place where units change. A zero means
    "not given" in Fortnox (its default) and is left unset rather than sent as 0 mm.
[c] Seed 002: "When this setting [Lagervara] is set to Ja the article is a stock article".
    The API spells it ``StockGoods`` (a boolean).
[d] The delivery address block as a whole. An order without any delivery address field takes
    the order's invoice address block (CustomerName, Address1, Address2, ZipCode, City,
    Country) instead, whole, never mixed (the reading SEED-READINGS gives for Netvisor, which
    fits here too: the goods must go somewhere, and the customer's address is where).
[e] SEED-READINGS 002: Fortnox orders carry country names (``Sverige``); the WMS gets ISO 3166
    codes. :func:`country_code` maps Swedish and English names (and a code given as such); a
    name it cannot map is an :class:`~erpsync.models.Unreadable` naming the value, never a
    guess. An empty country stays unset.
[f] Seed 002: "Notification via SMS and email is turned off by default": the plugin's
    settings switch them on; the e-mail address is the one the order is e-mailed to, the SMS
    number the order's Phone1.
[g] Seed 002: "set the order type in Ongoing as B2B or B2C based on the customer type in
    Fortnox" (a setting, off by default): ``COMPANY`` -> B2B, ``PRIVATE`` -> B2C. Reusing or
    creating the WMS's order types is the WMS plugin's business.
[h] Fortnox order rows have ids (``RowId``) that change on every update of the order: "every
    row update regenerates all RowIds and deletes rows left out". A row's key
    (``external_line_key``) is therefore its position in ``OrderRows``, from 1
    (:func:`row_key`), which the plugin's own delivery write keeps (it writes every row back, in
    order). A row without an article number is a text row (:class:`OrderTextLine`); a row with
    an article and no positive ordered quantity is nothing to pick and is left out.
[i] "Price total" is the row's ``Total``: quantity times price less the row's discount, what
    the customer pays for the row. ``line_price`` (before discount) is quantity times
    ``Price``.
[j] The row's key is its row number (``rowNum``), which stays while the purchase order lives;
    incoming goods name the row by its id (``purchaseOrderRowId``, a uuid), looked up from the
    number when the receipt is written.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from erpsync.models import (
    Address,
    Article,
    CodeName,
    Customer,
    CustomerType,
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
    Supplier,
    SupplierRef,
    Weight,
    WeightUnit,
)

__all__ = [
    "FORTNOX_ZONE",
    "ORDER_ROW_FIELDS",
    "country_code",
    "country_name",
    "custom_document",
    "decimal",
    "delivered_rows",
    "document_id",
    "document_reference",
    "incoming_goods",
    "is_completed_purchase_order",
    "is_open_warehouse_purchase_order",
    "loads",
    "order_delivered",
    "parse_date",
    "row_key",
    "text",
    "to_article",
    "to_order",
    "to_purchase_order",
    "to_supplier",
]

JsonObject = Mapping[str, Any]

FORTNOX_ZONE = ZoneInfo("Europe/Stockholm")
"""The time zone of Fortnox's timestamps and of the ``lastmodified`` filter."""

CUSTOMER_TYPES = {"COMPANY": CustomerType.BUSINESS, "PRIVATE": CustomerType.CONSUMER}
"""Fortnox customer ``Type`` -> order type (note [g])."""

ORDER_ROW_FIELDS = (
    "AccountNumber", "ArticleNumber", "CostCenter", "DeliveredQuantity", "Description",
    "Discount", "DiscountType", "HouseWork", "HouseWorkHoursToReport", "HouseWorkType",
    "OrderedQuantity", "Price", "Project", "StockPointCode", "Unit", "VAT",
)
"""The writable fields of an order row (apidocs, Orders, ``OrderRows``): a delivery write sends
every row with these, as read, so that no row and none of its content is lost when Fortnox
replaces the rows (note [h]). ``RowId``, ``Total`` and the contribution fields are computed by
Fortnox and not sent."""


# --- values --------------------------------------------------------------------------------


def loads(content: bytes) -> Any:
    """A Fortnox JSON body with its numbers as Decimal (never float)."""
    return json.loads(content, parse_float=Decimal)


def text(obj: JsonObject | None, name: str) -> str | None:
    """The string value of ``name``, stripped; ``None`` when absent, null or blank."""
    if obj is None:
        return None
    value = obj.get(name)
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, Decimal):
        value = format(value.normalize(), "f") if value == value.to_integral() else str(value)
    result = str(value).strip()
    return result or None


def decimal(value: Any, name: str = "value") -> Decimal | None:
    """A Fortnox number (a JSON number or a string such as ``"2.00"``) as a Decimal; ``None``
    when absent or blank. Raises ValueError naming ``name`` and the value otherwise."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError(f"{name} is not a number: {value!r}")
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        raw = str(value).strip()
        if not raw:
            return None
        try:
            result = Decimal(raw)
        except InvalidOperation:
            raise ValueError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} is not a number: {value!r}")
    return result


def parse_date(value: Any) -> date | None:
    """A Fortnox date (``2024-05-17``); ``None`` when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return date.fromisoformat(str(value).strip()[:10])


def parse_time(value: Any) -> datetime | None:
    """A Fortnox timestamp (``2024-05-17 09:30:00``, or ISO 8601): Swedish local time when it
    carries no offset (https://www.fortnox.se/developer/guides-and-good-to-know/
    formats-and-encoding gives the form; Fortnox is a Swedish service and its timestamps carry
    no zone)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment = datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=FORTNOX_ZONE)
    return moment


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


# --- countries (note [e]) -----------------------------------------------------------------

_COUNTRIES: dict[str, tuple[str, ...]] = {
    # ISO 3166-1 alpha-2: the Swedish name Fortnox shows first, then other spellings met.
    "SE": ("Sverige", "Sweden"),
    "NO": ("Norge", "Norway"),
    "DK": ("Danmark", "Denmark"),
    "FI": ("Finland", "Suomi"),
    "IS": ("Island", "Iceland"),
    "DE": ("Tyskland", "Germany", "Deutschland"),
    "GB": ("Storbritannien", "United Kingdom", "Great Britain", "England", "UK",
           "Förenade kungariket"),
    "IE": ("Irland", "Ireland"),
    "NL": ("Nederländerna", "Netherlands", "Holland"),
    "BE": ("Belgien", "Belgium"),
    "LU": ("Luxemburg", "Luxembourg"),
    "FR": ("Frankrike", "France"),
    "ES": ("Spanien", "Spain"),
    "PT": ("Portugal",),
    "IT": ("Italien", "Italy"),
    "AT": ("Österrike", "Austria"),
    "CH": ("Schweiz", "Switzerland"),
    "PL": ("Polen", "Poland"),
    "CZ": ("Tjeckien", "Czechia", "Czech Republic"),
    "SK": ("Slovakien", "Slovakia"),
    "HU": ("Ungern", "Hungary"),
    "SI": ("Slovenien", "Slovenia"),
    "HR": ("Kroatien", "Croatia"),
    "RO": ("Rumänien", "Romania"),
    "BG": ("Bulgarien", "Bulgaria"),
    "GR": ("Grekland", "Greece"),
    "CY": ("Cypern", "Cyprus"),
    "MT": ("Malta",),
    "EE": ("Estland", "Estonia"),
    "LV": ("Lettland", "Latvia"),
    "LT": ("Litauen", "Lithuania"),
    "AX": ("Åland", "Aland Islands"),
    "FO": ("Färöarna", "Faroe Islands"),
    "GL": ("Grönland", "Greenland"),
    "US": ("USA", "United States", "Förenta staterna"),
    "CA": ("Kanada", "Canada"),
    "CN": ("Kina", "China"),
    "JP": ("Japan",),
    "AU": ("Australien", "Australia"),
    "UA": ("Ukraina", "Ukraine"),
    "TR": ("Turkiet", "Turkey", "Türkiye"),
}


def _fold(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


_BY_NAME = {_fold(name): code for code, names in _COUNTRIES.items() for name in names}


def country_code(name: str | None) -> str | None:
    """The ISO 3166 code of a Fortnox country name (``Sverige`` -> ``SE``); a two-letter code
    given as such passes when known. ``None`` for no name. Raises ValueError naming the value
    when the name is not known (the order is then dead-lettered, not guessed: note [e])."""
    if name is None or not name.strip():
        return None
    folded = _fold(name)
    if folded in _BY_NAME:
        return _BY_NAME[folded]
    if len(folded) == 2 and folded.upper() in _COUNTRIES:
        return folded.upper()
    raise ValueError(f"the country {name.strip()!r} cannot be mapped to an ISO 3166 code")


def country_name(code: str | None) -> str | None:
    """The Swedish country name Fortnox uses for an ISO 3166 code (``SE`` -> ``Sverige``)."""
    if code is None:
        return None
    names = _COUNTRIES.get(code.strip().upper())
    if names is None:
        raise ValueError(f"no Fortnox country name is known for {code!r}")
    return names[0]


# --- articles and suppliers ----------------------------------------------------------------


def _length(article: JsonObject, name: str) -> Length | None:
    value = _positive(decimal(article.get(name), name))
    return None if value is None else Length(value=value, unit=LengthUnit.MILLIMETRE)


def to_article(article: JsonObject) -> Article:
    """The canonical article of a Fortnox ``Article`` (the first table)."""
    number = text(article, "ArticleNumber")
    if number is None:
        raise ValueError("the article has no ArticleNumber")
    weight = _positive(decimal(article.get("Weight"), "Weight"))
    supplier_number = text(article, "SupplierNumber")
    stock_goods = article.get("StockGoods")
    return Article(
        article_number=number,
        erp_key=number,
        name=text(article, "Description") or number,
        description=text(article, "Note"),
        is_stock_article=stock_goods is True or text(article, "StockGoods") in ("true", "1"),
        is_active=article.get("Active") is not False,
        barcode=text(article, "EAN"),
        unit=text(article, "Unit"),
        dimensions=Dimensions(
            length=_length(article, "Depth"),
            width=_length(article, "Width"),
            height=_length(article, "Height"),
        ),
        gross_weight=None if weight is None else Weight(value=weight, unit=WeightUnit.GRAM),
        purchase_price=decimal(article.get("PurchasePrice"), "PurchasePrice"),
        supplier=(SupplierRef(supplier_number=supplier_number,
                              name=text(article, "SupplierName"))
                  if supplier_number else None),
        modified_at=parse_time(article.get("LastModified")),
    )


def _address(obj: JsonObject, name: str | None, fields: Sequence[str],
             country: str | None) -> Address | None:
    """An address block from ``fields`` (line 1, line 2, zip, city) and a country code, or None
    when no field of it is set."""
    line1, line2, zip_code, city = (text(obj, field) for field in fields)
    if not any((name, line1, line2, zip_code, city, country)):
        return None
    return Address(name=name, address1=line1, address2=line2, post_code=zip_code, city=city,
                   country_code=country)


def to_supplier(supplier: JsonObject) -> Supplier:
    """The canonical supplier of a Fortnox ``Supplier``."""
    number = text(supplier, "SupplierNumber")
    if number is None:
        raise ValueError("the supplier has no SupplierNumber")
    name = text(supplier, "Name") or number
    code = text(supplier, "CountryCode")
    country = code.upper() if code else country_code(text(supplier, "Country"))
    address = _address(supplier, name, ("Address1", "Address2", "ZipCode", "City"), country)
    return Supplier(
        supplier_number=number,
        erp_key=number,
        name=name,
        address=address or Address(),
        phone=text(supplier, "Phone1") or text(supplier, "Phone2"),
        email=text(supplier, "Email"),
        modified_at=parse_time(supplier.get("LastModified")),
    )


# --- sales orders --------------------------------------------------------------------------


def row_key(position: int) -> str:
    """The key of the order row at ``position`` (from 1) in ``OrderRows`` (note [h])."""
    return str(position)


@dataclass(frozen=True)
class Skipped:
    """An order row that is no order line (note [h])."""

    key: str
    reason: str


def _order_address(order: JsonObject) -> Address:
    """The delivery address block, else the invoice address block, whole (note [d])."""
    delivery = _address(order, text(order, "DeliveryName"),
                        ("DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode",
                         "DeliveryCity"),
                        country_code(text(order, "DeliveryCountry")))
    if delivery is not None:
        return delivery
    invoice = _address(order, text(order, "CustomerName"),
                       ("Address1", "Address2", "ZipCode", "City"),
                       country_code(text(order, "Country")))
    return invoice or Address()


def _rows(order: JsonObject, currency: str | None
          ) -> tuple[list[OrderLine], list[OrderTextLine], list[Skipped]]:
    lines: list[OrderLine] = []
    texts: list[OrderTextLine] = []
    skipped: list[Skipped] = []
    rows = order.get("OrderRows") or []
    if not isinstance(rows, list):
        raise ValueError("OrderRows is not a list")
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise ValueError(f"order row {position} is not an object")
        key = row_key(position)
        article = text(row, "ArticleNumber")
        description = text(row, "Description")
        if article is None:
            if description is not None:
                texts.append(OrderTextLine(external_line_key=key, text=description))
            continue
        quantity = decimal(row.get("OrderedQuantity"), f"row {position} OrderedQuantity")
        if quantity is None or quantity <= 0:
            skipped.append(Skipped(key, f"row {position} ({article}) orders no quantity"))
            continue
        price = decimal(row.get("Price"), f"row {position} Price")
        lines.append(OrderLine(
            external_line_key=key,
            article_number=article,
            article_name=description,
            quantity=quantity,
            unit_price=price,
            line_price=None if price is None else quantity * price,
            customer_line_price=decimal(row.get("Total"), f"row {position} Total"),
            currency=currency,
        ))
    return lines, texts, skipped


def _code(value: str | None) -> CodeName | None:
    return CodeName(code=value) if value else None


def to_order(
    order: JsonObject,
    customer: JsonObject | None = None,
    *,
    notify_by_email: bool = False,
    notify_by_sms: bool = False,
) -> tuple[Order, list[Skipped]]:
    """The canonical order of a Fortnox ``Order`` (the second table) and the rows left out.

    ``customer`` (the Fortnox ``Customer``) is given when the order type is switched on; the
    order type then follows its ``Type`` (note [g]). The notification switches are the
    plugin's settings (note [f])."""
    number = text(order, "DocumentNumber")
    if number is None:
        raise ValueError("the order has no DocumentNumber")
    currency_code = text(order, "Currency")
    currency = currency_code.upper() if currency_code else None
    lines, texts, skipped = _rows(order, currency)
    email_info = order.get("EmailInformation")
    email = text(email_info, "EmailAddressTo") if isinstance(email_info, Mapping) else None
    phone = text(order, "Phone1")
    customer_type = text(customer, "Type") if customer is not None else None
    customer_number = text(order, "CustomerNumber")
    name = (text(order, "DeliveryName") or text(order, "CustomerName")
            or (f"customer {customer_number}" if customer_number else "unknown customer"))
    return Order(
        order_number=number,
        erp_key=number,
        order_date=parse_date(order.get("OrderDate")),
        delivery_date=parse_date(order.get("DeliveryDate")),
        reference=text(order, "OurReference"),
        customer_reference=text(order, "YourReference"),
        customer_order_number=text(order, "YourOrderNumber"),
        total_price=decimal(order.get("Total"), "Total"),
        currency=currency,
        comment=text(order, "Remarks"),
        terms_of_delivery=_code(text(order, "TermsOfDelivery")),
        terms_of_payment=_code(text(order, "TermsOfPayment")),
        way_of_delivery=_code(text(order, "WayOfDelivery")),
        language=text(order, "Language"),
        notify_by_email=notify_by_email and email is not None,
        notify_by_sms=notify_by_sms and phone is not None,
        order_type=CUSTOMER_TYPES.get((customer_type or "").upper()),
        customer=Customer(
            customer_number=customer_number,
            erp_key=customer_number,
            name=name,
            address=_order_address(order),
            email=email,
            phone=phone,
            phone2=text(order, "Phone2"),
            mobile=phone if notify_by_sms else None,
            organisation_number=text(order, "OrganisationNumber"),
        ),
        lines=tuple(lines),
        text_lines=tuple(texts),
        cancelled=order.get("Cancelled") is True,
        modified_at=parse_time(order.get("LastModified")),
    ), skipped


# --- deliveries ----------------------------------------------------------------------------


def _order_rows(order: JsonObject) -> list[JsonObject]:
    rows = order.get("OrderRows") or []
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("OrderRows is not a list of rows")
    return rows


def _delivered_by_key(order: JsonObject, delivery: Delivery) -> dict[str, Decimal]:
    """Row key -> the delivered total the delivery asks for; KeyError names an unknown key."""
    rows = _order_rows(order)
    wanted: dict[str, Decimal] = {}
    for line in delivery.lines:
        position = int(line.external_line_key) if line.external_line_key.isdigit() else 0
        if not 1 <= position <= len(rows):
            raise KeyError(line.external_line_key)
        article = text(rows[position - 1], "ArticleNumber")
        if article != line.article_number:
            raise KeyError(line.external_line_key)
        wanted[line.external_line_key] = line.total_delivered_quantity
    return wanted


def order_delivered(order: JsonObject, delivery: Delivery) -> bool:
    """Whether every row of ``delivery`` already shows its delivered total in ``order``."""
    wanted = _delivered_by_key(order, delivery)
    rows = _order_rows(order)
    for key, total in wanted.items():
        row = rows[int(key) - 1]
        current = decimal(row.get("DeliveredQuantity"), f"row {key} DeliveredQuantity")
        if current is None or current != total:
            return False
    return True


def delivered_rows(order: JsonObject, delivery: Delivery) -> list[dict[str, Any]]:
    """Every row of ``order``, in order, with ``DeliveredQuantity`` set to the delivery's total
    where the delivery names the row: the ``OrderRows`` of ``PUT /3/orders/{n}``. An absolute
    write, safe to repeat.

    Each row carries its current ``RowId`` (the row is updated, not replaced) and its writable
    fields as read (:data:`ORDER_ROW_FIELDS`), so that nothing of it is lost whether Fortnox
    updates the row or makes it anew; rows the delivery does not name keep their delivered
    quantity, and text rows are sent too, since Fortnox deletes the rows left out (note [h]).

    Raises KeyError with the line key the order has no (matching) row for.
    """
    wanted = _delivered_by_key(order, delivery)
    body: list[dict[str, Any]] = []
    for position, row in enumerate(_order_rows(order), start=1):
        out = {name: row[name] for name in ("RowId", *ORDER_ROW_FIELDS)
               if row.get(name) is not None}
        total = wanted.get(row_key(position))
        if total is not None:
            out["DeliveredQuantity"] = _json_number(total)
        body.append(out)
    return body


def _json_number(value: Decimal) -> str:
    """A quantity as Fortnox spells it in JSON (a string such as ``"2"`` or ``"1.5"``)."""
    return format(value.normalize(), "f") if value else "0"


# --- purchase orders and documents (warehouse module) ------------------------------------


def _po_rows(purchase_order: JsonObject) -> list[JsonObject]:
    rows = purchase_order.get("rows") or []
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("rows is not a list of rows")
    return rows


def _po_row_key(row: JsonObject, index: int) -> str:
    """A purchase order row's key: its row number (``rowNum``; note [j])."""
    key = text(row, "rowNum")
    if key is None:
        raise ValueError(f"purchase order row {index} has no rowNum")
    return key


def to_purchase_order(purchase_order: JsonObject) -> PurchaseOrder:
    """The canonical purchase order of a warehouse ``PurchaseOrder`` (the third table)."""
    number = text(purchase_order, "id")
    if number is None:
        raise ValueError("the purchase order has no id")
    head_currency = text(purchase_order, "currencyCode")
    rows: list[PurchaseOrderRow] = []
    for index, row in enumerate(_po_rows(purchase_order), start=1):
        key = _po_row_key(row, index)
        article = text(row, "itemId")
        if article is None:
            raise ValueError(f"purchase order row {key} has no itemId")
        quantity = decimal(row.get("orderedQuantity"), f"row {key} orderedQuantity")
        if quantity is None or quantity <= 0:
            continue
        currency = text(row, "currencyCode") or head_currency
        rows.append(PurchaseOrderRow(
            row_key=key,
            row_number=int(key) if key.isdigit() else None,
            article_number=article,
            article_name=text(row, "itemDescription"),
            quantity=quantity,
            price=decimal(row.get("price"), f"row {key} price"),
            currency=currency.upper() if currency else None,
        ))
    supplier_number = text(purchase_order, "supplierNumber")
    supplier = None
    if supplier_number is not None:
        code = text(purchase_order, "supplierCountryCode")
        name = text(purchase_order, "supplierName") or supplier_number
        supplier = Supplier(
            supplier_number=supplier_number,
            erp_key=supplier_number,
            name=name,
            address=_address(purchase_order, name,
                             ("supplierAddress", "supplierAddress2", "supplierPostCode",
                              "supplierCity"),
                             code.upper() if code else None) or Address(),
        )
    return PurchaseOrder(
        order_number=number,
        erp_key=number,
        order_date=parse_date(purchase_order.get("orderDate")),
        delivery_date=parse_date(purchase_order.get("deliveryDate")),
        comment=text(purchase_order, "note"),
        supplier=supplier,
        currency=head_currency.upper() if head_currency else None,
        rows=tuple(rows),
    )


def is_open_warehouse_purchase_order(purchase_order: JsonObject) -> bool:
    """Seed 002's filter: state sent, purchase type warehouse, not voided (the list asks for
    these already; a purchase order read alone is checked here)."""
    return (str(purchase_order.get("purchaseOrderState") or "").upper() == "SENT"
            and str(purchase_order.get("purchaseType") or "").upper() == "WAREHOUSE"
            and purchase_order.get("voided") is not True)


def is_completed_purchase_order(purchase_order: JsonObject) -> bool:
    """Whether the purchase order is completed (manually, or received in full)."""
    return (purchase_order.get("manuallyCompleted") is True
            or str(purchase_order.get("purchaseOrderState") or "").upper() == "RECEIVED")


def document_reference(event_id: str) -> str:
    """A short, stable reference of an event for a Fortnox document field (incoming goods'
    ``deliveryNoteId``, 1..50 characters): the lookup finds the document by it."""
    return "erpsync-" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:32]


def document_id(event_id: str) -> str:
    """The id of a custom document made for an event: digits only, at most 25 (the warehouse
    API's rule for custom document ids), the same every time for the same event."""
    return str(int(hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:16], 16))


def incoming_goods(purchase_order: JsonObject, receipt: Receipt, day: date) -> dict[str, Any]:
    """The ``IncomingGoods`` document for ``receipt``: a row per receipt row with something
    received in this receipt, naming its purchase order row (``purchaseOrderId``,
    ``purchaseOrderRowId``).

    ``receivedQuantity`` is what this receipt brought; ``orderedQuantity`` the row's ordered
    quantity; ``backOrderQuantity`` what is still to come after it (never below zero); nothing
    of it is invoiced yet; ``takenQuantity``, the part taken into stock, is the whole received
    quantity (the warehouse reports what it put on the shelf). More than the row still expects
    is split: the rest of the row on the row, the surplus on a row of its own without a
    purchase order row (incoming goods may not receive more than remains of a row). Raises
    KeyError naming a row the purchase order does not have (or has for another article)."""
    by_key = {_po_row_key(row, index): row
              for index, row in enumerate(_po_rows(purchase_order), start=1)}
    rows: list[dict[str, Any]] = []
    for line in receipt.rows:
        row = by_key.get(line.row_key)
        if row is None or text(row, "itemId") != line.article_number:
            raise KeyError(line.row_key)
        if line.received_quantity <= 0:
            continue
        ordered = decimal(row.get("orderedQuantity"), "orderedQuantity") or Decimal(0)
        before = decimal(row.get("receivedQuantity"), "receivedQuantity") or Decimal(0)
        remaining = max(Decimal(0), ordered - before)
        on_row = min(line.received_quantity, remaining)
        surplus = line.received_quantity - on_row
        base = {"itemId": line.article_number, "itemDescription": text(row, "itemDescription"),
                "orderedQuantity": json_number(ordered), "invoicedQuantity": 0}
        if on_row > 0:
            rows.append(base | {
                "receivedQuantity": json_number(on_row),
                "takenQuantity": json_number(on_row),
                "backOrderQuantity": json_number(remaining - on_row),
                "purchaseOrderId": purchase_order.get("id"),
                "purchaseOrderRowId": row.get("id"),
            })
        if surplus > 0:
            rows.append(base | {"receivedQuantity": json_number(surplus),
                                "takenQuantity": json_number(surplus),
                                "orderedQuantity": 0, "backOrderQuantity": 0})
    for order, row in enumerate(rows, start=1):
        row["rowOrder"] = order
    return {
        "deliveryNoteId": document_reference(receipt.event_id),
        "date": day.isoformat(),
        "supplierNumber": text(purchase_order, "supplierNumber"),
        "note": f"Ongoing WMS receipt of purchase order {receipt.purchase_order_number}",
        "rows": rows,
    }


def json_number(value: Decimal) -> int | float:
    """A quantity as a JSON number for the warehouse API (its quantities are numbers): an int
    when whole, else the float whose shortest form is the decimal."""
    return int(value) if value == value.to_integral() else float(value)


@dataclass(frozen=True)
class CustomDocument:
    """A custom warehouse document for an inventory adjustment (seed 002's table)."""

    category: str
    """``inbound`` or ``outbound``: the endpoint it is saved under."""
    type: str
    id: str
    body: dict[str, Any]


INBOUND_INVENTORY = "OngoingInboundInventory"
OUTBOUND_INVENTORY = "OngoingOutboundInventory"
INBOUND_RETURN = "OngoingInboundReturn"
INBOUND_ORDER = "OngoingInboundOrder"
"""Seed 002's document types: positive adjustment, negative adjustment, return on a sales
order, purchase order. The last is not written: a receipt on a Fortnox purchase order becomes
incoming goods (seed 002's purchase order section), and a receipt on a purchase order Fortnox
does not have is refused rather than booked as a document nobody ordered."""

RETURN_CAUSES = ("return", "retur")
"""An adjustment whose cause begins with one of these (case-insensitive) is a return on a
sales order (seed 002: "Return on sales order" -> OngoingInboundReturn). The canonical model
has no return event of its own; the WMS names returns in the adjustment's cause."""


def custom_document(adjustment: InventoryAdjustment, day: date) -> CustomDocument:
    """The custom document of an inventory adjustment: inbound (a positive quantity; a return
    when its cause says so) or outbound (a negative quantity, delivered at once), one row,
    under an id made from the adjustment's event id (:func:`document_id`)."""
    quantity = abs(adjustment.quantity)
    note = f"Ongoing WMS {adjustment.cause or 'inventory adjustment'}"[:1000]
    row: dict[str, Any] = {"rowId": 1, "itemId": adjustment.article_number,
                           "quantity": json_number(quantity)}
    if adjustment.quantity > 0:
        cause = (adjustment.cause or "").strip().casefold()
        kind = INBOUND_RETURN if cause.startswith(RETURN_CAUSES) else INBOUND_INVENTORY
        body = {"date": day.isoformat(), "note": note, "rows": [row]}
        return CustomDocument("inbound", kind, document_id(adjustment.event_id), body)
    row["deliveredQuantity"] = json_number(quantity)
    body = {"date": day.isoformat(), "deliveryState": "delivery", "note": note, "rows": [row]}
    return CustomDocument("outbound", OUTBOUND_INVENTORY, document_id(adjustment.event_id), body)

"""PowerOffice Go v2 JSON <-> canonical models, field by field as seed 001 lists them.

Seed 001 names PowerOffice's fields as the legacy v1 API spelled them; this plugin reads the v2
API (https://developer.poweroffice.net, the v2 OpenAPI specification; the DTO names below are
the specification's). Each table gives the seed's row, the v2 field that stands for it and
why, and the canonical field it lands in. The WMS column of the seed is the WMS plugin's
business. Vendor objects arrive here as dicts whose keys the client has made PascalCase
(:func:`pascal`), with numbers as :class:`~decimal.Decimal` (never float).

Articles: ``GET /v2/Products`` (``ProductDto``), group names from ``GET /v2/ProductGroups``
(``ProductGroupDto``); canonical :class:`Article`.

==========================  ==============================  ========================  =====
seed 001 row (v1 name)      v2 field                        canonical field           note
==========================  ==============================  ========================  =====
Product => Code             Code                            article_number
(the product's key)         Id                              erp_key
Product => Name             Name (else Code)                name
Product => SalesPrice       UnitPrice                       sales_price               [a]
Product => CostPrice        UnitCost                        purchase_price            [a]
Product => Gtin             Gtin                            barcode
Product => Description      Description                     description
Product => Unit             UnitOfMeasureCode               unit                      [b]
ArticleGroup: first group   ProductGroupId -> ProductGroup  group.name, group.code    [c]
                            Name; ProductGroupCode
(archived)                  IsArchived                      is_active = not IsArchived [d]
(service or goods)          ProductType                     is_stock_article          [e]
(change time)               LastChangedDateTimeOffset       modified_at
==========================  ==============================  ========================  =====

Orders from paid invoices: ``GET /v2/OutgoingInvoices`` (``OutgoingInvoiceDto``), the lines
from ``GET /v2/OutgoingInvoices/{id}/Lines`` (``OutgoingInvoiceLineDto``), the customer from
``GET /v2/Customers`` (``CustomerDto``); canonical :class:`Order`. ``inv`` is the invoice,
``cust`` the customer, ``line`` an invoice line.

===============================  ============================  ==========================  =====
seed 001 row (v1 name)           v2 field                      canonical field             note
===============================  ============================  ==========================  =====
Invoice => Invoice id            inv.Id (a GUID)               erp_key
Invoice => Order no              inv.OrderNo, else InvoiceNo   order_number                [f]
Invoice => DeliveryDate (if      inv.DeliveryDate (its date),  delivery_date
set, else current date)          else today
Invoice => DeliveryTerm          inv.DeliveryTerm              terms_of_delivery.name
Invoice => DocumentNo            inv.InvoiceNo                 production_code             [g]
Invoice => CustomerReference     inv.CustomerReference         customer_reference
(order date)                     inv.OrderDate                 order_date
Invoice => CustomerEmail         cust.EmailAddress, else       customer.email;             [h]
                                 cust.InvoiceEmailAddress      notify_by_email = is set
Invoice => Customer =>           cust.PhoneNumber              customer.mobile;            [h]
PhoneNumber                                                    notify_by_sms = is set
Customer => CustomerCode         inv.CustomerNo (cust.Number)  customer.customer_number
(the customer's key)             inv.CustomerId (cust.Id)      customer.erp_key
Customer => Legal Name + Name    cust.LegalName, Name,         customer.name               [i]
+ LastName                       LastName
MailAddress/StreetAddress =>     cust.MailAddress, else the    customer.address (whole     [j]
Address1, Address2, ZipCode,     street/delivery block         block from one source)
City, CountryCode
Invoice => CurrencyCode          inv.CurrencyCode              line.currency (and
                                                               order currency)
Invoice Line => Id               line.Id                       external_line_key (both
                                                               line kinds)
Invoice Line => ProductCode      line.ProductCode              line.article_number
Invoice Line => Qty              line.Quantity                 line.quantity
Invoice Line => Qty * UnitPrice  Quantity x ProductUnitPrice   line.line_price             [k]
Invoice Line => DiscountPercent  line.Allowance (a percent)    line.discount_percent       [l]
Invoice Line => NetAmount        line.NetAmount                line.customer_line_price
Invoice Line => Description      line.Description              line.comment; a text line's
                                                               text
(line type)                      line.LineType == "Text"       OrderTextLine, else         [m]
                                                               OrderLine
===============================  ============================  ==========================  =====

Filter (seed 001: "all invoices which are paid"): outgoing invoices whose balance changed since
the cursor (``balanceLastChangedDateTimeOffsetGreaterThan``) and whose ``Balance`` is now zero,
that are not credit notes (``VoucherType`` ``OutgoingCreditNote``) and not reversed
(``IsReversed``). ``modified_at`` is ``BalanceLastChangedDateTimeOffset``: the cursor's field.

Stock (seed 001: "Stock balance is sent from Ongoing WMS to PowerOffice Go"): the product's
``StockOnHand``, written with a JSON Patch (``[{"op": "replace", "path": "/StockOnHand",
"value": n}]``, PascalCase path as the v2 ``ProductPatchDto`` spells it), only for products with
``IsStockItem`` (v2: "If false, the stock on hand cannot be set") and only when the value
differs from the product's ``StockOnHand`` (:func:`stock_patch`).

Notes:

[a] v1's ``SalesPrice``/``CostPrice`` are v2's ``UnitPrice`` ("The sales price per unit of the
    product") and ``UnitCost`` ("The cost per unit of the product"); a product without its own
    value inherits the group's in Go, and the API then gives null: the canonical price is left
    unset rather than guessed.
[b] v2 gives the unit as a ``UnitOfMeasureType`` code (``EA``, ``KGM``, ``MTR``, ...): passed on
    as the unit code.
[c] v2 products have one group (``ProductGroupId``/``ProductGroupCode``); the seed's "first
    product group" is that group. Its name comes from the product groups resource; a group the
    resource does not list leaves the name unset (the code still goes).
[d] Archived products are yielded with ``is_active=False``, as the hookspec allows: the WMS keeps
    the article and stops using it, which is what a user who archives a product expects.
[e] ``ProductType`` ``Service`` is not a stock article; every other product is.
[f] ``OrderNo`` is present only when the invoice started as an order (draft) in Go; an imported
    invoice has none, and its invoice number stands in (it is unique among invoices).
[g] v1's ``DocumentNo`` of an invoice is its invoice number, v2's ``InvoiceNo``.
[h] v1 carried the customer's e-mail on the invoice (``CustomerEmail``); v2's invoice has no
    e-mail, so it is the customer's: the general ``EmailAddress``, else the
    ``InvoiceEmailAddress`` invoices are e-mailed to. The phone is the customer's
    ``PhoneNumber``, the seed's mobile number. Notifications are on exactly when the value is
    set (SEED-READINGS 001).
[i] SEED-READINGS 001: legal name, name and last name joined in that order with single spaces,
    leaving out empty parts and a part equal to one already used (:func:`customer_name`).
[j] SEED-READINGS 001: the whole mail address (``MailAddress``: ``AddressLine1``,
    ``AddressLine2``, ``ZipCode``, ``City``, ``CountryCode``) when any of its fields is set,
    else the whole street address; never fields of both. v2's ``CustomerDto`` in the published
    specification has no street address object; where the API gives one (``StreetAddress``,
    the v1 name) it is used, else the invoice's own delivery address as Go recorded it when the
    invoice was delivered (``DeliveryAddress1``, ``DeliveryAddress2``,
    ``DeliveryAddressZipCode``, ``DeliveryAddressCity``, ``DeliveryAddressCountryCode``).
[k] ``line_price`` is the quantity times the unit price (the seed's ``Qty * UnitPrice``), before
    discount; ``ProductUnitPrice`` is v2's unit price of the line.
[l] v2's ``Allowance`` is a percent between -1000 and 100 ("reflects as -1000% or 100% in the
    GUI"): 10 means 10 %, as the canonical field. A negative allowance is a surcharge, not a
    discount: ``discount_percent`` is then left unset (the net amount still carries it).
[m] ``VoucherLineType`` ``Text`` lines become text lines (the WMS gives them one item); every
    other line type (``Normal``, ``InvoiceFee``, ``Summary``, ``TotalHours``) becomes an order
    line when it names a product and a positive quantity. A line that does not (a summary or
    subtotal line, an invoice fee without a product, a returned quantity) is no goods to pick
    and is left out; :func:`to_order` reports the keys it left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from erpsync.models import (
    Address,
    Article,
    ArticleGroup,
    CodeName,
    Customer,
    Order,
    OrderLine,
    OrderTextLine,
)

__all__ = [
    "CREDIT_NOTE",
    "TEXT_LINE",
    "Skipped",
    "address_block",
    "credited_invoice_number",
    "customer_name",
    "decimal",
    "is_paid_invoice",
    "parse_date",
    "parse_time",
    "pascal",
    "stock_patch",
    "to_article",
    "to_order",
]

JsonObject = Mapping[str, Any]

TEXT_LINE = "Text"
"""``VoucherLineType`` of a text line."""
CREDIT_NOTE = "OutgoingCreditNote"
"""``OutgoingInvoiceVoucherType`` of a credit note."""
SERVICE = "Service"
"""``ProductType`` of a service."""

_ADDRESS_FIELDS = ("AddressLine1", "AddressLine2", "ZipCode", "City", "CountryCode")
_INVOICE_DELIVERY_FIELDS = ("DeliveryAddress1", "DeliveryAddress2", "DeliveryAddressZipCode",
                            "DeliveryAddressCity", "DeliveryAddressCountryCode")


# --- values --------------------------------------------------------------------------------


def pascal(value: Any) -> Any:
    """``value`` with every object key's first letter upper-cased, recursively: the v2 API
    documents PascalCase names; a camelCase answer (``code``) reads the same (``Code``)."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:] if isinstance(k, str) else k): pascal(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(item) for item in value]
    return value


def text(obj: JsonObject | None, name: str) -> str | None:
    """The string value of ``name``, stripped; ``None`` when absent, null or blank."""
    if obj is None:
        return None
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        value = format(value.normalize(), "f") if value == value.to_integral() else str(value)
    result = str(value).strip()
    return result or None


def decimal(value: Any) -> Decimal | None:
    """A number of the JSON body as a Decimal (the client parses floats as Decimal)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def number(obj: JsonObject, field: str) -> Decimal | None:
    """``obj[field]`` as a Decimal (None when absent); an unreadable one names the field."""
    try:
        return decimal(obj.get(field))
    except ValueError as error:
        raise ValueError(f"{field}: {error}") from None


def parse_time(value: Any) -> datetime | None:
    """A v2 timestamp (``DateTimeOffset``: ISO 8601 with an offset, up to 7 fraction digits).

    A timestamp without an offset is refused: the vendor's change times must be comparable."""
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return moment


def parse_date(value: Any) -> date | None:
    """The calendar date of a v2 date (a ``DateTimeOffset`` or ``yyyy-MM-dd``), as written:
    the date in the offset the vendor gave, not converted."""
    if value is None or value == "":
        return None
    raw = str(value)
    if len(raw) == 10:
        return date.fromisoformat(raw)
    return datetime.fromisoformat(raw).date()


def _key(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    result = str(value).strip()
    return result or None


# --- articles ------------------------------------------------------------------------------


def to_article(product: JsonObject, group_names: Mapping[str, str]) -> Article:
    """The canonical article of a ``ProductDto`` (table above); ``group_names`` maps a product
    group's ``Id`` (as text) to its ``Name``."""
    code = text(product, "Code")
    if code is None:
        raise ValueError("the product has no Code")
    group_id = _key(product.get("ProductGroupId"))
    group_code = text(product, "ProductGroupCode")
    group_name = group_names.get(group_id) if group_id is not None else None
    group = ArticleGroup(code=group_code, name=group_name) if group_code or group_name else None
    return Article(
        article_number=code,
        erp_key=_key(product.get("Id")) or code,
        name=text(product, "Name") or code,
        description=text(product, "Description"),
        is_stock_article=text(product, "ProductType") != SERVICE,
        is_active=product.get("IsArchived") is not True,
        barcode=text(product, "Gtin"),
        unit=text(product, "UnitOfMeasureCode"),
        group=group,
        purchase_price=number(product, "UnitCost"),
        sales_price=number(product, "UnitPrice"),
        modified_at=parse_time(product.get("LastChangedDateTimeOffset")),
    )


def group_names(groups: Iterable[JsonObject]) -> dict[str, str]:
    """``ProductGroupDto`` ``Id`` (as text) -> ``Name``, for :func:`to_article`."""
    names: dict[str, str] = {}
    for group in groups:
        key, name = _key(group.get("Id")), text(group, "Name")
        if key is not None and name is not None:
            names[key] = name
    return names


# --- orders --------------------------------------------------------------------------------


def is_paid_invoice(invoice: JsonObject) -> bool:
    """Seed 001's filter: paid (``Balance`` zero), not a credit note, not reversed."""
    balance = number(invoice, "Balance")
    return (balance is not None and balance == 0
            and text(invoice, "VoucherType") != CREDIT_NOTE
            and invoice.get("IsReversed") is not True)


def credited_invoice_number(invoice: JsonObject) -> str | None:
    """The invoice number a credit note credits (``RelatedInvoiceNo``), else None.

    A fully credited invoice has ``Balance`` zero without being paid; only the credit note
    pointing at it tells the two apart (v2 ``OutgoingInvoiceDto``). The goods of a credited
    invoice are not shipped: such an invoice is left out, whole.
    """
    if text(invoice, "VoucherType") != CREDIT_NOTE:
        return None
    return text(invoice, "RelatedInvoiceNo")


def customer_name(customer: JsonObject | None) -> str | None:
    """Legal name, name and last name joined with single spaces, leaving out empty parts and a
    part equal to one already used (SEED-READINGS 001)."""
    parts: list[str] = []
    for field in ("LegalName", "Name", "LastName"):
        value = text(customer, field)
        if value is None:
            continue
        value = " ".join(value.split())
        if value not in parts:
            parts.append(value)
    return " ".join(parts) or None


def _block(source: JsonObject | None, fields: Sequence[str]) -> Address | None:
    """The address in ``source``'s ``fields`` (line 1, line 2, zip, city, country), or None
    when none of them is set."""
    values = [text(source, field) for field in fields]
    if not any(values):
        return None
    line1, line2, zip_code, city, country = values
    return Address(address1=line1, address2=line2, post_code=zip_code, city=city,
                   country_code=country.upper() if country else None)


def address_block(customer: JsonObject | None, invoice: JsonObject) -> Address:
    """The consignee's address: the customer's whole mail address if any field of it is set,
    else the whole street address (the customer's ``StreetAddress`` where given, else the
    invoice's delivery address); never a mix (note [j])."""
    mail = customer.get("MailAddress") if customer is not None else None
    street = customer.get("StreetAddress") if customer is not None else None
    for block in (
        _block(mail if isinstance(mail, Mapping) else None, _ADDRESS_FIELDS),
        _block(street if isinstance(street, Mapping) else None, _ADDRESS_FIELDS),
        _block(invoice, _INVOICE_DELIVERY_FIELDS),
    ):
        if block is not None:
            return block
    return Address()


@dataclass(frozen=True)
class Skipped:
    """An invoice line that is not an order line (note [m])."""

    key: str
    reason: str


def _discount(allowance: Decimal | None) -> Decimal | None:
    if allowance is None or allowance < 0:
        return None
    return min(allowance, Decimal(100))


def _lines(
    lines: Iterable[JsonObject], currency: str | None
) -> tuple[list[OrderLine], list[OrderTextLine], list[Skipped]]:
    order_lines: list[OrderLine] = []
    text_lines: list[OrderTextLine] = []
    skipped: list[Skipped] = []
    ordered = sorted(lines, key=lambda line: (number(line, "SortOrder") or 0))
    for line in ordered:
        key = _key(line.get("Id"))
        if key is None:
            raise ValueError("an invoice line has no Id")
        description = text(line, "Description")
        if text(line, "LineType") == TEXT_LINE:
            if description is None:
                skipped.append(Skipped(key, "a text line without text"))
            else:
                text_lines.append(OrderTextLine(external_line_key=key, text=description))
            continue
        code = text(line, "ProductCode")
        quantity = number(line, "Quantity")
        if code is None or quantity is None or quantity <= 0:
            skipped.append(Skipped(key, f"{text(line, 'LineType') or 'a'} line without a "
                                        "product and a positive quantity"))
            continue
        unit_price = number(line, "ProductUnitPrice")
        order_lines.append(OrderLine(
            external_line_key=key,
            article_number=code,
            article_erp_key=_key(line.get("ProductId")),
            quantity=quantity,
            unit_price=unit_price,
            line_price=None if unit_price is None else quantity * unit_price,
            customer_line_price=number(line, "NetAmount"),
            discount_percent=_discount(number(line, "Allowance")),
            currency=currency,
            comment=description,
        ))
    return order_lines, text_lines, skipped


def to_order(
    invoice: JsonObject,
    lines: Iterable[JsonObject],
    customer: JsonObject | None,
    today: date,
) -> tuple[Order, list[Skipped]]:
    """The canonical order of a paid ``OutgoingInvoiceDto`` with its lines and customer (the
    tables above), and the lines left out (note [m]). ``today`` is the delivery date when the
    invoice has none."""
    erp_key = _key(invoice.get("Id"))
    if erp_key is None:
        raise ValueError("the invoice has no Id")
    number = text(invoice, "OrderNo") or text(invoice, "InvoiceNo")
    if number is None:
        raise ValueError("the invoice has neither an OrderNo nor an InvoiceNo")
    currency_code = text(invoice, "CurrencyCode")
    currency = currency_code.upper() if currency_code else None
    order_lines, text_lines, skipped = _lines(lines, currency)
    email = text(customer, "EmailAddress") or text(customer, "InvoiceEmailAddress")
    phone = text(customer, "PhoneNumber")
    customer_number = text(invoice, "CustomerNo") or text(customer, "Number")
    name = customer_name(customer) or (f"customer {customer_number}" if customer_number
                                       else "unknown customer")
    term = text(invoice, "DeliveryTerm")
    order = Order(
        order_number=number,
        erp_key=erp_key,
        order_date=parse_date(invoice.get("OrderDate")),
        delivery_date=parse_date(invoice.get("DeliveryDate")) or today,
        customer_reference=text(invoice, "CustomerReference"),
        production_code=text(invoice, "InvoiceNo"),
        currency=currency,
        terms_of_delivery=CodeName(name=term) if term else None,
        notify_by_email=email is not None,
        notify_by_sms=phone is not None,
        customer=Customer(
            customer_number=customer_number,
            erp_key=_key(invoice.get("CustomerId")) or _key(
                customer.get("Id") if customer is not None else None),
            name=name,
            address=address_block(customer, invoice),
            email=email,
            mobile=phone,
        ),
        lines=tuple(order_lines),
        text_lines=tuple(text_lines),
        modified_at=parse_time(invoice.get("BalanceLastChangedDateTimeOffset")),
    )
    return order, skipped


# --- stock ---------------------------------------------------------------------------------


def stock_patch(product: JsonObject, quantity: Decimal) -> list[dict[str, Any]] | None:
    """The JSON Patch that sets ``product``'s stock on hand to ``quantity``, or None when
    nothing is to be written: the product is no stock item (Go refuses stock on it) or already
    has that value."""
    if product.get("IsStockItem") is not True:
        return None
    current = number(product, "StockOnHand")
    if current is not None and current == quantity:
        return None
    # A JSON number: an int when whole, else the float whose shortest repr is the decimal.
    value: int | float = int(quantity) if quantity == quantity.to_integral() else float(quantity)
    return [{"op": "replace", "path": "/StockOnHand", "value": value}]


def fingerprint_key(value: str) -> str:
    """A short, one-way hash of ``value`` (a rate-limit key made from a subscription key)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]

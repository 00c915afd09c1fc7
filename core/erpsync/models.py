"""Canonical records: the only thing that crosses between plugins.

Every ERP plugin maps its vendor's shape onto these models and every WMS plugin maps them onto
its own; neither ever sees the other's shape. The rules the models keep:

- Money and quantities are :class:`~decimal.Decimal`, never float (a float given to a money
  field is refused, because ``0.1`` as a float is not ``0.1``).
- Times are timezone-aware; a naive ``datetime`` is refused naming the field.
- Each record carries the ERP's own key (``erp_key``) so that a write-back can find it again,
  and a business key (:meth:`Record.key`: the article number, order number, ...) that dead
  letters, the fingerprint store and ``erpsync retry`` use.
- Units are part of the record: lengths and weights carry their unit, and :meth:`Length.to` /
  :meth:`Weight.to` are the one place where units are converted, exactly.
- A record's content fingerprint (:meth:`Record.fingerprint`) leaves out ``modified_at``, so a
  record that was touched but not changed is not written again.

Invalid data raises :class:`pydantic.ValidationError`, whose message names the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "Address",
    "Article",
    "ArticleGroup",
    "CodeName",
    "Customer",
    "CustomerType",
    "Delivery",
    "DeliveryLine",
    "DeliveryStatus",
    "Dimensions",
    "Event",
    "Flow",
    "InventoryAdjustment",
    "Length",
    "LengthUnit",
    "Money",
    "Order",
    "OrderLine",
    "OrderTextLine",
    "PurchaseOrder",
    "PurchaseOrderRow",
    "Quantity",
    "Receipt",
    "ReceiptRow",
    "Record",
    "StockBalance",
    "StructureComponent",
    "Supplier",
    "SupplierRef",
    "Unreadable",
    "Weight",
    "WeightUnit",
    "readable",
]


Money = Annotated[Decimal, Field(allow_inf_nan=False)]
"""An amount of money: an exact decimal, never a float."""
Quantity = Annotated[Decimal, Field(allow_inf_nan=False)]
"""A number of items (may be fractional for goods sold by weight or length)."""

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case (``FI``, ``SE``, ``NO``)."""
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217, upper case (``EUR``, ``SEK``, ``NOK``)."""


class Flow(StrEnum):
    """The data flows, in the order a cycle runs them."""

    ARTICLES = "articles"
    SUPPLIERS = "suppliers"
    ORDERS = "orders"
    PURCHASE_ORDERS = "purchase_orders"
    DELIVERIES = "deliveries"
    RECEIPTS = "receipts"
    STOCK = "stock"
    ADJUSTMENTS = "adjustments"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_float(cls, value: object) -> object:
        # Applies to every field: no field of a canonical model is a float, and a float
        # arriving where a Decimal is expected is the classic way money goes wrong.
        if isinstance(value, float):
            raise ValueError("give a Decimal or a string such as '12.50', not a float")
        return value


class Record(_Model):
    """A top-level canonical record."""

    modified_at: AwareDatetime | None = None
    """When the source last changed the record (the source's own clock); drives cursors."""

    def key(self) -> str:
        """The record's key: unique within one flow of one goods owner."""
        raise NotImplementedError

    def business_key(self) -> str:
        """The key a person looks for (article number, order number); by default :meth:`key`."""
        return self.key()

    def fingerprint(self) -> str:
        """A content hash that ignores ``modified_at``: equal content, equal fingerprint."""
        body = self.model_dump_json(exclude={"modified_at"})
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- units ---------------------------------------------------------------------------------


class LengthUnit(StrEnum):
    MILLIMETRE = "mm"
    CENTIMETRE = "cm"
    METRE = "m"


class WeightUnit(StrEnum):
    GRAM = "g"
    KILOGRAM = "kg"


_LENGTH_IN_MM = {LengthUnit.MILLIMETRE: Decimal(1), LengthUnit.CENTIMETRE: Decimal(10),
                 LengthUnit.METRE: Decimal(1000)}
_WEIGHT_IN_G = {WeightUnit.GRAM: Decimal(1), WeightUnit.KILOGRAM: Decimal(1000)}


class Length(_Model):
    value: Decimal = Field(ge=0, allow_inf_nan=False)
    unit: LengthUnit

    def to(self, unit: LengthUnit) -> Length:
        """The same length in ``unit``, converted exactly (no float, no rounding)."""
        value = self.value * _LENGTH_IN_MM[self.unit] / _LENGTH_IN_MM[unit]
        return Length(value=value.normalize() if value else Decimal(0), unit=unit)


class Weight(_Model):
    value: Decimal = Field(ge=0, allow_inf_nan=False)
    unit: WeightUnit

    def to(self, unit: WeightUnit) -> Weight:
        """The same weight in ``unit``, converted exactly (no float, no rounding)."""
        value = self.value * _WEIGHT_IN_G[self.unit] / _WEIGHT_IN_G[unit]
        return Weight(value=value.normalize() if value else Decimal(0), unit=unit)


class Dimensions(_Model):
    length: Length | None = None
    """Depth, as some ERPs call it."""
    width: Length | None = None
    height: Length | None = None


# --- master data ---------------------------------------------------------------------------


class CodeName(_Model):
    """A coded value with its display name (terms of delivery, way of delivery, ...)."""

    code: Text | None = None
    name: Text | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if not self.code and not self.name:
            raise ValueError("give a code, a name, or both")
        return self


class ArticleGroup(_Model):
    code: Text | None = None
    name: Text | None = None


class SupplierRef(_Model):
    """The supplier of an article: enough to find or create it in the WMS."""

    supplier_number: Key
    name: Text | None = None


class StructureComponent(_Model):
    """One part of an article structure (an ERP's sub products, a kit's components)."""

    article_number: Key
    quantity: Quantity = Field(gt=0)


class Address(_Model):
    """A postal address block. Mappings take a whole block from one source, never mixed."""

    name: Text | None = None
    address1: Text | None = None
    address2: Text | None = None
    post_code: Text | None = None
    city: Text | None = None
    country_code: CountryCode | None = None


class Article(Record):
    """An article (product) of the goods owner's catalogue."""

    article_number: Key
    erp_key: Key
    name: Text
    description: Text | None = None
    is_stock_article: bool = True
    is_active: bool = True
    """False for an archived or unpublished product: the WMS keeps it but stops using it."""
    barcode: Text | None = None
    unit: Text | None = None
    """The unit code the ERP sells in (``pcs``, ``kg``, ``st``)."""
    group: ArticleGroup | None = None
    dimensions: Dimensions = Dimensions()
    net_weight: Weight | None = None
    gross_weight: Weight | None = None
    purchase_price: Money | None = None
    sales_price: Money | None = None
    currency: CurrencyCode | None = None
    statistics_number: Text | None = None
    """Customs tariff heading (the ERP's "tariff heading" or "statistics number")."""
    country_of_origin: CountryCode | None = None
    supplier: SupplierRef | None = None
    structure: tuple[StructureComponent, ...] = ()

    def key(self) -> str:
        return self.article_number


class Supplier(Record):
    supplier_number: Key
    erp_key: Key
    name: Text
    address: Address = Address()
    phone: Text | None = None
    email: Text | None = None

    def key(self) -> str:
        return self.supplier_number


# --- orders --------------------------------------------------------------------------------


class CustomerType(StrEnum):
    BUSINESS = "B2B"
    CONSUMER = "B2C"


class Customer(_Model):
    """The order's customer and the address the goods go to (the consignee)."""

    customer_number: Text | None = None
    erp_key: Text | None = None
    """The ERP's own key of the customer ("external customer code" in a WMS)."""
    name: Text
    address: Address = Address()
    email: Text | None = None
    phone: Text | None = None
    phone2: Text | None = None
    mobile: Text | None = None
    organisation_number: Text | None = None
    customer_type: CustomerType | None = None


class OrderLine(_Model):
    """A product line. ``external_line_key`` is the ERP's key of the line (write-back finds it)."""

    external_line_key: Key
    article_number: Key
    article_name: Text | None = None
    article_erp_key: Text | None = None
    quantity: Quantity = Field(gt=0)
    unit_price: Money | None = None
    line_price: Money | None = None
    """The line's total before discount (quantity x unit price)."""
    customer_line_price: Money | None = None
    """What the customer pays for the line after discount."""
    customs_value: Money | None = None
    prices_include_vat: bool = False
    vat_percent: Decimal | None = Field(default=None, ge=0, le=100)
    discount_percent: Decimal | None = Field(default=None, ge=0, le=100)
    """A percent: 10 means 10 %, whatever unit the vendor field carries."""
    currency: CurrencyCode | None = None
    comment: Text | None = None


class OrderTextLine(_Model):
    """A text (comment) line of an order: no article, no quantity."""

    external_line_key: Key
    text: Text


class Order(Record):
    """A sales order to be picked and shipped by the warehouse."""

    order_number: Key
    erp_key: Key
    order_date: date | None = None
    delivery_date: date | None = None
    reference: Text | None = None
    """Our reference (the seller's)."""
    customer_reference: Text | None = None
    """Your reference / receiver's order number (the buyer's)."""
    customer_order_number: Text | None = None
    production_code: Text | None = None
    """A document number the warehouse prints (an invoice number, for example)."""
    total_price: Money | None = None
    total_includes_vat: bool = True
    currency: CurrencyCode | None = None
    comment: Text | None = None
    """Text before the order rows / remarks."""
    free_text: Text | None = None
    """Text after the order rows."""
    terms_of_delivery: CodeName | None = None
    terms_of_payment: CodeName | None = None
    way_of_delivery: CodeName | None = None
    language: Text | None = None
    notify_by_email: bool = False
    notify_by_sms: bool = False
    order_type: CustomerType | None = None
    customer: Customer
    lines: tuple[OrderLine, ...] = ()
    text_lines: tuple[OrderTextLine, ...] = ()
    cancelled: bool = False

    def key(self) -> str:
        return self.order_number

    @model_validator(mode="after")
    def _unique_line_keys(self) -> Self:
        keys = [line.external_line_key for line in self.lines]
        keys += [line.external_line_key for line in self.text_lines]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"external_line_key repeats within the order: {', '.join(duplicates)}")
        return self


class PurchaseOrderRow(_Model):
    row_key: Key
    """The ERP's key of the row (its line id in the ERP): receipts are reported by it."""
    row_number: int | None = None
    article_number: Key
    article_name: Text | None = None
    quantity: Quantity = Field(gt=0)
    price: Money | None = None
    currency: CurrencyCode | None = None


class PurchaseOrder(Record):
    """An inbound order: goods the warehouse expects from a supplier."""

    order_number: Key
    erp_key: Key
    order_date: date | None = None
    delivery_date: date | None = None
    reference: Text | None = None
    comment: Text | None = None
    supplier: Supplier | None = None
    currency: CurrencyCode | None = None
    rows: tuple[PurchaseOrderRow, ...] = ()

    def key(self) -> str:
        return self.order_number

    @model_validator(mode="after")
    def _unique_row_keys(self) -> Self:
        keys = [row.row_key for row in self.rows]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"row_key repeats within the purchase order: {', '.join(duplicates)}")
        return self


# --- events from the warehouse ---------------------------------------------------------------


class Event(Record):
    """Something that happened in the warehouse and is reported to the ERP exactly once.

    ``event_id`` is chosen by the WMS plugin and must be the same every time the WMS returns
    the same not-yet-reported event: the idempotency ledger is keyed on it.
    """

    event_id: Key
    occurred_at: AwareDatetime

    def key(self) -> str:
        return self.event_id


class DeliveryStatus(StrEnum):
    SENT = "sent"
    COLLECTED = "collected"


class DeliveryLine(_Model):
    external_line_key: Key
    article_number: Key
    delivered_quantity: Quantity = Field(ge=0)
    """Delivered in this delivery (not cumulative)."""
    total_delivered_quantity: Quantity = Field(ge=0)
    """Delivered so far on the line, this delivery included."""
    ordered_quantity: Quantity | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _total_covers_this(self) -> Self:
        if self.total_delivered_quantity < self.delivered_quantity:
            raise ValueError("total_delivered_quantity is less than delivered_quantity")
        return self


class Delivery(Event):
    """An order (or part of one) that left the warehouse: Sent or Collected."""

    order_number: Key
    erp_key: Text | None = None
    status: DeliveryStatus
    lines: tuple[DeliveryLine, ...] = Field(min_length=1)
    complete: bool = True
    """False when more of the order is still to come (a partial delivery)."""
    tracking_number: Text | None = None
    way_of_delivery: Text | None = None

    def business_key(self) -> str:
        return self.order_number


class ReceiptRow(_Model):
    row_key: Key
    article_number: Key
    received_quantity: Quantity = Field(ge=0)
    """Received in this receipt (not cumulative); may differ from what was advised."""
    total_received_quantity: Quantity = Field(ge=0)
    ordered_quantity: Quantity | None = Field(default=None, ge=0)


class Receipt(Event):
    """Goods received against a purchase order."""

    purchase_order_number: Key
    erp_key: Text | None = None
    rows: tuple[ReceiptRow, ...] = Field(min_length=1)
    complete: bool
    """True when the warehouse marked the purchase order complete (Deflection or Received)."""

    def business_key(self) -> str:
        return self.purchase_order_number


class InventoryAdjustment(Event):
    """A change of stock that is not a delivery or receipt (stocktaking, damage, found goods)."""

    article_number: Key
    quantity: Quantity
    """Signed: positive into stock, negative out of stock."""
    cause: Text | None = None
    warehouse: Text | None = None

    def business_key(self) -> str:
        return self.article_number

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return value


class StockBalance(Record):
    """How many of an article the warehouse holds: an absolute value, safe to send again."""

    article_number: Key
    quantity: Quantity
    as_of: AwareDatetime
    warehouse: Text | None = None

    def key(self) -> str:
        return self.article_number

    def fingerprint(self) -> str:
        # Only the quantity decides whether the ERP must hear of it again.
        body = f"{self.article_number}\x1f{self.warehouse or ''}\x1f{self.quantity.normalize()}"
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


class Unreadable(_Model):
    """A record the source sent that its plugin cannot map (an unparseable number, a missing
    required field). A ``fetch_*`` hook yields it in the record's place instead of raising, so
    one bad record does not stop the read: the core dead-letters it with the plugin's reason,
    and a later read of the corrected record writes it and clears the dead letter.
    """

    record_key: Key
    """The record's key as far as it can be read (article number, order number, ERP key)."""
    message: Text
    """What cannot be read, naming the field and the value."""

    def key(self) -> str:
        return self.record_key

    def business_key(self) -> str:
        return self.record_key


_R = TypeVar("_R")


def readable(vendor: str, what: str, key: str | None, convert: Callable[..., _R], *args: Any,
             **kwargs: Any) -> _R | Unreadable:
    """``convert(*args, **kwargs)``, or :class:`Unreadable` naming the record and what cannot
    be read (``ValueError``, ``KeyError``, ``TypeError``, ``ArithmeticError`` of the mapping):
    what a ``fetch_*`` hook yields so that one bad record is dead-lettered while the read goes
    on."""
    try:
        return convert(*args, **kwargs)
    except (ValueError, KeyError, TypeError, ArithmeticError) as error:
        return Unreadable(record_key=key or "?",
                          message=f"{vendor} sent {what} {key!r} that cannot be read: {error}")

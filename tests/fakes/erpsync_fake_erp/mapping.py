"""Fake ERP records <-> canonical models, field by field.

======================  ===========================================================
Fake ERP                canonical
======================  ===========================================================
product.id              Article.erp_key
product.number          Article.article_number
product.active          Article.is_active
product.stock_item      Article.is_stock_article
product.weight_kg       Article.net_weight (kg)
product.supplier_number Article.supplier.supplier_number
order.lines[type=product]  Order.lines (line id -> external_line_key)
order.lines[type=text]     Order.text_lines
order.customer.country  Customer.address.country_code (the one address block)
purchase_order.rows     PurchaseOrder.rows (row id -> row_key)
*.modified_at           Record.modified_at
======================  ===========================================================

Vendor values are untrusted: a malformed one raises :class:`ValueError` (pydantic's
``ValidationError`` included) naming the field; the plugin turns it into a vendor error.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from erpsync.models import (
    Address,
    Article,
    Customer,
    Delivery,
    Flow,
    InventoryAdjustment,
    Order,
    OrderLine,
    OrderTextLine,
    PurchaseOrder,
    PurchaseOrderRow,
    Receipt,
    StockBalance,
    Supplier,
    SupplierRef,
    Weight,
    WeightUnit,
)

__all__ = [
    "REPORT_RESOURCES",
    "adjustment_body",
    "delivery_body",
    "receipt_body",
    "stock_quantity",
    "to_article",
    "to_order",
    "to_purchase_order",
    "to_supplier",
    "wire_decimal",
]

JsonDict = dict[str, Any]

REPORT_RESOURCES = {
    Flow.DELIVERIES: "deliveries",
    Flow.RECEIPTS: "receipts",
    Flow.ADJUSTMENTS: "stock-transactions",
}
"""Where each write-back flow's reports live (POST to write, GET ?event_id= to look up)."""


# --- reading ---------------------------------------------------------------------------------


def to_article(raw: JsonDict) -> Article:
    """A product as an :class:`Article`."""
    weight = _decimal(raw.get("weight_kg"), "weight_kg")
    supplier = raw.get("supplier_number")
    return Article(
        article_number=raw["number"],
        erp_key=raw["id"],
        name=raw["name"],
        description=raw.get("description"),
        is_active=raw.get("active", True),
        is_stock_article=raw.get("stock_item", True),
        barcode=raw.get("barcode"),
        unit=raw.get("unit"),
        purchase_price=_decimal(raw.get("purchase_price"), "purchase_price"),
        sales_price=_decimal(raw.get("sales_price"), "sales_price"),
        currency=raw.get("currency"),
        net_weight=None if weight is None else Weight(value=weight, unit=WeightUnit.KILOGRAM),
        supplier=SupplierRef(supplier_number=supplier) if supplier else None,
        modified_at=_time(raw.get("modified_at")),
    )


def to_supplier(raw: JsonDict) -> Supplier:
    """A supplier as a :class:`Supplier` (also used for a purchase order's embedded one)."""
    return Supplier(
        supplier_number=raw["number"],
        erp_key=raw["id"],
        name=raw["name"],
        address=Address(
            name=raw["name"],
            address1=raw.get("address1"),
            post_code=raw.get("post_code"),
            city=raw.get("city"),
            country_code=raw.get("country"),
        ),
        phone=raw.get("phone"),
        email=raw.get("email"),
        modified_at=_time(raw["modified_at"]) if raw.get("modified_at") else None,
    )


def to_order(raw: JsonDict) -> Order:
    """An order as an :class:`Order`: product lines and text lines apart."""
    currency = raw.get("currency")
    lines: list[OrderLine] = []
    text_lines: list[OrderTextLine] = []
    for line in raw.get("lines") or ():
        if line.get("type") == "text":
            text_lines.append(OrderTextLine(external_line_key=line["id"], text=line["text"]))
            continue
        if line.get("type") != "product":
            raise ValueError(f"order {raw.get('number')}: unknown line type {line.get('type')!r}")
        quantity = _required_decimal(line.get("quantity"), "quantity")
        price = _decimal(line.get("price"), "price")
        lines.append(OrderLine(
            external_line_key=line["id"],
            article_number=line["article"],
            quantity=quantity,
            unit_price=price,
            line_price=None if price is None else quantity * price,
            currency=currency,
        ))
    customer = raw["customer"]
    return Order(
        order_number=raw["number"],
        erp_key=raw["id"],
        order_date=_date(raw.get("order_date")),
        delivery_date=_date(raw.get("delivery_date")),
        reference=raw.get("reference"),
        currency=currency,
        comment=raw.get("comment"),
        cancelled=raw.get("cancelled", False),
        customer=Customer(
            customer_number=customer.get("number"),
            name=customer["name"],
            address=Address(
                name=customer["name"],
                address1=customer.get("address1"),
                post_code=customer.get("post_code"),
                city=customer.get("city"),
                country_code=customer.get("country"),
            ),
            email=customer.get("email"),
            phone=customer.get("phone"),
        ),
        lines=tuple(lines),
        text_lines=tuple(text_lines),
        modified_at=_time(raw.get("modified_at")),
    )


def to_purchase_order(raw: JsonDict) -> PurchaseOrder:
    """A purchase order as a :class:`PurchaseOrder`."""
    supplier = raw.get("supplier")
    return PurchaseOrder(
        order_number=raw["number"],
        erp_key=raw["id"],
        order_date=_date(raw.get("order_date")),
        delivery_date=_date(raw.get("delivery_date")),
        currency=raw.get("currency"),
        supplier=to_supplier(supplier) if supplier else None,
        rows=tuple(
            PurchaseOrderRow(
                row_key=row["id"],
                row_number=index,
                article_number=row["article"],
                quantity=_required_decimal(row.get("quantity"), "quantity"),
            )
            for index, row in enumerate(raw.get("rows") or (), start=1)
        ),
        modified_at=_time(raw.get("modified_at")),
    )


# --- writing -------------------------------------------------------------------------------


def wire_decimal(value: Decimal) -> str:
    """A decimal as the API wants it: a plain string, never exponent notation."""
    return format(value, "f")


def delivery_body(delivery: Delivery) -> JsonDict:
    """``POST /deliveries``: the quantities of this delivery (not cumulative)."""
    return {
        "event_id": delivery.event_id,
        "order_number": delivery.order_number,
        "lines": [
            {"line_id": line.external_line_key, "quantity": wire_decimal(line.delivered_quantity)}
            for line in delivery.lines
        ],
    }


def receipt_body(receipt: Receipt) -> JsonDict:
    """``POST /receipts``: the quantities of this receipt (not cumulative)."""
    return {
        "event_id": receipt.event_id,
        "purchase_order_number": receipt.purchase_order_number,
        "complete": receipt.complete,
        "rows": [
            {"row_id": row.row_key, "quantity": wire_decimal(row.received_quantity)}
            for row in receipt.rows
        ],
    }


def adjustment_body(adjustment: InventoryAdjustment) -> JsonDict:
    """``POST /stock-transactions``: signed as in the warehouse."""
    return {
        "event_id": adjustment.event_id,
        "article": adjustment.article_number,
        "quantity": wire_decimal(adjustment.quantity),
        "cause": adjustment.cause,
    }


def stock_quantity(balance: StockBalance) -> str:
    """``PUT /stock/{article}``'s quantity."""
    return wire_decimal(balance.quantity)


# --- vendor values -------------------------------------------------------------------------


def _decimal(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a decimal string, got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a decimal") from None


def _required_decimal(value: object, name: str) -> Decimal:
    result = _decimal(value, name)
    if result is None:
        raise ValueError(f"{name} is missing")
    return result


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"modified_at: expected an ISO-8601 string, got {value!r}")
    result = datetime.fromisoformat(value)
    if result.tzinfo is None:
        raise ValueError(f"modified_at: {value!r} has no UTC offset")
    return result


def _date(value: object) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a date string, got {value!r}")
    return date.fromisoformat(value)

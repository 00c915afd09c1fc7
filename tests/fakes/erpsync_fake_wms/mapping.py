"""Canonical models <-> the Fake WMS's records, and the warehouse's events as canonical events.

Event ids are derived, not stored: a delivery's id is a hash of the order number and the
cumulative shipped quantity of every line (a receipt's: the purchase order number, the
cumulative received quantities and the completion flag). So the same unreported delivery has
the same id every time, and a later partial shipment, which changes the totals, a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from erpsync.models import (
    Article,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    ReceiptRow,
    StockBalance,
    Supplier,
    WeightUnit,
)

from .sandbox import (
    WmsAdjustment,
    WmsArticle,
    WmsOrder,
    WmsOrderLine,
    WmsPurchaseOrder,
    WmsRow,
    WmsSupplier,
)

__all__ = [
    "adjustment_of",
    "balance_of",
    "delivery_of",
    "receipt_of",
    "to_wms_article",
    "to_wms_order",
    "to_wms_purchase_order",
    "to_wms_supplier",
]


# --- canonical -> warehouse ----------------------------------------------------------------


def to_wms_article(article: Article) -> WmsArticle:
    """The warehouse keeps a subset of the article: what picking and packing need."""
    weight = article.net_weight
    return WmsArticle(
        number=article.article_number,
        name=article.name,
        barcode=article.barcode,
        unit=article.unit,
        active=article.is_active,
        supplier_number=article.supplier.supplier_number if article.supplier else None,
        weight_kg=weight.to(WeightUnit.KILOGRAM).value if weight else None,
    )


def to_wms_supplier(supplier: Supplier) -> WmsSupplier:
    return WmsSupplier(
        number=supplier.supplier_number,
        name=supplier.name,
        city=supplier.address.city,
        country=supplier.address.country_code,
    )


def to_wms_order(order: Order) -> WmsOrder:
    way = order.way_of_delivery
    return WmsOrder(
        number=order.order_number,
        erp_key=order.erp_key,
        consignee=order.customer.name,
        lines={
            line.external_line_key: WmsOrderLine(
                line.external_line_key, line.article_number, line.quantity
            )
            for line in order.lines
        },
        texts={line.external_line_key: line.text for line in order.text_lines},
        way_of_delivery=(way.code or way.name) if way else None,
        cancelled=order.cancelled,
    )


def to_wms_purchase_order(purchase_order: PurchaseOrder) -> WmsPurchaseOrder:
    supplier = purchase_order.supplier
    return WmsPurchaseOrder(
        number=purchase_order.order_number,
        erp_key=purchase_order.erp_key,
        supplier_number=supplier.supplier_number if supplier else None,
        rows={
            row.row_key: WmsRow(row.row_key, row.article_number, row.quantity)
            for row in purchase_order.rows
        },
    )


# --- warehouse -> canonical events -----------------------------------------------------------


def _event_id(prefix: str, number: str, totals: Iterable[tuple[str, Decimal]], *extra: str
              ) -> str:
    parts = [number, *(f"{key}={quantity.normalize()}" for key, quantity in sorted(totals)),
             *extra]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}:{number}:{digest}"


def delivery_of(order: WmsOrder) -> Delivery | None:
    """The shipped but unreported part of ``order`` as one delivery, or None."""
    if order.status not in ("sent", "collected") or order.shipped_at is None:
        return None
    pending = [line for line in order.lines.values() if line.shipped > line.reported]
    if not pending:
        return None
    totals = [(line.line_key, line.shipped) for line in order.lines.values()]
    return Delivery(
        event_id=_event_id("delivery", order.number, totals),
        occurred_at=order.shipped_at,
        modified_at=order.shipped_at,
        order_number=order.number,
        erp_key=order.erp_key,
        status=DeliveryStatus(order.status),
        lines=tuple(
            DeliveryLine(
                external_line_key=line.line_key,
                article_number=line.article,
                delivered_quantity=line.shipped - line.reported,
                total_delivered_quantity=line.shipped,
                ordered_quantity=line.ordered,
            )
            for line in pending
        ),
        complete=all(line.shipped >= line.ordered for line in order.lines.values()),
        tracking_number=order.tracking_number,
        way_of_delivery=order.way_of_delivery,
    )


def receipt_of(purchase_order: WmsPurchaseOrder) -> Receipt | None:
    """The received but unreported part of ``purchase_order`` as one receipt, or None.

    A purchase order closed without new goods gives a receipt of every row with nothing
    received in it, so that the ERP still hears that it is complete.
    """
    if purchase_order.received_at is None or not purchase_order.rows:
        return None
    complete = purchase_order.status == "received"
    pending = [row for row in purchase_order.rows.values() if row.received > row.reported]
    if not pending:
        if not complete or purchase_order.completion_reported:
            return None
        pending = list(purchase_order.rows.values())
    totals = [(row.row_key, row.received) for row in purchase_order.rows.values()]
    return Receipt(
        event_id=_event_id("receipt", purchase_order.number, totals, f"complete={complete}"),
        occurred_at=purchase_order.received_at,
        modified_at=purchase_order.received_at,
        purchase_order_number=purchase_order.number,
        erp_key=purchase_order.erp_key,
        rows=tuple(
            ReceiptRow(
                row_key=row.row_key,
                article_number=row.article,
                received_quantity=row.received - row.reported,
                total_received_quantity=row.received,
                ordered_quantity=row.advised,
            )
            for row in pending
        ),
        complete=complete,
    )


def adjustment_of(adjustment: WmsAdjustment) -> InventoryAdjustment:
    return InventoryAdjustment(
        event_id=adjustment.adjustment_id,
        occurred_at=adjustment.at,
        modified_at=adjustment.at,
        article_number=adjustment.article,
        quantity=adjustment.delta,
        cause=adjustment.cause,
    )


def balance_of(article: str, quantity: Decimal, as_of: datetime) -> StockBalance:
    return StockBalance(article_number=article, quantity=quantity, as_of=as_of)

"""An in-memory warehouse (no HTTP): the Fake WMS and its control surface for tests.

A :class:`FakeWarehouse` is registered under a name (:meth:`FakeWarehouse.register`) in
:data:`WAREHOUSES`; the plugin's settings name it. It has two faces:

- the **warehouse API** (methods ``api_*``), which the plugin's client calls. Every call
  takes the password and counts in :attr:`FakeWarehouse.calls`; a wrong password raises
  :class:`~erpsync.errors.AuthenticationLost`. Reads return copies, never live objects.
- the **control surface** for tests: seed and inspect records, act as the warehouse staff
  (:meth:`~FakeWarehouse.start_picking`, :meth:`~FakeWarehouse.ship`,
  :meth:`~FakeWarehouse.receive`, :meth:`~FakeWarehouse.adjust`,
  :meth:`~FakeWarehouse.set_stock`), inject faults (:meth:`~FakeWarehouse.reject_next`).

The warehouse's rules:

- An order is ``open`` until the warehouse starts on it (``picking``), then ``sent`` or
  ``collected`` once goods leave. Only an ``open`` order may be changed by an upsert; so may
  only an ``open`` purchase order (then ``receiving``, ``received``).
- Shipping lowers stock, receiving raises it, an adjustment moves it by its delta.
- Each order line and purchase-order row keeps the quantity shipped or received and the
  quantity already reported to the ERP; an adjustment keeps a reported flag. Marking is
  absolute and never moves backwards, so marking the same event twice changes nothing.
- An upsert that changes nothing is accepted and does not count in :attr:`writes`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, TypeVar

from erpsync.errors import AuthenticationLost, RecordRejected

__all__ = [
    "DEFAULT_PASSWORD",
    "WAREHOUSES",
    "FakeWarehouse",
    "PutResult",
    "WmsAdjustment",
    "WmsArticle",
    "WmsOrder",
    "WmsOrderLine",
    "WmsPurchaseOrder",
    "WmsRow",
    "WmsSupplier",
]

DEFAULT_PASSWORD = "fake-wms-password"

OrderStatus = Literal["open", "picking", "sent", "collected"]
PurchaseOrderStatus = Literal["open", "receiving", "received"]
PutResult = Literal["created", "updated", "unchanged", "locked"]
"""What an ``api_put_*`` call did; ``locked``: the record's status forbids changes."""
Number = Decimal | int | str

WAREHOUSES: dict[str, FakeWarehouse] = {}
"""The registered warehouses by name (what ``FakeWmsSettings.warehouse`` names)."""

_ZERO = Decimal(0)
T = TypeVar("T")


# --- the warehouse's own records -------------------------------------------------------------


@dataclass
class WmsArticle:
    number: str
    name: str
    barcode: str | None = None
    unit: str | None = None
    active: bool = True
    supplier_number: str | None = None
    weight_kg: Decimal | None = None


@dataclass
class WmsSupplier:
    number: str
    name: str
    city: str | None = None
    country: str | None = None


@dataclass
class WmsOrderLine:
    line_key: str
    article: str
    ordered: Decimal
    shipped: Decimal = _ZERO
    reported: Decimal = _ZERO


@dataclass
class WmsOrder:
    number: str
    erp_key: str
    consignee: str
    lines: dict[str, WmsOrderLine]
    texts: dict[str, str] = field(default_factory=dict)
    way_of_delivery: str | None = None
    cancelled: bool = False
    status: OrderStatus = "open"
    shipped_at: datetime | None = None
    tracking_number: str | None = None


@dataclass
class WmsRow:
    row_key: str
    article: str
    advised: Decimal
    received: Decimal = _ZERO
    reported: Decimal = _ZERO


@dataclass
class WmsPurchaseOrder:
    number: str
    erp_key: str
    supplier_number: str | None
    rows: dict[str, WmsRow]
    status: PurchaseOrderStatus = "open"
    received_at: datetime | None = None
    completion_reported: bool = False


@dataclass
class WmsAdjustment:
    adjustment_id: str
    article: str
    delta: Decimal
    cause: str | None
    at: datetime
    reported: bool = False


def _decimal(value: Number, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what}: give a Decimal, an int or a string, not {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None


# --- the warehouse ---------------------------------------------------------------------------


class FakeWarehouse:
    """One warehouse of one goods owner."""

    def __init__(self, *, password: str = DEFAULT_PASSWORD, now: datetime | None = None) -> None:
        self.password = password
        self.writes = 0
        """Upserts that changed something."""
        self.calls = 0
        """Warehouse API calls, refused ones included."""
        self._now = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
        if now is not None:
            self.now = now
        self._articles: dict[str, WmsArticle] = {}
        self._suppliers: dict[str, WmsSupplier] = {}
        self._orders: dict[str, WmsOrder] = {}
        self._purchase_orders: dict[str, WmsPurchaseOrder] = {}
        self._stock: dict[str, Decimal] = {}
        self._adjustments: dict[str, WmsAdjustment] = {}
        self._adjustment_ids = itertools.count(1)
        self._rejections: list[str] = []

    @classmethod
    def register(cls, name: str, *, password: str = DEFAULT_PASSWORD) -> FakeWarehouse:
        """A new, empty warehouse registered as ``name`` (replacing any earlier one)."""
        warehouse = cls(password=password)
        WAREHOUSES[name] = warehouse
        return warehouse

    # --- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The warehouse's clock: stamps shipments, receipts and adjustments."""
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("FakeWarehouse.now must be timezone-aware")
        self._now = value

    def tick(self, seconds: float = 1.0) -> datetime:
        """Move the clock forward by ``seconds``; return the new time."""
        self.now = self._now + timedelta(seconds=seconds)
        return self._now

    # --- control surface: inspect ----------------------------------------------------------

    def article(self, number: str) -> WmsArticle | None:
        """A copy of the article, or None."""
        return deepcopy(self._articles.get(number))

    def supplier(self, number: str) -> WmsSupplier | None:
        """A copy of the supplier, or None."""
        return deepcopy(self._suppliers.get(number))

    def order(self, number: str) -> WmsOrder | None:
        """A copy of the order (status, lines with shipped and reported quantities), or None."""
        return deepcopy(self._orders.get(number))

    def purchase_order(self, number: str) -> WmsPurchaseOrder | None:
        """A copy of the purchase order, or None."""
        return deepcopy(self._purchase_orders.get(number))

    def stock(self, article: str) -> Decimal:
        """The stock of ``article`` (0 when it never had any)."""
        return self._stock.get(article, _ZERO)

    def adjustments(self) -> list[WmsAdjustment]:
        """Copies of every adjustment, oldest first."""
        return deepcopy(list(self._adjustments.values()))

    # --- control surface: the warehouse at work --------------------------------------------

    def start_picking(self, order_number: str) -> None:
        """The warehouse starts on an open order: from now on it may not be changed."""
        order = self._order(order_number)
        if order.status != "open":
            raise ValueError(f"order {order_number} is {order.status}, not open")
        order.status = "picking"

    def ship(
        self,
        order_number: str,
        quantities: Mapping[str, Number] | None = None,
        status: Literal["sent", "collected"] = "sent",
        *,
        tracking_number: str | None = None,
    ) -> None:
        """Goods of an order leave: ``{line_key: quantity}``, or None for everything left.

        May be called again for a later partial shipment. Lowers stock.
        """
        order = self._order(order_number)
        if order.cancelled:
            raise ValueError(f"order {order_number} is cancelled")
        if quantities is None:
            quantities = {k: x.ordered - x.shipped for k, x in order.lines.items()
                          if x.ordered > x.shipped}
        moves = self._moves(order.lines, quantities, f"order {order_number}")
        for key, quantity in moves.items():
            line = order.lines[key]
            if line.shipped + quantity > line.ordered:
                raise ValueError(f"order {order_number} line {key}: ships more than ordered")
        for key, quantity in moves.items():
            line = order.lines[key]
            line.shipped += quantity
            self._stock[line.article] = self.stock(line.article) - quantity
        order.status = status
        order.shipped_at = self._now
        if tracking_number is not None:
            order.tracking_number = tracking_number

    def receive(
        self, po_number: str, quantities: Mapping[str, Number], complete: bool = False
    ) -> None:
        """Goods arrive against a purchase order: ``{row_key: quantity}`` (more than advised
        is allowed; empty to only close it); ``complete`` closes the purchase order."""
        purchase_order = self._purchase_order(po_number)
        if purchase_order.status == "received":
            raise ValueError(f"purchase order {po_number} is received already")
        moves = self._moves(purchase_order.rows, quantities, f"purchase order {po_number}",
                            allow_none=complete)
        for key, quantity in moves.items():
            row = purchase_order.rows[key]
            row.received += quantity
            self._stock[row.article] = self.stock(row.article) + quantity
        purchase_order.status = "received" if complete else "receiving"
        purchase_order.received_at = self._now

    def adjust(self, article: str, delta: Number, cause: str | None = None) -> str:
        """A stock change outside orders (stocktaking, damage); returns the adjustment id."""
        amount = _decimal(delta, "delta")
        if amount == 0:
            raise ValueError("an adjustment of zero changes nothing")
        adjustment_id = f"adj-{next(self._adjustment_ids)}"
        self._adjustments[adjustment_id] = WmsAdjustment(
            adjustment_id, article, amount, cause, self._now
        )
        self._stock[article] = self.stock(article) + amount
        return adjustment_id

    def set_stock(self, article: str, quantity: Number) -> None:
        """Set the stock of ``article`` directly (no adjustment is recorded)."""
        self._stock[article] = _decimal(quantity, "quantity")

    def reject_next(self, count: int = 1, message: str = "rejected by the warehouse") -> None:
        """Make the next ``count`` upserts raise RecordRejected with ``message``."""
        self._rejections.extend([message] * count)

    # --- the warehouse API -----------------------------------------------------------------

    def api_ping(self, password: str) -> None:
        """Check the password."""
        self._enter(password)

    def api_put_article(self, password: str, article: WmsArticle) -> PutResult:
        """Create or update an article by number."""
        self._enter(password, upsert=article.number)
        return self._put(self._articles, article.number, article)

    def api_put_supplier(self, password: str, supplier: WmsSupplier) -> PutResult:
        """Create or update a supplier by number."""
        self._enter(password, upsert=supplier.number)
        return self._put(self._suppliers, supplier.number, supplier)

    def api_put_order(self, password: str, order: WmsOrder) -> PutResult:
        """Create or update an order by number, only while it is open."""
        self._enter(password, upsert=order.number)
        existing = self._orders.get(order.number)
        if existing is not None and existing.status != "open":
            return "locked"
        return self._put(self._orders, order.number, order)

    def api_put_purchase_order(self, password: str, purchase_order: WmsPurchaseOrder
                               ) -> PutResult:
        """Create or update a purchase order by number, only while it is open."""
        self._enter(password, upsert=purchase_order.number)
        existing = self._purchase_orders.get(purchase_order.number)
        if existing is not None and existing.status != "open":
            return "locked"
        return self._put(self._purchase_orders, purchase_order.number, purchase_order)

    def api_status(self, password: str, kind: Literal["order", "purchase_order"], number: str
                   ) -> str | None:
        """The status of an order or purchase order, or None if unknown."""
        self._enter(password)
        table: Mapping[str, WmsOrder | WmsPurchaseOrder]
        table = self._orders if kind == "order" else self._purchase_orders
        record = table.get(number)
        return None if record is None else record.status

    def api_orders(self, password: str) -> list[WmsOrder]:
        """Copies of every order."""
        self._enter(password)
        return deepcopy(list(self._orders.values()))

    def api_purchase_orders(self, password: str) -> list[WmsPurchaseOrder]:
        """Copies of every purchase order."""
        self._enter(password)
        return deepcopy(list(self._purchase_orders.values()))

    def api_adjustments(self, password: str, *, unreported_only: bool = True
                        ) -> list[WmsAdjustment]:
        """Copies of the adjustments (by default only those not yet reported)."""
        self._enter(password)
        return deepcopy([a for a in self._adjustments.values()
                         if not (unreported_only and a.reported)])

    def api_stock(self, password: str) -> tuple[datetime, dict[str, Decimal]]:
        """The time and the stock of every article known to the warehouse (0 when none)."""
        self._enter(password)
        articles = sorted({*self._articles, *self._stock})
        return self._now, {article: self.stock(article) for article in articles}

    def api_mark_order_reported(self, password: str, order_number: str,
                                totals: Mapping[str, Decimal]) -> None:
        """Record that ``{line_key: cumulative quantity}`` has reached the ERP."""
        self._enter(password)
        order = self._order(order_number)
        _raise_reported(((order.lines[k], q) for k, q in totals.items() if k in order.lines))

    def api_mark_purchase_order_reported(self, password: str, po_number: str,
                                         totals: Mapping[str, Decimal], complete: bool) -> None:
        """Record ``{row_key: cumulative quantity}`` (and completion) as reported."""
        self._enter(password)
        purchase_order = self._purchase_order(po_number)
        rows = purchase_order.rows
        _raise_reported(((rows[k], q) for k, q in totals.items() if k in rows))
        if complete:
            purchase_order.completion_reported = True

    def api_mark_adjustment_reported(self, password: str, adjustment_id: str) -> None:
        """Record that the adjustment has reached the ERP."""
        self._enter(password)
        adjustment = self._adjustments.get(adjustment_id)
        if adjustment is None:
            raise KeyError(f"no adjustment {adjustment_id}")
        adjustment.reported = True

    # --- helpers -------------------------------------------------------------------------

    def _enter(self, password: str, *, upsert: str | None = None) -> None:
        self.calls += 1
        if password != self.password:
            raise AuthenticationLost(
                "fake-wms refused the password",
                action="set the warehouse's current password in the config",
            )
        if upsert is not None and self._rejections:
            message = self._rejections.pop(0)
            raise RecordRejected(f"fake-wms rejected {upsert}: {message}", key=upsert,
                                 vendor_message=message)

    def _put(self, table: dict[str, T], number: str, record: T) -> PutResult:
        existing = table.get(number)
        if existing == record:
            return "unchanged"
        table[number] = deepcopy(record)
        self.writes += 1
        return "created" if existing is None else "updated"

    def _order(self, number: str) -> WmsOrder:
        try:
            return self._orders[number]
        except KeyError:
            raise KeyError(f"no order {number}") from None

    def _purchase_order(self, number: str) -> WmsPurchaseOrder:
        try:
            return self._purchase_orders[number]
        except KeyError:
            raise KeyError(f"no purchase order {number}") from None

    @staticmethod
    def _moves(known: Mapping[str, object], quantities: Mapping[str, Number], where: str,
               *, allow_none: bool = False) -> dict[str, Decimal]:
        moves: dict[str, Decimal] = {}
        for key, value in quantities.items():
            if key not in known:
                raise KeyError(f"{where} has no line or row {key}")
            amount = _decimal(value, f"{where} {key}")
            if amount <= 0:
                raise ValueError(f"{where} {key}: quantity must be positive")
            moves[key] = amount
        if not moves and not allow_none:
            raise ValueError(f"{where}: nothing to move")
        return moves


def _raise_reported(pairs: Iterable[tuple[WmsOrderLine | WmsRow, Decimal]]) -> None:
    for item, total in pairs:
        item.reported = max(item.reported, total)

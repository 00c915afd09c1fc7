"""A simulator of the Fake ERP's JSON API, with a plain-Python control surface for tests.

:class:`FakeErp` holds the ERP's data; :attr:`FakeErp.app` serves it as the API below. Tests
seed records through the control surface (``add_product`` ...), move the clock (``now``,
``tick``), inject faults (``fail_next``) and read back what a plugin wrote
(``deliveries_reported`` ...).

Fake ERP API reference
======================

Base URL
    The API is served at the root of its host: mount :attr:`FakeErp.app` at a base URL
    without a path (``erpsync.http.mount("https://fake-erp.test", erp.app)``).

Authentication
    Every request carries ``Authorization: Bearer <api key>``, or ``Bearer <access token>``
    with an access token from the ERP's OAuth server (``/oauth/authorize`` and
    ``/oauth/token``: :mod:`erpsync_fake_erp.oauth_server`, :attr:`FakeErp.oauth`). A missing,
    wrong or expired one is answered ``401 {"error": "invalid api key"}``.

Conventions
    Bodies are JSON objects. Quantities and amounts travel as strings holding a decimal
    (``"12.50"``) so that no float rounding happens; a JSON number there is a 400. Timestamps
    are ISO-8601 with a UTC offset (``"2024-01-01T09:00:00+00:00"``), dates are ``YYYY-MM-DD``.
    Every error answers ``{"error": "<message>"}``: 400 for a malformed request (bad JSON,
    a missing or unknown field or query parameter), 401 for authentication, 404 for an unknown
    path, 422 for a well-formed request the ERP refuses (unknown order, line or article).

Lists: ``GET /products``, ``/suppliers``, ``/orders``, ``/purchase-orders``
    Query parameters, all optional:

    - ``modified_since``: ISO-8601 with offset; only records with ``modified_at >=`` it.
      A naive or malformed timestamp is a 400.
    - ``page``: 1-based, default 1. A page past the last answers an empty ``items``.
    - ``page_size``: 1 to 100, default 50 (:attr:`FakeErp.page_size`); more is a 400.

    Answer: ``{"items": [...], "page": n, "total_pages": m}``, records ordered by
    ``(modified_at, number)``. Paging is by offset over the live data: a record changed
    between two page requests moves to the end of the order.

    Product: ``id, number, name, description, unit, barcode, active, stock_item,
    purchase_price, sales_price, currency, weight_kg, supplier_number, modified_at``.

    Supplier: ``id, number, name, address1, post_code, city, country, phone, email,
    modified_at``.

    Order: ``id, number, order_date, delivery_date, reference, currency, comment, cancelled,
    customer {number, name, address1, post_code, city, country, email, phone}, lines [...],
    modified_at``; a line is ``{"id", "type": "product", "article", "quantity", "price"}`` or
    ``{"id", "type": "text", "text"}``. Line ids are unique within the order.

    Purchase order: ``id, number, order_date, delivery_date, currency, supplier (the supplier
    record without modified_at, or null), rows [{"id", "article", "quantity"}], modified_at``.

Write-back (each POST is an append: the same body sent twice is recorded twice)
    ``POST /deliveries`` ``{"event_id", "order_number", "lines": [{"line_id", "quantity"}]}``:
    goods of an order's product lines that left the warehouse (quantity of this delivery).

    ``POST /receipts`` ``{"event_id", "purchase_order_number", "complete", "rows":
    [{"row_id", "quantity"}]}``: goods received against a purchase order.

    ``POST /stock-transactions`` ``{"event_id", "article", "quantity", "cause"}``: a signed,
    non-zero stock change; it also moves the article's stock level.

    Each answers ``201 {"id": "..."}``; an unknown order, purchase order, line, row or article
    is a 422. ``GET /deliveries``, ``/receipts``, ``/stock-transactions`` with ``event_id``
    (and, for the first two, ``order_number`` / ``purchase_order_number``) answer
    ``{"items": [...]}``: the recorded writes, each with its ``id`` and ``created_at``.

    ``PUT /stock/{article}`` ``{"quantity": "12"}`` sets the stock level (absolute, safe to
    repeat; negative allowed); an unknown article is a 422. Answers ``200 {"article",
    "quantity"}``.

Choices where a real vendor's documentation would be silent
    - Unknown query parameters and body fields are refused (400) rather than ignored, so a
      misspelt ``modified_since`` cannot silently turn into a full read.
    - Deliveries and receipts may exceed the ordered quantity (over-delivery happens).
    - Reporting changes no ``modified_at``: write-back never makes records flow back.
    - ``fail_next`` answers before authentication and routing, like a proxy in front of the
      API; with ``after_applying=True`` the request is carried out first and only the answer
      is lost (a write that half-happened).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erpsync.models import (
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    Event,
    Flow,
    InventoryAdjustment,
    Receipt,
    ReceiptRow,
)
from erpsync.sandbox import DemoCompany

from .oauth_server import OAuthServer

__all__ = ["DEFAULT_API_KEY", "MAX_PAGE_SIZE", "ConformanceSandbox", "FakeErp", "Number"]

DEFAULT_API_KEY = "fake-erp-api-key-0001"
MAX_PAGE_SIZE = 100

Number = Decimal | int | str
"""A quantity or amount given to the control surface (never a float)."""
JsonDict = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

# Optional fields of each record and their defaults; the control surface refuses others.
_PRODUCT_FIELDS: dict[str, object] = {
    "description": None, "unit": "pcs", "barcode": None, "active": True, "stock_item": True,
    "purchase_price": None, "sales_price": None, "currency": "EUR", "weight_kg": None,
    "supplier_number": None,
}
_SUPPLIER_FIELDS: dict[str, object] = {
    "address1": None, "post_code": None, "city": None, "country": None, "phone": None,
    "email": None,
}
_ORDER_FIELDS: dict[str, object] = {
    "order_date": None, "delivery_date": None, "reference": None, "currency": "EUR",
    "comment": None, "cancelled": False,
}
_PURCHASE_ORDER_FIELDS: dict[str, object] = {
    "order_date": None, "delivery_date": None, "currency": "EUR", "supplier_number": None,
}
_CUSTOMER_FIELDS = ("number", "name", "address1", "post_code", "city", "country", "email",
                    "phone")
_DECIMAL_FIELDS = frozenset({"purchase_price", "sales_price", "weight_kg"})


class _ApiError(Exception):
    """An error answer: ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Fault:
    status: int
    body: JsonDict
    headers: dict[str, str] = field(default_factory=dict)
    after_applying: bool = False


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what}: give a Decimal, an int or a string such as '12.50'")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return result


def _to_wire(value: object) -> object:
    """``value`` as the API writes it: decimals and times as strings, recursively."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    return value


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(_to_wire(body), status_code=status, headers=dict(headers or {}))


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


# --- request parsing: strict, every problem a 400 naming the field -------------------------


def _query(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    allowed = set(allowed)
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise _ApiError(400, f"unknown query parameter {name!r}")
        if name in params:
            raise _ApiError(400, f"query parameter {name!r} given twice")
        params[name] = value
    return params


def _parse_time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _ApiError(400, f"{name}: {text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _ApiError(400, f"{name}: {text!r} has no UTC offset")
    return value


def _parse_int(text: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit():
        raise _ApiError(400, f"{name}: {text!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise _ApiError(400, f"{name}: {value} is outside {low}..{high}")
    return value


async def _body(
    request: Request, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> JsonDict:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _ApiError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _ApiError(400, "the body must be a JSON object")
    return _fields(data, required, optional, "body")


def _fields(
    data: object, required: AbstractSet[str], optional: AbstractSet[str], where: str
) -> JsonDict:
    if not isinstance(data, dict):
        raise _ApiError(400, f"{where} must be a JSON object")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise _ApiError(400, f"{where}: unknown field {unknown[0]!r}")
    missing = sorted(required - set(data))
    if missing:
        raise _ApiError(400, f"{where}: missing field {missing[0]!r}")
    return data


def _text(data: JsonDict, name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value.strip():
        raise _ApiError(400, f"{name} must be a non-empty string")
    return value


def _quantity(data: JsonDict, name: str) -> Decimal:
    value = data[name]
    if not isinstance(value, str):
        raise _ApiError(400, f"{name} must be a decimal in a string, such as \"12.50\"")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise _ApiError(400, f"{name}: {value!r} is not a decimal") from None
    if not result.is_finite():
        raise _ApiError(400, f"{name}: {value!r} is not a finite decimal")
    return result


def _objects(data: JsonDict, name: str) -> list[Any]:
    value = data[name]
    if not isinstance(value, list) or not value:
        raise _ApiError(400, f"{name} must be a non-empty list")
    return value


# --- the ERP -------------------------------------------------------------------------------


class FakeErp:
    """The Fake ERP: its data, its clock, its faults, and :attr:`app`, the API serving them."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        page_size: int = 50,
        now: datetime | None = None,
    ) -> None:
        self.api_key = api_key
        """The one API key the ERP accepts."""
        self.page_size = page_size
        """The page size of a list request that gives none."""
        self.request_count = 0
        """API requests received (answered or failed)."""
        self._now = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
        if now is not None:
            self.now = now
        self._ids = itertools.count(1001)
        self._products: dict[str, JsonDict] = {}
        self._suppliers: dict[str, JsonDict] = {}
        self._orders: dict[str, JsonDict] = {}
        self._purchase_orders: dict[str, JsonDict] = {}
        self._deliveries: list[JsonDict] = []
        self._receipts: list[JsonDict] = []
        self._stock_transactions: list[JsonDict] = []
        self._stock: dict[str, Decimal] = {}
        self._faults: list[_Fault] = []
        self._app: Starlette | None = None
        self.oauth = OAuthServer()
        """The ERP's OAuth server: its clients, tokens and consent switch."""

    # --- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The ERP's clock: every create or change is stamped ``modified_at = now``."""
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("FakeErp.now must be timezone-aware")
        self._now = value

    def tick(self, seconds: float = 1.0) -> datetime:
        """Move the clock forward by ``seconds``; return the new time."""
        self.now = self._now + timedelta(seconds=seconds)
        return self._now

    # --- seeding -------------------------------------------------------------------------

    def add_product(self, number: str, name: str, **fields: object) -> JsonDict:
        """Create a product (fields: see the API's product record)."""
        record = self._new(self._products, number, "product", {"name": name})
        self._apply(record, _PRODUCT_FIELDS, fields, new=True)
        return deepcopy(record)

    def change_product(self, number: str, **fields: object) -> JsonDict:
        """Change a product's fields (``name`` included) and stamp it."""
        record = self._get(self._products, number, "product")
        self._apply(record, {**_PRODUCT_FIELDS, "name": None}, fields)
        return deepcopy(record)

    def add_supplier(self, number: str, name: str, **fields: object) -> JsonDict:
        """Create a supplier (fields: address1, post_code, city, country, phone, email)."""
        record = self._new(self._suppliers, number, "supplier", {"name": name})
        self._apply(record, _SUPPLIER_FIELDS, fields, new=True)
        return deepcopy(record)

    def change_supplier(self, number: str, **fields: object) -> JsonDict:
        """Change a supplier's fields and stamp it."""
        record = self._get(self._suppliers, number, "supplier")
        self._apply(record, {**_SUPPLIER_FIELDS, "name": None}, fields)
        return deepcopy(record)

    def add_order(
        self,
        number: str,
        lines: Sequence[tuple[str, str, Number, Number | None]] = (),
        text_lines: Sequence[tuple[str, str]] = (),
        customer: str | Mapping[str, str | None] = "Test Customer",
        **fields: object,
    ) -> JsonDict:
        """Create a sales order.

        ``lines`` are ``(line_id, article, quantity, price)``, ``text_lines`` are
        ``(line_id, text)``; ``customer`` is a name or a dict of the customer fields.
        """
        record = self._new(self._orders, number, "order", {})
        record["customer"] = self._customer(customer)
        record["lines"] = self._order_lines(number, lines, text_lines)
        self._apply(record, _ORDER_FIELDS, fields, new=True)
        return deepcopy(record)

    def change_order(
        self,
        number: str,
        lines: Sequence[tuple[str, str, Number, Number | None]] | None = None,
        text_lines: Sequence[tuple[str, str]] | None = None,
        customer: str | Mapping[str, str | None] | None = None,
        **fields: object,
    ) -> JsonDict:
        """Change an order; ``lines`` / ``text_lines`` given replace those of that kind."""
        record = self._get(self._orders, number, "order")
        if customer is not None:
            record["customer"] = self._customer(customer)
        if lines is not None or text_lines is not None:
            old = record["lines"]
            if lines is None:
                lines = [(x["id"], x["article"], x["quantity"], x["price"])
                         for x in old if x["type"] == "product"]
            if text_lines is None:
                text_lines = [(x["id"], x["text"]) for x in old if x["type"] == "text"]
            record["lines"] = self._order_lines(number, lines, text_lines)
        self._apply(record, _ORDER_FIELDS, fields)
        return deepcopy(record)

    def add_purchase_order(
        self,
        number: str,
        rows: Sequence[tuple[str, str, Number]] = (),
        **fields: object,
    ) -> JsonDict:
        """Create a purchase order; ``rows`` are ``(row_id, article, quantity)``.

        Fields: order_date, delivery_date, currency, supplier_number (an existing supplier).
        """
        record = self._new(self._purchase_orders, number, "purchase order", {})
        record["rows"] = self._rows(number, rows)
        self._apply(record, _PURCHASE_ORDER_FIELDS, fields, new=True)
        return deepcopy(record)

    def change_purchase_order(
        self, number: str, rows: Sequence[tuple[str, str, Number]] | None = None, **fields: object
    ) -> JsonDict:
        """Change a purchase order; ``rows`` given replace all rows."""
        record = self._get(self._purchase_orders, number, "purchase order")
        if rows is not None:
            record["rows"] = self._rows(number, rows)
        self._apply(record, _PURCHASE_ORDER_FIELDS, fields)
        return deepcopy(record)

    # --- read-backs ----------------------------------------------------------------------

    def deliveries_reported(self, order_number: str) -> list[JsonDict]:
        """The deliveries posted for ``order_number``, oldest first (quantities Decimal)."""
        return [deepcopy(d) for d in self._deliveries if d["order_number"] == order_number]

    def receipts_reported(self, po_number: str) -> list[JsonDict]:
        """The receipts posted for purchase order ``po_number``, oldest first."""
        return [deepcopy(r) for r in self._receipts if r["purchase_order_number"] == po_number]

    def stock_transactions(self) -> list[JsonDict]:
        """Every stock transaction posted, oldest first."""
        return deepcopy(self._stock_transactions)

    def stock_level(self, article: str) -> Decimal | None:
        """The article's stock level, or None if it was never set or moved."""
        return self._stock.get(article)

    # --- faults --------------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        body: JsonDict | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        after_applying: bool = False,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` and ``body``.

        ``headers`` are added to the answer (``{"Retry-After": "0"}``). With
        ``after_applying`` the request is carried out first and only its answer is replaced.
        """
        fault = _Fault(status, body if body is not None else {"error": f"fault {status}"},
                       dict(headers or {}), after_applying)
        self._faults.extend([fault] * count)

    # --- the API -------------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        """The API as an ASGI application (built once)."""
        if self._app is None:
            routes = [
                Route("/products", self._endpoint(self._list_products), methods=["GET"]),
                Route("/suppliers", self._endpoint(self._list_suppliers), methods=["GET"]),
                Route("/orders", self._endpoint(self._list_orders), methods=["GET"]),
                Route("/purchase-orders", self._endpoint(self._list_purchase_orders),
                      methods=["GET"]),
                Route("/deliveries", self._endpoint(self._post_delivery), methods=["POST"]),
                Route("/deliveries", self._endpoint(self._get_deliveries), methods=["GET"]),
                Route("/receipts", self._endpoint(self._post_receipt), methods=["POST"]),
                Route("/receipts", self._endpoint(self._get_receipts), methods=["GET"]),
                Route("/stock-transactions", self._endpoint(self._post_stock_transaction),
                      methods=["POST"]),
                Route("/stock-transactions", self._endpoint(self._get_stock_transactions),
                      methods=["GET"]),
                Route("/stock/{article:path}", self._endpoint(self._put_stock), methods=["PUT"]),
                *self.oauth.routes(),
            ]
            self._app = Starlette(routes=routes)
        return self._app

    def _endpoint(self, handler: Handler) -> Handler:
        """Wrap a handler with request counting, faults, authentication and error answers."""

        async def endpoint(request: Request) -> Response:
            self.request_count += 1
            fault = self._faults.pop(0) if self._faults else None
            if fault is not None and not fault.after_applying:
                return _json(fault.body, fault.status, fault.headers)
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if scheme != "Bearer" or (credential != self.api_key
                                      and not self.oauth.accepts(credential)):
                return _error(401, "invalid api key")
            try:
                response = await handler(request)
            except _ApiError as error:
                response = _error(error.status, error.message)
            if fault is not None:
                return _json(fault.body, fault.status, fault.headers)
            return response

        return endpoint

    async def _list_products(self, request: Request) -> Response:
        return self._page(request, list(self._products.values()))

    async def _list_suppliers(self, request: Request) -> Response:
        return self._page(request, list(self._suppliers.values()))

    async def _list_orders(self, request: Request) -> Response:
        return self._page(request, list(self._orders.values()))

    async def _list_purchase_orders(self, request: Request) -> Response:
        views = []
        for record in self._purchase_orders.values():
            view = {k: v for k, v in record.items() if k != "supplier_number"}
            supplier = self._suppliers.get(record["supplier_number"] or "")
            view["supplier"] = (
                {k: v for k, v in supplier.items() if k != "modified_at"} if supplier else None
            )
            views.append(view)
        return self._page(request, views)

    def _page(self, request: Request, records: list[JsonDict]) -> Response:
        params = _query(request, {"modified_since", "page", "page_size"})
        since = params.get("modified_since")
        since_time = _parse_time(since, "modified_since") if since is not None else None
        page = _parse_int(params.get("page"), "page", default=1, low=1, high=10**9)
        size = _parse_int(params.get("page_size"), "page_size", default=self.page_size, low=1,
                          high=MAX_PAGE_SIZE)
        chosen = [r for r in records if since_time is None or r["modified_at"] >= since_time]
        chosen.sort(key=lambda r: (r["modified_at"], r["number"]))
        items = chosen[(page - 1) * size : page * size]
        return _json({"items": items, "page": page, "total_pages": math.ceil(len(chosen) / size)})

    async def _post_delivery(self, request: Request) -> Response:
        data = await _body(request, {"event_id", "order_number", "lines"})
        event_id, number = _text(data, "event_id"), _text(data, "order_number")
        lines = self._quantities(_objects(data, "lines"), "line_id", "lines")
        order = self._orders.get(number)
        if order is None:
            raise _ApiError(422, f"order {number} not found")
        known = {x["id"] for x in order["lines"] if x["type"] == "product"}
        for line_id, _ in lines:
            if line_id not in known:
                raise _ApiError(422, f"order {number} has no product line {line_id}")
        record = {"id": f"DLV-{next(self._ids)}", "event_id": event_id, "order_number": number,
                  "lines": [{"line_id": k, "quantity": q} for k, q in lines],
                  "created_at": self._now}
        self._deliveries.append(record)
        return _json({"id": record["id"]}, 201)

    async def _get_deliveries(self, request: Request) -> Response:
        params = _query(request, {"event_id", "order_number"})
        return _json({"items": _matching(self._deliveries, params)})

    async def _post_receipt(self, request: Request) -> Response:
        data = await _body(request, {"event_id", "purchase_order_number", "complete", "rows"})
        event_id, number = _text(data, "event_id"), _text(data, "purchase_order_number")
        if not isinstance(data["complete"], bool):
            raise _ApiError(400, "complete must be true or false")
        rows = self._quantities(_objects(data, "rows"), "row_id", "rows")
        purchase_order = self._purchase_orders.get(number)
        if purchase_order is None:
            raise _ApiError(422, f"purchase order {number} not found")
        known = {x["id"] for x in purchase_order["rows"]}
        for row_id, _ in rows:
            if row_id not in known:
                raise _ApiError(422, f"purchase order {number} has no row {row_id}")
        record = {"id": f"RCP-{next(self._ids)}", "event_id": event_id,
                  "purchase_order_number": number, "complete": data["complete"],
                  "rows": [{"row_id": k, "quantity": q} for k, q in rows],
                  "created_at": self._now}
        self._receipts.append(record)
        return _json({"id": record["id"]}, 201)

    async def _get_receipts(self, request: Request) -> Response:
        params = _query(request, {"event_id", "purchase_order_number"})
        return _json({"items": _matching(self._receipts, params)})

    async def _post_stock_transaction(self, request: Request) -> Response:
        data = await _body(request, {"event_id", "article", "quantity"}, {"cause"})
        event_id, article = _text(data, "event_id"), _text(data, "article")
        quantity = _quantity(data, "quantity")
        cause = data.get("cause")
        if cause is not None and not isinstance(cause, str):
            raise _ApiError(400, "cause must be a string or null")
        if article not in self._products:
            raise _ApiError(422, f"article {article} not found")
        if quantity == 0:
            raise _ApiError(422, "quantity must not be zero")
        record = {"id": f"STX-{next(self._ids)}", "event_id": event_id, "article": article,
                  "quantity": quantity, "cause": cause, "created_at": self._now}
        self._stock_transactions.append(record)
        self._stock[article] = self._stock.get(article, Decimal(0)) + quantity
        return _json({"id": record["id"]}, 201)

    async def _get_stock_transactions(self, request: Request) -> Response:
        params = _query(request, {"event_id"})
        return _json({"items": _matching(self._stock_transactions, params)})

    async def _put_stock(self, request: Request) -> Response:
        article = request.path_params["article"]
        quantity = _quantity(await _body(request, {"quantity"}), "quantity")
        if article not in self._products:
            raise _ApiError(422, f"article {article} not found")
        self._stock[article] = quantity
        return _json({"article": article, "quantity": quantity})

    # --- helpers -------------------------------------------------------------------------

    def _new(self, table: dict[str, JsonDict], number: str, kind: str, record: JsonDict
             ) -> JsonDict:
        if not number.strip():
            raise ValueError(f"a {kind} needs a number")
        if number in table:
            raise ValueError(f"{kind} {number} exists already")
        record = {"id": str(next(self._ids)), "number": number, **record,
                  "modified_at": self._now}
        table[number] = record
        return record

    @staticmethod
    def _get(table: dict[str, JsonDict], number: str, kind: str) -> JsonDict:
        try:
            return table[number]
        except KeyError:
            raise KeyError(f"no {kind} {number}") from None

    def _apply(self, record: JsonDict, known: Mapping[str, object],
               fields: Mapping[str, object], *, new: bool = False) -> None:
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise TypeError(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(known))}")
        if new:
            record.update({k: v for k, v in known.items() if k not in record})
        for name, value in fields.items():
            if name in _DECIMAL_FIELDS and value is not None:
                value = _decimal(value, name)
            if isinstance(value, float):
                raise TypeError(f"{name}: give a Decimal or a string, not a float")
            record[name] = value
        supplier = record.get("supplier_number")
        if "rows" in record and supplier is not None and supplier not in self._suppliers:
            raise ValueError(f"no supplier {supplier}: add it first")
        record["modified_at"] = self._now

    @staticmethod
    def _customer(customer: str | Mapping[str, str | None]) -> JsonDict:
        given = {"name": customer} if isinstance(customer, str) else dict(customer)
        unknown = sorted(set(given) - set(_CUSTOMER_FIELDS))
        if unknown:
            raise TypeError(f"unknown customer field {unknown[0]!r}")
        if not given.get("name"):
            raise ValueError("a customer needs a name")
        return {name: given.get(name) for name in _CUSTOMER_FIELDS}

    @staticmethod
    def _order_lines(number: str, lines: Sequence[tuple[str, str, Number, Number | None]],
                     text_lines: Sequence[tuple[str, str]]) -> list[JsonDict]:
        result: list[JsonDict] = []
        for line_id, article, quantity, price in lines:
            amount = _decimal(quantity, f"order {number} line {line_id} quantity")
            if amount <= 0:
                raise ValueError(f"order {number} line {line_id}: quantity must be positive")
            result.append({"id": line_id, "type": "product", "article": article,
                           "quantity": amount,
                           "price": None if price is None else _decimal(price, "price")})
        result.extend({"id": line_id, "type": "text", "text": text}
                      for line_id, text in text_lines)
        _unique([x["id"] for x in result], f"order {number} line id")
        return result

    @staticmethod
    def _rows(number: str, rows: Sequence[tuple[str, str, Number]]) -> list[JsonDict]:
        result: list[JsonDict] = []
        for row_id, article, quantity in rows:
            amount = _decimal(quantity, f"purchase order {number} row {row_id} quantity")
            if amount <= 0:
                raise ValueError(f"purchase order {number} row {row_id}: quantity must be positive")
            result.append({"id": row_id, "article": article, "quantity": amount})
        _unique([x["id"] for x in result], f"purchase order {number} row id")
        return result

    @staticmethod
    def _quantities(items: list[Any], key: str, where: str) -> list[tuple[str, Decimal]]:
        result: list[tuple[str, Decimal]] = []
        for item in items:
            entry = _fields(item, {key, "quantity"}, frozenset(), where)
            quantity = _quantity(entry, "quantity")
            if quantity < 0:
                raise _ApiError(400, f"{where}: quantity must not be negative")
            result.append((_text(entry, key), quantity))
        ids = [k for k, _ in result]
        if len(set(ids)) != len(ids):
            raise _ApiError(400, f"{where}: a {key} appears twice")
        return result


def _matching(records: list[JsonDict], params: Mapping[str, str]) -> list[JsonDict]:
    return [r for r in records if all(r[name] == value for name, value in params.items())]


def _unique(ids: list[str], what: str) -> None:
    repeated = sorted({x for x in ids if ids.count(x) > 1})
    if repeated:
        raise ValueError(f"{what} repeats: {', '.join(repeated)}")


# --- the conformance suite's control surface -----------------------------------------------------


class ConformanceSandbox(FakeErp):
    """:class:`FakeErp` driven the way :class:`erpsync.conformance.ErpSandbox` asks."""

    base_url = "https://fake-erp.test"

    def __init__(self, *, page_size: int = 5) -> None:
        super().__init__(page_size=page_size)
        self._serial = itertools.count(1)

    def settings(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": SecretStr(self.api_key),
                "page_size": self.page_size}

    def bad_settings(self) -> dict[str, Any]:
        return {**self.settings(), "api_key": SecretStr("wrong-fake-erp-key-9999")}

    def _number(self, prefix: str) -> str:
        return f"{prefix}-{next(self._serial):05d}"

    def seed(self, flow: Flow, count: int, at: datetime) -> list[str]:
        self.now = at
        keys = []
        for _ in range(count):
            if flow in (Flow.ARTICLES, Flow.STOCK):
                keys.append(self.add_product(self._number("P"), "Kahvi 500 g")["number"])
            elif flow is Flow.SUPPLIERS:
                keys.append(self.add_supplier(self._number("S"), "Tukku Oy")["number"])
            elif flow is Flow.ORDERS:
                keys.append(self.add_order(self._number("O"), lines=[("1", "P-1", "2", "9.90")],
                                           text_lines=[("2", "Ovikoodi 1234")])["number"])
            elif flow is Flow.PURCHASE_ORDERS:
                keys.append(self.add_purchase_order(self._number("PO"),
                                                    rows=[("1", "P-1", "10")])["number"])
            else:
                raise ValueError(f"{flow.value} is not read from the Fake ERP")
        return keys

    def change(self, flow: Flow, key: str, at: datetime) -> None:
        self.now = at
        if flow is Flow.ARTICLES:
            self.change_product(key, name="Kahvi 1 kg")
        elif flow is Flow.SUPPLIERS:
            self.change_supplier(key, name="Tukku Ab")
        elif flow is Flow.ORDERS:
            self.change_order(key, comment="changed")
        elif flow is Flow.PURCHASE_ORDERS:
            self.change_purchase_order(key, rows=[("1", "P-1", "12")])
        else:
            raise ValueError(f"{flow.value} is not read from the Fake ERP")

    def event(self, flow: Flow) -> Event:
        return self._event(flow, known=True)

    def rejected_event(self, flow: Flow) -> Event:
        return self._event(flow, known=False)

    def _event(self, flow: Flow, *, known: bool) -> Event:
        now = self.now
        event_id = self._number("E")
        if flow is Flow.DELIVERIES:
            number = self._number("O")
            if known:
                self.add_order(number, lines=[("1", "P-1", "3", None)])
            line = DeliveryLine(external_line_key="1", article_number="P-1",
                                delivered_quantity=Decimal(3), total_delivered_quantity=Decimal(3))
            return Delivery(event_id=event_id, occurred_at=now, order_number=number,
                            status=DeliveryStatus.SENT, lines=(line,))
        if flow is Flow.RECEIPTS:
            number = self._number("PO")
            if known:
                self.add_purchase_order(number, rows=[("1", "P-1", "10")])
            row = ReceiptRow(row_key="1", article_number="P-1", received_quantity=Decimal(8),
                             total_received_quantity=Decimal(8))
            return Receipt(event_id=event_id, occurred_at=now, purchase_order_number=number,
                           rows=(row,), complete=True)
        if flow is Flow.ADJUSTMENTS:
            article = self._number("P")
            if known:
                self.add_product(article, "Tee")
            return InventoryAdjustment(event_id=event_id, occurred_at=now,
                                       article_number=article, quantity=Decimal(-2),
                                       cause="damaged")
        raise ValueError(f"{flow.value} is not reported to the Fake ERP")

    def times_applied(self, flow: Flow, event: Event) -> int:
        if isinstance(event, Delivery):
            found = self.deliveries_reported(event.order_number)
        elif isinstance(event, Receipt):
            found = self.receipts_reported(event.purchase_order_number)
        else:
            found = self.stock_transactions()
        return sum(1 for item in found if item["event_id"] == event.event_id)

    def populate_demo(self, size: int) -> DemoCompany:
        """A small company: ``size`` products, a tenth as many orders, a few purchase orders."""
        names = ["Kahvi", "Tee", "Kaakao", "Hunaja", "Ruisleipä", "Puolukkahillo", "Sahti"]
        articles = [self.add_product(f"DP{n:04d}", f"{names[n % len(names)]} {n}")["number"]
                    for n in range(size)]
        orders: dict[str, dict[str, Decimal]] = {}
        for n in range(max(3, size // 10)):
            lines = {"1": Decimal(2 + n % 3), "2": Decimal(1)}
            number = self.add_order(
                f"DO{n:04d}", lines=[(key, articles[(n + i) % size], qty, "9.90")
                                     for i, (key, qty) in enumerate(lines.items())],
                text_lines=[("9", "Toimitus ovelle")])["number"]
            orders[number] = lines
        purchase_orders = {}
        for n in range(3):
            rows = {"1": Decimal(10 + n)}
            number = self.add_purchase_order(f"DPO{n:03d}",
                                             rows=[("1", articles[n], rows["1"])])["number"]
            purchase_orders[number] = rows
        return DemoCompany(articles, orders, purchase_orders)

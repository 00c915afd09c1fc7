"""Fortnox's REST API (``/3``) and warehouse module (``/api/warehouse``) as the plugin uses them.

Returns vendor-shaped data (dicts as Fortnox spells them, numbers as Decimal); the mapping
turns them into canonical records. Sources: the developer pages under
https://www.fortnox.se/developer/guides-and-good-to-know/ (authorization, rate limits,
parameters, errors, responses, warehouse) and the API reference https://apps.fortnox.se/apidocs.

- **Tokens** come from :mod:`erpsync.oauth` (:class:`TokenSource`): an access token on every
  call as ``Authorization: Bearer``; a 401 gets one fresh token (``after_unauthorized``) and one
  more try, a second 401 is :class:`~erpsync.errors.AuthenticationLost`.
- **Rate limit**: "The limit is 300 requests per minute per client-id and tenant. The rate
  limit is based on a sliding window algorithm with a period of 5 seconds, so the actual limit
  is 25 requests per 5 seconds" (guides-and-good-to-know/rate-limits-for-fortnox-api). Every
  goods owner on one client id and tenant shares one pacer (:func:`rate_limit_for`). A 429 is
  retried by the HTTP layer after Retry-After, or after at least one window (``backoff`` of
  5 s) when Fortnox gives none.
- **Lists** (``/3``): ``limit`` (at most 500) and ``page``; the answer's ``MetaInformation``
  gives ``@TotalPages`` and ``@CurrentPage``. Lists are sorted by their key (``sortby``,
  ``sortorder``: parameters page) so that a record changed during the read cannot move across
  a page break. ``lastmodified`` "Retrieves all records since the provided timestamp", example
  ``2019-03-10 12:30`` (guides-and-good-to-know/parameters): :func:`lastmodified` gives the
  cursor in that form, in Swedish local time, rounded down to the minute. "Only one resource
  specific filter can be used at a time", combined freely with ``lastmodified``.
- **Errors**: ``{"ErrorInformation": {"error": 1, "message": "...", "code": 2000423}}``
  (guides-and-good-to-know/responses), the key casing varying between endpoints (``Error``,
  ``Message``, ``Code``); the warehouse API answers ``{"error": "...", "id": "...",
  "message": "..."}``. :func:`problem` maps them onto the core's kinds and keeps Fortnox's
  message (often Swedish) verbatim as ``vendor_message``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from erpsync.errors import AuthenticationLost, RecordRejected, TransientError, VendorError
from erpsync.http import HttpClient, RateLimit, parse_json

from .mapping import FORTNOX_ZONE, loads

__all__ = [
    "API_URL",
    "AUTH_URL",
    "PAGE_SIZE_MAX",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_WINDOW",
    "VENDOR",
    "FortnoxClient",
    "TokenSource",
    "error_text",
    "lastmodified",
    "problem",
    "rate_limit_for",
]

VENDOR = "fortnox"
API_URL = "https://api.fortnox.se"
AUTH_URL = "https://apps.fortnox.se"
RATE_LIMIT_REQUESTS = 25
RATE_LIMIT_WINDOW = 5.0
PAGE_SIZE_MAX = 500
"""``limit``: at most 500 records per page (apidocs, list operations)."""
WAREHOUSE = "/api/warehouse"

SORT_KEYS = {"/3/articles": "articlenumber", "/3/suppliers": "suppliernumber",
             "/3/orders": "documentnumber"}
"""The key each list is sorted by (ascending)."""

_MESSAGE_CHARS = 500


class TokenSource(Protocol):
    """What :class:`erpsync.oauth.RotatingTokens` and :class:`erpsync.oauth.ClientCredentials`
    offer the client."""

    async def access_token(self) -> str: ...

    async def after_unauthorized(self, used: str) -> str: ...


def fingerprint_key(value: str) -> str:
    """A short one-way hash (a client id in a rate-limit key)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


def rate_limit_for(api_url: str, client_id: str, tenant: str) -> RateLimit:
    """The pacer budget of one client id on one Fortnox tenant: 24 attempts per 5 s, shared
    by every goods owner on that tenant."""
    # Fortnox counts arrivals in its own window: starts spaced evenly and one under the limit,
    # so that network jitter never lands a 26th call in its 5 seconds.
    return RateLimit(
        requests=RATE_LIMIT_REQUESTS - 1, per=RATE_LIMIT_WINDOW, even=True,
        key=f"{VENDOR}:{api_url}:{fingerprint_key(client_id)}:{tenant}",
    )


def lastmodified(since: datetime) -> str:
    """``since`` as the ``lastmodified`` parameter: Swedish local time, ``YYYY-MM-DD HH:MM``,
    rounded down to the minute (the parameters page's form).

    In the autumn's repeated hour a wall time names two moments; the earlier reading is sent
    (an hour earlier), so that Fortnox returns a few records too many rather than one too few.
    """
    local = since.astimezone(FORTNOX_ZONE)
    wall = local.replace(tzinfo=None, second=0, microsecond=0)
    first = wall.replace(tzinfo=FORTNOX_ZONE, fold=0)
    second = wall.replace(tzinfo=FORTNOX_ZONE, fold=1)
    if first.utcoffset() != second.utcoffset() and local.fold == 0:
        # Read as the second moment, this wall time would be an hour late.
        wall -= timedelta(hours=1)
    return wall.strftime("%Y-%m-%d %H:%M")


# --- errors --------------------------------------------------------------------------------


def _pick(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` in any key casing (``message``, ``Message``)."""
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


def error_text(response: httpx.Response) -> tuple[str | None, str | None]:
    """Fortnox's message and code of a failed answer, the message verbatim (Swedish as sent).

    Reads ``ErrorInformation`` in either casing (``message``/``Message``, ``code``/``Code``),
    the warehouse API's ``{"error", "message"}`` and the OAuth server's ``error_description``.
    """
    try:
        body = loads(response.content) if response.content.strip() else None
    except (ValueError, RecursionError):
        excerpt = response.text.strip()[:_MESSAGE_CHARS]
        return excerpt or None, None
    if not isinstance(body, Mapping):
        return None, None
    info = _pick(body, "ErrorInformation")
    source = info if isinstance(info, Mapping) else body
    message = _pick(source, "message") or _pick(source, "error_description")
    if message is None:
        error = _pick(source, "error")
        message = error if isinstance(error, str) else None
    code = _pick(source, "code")
    return (str(message)[:_MESSAGE_CHARS] if message else None,
            str(code) if code is not None and code != "" else None)


def problem(
    response: httpx.Response,
    *,
    action: str,
    reauthorise: str,
    key: str | None = None,
    write: bool = False,
) -> VendorError:
    """The error for a failed answer (``response.status_code`` >= 400).

    401 (after one fresh token) and 403 ("Failed authentication", a missing scope or licence):
    :class:`AuthenticationLost` with ``reauthorise`` as the action. 5xx:
    :class:`TransientError`. 400, 404 and 409 on a write: :class:`RecordRejected`. The
    message carries Fortnox's own words verbatim, and its error code."""
    status = response.status_code
    message, code = error_text(response)
    said = message or f"HTTP {status}"
    if code:
        said = f"{said} (code {code})"
    where = f"{VENDOR} {action}"
    if status in (401, 403):
        return AuthenticationLost(f"{where}: Fortnox refused the credentials (HTTP {status}: "
                                  f"{said})", action=reauthorise, vendor_message=message,
                                  status=status)
    if status >= 500:
        return TransientError(f"{where}: HTTP {status}: {said}", maybe_sent=write,
                              vendor_message=message, status=status)
    if write and status in (400, 404, 409, 422):
        return RecordRejected(f"{where}: Fortnox refused {key or 'the record'}: {said}",
                              key=key, vendor_message=message, status=status)
    return VendorError(f"{where} failed: HTTP {status}: {said}", vendor_message=message,
                       status=status)


# --- the client ----------------------------------------------------------------------------


class FortnoxClient:
    """One goods owner's connection to one Fortnox tenant for one cycle."""

    def __init__(
        self,
        api_url: str,
        tokens: TokenSource,
        *,
        rate_limit: RateLimit,
        reauthorise: str,
        page_size: int = PAGE_SIZE_MAX,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 5,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1..{PAGE_SIZE_MAX}, not {page_size}")
        self.page_size = page_size
        self.reauthorise = reauthorise
        self._tokens = tokens
        self._http = HttpClient(
            api_url, vendor=VENDOR, headers={"Accept": "application/json"}, timeout=timeout,
            rate_limit=rate_limit, transport=transport, max_attempts=max_attempts,
            backoff=RATE_LIMIT_WINDOW,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> HttpClient:
        return self._http

    # -- requests --

    async def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        key: str | None = None,
        write: bool = False,
        idempotent: bool | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """One API call with the bearer token; a 401 gets one fresh token and one more try.
        Answers of 400 and above become the errors of :func:`problem`; with ``missing_ok`` a
        404 is ``None`` instead."""
        token = await self._tokens.access_token()
        renewed = False
        while True:
            response = await self._http.request(
                method, path, params=dict(params) if params else None, json=json,
                headers={"Authorization": f"Bearer {token}"}, idempotent=idempotent,
            )
            if response.status_code == 401 and not renewed:
                renewed = True
                token = await self._tokens.after_unauthorized(token)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code >= 400:
                raise problem(response, action=action, reauthorise=self.reauthorise, key=key,
                              write=write)
            return response

    async def _json(self, method: str, path: str, **options: Any) -> Any:
        response = await self.call(method, path, **options)
        if response is None:
            return None
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return loads(response.content)
        except (ValueError, RecursionError):
            return parse_json(response)  # raises ResponseInvalid naming the call

    async def _one(self, path: str, wrapper: str, *, action: str) -> dict[str, Any] | None:
        """A single ``/3`` resource, unwrapped from its key (``{"Article": {...}}``); None when
        Fortnox does not have it."""
        body = await self._json("GET", path, action=action, missing_ok=True)
        if body is None:
            return None
        inner = body.get(wrapper) if isinstance(body, Mapping) else None
        if not isinstance(inner, dict):
            raise VendorError(f"{VENDOR} {action}: the answer has no {wrapper!r} object")
        return inner

    async def pages(
        self, path: str, plural: str, params: Mapping[str, Any] | None = None, *, action: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The records of a ``/3`` list, page by page (``limit``/``page``, MetaInformation)."""
        page = 1
        sort = SORT_KEYS.get(path)
        while True:
            query = dict(params or {}) | {"limit": self.page_size, "page": page}
            if sort is not None:
                query |= {"sortby": sort, "sortorder": "ascending"}
            body = await self._json("GET", path, params=query, action=action)
            items = body.get(plural) if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise VendorError(f"{VENDOR} {action}: the answer has no {plural!r} list")
            records = [item for item in items if isinstance(item, dict)]
            if records:
                yield records
            meta = body.get("MetaInformation")
            total = _int(meta.get("@TotalPages")) if isinstance(meta, Mapping) else None
            if total is None:
                if len(items) < self.page_size:
                    return
            elif page >= total:
                return
            if not items:
                return
            page += 1

    async def _list(self, path: str, params: Mapping[str, Any] | None = None, *,
                    action: str) -> list[dict[str, Any]]:
        """A warehouse list: a bare JSON array."""
        body = await self._json("GET", path, params=params, action=action)
        if body is None:
            return []
        if not isinstance(body, list):
            raise VendorError(f"{VENDOR} {action}: expected a JSON list")
        return [item for item in body if isinstance(item, dict)]

    # -- articles, suppliers, customers --

    def articles(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        params = {} if since is None else {"lastmodified": lastmodified(since)}
        return self.pages("/3/articles", "Articles", params, action="read articles")

    async def article(self, number: str) -> dict[str, Any] | None:
        return await self._one(f"/3/articles/{_path(number)}", "Article",
                               action=f"read article {number}")

    async def set_quantity_in_stock(self, number: str, quantity: Decimal) -> None:
        """``PUT /3/articles/{n}`` with ``QuantityInStock``: classic stock, an absolute value."""
        await self.call("PUT", f"/3/articles/{_path(number)}",
                        json={"Article": {"QuantityInStock": _number(quantity)}},
                        action=f"set the stock of article {number}", key=number, write=True)

    def suppliers(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        params = {} if since is None else {"lastmodified": lastmodified(since)}
        return self.pages("/3/suppliers", "Suppliers", params, action="read suppliers")

    async def supplier(self, number: str) -> dict[str, Any] | None:
        return await self._one(f"/3/suppliers/{_path(number)}", "Supplier",
                               action=f"read supplier {number}")

    async def customer(self, number: str) -> dict[str, Any] | None:
        return await self._one(f"/3/customers/{_path(number)}", "Customer",
                               action=f"read customer {number}")

    # -- orders --

    def orders(self, since: datetime | None, filter_: str = "invoicenotcreated"
               ) -> AsyncIterator[list[dict[str, Any]]]:
        """Orders changed since ``since`` under one ``filter`` (the one resource-specific
        filter a request may have): ``invoicenotcreated`` (open orders) or ``cancelled``."""
        params: dict[str, Any] = {"filter": filter_}
        if since is not None:
            params["lastmodified"] = lastmodified(since)
        return self.pages("/3/orders", "Orders", params, action=f"read orders ({filter_})")

    async def order(self, number: str) -> dict[str, Any] | None:
        return await self._one(f"/3/orders/{_path(number)}", "Order",
                               action=f"read order {number}")

    async def set_order_rows(self, number: str, rows: Sequence[Mapping[str, Any]], *,
                             delivery_state: bool = False) -> dict[str, Any] | None:
        """``PUT /3/orders/{n}`` with every row (Fortnox replaces the rows: every row is sent,
        in order). Absolute, safe to repeat. ``delivery_state``: with the warehouse module,
        ``DeliveredQuantity`` "can only be modified when the document is in the delivery
        state" (guides-and-good-to-know/warehouse-resource-specific-fields), so the order is
        put in it in the same write. Returns the order as the answer shows it, if it does."""
        order: dict[str, Any] = {"OrderRows": list(rows)}
        if delivery_state:
            order["DeliveryState"] = "delivery"
        body = await self._json("PUT", f"/3/orders/{_path(number)}", json={"Order": order},
                                action=f"write the delivered quantities of order {number}",
                                key=number, write=True)
        written = body.get("Order") if isinstance(body, Mapping) else None
        return written if isinstance(written, dict) else None

    async def warehouse_ready(self, number: str) -> None:
        """``PUT /3/orders/{n}/warehouseready`` (warehouse module): locks the order."""
        await self.call("PUT", f"/3/orders/{_path(number)}/warehouseready",
                        action=f"mark order {number} warehouse-ready", key=number, write=True)

    async def create_invoice(self, number: str) -> str | None:
        """``PUT /3/orders/{n}/createinvoice``: an invoice of the delivered quantities (Fortnox
        makes a back order of the rest). Not idempotent: never retried blindly. Returns the
        invoice number when the answer gives it."""
        body = await self._json("PUT", f"/3/orders/{_path(number)}/createinvoice",
                                action=f"create the invoice of order {number}", key=number,
                                write=True, idempotent=False)
        invoice = body.get("Invoice") if isinstance(body, Mapping) else None
        if isinstance(invoice, Mapping):
            value = invoice.get("DocumentNumber")
            return None if value is None else str(value)
        return None

    # -- the warehouse module --

    async def warehouse_activated(self) -> bool:
        """``GET /api/warehouse/tenants-v4``: whether the tenant has the warehouse module on."""
        body = await self._json("GET", f"{WAREHOUSE}/tenants-v4",
                                action="read the warehouse module's state")
        return isinstance(body, Mapping) and body.get("activated") is True

    async def purchase_orders(self) -> list[dict[str, Any]]:
        """Purchase orders in state sent of purchase type warehouse (seed 002)."""
        return await self._list(f"{WAREHOUSE}/purchaseorders-v1",
                                {"state": "SENT", "purchaseType": "WAREHOUSE"},
                                action="read purchase orders")

    async def purchase_order(self, po_id: str) -> dict[str, Any] | None:
        body = await self._json("GET", f"{WAREHOUSE}/purchaseorders-v1/{_path(po_id)}",
                                action=f"read purchase order {po_id}", missing_ok=True)
        return body if isinstance(body, dict) else None

    async def complete_purchase_order(self, po_id: str) -> None:
        await self.call("PUT", f"{WAREHOUSE}/purchaseorders-v1/{_path(po_id)}/complete",
                        action=f"complete purchase order {po_id}", key=po_id, write=True,
                        idempotent=False)

    async def incoming_goods_by_note(self, delivery_note: str) -> list[dict[str, Any]]:
        """Incoming goods documents whose delivery note is ``delivery_note``."""
        found = await self._list(f"{WAREHOUSE}/incominggoods-v1",
                                 {"deliveryNote": delivery_note},
                                 action="look up incoming goods")
        return [doc for doc in found if str(doc.get("deliveryNoteId") or "") == delivery_note]

    async def incoming_goods(self, goods_id: str) -> dict[str, Any] | None:
        body = await self._json("GET", f"{WAREHOUSE}/incominggoods-v1/{_path(goods_id)}",
                                action=f"read incoming goods {goods_id}", missing_ok=True)
        return body if isinstance(body, dict) else None

    async def create_incoming_goods(self, document: Mapping[str, Any], *, key: str
                                    ) -> dict[str, Any]:
        """``POST /api/warehouse/incominggoods-v1``: an append write, never retried blindly."""
        body = await self._json("POST", f"{WAREHOUSE}/incominggoods-v1", json=dict(document),
                                action=f"create incoming goods for purchase order {key}",
                                key=key, write=True)
        if not isinstance(body, dict) or body.get("id") is None:
            raise VendorError(f"{VENDOR}: the incoming goods answer has no id")
        return body

    async def release_incoming_goods(self, goods_id: str, *, key: str) -> None:
        await self.call("PUT", f"{WAREHOUSE}/incominggoods-v1/{_path(goods_id)}/release",
                        action=f"release incoming goods {goods_id}", key=key, write=True,
                        idempotent=False)

    async def complete_incoming_goods(self, goods_id: str, day: str, *, key: str) -> None:
        """``PUT .../completed`` with the bookkeeping date as a JSON string."""
        await self.call("PUT", f"{WAREHOUSE}/incominggoods-v1/{_path(goods_id)}/completed",
                        json=day, action=f"complete incoming goods {goods_id}", key=key,
                        write=True, idempotent=False)

    def _custom(self, category: str, doc_type: str, doc_id: str) -> str:
        return (f"{WAREHOUSE}/documentdeliveries/custom/{category}-v1/{_path(doc_type)}/"
                f"{_path(doc_id)}")

    async def custom_document(self, category: str, doc_type: str, doc_id: str
                              ) -> dict[str, Any] | None:
        """A custom inbound or outbound document (``category``), None when it does not exist."""
        body = await self._json("GET", self._custom(category, doc_type, doc_id),
                                action=f"read custom document {doc_type} {doc_id}",
                                missing_ok=True)
        return body if isinstance(body, dict) else None

    async def save_custom_document(self, category: str, doc_type: str, doc_id: str,
                                   document: Mapping[str, Any], *, key: str) -> None:
        """``PUT`` the document under the id chosen by the plugin: safe to repeat until it is
        released."""
        await self.call("PUT", self._custom(category, doc_type, doc_id), json=dict(document),
                        action=f"save custom document {doc_type} {doc_id}", key=key,
                        write=True)

    async def release_custom_document(self, category: str, doc_type: str, doc_id: str, *,
                                      key: str) -> None:
        await self.call("PUT", self._custom(category, doc_type, doc_id) + "/release",
                        action=f"release custom document {doc_type} {doc_id}", key=key,
                        write=True, idempotent=False)

    # -- connection --

    async def ping(self, path: str, *, action: str) -> None:
        """One cheap authorised read."""
        await self.call("GET", path, params={"limit": 1} if path.startswith("/3/") else None,
                        action=action)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _path(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")

"""Ongoing WMS's Goods Owner REST API v1 as the plugin uses it: auth, paging, endpoints, errors.

Returns vendor-shaped JSON (dicts and lists, numbers as :class:`~decimal.Decimal`);
:mod:`erpsync_ongoing_wms.mapping` turns it into canonical records.

- **Base URL** ``https://api.ongoingsystems.se/{warehouse}/api/v1`` (the Postman collection's
  ``OngoingURL`` in https://github.com/OngoingWarehouse/Ongoing-Warehouse-REST-API-Example-Requests,
  v1-Postman/); demo systems live on other hosts, so the URL is a setting.
- **Auth**: HTTP Basic with the API user of the goods owner (the collection's ``auth: basic``);
  such a user belongs to one goods owner (https://docs.ongoingwarehouse.com/manuals/api-access).
  ``goodsOwnerId`` goes in the query of reads and in the body of writes, as the examples do.
- **One call at a time**: Ongoing runs the writes of one goods owner one after another and asks
  integrations to call sequentially, or the last calls time out
  (https://developer.ongoingwarehouse.com/parallel-requests): ``RateLimit(concurrency=1)``.
  The vendor publishes no rate limit; ``requests_per_minute`` is a polite pace.
- **Paging** (https://developer.ongoingwarehouse.com/paginating-responses): list reads take
  ``...IdFrom`` (greater than or equal, per the OpenAPI descriptions, e.g. ``orderIdFrom``:
  "Only return orders whose order ID is greater than or equal this") and ``max...ToGet``;
  the next page starts at the largest id seen plus one, until a page comes back empty.
- **JSON both ways, exact numbers**: request bodies are written by :func:`encode_json`, which
  writes a :class:`~decimal.Decimal` as the JSON number it is, digit for digit (no float on
  the way; ``PostOrderLine.numberOfItems`` and its kin are numbers in the OpenAPI spec).
  Answers are read with ``json.loads(..., parse_float=Decimal)``; a body that is not JSON is
  handed to :func:`erpsync.http.parse_json`, which raises the ``ResponseInvalid`` naming the
  call. Times in queries are UTC with an offset (``2019-04-09T08:00:00.000+00:00``, as the
  collection's inventory adjustment example sends them).

Vendor answers map onto :mod:`erpsync.errors` kinds (the public sources document no error
bodies or codes; these are this plugin's choices, kept in :func:`_read`):

- 401: :class:`~erpsync.errors.AuthenticationLost`: check the API user's name and password;
- 403: :class:`~erpsync.errors.AuthenticationLost`: the API user may not act for this goods
  owner (an API user belongs to one goods owner), which no retry and no other record fixes;
- 400, 404, 409, 422 on a write: :class:`~erpsync.errors.RecordRejected` with the vendor's
  message and the business key;
- 5xx left over by the HTTP layer: :class:`~erpsync.errors.TransientError`;
- anything else: :class:`~erpsync.errors.VendorError` naming the call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from erpsync.errors import (
    AuthenticationLost,
    RecordRejected,
    ResponseInvalid,
    TransientError,
    VendorError,
)
from erpsync.http import HttpClient, RateLimit, parse_json

from .mapping import Json, order_id, purchase_order_id

__all__ = ["CHECK_CREDENTIALS", "VENDOR", "OngoingClient", "encode_json"]

VENDOR = "ongoing-wms"
CHECK_CREDENTIALS = (
    "check the API user's username and password in the Ongoing WMS integration settings "
    "(Administration => API for goods owners) and set them in the config"
)
GRANT_ACCESS = (
    "give the API user access to this goods owner in Ongoing WMS (Administration => API for "
    "goods owners), or correct goods_owner_id in the config"
)
_REJECTED_ON_WRITE = frozenset({400, 404, 409, 422})
_MESSAGE_CHARS = 500
_MILLISECOND = timedelta(milliseconds=1)


class OngoingClient:
    """One connection to Ongoing WMS for one goods owner (one per goods owner and cycle)."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        goods_owner_id: int,
        page_size: int = 500,
        requests_per_minute: int = 300,
    ) -> None:
        self.goods_owner_id = goods_owner_id
        self._page_size = page_size
        self._http = HttpClient(
            base_url,
            vendor=VENDOR,
            auth=httpx.BasicAuth(username, password),
            headers={"Accept": "application/json"},
            rate_limit=RateLimit(requests=requests_per_minute, per=60.0, concurrency=1),
        )

    async def aclose(self) -> None:
        """Close the connection."""
        await self._http.aclose()

    # --- reads ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """One cheap read that needs both the credentials and the goods owner."""
        response = await self._http.get("/articles", params=self._query(maxArticlesToGet=1))
        _read(response, "read articles")

    async def find_order(self, order_number: str) -> Json | None:
        """The order with ``order_number``, or None (``GET /orders?orderNumber=``)."""
        response = await self._http.get("/orders", params=self._query(orderNumber=order_number))
        answer = _read(response, "look up the order", key=order_number)
        return _one(answer, order_number, ("orderInfo", "orderNumber"))

    async def get_order(self, wms_order_id: int) -> Json:
        """The order with Ongoing's ``orderId`` (``GET /orders/{orderId}``)."""
        response = await self._http.get(f"/orders/{wms_order_id}")
        return _object(_read(response, f"read order {wms_order_id}"), response)

    async def find_purchase_order(self, number: str) -> Json | None:
        """The purchase order with ``number``, or None."""
        response = await self._http.get(
            "/purchaseOrders", params=self._query(purchaseOrderNumber=number))
        answer = _read(response, "look up the purchase order", key=number)
        return _one(answer, number, ("purchaseOrderInfo", "purchaseOrderNumber"))

    async def get_purchase_order(self, wms_purchase_order_id: int) -> Json:
        """The purchase order with Ongoing's ``purchaseOrderId``."""
        response = await self._http.get(f"/purchaseOrders/{wms_purchase_order_id}")
        return _object(_read(response, f"read purchase order {wms_purchase_order_id}"),
                       response)

    def orders_to_report(self, status_from: int, status_to: int) -> AsyncIterator[Json]:
        """Orders with picked but unreported lines, status in ``[status_from, status_to]``.

        ``onlyOrdersWithOrderLinesToReport`` returns the orders "where there are order lines
        with ReportedNumberOfItems < PickedNumberOfItems" (OpenAPI, ``GET /orders``;
        https://developer.ongoingwarehouse.com/reported-number-of-items).
        """
        params = self._query(onlyOrdersWithOrderLinesToReport=True,
                             orderStatusFrom=status_from, orderStatusTo=status_to)
        return self._paged("/orders", params, "orderIdFrom", "maxOrdersToGet", order_id,
                           "list orders to report")

    def purchase_orders_to_report(self) -> AsyncIterator[Json]:
        """Purchase orders with received but unreported lines
        (``onlyPurchaseOrdersWithOrderLinesToReport``)."""
        params = self._query(onlyPurchaseOrdersWithOrderLinesToReport=True)
        return self._paged("/purchaseOrders", params, "purchaseOrderIdFrom",
                           "maxPurchaseOrdersToGet", purchase_order_id,
                           "list purchase orders to report")

    def purchase_orders_changed(self, status_from: int, status_to: int,
                                since: datetime) -> AsyncIterator[Json]:
        """Purchase orders in ``[status_from, status_to]`` whose status changed since ``since``
        (``purchaseOrderStatusChangedTimeFrom``)."""
        params = self._query(purchaseOrderStatusFrom=status_from,
                             purchaseOrderStatusTo=status_to,
                             purchaseOrderStatusChangedTimeFrom=_utc(since))
        return self._paged("/purchaseOrders", params, "purchaseOrderIdFrom",
                           "maxPurchaseOrdersToGet", purchase_order_id,
                           "list closed purchase orders")

    def articles(self) -> AsyncIterator[Json]:
        """Every article of the goods owner, with its ``inventoryInfo``
        (``GET /articles`` paged by ``articleSystemIdFrom`` and ``maxArticlesToGet``)."""
        return self._paged("/articles", self._query(), "articleSystemIdFrom", "maxArticlesToGet",
                           _article_system_id, "list articles")

    async def inventory_adjustments(self, since: datetime, until: datetime) -> list[Any]:
        """The unreported inventory adjustments made between ``since`` and ``until``.

        ``from`` returns adjustments "made after this time" and ``toTime`` those "made before
        this time" (OpenAPI, ``GET /inventoryAdjustments``; ``to`` is obsolete): both are sent a
        millisecond wide of the window, so nothing at its edges is lost.
        ``isReported=false`` leaves out those already marked reported. The answer is not paged.
        """
        params = self._query(**{
            "from": _utc(since - _MILLISECOND),
            "toTime": _utc(until + _MILLISECOND),
            "isReported": False,
        })
        response = await self._http.get("/inventoryAdjustments", params=params)
        body = _read(response, "list inventory adjustments")
        if not isinstance(body, list):
            raise _invalid(response, "expected a JSON list of articles")
        return body

    # --- writes --------------------------------------------------------------------------

    async def put_article(self, body: Json, *, key: str) -> Json:
        """``PUT /articles``: create or update the article by its number."""
        return await self._put("/articles", body, "write the article", key)

    async def put_order(self, body: Json, *, key: str) -> Json:
        """``PUT /orders``: create or update the order by its number."""
        return await self._put("/orders", body, "write the order", key)

    async def put_purchase_order(self, body: Json, *, key: str) -> Json:
        """``PUT /purchaseOrders``: create or update the purchase order by its number."""
        return await self._put("/purchaseOrders", body, "write the purchase order", key)

    async def cancel_order(self, wms_order_id: int, *, key: str) -> None:
        """``DELETE /orders/{orderId}``: cancel the order (possible "as long as the warehouse
        has not begun picking it": https://developer.ongoingwarehouse.com/canceling-orders-and-inorders)."""
        response = await self._http.delete(f"/orders/{wms_order_id}")
        _read(response, "cancel the order", key=key, write=True, body=False)

    async def set_order_line_reported(self, wms_order_id: int, line_id: int,
                                      quantity: Decimal, *, key: str) -> None:
        """``PATCH /orders/{orderId}/lines/{orderLineId}/reportedNumberOfItems``.

        An absolute value, so safe to repeat (``idempotent=True``). The per-line call, not
        ``setReportedNumberOfItemsToPickedNumberOfItems``: that one would also mark what was
        picked after the delivery was read, which the ERP has not heard of.
        """
        response = await self._http.patch(
            f"/orders/{wms_order_id}/lines/{line_id}/reportedNumberOfItems",
            content=encode_json({"reportedNumberOfItems": quantity}),
            headers={"Content-Type": "application/json"}, idempotent=True)
        _read(response, "mark the order line reported", key=key, write=True, body=False)

    async def set_purchase_order_line_reported(self, wms_purchase_order_id: int, line_id: int,
                                               quantity: Decimal, *, key: str) -> None:
        """``PATCH /purchaseOrders/{purchaseOrderId}/lines/{purchaseOrderLineId}/
        reportedNumberOfItems`` (absolute, safe to repeat)."""
        response = await self._http.patch(
            f"/purchaseOrders/{wms_purchase_order_id}/lines/{line_id}/reportedNumberOfItems",
            content=encode_json({"reportedNumberOfItems": quantity}),
            headers={"Content-Type": "application/json"}, idempotent=True)
        _read(response, "mark the purchase order line reported", key=key, write=True,
              body=False)

    async def set_adjustment_reported(self, inventory_id: int, article_system_id: int,
                                      *, key: str) -> None:
        """``PATCH /inventoryAdjustments/{inventoryId}/articles/{articleSystemId}/setReported``:
        "Sets the 'reported' flag on an inventory to true for the specified article" (OpenAPI);
        setting a flag is safe to repeat."""
        response = await self._http.patch(
            f"/inventoryAdjustments/{inventory_id}/articles/{article_system_id}/setReported",
            idempotent=True)
        _read(response, "mark the inventory adjustment reported", key=key, write=True,
              body=False)

    # --- helpers -------------------------------------------------------------------------

    def _query(self, **params: Any) -> dict[str, Any]:
        return {"goodsOwnerId": self.goods_owner_id,
                **{k: v for k, v in params.items() if v is not None}}

    async def _put(self, path: str, body: Json, action: str, key: str) -> Json:
        response = await self._http.put(path, content=encode_json(body),
                                        headers={"Content-Type": "application/json"})
        return _object(_read(response, action, key=key, write=True), response)

    async def _paged(
        self, path: str, params: Mapping[str, Any], id_from: str, max_to_get: str,
        id_of: Callable[[Json], int], action: str,
    ) -> AsyncIterator[Json]:
        start = 0
        while True:
            query = {**params, id_from: start, max_to_get: self._page_size}
            response = await self._http.get(path, params=query)
            page = _read(response, action)
            if not isinstance(page, list):
                raise _invalid(response, "expected a JSON list")
            if not page:
                return
            largest = start - 1
            for item in page:
                record = _object(item, response)
                record_id = id_of(record)
                if record_id < start:
                    raise _invalid(response, f"{id_from}={start} returned id {record_id}")
                largest = max(largest, record_id)
                yield record
            start = largest + 1


def encode_json(value: Any) -> bytes:
    """``value`` as UTF-8 JSON, each :class:`~decimal.Decimal` written as its exact number.

    The standard encoder knows no Decimal and would need a float on the way (``0.1`` is then
    not 0.1); this one writes ``format(value, "f")``: no exponent, no digit lost.
    """
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(
            f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items()
        ) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON (floats are refused: use "
                    "Decimal)")


def _utc(moment: datetime) -> str:
    # Milliseconds, the precision of the collection's example (truncated: callers widen).
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError):
        # Not JSON: erpsync's parser raises ResponseInvalid naming the call and the body.
        return parse_json(response)


def _read(response: httpx.Response, action: str, *, key: str | None = None,
          write: bool = False, body: bool = True) -> Any:
    """The JSON body of a 2xx answer (``None`` with ``body=False``); any other status raised
    as its error kind (see the module docstring)."""
    status = response.status_code
    if 200 <= status < 300:
        return _json(response) if body else None
    message = _vendor_message(response)
    subject = f" {key}" if key else ""
    if status == 401:
        raise AuthenticationLost(
            f"{VENDOR} refused the API user's credentials ({action}{subject}): {message}",
            action=CHECK_CREDENTIALS, vendor_message=message, status=status)
    if status == 403:
        raise AuthenticationLost(
            f"{VENDOR} does not let the API user {action}{subject}: {message}",
            action=GRANT_ACCESS, vendor_message=message, status=status)
    if write and status in _REJECTED_ON_WRITE:
        raise RecordRejected(
            f"{VENDOR} rejected{subject or ' the record'} ({action}): HTTP {status} {message}",
            key=key, vendor_message=message, status=status)
    if status >= 500:
        raise TransientError(
            f"{VENDOR} failed to {action}{subject}: HTTP {status} {message}",
            maybe_sent=response.request.method != "GET", vendor_message=message, status=status)
    raise VendorError(f"{VENDOR} refused to {action}{subject}: HTTP {status} {message}",
                      vendor_message=message, status=status)


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's words: a JSON ``message`` (and ASP.NET-style ``errors``/``modelState``
    details) when there is one, else the start of the body, else the reason phrase."""
    try:
        answer = json.loads(response.content)
    except (ValueError, RecursionError):
        answer = None
    parts: list[str] = []
    if isinstance(answer, dict):
        for field in ("message", "Message", "title", "detail", "error"):
            value = answer.get(field)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
        for field in ("errors", "modelState", "ModelState"):
            details = answer.get(field)
            if isinstance(details, dict):
                for name, problems in details.items():
                    texts = problems if isinstance(problems, list) else [problems]
                    parts.append(f"{name}: " + "; ".join(str(text) for text in texts))
    text = " ".join(parts) or response.text.strip() or response.reason_phrase
    return text[:_MESSAGE_CHARS]


def _one(answer: Any, number: str, path: tuple[str, str]) -> Json | None:
    """The record of ``answer`` (a list) whose ``path`` is ``number``, or None."""
    if not isinstance(answer, list):
        raise ResponseInvalid(f"{VENDOR}: looking up {number}: expected a JSON list",
                              maybe_sent=False)
    for item in answer:
        if not isinstance(item, dict):
            raise ResponseInvalid(f"{VENDOR}: looking up {number}: expected JSON objects",
                                  maybe_sent=False)
        info = item.get(path[0])
        if isinstance(info, dict) and info.get(path[1]) == number:
            return item
    return None


def _object(value: Any, response: httpx.Response) -> Json:
    if not isinstance(value, dict):
        raise _invalid(response, "expected a JSON object")
    return value


def _article_system_id(article: Json) -> int:
    value = article.get("articleSystemId")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResponseInvalid(f"{VENDOR}: an article has no articleSystemId", maybe_sent=False)
    return value


def _invalid(response: httpx.Response, problem: str) -> ResponseInvalid:
    request = response.request
    return ResponseInvalid(f"{VENDOR} {request.method} {request.url.path}: {problem}",
                           maybe_sent=request.method != "GET", status=response.status_code)

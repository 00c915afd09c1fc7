"""A faithful local simulator of the Ongoing WMS goods owner REST API v1, the part erpsync uses.

:class:`OngoingSandbox` is a starlette ASGI app (:attr:`OngoingSandbox.app`) serving the API under
``/{warehouse}/api/v1/`` exactly as ``https://api.ongoingsystems.se/{warehouse}/api/v1/`` does, plus
a small control surface in plain Python that plays the warehouse's part (pick, ship, receive,
adjust stock) and reads back what the plugin wrote::

    sandbox = OngoingSandbox(warehouse="demowh")
    with erpsync.http.mount(sandbox.base_url, sandbox.app):   # base_url ends in /demowh/api/v1
        ...                                                    # the plugin talks to the simulator
    sandbox.ship("SO-1", {"L1": Decimal(1)})                  # the warehouse ships one item
    sandbox.order("SO-1")["orderLines"][0]["pickedNumberOfItems"]

Sources (public; each rule below cites the one it comes from):

- [EX] the vendor's example requests and responses, folder ``v1/`` and the Postman collection
  ``v1-Postman/``: https://github.com/OngoingWarehouse/Ongoing-Warehouse-REST-API-Example-Requests
- [API] the vendor's OpenAPI specification (https://developer.ongoingwarehouse.com/REST/v1/openapi.json)
  as generated into https://github.com/thoaud/ongoing-warehouse-php: ``Model/*.php`` give every
  field name and type, which fields are required and nullable; ``Api/*.php`` give every path,
  query parameter and response code.
- [PAGE] https://developer.ongoingwarehouse.com/paginating-responses
- [PAR] https://developer.ongoingwarehouse.com/parallel-requests
- [REP] https://developer.ongoingwarehouse.com/reported-number-of-items
- [STOCK] https://developer.ongoingwarehouse.com/Inventory ("Stock balances and inventory")
- [STAT] https://docs.ongoingwarehouse.com/manuals/statuses

Served (paths relative to the base URL; every call needs HTTP Basic auth):

- ``PUT /articles`` (upsert by articleNumber); ``GET /articles`` with ``goodsOwnerId``,
  ``articleNumber``, ``articleNumbers*``, ``articleSystemIdFrom``, ``maxArticlesToGet``,
  ``productCode``, ``productCodes*``, ``onlyArticlesInStock``, ``stockInfoChangedFrom``,
  ``articleDataLastUpdatedFrom``; ``GET /articles/{articleSystemId}``;
  ``GET /articles/{articleSystemId}/structureDefinition``;
  ``GET /articles/structureDefinitions`` with ``goodsOwnerId``, ``articleKind``,
  ``articleNumbers*``.
- ``PUT /orders`` (upsert by orderNumber); ``GET /orders`` with ``goodsOwnerId``,
  ``orderNumber``, ``orderNumbers*``, ``orderIdFrom``, ``maxOrdersToGet``, ``orderStatusFrom``,
  ``orderStatusTo``, ``onlyOrdersWithOrderLinesToReport``, ``shippedTimeFrom``,
  ``shippedTimeTo``, ``orderStatusChangedTimeFrom``, ``orderCreatedTimeFrom``,
  ``orderCreatedTimeTo``, ``orderUpdatedTimeFrom``, ``lastPickingTimeFrom``,
  ``articleNumbers*``, ``referenceNumbers*``; ``GET /orders/{orderId}``;
  ``GET /orders/statuses``; cancel with ``DELETE /orders/{orderId}`` or
  ``DELETE /orders?goodsOwnerId=&orderNumber=``;
  ``PATCH /orders/{orderId}/lines/{orderLineId}/reportedNumberOfItems``;
  ``PATCH /orders/{orderId}/setReportedNumberOfItemsToPickedNumberOfItems``.
- ``PUT /purchaseOrders`` (upsert by purchaseOrderNumber); ``GET /purchaseOrders`` with
  ``goodsOwnerId``, ``purchaseOrderNumber``, ``purchaseOrderNumbers*``, ``purchaseOrderIdFrom``,
  ``maxPurchaseOrdersToGet``, ``purchaseOrderStatusFrom``, ``purchaseOrderStatusTo``,
  ``onlyPurchaseOrdersWithOrderLinesToReport``, ``lastReceiveTimeFrom``, ``lastReceiveTimeTo``,
  ``purchaseOrderStatusChangedTimeFrom``, ``articleNumbers*``;
  ``GET /purchaseOrders/{purchaseOrderId}``; ``GET /purchaseOrders/statuses``; cancel with
  ``DELETE /purchaseOrders/{purchaseOrderId}`` or
  ``DELETE /purchaseOrders?goodsOwnerId=&purchaseOrderNumber=``;
  ``PATCH /purchaseOrders/{purchaseOrderId}/lines/{purchaseOrderLineId}/reportedNumberOfItems``;
  ``PATCH /purchaseOrders/{purchaseOrderId}/setReportedNumberOfItemsToReceivedNumberOfItems``.
- ``GET /inventoryAdjustments`` with ``goodsOwnerId``, ``from``, ``toTime``, ``isReported``;
  ``GET /inventoryAdjustments/{inventoryId}``;
  ``PATCH /inventoryAdjustments/{inventoryId}/articles/{articleSystemId}/setReported``.

(``*``: an array, sent as repeated keys: ``?articleNumbers=A&articleNumbers=B``.) Documented
query parameters the simulator does not implement are answered 501, never silently ignored.

Choices where the sources are silent
-------------------------------------

The public material documents paths, fields and the happy path. Everything below is a choice,
made strict (a simulator kinder than the real API hides bugs); the code says ``(choice Cn)``
where it applies one. The tunable numbers are the constants right after this docstring.

C1  Error bodies are JSON ``{"message": "..."}`` (the success bodies carry ``message`` too [EX]).
    Missing, malformed or wrong Basic credentials: 401 with ``WWW-Authenticate: Basic``. A
    ``goodsOwnerId`` (query or body) or a resource of a goods owner the API user does not belong
    to: 403 (the strict reading: refuse, rather than answer 404 or an empty list).
C2  Validation errors are 400 naming every offending field: a required field missing or null
    (the spec's required fields [API]: e.g. ``deliveryDate`` and ``consignee`` of an order), a
    wrong type, a field that is not in the request model (a misspelt field is refused, not
    ignored: note the API's own spelling ``purcaseCurrencyCode``), a duplicate JSON key, NaN.
    Numbers may be JSON numbers or numeric strings ("1.5", "10" as in [EX]); booleans must be
    JSON booleans; enum values must match exactly. A body needs ``Content-Type:
    application/json`` (else 415); a call without a request model must have an empty body.
C3  Beyond the spec: order and purchase order lines need ``numberOfItems`` > 0, their
    ``rowNumber`` is unique within the order, an order's ``externalId`` and a purchase order's
    ``externalOrderLineId`` are unique within it, every ``articleNumber`` (lines and structure
    rows) must be an existing article of the goods owner, structure rows need ``numberOfItems``
    > 0 and ``structureDefinition`` needs ``articleKind``.
C4  A write to an order whose status is not editable is refused with 400 and the status in the
    message; so is cancelling it. Editable: order status 200 Open only, purchase order status
    100 Notified only ([API] "you are not allowed to update an order after the warehouse has
    started working on it"; [STAT] 300 Released is when the operators may begin).
C5  Upserts merge at the top level: a field absent or null keeps its stored value, a field
    given replaces it whole (nested objects included). ``orderLines`` / ``purchaseOrderLines``,
    when given, replace the set of lines; a line keeps its id (and quantities) when its
    ``rowNumber`` stays. ``PUT /orders`` answers 201 when it created the order and 200 when it
    updated it (both codes are in the spec [API]); the other upserts answer 200.
C6  Unknown query parameters: 400. A scalar parameter given twice: 400. Parameter names and
    paths are case-sensitive; a trailing slash is a different (unknown) path: 404. Booleans are
    ``true``/``false`` (any case). ``to`` of ``GET /inventoryAdjustments`` is "obsolete, do not
    use" [API]: 400.
C7  Times in query parameters must carry a UTC offset (``Z`` or ``+02:00``); a time without one
    is refused with 400 (a ``+`` sent unencoded arrives as a space and is refused too). Times
    in bodies: a date (``2019-10-10`` as in [EX]) or a date-time with offset. Times returned are
    UTC with millisecond precision and ``Z``, trailing zeros of the fraction trimmed
    (``2019-10-10T09:20:00.57Z`` as in [EX]).
C8  Time filters documented as "after this time" are exclusive (``>``), "before this time"
    exclusive (``<``); ``...IdFrom`` is inclusive (``>=``) as documented [API]. A page of a list
    holds the objects with the smallest ids at or above ``...IdFrom``, returned with the
    greatest id first: the vendor only promises you can "compute the greatest object ID which
    was returned" [PAGE], so a client must not take the last element. ``max...ToGet`` must be
    >= 1. ``orderUpdatedTimeFrom`` older than 2 days and ``stockInfoChangedFrom`` older than 24
    hours are refused with 400 (the limits are documented [API]; the refusal is the choice).
C9  ``reportedNumberOfItems`` is null until first set (as in [EX]); it may not be negative or
    exceed ``pickedNumberOfItems`` (``receivedNumberOfItems`` for purchase orders): 400.
    ``isReported`` of ``GET /inventoryAdjustments`` filters by equality: ``false`` gives only
    the adjustments not marked reported, ``true`` only those marked, absent gives all (the
    spec's wording is ambiguous). Marking reported again answers 200 again.
C10 Status texts are localised, numbers are stable [STAT]: an order's ``orderStatus.text`` is in
    the sandbox's ``language`` (Swedish by default, as ``"Hämtad"`` in [EX]), while
    ``/orders/statuses`` and ``/purchaseOrders/statuses`` answer in English (as in [EX]). The
    Swedish purchase order texts other than 400 "Avvikelse" [EX] are invented. Only numbers
    are safe to key on.
C11 Status moves by the warehouse (control surface): orders are created at 200 Open (as
    manually created orders [STAT]); ``start_work`` sets 300 Released; ``pick`` sets 400 Picked;
    ``ship`` picks and ships (one call) and sets 450 Sent or 500 Collected; an order can be
    shipped again later with what was left (a second delivery [REP]). Purchase orders are
    created at 100 Notified (or ``advanced.purchaseOrderStatusCreated``); ``start_work`` sets 200
    Arrival space; a partial ``receive`` sets 300 Inbound; ``complete=True`` sets 500 Received
    when every line got at least what was advised, else 400 Deflection.
C12 Stock figures [STOCK]: ``numberOfItems`` is the physical stock (never below 0: shipping more
    than is in stock empties it). Picked goods stay physical until shipped and count as
    ``pickedToBeCollectedNumberOfItems``; ``numberOfBookedItems`` is what open orders (status
    below 450, not cancelled) still need unpicked; ``sellableNumberOfItems`` = numberOfItems -
    numberOfBookedItems - pickedToBeCollectedNumberOfItems (may be negative);
    ``toReceiveNumberOfItems`` is what open purchase orders still expect. Receiving adds stock,
    an inventory adjustment moves it, ``set_stock`` sets it without an adjustment.
C13 Writes of one goods owner are processed one at a time, as the vendor says it does [PAR]
    (concurrent writes queue; the optional ``latency`` is spent inside the queue), and the
    sandbox records the peak number of calls in flight per goods owner. No rate limit is
    documented, so none is enforced.
C14 Ids are stable integers from separate counters that never coincide (articles from 18067,
    orders 50161, order lines 48838, purchase orders 246, purchase order lines 555,
    inventories 107, as in [EX]). Lines of a page are not sorted by anything but id.
C15 Decimals are written as .NET writes them: the value as stored, with ``.0`` added to a whole
    number (``2.0``, ``1.5``, ``10.0`` as in [EX]). Parse them as Decimal, not float.
C16 ``unitCode`` is returned in lower case (sent ``"St"``, read ``"st"`` in [EX]). Absent
    strings are null, except an article reference's ``articleName``/``productCode``, which are
    ``""`` (as in [EX]). ``articleKind`` is null for an article without a structure definition.
C17 The warehouse of every stock movement is ``{"id": 1, "code": "W1", "name": "Warehouse 1"}``;
    adjustments are made at location ``A1``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import secrets
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Message, Receive, Scope, Send

from erpsync.http import ASGIApp
from erpsync.models import Flow

__all__ = [
    "EDITABLE_ORDER_STATUSES",
    "EDITABLE_PURCHASE_ORDER_STATUSES",
    "ORDER_STATUSES",
    "PURCHASE_ORDER_STATUSES",
    "LoggedRequest",
    "OngoingSandbox",
]

Obj = dict[str, Any]

# --- the tunables of the choices above ------------------------------------------------------

ORDER_STATUSES: dict[int, tuple[str, str]] = {
    # number: (English, Swedish), https://docs.ongoingwarehouse.com/manuals/statuses
    150: ("Error", "Fel"),
    200: ("Open", "Öppen"),
    300: ("Released", "Frisläppt"),
    320: ("Allocated", "Allokerad"),
    400: ("Picked", "Plockad"),
    450: ("Sent", "Skickad"),
    500: ("Collected", "Hämtad"),
    800: ("Returned", "Returnerad"),
    1000: ("Cancelled", "Makulerad"),
}
PURCHASE_ORDER_STATUSES: dict[int, tuple[str, str]] = {
    # English: v1/Purchase order/Get all possible purchase order statuses/Response.json [EX];
    # Swedish: 400 from the GET purchase order example [EX], the others invented (choice C10).
    100: ("Notified", "Aviserad"),
    200: ("Arrival space", "Ankomstplats"),
    300: ("Inbound", "Inleverans"),
    400: ("Deflection", "Avvikelse"),
    500: ("Received", "Mottagen"),
    900: ("Cancelled", "Makulerad"),
}
EDITABLE_ORDER_STATUSES = frozenset({200})  # choice C4
EDITABLE_PURCHASE_ORDER_STATUSES = frozenset({100})  # choice C4
ORDER_CANCELLED, ORDER_OPEN, ORDER_RELEASED, ORDER_PICKED, ORDER_SENT = 1000, 200, 300, 400, 450
PO_NOTIFIED, PO_ARRIVAL, PO_INBOUND, PO_DEFLECTION, PO_RECEIVED, PO_CANCELLED = (
    100, 200, 300, 400, 500, 900)
WAREHOUSE: Obj = {"id": 1, "code": "W1", "name": "Warehouse 1"}  # choice C17
LOCATION = "A1"  # choice C17
ORDER_UPDATED_MAX_AGE = timedelta(days=2)  # ordersGetAll orderUpdatedTimeFrom [API], choice C8
STOCK_CHANGED_MAX_AGE = timedelta(hours=24)  # articlesGetAll stockInfoChangedFrom [API], C8
DENIED = "Authorization has been denied for this request."  # choice C1
INT32 = (-(2**31), 2**31 - 1)


# --- JSON in and out ---------------------------------------------------------------------------


class _ApiError(Exception):
    """An answer other than success: status, message, extra headers (choice C1)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _loads(raw: bytes) -> Any:
    """Parse a request body: numbers as int/Decimal, duplicate keys and NaN refused (C2)."""

    def pairs(items: list[tuple[str, Any]]) -> Obj:
        out: Obj = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"the property {key!r} appears twice")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = raw.decode("utf-8-sig")
        return json.loads(text, parse_float=Decimal, object_pairs_hook=pairs,
                          parse_constant=constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise _ApiError(400, f"The request body is not valid JSON: {error}") from None


def _decimal_text(value: Decimal) -> str:
    # .NET writes a decimal with its scale and adds ".0" to a whole number: 2.0, 1.5 [EX], C15.
    if value.is_zero():
        value = abs(value)
    text = format(value, "f")
    return text if "." in text else text + ".0"


def _time_text(value: datetime) -> str:
    # UTC, milliseconds, trailing zeros trimmed, "Z": "2019-10-10T09:20:00.57Z" [EX], C7.
    value = value.astimezone(UTC)
    fraction = f".{value.microsecond // 1000:03d}".rstrip("0").rstrip(".")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(_decimal_text(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, datetime):
        out.append(json.dumps(_time_text(value)))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:  # pragma: no cover - a bug in the simulator, not in the client
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _dumps(value: Any) -> bytes:
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode("utf-8")


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_dumps(body), status_code=status, headers=dict(headers or {}),
                    media_type="application/json; charset=utf-8")


def _error_response(error: _ApiError) -> Response:
    return _json_response(error.status, {"message": error.message}, error.headers)


# --- request models: the spec's fields, types and required fields [API] ------------------------

_Kind = Literal["string", "int", "decimal", "bool", "datetime", "enum", "object", "array"]


@dataclass(frozen=True)
class _Field:
    kind: _Kind
    required: bool = False
    min_length: int = 0
    values: tuple[str, ...] = ()
    fields: Mapping[str, _Field] | None = None
    item: _Field | None = None
    min_items: int = 0


def S(*, required: bool = False, min_length: int = 0) -> _Field:
    return _Field("string", required=required, min_length=min_length)


def I(*, required: bool = False) -> _Field:  # noqa: E743
    return _Field("int", required=required)


def D(*, required: bool = False) -> _Field:
    return _Field("decimal", required=required)


def B() -> _Field:
    return _Field("bool")


def T(*, required: bool = False) -> _Field:
    return _Field("datetime", required=required)


def E(*values: str) -> _Field:
    return _Field("enum", values=values)


def O(fields: Mapping[str, _Field], *, required: bool = False) -> _Field:  # noqa: E743
    return _Field("object", required=required, fields=fields)


def A(item: _Field, *, min_items: int = 0) -> _Field:
    return _Field("array", item=item, min_items=min_items)


KEY = S(required=True, min_length=1)
CODE_NAME = O({"code": S(), "name": S()})  # GetArticleItemInfoStatus
NOTIFY = O({"toBeNotified": B(), "value": S()})  # PostOrderModelEmailNotification
ADDRESS_BLOCK = O({  # PostArticleSupplierInfoAdvancedSupplierAddress and its twins
    "name": S(), "address": S(), "address2": S(), "address3": S(), "postCode": S(),
    "city": S(), "telePhone": S(), "remark": S(), "email": S(), "mobilePhone": S(),
    "countryStateCode": S(), "countryCode": S(), "deliveryInstruction": S(), "isVisible": B(),
    "notifyBySMS": B(), "notifyByEmail": B(), "notifyByTelephone": B(),
})
TEXT_LINE = O({"rowNumber": S(), "comment": S(), "numberOfItems": D()})

# Model/PostArticleModel.php [API]; example: "PUT article - with many additional fields.js" [EX]
ARTICLE_MODEL = O({
    "articleGroup": CODE_NAME, "articleCategory": CODE_NAME, "articleColor": CODE_NAME,
    "articleSize": CODE_NAME,
    "goodsOwnerId": I(required=True), "articleNumber": KEY,
    "articleName": S(), "productCode": S(), "unitCode": S(), "description": S(),
    "isStockArticle": B(), "isActive": B(),
    "supplierInfo": O({
        "supplierArticleNumber": S(), "supplierNumber": S(), "supplierName": S(),
        "advanced": O({"supplierAddress": ADDRESS_BLOCK,
                       "manufacturersIdentificationCode": S()}),
    }),
    "barCodeInfo": O({
        "barCode": S(), "barCodePackage": S(), "barCodePallet": S(),
        "alternativeBarCodes": A(O({"barCode": S(), "quantityPerBarCode": D(),
                                    "barCodeType": CODE_NAME})),
    }),
    "quantityPerPackage": I(), "quantityPerPallet": I(),
    "weight": D(), "length": D(), "width": D(), "height": D(), "volume": D(),
    "purchasePrice": D(), "stockValuationPrice": D(), "customerPrice": D(),
    "purcaseCurrencyCode": S(),  # sic: the API's own spelling
    "countryOfOriginCode": S(), "statisticsNumber": S(),
    "articleNameTranslations": A(O({"languageCode": S(), "articleName": S()})),
    "stockLimit": I(), "minimumReorderQuantity": D(), "netWeight": D(), "linkToPicture": S(),
    # Model/PostArticleModelStructureDefinition.php, PostArticleStructureKind.php [API]
    "structureDefinition": O({
        "articleKind": E("Structure", "Production"),
        "rows": A(O({"articleNumber": KEY, "numberOfItems": D()}), min_items=1),
    }),
    "quantityPerLayerOnPallet": I(), "subQuantityPerItem": D(),
    "minDaysToExpiryDateAllowedOnDelivery": I(),
    "storageProperties": O({"isObsolete": B(), "isSerialNumberArticle": B(),
                            "isBatchArticle": B(), "isExpiryDateArticle": B()}),
    "freeValues": O({
        "freeDecimal1": D(), "freeDecimal2": D(), "freeDecimal3": D(),
        "freeBoolean1": B(), "freeBoolean2": B(), "freeBoolean3": B(),
        **{f"freeText{n}": S() for n in range(1, 9)}, "freeDateTime1": T(),
    }),
    "storageClass": O({"name": KEY}),
    "customsDescription": S(),
    "taricNumbersInfo": O({"taricNumbers": A(O({"countryCode": KEY, "taricNumber": KEY}))}),
    "articleInboundHandlingComment": S(), "articlePickingHandlingComment": S(),
    "articleReturnHandlingComment": S(),
    "alternativeSuppliersInfo": O({"alternativeSuppliers": A(O({
        "supplierArticleNumber": S(), "supplierNumber": S(), "supplierName": S(),
        "leadTime": I(), "advanced": O({"manufacturersIdentificationCode": S()}),
    }))}),
    "articleClassesInfo": O({"classes": A(O({"code": KEY, "name": KEY, "comment": S()}))}),
    "additionalStatisticsNumber": S(), "customsExportConditions": S(),
    "advanced": O({
        "allowChangingProductionAndStructureArticlesToStockOrNonStockArticles": B()}),
    "articlePackingHandlingComment": S(),
})

# Model/PostOrderModel.php and its nested models [API]; examples "PUT order - ..." [EX]
ORDER_MODEL = O({
    "goodsOwnerId": I(required=True), "orderNumber": KEY, "deliveryDate": T(required=True),
    "referenceNumber": S(), "goodsOwnerOrderId": S(), "salesCode": S(), "orderRemark": S(),
    "deliveryInstruction": S(), "servicePointCode": S(),
    "freeText1": S(), "freeText2": S(), "freeText3": S(), "orderFreeDateTime1": T(),
    "orderType": CODE_NAME, "wayOfDelivery": CODE_NAME,
    "consignee": O({
        "customerNumber": S(), "name": S(), "address1": S(), "address2": S(), "address3": S(),
        "postCode": S(), "city": S(), "countryCode": S(), "countryStateCode": S(),
        "remark": S(), "doorCode": S(),
        "advanced": O({"telephoneNotification": NOTIFY, "emailNotification": NOTIFY,
                       "smsNotification": NOTIFY, "externalCustomerCode": S()}),
        "invoiceAddress": O({
            "name": S(), "address1": S(), "address2": S(), "address3": S(), "postCode": S(),
            "city": S(), "countryCode": S(), "countryStateCode": S(),
            "advanced": O({"telephoneNotification": O({"value": S()}),
                           "emailNotification": O({"value": S()}),
                           "smsNotification": O({"value": S()})}),
        }),
        "organisationNumber": S(), "vatNumber": S(), "customerGroup": CODE_NAME,
    }, required=True),
    "emailNotification": NOTIFY, "smsNotification": NOTIFY, "telephoneNotification": NOTIFY,
    "transporter": O({
        "transporterCode": S(), "transporterServiceCode": S(),
        "paymentAdvanced": O({
            "consigneeCollects": B(),
            "consigneePays": O({"customerNumber": KEY}),
            "thirdPartyPays": O({"customerNumber": KEY}),
            "senderPays": O({"ediCode": S(), "waybillTemplate": S(), "customerNumber": S()}),
        }),
    }),
    "returnTransporter": O({"transporterCode": S(), "transporterServiceCode": S()}),
    "orderLines": A(O({  # Model/PostOrderLine.php
        "rowNumber": KEY, "articleNumber": KEY, "numberOfItems": D(), "comment": S(),
        "shouldBePicked": B(), "serialNumber": S(), "lineTotalCustomsValue": D(),
        "batchNumber": S(), "lineType": CODE_NAME,
        "prices": O({"linePrice": D(), "customerLinePrice": D(), "currencyCode": S(),
                     "discountPercentage": D(), "totalVat": D()}),
        "customerArticleNumber": S(), "warehouseInstruction": S(), "externalId": S(),
        "articleItemStatus": CODE_NAME,
        "lineFreeValues": O({"freeText1": S(), "freeDecimal1": D()}),
        "minDaysToExpiryDate": I(), "maxDaysToExpiryDate": I(), "deliveryDate": T(),
        "vat": O({"code": KEY, "percent": D()}),
        "weight": D(), "minWeight": D(), "maxWeight": D(),
    })),
    "customsInfo": O({"customsValueCurrencyCode": S()}),
    "preparedTransportDocumentId": S(), "freightPrice": D(), "warehouseId": I(),
    "classes": A(O({"code": S(), "name": S(), "comment": S(),
                    "isParcelTypeSuggestion": B()})),
    "termsOfDeliveryType": CODE_NAME, "customerPrice": D(),
    "advanced": O({
        "orderTextLines": A(O({"rowNumber": KEY, "comment": S(), "numberOfItems": D()})),
        "arrivalDate": T(), "wayOfDeliveryString": S(), "transporterOrderNumber": S(),
        "invoiceNumber": S(), "arrivalDateFrom": T(), "termsOfPaymentString": S(),
        "termsOfDeliveryString": S(), "communication": S(),
    }),
    "consigneeOrderNumber": S(), "warehouseInstruction": S(),
    "marketPlace": O({"marketPlace": S(), "marketPlaceOrderNumber": S()}),
    "pickingPriority": I(), "productionCode": S(), "transporterBulkId": S(),
    "invoiceUrl": S(), "languageCode": S(),
})

# Model/PostPurchaseOrderModel.php [API]; examples "PUT purchase order - ..." [EX]
PURCHASE_ORDER_MODEL = O({
    "goodsOwnerId": I(required=True), "purchaseOrderNumber": KEY,
    "supplierOrderNumber": S(), "goodsOwnerReference": S(), "referenceNumber": S(),
    "inDate": T(),
    "supplierInfo": O({"supplierNumber": S(), "supplierName": S(),
                       "supplierAddress": ADDRESS_BLOCK, "remark": S()}),
    "purchaseOrderType": CODE_NAME,
    "purchaseOrderLines": A(O({  # Model/PostPurchaseOrderLine.php
        "rowNumber": KEY, "articleNumber": KEY, "numberOfItems": D(), "comment": S(),
        "rowPrice": D(), "currencyCode": S(), "articleItemStatusId": I(), "batchNumber": S(),
        "externalOrderLineId": S(), "inDate": T(), "serialNumber": S(), "expiryDate": T(),
        "productionDate": T(),
        "lineFreeValues": O({"freeDecimal1": D(), "freeText1": S(), "freeText2": S()}),
        "lineType": CODE_NAME, "returnCause": CODE_NAME, "textLines": A(TEXT_LINE),
    })),
    "purchaseOrderRemark": S(), "warehouseId": I(),
    "freeValues": O({**{f"freeText{n}": S() for n in range(1, 6)}, "freeDecimal1": D(),
                     "freeDecimal2": D(), "freeBoolean1": B(), "freeBoolean2": B()}),
    "advanced": O({
        "container": S(), "orderDate": T(), "advisedDate": T(),
        "purchaseOrderStatusCreated": I(), "purchaseOrderIsReturnType": B(),
        "customer": O({"customerNumber": S(), "customerName": S(), "address": O({
            "name": S(), "address1": S(), "address2": S(), "address3": S(), "postCode": S(),
            "city": S(), "countryCode": S(), "email": S(), "telephone": S(),
            "mobilePhone": S()})}),
    }),
    "customsInfo": O({"termsOfDeliveryType": CODE_NAME, "termsOfDeliveryTypeLocation": S()}),
    "sellerInfo": O({"sellerNumber": S(), "sellerName": S(), "sellerAddress": ADDRESS_BLOCK}),
    "invoiceNumber": S(),
    "classes": A(O({"code": S(), "name": S(), "comment": S()})),
    "tracking": A(O({"waybill": S(), "trackingUrl": S()})),
    "textLines": A(TEXT_LINE),
})

# Model/PatchOrderReportedNumberOfItemsModel.php, PatchPurchaseOrderReportedNumberOfItemsModel.php
REPORTED_MODEL = O({"reportedNumberOfItems": D(required=True)})

_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _body_time(text: str) -> bool:
    """A date, or a date-time with a UTC offset (choice C7)."""
    if _DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
        return True
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _validate(spec: _Field, value: Any, path: str, errors: list[str]) -> Any:
    """``value`` checked against ``spec`` and converted (Decimal, int); problems go to
    ``errors`` (choice C2). Null fields are dropped: null means "not given"."""
    kind = spec.kind
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{path or 'the body'} must be a JSON object")
            return None
        assert spec.fields is not None
        errors.extend(f"{_join(path, key)} is not a field of this request model"
                      for key in value if key not in spec.fields)
        out: Obj = {}
        for name, sub in spec.fields.items():
            item = value.get(name)
            if item is None:
                if sub.required:
                    errors.append(f"{_join(path, name)} is required")
                continue
            converted = _validate(sub, item, _join(path, name), errors)
            if converted is not None:
                out[name] = converted
        return out
    if kind == "array":
        if not isinstance(value, list):
            errors.append(f"{path} must be a JSON array")
            return None
        if len(value) < spec.min_items:
            errors.append(f"{path} needs at least {spec.min_items} item(s)")
        assert spec.item is not None
        items = []
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            if item is None:
                errors.append(f"{where} is null")
                continue
            converted = _validate(spec.item, item, where, errors)
            if converted is not None:
                items.append(converted)
        return items
    if kind in ("string", "datetime", "enum"):
        if not isinstance(value, str):
            errors.append(f"{path} must be a string")
            return None
        if kind == "string" and len(value) < spec.min_length:
            errors.append(f"{path} must not be empty")
        if kind == "datetime" and not _body_time(value):
            errors.append(f"{path}={value!r} is neither a date (2024-05-31) nor a date-time "
                          "with a UTC offset (2024-05-31T08:00:00Z)")
        if kind == "enum" and value not in spec.values:
            errors.append(f"{path}={value!r} is not one of {', '.join(spec.values)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path} must be true or false")
            return None
        return value
    if isinstance(value, bool):
        errors.append(f"{path} must be a number, not {str(value).lower()}")
        return None
    if kind == "int":
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if not isinstance(value, int):
            errors.append(f"{path} must be a whole number")
            return None
        if not INT32[0] <= value <= INT32[1]:
            errors.append(f"{path} is out of range")
            return None
        return value
    # decimal: a JSON number, or a numeric string as the vendor's examples send [EX]
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    errors.append(f"{path} must be a number")
    return None


# --- query strings -------------------------------------------------------------------------------

_QueryKind = Literal["int", "bool", "str", "time", "int[]", "str[]"]


@dataclass(frozen=True)
class _Query:
    """The query parameters an endpoint takes [API] (choice C6)."""

    allowed: Mapping[str, _QueryKind] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    unsimulated: frozenset[str] = frozenset()
    obsolete: Mapping[str, str] = field(default_factory=dict)

    def parse(self, raw: str) -> Obj:
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
        except ValueError:
            raise _ApiError(400, f"The query string {raw!r} is malformed") from None
        given: dict[str, list[str]] = {}
        for key, value in pairs:
            given.setdefault(key, []).append(value)
        for key, use in self.obsolete.items():
            if key in given:
                raise _ApiError(400, f"The query parameter '{key}' is obsolete; use '{use}'")
        unknown = sorted(k for k in given if k not in self.allowed and k not in self.unsimulated)
        if unknown:
            takes = ", ".join(sorted(self.allowed)) or "no query parameters"
            raise _ApiError(400, f"Unknown query parameter(s): {', '.join(unknown)}. "
                                 f"This call takes: {takes}")
        unsimulated = sorted(k for k in given if k in self.unsimulated)
        if unsimulated:
            raise _ApiError(501, f"The simulator does not implement the query parameter(s) "
                                 f"{', '.join(unsimulated)}")
        missing = sorted(self.required - set(given))
        if missing:
            raise _ApiError(400, f"The query parameter(s) {', '.join(missing)} are required")
        out: Obj = {}
        for key, values in given.items():
            kind = self.allowed[key]
            if kind.endswith("[]"):
                out[key] = [_query_value(kind[:-2], key, v) for v in values]
            elif len(values) > 1:
                raise _ApiError(400, f"The query parameter '{key}' was given {len(values)} "
                                     "times; it takes one value")
            else:
                out[key] = _query_value(kind, key, values[0])
        return out


def _query_value(kind: str, key: str, text: str) -> Any:
    if kind == "str":
        return text
    if kind == "int":
        if not _INTEGER.fullmatch(text) or not INT32[0] <= int(text) <= INT32[1]:
            raise _ApiError(400, f"The query parameter {key}={text!r} is not a whole number")
        return int(text)
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise _ApiError(400, f"The query parameter {key}={text!r} is not true or false")
        return text.lower() == "true"
    try:  # time: ISO 8601 with a UTC offset (choice C7)
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = " (a '+' must be sent as %2B)" if " " in text else ""
        raise _ApiError(400, f"The query parameter {key}={text!r} is not an ISO 8601 "
                             f"time{hint}") from None
    if moment.tzinfo is None:
        raise _ApiError(400, f"The query parameter {key}={text!r} has no UTC offset; send "
                             "for example 2024-05-31T08:00:00Z")
    return moment


# --- the warehouse's records ---------------------------------------------------------------------


@dataclass
class _User:
    username: str
    password: str
    goods_owner_id: int


@dataclass
class _Article:
    id: int
    owner: int
    number: str
    data: Obj
    created: datetime
    updated: datetime
    stock: Decimal = Decimal(0)
    stock_changed: datetime | None = None
    last_in: datetime | None = None


@dataclass
class _OrderLine:
    id: int
    row_number: str
    data: Obj
    picked: Decimal = Decimal(0)
    shipped: Decimal = Decimal(0)
    reported: Decimal | None = None
    picks: list[Obj] = field(default_factory=list)

    @property
    def ordered(self) -> Decimal:
        value: Decimal = self.data["numberOfItems"]
        return value


@dataclass
class _Order:
    id: int
    owner: int
    number: str
    data: Obj
    lines: list[_OrderLine]
    customer_id: int | None
    status: int
    created: datetime
    updated: datetime
    status_changed: datetime
    shipped_time: datetime | None = None
    last_picking: datetime | None = None
    way_bill: str | None = None


@dataclass
class _PurchaseOrderLine:
    id: int
    row_number: str
    data: Obj
    received: Decimal = Decimal(0)
    reported: Decimal | None = None
    items: list[Obj] = field(default_factory=list)

    @property
    def advised(self) -> Decimal:
        value: Decimal = self.data["numberOfItems"]
        return value


@dataclass
class _PurchaseOrder:
    id: int
    owner: int
    number: str
    data: Obj
    lines: list[_PurchaseOrderLine]
    status: int
    created: datetime
    updated: datetime
    status_changed: datetime
    created_by: str
    last_receive: datetime | None = None


@dataclass
class _Adjustment:
    inventory_id: int
    owner: int
    article_id: int
    quantity: Decimal
    time: datetime
    cause: Obj | None
    comment: str
    article_item_id: int
    inventory_article_item_id: int
    reported: bool = False


@dataclass
class _Figures:
    booked: Decimal = Decimal(0)
    allocated: Decimal = Decimal(0)
    picked_to_collect: Decimal = Decimal(0)
    to_receive: Decimal = Decimal(0)
    picked_to_report: Decimal = Decimal(0)
    received_to_report: Decimal = Decimal(0)


@dataclass
class _Fault:
    count: int
    status: int
    body: Any
    headers: Mapping[str, str]
    method: str | None
    path: str | None
    after: bool

    def matches(self, method: str, path: str, after: bool) -> bool:
        return (self.after == after and self.count > 0
                and (self.method is None or self.method.upper() == method)
                and (self.path is None or path == self.path
                     or path.startswith(self.path.rstrip("/") + "/")))


class LoggedRequest(NamedTuple):
    """One call the simulator answered: method, path below the base URL, query, status."""

    method: str
    path: str
    query: str
    status: int


@dataclass
class _Call:
    """What a handler gets: the authenticated user, path parameters, query, body."""

    user: _User
    params: Mapping[str, Any]
    query: Obj
    body: Obj


_Handler = Callable[[_Call], tuple[int, Any]]

_ARTICLE_QUERY = _Query(
    # Api/ArticlesApi.php articlesGetAll [API]; articleSystemIdFrom is ">= this"
    allowed={"goodsOwnerId": "int", "articleNumber": "str", "articleNumbers": "str[]",
             "articleSystemIdFrom": "int", "maxArticlesToGet": "int", "productCode": "str",
             "productCodes": "str[]", "onlyArticlesInStock": "bool",
             "stockInfoChangedFrom": "time", "articleDataLastUpdatedFrom": "time"},
    required=frozenset({"goodsOwnerId"}),
    unsimulated=frozenset({"articleNameContains", "articleClassIds", "barCodes",
                           "onlyArticlesBelowStockLimit",
                           "onlyArticlesBelowStockLimitConsideringNumberOfBookedItems"}),
)
_ORDER_QUERY = _Query(
    # Api/OrdersApi.php ordersGetAll [API]
    allowed={"goodsOwnerId": "int", "orderNumber": "str", "orderNumbers": "str[]",
             "shippedTimeFrom": "time", "shippedTimeTo": "time", "orderStatusFrom": "int",
             "orderStatusTo": "int", "onlyOrdersWithOrderLinesToReport": "bool",
             "orderIdFrom": "int", "maxOrdersToGet": "int",
             "orderStatusChangedTimeFrom": "time", "orderCreatedTimeFrom": "time",
             "orderCreatedTimeTo": "time", "articleNumbers": "str[]",
             "orderUpdatedTimeFrom": "time", "referenceNumbers": "str[]",
             "lastPickingTimeFrom": "time"},
    required=frozenset({"goodsOwnerId"}),
    unsimulated=frozenset({"lastReturnedFrom", "onlyOrdersWithOrderLinesToReportReturned",
                           "onlyIfTransportPrinted", "shipmentId", "pickable", "parcelNumber",
                           "serial", "marketPlace", "backOrderForOrderId",
                           "orderLineSupplierNumber"}),
)
_PURCHASE_ORDER_QUERY = _Query(
    # Api/PurchaseOrdersApi.php purchaseOrdersGetAll [API]
    allowed={"goodsOwnerId": "int", "purchaseOrderNumber": "str",
             "purchaseOrderNumbers": "str[]", "lastReceiveTimeFrom": "time",
             "lastReceiveTimeTo": "time", "purchaseOrderStatusFrom": "int",
             "purchaseOrderStatusTo": "int", "onlyPurchaseOrdersWithOrderLinesToReport": "bool",
             "purchaseOrderIdFrom": "int", "maxPurchaseOrdersToGet": "int",
             "purchaseOrderStatusChangedTimeFrom": "time", "articleNumbers": "str[]"},
    required=frozenset({"goodsOwnerId"}),
    unsimulated=frozenset({"inDateFrom", "inDateTo"}),
)
_ADJUSTMENT_QUERY = _Query(
    # Api/InventoryAdjustmentsApi.php inventoryAdjustmentsGetAll [API]
    allowed={"goodsOwnerId": "int", "from": "time", "toTime": "time", "isReported": "bool"},
    required=frozenset({"goodsOwnerId"}),
    obsolete={"to": "toTime"},  # "Obsolete, do not use." [API]; refused (choice C6)
)
_BY_NUMBER = {"orders": "orderNumber", "purchaseOrders": "purchaseOrderNumber"}


def _opt(source: Mapping[str, Any] | None, *keys: str) -> Obj | None:
    """The named fields of ``source`` in this order, null when absent; null for no source."""
    if source is None:
        return None
    return {key: source.get(key) for key in keys}


def _quantity(value: Decimal | int) -> Decimal:
    """A control-surface quantity: Decimal or int, never float or bool."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"give quantities as Decimal or int, not {type(value).__name__}")
    return Decimal(value)


def _total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _page(items: Iterable[Any], ident: Callable[[Any], int], id_from: int | None,
          most: int | None, what: str) -> list[Any]:
    """One page: the smallest ids >= ``id_from`` [API], greatest first (choice C8)."""
    if most is not None and most < 1:
        raise _ApiError(400, f"{what} must be at least 1")
    chosen = sorted((i for i in items if id_from is None or ident(i) >= id_from), key=ident)
    if most is not None:
        chosen = chosen[:most]
    chosen.reverse()
    return chosen


def _after(moment: datetime | None, bound: datetime | None) -> bool:
    """``moment`` is after ``bound`` (exclusive, choice C8); no bound: always."""
    return bound is None or (moment is not None and moment > bound)


def _before(moment: datetime | None, bound: datetime | None) -> bool:
    return bound is None or (moment is not None and moment < bound)


class OngoingSandbox:
    """The Ongoing WMS REST API v1 simulator and the control surface that plays the warehouse.

    A default API user (:meth:`settings`) belonging to goods owner ``goods_owner_id`` is
    created; :meth:`add_user` adds more. Control-surface methods act on the default goods owner
    unless given ``goods_owner_id``; they raise :class:`KeyError` for an unknown key and
    :class:`ValueError` for something the warehouse cannot do.
    """

    def __init__(
        self,
        warehouse: str = "demowh",
        *,
        host: str = "https://api.ongoingsystems.se",
        goods_owner_id: int = 159,
        goods_owner_name: str = "REST example",
        username: str = "erpsync",
        page_size: int = 4,
        latency: float = 0.0,
        language: Literal["sv", "en"] = "sv",
        editable_order_statuses: Iterable[int] = EDITABLE_ORDER_STATUSES,
        editable_purchase_order_statuses: Iterable[int] = EDITABLE_PURCHASE_ORDER_STATUSES,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", warehouse):
            raise ValueError(f"warehouse {warehouse!r}: letters, digits, '_', '.', '-' only")
        self.warehouse = warehouse
        self.prefix = f"/{warehouse}/api/v1"
        self.base_url = host.rstrip("/") + self.prefix
        self.page_size = page_size
        self.latency = latency
        """Seconds every authenticated call takes (writes spend it inside the owner's queue)."""
        self.language = language
        self.editable_order_statuses = frozenset(editable_order_statuses)
        self.editable_purchase_order_statuses = frozenset(editable_purchase_order_statuses)
        self.goods_owner_id = goods_owner_id
        self.requests: list[LoggedRequest] = []
        self._clock = clock or (lambda: datetime.now(UTC))
        self._owners: dict[int, str] = {}
        self._users: dict[str, _User] = {}
        self._articles: dict[int, _Article] = {}
        self._article_ids: dict[tuple[int, str], int] = {}
        self._orders: dict[int, _Order] = {}
        self._order_ids: dict[tuple[int, str], int] = {}
        self._purchase_orders: dict[int, _PurchaseOrder] = {}
        self._purchase_order_ids: dict[tuple[int, str], int] = {}
        self._adjustments: dict[int, _Adjustment] = {}
        self._customers: dict[tuple[int, str], int] = {}
        self._suppliers: dict[tuple[int, str], tuple[int, str | None]] = {}
        self._classes: dict[tuple[int, str], int] = {}
        self._faults: list[_Fault] = []
        self._in_flight: dict[int, int] = {}
        self._peak: dict[int, int] = {}
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]]
        self._locks = weakref.WeakKeyDictionary()
        # Separate counters that never meet (choice C14), starting where the examples do [EX].
        self._ids = {name: itertools.count(start) for name, start in {
            "article": 18067, "order": 50161, "order_line": 48838, "purchase_order": 246,
            "purchase_order_line": 555, "inventory": 107, "article_item": 59289,
            "inventory_article_item": 7001, "customer": 21628, "supplier": 3001,
            "article_class": 41}.items()}
        self._password = secrets.token_urlsafe(18)
        self.username = username
        self.add_user(username, self._password, goods_owner_id, goods_owner_name=goods_owner_name)
        self._starlette = self._build_app()
        self.app: ASGIApp = self._asgi
        """The ASGI application (starlette inside; counting and fault injection around it)."""

    # --- the conformance protocol (erpsync.conformance.WmsSandbox) ----------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application: counts every call and injects faults around the API."""
        if scope["type"] != "http":
            await self._starlette(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        relative = path[len(self.prefix):] if path.startswith(self.prefix + "/") else path
        query = scope.get("query_string", b"").decode("latin-1")
        before = self._take_fault(method, relative, after=False)
        if before is not None:
            await self._send_fault(scope, send, before)
            self.requests.append(LoggedRequest(method, relative, query, before.status))
            return
        after = self._take_fault(method, relative, after=True)
        statuses: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            if after is None:
                await send(message)

        await self._starlette(scope, receive, capture)
        if after is not None:
            await self._send_fault(scope, send, after)
            statuses.append(after.status)
        self.requests.append(LoggedRequest(method, relative, query, statuses[-1]))

    def settings(self) -> dict[str, Any]:
        """Settings for the WMS plugin, for the default API user."""
        return {"base_url": self.base_url, "username": self.username,
                "password": SecretStr(self._password), "goods_owner_id": self.goods_owner_id,
                "page_size": self.page_size}

    def bad_settings(self) -> dict[str, Any]:
        """The same settings with a password the simulator refuses."""
        return self.settings() | {"password": SecretStr("wrong-" + secrets.token_urlsafe(12))}

    def count(self, flow: Flow | str, *, goods_owner_id: int | None = None) -> int:
        """How many articles, suppliers, orders, purchase orders or adjustments a goods owner
        has (orders and purchase orders include cancelled ones)."""
        owner = self._owner(goods_owner_id)
        kind = Flow(flow)
        records: Iterable[Any]
        if kind is Flow.ARTICLES:
            records = self._articles.values()
        elif kind is Flow.ORDERS:
            records = self._orders.values()
        elif kind is Flow.PURCHASE_ORDERS:
            records = self._purchase_orders.values()
        elif kind is Flow.ADJUSTMENTS:
            records = self._adjustments.values()
        elif kind is Flow.SUPPLIERS:
            return sum(1 for o, _ in self._suppliers if o == owner)
        else:
            raise ValueError(f"the simulator does not count {kind.value}")
        return sum(1 for record in records if record.owner == owner)

    def start_work(self, flow: Flow | str, key: str, *,
                   goods_owner_id: int | None = None) -> None:
        """The warehouse starts on an order (300 Released) or a purchase order (200 Arrival
        space); neither can be changed through the API after that (choice C4, C11)."""
        kind = Flow(flow)
        if kind is Flow.ORDERS:
            order = self._order_by_key(key, goods_owner_id)
            self._require_open(order)
            self._set_order_status(order, max(order.status, ORDER_RELEASED))
        elif kind is Flow.PURCHASE_ORDERS:
            po = self._purchase_order_by_key(key, goods_owner_id)
            self._require_open_po(po)
            self._set_po_status(po, max(po.status, PO_ARRIVAL))
        else:
            raise ValueError(f"the warehouse starts work on orders and purchase orders, "
                             f"not {kind.value}")

    def pick(self, order_key: str, quantities: Mapping[str, Decimal | int] | None = None, *,
             at: datetime | None = None, goods_owner_id: int | None = None) -> None:
        """Pick order lines (by ``externalId``, else ``rowNumber``); None picks everything not
        yet picked. The order goes to 400 Picked; the goods stay in stock until shipped."""
        order = self._order_by_key(order_key, goods_owner_id)
        self._require_open(order)
        when = self._moment(at)
        self._pick(order, quantities, when)
        self._set_order_status(order, max(order.status, ORDER_PICKED), when)

    def ship(self, order_key: str, quantities: Mapping[str, Decimal | int] | None = None, *,
             status: int = ORDER_SENT, way_bill: str | None = None, at: datetime | None = None,
             goods_owner_id: int | None = None) -> None:
        """Pick ``quantities`` (by ``externalId``, else ``rowNumber``; None: all that is left)
        and ship everything picked and not yet shipped: stock leaves the warehouse and the
        order goes to ``status`` 450 Sent or 500 Collected (choice C11)."""
        if status not in (ORDER_SENT, 500):
            raise ValueError("ship to status 450 (Sent) or 500 (Collected)")
        order = self._order_by_key(order_key, goods_owner_id)
        self._require_open(order)
        when = self._moment(at)
        self._pick(order, quantities, when)
        for line in order.lines:
            leaving = line.picked - line.shipped
            if leaving:
                article = self._article_by_key(line.data["articleNumber"], order.owner)
                article.stock = max(article.stock - leaving, Decimal(0))  # choice C12
                article.stock_changed = when
                line.shipped = line.picked
        order.shipped_time = when
        if way_bill is not None:
            order.way_bill = way_bill
        self._set_order_status(order, max(order.status, status), when)

    def receive(self, po_key: str, quantities: Mapping[str, Decimal | int],
                complete: bool = False, *, at: datetime | None = None,
                goods_owner_id: int | None = None) -> None:
        """Receive goods on purchase order lines (by ``externalOrderLineId``, else
        ``rowNumber``); ``complete`` closes it: 500 Received if every line got what was
        advised, else 400 Deflection; otherwise it goes to 300 Inbound (choice C11)."""
        po = self._purchase_order_by_key(po_key, goods_owner_id)
        if po.status in (PO_DEFLECTION, PO_RECEIVED, PO_CANCELLED):
            raise ValueError(f"purchase order {po.number} is closed (status {po.status})")
        when = self._moment(at)
        for key, quantity in quantities.items():
            line = self._po_line(po, key)
            amount = _quantity(quantity)
            if amount <= 0:
                raise ValueError(f"receive a positive quantity on {key}, not {amount}")
            article = self._article_by_key(line.data["articleNumber"], po.owner)
            line.received += amount
            line.items.append({
                "originalArticleItemId": next(self._ids["article_item"]),
                "numberOfItems": amount, "inDate": when, "serial": "", "caseNumber": "",
                "batchNumber": "", "container": "", "comment": "", "weight": None,
                "expiryDate": None, "location": LOCATION, "articleItemStatus": None,
                "receivedByUser": None, "isLocked": False, "isLockedForSale": False,
                "articleItemFreeText1": "",
            })
            article.stock += amount
            article.stock_changed = article.last_in = when
            po.last_receive = when
        if complete:
            done = all(line.received >= line.advised for line in po.lines)
            self._set_po_status(po, PO_RECEIVED if done else PO_DEFLECTION, when)
        else:
            self._set_po_status(po, max(po.status, PO_INBOUND), when)
        po.updated = when

    def adjust(self, article_key: str, delta: Decimal | int, cause: str | None = None, *,
               comment: str = "", at: datetime | None = None,
               goods_owner_id: int | None = None) -> None:
        """An inventory adjustment of ``delta`` (signed) that moves the stock; ``cause`` is
        its inventoryAdjustmentCause (code and name)."""
        article = self._article_by_key(article_key, goods_owner_id)
        amount = _quantity(delta)
        if amount == 0:
            raise ValueError("an adjustment of zero changes nothing")
        if article.stock + amount < 0:
            raise ValueError(f"{article.number} holds {article.stock}; cannot adjust by {amount}")
        when = self._moment(at)
        inventory_id = next(self._ids["inventory"])
        self._adjustments[inventory_id] = _Adjustment(
            inventory_id=inventory_id, owner=article.owner, article_id=article.id,
            quantity=amount, time=when,
            cause=None if cause is None else {"code": cause, "name": cause}, comment=comment,
            article_item_id=next(self._ids["article_item"]),
            inventory_article_item_id=next(self._ids["inventory_article_item"]))
        article.stock += amount
        article.stock_changed = when

    def set_stock(self, article_key: str, quantity: Decimal | int, *,
                  at: datetime | None = None, goods_owner_id: int | None = None) -> None:
        """Set the physical stock of an article, without an inventory adjustment."""
        article = self._article_by_key(article_key, goods_owner_id)
        amount = _quantity(quantity)
        if amount < 0:
            raise ValueError("physical stock is never below zero")
        article.stock = amount
        article.stock_changed = self._moment(at)

    # --- more control surface -----------------------------------------------------------------

    def add_user(self, username: str, password: str, goods_owner_id: int, *,
                 goods_owner_name: str | None = None) -> None:
        """An API user of ``goods_owner_id`` (created if new); each user has one goods owner."""
        if username in self._users:
            raise ValueError(f"there is already an API user {username!r}")
        self._owners.setdefault(goods_owner_id, goods_owner_name or f"Goods owner {goods_owner_id}")
        self._users[username] = _User(username, password, goods_owner_id)

    def set_status(self, flow: Flow | str, key: str, status: int, *,
                   goods_owner_id: int | None = None) -> None:
        """Put an order or purchase order in any of its statuses (no stock moves)."""
        kind = Flow(flow)
        if kind is Flow.ORDERS:
            if status not in ORDER_STATUSES:
                raise ValueError(f"{status} is not an order status")
            self._set_order_status(self._order_by_key(key, goods_owner_id), status)
        elif kind is Flow.PURCHASE_ORDERS:
            if status not in PURCHASE_ORDER_STATUSES:
                raise ValueError(f"{status} is not a purchase order status")
            self._set_po_status(self._purchase_order_by_key(key, goods_owner_id), status)
        else:
            raise ValueError(f"{kind.value} have no status")

    def article(self, number: str, *, goods_owner_id: int | None = None) -> Obj:
        """The article as ``GET /articles/{id}`` answers it (Decimals, datetimes)."""
        article = self._article_by_key(number, goods_owner_id)
        return self._article_json(article, self._figures(article.owner))

    def order(self, number: str, *, goods_owner_id: int | None = None) -> Obj:
        """The order as ``GET /orders/{id}`` answers it."""
        return self._order_json(self._order_by_key(number, goods_owner_id))

    def purchase_order(self, number: str, *, goods_owner_id: int | None = None) -> Obj:
        """The purchase order as ``GET /purchaseOrders/{id}`` answers it."""
        return self._po_json(self._purchase_order_by_key(number, goods_owner_id))

    def sent(self, flow: Flow | str, key: str, *, goods_owner_id: int | None = None) -> Obj:
        """What the plugin wrote, merged as stored, in the request model's field names
        (fields such as ``advanced.termsOfPaymentString`` are stored but never read back)."""
        kind = Flow(flow)
        if kind is Flow.ARTICLES:
            a = self._article_by_key(key, goods_owner_id)
            return {"goodsOwnerId": a.owner, "articleNumber": a.number, **a.data}
        if kind is Flow.ORDERS:
            o = self._order_by_key(key, goods_owner_id)
            return {"goodsOwnerId": o.owner, "orderNumber": o.number, **o.data,
                    "orderLines": [line.data for line in o.lines]}
        if kind is Flow.PURCHASE_ORDERS:
            p = self._purchase_order_by_key(key, goods_owner_id)
            return {"goodsOwnerId": p.owner, "purchaseOrderNumber": p.number, **p.data,
                    "purchaseOrderLines": [line.data for line in p.lines]}
        raise ValueError(f"nothing of {kind.value} is written to the WMS")

    def adjustments(self, article_key: str | None = None, *,
                    goods_owner_id: int | None = None) -> list[Obj]:
        """Inventory adjustments (oldest first) with their ``reported`` flag."""
        owner = self._owner(goods_owner_id)
        article_id = None if article_key is None else self._article_by_key(article_key, owner).id
        return [{"inventoryId": a.inventory_id, "articleSystemId": a.article_id,
                 "articleNumber": self._articles[a.article_id].number,
                 "numberOfItems": a.quantity, "inventoryTime": a.time, "reported": a.reported}
                for a in sorted(self._adjustments.values(), key=lambda a: (a.time, a.inventory_id))
                if a.owner == owner and article_id in (None, a.article_id)]

    def fail_next(self, count: int = 1, status: int = 503, body: Any = None,
                  headers: Mapping[str, str] | None = None, *, method: str | None = None,
                  path: str | None = None, after: bool = False) -> None:
        """Answer the next ``count`` matching calls with ``status``, ``body`` (JSON unless str
        or bytes; default ``{"message": ...}``) and ``headers``. ``method`` and ``path`` (below
        the base URL, e.g. ``/orders``; sub-paths match) narrow which calls. With ``after``
        the call is processed first and its answer lost: the write happened."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(_Fault(count, status, body, dict(headers or {}), method, path,
                                   after))

    def clear_faults(self) -> None:
        self._faults.clear()

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        """Calls answered so far, optionally of one method and/or below one path."""
        return sum(1 for r in self.requests
                   if (method is None or r.method == method.upper())
                   and (path is None or r.path == path or r.path.startswith(path + "/")))

    def peak_in_flight(self, goods_owner_id: int | None = None) -> int:
        """The most calls of one goods owner that were in flight at once (choice C13)."""
        return self._peak.get(self._owner(goods_owner_id), 0)

    # --- the app ------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        r = self._route
        routes: list[BaseRoute] = [
            r("/articles", "GET", self._get_articles, _ARTICLE_QUERY),
            r("/articles", "PUT", self._put_article, body=ARTICLE_MODEL),
            r("/articles/structureDefinitions", "GET", self._get_structure_definitions,
              _Query({"goodsOwnerId": "int", "articleNumbers": "str[]", "articleKind": "str"},
                     required=frozenset({"goodsOwnerId", "articleKind"}))),
            r("/articles/{articleSystemId:int}", "GET", self._get_article),
            r("/articles/{articleSystemId:int}/structureDefinition", "GET",
              self._get_structure_definition),
            r("/orders", "GET", self._get_orders, _ORDER_QUERY),
            r("/orders", "PUT", self._put_order, body=ORDER_MODEL),
            r("/orders", "DELETE", self._cancel_order,
              _Query({"goodsOwnerId": "int", "orderNumber": "str"},
                     required=frozenset({"goodsOwnerId", "orderNumber"})), write=True),
            r("/orders/statuses", "GET", self._order_statuses),
            r("/orders/{orderId:int}", "GET", self._get_order),
            r("/orders/{orderId:int}", "DELETE", self._cancel_order, write=True),
            r("/orders/{orderId:int}/lines/{orderLineId:int}/reportedNumberOfItems", "PATCH",
              self._patch_order_line, body=REPORTED_MODEL),
            r("/orders/{orderId:int}/setReportedNumberOfItemsToPickedNumberOfItems", "PATCH",
              self._report_order_picked, write=True),
            r("/purchaseOrders", "GET", self._get_purchase_orders, _PURCHASE_ORDER_QUERY),
            r("/purchaseOrders", "PUT", self._put_purchase_order, body=PURCHASE_ORDER_MODEL),
            r("/purchaseOrders", "DELETE", self._cancel_purchase_order,
              _Query({"goodsOwnerId": "int", "purchaseOrderNumber": "str"},
                     required=frozenset({"goodsOwnerId", "purchaseOrderNumber"})), write=True),
            r("/purchaseOrders/statuses", "GET", self._purchase_order_statuses),
            r("/purchaseOrders/{purchaseOrderId:int}", "GET", self._get_purchase_order),
            r("/purchaseOrders/{purchaseOrderId:int}", "DELETE", self._cancel_purchase_order,
              write=True),
            r("/purchaseOrders/{purchaseOrderId:int}/lines/{purchaseOrderLineId:int}"
              "/reportedNumberOfItems", "PATCH", self._patch_po_line, body=REPORTED_MODEL),
            r("/purchaseOrders/{purchaseOrderId:int}"
              "/setReportedNumberOfItemsToReceivedNumberOfItems", "PATCH",
              self._report_po_received, write=True),
            r("/inventoryAdjustments", "GET", self._get_adjustments, _ADJUSTMENT_QUERY),
            r("/inventoryAdjustments/{inventoryId:int}", "GET", self._get_adjustment),
            r("/inventoryAdjustments/{inventoryId:int}/articles/{articleSystemId:int}"
              "/setReported", "PATCH", self._set_adjustment_reported, write=True),
        ]
        inner = Router(routes=routes, redirect_slashes=False)  # "/x/" is not "/x" (choice C6)

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            message = {404: "No HTTP resource was found that matches the request URI.",
                       405: "The requested resource does not support this HTTP method."}
            return _json_response(exc.status_code,
                                  {"message": message.get(exc.status_code, exc.detail)},
                                  exc.headers)

        app = Starlette(routes=[Mount(self.prefix, app=inner)],
                        exception_handlers={HTTPException: http_error})
        app.router.redirect_slashes = False
        return app

    def _route(self, path: str, method: str, handler: _Handler, query: _Query | None = None, *,
               body: _Field | None = None, write: bool = False) -> Route:
        spec = query or _Query()
        writes = write or body is not None

        async def endpoint(request: Request) -> Response:
            return await self._serve(request, handler, spec, body, writes)

        return Route(path, endpoint, methods=[method])

    async def _serve(self, request: Request, handler: _Handler, query: _Query,
                     model: _Field | None, write: bool) -> Response:
        try:
            user = self._authenticate(request.headers.get("authorization"))
        except _ApiError as error:
            return _error_response(error)
        owner = user.goods_owner_id
        self._in_flight[owner] = self._in_flight.get(owner, 0) + 1
        self._peak[owner] = max(self._peak.get(owner, 0), self._in_flight[owner])
        try:
            raw = await request.body()
            if write:
                # Writes of one goods owner run one at a time, as Ongoing runs them:
                # https://developer.ongoingwarehouse.com/parallel-requests (choice C13)
                async with self._lock(owner):
                    await self._delay()
                    return self._answer(request, user, raw, handler, query, model)
            await self._delay()
            return self._answer(request, user, raw, handler, query, model)
        finally:
            self._in_flight[owner] -= 1

    def _answer(self, request: Request, user: _User, raw: bytes, handler: _Handler,
                query: _Query, model: _Field | None) -> Response:
        try:
            params = query.parse(request.url.query)
            body: Obj = {}
            if model is None:
                if raw.strip():
                    raise _ApiError(400, "This call takes no request body")  # choice C2
            else:
                content_type = request.headers.get("content-type", "")
                if content_type.split(";")[0].strip().lower() != "application/json":
                    raise _ApiError(415, "Send the body as JSON with Content-Type: "
                                         "application/json")  # choice C2
                if not raw.strip():
                    raise _ApiError(400, "The request body is empty")
                errors: list[str] = []
                body = _validate(model, _loads(raw), "", errors) or {}
                if errors:
                    raise _ApiError(400, "The request is invalid: " + "; ".join(errors))
            status, answer = handler(_Call(user, request.path_params, params, body))
        except _ApiError as error:
            return _error_response(error)
        return _json_response(status, answer)

    def _authenticate(self, header: str | None) -> _User:
        # HTTP Basic auth, per the Postman collection's "auth": {"type": "basic"} [EX] (C1)
        challenge = {"WWW-Authenticate": 'Basic realm="Ongoing WMS"'}
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            raise _ApiError(401, DENIED, challenge)
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _ApiError(401, DENIED, challenge) from None
        username, colon, password = decoded.partition(":")
        user = self._users.get(username)
        if not colon or user is None or not secrets.compare_digest(
                user.password.encode(), password.encode()):
            raise _ApiError(401, DENIED, challenge)
        return user

    def _lock(self, owner: int) -> asyncio.Lock:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(owner, asyncio.Lock())

    async def _delay(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def _take_fault(self, method: str, path: str, *, after: bool) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, path, after):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _send_fault(self, scope: Scope, send: Send, fault: _Fault) -> None:
        if isinstance(fault.body, bytes | str):
            content = fault.body.encode() if isinstance(fault.body, str) else fault.body
            content_type = "text/plain; charset=utf-8"
        else:
            body = fault.body if fault.body is not None else {
                "message": f"Injected failure ({fault.status})"}
            content, content_type = _dumps(body), "application/json; charset=utf-8"
        response = Response(content, status_code=fault.status, headers=dict(fault.headers),
                            media_type=content_type)

        async def nothing() -> Message:  # pragma: no cover - the body is never read
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)

    # --- helpers of the handlers --------------------------------------------------------------

    def _now(self) -> datetime:
        return self._moment(None)

    def _moment(self, at: datetime | None) -> datetime:
        moment = at or self._clock()
        if moment.tzinfo is None:
            raise ValueError("give timezone-aware times")
        moment = moment.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _owner(self, goods_owner_id: int | None) -> int:
        owner = self.goods_owner_id if goods_owner_id is None else goods_owner_id
        if owner not in self._owners:
            raise KeyError(f"no goods owner {owner}")
        return owner

    def _check_owner(self, user: _User, goods_owner_id: int) -> int:
        if goods_owner_id != user.goods_owner_id:  # choice C1: refuse with 403
            raise _ApiError(403, f"This API user has no access to goods owner {goods_owner_id}")
        return goods_owner_id

    def _owner_json(self, owner: int) -> Obj:
        return {"id": owner, "name": self._owners[owner]}

    def _article_by_key(self, number: str, goods_owner_id: int | None) -> _Article:
        key = (self._owner(goods_owner_id), number)
        if key not in self._article_ids:
            raise KeyError(f"no article {number!r} of goods owner {key[0]}")
        return self._articles[self._article_ids[key]]

    def _order_by_key(self, number: str, goods_owner_id: int | None) -> _Order:
        key = (self._owner(goods_owner_id), number)
        if key not in self._order_ids:
            raise KeyError(f"no order {number!r} of goods owner {key[0]}")
        return self._orders[self._order_ids[key]]

    def _purchase_order_by_key(self, number: str, goods_owner_id: int | None) -> _PurchaseOrder:
        key = (self._owner(goods_owner_id), number)
        if key not in self._purchase_order_ids:
            raise KeyError(f"no purchase order {number!r} of goods owner {key[0]}")
        return self._purchase_orders[self._purchase_order_ids[key]]

    def _require_open(self, order: _Order) -> None:
        if order.status == ORDER_CANCELLED:
            raise ValueError(f"order {order.number} is cancelled")

    def _require_open_po(self, po: _PurchaseOrder) -> None:
        if po.status == PO_CANCELLED:
            raise ValueError(f"purchase order {po.number} is cancelled")

    def _order_line(self, order: _Order, key: str) -> _OrderLine:
        for line in order.lines:
            if line.data.get("externalId") == key:
                return line
        for line in order.lines:
            if line.row_number == key:
                return line
        raise KeyError(f"order {order.number} has no line with externalId or rowNumber {key!r}")

    def _po_line(self, po: _PurchaseOrder, key: str) -> _PurchaseOrderLine:
        for line in po.lines:
            if line.data.get("externalOrderLineId") == key:
                return line
        for line in po.lines:
            if line.row_number == key:
                return line
        raise KeyError(f"purchase order {po.number} has no line with externalOrderLineId or "
                       f"rowNumber {key!r}")

    def _pick(self, order: _Order, quantities: Mapping[str, Decimal | int] | None,
              when: datetime) -> None:
        wanted: list[tuple[_OrderLine, Decimal]]
        if quantities is None:
            wanted = [(line, line.ordered - line.picked) for line in order.lines]
        else:
            wanted = [(self._order_line(order, key), _quantity(q))
                      for key, q in quantities.items()]
        for line, amount in wanted:
            if amount < 0 or (quantities is not None and amount == 0):
                raise ValueError(f"pick a positive quantity on {line.row_number}, not {amount}")
            if line.picked + amount > line.ordered:
                raise ValueError(f"line {line.row_number} of {order.number} orders "
                                 f"{line.ordered}, {line.picked} already picked: cannot pick "
                                 f"{amount} more")
        for line, amount in wanted:
            if amount:
                line.picked += amount
                line.picks.append(self._picked_item(amount, when))
                order.last_picking = when

    def _picked_item(self, amount: Decimal, when: datetime) -> Obj:
        # Model/GetOrderPickedArticleItem.php [API]; values as in "GET response - order" [EX]
        return {
            "secondNumberOfItems": None, "articleItemId": next(self._ids["article_item"]),
            "numberOfItems": amount, "inDate": when, "serial": "", "caseNumber": "",
            "batchNumber": "", "container": "", "comment": "", "weight": None, "volume": None,
            "isPicked": True, "isReturned": False, "expiryDate": None, "returnDate": None,
            "pickedTime": when, "returnCause": None, "location": LOCATION,
            "locationTypeCode": "", "articleItemStatus": None, "freeText1": "",
            "packedTime": None, "handling": None, "parcel": None, "zoneName": None,
            "purchaseOrderInfo": None, "originalArticleItemId": None,
            "productionDateDate": None,
        }

    def _set_order_status(self, order: _Order, status: int, when: datetime | None = None) -> None:
        when = when or self._now()
        if status != order.status:
            order.status = status
            order.status_changed = when
        order.updated = when

    def _set_po_status(self, po: _PurchaseOrder, status: int, when: datetime | None = None) -> None:
        when = when or self._now()
        if status != po.status:
            po.status = status
            po.status_changed = when
        po.updated = when

    def _status(self, table: Mapping[int, tuple[str, str]], number: int,
                language: str) -> Obj:
        english, swedish = table[number]
        return {"number": number, "text": swedish if language == "sv" else english}

    def _article_ref(self, owner: int, number: str, kind: bool = True) -> Obj:
        article = self._articles[self._article_ids[(owner, number)]]
        ref = {"articleSystemId": article.id, "articleNumber": article.number,
               "articleName": article.data.get("articleName") or "",
               "productCode": article.data.get("productCode") or ""}  # "" as in [EX], C16
        if kind:
            ref["articleKind"] = (article.data.get("structureDefinition") or {}).get(
                "articleKind")
        return ref

    def _require_articles(self, owner: int, numbers: Iterable[tuple[str, str]]) -> None:
        missing = [f"{where}={number!r}" for where, number in numbers
                   if (owner, number) not in self._article_ids]
        if missing:  # choice C3
            raise _ApiError(400, "The request is invalid: no such article: " + "; ".join(missing))

    def _check_lines(self, lines: Sequence[Obj], where: str, external: str) -> None:
        errors: list[str] = []
        rows: set[str] = set()
        externals: set[str] = set()
        for index, line in enumerate(lines):
            at = f"{where}[{index}]"
            amount = line.get("numberOfItems")
            if amount is None or amount <= 0:  # choice C3
                errors.append(f"{at}.numberOfItems must be given and greater than 0")
            if line["rowNumber"] in rows:
                errors.append(f"{at}.rowNumber {line['rowNumber']!r} repeats")
            rows.add(line["rowNumber"])
            key = line.get(external)
            if key is not None:
                if key in externals:
                    errors.append(f"{at}.{external} {key!r} repeats")
                externals.add(key)
        if errors:
            raise _ApiError(400, "The request is invalid: " + "; ".join(errors))

    def _own_order(self, call: _Call) -> _Order:
        order = self._orders.get(call.params["orderId"])
        if order is None:
            raise _ApiError(404, f"There is no order with id {call.params['orderId']}")
        self._check_owner(call.user, order.owner)
        return order

    def _own_po(self, call: _Call) -> _PurchaseOrder:
        po = self._purchase_orders.get(call.params["purchaseOrderId"])
        if po is None:
            raise _ApiError(404, f"There is no purchase order with id "
                                 f"{call.params['purchaseOrderId']}")
        self._check_owner(call.user, po.owner)
        return po

    def _own_article(self, call: _Call) -> _Article:
        article = self._articles.get(call.params["articleSystemId"])
        if article is None:
            raise _ApiError(404, f"There is no article with id {call.params['articleSystemId']}")
        self._check_owner(call.user, article.owner)
        return article

    # --- articles -----------------------------------------------------------------------------

    def _put_article(self, call: _Call) -> tuple[int, Any]:
        # "Create or update an article. If no article with the specified article number exists,
        # it will be created. Otherwise, it will be updated." (articlesPut3 [API])
        body = dict(call.body)
        owner = self._check_owner(call.user, body.pop("goodsOwnerId"))
        number = body.pop("articleNumber")
        structure = body.get("structureDefinition")
        if structure is not None:
            problems = [f"structureDefinition.rows[{i}].numberOfItems must be given and "
                        "greater than 0" for i, row in enumerate(structure.get("rows", []))
                        if row.get("numberOfItems") is None or row["numberOfItems"] <= 0]
            if "articleKind" not in structure:
                problems.append("structureDefinition.articleKind is required")  # choice C3
            if problems:
                raise _ApiError(400, "The request is invalid: " + "; ".join(problems))
            self._require_articles(owner, (
                (f"structureDefinition.rows[{i}].articleNumber", row["articleNumber"])
                for i, row in enumerate(structure.get("rows", []))))
        now = self._now()
        messages: list[str] = []
        supplier = body.get("supplierInfo") or {}
        if supplier.get("supplierNumber") and self._supplier(
                owner, supplier["supplierNumber"], supplier.get("supplierName")):
            # "Supplier Supplier1 Supplier Inc. Created <br/> <br/>Article ..." [EX]
            messages.append(f"Supplier {supplier['supplierNumber']} "
                            f"{supplier.get('supplierName') or ''} Created")
        for cls in (body.get("articleClassesInfo") or {}).get("classes", []):
            if (owner, cls["code"]) not in self._classes:
                self._classes[(owner, cls["code"])] = next(self._ids["article_class"])
        ident = self._article_ids.get((owner, number))
        if ident is None:
            ident = next(self._ids["article"])
            self._article_ids[(owner, number)] = ident
            self._articles[ident] = _Article(ident, owner, number, body, now, now)
        else:
            article = self._articles[ident]
            article.data.update(body)  # choice C5: top-level merge
            article.updated = now
        name = self._articles[ident].data.get("articleName") or ""
        messages.append(f"Article {number} {name} Updated/Created")
        # {"articleSystemId":18067,"message":"Article ... Updated/Created"} [EX]
        return 200, {"articleSystemId": ident, "message": " <br/> <br/>".join(messages)}

    def _supplier(self, owner: int, number: str, name: str | None) -> bool:
        """Register a supplier; True when it is new."""
        known = self._suppliers.get((owner, number))
        self._suppliers[(owner, number)] = (
            known[0] if known else next(self._ids["supplier"]),
            name if name is not None else (known[1] if known else None))
        return known is None

    def _get_articles(self, call: _Call) -> tuple[int, Any]:
        q = call.query
        owner = self._check_owner(call.user, q["goodsOwnerId"])
        now = self._now()
        changed_from = q.get("stockInfoChangedFrom")
        if changed_from is not None and now - changed_from > STOCK_CHANGED_MAX_AGE:
            # "NOTE: this value must must be within 24 hours of the current time." [API], C8
            raise _ApiError(400, "stockInfoChangedFrom must be within 24 hours of the current "
                                 "time")
        numbers = set(q.get("articleNumbers", [])) | (
            {q["articleNumber"]} if "articleNumber" in q else set())
        codes = set(q.get("productCodes", [])) | (
            {q["productCode"]} if "productCode" in q else set())
        chosen = [
            a for a in self._articles.values()
            if a.owner == owner
            and (not numbers or a.number in numbers)
            and (not codes or a.data.get("productCode") in codes)
            and (not q.get("onlyArticlesInStock") or a.stock > 0)
            and _after(a.stock_changed, changed_from)
            and _after(a.updated, q.get("articleDataLastUpdatedFrom"))
        ]
        # "articleSystemIdFrom: Only return articles whose article system ID is greater than
        # or equal to this." [API]; https://developer.ongoingwarehouse.com/paginating-responses
        page = _page(chosen, lambda a: a.id, q.get("articleSystemIdFrom"),
                     q.get("maxArticlesToGet"), "maxArticlesToGet")
        figures = self._figures(owner)
        return 200, [self._article_json(a, figures) for a in page]

    def _get_article(self, call: _Call) -> tuple[int, Any]:
        article = self._own_article(call)
        return 200, self._article_json(article, self._figures(article.owner))

    def _structure_json(self, article: _Article) -> Obj:
        # Model/GetArticleStructureDefinitionModel.php [API]
        structure = article.data.get("structureDefinition") or {}
        rows = []
        for row in structure.get("rows", []):
            ref = self._article_ref(article.owner, row["articleNumber"], kind=False)
            rows.append({"articleSystemId": ref["articleSystemId"],
                         "articleNumber": ref["articleNumber"],
                         "numberOfItems": row["numberOfItems"]})
        return {"articleSystemId": article.id, "articleNumber": article.number,
                "articleKind": structure.get("articleKind"), "rows": rows}

    def _get_structure_definition(self, call: _Call) -> tuple[int, Any]:
        return 200, self._structure_json(self._own_article(call))

    def _get_structure_definitions(self, call: _Call) -> tuple[int, Any]:
        q = call.query
        owner = self._check_owner(call.user, q["goodsOwnerId"])
        numbers = set(q.get("articleNumbers", []))
        chosen = sorted((a for a in self._articles.values() if a.owner == owner
                         and (a.data.get("structureDefinition") or {}).get("articleKind")
                         == q["articleKind"] and (not numbers or a.number in numbers)),
                        key=lambda a: a.id)
        return 200, [self._structure_json(a) for a in chosen]

    def _figures(self, owner: int) -> dict[int, _Figures]:
        """Per article: what open orders and purchase orders hold of it (choice C12)."""
        figures: dict[int, _Figures] = {}

        def of(number: str) -> _Figures:
            return figures.setdefault(self._article_ids[(owner, number)], _Figures())

        for order in self._orders.values():
            if order.owner != owner:
                continue
            for line in order.lines:
                f = of(line.data["articleNumber"])
                f.picked_to_collect += line.picked - line.shipped
                f.picked_to_report += max(line.picked - (line.reported or 0), Decimal(0))
                if order.status < ORDER_SENT and order.status != 150:
                    f.booked += max(line.ordered - line.picked, Decimal(0))
                f.allocated += max(self._allocated(order, line) - line.picked, Decimal(0))
        for po in self._purchase_orders.values():
            if po.owner != owner:
                continue
            for pl in po.lines:
                f = of(pl.data["articleNumber"])
                f.received_to_report += max(pl.received - (pl.reported or 0), Decimal(0))
                if po.status < PO_DEFLECTION:
                    f.to_receive += max(pl.advised - pl.received, Decimal(0))
        return figures

    def _article_json(self, a: _Article, figures: Mapping[int, _Figures]) -> Obj:
        # Model/GetArticleModel.php [API]; "GET response - example article with many fields" [EX]
        d = a.data
        f = figures.get(a.id, _Figures())
        supplier = d.get("supplierInfo")
        alternatives = (d.get("alternativeSuppliersInfo") or {}).get("alternativeSuppliers", [])
        barcodes = d.get("barCodeInfo")
        free = d.get("freeValues")
        stock_value = d.get("stockValuationPrice")
        unit = d.get("unitCode")
        return {
            "goodsOwner": self._owner_json(a.owner),
            "articleSystemId": a.id,
            "articleNumber": a.number,
            "articleName": d.get("articleName"),
            "productCode": d.get("productCode"),
            "unitCode": unit.lower() if unit is not None else None,  # "St" -> "st" [EX], C16
            "description": d.get("description"),
            "isStockArticle": d.get("isStockArticle", True),
            "isActive": d.get("isActive", True),
            "supplierInfo": None if supplier is None and not alternatives else {
                **(_opt(supplier or {}, "supplierArticleNumber", "supplierNumber",
                        "supplierName") or {}),
                "alternativeSuppliers": [_opt(s, "supplierArticleNumber", "supplierNumber",
                                              "supplierName", "leadTime") for s in alternatives],
            },
            "barCodeInfo": None if barcodes is None else {
                **(_opt(barcodes, "barCode", "barCodePackage", "barCodePallet") or {}),
                "alternativeBarCodes": [_opt(b, "barCode", "quantityPerBarCode", "barCodeType")
                                        for b in barcodes.get("alternativeBarCodes", [])],
            },
            **{k: d.get(k) for k in (
                "quantityPerPackage", "quantityPerPallet", "weight", "length", "width",
                "height", "volume", "purchasePrice", "stockValuationPrice", "customerPrice",
                "purcaseCurrencyCode", "countryOfOriginCode", "statisticsNumber",
                "articleGroup", "articleCategory")},
            # "SellableNumberOfItems ... may be negative"; the physical stock "will always be
            # greater than or equal to 0": https://developer.ongoingwarehouse.com/Inventory
            "inventoryInfo": {
                "numberOfItems": a.stock,
                "numberOfBookedItems": f.booked,
                "numberOfLockedItems": Decimal(0),
                "toReceiveNumberOfItems": f.to_receive,
                "allocatedNumberOfItems": f.allocated,
                "lockedForSaleNumberOfItems": Decimal(0),
                "pickedToBeCollectedNumberOfItems": f.picked_to_collect,
                "receivedToBeFinishedNumberOfItems": Decimal(0),
                "lastInDate": a.last_in,
                "sellableNumberOfItems": a.stock - f.booked - f.picked_to_collect,
                "totalStockValue": None if stock_value is None else a.stock * stock_value,
                "reported": {"pickedToBeReportedNumberOfItems": f.picked_to_report,
                             "returnedToBeReportedNumberOfItems": Decimal(0),
                             "receivedToBeReportedNumberOfItems": f.received_to_report},
            },
            "articleDataLastUpdated": a.updated,
            "articleKind": (d.get("structureDefinition") or {}).get("articleKind"),
            "stockLimit": d.get("stockLimit"),
            "minimumReorderQuantity": d.get("minimumReorderQuantity"),
            "netWeight": d.get("netWeight"),
            "freeValues": None if free is None else {
                k: v for k, v in free.items() if k != "freeDateTime1"},
            "subQuantityPerItem": d.get("subQuantityPerItem"),
            "classes": [{"id": self._classes[(a.owner, c["code"])], "code": c["code"],
                         "name": c["name"]}
                        for c in (d.get("articleClassesInfo") or {}).get("classes", [])],
            "customsDescription": d.get("customsDescription"),
            "taricNumbersInfo": d.get("taricNumbersInfo"),
            "defaultLocationMaxNumberOfItems": None,
            "defaultLocationStockLimit": None,
            "linkToPicture": d.get("linkToPicture"),
            "storageProperties": d.get("storageProperties"),
            "defaultLocation": None,
            "minDaysToExpiryDateAllowedOnDelivery": d.get("minDaysToExpiryDateAllowedOnDelivery"),
            "articleColor": d.get("articleColor"),
            "articleSize": d.get("articleSize"),
            "additionalStatisticsNumber": d.get("additionalStatisticsNumber"),
            "customsExportConditions": d.get("customsExportConditions"),
            "articleNameTranslations": d.get("articleNameTranslations", []),
            "articleHandlingComments": {k: d.get(k) for k in (
                "articleInboundHandlingComment", "articlePickingHandlingComment",
                "articleReturnHandlingComment")},
            "storageClass": d.get("storageClass"),
        }

    # --- orders -------------------------------------------------------------------------------

    def _put_order(self, call: _Call) -> tuple[int, Any]:
        # "Create or update an order. If there is no order with the specified order number, it
        # will be created. Otherwise, the existing order will be updated. Note that you are not
        # allowed to update an order after the warehouse has started working on it."
        # (ordersPutOrder [API])
        body = dict(call.body)
        owner = self._check_owner(call.user, body.pop("goodsOwnerId"))
        number = body.pop("orderNumber")
        lines = body.pop("orderLines", None)
        if lines is not None:
            self._check_lines(lines, "orderLines", "externalId")
            self._require_articles(owner, ((f"orderLines[{i}].articleNumber", line["articleNumber"])
                                           for i, line in enumerate(lines)))
        ident = self._order_ids.get((owner, number))
        existing = None if ident is None else self._orders[ident]
        if existing is not None and existing.status not in self.editable_order_statuses:
            raise _ApiError(400, self._not_editable("Order", number, existing.status,
                                                    ORDER_STATUSES))  # choice C4
        now = self._now()
        messages: list[str] = []
        customer_number = body["consignee"].get("customerNumber") if "consignee" in body else None
        customer_id = existing.customer_id if existing is not None else None
        if customer_number:
            known = self._customers.get((owner, customer_number))
            customer_id = known or next(self._ids["customer"])
            self._customers[(owner, customer_number)] = customer_id
            # "Customer with customer number 'CN1' and ID '21628' created. <br/> <br/>Order
            # number O987654 created/updated" [EX]
            messages.append(f"Customer with customer number '{customer_number}' and ID "
                            f"'{customer_id}' {'updated' if known else 'created'}.")
        messages.append(f"Order number {number} created/updated")
        if existing is None:
            ident = next(self._ids["order"])
            self._order_ids[(owner, number)] = ident
            self._orders[ident] = _Order(
                id=ident, owner=owner, number=number, data=body,
                lines=self._merge_lines([], lines or [], "order_line", _OrderLine),
                customer_id=customer_id, status=ORDER_OPEN, created=now, updated=now,
                status_changed=now)
            status = 201  # ordersPutOrder answers 200 or 201 [API]: created (choice C5)
        else:
            existing.data.update(body)  # choice C5: top-level merge
            if lines is not None:
                existing.lines = self._merge_lines(existing.lines, lines, "order_line",
                                                   _OrderLine)
            existing.customer_id = customer_id
            existing.updated = now
            status = 200
        assert ident is not None
        return status, {"orderId": ident, "message": " <br/> <br/>".join(messages)}

    def _merge_lines(self, current: Sequence[Any], incoming: Sequence[Obj], counter: str,
                     make: Callable[[int, str, Obj], Any]) -> list[Any]:
        """The new set of lines; a line keeps its id when its rowNumber stays (choice C5)."""
        by_row = {line.row_number: line for line in current}
        result = []
        for data in incoming:
            line = by_row.get(data["rowNumber"])
            if line is None:
                line = make(next(self._ids[counter]), data["rowNumber"], data)
            else:
                line.data = data
            result.append(line)
        return result

    @staticmethod
    def _not_editable(kind: str, number: str, status: int,
                      table: Mapping[int, tuple[str, str]]) -> str:
        return (f"{kind} {number} cannot be changed: its status is {status} "
                f"({table[status][0]}); the warehouse has started working on it")

    def _allocated(self, order: _Order, line: _OrderLine) -> Decimal:
        # Allocation happens in the warehouse [API]; here: all of a line from 320 Allocated on
        # while the order is open, else what was picked (choice C12).
        if 320 <= order.status < ORDER_CANCELLED and line.picked < line.ordered:
            return line.ordered
        return line.picked

    def _order_json(self, o: _Order) -> Obj:
        # Model/GetOrderModel.php, GetOrderLine.php [API]; "GET response - order with many
        # fields" [EX]
        d = o.data
        adv = d.get("advanced") or {}
        consignee = d.get("consignee") or {}
        c_adv = consignee.get("advanced")
        info = {
            "orderId": o.id,
            "orderNumber": o.number,
            **{k: d.get(k) for k in (
                "goodsOwnerOrderId", "referenceNumber", "salesCode", "orderRemark",
                "deliveryInstruction", "servicePointCode", "freeText1", "freeText2",
                "freeText3", "orderType", "wayOfDelivery", "deliveryDate")},
            "createdDate": o.created,
            "shippedTime": o.shipped_time,
            "wayBill": o.way_bill,
            "returnWayBill": None,
            # localised text beside a stable number: https://docs.ongoingwarehouse.com/manuals/
            # statuses ("Hämtad" in [EX]); choice C10
            "orderStatus": self._status(ORDER_STATUSES, o.status, self.language),
            "emailNotification": d.get("emailNotification"),
            "smsNotification": d.get("smsNotification"),
            "telephoneNotification": d.get("telephoneNotification"),
            "orderedNumberOfItems": _total(line.ordered for line in o.lines),
            "allocatedNumberOfItems": _total(self._allocated(o, line) for line in o.lines),
            "pickedNumberOfItems": _total(line.picked for line in o.lines),
            "customsInfo": d.get("customsInfo"),
            "preparedTransportDocumentId": d.get("preparedTransportDocumentId"),
            "warehouse": dict(WAREHOUSE),
            **{k: d.get(k) for k in (
                "termsOfDeliveryType", "customerPrice", "consigneeOrderNumber",
                "warehouseInstruction", "marketPlace", "pickingPriority", "productionCode")},
            "advanced": {"invoiceNumber": adv.get("invoiceNumber"),
                         "arrivalDate": adv.get("arrivalDate"), "deliveryDateWithTime": None,
                         "backOrderInfo": None, "orderHeaderUpdated": o.updated,
                         "transportPaymentType": None},
            "freightPrice": d.get("freightPrice"),
            "invoiceUrl": d.get("invoiceUrl"),
            "orderFreeDateTime1": d.get("orderFreeDateTime1"),
            "sortLocation": None,
        }
        transporter = d.get("transporter")
        return_transporter = d.get("returnTransporter")
        return {
            "goodsOwner": self._owner_json(o.owner),
            "orderInfo": info,
            "consignee": {
                **{k: consignee.get(k) for k in (
                    "customerNumber", "name", "address1", "address2", "address3", "postCode",
                    "city", "countryCode", "countryStateCode", "remark", "doorCode")},
                "advanced": _opt(c_adv, "telephoneNotification", "emailNotification",
                                 "smsNotification"),
                "invoiceAddress": consignee.get("invoiceAddress"),
                "id": o.customer_id,
            },
            "parcels": [],
            "orderLines": [self._order_line_json(o, line) for line in o.lines],
            "transporter": self._transporter_json(transporter),
            "returnTransporter": self._transporter_json(return_transporter),
            "tracking": [],
            "classes": [{"code": c.get("code"), "name": c.get("name")}
                        for c in d.get("classes", [])],
            "shipmentInfo": None,
            "returnTracking": [],
            "advanced": {"orderTextLines": [
                _opt(t, "rowNumber", "comment", "numberOfItems")
                for t in adv.get("orderTextLines", [])]},
        }

    @staticmethod
    def _transporter_json(transporter: Obj | None) -> Obj | None:
        if transporter is None:
            return None
        return {"transporterName": None, "name": None,
                "code": transporter.get("transporterCode"),
                "serviceCode": transporter.get("transporterServiceCode"),
                "transporterContract": None, "serviceComment": None}

    def _order_line_json(self, o: _Order, line: _OrderLine) -> Obj:
        d = line.data
        prices = d.get("prices")
        free = d.get("lineFreeValues")
        return {
            "id": line.id,
            "rowNumber": line.row_number,
            "article": self._article_ref(o.owner, d["articleNumber"]),
            "comment": d.get("comment"),
            "orderedNumberOfItems": line.ordered,
            "allocatedNumberOfItems": self._allocated(o, line),
            "pickedNumberOfItems": line.picked,
            "packedNumberOfItems": line.shipped,
            "reportedNumberOfItems": line.reported,  # null until reported, as in [EX]
            "shouldBePicked": d.get("shouldBePicked", True),
            "pickedArticleItems": list(line.picks),
            "subOrderLines": None,
            "serialNumber": d.get("serialNumber"),
            "lineTotalCustomsValue": d.get("lineTotalCustomsValue"),
            "batchNumber": d.get("batchNumber"),
            "reportedReturnedNumberOfItems": None,
            "lineType": d.get("lineType"),
            "prices": _opt(prices, "linePrice", "customerLinePrice", "currencyCode",
                           "discountPercentage"),
            "customerArticleNumber": d.get("customerArticleNumber"),
            "externalId": d.get("externalId"),
            "returnedNumberOfItems": Decimal(0),
            "freeValues": _opt(free, "freeText1", "freeDecimal1"),
            "minDaysToExpiryDate": d.get("minDaysToExpiryDate"),
            "maxDaysToExpiryDate": d.get("maxDaysToExpiryDate"),
            "deliveryDate": d.get("deliveryDate"),
            "warehouseInstruction": d.get("warehouseInstruction"),
            "vat": _opt(d.get("vat"), "code", "percent"),
            "pickOrderInfo": None,
        }

    def _get_orders(self, call: _Call) -> tuple[int, Any]:
        q = call.query
        owner = self._check_owner(call.user, q["goodsOwnerId"])
        updated_from = q.get("orderUpdatedTimeFrom")
        if updated_from is not None and self._now() - updated_from > ORDER_UPDATED_MAX_AGE:
            # "Note that this value must be at most 2 days old." (ordersGetAll [API]), C8
            raise _ApiError(400, "orderUpdatedTimeFrom must be at most 2 days old")
        numbers = set(q.get("orderNumbers", [])) | (
            {q["orderNumber"]} if "orderNumber" in q else set())
        articles = set(q.get("articleNumbers", []))
        references = set(q.get("referenceNumbers", []))
        chosen = [
            o for o in self._orders.values()
            if o.owner == owner
            and (not numbers or o.number in numbers)
            and (not references or o.data.get("referenceNumber") in references)
            and (not articles or any(line.data["articleNumber"] in articles for line in o.lines))
            # orderStatusFrom: "greater than or equal to", orderStatusTo: "lower than or equal
            # to" (ordersGetAll [API])
            and o.status >= q.get("orderStatusFrom", o.status)
            and o.status <= q.get("orderStatusTo", o.status)
            # "Only return orders where there are order lines with ReportedNumberOfItems <
            # PickedNumberOfItems" [API]; https://developer.ongoingwarehouse.com/
            # reported-number-of-items (null reported counts as 0)
            and (not q.get("onlyOrdersWithOrderLinesToReport")
                 or any((line.reported or 0) < line.picked for line in o.lines))
            and _after(o.shipped_time, q.get("shippedTimeFrom"))
            and _before(o.shipped_time, q.get("shippedTimeTo"))
            and _after(o.status_changed, q.get("orderStatusChangedTimeFrom"))
            and _after(o.created, q.get("orderCreatedTimeFrom"))
            and _before(o.created, q.get("orderCreatedTimeTo"))
            and _after(o.updated, updated_from)
            and _after(o.last_picking, q.get("lastPickingTimeFrom"))
        ]
        page = _page(chosen, lambda o: o.id, q.get("orderIdFrom"), q.get("maxOrdersToGet"),
                     "maxOrdersToGet")
        return 200, [self._order_json(o) for o in page]

    def _get_order(self, call: _Call) -> tuple[int, Any]:
        return 200, self._order_json(self._own_order(call))

    def _order_statuses(self, call: _Call) -> tuple[int, Any]:
        # "Get all possible order statuses (GET request)/Response.json" [EX]: English (C10)
        return 200, {"orderStatuses": [self._status(ORDER_STATUSES, n, "en")
                                       for n in sorted(ORDER_STATUSES)]}

    def _cancel_order(self, call: _Call) -> tuple[int, Any]:
        # "Cancel an order. You can only cancel an order if the warehouse has not started
        # working on it." (ordersDelete [API]); refused with 400 (choice C4)
        if "orderId" in call.params:
            order = self._own_order(call)
        else:
            owner = self._check_owner(call.user, call.query["goodsOwnerId"])
            ident = self._order_ids.get((owner, call.query["orderNumber"]))
            if ident is None:
                raise _ApiError(404, f"There is no order {call.query['orderNumber']!r}")
            order = self._orders[ident]
        if order.status not in self.editable_order_statuses:
            raise _ApiError(400, self._not_editable("Order", order.number, order.status,
                                                    ORDER_STATUSES))
        self._set_order_status(order, ORDER_CANCELLED)
        return 200, {"orderId": order.id, "message": f"Order number {order.number} cancelled"}

    def _patch_order_line(self, call: _Call) -> tuple[int, Any]:
        # "Update the reported number of items on a particular order line."
        # (ordersPatchReportedNumberOfItems [API]; body as in the Postman collection [EX])
        order = self._own_order(call)
        line = next((x for x in order.lines if x.id == call.params["orderLineId"]), None)
        if line is None:
            raise _ApiError(404, f"Order {order.number} has no line with id "
                                 f"{call.params['orderLineId']}")
        value: Decimal = call.body["reportedNumberOfItems"]
        if value < 0 or value > line.picked:  # choice C9
            raise _ApiError(400, f"reportedNumberOfItems {_decimal_text(value)} must be between "
                                 f"0 and the picked number of items "
                                 f"{_decimal_text(line.picked)}")
        line.reported = value
        return 200, {"orderId": order.id, "message": "Reported number of items updated"}

    def _report_order_picked(self, call: _Call) -> tuple[int, Any]:
        # "Sets the reported number of items on each order line to the picked number of items."
        order = self._own_order(call)
        for line in order.lines:
            line.reported = line.picked
        return 200, {"orderId": order.id, "message": "Reported number of items updated"}

    # --- purchase orders ----------------------------------------------------------------------

    def _put_purchase_order(self, call: _Call) -> tuple[int, Any]:
        # "Create or update a purchase order. If no purchase order with the specified purchase
        # order number exists, a new purchase order will be created. Otherwise the existing
        # purchase order will be updated." (purchaseOrdersPut2 [API])
        body = dict(call.body)
        owner = self._check_owner(call.user, body.pop("goodsOwnerId"))
        number = body.pop("purchaseOrderNumber")
        lines = body.pop("purchaseOrderLines", None)
        if lines is not None:
            self._check_lines(lines, "purchaseOrderLines", "externalOrderLineId")
            self._require_articles(owner, (
                (f"purchaseOrderLines[{i}].articleNumber", line["articleNumber"])
                for i, line in enumerate(lines)))
        ident = self._purchase_order_ids.get((owner, number))
        existing = None if ident is None else self._purchase_orders[ident]
        if existing is not None and existing.status not in self.editable_purchase_order_statuses:
            raise _ApiError(400, self._not_editable("Purchase order", number, existing.status,
                                                    PURCHASE_ORDER_STATUSES))  # choice C4
        initial = (body.get("advanced") or {}).get("purchaseOrderStatusCreated", PO_NOTIFIED)
        if existing is None and initial not in PURCHASE_ORDER_STATUSES:
            raise _ApiError(400, f"The request is invalid: advanced.purchaseOrderStatusCreated "
                                 f"{initial} is not a purchase order status")
        supplier = body.get("supplierInfo") or {}
        if supplier.get("supplierNumber"):
            self._supplier(owner, supplier["supplierNumber"], supplier.get("supplierName"))
        now = self._now()
        if existing is None:
            ident = next(self._ids["purchase_order"])
            self._purchase_order_ids[(owner, number)] = ident
            self._purchase_orders[ident] = _PurchaseOrder(
                id=ident, owner=owner, number=number, data=body,
                lines=self._merge_lines([], lines or [], "purchase_order_line",
                                        _PurchaseOrderLine),
                status=initial, created=now, updated=now, status_changed=now,
                created_by=call.user.username)
            verb = "created"
        else:
            existing.data.update(body)  # choice C5
            if lines is not None:
                existing.lines = self._merge_lines(existing.lines, lines, "purchase_order_line",
                                                   _PurchaseOrderLine)
            existing.updated = now
            verb = "updated"
        assert ident is not None
        # {"purchaseOrderId":246,"message":"Inorder with order number PO1213 created. <br/>"}
        return 200, {"purchaseOrderId": ident,
                     "message": f"Inorder with order number {number} {verb}. <br/>"}

    def _po_json(self, p: _PurchaseOrder) -> Obj:
        # Model/GetPurchaseOrderModel.php, GetPurchaseOrderLine.php [API]; "GET response -
        # purchase order with many fields" [EX]
        d = p.data
        adv = d.get("advanced") or {}
        free = d.get("freeValues")
        seller = d.get("sellerInfo")
        return {
            "goodsOwner": self._owner_json(p.owner),
            "supplierInfo": _opt(d.get("supplierInfo"), "supplierNumber", "supplierName"),
            "purchaseOrderInfo": {
                "purchaseOrderId": p.id,
                "purchaseOrderNumber": p.number,
                **{k: d.get(k) for k in ("supplierOrderNumber", "goodsOwnerReference",
                                         "referenceNumber")},
                "purchaseOrderStatus": self._status(PURCHASE_ORDER_STATUSES, p.status,
                                                    self.language),
                "purchaseOrderType": d.get("purchaseOrderType"),
                "inDate": d.get("inDate"),
                "purchaseOrderRemark": d.get("purchaseOrderRemark"),
                "warehouse": dict(WAREHOUSE),
                "createdDate": p.created,
                "advanced": {"arrivalDate": None, "orderDate": adv.get("orderDate"),
                             "container": adv.get("container"),
                             "purchaseOrderIsReturnType": adv.get("purchaseOrderIsReturnType",
                                                                  False),
                             "advisedDate": adv.get("advisedDate")},
                "freeValues": None if free is None else {
                    **{f"freeText{n}": free.get(f"freeText{n}") for n in range(1, 6)},
                    "freeDecimal1": free.get("freeDecimal1"),
                    "freeDecimal2": free.get("freeDecimal2"),
                    "freeBool1": free.get("freeBoolean1"), "freeBool2": free.get("freeBoolean2")},
                "invoiceNumber": d.get("invoiceNumber"),
                "createdByUser": {"userName": p.created_by},
            },
            "purchaseOrderLines": [{
                "id": line.id,
                "rowNumber": line.row_number,
                "article": self._article_ref(p.owner, line.data["articleNumber"], kind=False),
                "comment": line.data.get("comment"),
                "rowPrice": line.data.get("rowPrice"),
                "advisedNumberOfItems": line.advised,
                "receivedNumberOfItems": line.received,
                "reportedNumberOfItems": line.reported,  # null until reported [EX]
                "articleItems": list(line.items),
                "subPurchaseOrderLines": None,
                "externalOrderLineId": line.data.get("externalOrderLineId"),
                "lineType": line.data.get("lineType"),
                "freeValues": _opt(line.data.get("lineFreeValues"), "freeText1", "freeText2"),
                "inDate": line.data.get("inDate"),
                "textLines": [_opt(t, "rowNumber", "comment", "numberOfItems")
                              for t in line.data.get("textLines", [])],
            } for line in p.lines],
            "sellerInfo": _opt(seller, "sellerNumber", "sellerName"),
            "classes": [{"code": c.get("code"), "name": c.get("name")}
                        for c in d.get("classes", [])],
            "textLines": [_opt(t, "rowNumber", "comment", "numberOfItems")
                          for t in d.get("textLines", [])],
        }

    def _get_purchase_orders(self, call: _Call) -> tuple[int, Any]:
        q = call.query
        owner = self._check_owner(call.user, q["goodsOwnerId"])
        numbers = set(q.get("purchaseOrderNumbers", [])) | (
            {q["purchaseOrderNumber"]} if "purchaseOrderNumber" in q else set())
        articles = set(q.get("articleNumbers", []))
        chosen = [
            p for p in self._purchase_orders.values()
            if p.owner == owner
            and (not numbers or p.number in numbers)
            and (not articles or any(x.data["articleNumber"] in articles for x in p.lines))
            and p.status >= q.get("purchaseOrderStatusFrom", p.status)
            and p.status <= q.get("purchaseOrderStatusTo", p.status)
            # "Filter for purchase orders where at least one line has ReportedNumberOfItems !=
            # ReceivedNumberOfItems." (purchaseOrdersGetAll [API]; null reported counts as 0)
            and (not q.get("onlyPurchaseOrdersWithOrderLinesToReport")
                 or any((x.reported or 0) != x.received for x in p.lines))
            and _after(p.last_receive, q.get("lastReceiveTimeFrom"))
            and _before(p.last_receive, q.get("lastReceiveTimeTo"))
            and _after(p.status_changed, q.get("purchaseOrderStatusChangedTimeFrom"))
        ]
        page = _page(chosen, lambda p: p.id, q.get("purchaseOrderIdFrom"),
                     q.get("maxPurchaseOrdersToGet"), "maxPurchaseOrdersToGet")
        return 200, [self._po_json(p) for p in page]

    def _get_purchase_order(self, call: _Call) -> tuple[int, Any]:
        return 200, self._po_json(self._own_po(call))

    def _purchase_order_statuses(self, call: _Call) -> tuple[int, Any]:
        # "Get all possible purchase order statuses (GET request)/Response.json" [EX] (C10)
        return 200, {"orderStatuses": [self._status(PURCHASE_ORDER_STATUSES, n, "en")
                                       for n in sorted(PURCHASE_ORDER_STATUSES)]}

    def _cancel_purchase_order(self, call: _Call) -> tuple[int, Any]:
        # "Cancel a purchase order." (purchaseOrdersDelete [API]); like orders, refused once
        # the warehouse has started on it (choice C4)
        if "purchaseOrderId" in call.params:
            po = self._own_po(call)
        else:
            owner = self._check_owner(call.user, call.query["goodsOwnerId"])
            ident = self._purchase_order_ids.get((owner, call.query["purchaseOrderNumber"]))
            if ident is None:
                raise _ApiError(404, f"There is no purchase order "
                                     f"{call.query['purchaseOrderNumber']!r}")
            po = self._purchase_orders[ident]
        if po.status not in self.editable_purchase_order_statuses:
            raise _ApiError(400, self._not_editable("Purchase order", po.number, po.status,
                                                    PURCHASE_ORDER_STATUSES))
        self._set_po_status(po, PO_CANCELLED)
        return 200, {"purchaseOrderId": po.id,
                     "message": f"Inorder with order number {po.number} cancelled. <br/>"}

    def _patch_po_line(self, call: _Call) -> tuple[int, Any]:
        # "Update the reported number of items on a particular purchase order line." [API]
        po = self._own_po(call)
        line = next((x for x in po.lines if x.id == call.params["purchaseOrderLineId"]), None)
        if line is None:
            raise _ApiError(404, f"Purchase order {po.number} has no line with id "
                                 f"{call.params['purchaseOrderLineId']}")
        value: Decimal = call.body["reportedNumberOfItems"]
        if value < 0 or value > line.received:  # choice C9
            raise _ApiError(400, f"reportedNumberOfItems {_decimal_text(value)} must be between "
                                 f"0 and the received number of items "
                                 f"{_decimal_text(line.received)}")
        line.reported = value
        return 200, {"purchaseOrderId": po.id, "message": "Reported number of items updated"}

    def _report_po_received(self, call: _Call) -> tuple[int, Any]:
        po = self._own_po(call)
        for line in po.lines:
            line.reported = line.received
        return 200, {"purchaseOrderId": po.id, "message": "Reported number of items updated"}

    # --- inventory adjustments ----------------------------------------------------------------

    def _adjustment_lines(self, adjustments: Iterable[_Adjustment]) -> list[Obj]:
        """Grouped per article, in the order of each article's first adjustment, as in "GET
        inventory adjustments - response.js" [EX]; Model/GetInventoryAdjustmentsLine.php [API]."""
        groups: dict[int, list[_Adjustment]] = {}
        for a in sorted(adjustments, key=lambda a: (a.time, a.inventory_id)):
            groups.setdefault(a.article_id, []).append(a)
        return [{
            "article": self._article_ref(self._articles[article_id].owner,
                                         self._articles[article_id].number, kind=False),
            "inventoryAdjustments": [{
                "inventoryId": a.inventory_id,
                "numberOfItems": a.quantity,
                "inventoryTime": a.time,
                "articleItemComment": a.comment,
                "inventoryItemComment": a.comment,
                "inventoryAdjustmentCause": a.cause,
                "location": LOCATION,
                "batchNumber": "",
                "serial": "",
                "articleItemStatus": None,
                "expiryDate": None,
                "warehouse": dict(WAREHOUSE),
            } for a in items],
        } for article_id, items in groups.items()]

    def _get_adjustments(self, call: _Call) -> tuple[int, Any]:
        q = call.query
        owner = self._check_owner(call.user, q["goodsOwnerId"])
        # from: "returns inventory adjustments which were made after this time"; toTime:
        # "... made before this time" (inventoryAdjustmentsGetAll [API]); exclusive (C8).
        # isReported: filter by equality (choice C9).
        chosen = [a for a in self._adjustments.values()
                  if a.owner == owner and _after(a.time, q.get("from"))
                  and _before(a.time, q.get("toTime"))
                  and q.get("isReported", a.reported) == a.reported]
        return 200, self._adjustment_lines(chosen)

    def _get_adjustment(self, call: _Call) -> tuple[int, Any]:
        adjustment = self._adjustments.get(call.params["inventoryId"])
        if adjustment is None:
            raise _ApiError(404, f"There is no inventory with id {call.params['inventoryId']}")
        self._check_owner(call.user, adjustment.owner)
        return 200, self._adjustment_lines([adjustment])[0]

    def _set_adjustment_reported(self, call: _Call) -> tuple[int, Any]:
        # "Sets the 'reported' flag on an inventory to true for the specified article."
        # (inventoryAdjustmentsPatchInventoryAdjustmentArticlesReported [API])
        adjustment = self._adjustments.get(call.params["inventoryId"])
        if adjustment is None:
            raise _ApiError(404, f"There is no inventory with id {call.params['inventoryId']}")
        self._check_owner(call.user, adjustment.owner)
        if adjustment.article_id != call.params["articleSystemId"]:
            raise _ApiError(404, f"Inventory {adjustment.inventory_id} has no adjustment of "
                                 f"article {call.params['articleSystemId']}")
        adjustment.reported = True  # again: 200 again (choice C9)
        return 200, {"message": "The inventory adjustment was marked as reported",
                     "items": [{"inventoryArticleItemId": adjustment.inventory_article_item_id,
                                "articleItemId": adjustment.article_item_id}]}

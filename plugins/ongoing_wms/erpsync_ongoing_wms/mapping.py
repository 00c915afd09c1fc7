"""Canonical records -> Ongoing WMS request bodies, and Ongoing's answers -> canonical events.

Field names are those of Ongoing's OpenAPI specification
(https://developer.ongoingwarehouse.com/REST/v1/openapi.json: ``PostArticleModel``,
``PostOrderModel``, ``PostOrderLine``, ``PostOrderLinePrices``, ``PostOrderTextLine``,
``PostPurchaseOrderModel``, ``PostPurchaseOrderLine``; ``GetOrderModel``, ``GetOrderLine``,
``GetPurchaseOrderModel``, ``GetPurchaseOrderLine``, ``GetInventoryAdjustmentsLine``,
``GetArticleModel``) and of the vendor's example requests
(https://github.com/OngoingWarehouse/Ongoing-Warehouse-REST-API-Example-Requests, folder v1/).

Every "Ongoing WMS field name" row of the seeds (0: Netvisor, 1: PowerOffice Go, 2: Fortnox;
the numbers in brackets name the seeds a row comes from) has its place below. Where a seed
row names a field the REST request does not have, the row says where it went instead, and
the note says why.

Articles, ``PUT /articles`` (canonical: :class:`Article`)

===============================  ================================  ============================
seed row (seeds)                 request field                     canonical field
===============================  ================================  ============================
Article number (0,1,2)           articleNumber                     article_number
Article name (0,1,2) [a]         articleName                       name
Description (0,1,2)              description                       description
Is stock article (0,2)           isStockArticle                    is_stock_article
(archived, unpublished)          isActive                          is_active
Barcode / EAN (0,1,2)            barCodeInfo.barCode               barcode
Length, Width, Height (0,2) [b]  length, width, height             dimensions, in length_unit
Weight (0,2) [c]                 weight (kg)                       gross_weight
Net weight (0)                   netWeight (kg)                    net_weight
Purchase price (0,1,2)           purchasePrice                     purchase_price
Price / CustomerPrice (0,1)      customerPrice                     sales_price
(currency of the prices)         purcaseCurrencyCode (sic)         currency
Statistics number (0)            statisticsNumber                  statistics_number
CountryOfOriginCode (0)          countryOfOriginCode               country_of_origin
Article group Code, Name (0,1)   articleGroup {code, name}         group
Unit / ArticleUnitCode (1,2)     unitCode                          unit
Supplier (2)                     supplierInfo {supplierNumber,     supplier
                                  supplierName}
Article structure (0) [d]        structureDefinition               structure
                                  {articleKind, rows[]
                                  {articleNumber, numberOfItems}}
Order line Product code (0) [e]  productCode                       erp_key
===============================  ================================  ============================

Orders, ``PUT /orders`` (canonical: :class:`Order`; ``customer`` is Order.customer,
``address`` its address, ``line`` an OrderLine, ``text_line`` an OrderTextLine)

===============================  ================================  ============================
seed row (seeds)                 request field                     canonical field
===============================  ================================  ============================
Order number (0,1,2)             orderNumber                       order_number
GoodsOwnerOrderId (1)            goodsOwnerOrderId                 erp_key
Delivery date (0,1,2) [f]        deliveryDate                      delivery_date, else today
Reference, Our ref. (0,1,2)      referenceNumber                   reference
Receiver order number (0,2) [g]  consigneeOrderNumber              customer_reference, else
                                                                   customer_order_number
Customer price (0,2)             customerPrice                     total_price
Comment / Remarks (0,2)          orderRemark                       comment
Free text 1 (0)                  freeText1                         free_text
Terms of delivery (0,1,2)        termsOfDeliveryType {code, name}  terms_of_delivery
Way of delivery (0,2)            wayOfDelivery {code, name}        way_of_delivery
(order type B2B/B2C) (2)         orderType {code, name}            order_type
ProductionCode (1)               productionCode                    production_code
Terms of payment (2)             advanced.termsOfPaymentString     terms_of_payment (name/code)
Language (2)                     languageCode                      language
OrderNotification Email,         emailNotification                 notify_by_email,
NotifyByEmail (1)                 {toBeNotified, value}            customer.email
OrderNotification MobilePhone,   smsNotification                   notify_by_sms, customer.mobile
NotifyBySms (1)                   {toBeNotified, value}            else customer.phone
Phone 1 (2)                      telephoneNotification             customer.phone, else phone2
                                  {toBeNotified: false, value}
Customer number (0,1,2)          consignee.customerNumber          customer.customer_number
Customer name (0,1,2) [h]        consignee.name                    address.name, else
                                                                   customer.name
Address, Address2 (0,1,2) [h]    consignee.address1, address2      address.address1, address2
Post code, City, Country code    consignee.postCode, city,         address.post_code, city,
(0,1,2) [h]                       countryCode                      country_code
External customer code (0)       consignee.advanced.               customer.erp_key
                                  externalCustomerCode
Customer Email (0)               consignee.advanced.               customer.email (toBeNotified:
                                  emailNotification                notify_by_email)
Customer Mobile (0)              consignee.advanced.               customer.mobile, else phone
                                  smsNotification                  (toBeNotified: notify_by_sms)
Phone 2 (2)                      consignee.advanced.               customer.phone2, else phone
                                  telephoneNotification
Organisation number (2)          consignee.organisationNumber      customer.organisation_number
Order line (its identity) [i]    orderLines[].rowNumber            line.external_line_key
Order line Article number        orderLines[].articleNumber        line.article_number
(0,1,2)
Order line Number of items       orderLines[].numberOfItems        line.quantity
(0,1,2)
External order line code (0,1)   orderLines[].externalId           line.external_line_key
OrderLineComment (1,2)           orderLines[].comment              line.comment
Line price (0,1,2)               orderLines[].prices.linePrice     line.line_price, else
                                                                   unit_price x quantity
CustomerLinePrice (1)            orderLines[].prices.              line.customer_line_price
                                  customerLinePrice
Discount (1) [j]                 orderLines[].prices.              line.discount_percent
                                  discountPercentage
CurrencyCode (1)                 orderLines[].prices.              line.currency, else
                                  currencyCode                     order.currency
(VAT rate)                       orderLines[].vat.percent          line.vat_percent
Customs total value (0)          orderLines[].                     line.customs_value;
                                  lineTotalCustomsValue;           order.currency
                                 customsInfo.
                                  customsValueCurrencyCode
Order line Article name (0) [k]  (articleName of the article)      Article.name
Order line Product code (0) [e]  (productCode of the article)      Article.erp_key
Order text line comment (0,1)    advanced.orderTextLines[].        text_line.text
                                  comment
OrderTextLine                    advanced.orderTextLines[].        text_line.external_line_key
ExternalOrderLineCode (1) [l]     rowNumber
OrderTextLine NumberOfItems (1)  advanced.orderTextLines[].        1 (as seed 001 says)
                                  numberOfItems
===============================  ================================  ============================

Purchase orders, ``PUT /purchaseOrders`` (canonical: :class:`PurchaseOrder`; ``row`` a
PurchaseOrderRow, ``supplier`` PurchaseOrder.supplier)

===============================  ================================  ============================
seed row (seeds)                 request field                     canonical field
===============================  ================================  ============================
Inorder Order number (0,2)       purchaseOrderNumber               order_number
Inorder Reference (0) [m]        goodsOwnerReference               reference
Inorder Comment / Note (0,2)     purchaseOrderRemark               comment
Inorder Order date (0)           advanced.orderDate                order_date
Delivery date (2)                inDate (expected arrival)         delivery_date
Inorder supplier name, number    supplierInfo {supplierNumber,     supplier
(0,2)                             supplierName}
Supplier address, address2,      supplierInfo.supplierAddress      supplier.address, phone,
post code, city, country (2)      {name, address, address2,        email
                                  postCode, city, countryCode,
                                  telePhone, email}
Inorder line Article number      purchaseOrderLines[].             row.article_number
(0,2)                             articleNumber
Inorder line Count (0,2)         purchaseOrderLines[].             row.quantity
                                  numberOfItems
Inorder line Row number          purchaseOrderLines[].             row.row_key
(0,2) [n]                         rowNumber, externalOrderLineId
Price, Currency code (2)         purchaseOrderLines[].             row.price; row.currency,
                                  rowPrice, currencyCode           else currency
Inorder line Article name        (articleName of the article)      Article.name
(2) [k]
===============================  ================================  ============================

Notes (readings and choices; SEED-READINGS are the project's readings of garbled or open
seed rows):

[a] Seed 002: Fortnox's article ``Description`` is the name, its longer text the description
    (SEED-READINGS, Fortnox).
[b] Fortnox's depth is the length. The API does not state its length unit: the setting
    ``length_unit`` (default metres, SEED-READINGS 002), converted with :meth:`Length.to`.
[c] The gross weight, in kilograms (:meth:`Weight.to`), exactly.
[d] ``articleKind`` is :data:`STRUCTURE_KIND`; the rows are the sub products and quantities.
[e] Seed 000 puts the Netvisor key of the product in the order line's product code.
    ``PostOrderLine`` has no product code; the WMS shows the article's on the line, so the
    ERP's key of the article goes to the article's ``productCode``.
[f] The API requires ``deliveryDate``; seed 001 ("if set, else current date") decides for all
    ERPs: today, in UTC. Dates are sent as ``YYYY-MM-DD``, as the example order does.
[g] Seed 000 maps "Your reference" to the receiver order number, and the model's
    ``customer_reference`` is "Your reference / receiver's order number". Fortnox's separate
    "Your order number" (``customer_order_number``) is sent only when there is no
    ``customer_reference``: Ongoing has one such field.
[h] SEED-READINGS 000: a shippable consignee from one address block, never mixed; the
    delivery name (``Address.name``) is the consignee's name, else the customer's name.
[i] ``rowNumber`` identifies a line within the order when the order is updated; the ERP's
    line key keeps it stable when the ERP adds or removes lines (as seed 000 does for
    purchase-order rows, [n]).
[j] A percent: 10 means 10 % (SEED-READINGS 001), sent as it is.
[k] ``PostOrderLine`` and ``PostPurchaseOrderLine`` have no article name: the WMS shows the
    name of the article in its registry (``PUT /articles``).
[l] ``PostOrderTextLine`` has only ``rowNumber``, ``comment`` and ``numberOfItems``: the ERP's
    key of the text line goes to ``rowNumber``.
[m] "Our reference" is the goods owner's own reference: ``goodsOwnerReference``.
[n] Seed 000: "Inorder line => Row number <= Purchase order line => Netvisor key": the row
    number is the ERP's row key, kept also in ``externalOrderLineId``, from which receipts
    read it back. ``PurchaseOrderRow.row_number`` is not sent (the key identifies the row).

Reading back (``GET /orders``, ``GET /purchaseOrders``, ``GET /inventoryAdjustments``,
``GET /articles``) is described at :func:`delivery_of`, :func:`receipt_of`,
:func:`adjustments_of` and :func:`balance_of`.

Event ids are derived, never stored: a delivery's id is the WMS order id plus a hash of the
cumulative picked quantity of every line (a receipt's: the WMS purchase order id, the
cumulative received quantities and whether the purchase order is complete). The same
unreported delivery therefore has the same id every time, and a later pick, which changes the
totals, a new one. An inventory adjustment's id is Ongoing's inventory id and article system
id, the unit Ongoing marks reported.

Numbers are :class:`~decimal.Decimal` both ways: bodies hold Decimals, which the client
writes as exact JSON numbers, and answers are parsed with Decimals (see
:mod:`erpsync_ongoing_wms.client`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from erpsync.errors import ResponseInvalid
from erpsync.models import (
    Article,
    CodeName,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    InventoryAdjustment,
    Length,
    LengthUnit,
    Order,
    OrderLine,
    PurchaseOrder,
    Receipt,
    ReceiptRow,
    StockBalance,
    Supplier,
    Weight,
    WeightUnit,
)

__all__ = [
    "COLLECTED_FROM_STATUS",
    "CUSTOMER_TYPE_NAMES",
    "STRUCTURE_KIND",
    "Json",
    "StockQuantity",
    "adjustment_event_id",
    "adjustments_of",
    "article_body",
    "balance_of",
    "delivery_event_id",
    "delivery_of",
    "event_wms_ids",
    "line_updates",
    "order_body",
    "order_id",
    "order_status",
    "purchase_order_body",
    "purchase_order_id",
    "purchase_order_status",
    "receipt_event_id",
    "receipt_of",
]

Json = dict[str, Any]
StockQuantity = Literal["sellable", "physical"]

VENDOR = "ongoing-wms"

COLLECTED_FROM_STATUS = 500
"""Order status 500 is Collected, 450 Sent: https://docs.ongoingwarehouse.com/manuals/statuses
("A finished order will generally have status 450 or 500"). A delivered status at or above
500 is reported as collected, one below as sent."""

STRUCTURE_KIND = "Structure"
"""``PostArticleStructureKind`` is ``Structure`` or ``Production``. Netvisor's sub products
are a kit picked as its parts, which is a structure article, not one produced in the
warehouse (choice: the seeds do not say)."""

CUSTOMER_TYPE_NAMES = {"B2B": "Business to business", "B2C": "Business to consumer"}
"""Order types by code; the example order sends ``{"code": "B2B", "name": "Business to
Business"}`` (v1/Order/... with many additional fields). Fortnox's integration uses (and
creates) order types B2B and B2C (seed 002)."""


# --- canonical -> request bodies ---------------------------------------------------------------


def article_body(article: Article, *, goods_owner_id: int, length_unit: LengthUnit) -> Json:
    """The ``PUT /articles`` body of ``article`` (upsert by article number).

    Lengths are sent in ``length_unit`` and weights in kilograms, converted with
    :meth:`Length.to` / :meth:`Weight.to`, exactly; the example request sends ``weight``,
    ``length``, ``width``, ``height`` and prices beside the article
    (v1/Article/Create or update article (PUT request) - with many additional fields).
    """
    dims = article.dimensions
    group = article.group
    supplier = article.supplier
    return _clean({
        "goodsOwnerId": goods_owner_id,
        "articleNumber": article.article_number,
        "articleName": article.name,
        # Seed 000 puts "the Netvisor key of the product" in the order line's product code;
        # PostOrderLine has no product code, the WMS shows the article's, so it goes here.
        "productCode": article.erp_key,
        "description": article.description,
        "isStockArticle": article.is_stock_article,
        "isActive": article.is_active,
        "unitCode": article.unit,
        "barCodeInfo": {"barCode": article.barcode},
        "length": _length(dims.length, length_unit),
        "width": _length(dims.width, length_unit),
        "height": _length(dims.height, length_unit),
        "weight": _kilograms(article.gross_weight),
        "netWeight": _kilograms(article.net_weight),
        "purchasePrice": article.purchase_price,
        "customerPrice": article.sales_price,
        "purcaseCurrencyCode": article.currency,  # sic: the API's spelling
        "statisticsNumber": article.statistics_number,
        "countryOfOriginCode": article.country_of_origin,
        "articleGroup": {"code": group.code, "name": group.name} if group else None,
        "supplierInfo": (
            {"supplierNumber": supplier.supplier_number, "supplierName": supplier.name}
            if supplier else None
        ),
        "structureDefinition": (
            {
                "articleKind": STRUCTURE_KIND,
                "rows": [
                    {"articleNumber": part.article_number, "numberOfItems": part.quantity}
                    for part in article.structure
                ],
            }
            if article.structure else None
        ),
    })


def order_body(order: Order, *, goods_owner_id: int, today: date) -> Json:
    """The ``PUT /orders`` body of ``order`` (upsert by order number).

    ``today`` stands in for a missing delivery date (the API requires one; seed 001:
    "DeliveryDate (if set, else current date)"). Dates are sent as ``YYYY-MM-DD``, as the
    example order does (v1/Order/Create or update an order (PUT request) ...).
    """
    customer = order.customer
    address = customer.address
    sms_number = customer.mobile or customer.phone
    has_customs = any(line.customs_value is not None for line in order.lines)
    customs_currency = order.currency or next(
        (line.currency for line in order.lines if line.currency), None)
    return _clean({
        "goodsOwnerId": goods_owner_id,
        "orderNumber": order.order_number,
        "goodsOwnerOrderId": order.erp_key,
        "deliveryDate": (order.delivery_date or today).isoformat(),
        "referenceNumber": order.reference,
        "consigneeOrderNumber": order.customer_reference or order.customer_order_number,
        "customerPrice": order.total_price,
        "orderRemark": order.comment,
        "freeText1": order.free_text,
        "productionCode": order.production_code,
        "languageCode": order.language,
        "termsOfDeliveryType": _code_name(order.terms_of_delivery),
        "wayOfDelivery": _code_name(order.way_of_delivery),
        "orderType": (
            {"code": order.order_type.value, "name": CUSTOMER_TYPE_NAMES[order.order_type.value]}
            if order.order_type else None
        ),
        # PostOrderModel's notifications are {toBeNotified, value}: sent as the order says,
        # also when false, so an order that must not notify never does.
        "emailNotification": {"toBeNotified": order.notify_by_email, "value": customer.email},
        "smsNotification": {"toBeNotified": order.notify_by_sms, "value": sms_number},
        "telephoneNotification": {"toBeNotified": False,
                                  "value": customer.phone or customer.phone2},
        "consignee": {
            "customerNumber": customer.customer_number,
            "name": address.name or customer.name,
            "address1": address.address1,
            "address2": address.address2,
            "postCode": address.post_code,
            "city": address.city,
            "countryCode": address.country_code,
            "organisationNumber": customer.organisation_number,
            "advanced": {
                "externalCustomerCode": customer.erp_key,
                "emailNotification": {"toBeNotified": order.notify_by_email,
                                      "value": customer.email},
                "smsNotification": {"toBeNotified": order.notify_by_sms, "value": sms_number},
                "telephoneNotification": {"toBeNotified": False,
                                          "value": customer.phone2 or customer.phone},
            },
        },
        "customsInfo": (
            {"customsValueCurrencyCode": customs_currency} if has_customs else None
        ),
        "orderLines": [_order_line(line, order.currency) for line in order.lines],
        "advanced": {
            "termsOfPaymentString": _text_of(order.terms_of_payment),
            "orderTextLines": [
                {"rowNumber": text.external_line_key, "comment": text.text,
                 "numberOfItems": Decimal(1)}
                for text in order.text_lines
            ] or None,
        },
    })


def _order_line(line: OrderLine, order_currency: str | None) -> Json:
    line_price = line.line_price
    if line_price is None and line.unit_price is not None:
        line_price = line.unit_price * line.quantity  # seed 001: "Qty * UnitPrice"
    return _clean({
        "rowNumber": line.external_line_key,
        "articleNumber": line.article_number,
        "numberOfItems": line.quantity,
        "externalId": line.external_line_key,
        "comment": line.comment,
        "lineTotalCustomsValue": line.customs_value,
        "prices": {
            "linePrice": line_price,
            "customerLinePrice": line.customer_line_price,
            "discountPercentage": line.discount_percent,
            "currencyCode": line.currency or order_currency,
        },
        "vat": {"percent": line.vat_percent},
    })


def purchase_order_body(purchase_order: PurchaseOrder, *, goods_owner_id: int) -> Json:
    """The ``PUT /purchaseOrders`` body of ``purchase_order`` (upsert by its number).

    Shaped like the example (v1/Purchase order/Create or update an order (PUT request) - with
    many additional fields), with ``externalOrderLineId`` and ``rowPrice`` from
    ``PostPurchaseOrderLine``.
    """
    return _clean({
        "goodsOwnerId": goods_owner_id,
        "purchaseOrderNumber": purchase_order.order_number,
        "goodsOwnerReference": purchase_order.reference,
        "purchaseOrderRemark": purchase_order.comment,
        "inDate": _iso(purchase_order.delivery_date),
        "advanced": {"orderDate": _iso(purchase_order.order_date)},
        "supplierInfo": _supplier_info(purchase_order.supplier),
        "purchaseOrderLines": [
            {
                # Seed 000: "Inorder line => Row number <= Purchase order line => Netvisor
                # key": the row's identity is the ERP's key, kept also in
                # externalOrderLineId, and read back from there.
                "rowNumber": row.row_key,
                "externalOrderLineId": row.row_key,
                "articleNumber": row.article_number,
                "numberOfItems": row.quantity,
                "rowPrice": row.price,
                "currencyCode": (row.currency or purchase_order.currency)
                if row.price is not None else None,
            }
            for row in purchase_order.rows
        ],
    })


def _supplier_info(supplier: Supplier | None) -> Json | None:
    if supplier is None:
        return None
    address = supplier.address
    return {
        "supplierNumber": supplier.supplier_number,
        "supplierName": supplier.name,
        # PostPurchaseOrderSupplierInfoSupplierAddress: "address", not "address1".
        "supplierAddress": {
            "name": address.name or supplier.name,
            "address": address.address1,
            "address2": address.address2,
            "postCode": address.post_code,
            "city": address.city,
            "countryCode": address.country_code,
            "telePhone": supplier.phone,
            "email": supplier.email,
        },
    }


def _length(length: Length | None, unit: LengthUnit) -> Decimal | None:
    return None if length is None else length.to(unit).value


def _kilograms(weight: Weight | None) -> Decimal | None:
    return None if weight is None else weight.to(WeightUnit.KILOGRAM).value


def _code_name(value: CodeName | None) -> Json | None:
    return None if value is None else {"code": value.code, "name": value.name}


def _text_of(value: CodeName | None) -> str | None:
    return None if value is None else value.name or value.code


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _clean(body: Mapping[str, Any]) -> Json:
    """``body`` without the fields that have no value (and objects left empty by that).

    A field left out is not changed by Ongoing's upsert; ``False`` and ``0`` are values.
    """
    cleaned: Json = {}
    for key, value in body.items():
        if isinstance(value, Mapping):
            nested = _clean(value)
            if not nested:
                continue
            value = nested
        elif isinstance(value, list):
            value = [_clean(item) if isinstance(item, Mapping) else item for item in value]
        if value is None or value == "":
            continue
        cleaned[key] = value
    return cleaned


# --- reading Ongoing's answers -----------------------------------------------------------------


def order_id(order: Json) -> int:
    """``orderInfo.orderId`` of a ``GetOrderModel``."""
    return _int(_object(order.get("orderInfo"), "order"), "orderId", "order")


def order_status(order: Json) -> tuple[int, str]:
    """``orderInfo.orderStatus`` as (number, the WMS's localised text)."""
    info = _object(order.get("orderInfo"), "order")
    return _status(info.get("orderStatus"), "order")


def purchase_order_id(purchase_order: Json) -> int:
    """``purchaseOrderInfo.purchaseOrderId`` of a ``GetPurchaseOrderModel``."""
    info = _object(purchase_order.get("purchaseOrderInfo"), "purchase order")
    return _int(info, "purchaseOrderId", "purchase order")


def purchase_order_status(purchase_order: Json) -> tuple[int, str]:
    """``purchaseOrderInfo.purchaseOrderStatus`` as (number, localised text)."""
    info = _object(purchase_order.get("purchaseOrderInfo"), "purchase order")
    return _status(info.get("purchaseOrderStatus"), "purchase order")


def _status(value: Any, what: str) -> tuple[int, str]:
    status = _object(value, f"{what} status")
    number = _int(status, "number", f"{what} status")
    text = status.get("text")
    return number, text if isinstance(text, str) and text else str(number)


def delivery_event_id(wms_order_id: int, picked: Iterable[tuple[int, Decimal]]) -> str:
    """The id of the delivery of the order whose lines (by WMS line id) are picked so far."""
    return f"ongoing:order:{wms_order_id}:{_digest(picked)}"


def receipt_event_id(wms_purchase_order_id: int, received: Iterable[tuple[int, Decimal]],
                     complete: bool) -> str:
    """The id of the receipt of the purchase order whose lines are received so far."""
    return f"ongoing:purchase-order:{wms_purchase_order_id}:{_digest(received, complete)}"


def adjustment_event_id(inventory_id: int, article_system_id: int) -> str:
    """The id of an inventory adjustment: what ``setReported`` marks is one article of one
    inventory (``PATCH /inventoryAdjustments/{inventoryId}/articles/{articleSystemId}/
    setReported``), so that is one event."""
    return f"ongoing:inventory:{inventory_id}:article:{article_system_id}"


def event_wms_ids(event_id: str) -> tuple[str, int, int | None]:
    """The kind and WMS ids in an event id made by this module.

    ``("order", orderId, None)``, ``("purchase-order", purchaseOrderId, None)`` or
    ``("inventory", inventoryId, articleSystemId)``.

    Raises:
        ValueError: ``event_id`` was not made by this module.
    """
    parts = event_id.split(":")
    try:
        if len(parts) == 4 and parts[0] == "ongoing" and parts[1] in ("order", "purchase-order"):
            return parts[1], int(parts[2]), None
        if len(parts) == 5 and parts[:2] == ["ongoing", "inventory"] and parts[3] == "article":
            return "inventory", int(parts[2]), int(parts[4])
    except ValueError:
        pass
    raise ValueError(f"{event_id!r} is not an Ongoing WMS event id")


def _digest(quantities: Iterable[tuple[int, Decimal]], *extra: object) -> str:
    parts = [f"{key}={_canonical(quantity)}" for key, quantity in sorted(quantities)]
    parts += [str(value) for value in extra]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _canonical(quantity: Decimal) -> str:
    # 2, 2.0 and 2.000 are one quantity: the id must not change with the JSON's spelling.
    return format(quantity.normalize(), "f") if quantity else "0"


def delivery_of(order: Json, *, delivered_statuses: frozenset[int], now: datetime
                ) -> Delivery | None:
    """The picked but unreported part of a ``GetOrderModel`` as one delivery, or None.

    Reported number of items (https://developer.ongoingwarehouse.com/reported-number-of-items):
    each order line carries ``pickedNumberOfItems`` and ``reportedNumberOfItems``, the
    quantity the integration has confirmed; the lines where picked exceeds reported are this
    delivery, ``picked - reported`` each (``total_delivered_quantity`` is ``picked``). The
    order counts only in a delivered status (by number: the localised text varies,
    https://docs.ongoingwarehouse.com/manuals/statuses). ``complete`` is true when every line
    to be picked is picked in full; a line with ``shouldBePicked`` false (a non-stock
    article, seed 002: "it will not be picked") does not hold the order open.
    """
    info = _object(order.get("orderInfo"), "order")
    number, _status_text = order_status(order)
    if number not in delivered_statuses:
        return None
    wms_id = order_id(order)
    order_number = _key(info, "orderNumber", f"order {wms_id}")
    where = f"order {order_number}"
    lines = [_object(line, where) for line in _list(order.get("orderLines"), where)]
    pending: list[DeliveryLine] = []
    picked_by_id: list[tuple[int, Decimal]] = []
    complete = True
    latest_pick: datetime | None = None
    for line in lines:
        picked = _decimal(line, "pickedNumberOfItems", where)
        reported = _decimal(line, "reportedNumberOfItems", where)
        ordered = _decimal(line, "orderedNumberOfItems", where)
        picked_by_id.append((_int(line, "id", where), picked))
        if line.get("shouldBePicked") is not False and picked < ordered:
            complete = False
        for item in _list(line.get("pickedArticleItems"), where, optional=True):
            picked_at = _time(_object(item, where), "pickedTime", where)
            if picked_at is not None and (latest_pick is None or picked_at > latest_pick):
                latest_pick = picked_at
        if picked > reported:
            article = _object(line.get("article"), where)
            pending.append(DeliveryLine(
                external_line_key=_line_key(line, "externalId", where),
                article_number=_key(article, "articleNumber", where),
                delivered_quantity=picked - reported,
                total_delivered_quantity=picked,
                ordered_quantity=ordered,
            ))
    if not pending:
        return None
    occurred_at = (_time(info, "shippedTime", where) or latest_pick
                   or _time(info, "createdDate", where) or now)
    return Delivery(
        event_id=delivery_event_id(wms_id, picked_by_id),
        occurred_at=occurred_at,
        modified_at=occurred_at,
        order_number=order_number,
        erp_key=_text(info, "goodsOwnerOrderId"),
        status=(DeliveryStatus.COLLECTED if number >= COLLECTED_FROM_STATUS
                else DeliveryStatus.SENT),
        lines=tuple(pending),
        complete=complete,
        tracking_number=_text(info, "wayBill") or _first_waybill(order, where),
        way_of_delivery=_code_or_name(info.get("wayOfDelivery")),
    )


def receipt_of(purchase_order: Json, *, complete_statuses: frozenset[int], now: datetime,
               completion: bool = False) -> Receipt | None:
    """The received but unreported part of a ``GetPurchaseOrderModel`` as one receipt, or None.

    Rows where ``receivedNumberOfItems`` exceeds ``reportedNumberOfItems`` are the receipt
    (the same reporting back as for orders,
    https://developer.ongoingwarehouse.com/reported-number-of-items). ``complete`` when the
    status number is in ``complete_statuses`` (Deflection 400 or Received 500: seed 002 and
    ``GET /purchaseOrders/statuses`` in the vendor's examples).

    With ``completion`` a purchase order that the warehouse closed with nothing left to report
    gives a receipt of every row with nothing received in it, so the ERP still hears that it
    is complete (seed 002: the purchase order is completed in the ERP "only if ... the status
    is Deflection or Received"). Its id equals that of a receipt of the same totals that was
    already complete, so the ledger recognises one already sent.
    """
    info = _object(purchase_order.get("purchaseOrderInfo"), "purchase order")
    wms_id = purchase_order_id(purchase_order)
    number = _key(info, "purchaseOrderNumber", f"purchase order {wms_id}")
    where = f"purchase order {number}"
    status, _status_text = purchase_order_status(purchase_order)
    complete = status in complete_statuses
    lines = [_object(line, where)
             for line in _list(purchase_order.get("purchaseOrderLines"), where)]
    received_by_id: list[tuple[int, Decimal]] = []
    rows: list[ReceiptRow] = []
    all_rows: list[ReceiptRow] = []
    latest: datetime | None = None
    for line in lines:
        received = _decimal(line, "receivedNumberOfItems", where)
        reported = _decimal(line, "reportedNumberOfItems", where)
        received_by_id.append((_int(line, "id", where), received))
        for item in _list(line.get("articleItems"), where, optional=True):
            received_at = _time(_object(item, where), "inDate", where)
            if received_at is not None and (latest is None or received_at > latest):
                latest = received_at
        article = _object(line.get("article"), where)
        row_key = _line_key(line, "externalOrderLineId", where)
        article_number = _key(article, "articleNumber", where)
        advised = _decimal(line, "advisedNumberOfItems", where)
        if received > reported:
            rows.append(ReceiptRow(
                row_key=row_key, article_number=article_number,
                received_quantity=received - reported, total_received_quantity=received,
                ordered_quantity=advised,
            ))
        all_rows.append(ReceiptRow(
            row_key=row_key, article_number=article_number, received_quantity=Decimal(0),
            total_received_quantity=received, ordered_quantity=advised,
        ))
    if not rows:
        if not (completion and complete and all_rows):
            return None
        rows = all_rows
    occurred_at = latest or _time(info, "createdDate", where) or now
    return Receipt(
        event_id=receipt_event_id(wms_id, received_by_id, complete),
        occurred_at=occurred_at,
        modified_at=occurred_at,
        purchase_order_number=number,
        rows=tuple(rows),
        complete=complete,
    )


def adjustments_of(lines: Sequence[Any], *, since: datetime | None = None
                   ) -> list[InventoryAdjustment]:
    """The adjustments in a ``GET /inventoryAdjustments`` answer, oldest first.

    The answer is a list of ``{article, inventoryAdjustments: [...]}`` (v1/Inventory
    adjustments/GET inventory adjustments - response.js). One event per inventory and
    article, the unit ``setReported`` marks: its ``numberOfItems`` summed (signed, as the WMS
    gives it: positive into stock), its latest ``inventoryTime``, the cause
    (``inventoryAdjustmentCause``, else the inventory comment) and the warehouse. A sum of
    zero changes nothing and is left out (the canonical model refuses it). With ``since``,
    only events at or after it.
    """
    grouped: dict[tuple[int, int], list[tuple[str, Json]]] = {}
    for entry in lines:
        line = _object(entry, "inventory adjustments")
        article = _object(line.get("article"), "inventory adjustment")
        article_id = _int(article, "articleSystemId", "inventory adjustment")
        article_number = _key(article, "articleNumber", f"article {article_id}")
        where = f"inventory adjustment of article {article_number}"
        for item in _list(line.get("inventoryAdjustments"), where):
            adjustment = _object(item, where)
            key = (_int(adjustment, "inventoryId", where), article_id)
            grouped.setdefault(key, []).append((article_number, adjustment))
    events: list[InventoryAdjustment] = []
    for (inventory_id, article_id), items in grouped.items():
        where = f"inventory {inventory_id}"
        quantity = sum((_decimal(a, "numberOfItems", where) for _, a in items), Decimal(0))
        times = [t for _, a in items if (t := _time(a, "inventoryTime", where)) is not None]
        if quantity == 0 or not times:
            continue
        occurred_at = max(times)
        if since is not None and occurred_at < since:
            continue
        first = items[0][1]
        events.append(InventoryAdjustment(
            event_id=adjustment_event_id(inventory_id, article_id),
            occurred_at=occurred_at,
            modified_at=occurred_at,
            article_number=items[0][0],
            quantity=quantity,
            cause=(_code_or_name(first.get("inventoryAdjustmentCause"), prefer="name")
                   or _text(first, "inventoryItemComment") or _text(first, "articleItemComment")),
            warehouse=_code_or_name(first.get("warehouse")),
        ))
    events.sort(key=lambda event: (event.occurred_at, event.event_id))
    return events


def balance_of(article: Json, *, quantity: StockQuantity, as_of: datetime
               ) -> StockBalance | None:
    """The stock balance of a ``GetArticleModel``, or None for an article kept without stock.

    Stock balances and inventory (https://developer.ongoingwarehouse.com/inventory):
    ``sellableNumberOfItems`` is what can still be sold (it may be negative) and
    ``numberOfItems`` what is physically in the warehouse. An answer without
    ``sellableNumberOfItems`` (the older example in v1/Article/Get an article) gives sellable
    as ``numberOfItems - numberOfBookedItems``, the page's basic formula.
    """
    number = _key(article, "articleNumber", "article")
    if article.get("isStockArticle") is False:
        return None
    where = f"article {number}"
    info = _object(article.get("inventoryInfo"), where)
    physical = _decimal(info, "numberOfItems", where)
    if quantity == "physical":
        value = physical
    elif info.get("sellableNumberOfItems") is not None:
        value = _decimal(info, "sellableNumberOfItems", where)
    else:
        value = physical - _decimal(info, "numberOfBookedItems", where)
    return StockBalance(article_number=number, quantity=value, as_of=as_of)


def line_updates(wms_object: Json, lines_key: str, id_key: str,
                 totals: Mapping[str, Decimal], *, where: str
                 ) -> tuple[list[tuple[int, Decimal]], list[str]]:
    """What marks ``totals`` reported: (WMS line id, new reported quantity) pairs, and the
    keys of ``totals`` that are no longer on the order.

    ``totals`` maps the ERP's line key (order lines: ``externalId``; purchase order lines:
    ``externalOrderLineId``; else ``rowNumber``) to the cumulative quantity the ERP now has.
    A line already reported at or above its total is left alone: marking never lowers
    ``reportedNumberOfItems``, so it is safe to repeat. A line removed from the order cannot
    come back as unreported, so there is nothing to mark on it.
    """
    by_key: dict[str, Json] = {}
    for item in _list(wms_object.get(lines_key), where):
        line = _object(item, where)
        by_key[_line_key(line, id_key, where)] = line
    updates: list[tuple[int, Decimal]] = []
    missing: list[str] = []
    for key, total in totals.items():
        found = by_key.get(key)
        if found is None:
            missing.append(key)
        elif _decimal(found, "reportedNumberOfItems", where) < total:
            updates.append((_int(found, "id", where), total))
    return updates, missing


def _first_waybill(order: Json, where: str) -> str | None:
    for item in _list(order.get("tracking"), where, optional=True):
        waybill = _text(_object(item, where), "waybill")
        if waybill:
            return waybill
    return None


def _line_key(line: Json, field: str, where: str) -> str:
    """The ERP's key of a WMS line: ``field``, else the row number we set to the same key."""
    key = _text(line, field) or _text(line, "rowNumber")
    if key:
        return key
    return str(_int(line, "id", where))


def _code_or_name(value: Any, prefer: Literal["code", "name"] = "code") -> str | None:
    if not isinstance(value, Mapping):
        return None
    code, name = _text(value, "code"), _text(value, "name")
    return (code or name) if prefer == "code" else (name or code)


# --- reading values safely (vendor answers are untrusted input) ---------------------------------


def _invalid(where: str, problem: str) -> ResponseInvalid:
    return ResponseInvalid(f"{VENDOR}: {where}: {problem}", maybe_sent=False)


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise _invalid(where, f"expected a JSON object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise _invalid(where, f"expected a JSON list, got {type(value).__name__}")
    return value


def _text(obj: Mapping[str, Any], field: str) -> str | None:
    value = obj.get(field)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _key(obj: Mapping[str, Any], field: str, where: str) -> str:
    value = _text(obj, field)
    if value is None:
        raise _invalid(where, f"{field} is missing")
    return value


def _int(obj: Mapping[str, Any], field: str, where: str) -> int:
    value = obj.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(where, f"{field} is not an integer: {value!r}")
    return value


def _decimal(obj: Mapping[str, Any], field: str, where: str) -> Decimal:
    """A quantity; absent or null is 0 (``reportedNumberOfItems`` is null until reported)."""
    value = obj.get(field)
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise _invalid(where, f"{field} is not a number: {value!r}")
    if isinstance(value, float):
        # Only when the JSON was read without Decimal: repr is the shortest exact spelling.
        value = repr(value)
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise _invalid(where, f"{field} is not a number: {value!r}") from None
    if not number.is_finite():
        raise _invalid(where, f"{field} is not a finite number: {value!r}")
    return number


def _time(obj: Mapping[str, Any], field: str, where: str) -> datetime | None:
    """A time of the answer; one without an offset is read as UTC (the examples send ``Z``)."""
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(where, f"{field} is not a time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(where, f"{field} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

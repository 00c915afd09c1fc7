"""A faithful local simulator of Fortnox: its OAuth server, REST API v3 and the warehouse module.

:class:`FortnoxSandbox` is a starlette ASGI app (:attr:`FortnoxSandbox.app`) that answers as
``https://apps.fortnox.se`` (OAuth) and ``https://api.fortnox.se`` (``/3/...`` and
``/api/warehouse/...``) do, both on one origin (:attr:`FortnoxSandbox.base_url`). Around it a
control surface in plain Python plays the Fortnox user (articles, suppliers, customers, orders,
purchase orders, the warehouse module, consent, revoking the integration, the clock, faults)
and reads back what a client wrote. It implements :class:`erpsync.conformance.ErpSandbox`::

    sandbox = FortnoxSandbox(warehouse_module=True)
    sandbox.add_article("KAFFE-1", "Kaffe 500 g", quantity=Decimal(12))
    with erpsync.http.mount(sandbox.base_url, sandbox.app):
        ...                                        # the plugin talks to the simulator
    sandbox.stock_level("KAFFE-1")                 # Decimal("12")

Nothing here imports the plugin.

Sources (public; each rule in the code cites its source by the tag in brackets)
-------------------------------------------------------------------------------

- [AUTH] https://www.fortnox.se/developer/authorization (and .../get-authorization-code):
  ``GET https://apps.fortnox.se/oauth-v1/auth`` with client_id, redirect_uri, scope
  (space separated), state, access_type, response_type=code, account_type=service; the
  redirect carries ``code`` and ``state``.
- [TOKEN] https://www.fortnox.se/developer/authorization/get-access-token and [REFRESH]
  .../get-refresh-token: ``POST /oauth-v1/token``, ``Authorization: Basic
  base64(ClientId:ClientSecret)``, form ``grant_type=authorization_code&code=&redirect_uri=``
  or ``grant_type=refresh_token&refresh_token=``; the answer ``{"access_token",
  "refresh_token", "scope", "expires_in": 3600, "token_type": "bearer"}``.
- [CLIENTCRED] https://www.fortnox.se/developer/authorization/get-access-token-using-client-
  credentials and the blog "Say goodbye to refresh tokens": ``grant_type=client_credentials``
  with the ``TenantId`` header, after a consent with ``account_type=service``; no refresh
  token; the tenant id is also ``DatabaseNumber`` of ``/3/companyinformation`` and a claim of
  the access token (a JWT).
- [FAQ] https://www.fortnox.se/developer/faq (and developer.fortnox.se/general/faq-...):
  Authorization-Code "Expiration time: 10 minutes", Access-Token 1 hour; "Error: Invalid refresh
  token - Either you have already used the refresh token or it has expired"; "Auth code or
  ClientID supplied is invalid"; "Client does not allow service account".
- [SCOPES] https://www.fortnox.se/developer/guides-and-good-to-know/scopes: article, supplier,
  customer, order, invoice, companyinformation ("All scopes gives both read and write").
- [RATE] https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api:
  "300 requests per minute per client-id and tenant ... a sliding window algorithm with a period
  of 5 seconds, so the actual limit is 25 requests per 5 seconds"; over it HTTP 429.
- [PARAMS] https://www.fortnox.se/developer/guides-and-good-to-know/parameters: "only one
  resource specific filter can be used at a time", combinable with ``lastmodified``
  (``2019-03-10 12:30``); parameters are lower case; ``limit``/``page`` paging.
- [FORMATS] .../formats-and-encoding: dates ``2014-12-01``, date-times ``2014-12-01 09:30:00``.
- [RESPONSES] .../responses and [ERRORS] .../errors: ``{"ErrorInformation": {"error": 1,
  "message": "Kan inte hitta kontot.", "code": 2000423}}``; codes 2000310 "Ogiltig inloggning",
  2000311, 2000588 "Ogiltig parameter i anropet.", 2001392, 2002115, 1000031, 2001399.
  A public client's test suite records the live answer to a read without permission with the
  other casing: ``{"ErrorInformation":{"Error":1,"Message":"Saknar behörighet för
  leverantörsregister.","Code":2003275}}``.
- [APIDOCS] https://api.fortnox.se/apidocs (= apps.fortnox.se/apidocs), the OpenAPI
  documentation: Articles, Suppliers, Customers, Orders (createinvoice, warehouseready),
  Invoices, CompanyInformation, and the warehouse tags listed in the table below.
- [WAREHOUSE] https://developer.fortnox.se/documentation/resources/warehouse/ (Fortnox Lager):
  activating it transfers the item register's stock balances to the warehouse application;
  "WarehouseReady" locks a document; stock moves only through documents.
- [WAREHOUSE-FIELDS] https://www.fortnox.se/developer/guides-and-good-to-know/warehouse-
  resource-specific-fields: Order ``DeliveryState`` registration | reservation | delivery,
  ``DeliveredQuantity`` "can only be modified when the document is in the delivery state",
  ``warehouseready`` needs DeliveryState delivery, ``WarehouseReady``, ``OutboundDate``.
- [RESTORDER] https://support.fortnox.se/hc/sv/articles/208331265-Skapa-restorder: invoicing an
  order that is only partly delivered invoices the delivered quantity; the rest becomes a back
  order (restorder) linked to the original.
- [INKOMMANDE] https://support.fortnox.se/hc/sv/articles/360005846119-Inkommande-gods: incoming
  goods are created for purchase orders; more than expected goes on a separate row.
- [NEGATIVE] https://automatiseramera.se/faq (an integrator's FAQ): with the warehouse module,
  an order or invoice row gets DeliveredQuantity 0, whatever was sent, for an article whose
  stock is 0 or less, unless negative stock is allowed.
- [seed 002] the Ongoing WMS - Fortnox integration description (shared/seeds).

Served (method, path; scope)
----------------------------

OAuth (C2 - C5): ``GET /oauth-v1/auth``, ``POST /oauth-v1/token``, ``POST /oauth-v1/revoke``.

/3 (bodies wrapped in the resource key, ``{"Article": {...}}``; lists in the plural with
``MetaInformation`` {"@TotalResources", "@TotalPages", "@CurrentPage"}):

- ``GET /3/articles`` (lastmodified; filter=active|inactive or one of articlenumber,
  description, ean, suppliernumber, manufacturer, manufacturerarticlenumber, webshop),
  ``GET/PUT /3/articles/{ArticleNumber}``; article
- ``GET /3/suppliers`` (lastmodified; filter=active|inactive or one of city, email, name,
  organisationnumber, phone1, suppliernumber, zipcode), ``GET /3/suppliers/{n}``; supplier
- ``GET /3/customers/{n}`` (``Type`` PRIVATE | COMPANY); customer
- ``GET /3/orders`` (lastmodified, fromdate, todate; filter=cancelled|expired|invoicecreated|
  invoicenotcreated or one of customername, customernumber, documentnumber,
  externalinvoicereference1/2, ourreference, yourreference, yourordernumber),
  ``GET/PUT /3/orders/{n}``; order. ``PUT /3/orders/{n}/createinvoice``: order + invoice;
  ``PUT /3/orders/{n}/warehouseready``: order (module on)
- ``GET /3/invoices`` (lastmodified; one of customernumber, documentnumber,
  externalinvoicereference1/2), ``GET /3/invoices/{n}`` (``OrderReference``); invoice
- ``GET /3/companyinformation`` (``DatabaseNumber`` = tenant id); companyinformation

Warehouse module endpoints (``/api/warehouse/...``, same host and bearer token as ``/3``)
---------------------------------------------------------------------------------------

Source for every row: [APIDOCS], tags warehouse_CustomInboundDocument,
warehouse_CustomOutboundDocument, warehouse_IncomingGoods, warehouse_PurchaseOrder,
warehouse_StockStatus, warehouse_Tenant. JSON keys are camelCase and the bodies are NOT wrapped
in a resource key (unlike ``/3``); lists are bare JSON arrays; numbers are JSON numbers. Errors
of this API are the "WebException" body ``{"error": "...", "id": "...", "message": "..."}``.
Scope ``warehouse`` for all but tenants-v4 (C6).

Each entry: method and path; the request body's keys (required ones in ``quotes``); the answer;
the docs' anchor under https://api.fortnox.se/apidocs.

- ``GET /api/warehouse/tenants-v4``: 200 ``{"activated": bool, "tenantId": int}``
  (#tag/warehouse_Tenant/operation/getTenant).
- ``PUT /api/warehouse/documentdeliveries/custom/inbound-v1/{type}/{id}``: save a
  CustomInboundDocument; body ``date`` (YYYY-MM-DD), ``rows`` [{``itemId``, ``quantity``,
  ``rowId`` (1..), itemDescription, itemUnit, directCost, freightCost, otherCost, batch,
  stockPointCode, stockPointId, stockLocationCode, stockLocationId, costCenterCode,
  projectId}], id, type, note (<= 1000), currency {currency, rate, unit}, voided,
  warehouseReady; 200 the stored document, same keys (operation/save).
- ``GET .../custom/inbound-v1/{type}/{id}``: 200 the CustomInboundDocument (operation/get_12).
- ``PUT .../custom/inbound-v1/{type}/{id}/release``: no body; 204. "The document will be
  locked and bookkept. The inbound deliveries will affect available stock." (release_4)
- ``PUT .../custom/inbound-v1/{type}/{id}/void[?force=bool]``: 204 (voidDocument_2).
- ``PUT /api/warehouse/documentdeliveries/custom/outbound-v1/{type}/{id}``: save a
  CustomOutboundDocument; body ``date``, ``deliveryState`` ("registration" | "reservation" |
  "delivery"), ``rows`` [{``itemId``, ``quantity``, ``rowId``, deliveredQuantity,
  reservedQuantity, forcedQuantity, itemDescription, itemUnit, stockPointId, stockLocationId,
  costCenterCode, projectId}], id, referenceType, note, forcedDelivery, voided,
  warehouseReady, averageCosts; 200 the stored document (operation/save_1).
- ``GET .../custom/outbound-v1/{type}/{id}``; ``PUT .../outbound-v1/{type}/{id}/release``
  (204); ``PUT .../outbound-v1/{type}/{id}/void[?force=bool]`` (204).
- ``GET /api/warehouse/purchaseorders-v1?state=SENT&purchaseType=WAREHOUSE`` (also q,
  supplierNumber, itemId, internalReference, note; state one of NOT_SENT SENT
  SENT_NOT_REJECTED DELAYED RECEIVED VOIDED CURRENT ALL; no lastmodified, C21): 200 a bare
  array of PurchaseOrder (operation/getAll_9).
- ``GET /api/warehouse/purchaseorders-v1/{id}``: 200 PurchaseOrder: id, supplierNumber,
  supplierName, supplierAddress, supplierAddress2, supplierPostCode, supplierCity,
  supplierCountryCode, deliveryDate, orderDate, note, currencyCode, purchaseOrderState,
  purchaseType, manuallyCompleted, voided, totalReceivedQuantity, rows [{id (a uuid),
  rowNum, itemId, itemDescription, itemUnit, orderedQuantity, receivedQuantity,
  remainingOrderedQuantity, backOrderQuantity, price, currencyCode, isStockItem,
  purchaseOrderId}] and the other keys of the docs' sample. The row number is ``rowNum``
  (not rowNo); a row's key for incoming goods is its ``id`` (operation/1_get_17).
- ``PUT /api/warehouse/purchaseorders-v1/{id}/complete``: no body; 204. "Manually complete
  Purchase Order ... treated as fully received. Any remaining quantity will be ignored."
  (operation/setManuallyCompleted)
- ``POST /api/warehouse/incominggoods-v1``: body IncomingGoods: ``deliveryNoteId`` (1..50
  characters), date, supplierNumber, supplierName, note (<= 1000), rows [{``itemId``,
  ``receivedQuantity``, ``orderedQuantity``, ``backOrderQuantity``, ``invoicedQuantity``,
  ``takenQuantity`` (these six required), purchaseOrderId, purchaseOrderRowId (the uuid
  ``id`` of the purchase-order row), itemDescription, itemUnit, rowOrder, stockPointCode,
  ...}]; 201 the created document with its ``id`` (int) and each row's ``id`` (a uuid), and
  ``Location`` (C11) (operation/1_create_9).
- ``GET /api/warehouse/incominggoods-v1/{id}``: 200 IncomingGoods (operation/get_15).
- ``PUT /api/warehouse/incominggoods-v1/{id}/release``: no body; 204; "locked and bookkept;
  the inbound deliveries will affect available stock" (operation/release_6).
- ``PUT /api/warehouse/incominggoods-v1/{id}/completed``: body a JSON string, the bookkeeping
  date ``"YYYY-MM-DD"``, which "must be between document's release date (inclusive) and
  today's date (inclusive)"; 204 (operation/completed).
- ``PUT /api/warehouse/incominggoods-v1/{id}/void``: 204; not once completed (voidDocument_4).
- ``GET /api/warehouse/incominggoods-v1`` (released, completed, voided, supplierNumber, itemId,
  note, deliveryNote, q; the texts match "contains", case-insensitive): 200 a bare array of
  IncomingGoods heads without rows (operation/getAll_7).
- ``GET /api/warehouse/status-v1/stockbalance[?itemIds=a,b&stockPointCodes=...]``: 200 a bare
  array [{"itemId", "stockPointCode", "availableStock", "inStock"}] (getStockBalance).

How a client reports to these (what the simulator checks; the order matters):

- Fulfilment, classic: ``PUT /3/orders/{n}`` with every row (DeliveredQuantity set), then
  ``PUT /3/orders/{n}/createinvoice`` unless ``InvoiceReference`` is set already.
- Fulfilment, warehouse module: ``PUT /3/orders/{n}`` with ``"DeliveryState": "delivery"`` and
  the rows (one request may carry both), then ``PUT .../warehouseready`` (it locks the rows),
  then ``createinvoice``. An invoiced order is locked: warehouseready after createinvoice is
  refused (C17, C19).
- Receipt: ``POST incominggoods-v1`` (rows with purchaseOrderId and purchaseOrderRowId), then
  ``.../release``, ``.../completed`` with today's date, and ``purchaseorders-v1/{id}/complete``
  only when the warehouse marked the purchase order complete. The event id fits in
  ``deliveryNoteId`` (<= 50 characters) or ``note``, and the list's ``deliveryNote``/``note``
  filters find it again.
- Adjustments and returns: ``PUT custom/inbound-v1/OngoingInboundInventory/{id}`` (or
  OngoingInboundReturn, OngoingInboundOrder; outbound-v1/OngoingOutboundInventory with
  ``"deliveryState": "delivery"``), then ``.../release``; ``id`` is digits only, so an event id
  must be turned into digits (and can stand in ``note``).

Choices where the documentation is silent (the strict reading; the code says "(C<n>)")
-------------------------------------------------------------------------------------

C1  Both hosts are served on :attr:`FortnoxSandbox.base_url`; :meth:`settings` gives it as
    ``base_url`` and ``auth_url``. Paths are case-sensitive as documented; anything else, or
    a documented path with another method, is 404 ``ErrorInformation`` (code 2000204).
C2  The consent endpoint accepts only redirect URIs registered for the client
    (:meth:`FortnoxSandbox.add_redirect_uri`; exact match, as OAuth 2.0 wants), never
    redirects elsewhere (400 page), needs ``response_type=code``, a ``state``, known scopes.
    ``access_type`` is offline or online; only offline consents get a refresh token for a
    service account; a user's consent always does.
C3  :attr:`FortnoxSandbox.auto_consent` plays the user: True approves at once, False denies
    (``error=access_denied`` to the redirect URI). ``account_type=service`` records the
    sysadmin's consent that the client credentials grant needs [CLIENTCRED]; the default
    client has one from the start.
C4  Token errors are RFC 6749 JSON bodies ``{"error", "error_description"}`` with
    ``Content-Type: application/json`` and ``Cache-Control: no-store``: 401 invalid_client
    (Basic missing or wrong), 400 invalid_request, unsupported_grant_type, invalid_grant
    ("Invalid refresh token" [FAQ] for an unknown, used, expired or revoked refresh token). A
    code used twice also revokes what it gave (RFC 6749 section 4.1.2). API errors are
    ``ErrorInformation`` with lower-case keys and Fortnox's codes where published; the
    missing-scope 403 uses the upper-case keys the recorded live answer has. Our own messages
    are Swedish, like Fortnox's. An API call without a bearer token is 401 code 2000311; with
    an unknown, expired or revoked one 401 code 2000310 "Ogiltig inloggning" and
    ``WWW-Authenticate: Bearer``.
C5  Refresh tokens are single use: the old one is invalid the moment the new pair is issued;
    they live :data:`REFRESH_TOKEN_LIFETIME` (45 days) unused. An access token stays valid
    until it expires even after a refresh (it is a JWT). Revoking a refresh token (``POST
    /oauth-v1/revoke``, form ``token=``, Basic auth, always 200 as RFC 7009 says) kills its
    chain: that refresh token and every access token issued along it.
    :meth:`FortnoxSandbox.revoke_integration` plays the user removing the integration.
C6  Scopes: a missing one is 403 ``{"ErrorInformation": {"Error": 1, "Message": "Saknar
    behörighet för ...", "Code": 2003275}}``. ``createinvoice`` needs order and invoice. The
    warehouse API needs ``warehouse`` (the scope table's warehouse row was not readable in
    the stored copy); ``tenants-v4`` needs only a valid token.
C7  The rate limit counts API calls per client and tenant (not per token: refreshing does not
    reset it), in a sliding window of 5 s on :attr:`FortnoxSandbox.rate_clock` (monotonic real
    time); refused calls do not count. Over it: 429, ``Retry-After`` in whole seconds and the
    gateway's ``{"message": "API rate limit exceeded"}``. OAuth calls are not counted.
C8  /3 query parameters are lower case and given once; an unknown one, a second
    resource-specific filter (``filter`` or a search field), an unknown ``filter``/``sortby``
    value is 400 code 2000588 "Ogiltig parameter i anropet." naming it. Searches match
    "contains", case-insensitive [PARAMS]. Searches the simulator does not hold data for
    (manufacturer, webshop) match nothing.
C9  Paging: ``limit`` 1..500 (else 400); without it a page holds
    :attr:`FortnoxSandbox.page_size` records (Fortnox's default is 100; the simulator's is small
    so that reads page). ``page`` from 1; a page past the last is an empty list with the
    MetaInformation. Lists are ordered by their key unless ``sortby``/``sortorder`` say
    otherwise.
C10 ``lastmodified`` is ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM`` or ``YYYY-MM-DD HH:MM:SS`` in
    Swedish local time (Europe/Stockholm) [PARAMS, FORMATS]; anything else (an ISO ``T``, an
    offset) is 400. It returns records whose last change is at or after that time (``>=``).
    The records carry no change time of their own (none is documented).
C11 Creates answer 201 with ``Location``; actions (createinvoice, warehouseready) answer 200
    with the resource; warehouse actions 204 with no body.
C12 Bodies are JSON with ``Content-Type: application/json`` (else 400 code 1000031); numbers
    may come as JSON numbers or numeric strings. Single resources give numbers as JSON numbers,
    except order row quantities; list items give their numbers as strings ("12.5").
C13 ``PUT /3/articles/{n}`` writes Active, Depth, Description, EAN, Height, Note,
    PurchasePrice, QuantityInStock, StockGoods, SupplierNumber, Unit, Weight, Width; read-only
    fields are ignored, unknown ones are 400 code 2001399 "Felaktigt fältnamn".
    QuantityInStock is for stock goods only.
C14 ``PUT /3/orders/{n}``: a cancelled or invoiced order is locked (400). ``OrderRows``, when
    given, becomes the order's rows: a row with the ``RowId`` of a current row updates that
    row (fields left out keep their value), a row without one is a new row (an unknown
    RowId, such as one from before the last update, is 400), current rows left out are
    deleted. After every update every row has a new RowId. DeliveredQuantity may not exceed
    OrderedQuantity. Text rows have no ArticleNumber.
C15 With the warehouse module on, ``QuantityInStock`` on an article is refused (400 code
    2003700): stock moves only through documents [seed 002, WAREHOUSE].
C16 With the module off, every ``/api/warehouse`` call but tenants-v4 is 403 WebException
    ``warehouse_not_activated``; ``warehouseready`` and ``DeliveryState`` are refused.
C17 Module on: orders start in DeliveryState ``reservation``; DeliveredQuantity changes only in
    state ``delivery`` (the state may be set in the same PUT) [WAREHOUSE-FIELDS].
    ``warehouseready`` needs state delivery, not cancelled, not invoiced, not already ready; it
    takes the delivered quantities out of stock and locks the rows and the state.
C18 Module on and :attr:`FortnoxSandbox.allow_negative_stock` False (the default): a
    DeliveredQuantity larger than the stock of a stock article is stored as 0 without an error
    [NEGATIVE]; an outbound custom document larger than the stock is refused at release.
C19 ``createinvoice``: refused for a cancelled or already invoiced order and for an order with
    nothing delivered; the invoice holds the delivered quantities and copies the external
    references and remarks; the order gets ``InvoiceReference`` and is locked; rows delivered
    short go to a new order (the back order, :meth:`FortnoxSandbox.back_orders`) with the
    undelivered rest [RESTORDER]. Custom documents: saving again before release replaces the
    document; after release it is ``cannot_modify_released_document``; release is once
    (``document_already_released``); voiding undoes the stock. A type of the other category,
    a forbidden type or a non-digit id is 400. Stock moves at release, inbound and outbound
    alike.
C20 Incoming goods: refused while incoming goods are off (:attr:`incoming_goods_enabled`);
    each row names a row of a SENT, WAREHOUSE purchase order with the same item; its
    receivedQuantity may not exceed what remains of that row (incoming goods not voided count,
    released or not) [INKOMMANDE]; release is once and puts the goods in stock; ``completed``
    only after release, once, with a date from the release date to today; a completed document
    cannot be voided.
C21 Purchase orders have no change time and no ``lastmodified`` filter in [APIDOCS]; a
    client can narrow by ``orderDate`` only (the simulator's seeds stamp it with the seed time's
    Swedish date). A purchase order becomes RECEIVED when released incoming goods cover every
    row, or by ``complete``; ``complete`` is accepted once (also on a purchase order its
    incoming goods already made RECEIVED, as the integration of [seed 002] completes every
    purchase order the warehouse marked complete) and refused when voided or when completed
    before.
C22 The warehouse has one stock point, ``LAGER``; available stock equals stock in hand (no
    reservations are simulated).
C23 :meth:`FortnoxSandbox.times_applied` counts what Fortnox holds for the event: invoices
    created from a delivery's order; incoming goods (not voided) with a row of a receipt's
    purchase order; custom documents (not voided) with a row of an adjustment's article. The
    events of :meth:`FortnoxSandbox.event` each use a fresh order, purchase order or article.
C24 The request log keeps method, path, query and status and the client id, never a token,
    secret or code.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpsync.http import ASGIApp
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
from erpsync.sandbox import BusinessClock, DemoCompany

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "API_URL",
    "AUTH_URL",
    "CODE_LIFETIME",
    "FORTNOX_ZONE",
    "MAX_LIMIT",
    "RATE_LIMIT",
    "RATE_WINDOW",
    "REFRESH_TOKEN_LIFETIME",
    "SCOPES",
    "FortnoxSandbox",
    "LoggedRequest",
    "OrderRow",
]

# --- the tunables of the choices above ------------------------------------------------------

API_URL = "https://api.fortnox.se"
"""The API host [APIDOCS]."""
AUTH_URL = "https://apps.fortnox.se"
"""The OAuth host [AUTH]; the simulator serves both on :attr:`FortnoxSandbox.base_url` (C1)."""
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
"""``"expires_in": 3600`` [TOKEN]."""
REFRESH_TOKEN_LIFETIME = timedelta(days=45)
"""How long an unused refresh token lives (C5)."""
CODE_LIFETIME = timedelta(minutes=10)
"""Authorization-Code "Expiration time: 10 minutes" [FAQ]."""
RATE_LIMIT = 25
"""Requests per :data:`RATE_WINDOW` per client and tenant [RATE] (C7)."""
RATE_WINDOW = 5.0
"""The sliding window of the rate limit in seconds [RATE]."""
MAX_LIMIT = 500
"""The largest ``limit`` of a list [PARAMS] (C9)."""
FORTNOX_ZONE = ZoneInfo("Europe/Stockholm")
"""The zone of ``lastmodified`` and of Fortnox's dates (C10)."""
SCOPES = ("article", "companyinformation", "customer", "invoice", "order", "supplier",
          "warehouse")
"""The scopes the simulated resources need [SCOPES] (C6)."""
STOCK_POINT = "LAGER"
"""The code of the one stock point of the warehouse module (C22)."""

_CUSTOM_ID = re.compile(r"^[0-9]{1,25}$")
_CUSTOM_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,25}$")
_LASTMODIFIED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ZERO = Decimal(0)
_FORBIDDEN_TYPES = frozenset({
    "ARTICLEPRODUCTION", "ARTIKELPRODUKTION", "CUSTOMERINVOICE", "CUSTOMERORDER",
    "DELIVERYNOTE", "FAKTURA", "FÖLJESEDEL", "INGÅENDESALDO", "INKÖP", "INKÖPSORDER",
    "INVENTERING", "INVENTORY", "INVOICE", "ITEMPRODUCTION", "KREDITFAKTURA", "KREDITORDER",
    "KUNDFAKTURA", "KUNDORDER", "LAGERFLYTT", "LEGACYINTEGRATIONIN", "LEGACYINTEGRATIONOUT",
    "LEVERANTÖRSFAKTURA", "LEVFAKTURA", "MANUALDELIVERY", "MANUALINBOUND",
    "MANUALINBOUNDDELIVERY", "MANUALOUTBOUND", "MANUALOUTBOUNDDELIVERY", "MANUELLINLEVERANS",
    "MANUELLLEVERANS", "MANUELLUTLEVERANS", "NEGATIVEOPENINGBALANCES", "NEGATIVTINGÅENDESALDO",
    "ORDER", "PLOCKLISTA", "POSITIVEOPENINGBALANCES", "PRODUCTION", "PRODUKTION", "PURCHASE",
    "PURCHASEORDER", "STOCKTAKING", "STOCKTAKINGDEVIATION", "STOCKTRANSFER", "SUPINVOICE",
    "SUPPLIERINVOICE"})
"""referenceTypes not allowed for custom documents, nor variants with dashes, underscores or
another case [APIDOCS warehouse_CustomDocumentType]."""

# Fortnox's own messages and codes [ERRORS, RESPONSES]; where none is published, ours (C4).
_INVALID_LOGIN = (2000310, "Ogiltig inloggning")
_NO_TOKEN = (2000311, "Kan inte logga in, access-token eller client-secret saknas(2).")
_BAD_PARAMETER = (2000588, "Ogiltig parameter i anropet.")
_BAD_DATA = (2001392, "Ingen eller felaktig typ av data.")
_BAD_JSON = (2002115, "Error deserializing JSON: JSON_ERROR_SYNTAX")
_NO_PERMISSION = 2003275
_NOT_FOUND = 2000204
_INVALID_VALUE = 2000108
_LOCKED = 2000722
_WAREHOUSE_RULE = 2003700


# --- what the control surface takes -----------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    """A row of an order the Fortnox user registers (:meth:`FortnoxSandbox.add_order`)."""

    article_number: str
    quantity: Decimal | int
    price: Decimal | None = None
    """None: the article's sales price."""
    description: str | None = None
    """None: the article's Description."""


class LoggedRequest(NamedTuple):
    """One call the simulator received (C24): never a token, secret or code."""

    method: str
    path: str
    query: str
    status: int
    client_id: str | None


# --- the simulated state --------------------------------------------------------------------


@dataclass
class _Article:
    number: str
    description: str
    modified: datetime
    ean: str | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    depth: Decimal | None = None
    weight: Decimal | None = None
    stock_goods: bool = True
    purchase_price: Decimal = _ZERO
    sales_price: Decimal = _ZERO
    unit: str | None = None
    note: str | None = None
    supplier_number: str | None = None
    active: bool = True
    quantity: Decimal = _ZERO
    """QuantityInStock of the item register (classic stock)."""
    stock_writes: int = 0


@dataclass
class _Supplier:
    number: str
    name: str
    modified: datetime
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country: str | None = None
    country_code: str | None = None
    phone: str | None = None
    email: str | None = None
    organisation_number: str | None = None
    active: bool = True


@dataclass
class _Customer:
    number: str
    name: str
    kind: str
    modified: datetime
    organisation_number: str | None = None
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country: str | None = None
    phone1: str | None = None
    phone2: str | None = None
    email: str | None = None


@dataclass
class _Row:
    id: int
    article: str | None
    description: str | None
    ordered: Decimal
    delivered: Decimal
    price: Decimal
    unit: str | None = None
    vat: Decimal = Decimal(25)
    discount: Decimal = _ZERO
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Order:
    number: int
    customer: _Customer
    order_date: date
    modified: datetime
    rows: list[_Row]
    fields: dict[str, Any]
    """The writable head fields as Fortnox names them (Remarks, YourOrderNumber, ...)."""
    cancelled: bool = False
    invoice: int | None = None
    warehouse_ready: bool = False
    outbound_date: date | None = None
    delivery_state: str = "reservation"
    back_order_of: int | None = None
    writes: int = 0


@dataclass
class _Invoice:
    number: int
    order: int
    customer: _Customer
    created: datetime
    rows: list[tuple[str | None, str | None, Decimal, Decimal]]
    """(article, description, delivered quantity, price)."""
    fields: dict[str, Any]


@dataclass
class _PoRow:
    id: str
    row_num: int
    item: str
    description: str
    unit: str | None
    ordered: Decimal
    price: Decimal
    received: Decimal = _ZERO


@dataclass
class _PurchaseOrder:
    id: int
    supplier: _Supplier
    order_date: date
    rows: list[_PoRow]
    currency: str = "SEK"
    delivery_date: date | None = None
    note: str | None = None
    state: str = "SENT"
    purchase_type: str = "WAREHOUSE"
    manually_completed: bool = False
    voided: bool = False
    internal_reference: str | None = None
    our_reference: str | None = None
    completions: int = 0


@dataclass
class _IncomingGoods:
    id: int
    delivery_note_id: str
    day: date
    supplier_number: str | None
    supplier_name: str | None
    note: str | None
    rows: list[dict[str, Any]]
    released: date | None = None
    completed: date | None = None
    voided: bool = False


@dataclass
class _CustomDocument:
    category: str
    type: str
    id: str
    day: date
    rows: list[dict[str, Any]]
    note: str | None
    delivery_state: str | None = None
    released: bool = False
    voided: bool = False
    saves: int = 1


@dataclass
class _Client:
    client_id: str
    secret: str
    redirect_uris: set[str]
    service_accounts: bool = True


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires: datetime
    offline: bool
    service: bool
    used: bool = False
    chains: list[str] = field(default_factory=list)


@dataclass
class _Access:
    client_id: str
    scopes: tuple[str, ...]
    expires: datetime
    chain: str | None
    label: str


@dataclass
class _Refresh:
    client_id: str
    scopes: tuple[str, ...]
    expires: datetime
    chain: str
    service: bool


@dataclass
class _Fault:
    count: int
    status: int
    body: bytes
    media_type: str
    path: str | None
    headers: dict[str, str] = field(default_factory=dict)


class _Fail(Exception):
    """An error of the /3 API: ``ErrorInformation`` (C4)."""

    def __init__(self, status: int, code: int, message: str, *, upper: bool = False,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.upper = status, code, message, upper
        self.headers = dict(headers or {})


class _WFail(Exception):
    """An error of the warehouse API: the WebException body (C4)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class _OAuthFail(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _bad(message: str, code: int = _INVALID_VALUE) -> _Fail:
    return _Fail(400, code, message)


def _parameter(name: str) -> _Fail:
    return _Fail(400, _BAD_PARAMETER[0], f"{_BAD_PARAMETER[1]} ({name})")


def _dec(value: Any, name: str) -> Decimal:
    """A number of a request body: a JSON number or a numeric string [C12]."""
    if isinstance(value, bool) or value is None:
        raise _bad(f"Värdet måste vara numeriskt ({name})")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(f"Värdet måste vara numeriskt ({name})") from None
    if not number.is_finite():
        raise _bad(f"Värdet måste vara numeriskt ({name})")
    return number


def _num(value: Decimal | None) -> int | float | None:
    """A Decimal as a JSON number (C12)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _text_num(value: Decimal | None) -> str | None:
    """A Decimal as Fortnox's list views give it: a string (C12)."""
    if value is None:
        return None
    return format(value.normalize(), "f") if value else "0"


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _local(moment: datetime) -> datetime:
    return moment.astimezone(FORTNOX_ZONE)


def _parse_lastmodified(text: str) -> datetime:
    """``lastmodified``: ``2019-03-10 12:30`` (or with seconds, or a date) in Swedish time (C10)."""
    match = _LASTMODIFIED.fullmatch(text)
    if match is None:
        raise _parameter("lastmodified")
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=FORTNOX_ZONE)
    except ValueError:
        raise _parameter("lastmodified") from None


def _parse_date(name: str, text: str) -> date:
    if not _DAY.fullmatch(text):
        raise _parameter(name)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _parameter(name) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- the simulator ----------------------------------------------------------------------------


class FortnoxSandbox(BusinessClock):
    """The Fortnox simulator (one tenant) and the control surface that plays its user.

    Control-surface methods raise :class:`KeyError` for an unknown record and
    :class:`ValueError` for what Fortnox's user could not do; ``at`` stamps a change with that
    time (else :meth:`now`).
    """

    def __init__(
        self,
        *,
        base_url: str = API_URL,
        warehouse_module: bool = False,
        auth_mode: str = "client_credentials",
        page_size: int = 5,
        rate_limit: int | None = RATE_LIMIT,
        auto_consent: bool = True,
        allow_negative_stock: bool = False,
        incoming_goods: bool = True,
        latency: float = 0.0,
        clock: Callable[[], datetime] | None = None,
        rate_clock: Callable[[], float] | None = None,
        tenant_id: int = 1_234_567,
        company_name: str = "Lagerbolaget i Sverige AB",
    ) -> None:
        if auth_mode not in ("authorization_code", "client_credentials"):
            raise ValueError("auth_mode is 'authorization_code' or 'client_credentials'")
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be between 1 and {MAX_LIMIT}")
        self.base_url = base_url.rstrip("/")
        self.warehouse_module = warehouse_module
        """Whether the tenant activated Fortnox Lager (:meth:`activate_warehouse_module`)."""
        self.auth_mode = auth_mode
        """The grant :meth:`settings` asks the plugin to use."""
        self.page_size = page_size
        """Records per page when a list call gives no ``limit`` (C9)."""
        self.rate_limit = rate_limit
        """Requests per window per client and tenant; None: no limit (C7)."""
        self.auto_consent = auto_consent
        """True: the user approves every consent screen at once; False: denies it (C3)."""
        self.allow_negative_stock = allow_negative_stock
        """The warehouse setting that lets stock go below zero (C18)."""
        self.incoming_goods_enabled = incoming_goods
        """Settings - Warehouse - Incoming goods [seed 002] (C20)."""
        self.latency = latency
        self.tenant_id = tenant_id
        self.company_name = company_name
        self.rate_clock: Callable[[], float] = rate_clock or time.monotonic
        self.requests: list[LoggedRequest] = []
        BusinessClock.__init__(self, clock)
        self._key = secrets.token_bytes(32)
        self._ids = {name: itertools.count(start) for name, start in {
            "article": 1001, "supplier": 501, "customer": 2001, "order": 1, "invoice": 1,
            "row": 101, "po": 1, "incoming": 1, "chain": 1}.items()}
        self._articles: dict[str, _Article] = {}
        self._suppliers: dict[str, _Supplier] = {}
        self._customers: dict[str, _Customer] = {}
        self._orders: dict[int, _Order] = {}
        self._invoices: dict[int, _Invoice] = {}
        self._purchase_orders: dict[int, _PurchaseOrder] = {}
        self._incoming: dict[int, _IncomingGoods] = {}
        self._custom: dict[tuple[str, str], _CustomDocument] = {}
        self._custom_types: dict[str, str] = {}
        """Custom document type (upper case) -> its category, INBOUND or OUTBOUND."""
        self._warehouse_stock: dict[str, Decimal] = {}
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._service_consents: dict[str, tuple[str, ...]] = {}
        self._windows: dict[str, deque[float]] = {}
        self._peak: dict[str, int] = {}
        self._throttled: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self.redirect_uri = "http://127.0.0.1:8765/fortnox/callback"
        """The redirect URI registered for :attr:`client_id` in the developer portal (C2)."""
        self.client_id = self.add_client(redirect_uris=[self.redirect_uri])
        """The integration's Client-Id."""
        self._service_consents[self.client_id] = SCOPES  # the sysadmin consented (C3)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi(scope, receive, send)

        self.app: ASGIApp = app
        """The ASGI 3 application (a plain coroutine function)."""

    # --- the conformance protocol (erpsync.conformance.ErpSandbox) ----------------------------

    @property
    def client_secret(self) -> str:
        """The Client-Secret of :attr:`client_id`."""
        return self._clients[self.client_id].secret

    def settings(self) -> dict[str, Any]:
        """Settings of the Fortnox plugin for this simulator: both hosts on :attr:`base_url`
        (C1), the integration's client, :attr:`auth_mode` and whether the goods owner uses the
        warehouse module (as the tenant does). For ``authorization_code`` the token pair must
        be in the plugin's credential store first (:meth:`issue_tokens`)."""
        return {
            "base_url": self.base_url,
            "auth_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": SecretStr(self.client_secret),
            "auth_mode": self.auth_mode,
            "tenant_id": str(self.tenant_id),
            "warehouse_module": self.warehouse_module,
            "page_size": self.page_size,
        }

    def bad_settings(self) -> dict[str, Any]:
        """The same settings with a Client-Secret the token endpoint refuses (invalid_client)."""
        return self.settings() | {"client_secret": SecretStr(secrets.token_urlsafe(12))}

    def seed(self, flow: Flow, count: int, at: datetime) -> list[str]:
        """``count`` new records of ``flow`` changed at ``at``; their keys: article numbers
        (articles, stock), supplier numbers, order DocumentNumbers, purchase order ids (the
        warehouse module must be on; their orderDate is ``at``'s Swedish date, C21)."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            return [self._seed_article(at) for _ in range(count)]
        if flow == Flow.SUPPLIERS:
            return [self.add_supplier(f"Leverantör {n} åäö", at=at,
                                      address1=f"Industrivägen {n + 1}", zip_code="41101",
                                      city="Göteborg", country="Sverige")
                    for n in range(count)]
        if flow == Flow.ORDERS:
            article = self._seed_article(at)
            customer = self.add_customer("Kund AB", kind="COMPANY", at=at)
            return [str(self.add_order(customer, [OrderRow(article, 3)], at=at,
                                       remarks="Lämnas vid porten"))
                    for _ in range(count)]
        if flow == Flow.PURCHASE_ORDERS:
            article = self._seed_article(at)
            supplier = self.add_supplier("Grossisten AB", at=at)
            return [str(self.add_purchase_order(supplier, [(article, Decimal(10))], at=at))
                    for _ in range(count)]
        raise ValueError(f"Fortnox has no {flow.value} to seed")

    def change(self, flow: Flow, key: str, at: datetime) -> None:
        """Change record ``key`` of ``flow`` at ``at``: a name, an order's remarks, a purchase
        order's note."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            article = self._article(key)
            self.change_article(key, description=article.description + " (ändrad)", at=at)
        elif flow == Flow.SUPPLIERS:
            supplier = self._supplier(key)
            supplier.name += " (ändrad)"
            supplier.modified = at
        elif flow == Flow.ORDERS:
            order = self._order(int(key))
            order.fields["Remarks"] = (order.fields.get("Remarks") or "") + " (ändrad)"
            order.modified = at
        elif flow == Flow.PURCHASE_ORDERS:
            po = self._purchase_order(int(key))
            po.note = (po.note or "") + " (ändrad)"
        else:
            raise ValueError(f"Fortnox has no {flow.value} to change")

    def event(self, flow: Flow) -> Event:
        """A new event Fortnox accepts: a delivery of a fresh order in full (stock for it in
        the warehouse module), a full receipt of a fresh purchase order, or an adjustment of +3
        of a fresh article."""
        now = self.now()
        if flow == Flow.DELIVERIES:
            first, second = self._seed_article(now), self._seed_article(now)
            if self.warehouse_module:
                self.set_warehouse_stock(first, Decimal(50))
                self.set_warehouse_stock(second, Decimal(50))
            customer = self.add_customer("Butiken AB", kind="COMPANY")
            number = self.add_order(customer, [OrderRow(first, 2), OrderRow(second, 1)])
            return Delivery(
                event_id=f"delivery-{uuid.uuid4()}", occurred_at=now, order_number=str(number),
                status=DeliveryStatus.SENT,
                lines=(DeliveryLine(external_line_key="1", article_number=first,
                                    delivered_quantity=Decimal(2),
                                    total_delivered_quantity=Decimal(2),
                                    ordered_quantity=Decimal(2)),
                       DeliveryLine(external_line_key="2", article_number=second,
                                    delivered_quantity=Decimal(1),
                                    total_delivered_quantity=Decimal(1),
                                    ordered_quantity=Decimal(1))))
        if flow == Flow.RECEIPTS:
            self._need_module("purchase orders")
            article = self._seed_article(now)
            supplier = self.add_supplier("Grossisten AB")
            po = self.add_purchase_order(supplier, [(article, Decimal(10))])
            row = self._purchase_order(po).rows[0]
            return Receipt(event_id=f"receipt-{uuid.uuid4()}", occurred_at=now,
                           purchase_order_number=str(po), complete=True,
                           rows=(ReceiptRow(row_key=str(row.row_num), article_number=article,
                                            received_quantity=Decimal(10),
                                            total_received_quantity=Decimal(10),
                                            ordered_quantity=Decimal(10)),))
        if flow == Flow.ADJUSTMENTS:
            self._need_module("custom documents")
            article = self._seed_article(now)
            return InventoryAdjustment(event_id=f"adjustment-{uuid.uuid4()}", occurred_at=now,
                                       article_number=article, quantity=Decimal(3),
                                       cause="Inventering")
        raise ValueError(f"Fortnox takes no {flow.value} events")

    def rejected_event(self, flow: Flow) -> Event:
        """An event Fortnox refuses: its order, purchase order or article does not exist."""
        now = self.now()
        if flow == Flow.DELIVERIES:
            return Delivery(event_id=f"delivery-{uuid.uuid4()}", occurred_at=now,
                            order_number="999999", status=DeliveryStatus.SENT,
                            lines=(DeliveryLine(external_line_key="1", article_number="X-1",
                                                delivered_quantity=Decimal(1),
                                                total_delivered_quantity=Decimal(1)),))
        if flow == Flow.RECEIPTS:
            return Receipt(event_id=f"receipt-{uuid.uuid4()}", occurred_at=now,
                           purchase_order_number="999999", complete=True,
                           rows=(ReceiptRow(row_key="1", article_number="X-1",
                                            received_quantity=Decimal(1),
                                            total_received_quantity=Decimal(1)),))
        if flow == Flow.ADJUSTMENTS:
            return InventoryAdjustment(event_id=f"adjustment-{uuid.uuid4()}", occurred_at=now,
                                       article_number="NO-SUCH-ARTICLE", quantity=Decimal(1))
        raise ValueError(f"Fortnox takes no {flow.value} events")

    def times_applied(self, flow: Flow, event: Event) -> int:
        """How often Fortnox recorded ``event`` (C23): invoices created from the delivery's
        order; incoming goods (not voided) with a row of the receipt's purchase order; custom
        documents (not voided) with a row of the adjustment's article."""
        if isinstance(event, Delivery):
            if not event.order_number.isdigit():
                return 0
            number = int(event.order_number)
            return sum(1 for i in self._invoices.values() if i.order == number)
        if isinstance(event, Receipt):
            if not event.purchase_order_number.isdigit():
                return 0
            po = int(event.purchase_order_number)
            return sum(1 for g in self._incoming.values() if not g.voided
                       and any(r.get("purchaseOrderId") == po for r in g.rows))
        if isinstance(event, InventoryAdjustment):
            return sum(1 for d in self._custom.values() if not d.voided
                       and any(r.get("itemId") == event.article_number for r in d.rows))
        raise ValueError(f"Fortnox takes no {flow.value} events")

    def stock_level(self, key: str) -> Decimal | None:
        """The article's stock: the warehouse module's inStock when the module is on, else
        the item register's QuantityInStock; None for an unknown article."""
        article = self._articles.get(key)
        if article is None:
            return None
        if self.warehouse_module:
            return self._warehouse_stock.get(key, _ZERO)
        return article.quantity

    def populate_demo(self, size: int) -> DemoCompany:
        """A small Swedish company for ``erpsync demo``: about ``size`` stock articles from two
        suppliers, private and company customers, open orders (one in English, one to
        Norway), and purchase orders when the warehouse module is on.

        The demo's goods owner is authorised as a Fortnox user would authorise it (the
        authorization code flow: the demo gives consent at :attr:`redirect_uri`), so that its
        refresh token rotates when the demo's clock moves past the access token's hour."""
        self.auth_mode = "authorization_code"
        kinds = ["Kaffe", "Knäckebröd", "Lingonsylt", "Kanelbullar", "Sill", "Ost", "Te",
                 "Saft", "Pepparkakor", "Kalles kaviar", "Filmjölk", "Havregryn"]
        suppliers = [self.add_supplier(name, address1=street, zip_code=code, city=town,
                                       country="Sverige")
                     for name, street, code, town in (
                         ("Grossisten i Göteborg AB", "Hamngatan 4", "41106", "Göteborg"),
                         ("Norrlandsvaror AB", "Storgatan 9", "90326", "Umeå"))]
        articles = [self.add_article(
            f"ART-{n:04d}", f"{kinds[n % len(kinds)]} {250 * (1 + n % 4)} g",
            ean=f"73{n:011d}", width=Decimal(100), height=Decimal(150), depth=Decimal(60),
            weight=Decimal(250 * (1 + n % 4)), purchase_price=Decimal(12 + n % 20),
            sales_price=Decimal(29 + n % 30), unit="st", note=f"{kinds[n % len(kinds)]} från "
            "Sverige", supplier_number=suppliers[n % 2], quantity=Decimal(20 + n))
            for n in range(max(1, size))]
        customers = [self.add_customer("Kafé Ängen AB", kind="COMPANY",
                                       organisation_number="556677-8899"),
                     self.add_customer("Karin Nilsson", kind="PRIVATE"),
                     self.add_customer("Fjällbutiken AS", kind="COMPANY", country="Norge")]
        orders: dict[str, dict[str, Decimal]] = {}
        for n in range(max(3, size // 10)):
            rows = [OrderRow(articles[(n * 3 + i) % len(articles)], 1 + (n + i) % 4)
                    for i in range(1 + n % 3)]
            number = self.add_order(customers[n % len(customers)], rows,
                                    language="EN" if n == 1 else "SV",
                                    remarks="Ring innan leverans")
            orders[str(number)] = {str(i + 1): Decimal(r.quantity) for i, r in enumerate(rows)}
        purchases: dict[str, dict[str, Decimal]] = {}
        if self.warehouse_module:
            for n in range(2):
                lines = [(articles[(n + i) % len(articles)], Decimal(24)) for i in range(2)]
                po = self.add_purchase_order(suppliers[n % 2], lines)
                purchases[str(po)] = {str(r.row_num): r.ordered
                                      for r in self._purchase_order(po).rows}
        return DemoCompany(articles, orders, purchases)

    # --- control surface: the clock, clients, tokens, faults ------------------------------------


    def add_client(self, *, redirect_uris: Iterable[str] = (),
                   service_accounts: bool = True) -> str:
        """Another integration (Client-Id, Client-Secret) with its registered redirect URIs;
        ``service_accounts``: "Only administrator" is set in the developer portal [FAQ]."""
        client_id = secrets.token_urlsafe(9)
        self._clients[client_id] = _Client(client_id, secrets.token_urlsafe(12),
                                           set(redirect_uris), service_accounts)
        return client_id

    def secret_of(self, client_id: str) -> str:
        return self._clients[client_id].secret

    def add_redirect_uri(self, uri: str, client_id: str | None = None) -> None:
        """Register another redirect URI for the client (C2)."""
        self._clients[client_id or self.client_id].redirect_uris.add(uri)

    def authorize_code(self, client_id: str, redirect_uri: str, scopes: Iterable[str],
                       state: str, *, account_type: str | None = None) -> str:
        """The user's consent in the browser: what ``GET /oauth-v1/auth`` does, without HTTP
        (the user approves whatever :attr:`auto_consent` says); the authorization code."""
        query = {"client_id": client_id, "redirect_uri": redirect_uri,
                 "scope": " ".join(scopes), "state": state, "access_type": "offline",
                 "response_type": "code"}
        if account_type is not None:
            query["account_type"] = account_type
        _status, location, text = self._authorize(query)
        if location is None:
            raise ValueError(text)
        answer = dict(parse_qsl(urlsplit(location).query))
        if "code" not in answer:
            raise ValueError(f"{answer.get('error')}: {answer.get('error_description')}")
        return answer["code"]

    def issue_tokens(self, scopes: Iterable[str] | None = None) -> dict[str, str]:
        """Consent and code exchange for :attr:`client_id`, as ``erpsync authorize`` ends:
        the token pair as the plugin's credential store holds it."""
        granted = tuple(scopes) if scopes is not None else SCOPES
        code = self.authorize_code(self.client_id, self.redirect_uri, granted, "state")
        answer = self._exchange_code(self._clients[self.client_id], code, self.redirect_uri)
        expires = self.now() + timedelta(seconds=int(answer["expires_in"]))
        return {"access_token": answer["access_token"], "refresh_token": answer["refresh_token"],
                "expires_at": expires.isoformat(), "scope": answer["scope"]}

    def grant_service_consent(self, scopes: Iterable[str] = SCOPES,
                              client_id: str | None = None) -> None:
        """A system administrator consents for a service account (client credentials)."""
        self._service_consents[client_id or self.client_id] = tuple(scopes)

    def revoke_integration(self, client_id: str | None = None) -> None:
        """The user removes the integration in Fortnox: every token and refresh token of the
        client stops working and the service-account consent is gone ("the integration stopped
        working"; reactivation is a new consent)."""
        found = client_id or self.client_id
        self._service_consents.pop(found, None)
        for table in (self._access, self._refresh):
            for token in [t for t, v in table.items() if v.client_id == found]:
                del table[token]

    def expire_access_tokens(self) -> None:
        """Every access token expires now (refresh tokens stay valid)."""
        for access in self._access.values():
            access.expires = min(access.expires, self.now())

    def refresh_tokens_alive(self, client_id: str | None = None) -> int:
        """How many refresh tokens of the client Fortnox still accepts (one per live chain)."""
        found = client_id or self.client_id
        return sum(1 for r in self._refresh.values()
                   if r.client_id == found and r.expires > self.now())

    def fail_next(self, count: int = 1, status: int = 503,
                  body: bytes | str | Mapping[str, Any] | None = None, *,
                  path: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        """The next ``count`` calls (to ``path`` only, if given) get ``status`` with ``body``
        (default an ErrorInformation "System exception") and ``headers`` (such as a 429's
        ``Retry-After``) before anything is checked."""
        if body is None:
            data = json.dumps({"ErrorInformation": {"error": 1, "message": "System exception",
                                                    "code": 1000003}}).encode()
            media = "application/json"
        elif isinstance(body, Mapping):
            data, media = json.dumps(body).encode(), "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            media = "text/plain; charset=utf-8"
        self._faults.append(_Fault(count, status, data, media, path, dict(headers or {})))

    def clear_faults(self) -> None:
        self._faults.clear()

    def request_count(self, path: str | None = None, method: str | None = None,
                      status: int | None = None) -> int:
        """Calls received, optionally only those whose path contains ``path``, with
        ``method`` or answered with ``status``."""
        return sum(1 for r in self.requests
                   if (path is None or path in r.path) and (method is None or r.method == method)
                   and (status is None or r.status == status))

    def peak_rate(self, client_id: str | None = None) -> int:
        """The most API calls of the client that arrived within one window (C7)."""
        return self._peak.get(client_id or self.client_id, 0)

    def throttled(self, client_id: str | None = None) -> int:
        """How many API calls of the client were refused with 429."""
        return self._throttled.get(client_id or self.client_id, 0)

    # --- control surface: the Fortnox user ------------------------------------------------------

    def activate_warehouse_module(self) -> None:
        """A system administrator activates Fortnox Lager: "current stock balances are
        transferred from the item register to the Warehouse application" [WAREHOUSE]."""
        if self.warehouse_module:
            return
        self.warehouse_module = True
        for article in self._articles.values():
            if article.stock_goods:
                self._warehouse_stock[article.number] = article.quantity

    def add_article(self, number: str | None, description: str, *, at: datetime | None = None,
                    ean: str | None = None, width: Decimal | None = None,
                    height: Decimal | None = None, depth: Decimal | None = None,
                    weight: Decimal | None = None, stock_goods: bool = True,
                    purchase_price: Decimal = _ZERO, sales_price: Decimal = _ZERO,
                    unit: str | None = "st", note: str | None = None,
                    supplier_number: str | None = None, active: bool = True,
                    quantity: Decimal = _ZERO) -> str:
        """Register an article (dimensions in mm, weight in g [mapping]); its number."""
        found = number or str(next(self._ids["article"]))
        if found in self._articles:
            raise ValueError(f"Artikelnummer \"{found}\" används redan.")
        if supplier_number is not None:
            self._supplier(supplier_number)
        self._articles[found] = _Article(
            found, description, self._moment(at), ean, width, height, depth, weight,
            stock_goods, purchase_price, sales_price, unit, note, supplier_number, active,
            quantity)
        if self.warehouse_module and stock_goods:
            self._warehouse_stock[found] = quantity
        return found

    def change_article(self, number: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change article fields (the names of :meth:`add_article`)."""
        article = self._article(number)
        for name, value in fields.items():
            if name in ("number", "modified", "stock_writes") or not hasattr(article, name):
                raise ValueError(f"no article field {name!r}")
            setattr(article, name, value)
        article.modified = self._moment(at)

    def article(self, number: str) -> dict[str, Any]:
        """The article as ``GET /3/articles/{n}`` shows it."""
        return self._article_json(self._article(number))

    def stock_writes(self, number: str) -> int:
        """How many API writes changed the article's QuantityInStock."""
        return self._article(number).stock_writes

    def set_warehouse_stock(self, number: str, quantity: Decimal) -> None:
        """The warehouse module's stock of an article (a stocktaking by the user)."""
        self._need_module("warehouse stock")
        self._article(number)
        self._warehouse_stock[number] = Decimal(quantity)

    def add_supplier(self, name: str, *, number: str | None = None, at: datetime | None = None,
                     address1: str | None = None, address2: str | None = None,
                     zip_code: str | None = None, city: str | None = None,
                     country: str | None = None, country_code: str | None = None,
                     phone: str | None = None, email: str | None = None,
                     organisation_number: str | None = None) -> str:
        found = number or str(next(self._ids["supplier"]))
        if found in self._suppliers:
            raise ValueError(f"Leverantörsnummer {found} används redan.")
        self._suppliers[found] = _Supplier(found, name, self._moment(at), address1, address2,
                                           zip_code, city, country, country_code, phone, email,
                                           organisation_number)
        return found

    def add_customer(self, name: str, *, kind: str = "COMPANY", number: str | None = None,
                     at: datetime | None = None, organisation_number: str | None = None,
                     address1: str | None = "Storgatan 1", zip_code: str | None = "11122",
                     city: str | None = "Stockholm", country: str | None = "Sverige",
                     phone1: str | None = "08-123 456", phone2: str | None = None,
                     email: str | None = None) -> str:
        """A customer; ``kind`` is Fortnox's Type, ``COMPANY`` or ``PRIVATE``."""
        if kind not in ("COMPANY", "PRIVATE"):
            raise ValueError("kind is COMPANY or PRIVATE")
        found = number or str(next(self._ids["customer"]))
        self._customers[found] = _Customer(found, name, kind, self._moment(at),
                                           organisation_number, address1, None, zip_code, city,
                                           country, phone1, phone2, email)
        return found

    def add_order(self, customer: str, rows: Sequence[OrderRow], *, at: datetime | None = None,
                  remarks: str | None = None, delivery_date: date | None = None,
                  language: str = "SV", currency: str = "SEK", **head: Any) -> int:
        """The user registers an order; its DocumentNumber. ``head`` takes more head fields
        by their Fortnox names (``YourOrderNumber``, ``WayOfDelivery``, ``DeliveryName``, ...);
        the delivery address defaults to the customer's."""
        buyer = self._customer(customer)
        moment = self._moment(at)
        fields: dict[str, Any] = {
            "Remarks": remarks, "DeliveryDate": _day(delivery_date), "Language": language,
            "Currency": currency, "TermsOfDelivery": None, "TermsOfPayment": "30",
            "WayOfDelivery": None, "YourOrderNumber": None, "OurReference": "Lager",
            "YourReference": None, "DeliveryName": buyer.name,
            "DeliveryAddress1": buyer.address1, "DeliveryAddress2": buyer.address2,
            "DeliveryCity": buyer.city, "DeliveryCountry": buyer.country,
            "DeliveryZipCode": buyer.zip_code, "Phone1": buyer.phone1, "Phone2": buyer.phone2,
            "OrganisationNumber": buyer.organisation_number, "CustomerName": buyer.name,
            "ExternalInvoiceReference1": None, "ExternalInvoiceReference2": None,
            "Comments": None, "EmailInformation": {"EmailAddressTo": buyer.email}}
        for name, value in head.items():
            if name not in fields:
                raise ValueError(f"no order head field {name!r}")
            fields[name] = value
        made = [self._new_row(r.article_number, r.description, Decimal(r.quantity), r.price)
                for r in rows]
        number = next(self._ids["order"])
        self._orders[number] = _Order(number, buyer, _local(moment).date(), moment, made, fields)
        return number

    def cancel_order(self, number: int, *, at: datetime | None = None) -> None:
        order = self._order(number)
        if order.invoice is not None:
            raise ValueError("an invoiced order cannot be cancelled")
        order.cancelled = True
        order.modified = self._moment(at)

    def order(self, number: int) -> dict[str, Any]:
        """The order as ``GET /3/orders/{n}`` shows it."""
        return self._order_json(self._order(number))

    def back_orders(self, number: int) -> list[int]:
        """The back orders (restorder) ``createinvoice`` made from the order [RESTORDER]."""
        self._order(number)
        return sorted(o.number for o in self._orders.values() if o.back_order_of == number)

    def invoices_of(self, number: int) -> list[dict[str, Any]]:
        """The invoices created from order ``number``, as ``GET /3/invoices/{n}`` shows them."""
        return [self._invoice_json(i) for i in self._invoices.values() if i.order == number]

    def add_purchase_order(self, supplier: str, rows: Sequence[tuple[str, Decimal]], *,
                           at: datetime | None = None, state: str = "SENT",
                           purchase_type: str = "WAREHOUSE", currency: str = "SEK",
                           delivery_date: date | None = None, note: str | None = None) -> int:
        """A purchase order of the warehouse module (rows: article number, quantity); its id.
        Its orderDate is the Swedish date of ``at`` (C21)."""
        self._need_module("purchase orders")
        found = self._supplier(supplier)
        made = []
        for n, (item, quantity) in enumerate(rows, start=1):
            article = self._article(item)
            made.append(_PoRow(str(uuid.uuid4()), n, item, article.description, article.unit,
                               Decimal(quantity), article.purchase_price))
        number = next(self._ids["po"])
        self._purchase_orders[number] = _PurchaseOrder(
            number, found, _local(self._moment(at)).date(), made, currency, delivery_date,
            note, state, purchase_type)
        return number

    def purchase_order(self, number: int) -> dict[str, Any]:
        return self._po_json(self._purchase_order(number))

    def incoming_goods(self, purchase_order: int | None = None) -> list[dict[str, Any]]:
        """Incoming goods documents (of one purchase order, if given)."""
        return [self._incoming_json(g) for g in self._incoming.values()
                if purchase_order is None
                or any(r.get("purchaseOrderId") == purchase_order for r in g.rows)]

    def custom_documents(self) -> list[dict[str, Any]]:
        return [self._custom_json(d) for d in self._custom.values()]

    # --- internals: lookups and records ---------------------------------------------------------

    def _moment(self, at: datetime | None) -> datetime:
        if at is not None and at.tzinfo is None:
            raise ValueError("give a timezone-aware time")
        return at or self.now()

    def _need_module(self, what: str) -> None:
        if not self.warehouse_module:
            raise ValueError(f"{what} need the warehouse module (activate_warehouse_module)")

    def _seed_article(self, at: datetime) -> str:
        return self.add_article(None, "Vara åäö", at=at, ean="7312345678901",
                                width=Decimal(120), height=Decimal(80), depth=Decimal(40),
                                weight=Decimal(350), purchase_price=Decimal("12.50"),
                                sales_price=Decimal("39.00"), unit="st", note="Lagervara")

    def _article(self, number: str) -> _Article:
        try:
            return self._articles[number]
        except KeyError:
            raise KeyError(f"no article {number!r}") from None

    def _supplier(self, number: str) -> _Supplier:
        try:
            return self._suppliers[number]
        except KeyError:
            raise KeyError(f"no supplier {number!r}") from None

    def _customer(self, number: str) -> _Customer:
        try:
            return self._customers[number]
        except KeyError:
            raise KeyError(f"no customer {number!r}") from None

    def _order(self, number: int) -> _Order:
        try:
            return self._orders[number]
        except KeyError:
            raise KeyError(f"no order {number}") from None

    def _purchase_order(self, number: int) -> _PurchaseOrder:
        try:
            return self._purchase_orders[number]
        except KeyError:
            raise KeyError(f"no purchase order {number}") from None

    def _new_row(self, article_number: str | None, description: str | None, ordered: Decimal,
                 price: Decimal | None, delivered: Decimal | None = None) -> _Row:
        article = self._articles.get(article_number) if article_number else None
        if article_number and article is None:
            raise ValueError(f"Kan inte hitta artikeln \"{article_number}\".")
        return _Row(next(self._ids["row"]), article_number,
                    description if description is not None else (article.description
                                                                 if article else None),
                    ordered, _ZERO if delivered is None else delivered,
                    price if price is not None else (article.sales_price if article else _ZERO),
                    article.unit if article else None)

    def _stock(self, number: str) -> Decimal:
        return self._warehouse_stock.get(number, _ZERO)

    # --- internals: JSON as Fortnox writes it ---------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _article_json(self, a: _Article) -> dict[str, Any]:
        quantity = self._stock(a.number) if self.warehouse_module else a.quantity
        supplier = self._suppliers.get(a.supplier_number) if a.supplier_number else None
        return {
            "@url": self._url(f"/3/articles/{a.number}"), "Active": a.active,
            "ArticleNumber": a.number, "Bulky": False, "Depth": _num(a.depth),
            "Description": a.description, "DisposableQuantity": _num(quantity),
            "EAN": a.ean or "", "Expired": False, "Height": _num(a.height), "Housework": False,
            "Manufacturer": None, "ManufacturerArticleNumber": "", "Note": a.note or "",
            "PurchasePrice": _num(a.purchase_price), "QuantityInStock": _num(quantity),
            "ReservedQuantity": 0, "SalesPrice": _num(a.sales_price),
            "StockGoods": a.stock_goods, "StockPlace": "", "StockValue": 0,
            "StockWarning": 0, "SupplierName": supplier.name if supplier else None,
            "SupplierNumber": a.supplier_number or "",
            "Type": "STOCK" if a.stock_goods else "SERVICE", "Unit": a.unit or "",
            "VAT": 25, "WebshopArticle": False, "Weight": _num(a.weight),
            "Width": _num(a.width)}

    def _article_item(self, a: _Article) -> dict[str, Any]:
        quantity = self._stock(a.number) if self.warehouse_module else a.quantity
        return {"@url": self._url(f"/3/articles/{a.number}"), "ArticleNumber": a.number,
                "Description": a.description, "DisposableQuantity": _text_num(quantity),
                "EAN": a.ean or "", "Housework": False,
                "PurchasePrice": _text_num(a.purchase_price),
                "SalesPrice": _text_num(a.sales_price),
                "QuantityInStock": _text_num(quantity), "ReservedQuantity": "0",
                "StockPlace": "", "StockValue": "0", "Unit": a.unit or "", "VAT": "25",
                "WebshopArticle": False}

    def _supplier_json(self, s: _Supplier) -> dict[str, Any]:
        return {"@url": self._url(f"/3/suppliers/{s.number}"), "Active": s.active,
                "Address1": s.address1 or "", "Address2": s.address2 or "",
                "City": s.city or "", "Country": s.country or "",
                "CountryCode": s.country_code or "", "Currency": "SEK",
                "Email": s.email or "", "Name": s.name,
                "OrganisationNumber": s.organisation_number or "", "Phone1": s.phone or "",
                "Phone2": "", "SupplierNumber": s.number, "ZipCode": s.zip_code or ""}

    def _supplier_item(self, s: _Supplier) -> dict[str, Any]:
        return {"@url": self._url(f"/3/suppliers/{s.number}"), "Active": s.active,
                "Address1": s.address1 or "", "Address2": s.address2 or "",
                "City": s.city or "", "Email": s.email or "", "Name": s.name,
                "OrganisationNumber": s.organisation_number or "", "Phone": s.phone or "",
                "SupplierNumber": s.number, "ZipCode": s.zip_code or ""}

    def _customer_json(self, c: _Customer) -> dict[str, Any]:
        return {"@url": self._url(f"/3/customers/{c.number}"), "Active": True,
                "Address1": c.address1 or "", "Address2": c.address2 or "",
                "City": c.city or "", "Country": c.country or "", "CustomerNumber": c.number,
                "Email": c.email or "", "Name": c.name,
                "OrganisationNumber": c.organisation_number or "", "Phone1": c.phone1 or "",
                "Phone2": c.phone2 or "", "Type": c.kind, "ZipCode": c.zip_code or ""}

    def _row_json(self, r: _Row) -> dict[str, Any]:
        total = (r.delivered * r.price * (1 - r.discount / 100)).quantize(Decimal("0.01"))
        row: dict[str, Any] = {
            "AccountNumber": 3001, "ArticleNumber": r.article or "", "CostCenter": None,
            "DeliveredQuantity": _text_num(r.delivered), "Description": r.description or "",
            "Discount": _num(r.discount), "DiscountType": "PERCENT", "HouseWork": False,
            "OrderedQuantity": _text_num(r.ordered), "Price": _num(r.price), "Project": "",
            "RowId": r.id, "StockPointCode": None, "Total": _num(total),
            "Unit": r.unit or "", "VAT": _num(r.vat)}
        if self.warehouse_module:
            row["ReservedQuantity"] = _text_num(_ZERO)
        row.update(r.extra)
        return row

    def _order_total(self, order: _Order) -> Decimal:
        return sum((r.ordered * r.price * (1 - r.discount / 100) * (1 + r.vat / 100)
                    for r in order.rows), _ZERO).quantize(Decimal("0.01"))

    def _order_json(self, o: _Order) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@url": self._url(f"/3/orders/{o.number}"), "Cancelled": o.cancelled,
            "CustomerNumber": o.customer.number, "DocumentNumber": str(o.number),
            "InvoiceReference": str(o.invoice) if o.invoice is not None else "0",
            "OrderDate": o.order_date.isoformat(), "OrderRows": [self._row_json(r)
                                                                  for r in o.rows],
            "OrderType": "Order", "NotCompleted": False, "Sent": False,
            "Total": _num(self._order_total(o)), "WarehouseReady": o.warehouse_ready,
            "OutboundDate": _day(o.outbound_date)}
        body.update(o.fields)
        if self.warehouse_module:
            body["DeliveryState"] = o.delivery_state
        return body

    def _order_item(self, o: _Order) -> dict[str, Any]:
        return {"@url": self._url(f"/3/orders/{o.number}"), "Cancelled": o.cancelled,
                "Currency": o.fields.get("Currency"), "CustomerName": o.customer.name,
                "CustomerNumber": o.customer.number,
                "DeliveryDate": o.fields.get("DeliveryDate"), "DocumentNumber": str(o.number),
                "ExternalInvoiceReference1": o.fields.get("ExternalInvoiceReference1") or "",
                "ExternalInvoiceReference2": o.fields.get("ExternalInvoiceReference2") or "",
                "OrderDate": o.order_date.isoformat(), "OrderType": "Order", "Project": "",
                "Sent": False, "Total": _text_num(self._order_total(o))}

    def _invoice_json(self, i: _Invoice) -> dict[str, Any]:
        rows = [{"ArticleNumber": a or "", "Description": d or "",
                 "DeliveredQuantity": _text_num(q), "Price": _num(p), "RowId": n}
                for n, (a, d, q, p) in enumerate(i.rows, start=1)]
        total = sum((q * p * Decimal("1.25") for _, _, q, p in i.rows), _ZERO)
        body = {"@url": self._url(f"/3/invoices/{i.number}"), "Booked": False,
                "Cancelled": False, "CustomerName": i.customer.name,
                "CustomerNumber": i.customer.number, "DocumentNumber": str(i.number),
                "InvoiceDate": _local(i.created).date().isoformat(), "InvoiceRows": rows,
                "OrderReference": str(i.order), "Total": _num(total.quantize(Decimal("0.01")))}
        body.update(i.fields)
        return body

    def _po_json(self, p: _PurchaseOrder) -> dict[str, Any]:
        s = p.supplier
        return {
            "confirmationEmail": None, "costCenterCode": None, "currencyCode": p.currency,
            "currencyRate": 1, "currencyUnit": 1, "customerId": None, "customerName": None,
            "customerNumber": None, "deliveryAddress": "Lagergatan 1", "deliveryAddress2": None,
            "deliveryCity": "Borås", "deliveryCountryCode": "SE",
            "deliveryDate": _day(p.delivery_date), "deliveryName": self.company_name,
            "deliveryZipCode": "50630", "dropship": p.purchase_type == "DROPSHIP", "id": p.id,
            "internalReference": p.internal_reference, "languageCode": "SV",
            "manuallyCompleted": p.manually_completed, "messageToSupplier": None,
            "note": p.note, "orderDate": p.order_date.isoformat(),
            "orderValue": _num(sum((r.ordered * r.price for r in p.rows), _ZERO)),
            "orderValueInSEK": _num(sum((r.ordered * r.price for r in p.rows), _ZERO)),
            "ourReference": p.our_reference, "outboundDocumentReference": None,
            "paymentTermsCode": "30", "projectId": None, "purchaseOrderState": p.state,
            "purchaseType": p.purchase_type, "responseState": "NOT_SENT",
            "rows": [{"backOrderQuantity": _num(max(r.ordered - r.received, _ZERO)),
                      "costCenterCode": None, "currencyCode": p.currency, "id": r.id,
                      "isStockItem": True, "itemDescription": r.description,
                      "itemId": r.item, "itemUnit": r.unit, "notes": [],
                      "orderedQuantity": _num(r.ordered), "price": _num(r.price),
                      "projectId": None, "purchaseOrderId": p.id,
                      "receivedQuantity": _num(r.received),
                      "remainingOrderedQuantity": _num(max(r.ordered - r.received, _ZERO)),
                      "rowNum": r.row_num, "stockLocationCode": None, "stockLocationId": None,
                      "stockLocationName": None, "stockPointCode": STOCK_POINT,
                      "stockPointId": None, "stockPointName": "Lager"} for r in p.rows],
            "stockPointCode": STOCK_POINT, "stockPointId": None, "supplier": None,
            "supplierAddress": s.address1, "supplierAddress2": s.address2,
            "supplierCity": s.city, "supplierCountryCode": s.country_code or "SE",
            "supplierEmail": s.email, "supplierName": s.name, "supplierNumber": s.number,
            "supplierPostCode": s.zip_code,
            "totalReceivedQuantity": _num(sum((r.received for r in p.rows), _ZERO)),
            "translatedResponseState": "Ej skickad", "voided": p.voided, "yourReference": None}

    def _incoming_json(self, g: _IncomingGoods) -> dict[str, Any]:
        return {"completed": g.completed is not None, "costCenterCode": None,
                "date": g.day.isoformat(), "deliveryNoteId": g.delivery_note_id,
                "hasDeliveryNote": True, "id": g.id, "note": g.note, "projectId": None,
                "released": g.released is not None, "rows": [dict(r) for r in g.rows],
                "stockPointCode": STOCK_POINT, "stockPointId": None, "stockPointName": "Lager",
                "supplierName": g.supplier_name, "supplierNumber": g.supplier_number,
                "voided": g.voided}

    def _custom_json(self, d: _CustomDocument) -> dict[str, Any]:
        body: dict[str, Any] = {"date": d.day.isoformat(), "id": d.id, "note": d.note,
                                "rows": [dict(r) for r in d.rows], "voided": d.voided,
                                "warehouseReady": d.released}
        if d.category == "INBOUND":
            body["type"] = d.type
            body["currency"] = {"currency": "SEK", "rate": 1, "unit": 1}
        else:
            body["referenceType"] = d.type
            body["deliveryState"] = d.delivery_state
            body["forcedDelivery"] = False
            body["averageCosts"] = []
        return body

    # --- the HTTP side ----------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to serve
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        fault = self._take_fault(path)
        self._caller = None
        if fault is not None:
            response = Response(fault.body, status_code=fault.status, media_type=fault.media_type,
                                headers=fault.headers)
        else:
            response = await self._handle(request, path)
        self.requests.append(LoggedRequest(scope["method"], path, query, response.status_code,
                                           self._caller))
        await response(scope, receive, send)

    _caller: str | None = None

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path in (None, path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _error(failure: _Fail) -> Response:
        keys = ("Error", "Message", "Code") if failure.upper else ("error", "message", "code")
        body = {"ErrorInformation": dict(zip(keys, (1, failure.message, failure.code),
                                             strict=True))}
        return Response(json.dumps(body), status_code=failure.status,
                        media_type="application/json", headers=failure.headers)

    @staticmethod
    def _web_error(failure: _WFail) -> Response:
        body = {"error": failure.error, "id": str(uuid.uuid4()), "message": failure.message}
        return Response(json.dumps(body), status_code=failure.status,
                        media_type="application/json")

    @staticmethod
    def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status_code=status,
                        media_type="application/json", headers=dict(headers or {}))

    async def _handle(self, request: Request, path: str) -> Response:
        method = request.method
        if path == "/oauth-v1/auth":
            return self._auth_page(request) if method == "GET" else self._not_found(path)
        if path in ("/oauth-v1/token", "/oauth-v1/revoke"):
            if method != "POST":
                return self._not_found(path)
            try:
                return await (self._token(request) if path.endswith("token")
                              else self._revoke(request))
            except _OAuthFail as failure:
                return self._json({"error": failure.error,
                                   "error_description": failure.description},
                                  failure.status, {"Cache-Control": "no-store"})
        route = self._route(method, path)
        if route is None:
            return self._not_found(path)
        handler, scopes, warehouse, args = route
        try:
            access = self._bearer(request)
            self._caller = access.client_id
            throttled = self._throttle(access.client_id)
            if throttled is not None:
                return throttled
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            missing = [s for s in scopes if s not in access.scopes]
            if missing:
                raise _Fail(403, _NO_PERMISSION, "Saknar behörighet för "
                            f"{', '.join(missing)} (scope).", upper=True)  # C6
            if warehouse and not self.warehouse_module and handler is not FortnoxSandbox._tenant:
                raise _WFail(403, "warehouse_not_activated",
                             "Fortnox Lager är inte aktiverat för företaget.")  # C16
            answer: Response = await handler(self, request, args)
            return answer
        except _Fail as failure:
            return self._error(failure)
        except _WFail as failure:
            return self._web_error(failure)

    def _not_found(self, path: str) -> Response:
        return self._error(_Fail(404, _NOT_FOUND, f"Kan inte hitta resursen {path}."))

    def _route(self, method: str, path: str) -> tuple[
            Callable[[FortnoxSandbox, Request, tuple[str, ...]], Awaitable[Response]],
            tuple[str, ...], bool, tuple[str, ...]] | None:
        """The handler of a simulated route (C1); None: 404."""
        for pattern, verbs in _ROUTES:
            match = pattern.fullmatch(path)
            if match is not None:
                entry = verbs.get(method)
                if entry is None:
                    return None
                handler, scopes = entry
                return handler, scopes, path.startswith("/api/warehouse/"), match.groups()
        return None

    def _throttle(self, client_id: str) -> Response | None:
        """The sliding window per client and tenant [RATE] (C7)."""
        moment = self.rate_clock()
        window = self._windows.setdefault(client_id, deque())
        while window and window[0] <= moment - RATE_WINDOW:
            window.popleft()
        if self.rate_limit is not None and len(window) >= self.rate_limit:
            self._throttled[client_id] = self._throttled.get(client_id, 0) + 1
            wait = max(1, math.ceil(window[0] + RATE_WINDOW - moment))
            return self._json({"message": "API rate limit exceeded"}, 429,
                              {"Retry-After": str(wait)})
        window.append(moment)
        self._peak[client_id] = max(self._peak.get(client_id, 0), len(window))
        return None

    # --- OAuth (C2 - C5) -------------------------------------------------------------------

    def _auth_page(self, request: Request) -> Response:
        query: dict[str, str] = {}
        for name, value in parse_qsl(request.url.query, keep_blank_values=True):
            if name in query:
                return Response(f"{name} is given twice", status_code=400,
                                media_type="text/plain")
            query[name] = value
        status, location, text = self._authorize(query)
        if location is not None:
            return Response(status_code=302, headers={"Location": location})
        return Response(text, status_code=status, media_type="text/plain; charset=utf-8")

    def _authorize(self, query: Mapping[str, str]) -> tuple[int, str | None, str]:
        """The consent endpoint [AUTH] (C2, C3): (status, redirect location, page text)."""
        client = self._clients.get(query.get("client_id", ""))
        if client is None:
            return 400, None, "Auth code or ClientID supplied is invalid"  # [FAQ]
        redirect = query.get("redirect_uri", "")
        if redirect not in client.redirect_uris:
            return 400, None, "redirect_uri is not registered for the client"  # C2

        def back(**answer: str) -> tuple[int, str | None, str]:
            answer["state"] = query.get("state", "")
            joiner = "&" if urlsplit(redirect).query else "?"
            return 302, redirect + joiner + urlencode(answer), ""

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description="response_type must be code")
        if not query.get("state"):
            return back(error="invalid_request", error_description="state is required")
        scopes = tuple(query.get("scope", "").split())
        unknown = [s for s in scopes if s not in SCOPES]
        if not scopes or unknown:
            return back(error="invalid_scope",
                        error_description=f"unknown scope {' '.join(unknown) or '(none)'}")
        account_type = query.get("account_type")
        if account_type not in (None, "service"):
            return back(error="invalid_request", error_description="account_type is service")
        service = account_type == "service"
        if service and not client.service_accounts:
            return 400, None, "Client does not allow service account"  # [FAQ]
        access_type = query.get("access_type")
        if access_type not in (None, "offline", "online"):
            return back(error="invalid_request",
                        error_description="access_type is offline or online")
        if not self.auto_consent:
            return back(error="access_denied", error_description="The user denied the request")
        if service:
            self._service_consents[client.client_id] = scopes
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(client.client_id, redirect, scopes,
                                  self.now() + CODE_LIFETIME, access_type == "offline", service)
        return back(code=code)

    async def _form(self, request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise _OAuthFail(400, "invalid_request",
                             "the body must be application/x-www-form-urlencoded")
        form: dict[str, str] = {}
        for name, value in parse_qsl((await request.body()).decode("utf-8", "replace"),
                                     keep_blank_values=True):
            if name in form:
                raise _OAuthFail(400, "invalid_request", f"{name} is given twice")
            form[name] = value
        return form

    def _basic(self, request: Request) -> _Client:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError("not Basic")
            client_id, colon, secret = base64.b64decode(
                encoded.strip(), validate=True).decode("utf-8").partition(":")
            if not colon:
                raise ValueError("no colon")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _OAuthFail(401, "invalid_client", "Authorization: Basic "
                                                    "base64(ClientId:ClientSecret) is required"
                             ) from None
        client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret, secret):
            raise _OAuthFail(401, "invalid_client", "Invalid client credentials")
        self._caller = client.client_id
        return client

    async def _token(self, request: Request) -> Response:
        """The token endpoint [TOKEN, REFRESH, CLIENTCRED] (C4, C5)."""
        client = self._basic(request)
        form = await self._form(request)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            answer = self._exchange_code(client, form.get("code", ""),
                                         form.get("redirect_uri", ""))
        elif grant == "refresh_token":
            answer = self._rotate(client, form.get("refresh_token", ""))
        elif grant == "client_credentials":
            answer = self._client_credentials(client, request.headers.get("tenantid"))
        else:
            raise _OAuthFail(400, "unsupported_grant_type",
                             "grant_type is authorization_code, refresh_token or "
                             "client_credentials")
        return self._json(answer, headers={"Cache-Control": "no-store"})

    def _exchange_code(self, client: _Client, code: str, redirect_uri: str) -> dict[str, Any]:
        found = self._codes.get(code)
        if found is None or found.client_id != client.client_id:
            raise _OAuthFail(400, "invalid_grant", "Invalid authorization code")
        if found.used:
            # RFC 6749 section 4.1.2: a code used twice revokes what it gave (C4).
            for chain in found.chains:
                self._drop_chain(chain)
            raise _OAuthFail(400, "invalid_grant", "Authorization code already used")
        if self.now() >= found.expires:
            raise _OAuthFail(400, "invalid_grant", "Authorization code expired")
        if redirect_uri != found.redirect_uri:
            raise _OAuthFail(400, "invalid_grant", "redirect_uri does not match")
        found.used = True
        chain = f"chain-{next(self._ids['chain'])}"
        found.chains.append(chain)
        answer = self._issue(client, found.scopes, chain)
        if found.offline or not found.service:
            answer["refresh_token"] = self._new_refresh(client, found.scopes, chain,
                                                        found.service)
        return answer

    def _rotate(self, client: _Client, token: str) -> dict[str, Any]:
        found = self._refresh.get(token)
        if found is None or found.client_id != client.client_id \
                or self.now() >= found.expires:
            raise _OAuthFail(400, "invalid_grant", "Invalid refresh token")  # [FAQ] (C5)
        del self._refresh[token]  # single use: invalid the moment the new pair exists
        answer = self._issue(client, found.scopes, found.chain)
        answer["refresh_token"] = self._new_refresh(client, found.scopes, found.chain,
                                                    found.service)
        return answer

    def _client_credentials(self, client: _Client, tenant: str | None) -> dict[str, Any]:
        if not tenant:
            raise _OAuthFail(400, "invalid_request", "the TenantId header is required")
        if tenant.strip() != str(self.tenant_id):
            raise _OAuthFail(400, "invalid_grant", "Unknown tenant")
        scopes = self._service_consents.get(client.client_id)
        if scopes is None:
            raise _OAuthFail(400, "invalid_grant", "No consent for a service account")
        return self._issue(client, scopes, None)

    def _issue(self, client: _Client, scopes: tuple[str, ...], chain: str | None
               ) -> dict[str, Any]:
        expires = self.now() + ACCESS_TOKEN_LIFETIME
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({
            "tenantId": self.tenant_id, "clientId": client.client_id, "scope": " ".join(scopes),
            "exp": int(expires.timestamp()), "jti": secrets.token_hex(8)}).encode())
        signature = _b64url(hmac.new(self._key, f"{header}.{payload}".encode(),
                                     hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self._access[token] = _Access(client.client_id, scopes, expires, chain, client.client_id)
        return {"access_token": token, "scope": " ".join(scopes),
                "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
                "token_type": "bearer"}

    def _new_refresh(self, client: _Client, scopes: tuple[str, ...], chain: str,
                     service: bool) -> str:
        token = str(uuid.uuid4())
        self._refresh[token] = _Refresh(client.client_id, scopes,
                                        self.now() + REFRESH_TOKEN_LIFETIME, chain, service)
        return token

    def _drop_chain(self, chain: str) -> None:
        for table in (self._access, self._refresh):
            for token in [t for t, v in table.items() if v.chain == chain]:
                del table[token]

    async def _revoke(self, request: Request) -> Response:
        """Revocation (RFC 7009): the refresh token and its chain's access tokens (C5)."""
        client = self._basic(request)
        form = await self._form(request)
        token = form.get("token")
        if not token:
            raise _OAuthFail(400, "invalid_request", "token is required")
        found = self._refresh.get(token) or self._access.get(token)
        if found is not None and found.client_id == client.client_id:
            if found.chain is not None:
                self._drop_chain(found.chain)
            else:
                self._access.pop(token, None)
        return Response(status_code=200)

    def _bearer(self, request: Request) -> _Access:
        """The access token of an API call (C4)."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Fail(401, *_NO_TOKEN)
        found = self._access.get(value.strip())
        if found is None or self.now() >= found.expires:
            raise _Fail(401, *_INVALID_LOGIN, headers={"WWW-Authenticate": "Bearer"})
        return found

    # --- /3: list machinery (C8 - C11) ------------------------------------------------------------

    @staticmethod
    def _query(request: Request, searches: Iterable[str] = (), filters: Iterable[str] = (),
               sorts: Iterable[str] = (), extra: Iterable[str] = (), *,
               listing: bool = True) -> dict[str, str]:
        """The query of a /3 call (C8): lower-case names only, each once; of ``filter`` and the
        resource's searches at most one [PARAMS]."""
        known = set(searches) | set(extra)
        if listing:
            known |= {"lastmodified", "limit", "page", "sortby", "sortorder"}
            if filters:
                known.add("filter")
        seen: dict[str, str] = {}
        for name, value in parse_qsl(request.url.query, keep_blank_values=True):
            if name not in known:
                raise _parameter(name)
            if name in seen:
                raise _parameter(name)
            seen[name] = value
        specific = sorted(n for n in seen if n == "filter" or n in set(searches))
        if len(specific) > 1:
            raise _Fail(400, _BAD_PARAMETER[0], f"{_BAD_PARAMETER[1]} (only one filter per "
                                                f"request: {', '.join(specific)})")
        if "filter" in seen and seen["filter"] not in set(filters):
            raise _parameter("filter")
        if "sortby" in seen and seen["sortby"] not in set(sorts):
            raise _parameter("sortby")
        if seen.get("sortorder", "ascending") not in ("ascending", "descending"):
            raise _parameter("sortorder")
        return seen

    def _page(self, params: Mapping[str, str], plural: str, rows: list[dict[str, Any]],
              sort_keys: Mapping[str, str], default: str) -> Response:
        try:
            limit = int(params.get("limit", str(self.page_size)))
            page = int(params.get("page", "1"))
        except ValueError:
            raise _parameter("limit" if "limit" in params else "page") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise _parameter("limit")
        if page < 1:
            raise _parameter("page")
        field_name = sort_keys.get(params.get("sortby", ""), default)
        rows.sort(key=lambda row: _sort_key(row.get(field_name)),
                  reverse=params.get("sortorder") == "descending")
        total = len(rows)
        pages = math.ceil(total / limit)
        chunk = rows[(page - 1) * limit:page * limit]
        return self._json({"MetaInformation": {"@TotalResources": total, "@TotalPages": pages,
                                               "@CurrentPage": page}, plural: chunk})

    @staticmethod
    def _since(params: Mapping[str, str]) -> datetime | None:
        text = params.get("lastmodified")
        return None if text is None else _parse_lastmodified(text)

    @staticmethod
    async def _body(request: Request, key: str | None) -> Any:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _Fail(400, 1000031, "Invalid content type")
        raw = await request.body()
        if not raw.strip():
            raise _Fail(400, *_BAD_DATA)
        try:
            body = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise _Fail(400, *_BAD_JSON) from None
        if key is None:
            return body
        if not isinstance(body, dict) or set(body) != {key} or not isinstance(body[key], dict):
            raise _Fail(400, *_BAD_DATA)
        return body[key]

    # --- /3: the resources ------------------------------------------------------------------------

    async def _articles_list(self, request: Request, args: tuple[str, ...]) -> Response:
        searches = ("articlenumber", "description", "ean", "suppliernumber", "manufacturer",
                    "manufacturerarticlenumber", "webshop")
        params = self._query(request, searches, ("active", "inactive"),
                             ("articlenumber", "quantityinstock", "reservedquantity",
                              "stockvalue"))
        found = list(self._articles.values())
        since = self._since(params)
        if since is not None:
            found = [a for a in found if a.modified >= since]
        if "filter" in params:
            found = [a for a in found if a.active == (params["filter"] == "active")]
        for name, attribute in (("articlenumber", "number"), ("description", "description"),
                                ("ean", "ean"), ("suppliernumber", "supplier_number")):
            if name in params:
                wanted = params[name].lower()
                found = [a for a in found if wanted in (getattr(a, attribute) or "").lower()]
        for name in ("manufacturer", "manufacturerarticlenumber", "webshop"):
            if name in params:
                found = []
        return self._page(params, "Articles", [self._article_item(a) for a in found],
                          {"articlenumber": "ArticleNumber", "quantityinstock": "QuantityInStock"},
                          "ArticleNumber")

    async def _article_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        article = self._articles.get(args[0])
        if article is None:
            raise _Fail(404, 2000428, "Kan inte hitta artikeln.")
        return self._json({"Article": self._article_json(article)})

    async def _article_put(self, request: Request, args: tuple[str, ...]) -> Response:
        """Update an article (C13): the writable fields; QuantityInStock only in classic mode."""
        self._query(request, listing=False)
        article = self._articles.get(args[0])
        if article is None:
            raise _Fail(404, 2000428, "Kan inte hitta artikeln.")
        body = await self._body(request, "Article")
        changes: dict[str, Any] = {}
        for name, value in body.items():
            if name in _ARTICLE_READ_ONLY:
                if name == "ArticleNumber" and str(value) != article.number:
                    raise _bad("ArticleNumber kan inte ändras.")
                continue
            attribute = _ARTICLE_WRITABLE.get(name)
            if attribute is None:
                raise _Fail(400, 2001399, f"Felaktigt fältnamn ({name})")
            if attribute in ("width", "height", "depth", "weight", "purchase_price",
                             "sales_price", "quantity"):
                changes[attribute] = None if value is None and attribute != "quantity" \
                    else _dec(value, name)
            elif attribute in ("stock_goods", "active"):
                if not isinstance(value, bool):
                    raise _bad(f"Värdet måste vara en boolean ({name})")
                changes[attribute] = value
            else:
                changes[attribute] = None if value is None else str(value)
        if "quantity" in changes:
            if self.warehouse_module:
                raise _Fail(400, _WAREHOUSE_RULE, "Lagersaldot kan inte ändras på artikeln när "
                                                  "Fortnox Lager används; använd "
                                                  "lagertransaktioner.")  # [seed 002] (C15)
            if not (changes.get("stock_goods", article.stock_goods)):
                raise _bad("Lagersaldo kan bara anges för lagervaror.")
        if changes.get("supplier_number") and changes["supplier_number"] not in self._suppliers:
            raise _bad(f"Kan inte hitta leverantören ({changes['supplier_number']}).")
        changed = {k: v for k, v in changes.items() if getattr(article, k) != v}
        for name, value in changed.items():
            setattr(article, name, value)
        if "quantity" in changed:
            article.stock_writes += 1
        if changed:
            article.modified = self.now()
        return self._json({"Article": self._article_json(article)})

    async def _suppliers_list(self, request: Request, args: tuple[str, ...]) -> Response:
        searches = ("city", "email", "name", "organisationnumber", "phone1", "suppliernumber",
                    "zipcode")
        params = self._query(request, searches, ("active", "inactive"),
                             ("name", "suppliernumber"))
        found = list(self._suppliers.values())
        since = self._since(params)
        if since is not None:
            found = [s for s in found if s.modified >= since]
        if "filter" in params:
            found = [s for s in found if s.active == (params["filter"] == "active")]
        for name, attribute in (("city", "city"), ("email", "email"), ("name", "name"),
                                ("organisationnumber", "organisation_number"),
                                ("phone1", "phone"), ("suppliernumber", "number"),
                                ("zipcode", "zip_code")):
            if name in params:
                wanted = params[name].lower()
                found = [s for s in found if wanted in (getattr(s, attribute) or "").lower()]
        return self._page(params, "Suppliers", [self._supplier_item(s) for s in found],
                          {"name": "Name", "suppliernumber": "SupplierNumber"},
                          "SupplierNumber")

    async def _supplier_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        supplier = self._suppliers.get(args[0])
        if supplier is None:
            raise _Fail(404, 2000432, "Kan inte hitta leverantören.")
        return self._json({"Supplier": self._supplier_json(supplier)})

    async def _customer_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        customer = self._customers.get(args[0])
        if customer is None:
            raise _Fail(404, 2000433, "Kan inte hitta kunden.")
        return self._json({"Customer": self._customer_json(customer)})

    async def _company(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        return self._json({"CompanyInformation": {
            "Address": "Lagergatan 1", "City": "Borås", "CountryCode": "SE",
            "DatabaseNumber": self.tenant_id, "CompanyName": self.company_name,
            "OrganizationNumber": "556000-0000", "VisitAddress": "", "VisitCity": "",
            "VisitCountryCode": "", "VisitZipCode": "", "ZipCode": "50630"}})

    async def _orders_list(self, request: Request, args: tuple[str, ...]) -> Response:
        searches = ("customername", "customernumber", "documentnumber",
                    "externalinvoicereference1", "externalinvoicereference2", "ourreference",
                    "yourreference", "yourordernumber")
        params = self._query(request, searches, ("cancelled", "expired", "invoicecreated",
                                                 "invoicenotcreated"),
                             ("customername", "customernumber", "documentnumber",
                              "orderdate"), ("fromdate", "todate"))
        found = list(self._orders.values())
        since = self._since(params)
        if since is not None:
            found = [o for o in found if o.modified >= since]
        if "fromdate" in params:
            start = _parse_date("fromdate", params["fromdate"])
            found = [o for o in found if o.order_date >= start]
        if "todate" in params:
            end = _parse_date("todate", params["todate"])
            found = [o for o in found if o.order_date <= end]
        chosen = params.get("filter")
        if chosen == "cancelled":
            found = [o for o in found if o.cancelled]
        elif chosen == "invoicecreated":
            found = [o for o in found if o.invoice is not None]
        elif chosen == "invoicenotcreated":
            found = [o for o in found if o.invoice is None and not o.cancelled]
        elif chosen == "expired":
            today = _local(self.now()).date()
            found = [o for o in found if o.invoice is None and not o.cancelled
                     and o.fields.get("DeliveryDate") is not None
                     and date.fromisoformat(o.fields["DeliveryDate"]) < today]
        for name in searches:
            if name in params:
                wanted = params[name].lower()
                key = {"customername": "CustomerName", "customernumber": "CustomerNumber",
                       "documentnumber": "DocumentNumber"}.get(name)
                found = [o for o in found if wanted in str(
                    (self._order_item(o).get(key) if key else None)
                    or o.fields.get(_SEARCH_FIELDS[name]) or "").lower()]
        return self._page(params, "Orders", [self._order_item(o) for o in found],
                          {"customername": "CustomerName", "customernumber": "CustomerNumber",
                           "documentnumber": "DocumentNumber", "orderdate": "OrderDate"},
                          "DocumentNumber")

    def _order_arg(self, text: str) -> _Order:
        order = self._orders.get(int(text)) if text.isdigit() else None
        if order is None:
            raise _Fail(404, 2000434, "Kan inte hitta ordern.")
        return order

    async def _order_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        return self._json({"Order": self._order_json(self._order_arg(args[0]))})

    def _order_locked(self, order: _Order) -> None:
        if order.cancelled:
            raise _Fail(400, _LOCKED, "Ordern är makulerad och kan inte ändras.")
        if order.invoice is not None:
            raise _Fail(400, _LOCKED, "Ordern är fakturerad och kan inte ändras.")

    async def _order_put(self, request: Request, args: tuple[str, ...]) -> Response:
        """Update an order (C14): head fields; rows replace the rows, new RowIds for all."""
        self._query(request, listing=False)
        order = self._order_arg(args[0])
        body = await self._body(request, "Order")
        self._order_locked(order)
        head: dict[str, Any] = {}
        state = order.delivery_state
        for name, value in body.items():
            if name in _ORDER_READ_ONLY:
                if name == "DocumentNumber" and str(value) != str(order.number):
                    raise _bad("DocumentNumber kan inte ändras.")
                continue
            if name == "DeliveryState":
                if not self.warehouse_module:
                    raise _Fail(400, 2001399, "Felaktigt fältnamn (DeliveryState)")
                if value not in ("registration", "reservation", "delivery"):
                    raise _bad("DeliveryState är registration, reservation eller delivery.")
                state = str(value)
            elif name == "OrderRows":
                continue
            elif name in order.fields:
                head[name] = value
            else:
                raise _Fail(400, 2001399, f"Felaktigt fältnamn ({name})")
        rows = order.rows
        if "OrderRows" in body:
            rows = self._rows_from(order, body["OrderRows"], state)
        elif state != order.delivery_state and order.warehouse_ready:
            raise _Fail(400, _WAREHOUSE_RULE, "Dokumentet är klarmarkerat i lager och kan inte "
                                              "ändras.")
        order.fields.update(head)
        order.delivery_state = state
        order.rows = rows
        for row in order.rows:  # every row update regenerates all RowIds [contract] (C14)
            row.id = next(self._ids["row"])
        order.modified = self.now()
        order.writes += 1
        return self._json({"Order": self._order_json(order)})

    def _rows_from(self, order: _Order, given: Any, state: str) -> list[_Row]:
        if not isinstance(given, list) or not all(isinstance(r, dict) for r in given):
            raise _Fail(400, *_BAD_DATA)
        if order.warehouse_ready:
            raise _Fail(400, _WAREHOUSE_RULE, "Dokumentet är klarmarkerat i lager och kan inte "
                                              "ändras.")  # [WAREHOUSE] (C17)
        current = {r.id: r for r in order.rows}
        rows: list[_Row] = []
        for given_row in given:
            unknown = [k for k in given_row if k not in _ROW_WRITABLE and k not in _ROW_READ_ONLY]
            if unknown:
                raise _Fail(400, 2001399, f"Felaktigt fältnamn ({unknown[0]})")
            base: _Row | None = None
            if given_row.get("RowId") not in (None, ""):
                row_id = int(_dec(given_row["RowId"], "RowId"))
                base = current.pop(row_id, None)
                if base is None:
                    raise _bad(f"Ogiltigt rad-id ({row_id}).")
            article = str(given_row["ArticleNumber"]) if given_row.get("ArticleNumber") \
                else (base.article if base else None)
            if article is not None and article not in self._articles:
                raise _Fail(400, 2000428, f"Kan inte hitta artikeln ({article}).")
            ordered = _dec(given_row["OrderedQuantity"], "OrderedQuantity") \
                if "OrderedQuantity" in given_row else (base.ordered if base else _ZERO)
            delivered = _dec(given_row["DeliveredQuantity"], "DeliveredQuantity") \
                if "DeliveredQuantity" in given_row else (base.delivered if base else _ZERO)
            if ordered < 0 or delivered < 0:
                raise _bad("Antal kan inte vara negativt.")
            if delivered > ordered:
                raise _bad("Levererat antal kan inte vara större än beställt antal.")
            previous = base.delivered if base else _ZERO
            if self.warehouse_module and delivered != previous:
                if state != "delivery":  # [WAREHOUSE-FIELDS] (C17)
                    raise _Fail(400, _WAREHOUSE_RULE, "Levererat antal kan bara ändras när "
                                                      "dokumentet är i leveransläge "
                                                      "(DeliveryState delivery).")
                article_record = self._articles.get(article) if article else None
                if (article_record is not None and article_record.stock_goods
                        and not self.allow_negative_stock
                        and delivered > self._stock(article_record.number)):
                    delivered = _ZERO  # the silent zero [NEGATIVE] (C18)
            price = _dec(given_row["Price"], "Price") if given_row.get("Price") is not None \
                else (base.price if base else None)
            row = self._new_row(article, given_row.get("Description")
                                if "Description" in given_row
                                else (base.description if base else None),
                                ordered, price, delivered)
            if base is not None:
                row.unit, row.vat, row.discount = base.unit, base.vat, base.discount
                row.extra = dict(base.extra)
            for name in ("Unit",):
                if given_row.get(name) is not None:
                    row.unit = str(given_row[name])
            if given_row.get("VAT") is not None:
                row.vat = _dec(given_row["VAT"], "VAT")
            if given_row.get("Discount") is not None:
                row.discount = _dec(given_row["Discount"], "Discount")
            for name in _ROW_EXTRA:
                if name in given_row:
                    row.extra[name] = given_row[name]
            rows.append(row)
        return rows  # rows left out are deleted [contract] (C14)

    async def _create_invoice(self, request: Request, args: tuple[str, ...]) -> Response:
        """``createinvoice``: invoice the delivered quantities, the rest to a back order
        [RESTORDER] (C19)."""
        self._query(request, listing=False)
        order = self._order_arg(args[0])
        if order.cancelled:
            raise _Fail(400, _LOCKED, "Ordern är makulerad och kan inte faktureras.")
        if order.invoice is not None:
            raise _Fail(400, _LOCKED, f"Ordern är redan fakturerad (faktura {order.invoice}).")
        delivered = [r for r in order.rows if r.article is not None and r.delivered > 0]
        if not delivered:
            raise _bad("Ordern har inga levererade rader att fakturera.")
        moment = self.now()
        number = next(self._ids["invoice"])
        self._invoices[number] = _Invoice(
            number, order.number, order.customer, moment,
            [(r.article, r.description, r.delivered, r.price) for r in order.rows
             if r.article is None or r.delivered > 0],
            {name: order.fields.get(name) for name in ("ExternalInvoiceReference1",
                                                       "ExternalInvoiceReference2",
                                                       "Remarks", "Comments",
                                                       "YourOrderNumber", "OurReference",
                                                       "YourReference")})
        order.invoice = number
        order.modified = moment
        rest = [(r, r.ordered - r.delivered) for r in order.rows
                if r.article is not None and r.ordered > r.delivered]
        if rest:
            back = next(self._ids["order"])
            rows = [self._new_row(r.article, r.description, remaining, r.price)
                    for r, remaining in rest]
            self._orders[back] = _Order(back, order.customer, _local(moment).date(), moment,
                                        rows, dict(order.fields), back_order_of=order.number,
                                        delivery_state=order.delivery_state)
        return self._json({"Invoice": self._invoice_json(self._invoices[number])})

    async def _warehouse_ready(self, request: Request, args: tuple[str, ...]) -> Response:
        """``warehouseready`` [WAREHOUSE-FIELDS] (C17)."""
        self._query(request, listing=False)
        order = self._order_arg(args[0])
        if not self.warehouse_module:
            raise _Fail(400, _WAREHOUSE_RULE, "Fortnox Lager är inte aktiverat.")
        self._order_locked(order)
        if order.warehouse_ready:
            raise _Fail(400, _WAREHOUSE_RULE, "Dokumentet är redan klarmarkerat i lager.")
        if order.delivery_state != "delivery":
            raise _Fail(400, _WAREHOUSE_RULE, "DeliveryState måste vara delivery för att "
                                              "klarmarkera dokumentet.")
        for row in order.rows:
            article = self._articles.get(row.article) if row.article else None
            if article is not None and article.stock_goods and row.delivered:
                self._warehouse_stock[article.number] = self._stock(article.number) - \
                    row.delivered
        order.warehouse_ready = True
        order.outbound_date = _local(self.now()).date()
        order.modified = self.now()
        return self._json({"Order": self._order_json(order)})

    async def _invoices_list(self, request: Request, args: tuple[str, ...]) -> Response:
        searches = ("customernumber", "documentnumber", "externalinvoicereference1",
                    "externalinvoicereference2")
        params = self._query(request, searches, (), ("documentnumber",))
        found = list(self._invoices.values())
        since = self._since(params)
        if since is not None:
            found = [i for i in found if i.created >= since]
        items = [{"@url": self._url(f"/3/invoices/{i.number}"), "Balance": "0",
                  "Booked": False, "Cancelled": False, "CustomerName": i.customer.name,
                  "CustomerNumber": i.customer.number, "DocumentNumber": str(i.number),
                  "ExternalInvoiceReference1": i.fields.get("ExternalInvoiceReference1") or "",
                  "ExternalInvoiceReference2": i.fields.get("ExternalInvoiceReference2") or "",
                  "InvoiceDate": _local(i.created).date().isoformat(),
                  "OrderReference": str(i.order)} for i in found]
        for name, key in (("customernumber", "CustomerNumber"),
                          ("documentnumber", "DocumentNumber"),
                          ("externalinvoicereference1", "ExternalInvoiceReference1"),
                          ("externalinvoicereference2", "ExternalInvoiceReference2")):
            if name in params:
                wanted = params[name].lower()
                items = [i for i in items if wanted in str(i[key]).lower()]
        return self._page(params, "Invoices", items, {"documentnumber": "DocumentNumber"},
                          "DocumentNumber")

    async def _invoice_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._query(request, listing=False)
        invoice = self._invoices.get(int(args[0])) if args[0].isdigit() else None
        if invoice is None:
            raise _Fail(404, 2000435, "Kan inte hitta fakturan.")
        return self._json({"Invoice": self._invoice_json(invoice)})

    # --- /api/warehouse (the endpoint table above; C16 - C22) ---------------------------------

    @staticmethod
    def _wquery(request: Request, known: Iterable[str]) -> dict[str, str]:
        allowed = set(known)
        seen: dict[str, str] = {}
        for name, value in parse_qsl(request.url.query, keep_blank_values=True):
            if name not in allowed or name in seen:
                raise _WFail(400, "invalid_parameter", f"unknown or repeated parameter {name!r}")
            seen[name] = value
        return seen

    @staticmethod
    async def _wbody(request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise _WFail(400, "invalid_json", "the body is not JSON") from None

    @staticmethod
    def _wdec(value: Any, name: str, *, positive: bool = False) -> Decimal:
        try:
            number = _dec(value, name)
        except _Fail:
            raise _WFail(400, "invalid_value", f"{name} must be a number") from None
        if number < 0 or (positive and number == 0):
            raise _WFail(400, "invalid_value", f"{name} must be {'>' if positive else '>='} 0")
        return number

    @staticmethod
    def _wdate(value: Any, name: str) -> date:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise _WFail(400, "invalid_value", f"{name} must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _WFail(400, "invalid_value", f"{name} must be a date YYYY-MM-DD") from None

    async def _tenant(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ())
        return self._json({"activated": self.warehouse_module, "tenantId": self.tenant_id})

    def _custom_key(self, category: str, type_: str, id_: str) -> tuple[str, str]:
        if not _CUSTOM_TYPE.fullmatch(type_):
            raise _WFail(400, "invalid_type", "type: 1-25 characters A-Z, 0-9, _ and -")
        upper = type_.upper()
        if upper.replace("-", "").replace("_", "") in _FORBIDDEN_TYPES:
            raise _WFail(400, "referenceTypeNotAllowed", f"the type {type_} is not allowed")
        registered = self._custom_types.get(upper)
        if registered is not None and registered != category:
            raise _WFail(400, "wrong_category",
                         f"{upper} is a custom document type of category {registered}")
        if not _CUSTOM_ID.fullmatch(id_):
            raise _WFail(400, "invalid_id", "id: 1-25 digits")
        return upper, id_

    async def _custom_save(self, request: Request, args: tuple[str, ...]) -> Response:
        """Save a custom inbound or outbound document (C19 of the table: saved, then released
        once)."""
        self._wquery(request, ())
        category = "INBOUND" if "/inbound-v1/" in request.url.path else "OUTBOUND"
        key = self._custom_key(category, *args)
        body = await self._wbody(request)
        if not isinstance(body, dict):
            raise _WFail(400, "invalid_body", "the body must be a JSON object")
        known = {"currency", "date", "id", "note", "rows", "type", "voided", "warehouseReady"}
        if category == "OUTBOUND":
            known = (known - {"currency", "type"}) | {
                "averageCosts", "deliveryState", "forcedDelivery", "referenceType"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise _WFail(400, "unknown_property", f"unknown property {unknown[0]!r}")
        if body.get("id") not in (None, key[1]):
            raise _WFail(400, "invalid_id", "the body's id differs from the path")
        given_type = body.get("type" if category == "INBOUND" else "referenceType")
        if given_type is not None and str(given_type).upper() != key[0]:
            raise _WFail(400, "invalid_type", "the body's type differs from the path")
        if body.get("warehouseReady") or body.get("voided"):
            raise _WFail(400, "invalid_value", "release or void a document with its endpoint")
        day = self._wdate(body.get("date"), "date")
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 1000):
            raise _WFail(400, "invalid_value", "note: at most 1000 characters")
        state = None
        if category == "OUTBOUND":
            state = body.get("deliveryState")
            if state not in ("registration", "reservation", "delivery"):
                raise _WFail(400, "invalid_value",
                             "deliveryState is registration, reservation or delivery")
        rows = body.get("rows")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise _WFail(400, "invalid_value", "rows: at least one row")
        stored: list[dict[str, Any]] = []
        ids: set[int] = set()
        for row in rows:
            item = row.get("itemId")
            if not isinstance(item, str) or item not in self._articles:
                raise _WFail(400, "item_not_found", f"no item {item!r}")
            quantity = self._wdec(row.get("quantity"), "quantity", positive=True)
            row_id = row.get("rowId")
            if isinstance(row_id, bool) or not isinstance(row_id, int) or row_id < 1 \
                    or row_id in ids:
                raise _WFail(400, "invalid_value", "rowId: a distinct integer from 1 per row")
            ids.add(row_id)
            stored.append({"itemId": item, "quantity": _num(quantity), "rowId": row_id,
                           "itemDescription": row.get("itemDescription")
                           or self._articles[item].description,
                           "stockPointCode": row.get("stockPointCode") or STOCK_POINT})
        existing = self._custom.get(key)
        if existing is not None:
            if existing.voided:
                raise _WFail(400, "document_is_voided", "the document is voided")
            if existing.released:
                raise _WFail(400, "cannot_modify_released_document",
                             "a released document cannot be changed")
            existing.day, existing.rows, existing.note = day, stored, note
            existing.delivery_state = state
            existing.saves += 1
            document = existing
        else:
            self._custom_types.setdefault(key[0], category)
            document = _CustomDocument(category, key[0], key[1], day, stored, note, state)
            self._custom[key] = document
        return self._json(self._custom_json(document))

    def _custom_doc(self, args: tuple[str, ...]) -> _CustomDocument:
        found = self._custom.get((args[0].upper(), args[1]))
        if found is None:
            raise _WFail(404, "not_found", f"no custom document {args[0]}/{args[1]}")
        return found

    async def _custom_get(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ())
        document = self._custom_doc(args)
        category = "INBOUND" if "/inbound-v1/" in request.url.path else "OUTBOUND"
        if document.category != category:
            raise _WFail(404, "not_found", f"no custom {category.lower()} document")
        return self._json(self._custom_json(document))

    async def _custom_release(self, request: Request, args: tuple[str, ...]) -> Response:
        """Release: "locked and bookkept", stock moves; once (C19)."""
        self._wquery(request, ())
        document = self._custom_doc(args)
        if document.voided:
            raise _WFail(400, "document_is_voided", "the document is voided")
        if document.released:
            raise _WFail(400, "document_already_released", "the document is already released")
        sign = 1 if document.category == "INBOUND" else -1
        if sign < 0 and not self.allow_negative_stock:
            for row in document.rows:
                if self._articles[row["itemId"]].stock_goods and \
                        self._stock(row["itemId"]) < Decimal(str(row["quantity"])):
                    raise _WFail(400, "insufficient_stock",
                                 f"not enough {row['itemId']} in stock")  # C18
        self._move(document.rows, "quantity", sign)
        document.released = True
        return Response(status_code=204)

    async def _custom_void(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ("force",))
        document = self._custom_doc(args)
        if document.voided:
            raise _WFail(400, "document_is_voided", "the document is already voided")
        if document.released:
            self._move(document.rows, "quantity", -1 if document.category == "INBOUND" else 1)
        document.voided = True
        return Response(status_code=204)

    def _move(self, rows: Iterable[Mapping[str, Any]], key: str, sign: int) -> None:
        for row in rows:
            article = self._articles.get(row.get("itemId") or "")
            if article is not None and article.stock_goods:
                self._warehouse_stock[article.number] = (
                    self._stock(article.number) + sign * Decimal(str(row[key])))

    async def _po_list(self, request: Request, args: tuple[str, ...]) -> Response:
        params = self._wquery(request, ("q", "supplierNumber", "state", "itemId",
                                        "purchaseType", "internalReference", "note"))
        found = list(self._purchase_orders.values())
        state = params.get("state")
        if state is not None:
            if state not in ("NOT_SENT", "SENT", "SENT_NOT_REJECTED", "DELAYED", "RECEIVED",
                             "VOIDED", "CURRENT", "ALL"):
                raise _WFail(400, "invalid_parameter", "state")
            if state in ("CURRENT", "SENT_NOT_REJECTED"):
                found = [p for p in found if p.state in ("NOT_SENT", "SENT") and not p.voided]
            elif state == "VOIDED":
                found = [p for p in found if p.voided]
            elif state != "ALL":
                found = [p for p in found if p.state == state and not p.voided]
        if "purchaseType" in params:
            if params["purchaseType"] not in ("WAREHOUSE", "DROPSHIP"):
                raise _WFail(400, "invalid_parameter", "purchaseType")
            found = [p for p in found if p.purchase_type == params["purchaseType"]]
        if "supplierNumber" in params:
            found = [p for p in found if p.supplier.number == params["supplierNumber"]]
        if "itemId" in params:
            found = [p for p in found if any(r.item == params["itemId"] for r in p.rows)]
        for name, attribute in (("note", "note"), ("internalReference", "internal_reference")):
            if name in params:
                wanted = params[name].lower()
                found = [p for p in found if wanted in (getattr(p, attribute) or "").lower()]
        if "q" in params:
            wanted = params["q"].lower()
            found = [p for p in found if wanted in str(p.id)
                     or wanted in (p.internal_reference or "").lower()]
        return self._json([self._po_json(p) for p in sorted(found, key=lambda p: p.id)])

    def _po_arg(self, text: str) -> _PurchaseOrder:
        found = self._purchase_orders.get(int(text)) if text.isdigit() else None
        if found is None:
            raise _WFail(404, "not_found", f"no purchase order {text}")
        return found

    async def _po_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ("ignoreIncomingGoodsId",))
        return self._json(self._po_json(self._po_arg(args[0])))

    async def _po_complete(self, request: Request, args: tuple[str, ...]) -> Response:
        """Manually complete: "treated as fully received" [APIDOCS] (C21)."""
        self._wquery(request, ())
        po = self._po_arg(args[0])
        if po.voided:
            raise _WFail(400, "document_is_voided", "the purchase order is voided")
        if po.manually_completed:
            raise _WFail(400, "already_completed", "the purchase order is already completed")
        if po.state not in ("SENT", "RECEIVED"):
            raise _WFail(400, "invalid_state", f"the purchase order is {po.state}")
        po.manually_completed = True
        po.state = "RECEIVED"
        po.completions += 1
        return Response(status_code=204)

    def _recount(self, po: _PurchaseOrder) -> None:
        """receivedQuantity of the rows: what incoming goods (not voided) hold (C20)."""
        for row in po.rows:
            row.received = sum((Decimal(str(r["receivedQuantity"]))
                                for g in self._incoming.values() if not g.voided
                                for r in g.rows if r.get("purchaseOrderRowId") == row.id),
                               _ZERO)

    async def _incoming_create(self, request: Request, args: tuple[str, ...]) -> Response:
        """Create incoming goods for received amounts of purchase-order rows (C20)."""
        self._wquery(request, ())
        if not self.incoming_goods_enabled:
            raise _WFail(400, "incoming_goods_not_activated",
                         "Inkommande gods är inte aktiverat (Inställningar - Lager)")
        body = await self._wbody(request)
        if not isinstance(body, dict):
            raise _WFail(400, "invalid_body", "the body must be a JSON object")
        note_id = body.get("deliveryNoteId")
        if not isinstance(note_id, str) or not 1 <= len(note_id) <= 50:
            raise _WFail(400, "invalid_value", "deliveryNoteId: 1-50 characters")
        if body.get("released") or body.get("completed") or body.get("voided"):
            raise _WFail(400, "invalid_value", "release, complete or void with their endpoints")
        day = self._wdate(body["date"], "date") if body.get("date") is not None \
            else _local(self.now()).date()
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 1000):
            raise _WFail(400, "invalid_value", "note: at most 1000 characters")
        rows = body.get("rows")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise _WFail(400, "invalid_value", "rows: at least one row")
        supplier_number = body.get("supplierNumber")
        stored: list[dict[str, Any]] = []
        touched: dict[int, _PurchaseOrder] = {}
        asked: dict[str, Decimal] = {}
        for n, row in enumerate(rows, start=1):
            for required in ("backOrderQuantity", "invoicedQuantity", "orderedQuantity",
                             "receivedQuantity", "takenQuantity"):
                if row.get(required) is None:
                    raise _WFail(400, "invalid_value", f"rows[{n}].{required} is required")
                self._wdec(row[required], required)
            item = row.get("itemId")
            if not isinstance(item, str) or item not in self._articles:
                raise _WFail(400, "item_not_found", f"no item {item!r}")
            received = self._wdec(row["receivedQuantity"], "receivedQuantity")
            out = {"backOrderQuantity": _num(self._wdec(row["backOrderQuantity"], "b")),
                   "id": str(uuid.uuid4()), "invoicedQuantity": 0, "isStockItem":
                   self._articles[item].stock_goods, "itemDescription":
                   row.get("itemDescription") or self._articles[item].description,
                   "itemId": item, "itemUnit": self._articles[item].unit,
                   "orderedQuantity": _num(self._wdec(row["orderedQuantity"], "o")),
                   "purchaseOrderId": None, "purchaseOrderRowId": None,
                   "receivedQuantity": _num(received), "rowOrder": n,
                   "stockPointCode": STOCK_POINT, "takenQuantity": 0}
            po_id = row.get("purchaseOrderId")
            if po_id is not None:
                if isinstance(po_id, bool) or not isinstance(po_id, int):
                    raise _WFail(400, "invalid_value", "purchaseOrderId is an integer")
                po = self._purchase_orders.get(po_id)
                if po is None or po.voided:
                    raise _WFail(400, "purchase_order_not_found", f"no purchase order {po_id}")
                if po.state != "SENT" or po.purchase_type != "WAREHOUSE":
                    raise _WFail(400, "invalid_purchase_order_state",
                                 f"purchase order {po_id} is {po.state} ({po.purchase_type})")
                if supplier_number is not None and str(supplier_number) != po.supplier.number:
                    raise _WFail(400, "supplier_mismatch", "supplierNumber differs from the "
                                                           "purchase order's supplier")
                po_row = next((r for r in po.rows if r.id == row.get("purchaseOrderRowId")),
                              None)
                if po_row is None or po_row.item != item:
                    raise _WFail(400, "purchase_order_row_not_found",
                                 f"no row {row.get('purchaseOrderRowId')!r} of item {item} "
                                 f"on purchase order {po_id}")
                asked[po_row.id] = asked.get(po_row.id, _ZERO) + received
                if asked[po_row.id] > po_row.ordered - po_row.received:  # [INKOMMANDE] (C20)
                    raise _WFail(400, "received_quantity_exceeds_remaining",
                                 f"{item}: {asked[po_row.id]} received, "
                                 f"{po_row.ordered - po_row.received} remain; put the surplus "
                                 "on a row of its own")
                out["purchaseOrderId"], out["purchaseOrderRowId"] = po.id, po_row.id
                touched[po.id] = po
                supplier_number = supplier_number or po.supplier.number
            stored.append(out)
        supplier = self._suppliers.get(str(supplier_number)) if supplier_number else None
        number = next(self._ids["incoming"])
        goods = _IncomingGoods(number, note_id, day, supplier.number if supplier else None,
                               body.get("supplierName") or (supplier.name if supplier else None),
                               note, stored)
        self._incoming[number] = goods
        for po in touched.values():
            self._recount(po)
        return self._json(self._incoming_json(goods), 201, {
            "Location": self._url(f"/api/warehouse/incominggoods-v1/{number}")})

    def _incoming_arg(self, text: str) -> _IncomingGoods:
        found = self._incoming.get(int(text)) if text.isdigit() else None
        if found is None:
            raise _WFail(404, "not_found", f"no incoming goods {text}")
        return found

    async def _incoming_one(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ("ignoreSupplierInvoiceId",))
        return self._json(self._incoming_json(self._incoming_arg(args[0])))

    async def _incoming_list(self, request: Request, args: tuple[str, ...]) -> Response:
        params = self._wquery(request, ("released", "completed", "voided", "supplierNumber",
                                        "itemId", "note", "deliveryNote", "q"))
        found = list(self._incoming.values())
        for name in ("released", "completed", "voided"):
            if name in params:
                if params[name] not in ("true", "false"):
                    raise _WFail(400, "invalid_parameter", name)
                flag = params[name] == "true"
                found = [g for g in found if (getattr(g, name) not in (None, False)) == flag]
        if "supplierNumber" in params:
            found = [g for g in found if g.supplier_number == params["supplierNumber"]]
        if "itemId" in params:
            found = [g for g in found if any(r["itemId"] == params["itemId"] for r in g.rows)]
        if "note" in params:
            found = [g for g in found if params["note"].lower() in (g.note or "").lower()]
        if "deliveryNote" in params:
            found = [g for g in found
                     if params["deliveryNote"].lower() in g.delivery_note_id.lower()]
        if "q" in params:
            wanted = params["q"].lower()
            found = [g for g in found
                     if wanted in str(g.id) or wanted in g.delivery_note_id.lower()]
        return self._json([{k: v for k, v in self._incoming_json(g).items() if k != "rows"}
                           | {"unmatchedValue": 0} for g in found])

    async def _incoming_release(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ())
        goods = self._incoming_arg(args[0])
        if goods.voided:
            raise _WFail(400, "document_is_voided", "the document is voided")
        if goods.released is not None:
            raise _WFail(400, "document_already_released", "the document is already released")
        goods.released = _local(self.now()).date()
        self._move(goods.rows, "receivedQuantity", 1)
        for po_id in {r["purchaseOrderId"] for r in goods.rows if r["purchaseOrderId"]}:
            po = self._purchase_orders[po_id]
            released = {r["purchaseOrderRowId"]: Decimal(0) for r in goods.rows}
            for other in self._incoming.values():
                if other.released is not None and not other.voided:
                    for r in other.rows:
                        if r["purchaseOrderRowId"] is not None:
                            released[r["purchaseOrderRowId"]] = released.get(
                                r["purchaseOrderRowId"], _ZERO) + Decimal(
                                    str(r["receivedQuantity"]))
            if all(released.get(row.id, _ZERO) >= row.ordered for row in po.rows):
                po.state = "RECEIVED"  # fully received through released goods (C21)
        return Response(status_code=204)

    async def _incoming_completed(self, request: Request, args: tuple[str, ...]) -> Response:
        """Complete released goods; the body is the bookkeeping date as a JSON string, from
        the release date to today [APIDOCS operation/completed] (C20)."""
        self._wquery(request, ())
        goods = self._incoming_arg(args[0])
        body = await self._wbody(request)
        when = self._wdate(body, "the bookkeeping date")
        if goods.voided:
            raise _WFail(400, "document_is_voided", "the document is voided")
        if goods.released is None:
            raise _WFail(400, "document_not_released", "release the document first")
        if goods.completed is not None:
            raise _WFail(400, "document_already_completed", "the document is already completed")
        if not goods.released <= when <= _local(self.now()).date():
            raise _WFail(400, "invalid_date", "the date must be between the release date and "
                                              "today")
        goods.completed = when
        return Response(status_code=204)

    async def _incoming_void(self, request: Request, args: tuple[str, ...]) -> Response:
        self._wquery(request, ())
        goods = self._incoming_arg(args[0])
        if goods.completed is not None:
            raise _WFail(400, "document_is_completed", "a completed document cannot be voided")
        if goods.voided:
            raise _WFail(400, "document_is_voided", "the document is already voided")
        if goods.released is not None:
            self._move(goods.rows, "receivedQuantity", -1)
        goods.voided = True
        for po_id in {r["purchaseOrderId"] for r in goods.rows if r["purchaseOrderId"]}:
            self._recount(self._purchase_orders[po_id])
        return Response(status_code=204)

    async def _stock_balance(self, request: Request, args: tuple[str, ...]) -> Response:
        params = self._wquery(request, ("itemIds", "stockPointCodes"))
        items = [a for a in self._articles.values() if a.stock_goods]
        if "itemIds" in params:
            wanted = {i.strip() for i in params["itemIds"].split(",") if i.strip()}
            items = [a for a in items if a.number in wanted]
        if "stockPointCodes" in params:
            codes = {c.strip() for c in params["stockPointCodes"].split(",") if c.strip()}
            if STOCK_POINT not in codes:
                items = []
        return self._json([{"availableStock": _num(self._stock(a.number)),
                            "inStock": _num(self._stock(a.number)), "itemId": a.number,
                            "stockPointCode": STOCK_POINT} for a in items])


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    text = str(value)
    try:
        return (1, Decimal(text))
    except InvalidOperation:
        return (2, text)


_ARTICLE_WRITABLE = {
    "Active": "active", "Depth": "depth", "Description": "description", "EAN": "ean",
    "Height": "height", "Note": "note", "PurchasePrice": "purchase_price",
    "QuantityInStock": "quantity", "StockGoods": "stock_goods",
    "SupplierNumber": "supplier_number", "Unit": "unit", "Weight": "weight", "Width": "width"}
"""The article fields the simulator writes (C13)."""
_ARTICLE_READ_ONLY = frozenset({
    "@url", "ArticleNumber", "DisposableQuantity", "ReservedQuantity", "SalesPrice",
    "StockValue", "SupplierName", "Type", "Expired"})
_ORDER_READ_ONLY = frozenset({
    "@url", "Cancelled", "CustomerNumber", "DocumentNumber", "InvoiceReference", "NotCompleted",
    "OrderDate", "OrderType", "OutboundDate", "Sent", "Total", "WarehouseReady"})
_ROW_WRITABLE = frozenset({
    "AccountNumber", "ArticleNumber", "CostCenter", "DeliveredQuantity", "Description",
    "Discount", "DiscountType", "HouseWork", "HouseWorkHoursToReport", "HouseWorkType",
    "OrderedQuantity", "Price", "Project", "StockPointCode", "Unit", "VAT", "RowId"})
_ROW_READ_ONLY = frozenset({"Total", "ReservedQuantity", "ContributionPercent",
                            "ContributionValue", "PriceExcludingVAT", "TotalExcludingVAT"})
_ROW_EXTRA = ("AccountNumber", "CostCenter", "DiscountType", "HouseWork",
              "HouseWorkHoursToReport", "HouseWorkType", "Project", "StockPointCode")
_SEARCH_FIELDS = {"externalinvoicereference1": "ExternalInvoiceReference1",
                  "externalinvoicereference2": "ExternalInvoiceReference2",
                  "ourreference": "OurReference", "yourreference": "YourReference",
                  "yourordernumber": "YourOrderNumber"}

_Handler = Callable[[FortnoxSandbox, Request, tuple[str, ...]], Awaitable[Response]]
_S = FortnoxSandbox
_CUSTOM = r"/api/warehouse/documentdeliveries/custom/(?:inbound|outbound)-v1/([^/]+)/([^/]+)"
_ROUTE_TABLE: list[tuple[str, dict[str, tuple[_Handler, tuple[str, ...]]]]] = [
    (r"/3/articles/?", {"GET": (_S._articles_list, ("article",))}),
    (r"/3/articles/([^/]+)", {"GET": (_S._article_one, ("article",)),
                              "PUT": (_S._article_put, ("article",))}),
    (r"/3/suppliers/?", {"GET": (_S._suppliers_list, ("supplier",))}),
    (r"/3/suppliers/([^/]+)", {"GET": (_S._supplier_one, ("supplier",))}),
    (r"/3/customers/([^/]+)", {"GET": (_S._customer_one, ("customer",))}),
    (r"/3/companyinformation/?", {"GET": (_S._company, ("companyinformation",))}),
    (r"/3/orders/?", {"GET": (_S._orders_list, ("order",))}),
    (r"/3/orders/([^/]+)", {"GET": (_S._order_one, ("order",)),
                            "PUT": (_S._order_put, ("order",))}),
    (r"/3/orders/([^/]+)/createinvoice", {"PUT": (_S._create_invoice,
                                                  ("order", "invoice"))}),
    (r"/3/orders/([^/]+)/warehouseready", {"PUT": (_S._warehouse_ready, ("order",))}),
    (r"/3/invoices/?", {"GET": (_S._invoices_list, ("invoice",))}),
    (r"/3/invoices/([^/]+)", {"GET": (_S._invoice_one, ("invoice",))}),
    (r"/api/warehouse/tenants-v4", {"GET": (_S._tenant, ())}),
    (_CUSTOM, {"GET": (_S._custom_get, ("warehouse",)),
               "PUT": (_S._custom_save, ("warehouse",))}),
    (_CUSTOM + "/release", {"PUT": (_S._custom_release, ("warehouse",))}),
    (_CUSTOM + "/void", {"PUT": (_S._custom_void, ("warehouse",))}),
    (r"/api/warehouse/purchaseorders-v1", {"GET": (_S._po_list, ("warehouse",))}),
    (r"/api/warehouse/purchaseorders-v1/([^/]+)", {"GET": (_S._po_one, ("warehouse",))}),
    (r"/api/warehouse/purchaseorders-v1/([^/]+)/complete",
     {"PUT": (_S._po_complete, ("warehouse",))}),
    (r"/api/warehouse/incominggoods-v1/?", {"GET": (_S._incoming_list, ("warehouse",)),
                                            "POST": (_S._incoming_create, ("warehouse",))}),
    (r"/api/warehouse/incominggoods-v1/([^/]+)", {"GET": (_S._incoming_one,
                                                         ("warehouse",))}),
    (r"/api/warehouse/incominggoods-v1/([^/]+)/release",
     {"PUT": (_S._incoming_release, ("warehouse",))}),
    (r"/api/warehouse/incominggoods-v1/([^/]+)/completed",
     {"PUT": (_S._incoming_completed, ("warehouse",))}),
    (r"/api/warehouse/incominggoods-v1/([^/]+)/void",
     {"PUT": (_S._incoming_void, ("warehouse",))}),
    (r"/api/warehouse/status-v1/stockbalance", {"GET": (_S._stock_balance,
                                                        ("warehouse",))}),
]
"""The simulated routes: path pattern -> method -> (handler, scopes needed) (C1, C6)."""
_ROUTES = [(re.compile(pattern), verbs) for pattern, verbs in _ROUTE_TABLE]

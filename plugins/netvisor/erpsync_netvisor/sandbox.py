"""A faithful local simulator of the Visma Netvisor XML API, the part erpsync's integration uses.

:class:`NetvisorSandbox` is a starlette ASGI app (:attr:`NetvisorSandbox.app`) serving the
resources at its root exactly as ``https://isvapi.netvisor.fi/<resource>.nv`` (production) and
``https://isvapitest.netvisor.fi/<resource>.nv`` (the vendor's test host) do, plus a control
surface in plain Python that plays the Netvisor user (products, customers, sales orders,
purchase orders, event types, blocked resources, a clock) and reads back what a client wrote
(delivered quantities per order line, received quantities per purchase-order row, warehouse
events). It also implements :class:`erpsync.conformance.ErpSandbox`::

    sandbox = NetvisorSandbox()
    sandbox.add_product("VASARA-1", "Vasara äöå", unit_price=Decimal("12.50"))
    with erpsync.http.mount(sandbox.base_url, sandbox.app):
        ...                                        # the plugin talks to the simulator
    sandbox.delivered("1001")                      # {"<line key>": Decimal("2")}

Nothing here imports the plugin; :func:`mac` is the one function a client must mirror.

Sources (public; each rule in the code cites its source by the tag in brackets)
-------------------------------------------------------------------------------

- [SEC] https://support.netvisor.fi/en/support/solutions/articles/77000577954-security-and-authentication
  (the headers; "The SHA256 value provided in the X-Netvisor-Authentication-MAC header is
  calculated using all the information ...", "The headers ... do not include the unique keys of
  the software partner or user, however, these are necessary for the SHA256 calculation",
  "If a request with the same transaction identifier has been sent to the interface previously,
  the interface will return an error", ``X-Netvisor-Authentication-UseHTTPResponseStatusCodes``)
- [AUTH] https://support.netvisor.fi/en/support/solutions/articles/77000557880-api-authentication
  (REST over HTTP, XML, the ``Root/ResponseStatus/Status`` ``OK``/``FAILED`` envelope with
  ``TimeStamp`` "01.01.2018 12:00:00", ``Replies/InsertedDataIdentifier``; since May 2025 also
  HMACSHA256 authentication)
- [ERR] https://support.netvisor.fi/en/support/solutions/articles/77000500440-controlling-errors
  (a failed request returns ``FAILED`` and then ``CODE :: text``, e.g. "AUTHENTICATION_FAILED ::
  Integration keys are not valid. Please check the keys specific to the user and partner.";
  categories AUTHENTICATION_FAILED, INVALID_DATA, INVALID_DATA_SIZE, DUPLICATE_DATA; "Send one
  message at a time ... Overlapping messages to the same customer environment cause different
  errors")
- [GEN] https://support.netvisor.fi/en/articles/766841-resources-general (dates ANSI, countries
  ISO 3166, empty elements, "Elements have to be in the same order as in the DTD", "the message
  has to be encoded in ISO/IEC 8859-15, but xml declaration does not need to be given ... the
  material should always start with <root>")
- [FAQ] seed 004: "SERVICE_ACCESS_ERROR :: Service error. The company has blocked access to the
  api resource: X"; API identifiers are tied to a user and through the user to the companies
  the user has rights to.
- [PL] https://support.netvisor.fi/en/support/solutions/articles/77000554240-get-product-list-productlist-nv
  and the announcement https://support.netvisor.fi/en/support/discussions/topics/77000265807
- [GP] https://support.netvisor.fi/en/support/solutions/articles/77000554241-get-product-details-getproduct-nv
- [SIL] https://support.netvisor.fi/en/support/solutions/articles/77000554148-get-sales-invoice-or-order-list-salesinvoicelist-nv
- [GO] https://support.netvisor.fi/en/support/solutions/articles/77000554151-get-sales-invoice-details-getsalesinvoice-nv-getorder-nv
- [GC] https://support.netvisor.fi/en/articles/766863-get-customer-details-getcustomer-nv
- [SOI] https://support.netvisor.fi/en/support/solutions/articles/77000554163-invoicing-and-delivering-sales-order-salesorderinvoicing-nv
  (the documented way to tell Netvisor an order's delivered amounts without invoicing it:
  ``method=deliveryonly``)
- [WR] https://support.netvisor.fi/en/support/solutions/articles/77000554249-get-warehouse-report-warehousereport-nv
- [PO] seed 003 (purchaseorderlist.nv, getpurchaseorder.nv, purchaseorder.nv with the product
  line methods edit, delete, partialdeliver, addtopartialdeliverygroup) and the live page
  https://support.netvisor.fi/en/support/solutions/articles/77000554227-get-purchase-order-getpurchaseorder-nv
  (``OrderStatus`` with the attribute ``deliverystatus``; the seed's ``OrderDstatus`` is a typo)
- [WE] https://support.netvisor.fi/en/support/solutions/articles/77000554248-import-warehouse-event-warehouseevent-nv
- [RES] https://support.netvisor.fi/en/support/solutions/articles/77000467036-resources-products-and-warehouse
  (the list of product and warehouse resources: no resource reads warehouse events back)
- [PUB] public client code, for details the stored vendor pages break off before (never copied):
  rantalainen/netvisor-api-client (element names of getproduct.nv and getsalesinvoice.nv,
  the HMACSHA256 message), Heltti/netvisor-api-client and fastmonkeys/netvisor.py test data
  (``<?xml version="1.0" encoding="utf-8" standalone="yes"?>`` answers), urhoj/NetvisorWSClient
  (the order of the MAC's parts).

Served resources (method, query parameters; names are case-insensitive, see C10)
--------------------------------------------------------------------------------

- ``GET productlist.nv``: changedsince, keyword, published, unpublished, deleted [PL]
- ``GET getproduct.nv``: id | idlist (max 400) | code | codelist (max 400) | eancode;
  showsubproducts, replyoption (1, 2, 3) [GP]
- ``GET salesinvoicelist.nv``: listtype ("" or preinvoice), invoicesabovenetvisorkey,
  begininvoicedate, endinvoicedate, invoicenumber, invoicestatus, lastmodifiedstart,
  lastmodifiedend, customercode, customernetvisorkey [SIL]
- ``GET getorder.nv``: netvisorkey | netvisorkeylist (max 500); pdfimage, showprocesshistory,
  includeattachments, showcommentlines, includedocuments [GO]
- ``GET getcustomer.nv``: id | idlist (max 500) [GC]
- ``POST salesorderinvoicing.nv``: method=deliveryonly, copysublines, updatemidprice [SOI]
- ``GET warehousereport.nv``: report=salesinventoryevents with page, salesentitiesonpage,
  salesentitytype, salesentitystatuses, salesentitiesnetvisorkeys, customernetvisorkeys [WR];
  report=warehouseevents with reference only when ``warehouse_event_report=True`` (C20)
- ``GET purchaseorderlist.nv``: limitstartordernumber, limitendordernumber, limitbegindate,
  limitenddate, limitorderstatus, searchcomment, limitvendor, lastmodifiedstart,
  lastmodifiedend [PO]
- ``GET getpurchaseorder.nv``: netvisorkey | NetvisorKeyList (max 500) [PO]
- ``POST purchaseorder.nv``: method=edit, id [PO]
- ``POST warehouseevent.nv`` [WE]

Authentication [SEC]: every request carries ``X-Netvisor-Authentication-Sender``,
``-CustomerId``, ``-PartnerId``, ``-Timestamp``, ``-TransactionId``,
``X-Netvisor-Interface-Language``, ``X-Netvisor-Organisation-ID``,
``X-Netvisor-Authentication-MAC`` and ``X-Netvisor-Authentication-MACHashCalculationAlgorithm``;
``X-Netvisor-Authentication-UseHTTPResponseStatusCodes`` is optional. The MAC is :func:`mac`.

Choices where the documentation is silent (the strict reading; the code says "(C<n>)")
-------------------------------------------------------------------------------------

C1  Answers are ``<?xml version="1.0" encoding="utf-8" standalone="yes"?>`` and UTF-8 with
    ``Content-Type: text/xml; charset=utf-8`` [PUB test data]. ``TimeStamp`` is
    ``dd.MM.yyyy HH:mm:ss`` in Finnish local time (Europe/Helsinki) as in [AUTH]'s example.
C2  A failed call answers HTTP 200 with ``Status`` FAILED and ``Status`` ``CODE :: text``. With
    ``X-Netvisor-Authentication-UseHTTPResponseStatusCodes: 1`` the HTTP status follows the
    code (:data:`HTTP_STATUS`): AUTHENTICATION_FAILED 401, SERVICE_ACCESS_ERROR 403,
    INVALID_DATA / INVALID_DATA_SIZE 400, DUPLICATE_DATA and REQUEST_NOT_UNIQUE 409,
    TECHNICAL_ERROR 503. A path that is no simulated resource is 404 (with the envelope), a
    wrong HTTP method 405, whatever the header says.
C3  The checks run in this order and the first failure answers: resource, method, required
    headers (every header above, non-empty, printable ASCII), partner id, customer id,
    language (FI, EN, SE), algorithm, MAC, timestamp, transaction id, organisation, overlap
    (C9), the company's blocked resources, the parameters, the body. Texts other than the two
    quoted from [ERR] and [FAQ] are ours, in English whatever the interface language.
C4  Algorithms: ``SHA256`` [SEC] and ``HMACSHA256`` [AUTH, since May 2025; its message and key
    as [PUB] rantalainen builds them, with the extra header
    ``X-Netvisor-Authentication-TimestampUnix``]. Anything else, MD5 included, is refused.
    The MAC is compared case-insensitively as hex; non-ASCII parts are refused (C3), so the
    message's encoding never matters.
C5  The URL in the MAC is the URL as received: scheme, the Host header, the raw path and the
    raw (still percent-encoded) query string, i.e. ``str(httpx.Request.url)`` of the sender.
C6  ``X-Netvisor-Authentication-Timestamp`` is UTC ``yyyy-MM-dd HH:mm:ss`` with an optional
    fraction of 1 to 7 digits (``2024-03-05 08:15:02.123``). More than :data:`MAX_CLOCK_SKEW`
    (60 s) from the simulator's wall clock, either way, is stale: AUTHENTICATION_FAILED.
C7  A transaction id is used up by a request whose MAC and timestamp passed, also when the
    request fails later; its reuse (any path, any time) is REQUEST_NOT_UNIQUE.
C8  An organisation that is not the user's (unknown, or the user's rights were revoked):
    AUTHENTICATION_FAILED naming the organisation.
C9  Requests to one company are served one at a time [ERR]: a request arriving while another of
    the same company is in flight is refused with TECHNICAL_ERROR (``refuse_overlap``). No rate
    limit is documented, so none is enforced. ``latency`` is spent after authentication.
C10 Resource and parameter names are case-insensitive (the vendor's pages themselves write
    ``ListType``/``listtype``, ``NetvisorKeyList``, ``InventoryByWarehouse.nv``); values are
    case-sensitive. A parameter given twice, an unknown parameter or a documented one the
    simulator does not simulate: INVALID_DATA naming it. Booleans are ``1``/``0`` (``true``/
    ``false`` where the page says so).
C11 Request bodies: at most :data:`MAX_BODY_BYTES` (else INVALID_DATA_SIZE). Without an XML
    declaration the body is ISO-8859-15 [GEN]; a declaration may name ISO-8859-15 or UTF-8,
    nothing else. A character outside ISO-8859-15 (what Netvisor stores) is refused. The root
    element is ``root``; no DTD, no entities. Element names are lower case as documented,
    unknown elements or attributes are refused, elements must come in the documented (DTD)
    order [GEN], a required element must not be empty [GEN]; surrounding whitespace is trimmed.
C12 Numbers in requests use the decimal comma (``12,50``; ``12`` is fine); a dot, a thousands
    separator or an exponent is refused. Numbers in answers use the decimal comma, no
    thousands separator: money with 2 decimals, productlist.nv prices with 12 [PL],
    quantities as stored (``10``, ``2,5``).
C13 Dates in requests are ``yyyy-MM-dd`` and need ``format="ansi"`` where the page lists the
    attribute. Times in query parameters are Finnish local time (Europe/Helsinki),
    ``yyyy-MM-ddTHH:mm:ss`` or a date alone (that day's 00:00:00); "changed after" /
    "modified after" filters are exclusive (``>``), "before" filters exclusive (``<``), date
    ranges (begin/end dates, limitbegindate/limitenddate) inclusive.
C14 productlist.nv is never paged (it has no paging parameter) [PL]. salesinvoicelist.nv answers
    at most ``page_size`` rows, the lowest NetvisorKeys above ``invoicesabovenetvisorkey``,
    ascending; purchaseorderlist.nv at most ``page_size`` rows, the lowest order numbers from
    ``limitstartordernumber``, ascending. The vendor documents no limit: the page forces a
    client to page as the parameters allow.
C15 Id lists (idlist, codelist, netvisorkeylist, NetvisorKeyList) over the documented maximum:
    INVALID_DATA_SIZE. An id that is not a number: INVALID_DATA. Ids that match nothing (or are
    filtered out by replyoption) are left out of a list answer; a single id that matches
    nothing is INVALID_DATA. List answers are wrapped (``Products``, ``SalesInvoices`` [GO],
    ``Customers``, ``PurchaseOrders``); single answers are not.
C16 productlist.nv without published/unpublished/deleted lists every product; with any of them,
    exactly the categories given as 1 [PL announcement]. A deleted product is in the "deleted"
    category only, whether it was published or not. getproduct.nv replyoption 1 = not deleted,
    2 = published (deleted ones included), 3 = published and not deleted [GP].
C17 Orders: ``InvoiceStatus`` is ``undelivered`` until every product line is delivered in full
    or closed, then ``delivered``; a partly delivered order stays ``undelivered``.
    salesorderinvoicing.nv ``deliveryonly`` adds ``deliveryamount`` to the line (an append
    write: sending it twice delivers twice). ``ispostdelivery="true"`` leaves the rest of the
    line open for a later delivery; ``"false"`` closes the line with what was delivered. The
    attribute is required (the page lists it with occurrence 1). Refused with INVALID_DATA:
    an unknown line, lines of two orders in one message, a line twice, an order that is not
    undelivered, a closed line, an amount of 0 or less or more than the line still lacks, a
    ``netvisorkey`` of ``invoicingcustomer`` that is not the order's invoicing customer, an
    unknown ``inventoryplace``. ``billanddelivery`` is not simulated. A delivery is the order's
    change (``lastmodifiedstart`` sees it) and takes the amount from stock.
C18 getorder.nv follows getsalesinvoice.nv [GO]: one ``InvoiceLines/InvoiceLine`` holds the
    product lines and, with ``showcommentlines=1``, the comment lines in their order.
    ``InvoiceStatus`` carries the code in ``@status`` and a localised name as text.
    ``DeliveryAddressNameExtension`` (seed 000's "place of business") is given when set.
    Comment lines carry only ``Comment`` (no key is documented).
C19 warehousereport.nv salesinventoryevents [WR]: the page breaks off after
    ``SalesEntityProductLine/NetvisorKey``; the simulator adds ``ProductNetvisorKey``,
    ``ProductCode``, ``OrderedAmount`` and ``DeliveredAmount`` (the line's delivered total).
    ``salesinvoice`` entities are none (the simulated company has orders, no invoices).
C20 No documented resource reads warehouse events back [RES, WE, WR]. Strictly, nothing does:
    ``report=warehouseevents`` is refused as an unknown report. With
    ``NetvisorSandbox(warehouse_event_report=True)`` the simulator serves the reading
    ``warehousereport.nv?report=warehouseevents&reference=`` answering
    ``InventoryReport/WarehouseEvents/WarehouseEvent`` {``NetvisorKey``, ``Reference``,
    ``Description``, ``WarehouseEventLines/WarehouseEventLine`` {``EventType``,
    ``ProductNetvisorKey``, ``ProductCode``, ``Quantity``, ``ValueDate``}}: undocumented, so a
    test that turns it on says so.
C21 warehouseevent.nv [WE]: ``eventtype`` must equal one of the company's event types
    (:data:`DEFAULT_EVENT_TYPES`, exact spelling); a ``product`` without ``type`` is a
    NetvisorKey; the product must exist, not be deleted and keep stock; ``inventoryplace``
    must name a warehouse (or its key with ``type="netvisor"``), else the main warehouse;
    ``deliverymethod`` must be one the company has; ``quantity`` is signed and not 0;
    ``status`` is open, handled or bypassed. References need not be unique (Netvisor does not
    say so; a duplicate is stored twice, so a double report shows). Every line moves stock.
C22 purchaseorder.nv [PO]: only ``method=edit`` with ``id`` (the purchase order's NetvisorKey)
    is simulated; of the order's own fields orderstatus, orderdate, deliveryterm,
    deliverymethod, privatecomment, comment and ourreference are applied, the others refused as
    not simulated. Product lines: ``add`` (the default) needs productcode, orderedamount,
    vatpercent and deliverydate; ``edit`` may not carry partial delivery information and sets a
    delivered amount absolutely (``purchaseorderproductlinedeliverydetails``); ``delete`` must be
    empty and is refused for a row with a delivered amount; ``partialdeliver`` replaces the row
    by its (at least two) partial delivery rows, whose ordered amounts must add up to the row's
    (the first keeps the row's key, the others get new keys, all in the row's delivery group);
    ``addtopartialdeliverygroup`` adds at least one row to the row's group. partialdeliver and
    addtopartialdeliverygroup carry nothing but the partial delivery. After the whole message
    every delivery group's rows must add up to the group's ordered amount, else nothing is
    applied. A row's ``DeliveryDate`` is its expected date; a partial delivery row's is its
    ``deliveryreceiveddate``. Receipts are refused on a purchase order in status proposal or
    archived. Received amounts move stock. Comment lines: ``add`` needs a comment, ``edit``
    and ``delete`` need ``netvisorkey``. The answer's ``InsertedDataIdentifier`` is the
    purchase order's NetvisorKey.
C23 getpurchaseorder.nv [PO]: ``PurchaseOrderLines`` lists per delivery group its
    ``PurchaseOrderProductDeliveryGroup`` and then its ``PurchaseOrderProductLine`` rows, then
    the comment lines. ``OrderStatus@deliverystatus``: undelivered (nothing delivered),
    fullydelivered (every group delivered in full or a row manually confirmed),
    overdelivered (some group over, none short), else partiallydelivered. Dates are
    ``yyyy-MM-dd``; countries ISO 3166 codes; ``LineSum`` and ``Amount`` without VAT.
C24 getproduct.nv [GP, PUB]: ``ProductBaseInformation`` also carries ``InventoryEnabled``
    (product.nv's "inventoryenabled") and ``CountryOfOrigin@type="ISO-3166"``; EAN codes are in
    ``ProductAdditionalInformation``; weights carry ``@weightunit``, package dimensions
    ``@unit="cm"``. ``SubProductInformation`` only with ``showsubproducts=1``.
C25 Keys: NetvisorKeys are integers from separate counters (products 165, customers 1001, orders
    and lines 5001 and 7001, purchase orders 123 with groups 43 and rows 601, warehouse events
    301: the pages' examples). Order and purchase-order numbers are integers.
C26 Successful writes answer ``Replies/InsertedDataIdentifier`` (warehouseevent.nv: the new
    event's key; purchaseorder.nv: the purchase order's key); salesorderinvoicing.nv answers
    the bare OK envelope.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

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
    "DEFAULT_EVENT_TYPES",
    "HTTP_STATUS",
    "ID_LIST_LIMITS",
    "MAX_BODY_BYTES",
    "MAX_CLOCK_SKEW",
    "PRODUCTION_URL",
    "TEST_URL",
    "ZONE",
    "CommentLine",
    "DeliveryAddress",
    "LoggedRequest",
    "NetvisorSandbox",
    "ProductLine",
    "PurchaseLine",
    "hmac_mac",
    "mac",
]

# --- the tunables of the choices above ------------------------------------------------------

PRODUCTION_URL = "https://isvapi.netvisor.fi"
TEST_URL = "https://isvapitest.netvisor.fi"
ZONE = ZoneInfo("Europe/Helsinki")
"""Netvisor's local time: query times and TimeStamps (C1, C13)."""
MAX_CLOCK_SKEW = timedelta(seconds=60)
"""How far the authentication timestamp may be from the wall clock (C6)."""
MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body (C11)."""
ID_LIST_LIMITS = {"getproduct.nv": 400, "getorder.nv": 500, "getcustomer.nv": 500,
                  "getpurchaseorder.nv": 500}
"""Documented id-list maxima: [GP] "max. 400 IDs", [GO] and [PO] "Max. 500 identifiers",
[GC] "max. 500 IDs"."""
REFERENCE_MAX = 50
"""warehouseevent.nv ``reference``: "String, max 50 characters" [WE]."""
HTTP_STATUS = {"AUTHENTICATION_FAILED": 401, "SERVICE_ACCESS_ERROR": 403, "INVALID_DATA": 400,
               "INVALID_DATA_SIZE": 400, "DUPLICATE_DATA": 409, "REQUEST_NOT_UNIQUE": 409,
               "TECHNICAL_ERROR": 503}
"""HTTP statuses under ``UseHTTPResponseStatusCodes: 1`` (C2)."""
MAC_ALGORITHMS = frozenset({"SHA256", "HMACSHA256"})
LANGUAGES = frozenset({"FI", "EN", "SE"})
DEFAULT_EVENT_TYPES = ("Hankinta", "Myynti", "Inventointi", "Korjaus", "Varastosiirto",
                       "Valmistus")
"""Netvisor's inventory event types in a Finnish company: purchase, sale, inventory,
correction, warehouse transfer, manufacturing [WE] (C21)."""
ORDER_STATUSES = {"undelivered": ("Toimittamaton", "Undelivered", "Olevererad"),
                  "delivered": ("Toimitettu", "Delivered", "Levererad"),
                  "billed": ("Laskutettu", "Billed", "Fakturerad")}
"""Sales order statuses [WR] with their names in FI, EN, SE (C18)."""
PURCHASE_ORDER_STATUSES = ("proposal", "approved", "senttovendor", "waitinginvoice",
                           "archived")
WAREHOUSE_EVENT_STATUSES = ("open", "handled", "bypassed")

_RESPONSE_DECLARATION = b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n'
_HEADER = "X-Netvisor-Authentication-"
_REQUIRED_HEADERS = (
    _HEADER + "Sender", _HEADER + "CustomerId", _HEADER + "PartnerId", _HEADER + "Timestamp",
    _HEADER + "TransactionId", "X-Netvisor-Interface-Language", "X-Netvisor-Organisation-ID",
    _HEADER + "MAC", _HEADER + "MACHashCalculationAlgorithm",
)
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?$")
_NUMBER = re.compile(r"^-?\d+(?:,\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_QUERY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_KEY = re.compile(r"^\d{1,9}$")
_ZERO = Decimal(0)
_CENT = Decimal("0.01")


# --- the MAC ----------------------------------------------------------------------------------


def mac(url: str, sender: str, customer_id: str, timestamp: str, language: str,
        organisation_id: str, transaction_id: str, customer_key: str, partner_key: str) -> str:
    """``X-Netvisor-Authentication-MAC`` for ``MACHashCalculationAlgorithm: SHA256``.

    SHA-256 over the request URL (with its query string, as sent), the header values Sender,
    CustomerId, Timestamp, Interface-Language, Organisation-ID and TransactionId, then the
    user's key and the partner's key, the nine joined with ``&``; lower-case hex. The parts are
    those [SEC] lists ("calculated using all the information ...", the keys "are necessary for
    the SHA256 calculation" though never sent); their order is that of the vendor's own client
    library ([PUB] urhoj/NetvisorWSClient, ``getAuthenticationHeaders``). Every part is ASCII
    (C4), so UTF-8 and ISO-8859-1 give the same bytes.
    """
    message = "&".join((url, sender, customer_id, timestamp, language, organisation_id,
                        transaction_id, customer_key, partner_key))
    return hashlib.sha256(message.encode("utf-8")).hexdigest()


def hmac_mac(url: str, sender: str, customer_id: str, timestamp: str, language: str,
             organisation_id: str, transaction_id: str, timestamp_unix: str, customer_key: str,
             partner_key: str) -> str:
    """The MAC for ``MACHashCalculationAlgorithm: HMACSHA256`` (C4): HMAC-SHA256 keyed with
    ``customer_key&partner_key`` over the same parts as :func:`mac` with
    ``X-Netvisor-Authentication-TimestampUnix`` after the transaction id; lower-case hex."""
    message = "&".join((url, sender, customer_id, timestamp, language, organisation_id,
                        transaction_id, timestamp_unix, customer_key, partner_key))
    key = f"{customer_key}&{partner_key}".encode()
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


# --- what the control surface takes ----------------------------------------------------------


@dataclass(frozen=True)
class ProductLine:
    """A product line of a sales order (control surface)."""

    product: str
    """The product's code."""
    quantity: Decimal | int
    unit_price: Decimal | None = None
    """Net unit price; the product's when None."""
    vat_percent: Decimal | None = None
    discount_percent: Decimal = _ZERO
    free_text: str | None = None
    delivery_date: date | None = None


@dataclass(frozen=True)
class CommentLine:
    """A comment line of a sales order (control surface)."""

    text: str


@dataclass(frozen=True)
class DeliveryAddress:
    """An order's delivery address (control surface)."""

    name: str | None = None
    name_extension: str | None = None
    """Seed 000's "place of business" (C18)."""
    line: str | None = None
    post_code: str | None = None
    town: str | None = None
    country: str | None = "FI"


@dataclass(frozen=True)
class PurchaseLine:
    """A product line of a purchase order (control surface)."""

    product: str
    amount: Decimal | int
    unit_price: Decimal | None = None
    vat_percent: Decimal | None = None
    delivery_date: date | None = None
    vendor_product_code: str | None = None


class LoggedRequest(NamedTuple):
    """One call the simulator answered: method, resource (lower case), query, HTTP status and
    the envelope's error code (None for OK)."""

    method: str
    resource: str
    query: str
    status: int
    code: str | None


# --- the simulated company -------------------------------------------------------------------


@dataclass
class _Product:
    key: int
    code: str
    name: str
    description: str | None
    unit: str
    unit_price: Decimal
    vat_percent: Decimal
    purchase_price: Decimal | None
    tariff_heading: str | None
    country_of_origin: str | None
    primary_ean: str | None
    secondary_ean: str | None
    net_weight: Decimal | None
    gross_weight: Decimal | None
    weight_unit: str
    length: Decimal | None
    width: Decimal | None
    height: Decimal | None
    group_key: int | None
    group_name: str | None
    published: bool
    stockable: bool
    sub_products: list[tuple[int, Decimal]]
    changed_at: datetime
    deleted: bool = False
    inventory: Decimal = _ZERO


@dataclass
class _Customer:
    key: int
    code: str
    name: str
    name_extension: str | None
    street: str | None
    additional: str | None
    post_code: str | None
    city: str | None
    country: str | None
    phone: str | None
    email: str | None
    organisation_identifier: str | None


@dataclass
class _LineDelivery:
    when: date
    amount: Decimal
    post_delivery: bool


@dataclass
class _OrderLine:
    key: int
    product_key: int
    product_code: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    vat_percent: Decimal
    discount_percent: Decimal
    free_text: str | None
    delivery_date: date | None
    deliveries: list[_LineDelivery] = field(default_factory=list)
    closed: bool = False

    @property
    def delivered(self) -> Decimal:
        return sum((d.amount for d in self.deliveries), _ZERO)

    @property
    def net(self) -> Decimal:
        gross = self.quantity * self.unit_price * (1 - self.discount_percent / 100)
        return gross.quantize(_CENT, ROUND_HALF_UP)

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_percent / 100).quantize(_CENT, ROUND_HALF_UP)

    @property
    def done(self) -> bool:
        return self.closed or self.delivered >= self.quantity


@dataclass
class _Comment:
    text: str
    key: int = 0


@dataclass
class _Order:
    key: int
    number: int
    customer_key: int
    order_date: date
    delivery_date: date | None
    our_reference: str | None
    your_reference: str | None
    text_before: str | None
    text_after: str | None
    private_comment: str | None
    delivery_method: str | None
    delivery_term: str | None
    address: DeliveryAddress | None
    lines: list[_OrderLine | _Comment]
    status: str
    changed_at: datetime
    delivery_calls: int = 0

    @property
    def product_lines(self) -> list[_OrderLine]:
        return [line for line in self.lines if isinstance(line, _OrderLine)]

    @property
    def amount(self) -> Decimal:
        return sum((line.net + line.vat for line in self.product_lines), _ZERO)


@dataclass
class _PoRow:
    key: int
    group: int
    ordered: Decimal
    delivery_date: date | None
    delivered: Decimal = _ZERO
    received_date: date | None = None
    confirmed: bool = False


@dataclass
class _PoGroup:
    key: int
    origin: int
    """The key of the product line the group was made for (the row keys' origin)."""
    product_key: int | None
    product_code: str
    product_name: str
    vendor_product_code: str | None
    ordered: Decimal
    unit_price: Decimal
    vat_percent: Decimal
    freight_rate: Decimal = _ZERO
    line_comment: str | None = None


@dataclass
class _PurchaseOrder:
    key: int
    number: int
    status: str
    order_date: date
    vendor_name: str
    vendor_address: str | None
    vendor_post_code: str | None
    vendor_city: str | None
    vendor_country: str | None
    delivery_term: str | None
    delivery_method: str | None
    comment: str | None
    private_comment: str | None
    our_reference: str | None
    groups: list[_PoGroup]
    rows: list[_PoRow]
    comments: list[_Comment]
    changed_at: datetime
    receipt_writes: int = 0

    def delivered(self, group: _PoGroup) -> Decimal:
        return sum((r.delivered for r in self.rows if r.group == group.key), _ZERO)


@dataclass
class _WarehouseEventLine:
    event_type: str
    product_key: int
    product_code: str
    place: int
    description: str | None
    quantity: Decimal
    unit_price: Decimal
    value_date: date
    status: str


@dataclass
class _WarehouseEvent:
    key: int
    reference: str
    description: str | None
    delivery_method: str | None
    distributer: str | None
    lines: list[_WarehouseEventLine]
    created_at: datetime


@dataclass
class _Company:
    organisation_id: str
    products: dict[int, _Product] = field(default_factory=dict)
    customers: dict[int, _Customer] = field(default_factory=dict)
    orders: dict[int, _Order] = field(default_factory=dict)
    purchase_orders: dict[int, _PurchaseOrder] = field(default_factory=dict)
    warehouse_events: dict[int, _WarehouseEvent] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    event_types: set[str] = field(default_factory=lambda: set(DEFAULT_EVENT_TYPES))
    inventory_places: dict[int, str] = field(default_factory=lambda: {1: "Päävarasto"})
    delivery_methods: set[str] = field(default_factory=lambda: {"Posti", "Nouto", "Matkahuolto"})
    blocked: set[str] = field(default_factory=set)
    in_flight: int = 0


@dataclass
class _User:
    customer_id: str
    key: str
    organisations: set[str]


@dataclass
class _Fault:
    count: int
    status: int
    body: bytes | str | None
    resource: str | None
    after: bool


class _Fail(Exception):
    """A FAILED answer: the envelope's code and text."""

    def __init__(self, code: str, text: str, status: int | None = None) -> None:
        super().__init__(f"{code} :: {text}")
        self.code = code
        self.text = text
        self.status = status


def _invalid(text: str) -> _Fail:
    return _Fail("INVALID_DATA", text)


@dataclass
class _Call:
    """What a handler gets."""

    company: _Company
    params: dict[str, str]
    body: Any
    base: str
    language: str


# --- values -----------------------------------------------------------------------------------


def _num(value: Decimal, places: int | None = None) -> str:
    """A number as Netvisor writes it: decimal comma, no grouping (C12)."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        text = f"{value:f}"
    else:
        text = f"{value.normalize():f}" if value else "0"
    return text.replace(".", ",")


def _parse_num(text: str | None, where: str) -> Decimal:
    if text is None or not _NUMBER.fullmatch(text):
        raise _invalid(f"{where}: {text!r} is not a number (give a decimal comma, e.g. 12,50)")
    return Decimal(text.replace(",", "."))


def _parse_date(text: str | None, where: str) -> date:
    if text is None or not _DATE.fullmatch(text):
        raise _invalid(f"{where}: {text!r} is not an ANSI date (yyyy-MM-dd)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{where}: {text!r} is not a date") from None


def _parse_query_time(text: str, name: str) -> datetime:
    """A time filter value: Finnish local time (C13), as an aware UTC datetime."""
    try:
        if _QUERY_TIME.fullmatch(text):
            local = datetime.fromisoformat(text)
        elif _DATE.fullmatch(text):
            local = datetime.combine(date.fromisoformat(text), time())
        else:
            raise ValueError(text)
    except ValueError:
        raise _invalid(f"parameter {name}: {text!r} is not yyyy-MM-ddTHH:mm:ss") from None
    return local.replace(tzinfo=ZONE).astimezone(UTC)


def _key(text: str, where: str) -> int:
    if not _KEY.fullmatch(text):
        raise _invalid(f"{where}: {text!r} is not a NetvisorKey")
    return int(text)


def _id_list(text: str, name: str, limit: int) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise _invalid(f"parameter {name}: give identifiers separated by commas")
    if len(items) > limit:
        raise _Fail("INVALID_DATA_SIZE", f"parameter {name}: {len(items)} identifiers, at most "
                                         f"{limit} in one request")
    return items


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in ("0", "1"):
        raise _invalid(f"parameter {name}: give 1 or 0, not {value!r}")
    return value == "1"


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def _stamp(moment: datetime) -> str:
    return _local(moment).strftime("%d.%m.%Y %H:%M:%S")


def _quantity(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"give quantities as Decimal or int, not {type(value).__name__}")
    return Decimal(value)


# --- XML out ----------------------------------------------------------------------------------


def _el(parent: Any, tag: str, text: str | int | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        element.text = str(text)
    return element


def _opt(parent: Any, tag: str, text: str | None, **attrs: str) -> None:
    if text is not None:
        _el(parent, tag, text, **attrs)


def _ansi(parent: Any, tag: str, when: date | None) -> None:
    _el(parent, tag, when.isoformat() if when else "", format="ansi")


def _envelope(now: datetime, payload: Sequence[Any], failure: _Fail | None = None) -> bytes:
    root = etree.Element("Root")
    status = _el(root, "ResponseStatus")
    if failure is None:
        _el(status, "Status", "OK")
    else:
        _el(status, "Status", "FAILED")
        _el(status, "Status", f"{failure.code} :: {failure.text}")
    _el(status, "TimeStamp", _stamp(now))
    for element in payload:
        root.append(element)
    body: bytes = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    return _RESPONSE_DECLARATION + body


# --- XML in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """One element of a request document: occurrence, attributes, children (None: a leaf)."""

    name: str
    required: bool = False
    many: bool = False
    children: tuple[_Spec, ...] | None = None
    attrs: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    required_attrs: tuple[str, ...] = ()
    any_order: bool = False


def _leaf(name: str, *, required: bool = False, **attrs: tuple[str, ...] | None) -> _Spec:
    return _Spec(name, required=required, attrs=attrs)


def _date_leaf(name: str, *, required: bool = False) -> _Spec:
    return _Spec(name, required=required, attrs={"format": ("ansi",)},
                 required_attrs=("format",))


def _node(name: str, *children: _Spec, required: bool = False, many: bool = False,
          any_order: bool = False, **attrs: tuple[str, ...] | None) -> _Spec:
    return _Spec(name, required=required, many=many, children=children, attrs=attrs,
                 any_order=any_order)


_SALESORDERINVOICING = _node("root", _node("salesorderinvoicing", _node(
    "invoicingcustomer",
    _leaf("netvisorkey", required=True),
    _date_leaf("invoicedate", required=True),
    _node("invoicingproductlines", _Spec(
        "invoicingproductline", required=True, many=True, children=(
            _leaf("netvisorkey", required=True),
            _date_leaf("deliverydate", required=True),
            _Spec("deliveryamount", required=True, attrs={"ispostdelivery": ("true", "false")},
                  required_attrs=("ispostdelivery",)),
            _Spec("inventoryplace", attrs={"type": ("netvisor",)}, required_attrs=("type",)),
        )), required=True),
    required=True), required=True), required=True)
"""[SOI] in its documented order (C17)."""

_PARTIAL_CONTENT = _node(
    "purchaseorderproductlinepartialdeliverycontent",
    _leaf("orderedamount", required=True), _leaf("deliveredamount", required=True),
    _date_leaf("deliveryreceiveddate", required=True), _leaf("deliverymanuallyconfirmed"),
    _leaf("deliveredproductquality"), _leaf("inventorybatchnumber"),
    _date_leaf("inventorymanufacturedate"), _date_leaf("inventorypackagingdate"),
    _date_leaf("inventorybestbeforedate"), _date_leaf("inventoryexpirydate"),
    required=True, many=True)

_PURCHASEORDER = _node("root", _node(
    "purchaseorder",
    _leaf("ordernumber"), _leaf("orderstatus"), _date_leaf("orderdate"),
    _Spec("vendoridentifier", attrs={"type": ("netvisor", "code", "organisationidentifier")},
          required_attrs=("type",)),
    _node("purchaseordervendordetails", _leaf("address", required=True),
          _leaf("postnumber", required=True), _leaf("city", required=True),
          _Spec("country", attrs={"type": ("ISO-3166",)}, required_attrs=("type",))),
    _leaf("deliveryterm"), _leaf("deliverymethod"),
    _node("purchaseorderdeliverydetails", _leaf("name"), _leaf("address"), _leaf("postnumber"),
          _leaf("deliverycity"),
          _Spec("deliverycountry", attrs={"type": ("ISO-3166",)}, required_attrs=("type",))),
    _leaf("privatecomment"), _leaf("comment"), _leaf("ourreference"),
    _Spec("currencycode", attrs={"type": ("ISO-4217",)}, required_attrs=("type",)),
    _node("purchaseorderpaymentterm", _leaf("netdays", required=True),
          _leaf("discountdays", required=True), _leaf("discountpercent", required=True)),
    _node("purchaseorderlines", _node(
        "purchaseorderproductline",
        _node("purchaseorderproductlinepartialdelivery", _PARTIAL_CONTENT),
        _leaf("productcode", type=("netvisor", "customer")), _leaf("vendorproductcode"),
        _leaf("orderedamount"), _leaf("unitprice"), _leaf("vatpercent"), _leaf("freightrate"),
        _leaf("linecomment"), _date_leaf("deliverydate"),
        _node("purchaseorderproductlinedeliverydetails", _leaf("deliveredamount", required=True),
              _date_leaf("deliveryreceiveddate", required=True),
              _leaf("deliverymanuallyconfirmed"), _leaf("deliveredproductquality")),
        _Spec("inventoryplace", attrs={"type": ("netvisor", "customer")},
              required_attrs=("type",)),
        _node("purchaseorderproductlinedimensions", _node(
            "dimension", _leaf("dimensionname", required=True),
            _leaf("dimensionitem", required=True), many=True)),
        many=True, method=("add", "edit", "delete", "partialdeliver",
                           "addtopartialdeliverygroup"), netvisorkey=None),
        _Spec("purchaseordercommentline", many=True, children=(_leaf("comment"),),
              attrs={"method": ("add", "edit", "delete"), "netvisorkey": None},
              required_attrs=("method",)),
        any_order=True),
    required=True), required=True)
"""[PO] purchaseorder.nv in its documented order; product and comment lines may alternate."""

_WAREHOUSEEVENT = _node("root", _node(
    "warehouseevent",
    _leaf("description"), _leaf("reference", required=True), _leaf("deliverymethod"),
    _leaf("distributer", type=("netvisor", "customer")),
    _node("warehouseeventlines", _node(
        "warehouseeventline",
        _leaf("eventtype", required=True, type=("customer",)),
        _leaf("product", required=True, type=("netvisor", "customer")),
        _leaf("inventoryplace", type=("netvisor",)), _leaf("description"),
        _leaf("quantity", required=True), _leaf("unitprice", required=True),
        _date_leaf("valuedate", required=True), _leaf("status", required=True),
        required=True, many=True), required=True),
    required=True), required=True)
"""[WE] in its documented order."""


def _elements(parent: Any) -> list[Any]:
    return [child for child in parent if isinstance(child.tag, str)]


def _check(element: Any, spec: _Spec, path: str) -> None:
    """``element`` as ``spec`` says, or INVALID_DATA naming the place (C11)."""
    where = f"{path}/{spec.name}" if path else spec.name
    for name, value in element.attrib.items():
        if name not in spec.attrs:
            raise _invalid(f"{where}: unknown attribute {name!r}")
        allowed = spec.attrs[name]
        if allowed is not None and value not in allowed:
            raise _invalid(f"{where}/@{name}: {value!r} is not one of {', '.join(allowed)}")
    for name in spec.required_attrs:
        if name not in element.attrib:
            raise _invalid(f"{where}: the attribute {name!r} is missing")
    children = _elements(element)
    if spec.children is None:
        if children:
            raise _invalid(f"{where}: unexpected element <{children[0].tag}>")
        if spec.required and not (element.text or "").strip():
            raise _invalid(f"{where}: a required element is empty")
        return
    if (element.text or "").strip():
        raise _invalid(f"{where}: unexpected text")
    names = [child.name for child in spec.children]
    position = 0
    counts: dict[str, int] = {}
    for child in children:
        if (child.tail or "").strip():
            raise _invalid(f"{where}: unexpected text after <{child.tag}>")
        if child.tag not in names:
            raise _invalid(f"{where}: unknown element <{child.tag}>")
        index = names.index(child.tag)
        child_spec = spec.children[index]
        if not spec.any_order and index < position:
            raise _invalid(f"{where}: <{child.tag}> must come before <{names[position]}> "
                           "(elements in the order of the DTD)")
        if counts.get(child.tag) and not child_spec.many:
            raise _invalid(f"{where}: <{child.tag}> may occur once")
        position = max(position, index)
        counts[child.tag] = counts.get(child.tag, 0) + 1
        _check(child, child_spec, where)
    for child_spec in spec.children:
        if child_spec.required and not counts.get(child_spec.name):
            raise _invalid(f"{where}: <{child_spec.name}> is missing")


def _text(element: Any, name: str) -> str | None:
    found = element.find(name)
    if found is None:
        return None
    value: str = (found.text or "").strip()
    return value


_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")
_ENCODINGS = {"iso-8859-15": "iso-8859-15", "iso8859-15": "iso-8859-15", "latin-9": "iso-8859-15",
              "utf-8": "utf-8", "utf8": "utf-8"}


def _read_document(raw: bytes, spec: _Spec) -> Any:
    """The request body as an element tree, decoded and checked (C11)."""
    if len(raw) > MAX_BODY_BYTES:
        raise _Fail("INVALID_DATA_SIZE", f"the message is larger than {MAX_BODY_BYTES} bytes")
    body = raw.lstrip(b" \t\r\n")
    if not body:
        raise _invalid("the request has no XML message")
    encoding = "iso-8859-15"  # [GEN]: "xml declaration does not need to be given"
    if body.startswith(b"\xef\xbb\xbf"):
        body, encoding = body[3:], "utf-8"
    declared = _DECLARATION.match(body)
    if declared:
        name = declared.group(1).decode("ascii").lower()
        if name not in _ENCODINGS:
            raise _invalid(f"encoding {name!r}: send ISO-8859-15 (or UTF-8)")
        encoding = _ENCODINGS[name]
        body = body[declared.end():]
    elif body.startswith(b"<?xml"):
        encoding = "utf-8"  # a declaration without encoding: XML's default
        body = body[body.index(b"?>") + 2:]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        raise _invalid(f"the message is not valid {encoding.upper()}") from None
    try:
        text.encode("iso-8859-15")
    except UnicodeEncodeError as error:
        raise _invalid(f"the character {text[error.start]!r} cannot be stored in Netvisor "
                       "(ISO-8859-15)") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as error:
        raise _invalid(f"the message is not well-formed XML ({error})") from None
    if root.getroottree().docinfo.doctype:
        raise _invalid("a DOCTYPE is not accepted")
    if any(True for _ in root.iter(etree.Entity)):
        raise _invalid("entities are not accepted")
    if root.tag != "root":
        raise _invalid(f"the message must start with <root>, not <{root.tag}>")
    _check(root, spec, "")
    return root


# --- query strings ----------------------------------------------------------------------------


def _query(raw: bytes, allowed: Iterable[str], unsimulated: Iterable[str] = ()) -> dict[str, str]:
    """The parameters by lower-case name (C10)."""
    allowed_names = {name.lower() for name in allowed}
    unsimulated_names = {name.lower() for name in unsimulated}
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _invalid("the query string is not URL-encoded UTF-8") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        lower = name.lower()
        if lower in unsimulated_names:
            raise _invalid(f"parameter {name}: documented, but not simulated")
        if lower not in allowed_names:
            raise _invalid(f"parameter {name}: unknown")
        if lower in params:
            raise _invalid(f"parameter {name}: given twice")
        params[lower] = value
    return params


def _one_of(params: Mapping[str, str], names: Sequence[str]) -> str:
    given = [name for name in names if name in params]
    if len(given) != 1:
        raise _invalid(f"give exactly one of the parameters {', '.join(names)}")
    return given[0]


# --- the simulator ----------------------------------------------------------------------------


class NetvisorSandbox(BusinessClock):
    """The Netvisor XML API simulator and the control surface that plays the Netvisor user.

    One API user (``customer_id`` and its private key) of one software partner has rights to one
    company (``organisation_id``); :meth:`add_organisation`, :meth:`revoke_access` and
    :meth:`grant_access` change that. Control-surface methods act on that company, raise
    :class:`KeyError` for an unknown key and :class:`ValueError` for what Netvisor's user could
    not do. ``at`` stamps a change with that change time (else the clock's now).
    """

    def __init__(
        self,
        *,
        base_url: str = TEST_URL,
        organisation_id: str = "1234567-1",
        customer_id: str = "ERPSYNC_1234_API",
        partner_id: str = "ERP_5678",
        sender: str = "erpsync",
        language: str = "FI",
        inventory_event_type: str = "Inventointi",
        page_size: int = 5,
        latency: float = 0.0,
        refuse_overlap: bool = True,
        warehouse_event_report: bool = False,
        clock: Callable[[], datetime] | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.latency = latency
        """Seconds every authenticated call takes (C9)."""
        self.refuse_overlap = refuse_overlap
        self.warehouse_event_report = warehouse_event_report
        """Serve the undocumented ``warehousereport.nv?report=warehouseevents`` (C20)."""
        self.sender = sender
        self.language = language
        self.inventory_event_type = inventory_event_type
        self.requests: list[LoggedRequest] = []
        BusinessClock.__init__(self, clock)
        self._wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self._partners: dict[str, str] = {partner_id: secrets.token_hex(16).upper()}
        self.partner_id = partner_id
        self.customer_id = customer_id
        self._users: dict[str, _User] = {
            customer_id: _User(customer_id, secrets.token_hex(16).upper(), {organisation_id})}
        self.organisation_id = organisation_id
        self._companies: dict[str, _Company] = {organisation_id: _Company(organisation_id)}
        self._transactions: set[tuple[str, str]] = set()
        self._faults: list[_Fault] = []
        self._peak: dict[str, int] = {}
        self._ids = {name: itertools.count(start) for name, start in {
            "product": 165, "customer": 1001, "order": 5001, "order_line": 7001,
            "order_number": 1001, "purchase_order": 123, "po_number": 11228, "po_group": 43,
            "po_row": 601, "po_comment": 901, "comment": 801, "event": 301, "group": 11,
            "seed": 1}.items()}
        self._starlette = Starlette(routes=[
            Route("/{resource:path}", self._endpoint, methods=["GET", "POST", "PUT", "DELETE",
                                                               "PATCH"])])

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi(scope, receive, send)

        self.app: ASGIApp = app
        """The ASGI 3 application (starlette inside; counting and fault injection around it);
        a plain coroutine function, so that servers such as uvicorn recognise it as ASGI 3."""

    # --- the conformance protocol (erpsync.conformance.ErpSandbox) ----------------------------

    def settings(self) -> dict[str, Any]:
        """Settings of the Netvisor plugin for this simulator's API user."""
        return {
            "base_url": self.base_url, "sender": self.sender, "customer_id": self.customer_id,
            "private_key": SecretStr(self._users[self.customer_id].key),
            "partner_id": self.partner_id,
            "partner_key": SecretStr(self._partners[self.partner_id]),
            "organisation_id": self.organisation_id, "language": self.language,
            "inventory_event_type": self.inventory_event_type, "timezone": "Europe/Helsinki",
            "product_batch_size": self.page_size, "order_batch_size": self.page_size,
            "purchase_order_batch_size": self.page_size, "requests_per_minute": 100_000,
        }

    def bad_settings(self) -> dict[str, Any]:
        """The same settings with a private key the simulator refuses (the MAC fails)."""
        return self.settings() | {"private_key": SecretStr(secrets.token_hex(16).upper())}

    def seed(self, flow: Flow, count: int, at: datetime) -> list[str]:
        """``count`` new records of ``flow`` changed at ``at``; their keys: product codes,
        order numbers, purchase order numbers."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            return [self.add_product(self._seed_code(), f"Tuote {n} äöå",
                                     unit_price=Decimal("12.50"), ean=f"64{n:011d}", at=at)
                    for n in range(count)]
        if flow == Flow.ORDERS:
            product = self._seed_product(at)
            customer = self._seed_customer()
            return [self.add_order(customer, [ProductLine(product, 2), CommentLine("Kiitos!")],
                                   our_reference="Myyjä", at=at) for _ in range(count)]
        if flow == Flow.PURCHASE_ORDERS:
            product = self._seed_product(at)
            return [self.add_purchase_order("Toimittaja Oy", [PurchaseLine(product, 10)], at=at)
                    for _ in range(count)]
        raise ValueError(f"Netvisor has no {flow.value} to seed")

    def change(self, flow: Flow, key: str, at: datetime) -> None:
        """Change record ``key`` of ``flow`` at ``at``."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            product = self._product_by_code(key)
            self.change_product(key, name=product.name + " (muutettu)", at=at)
        elif flow == Flow.ORDERS:
            order = self._order_by_number(key)
            self.change_order(key, our_reference=(order.our_reference or "") + "+", at=at)
        elif flow == Flow.PURCHASE_ORDERS:
            po = self._po_by_number(key)
            self.change_purchase_order(key, comment=(po.comment or "") + "+", at=at)
        else:
            raise ValueError(f"Netvisor has no {flow.value} to change")

    def event(self, flow: Flow) -> Event:
        """A new delivery, receipt or adjustment Netvisor accepts, with what it needs seeded."""
        now = self.now()
        serial = next(self._ids["seed"])
        event_id = f"evt-{flow.value}-{serial}-{secrets.token_hex(4)}"
        if flow == Flow.DELIVERIES:
            product = self._seed_product(now)
            number = self.add_order(self._seed_customer(), [ProductLine(product, 3)])
            order = self._order_by_number(number)
            line = order.product_lines[0]
            return Delivery(event_id=event_id, occurred_at=now, order_number=number,
                            erp_key=str(order.key), status=DeliveryStatus.SENT, lines=(
                                DeliveryLine(external_line_key=str(line.key),
                                             article_number=product,
                                             delivered_quantity=Decimal(3),
                                             total_delivered_quantity=Decimal(3),
                                             ordered_quantity=Decimal(3)),))
        if flow == Flow.RECEIPTS:
            product = self._seed_product(now)
            number = self.add_purchase_order("Toimittaja Oy", [PurchaseLine(product, 10)])
            po = self._po_by_number(number)
            return Receipt(event_id=event_id, occurred_at=now, purchase_order_number=number,
                           erp_key=str(po.key), complete=True, rows=(
                               ReceiptRow(row_key=str(po.groups[0].origin),
                                          article_number=product,
                                          received_quantity=Decimal(10),
                                          total_received_quantity=Decimal(10),
                                          ordered_quantity=Decimal(10)),))
        if flow == Flow.ADJUSTMENTS:
            product = self.add_product(self._seed_code(), "Inventoitava tuote", at=now)
            return InventoryAdjustment(event_id=event_id, occurred_at=now,
                                       article_number=product, quantity=Decimal(-2),
                                       cause="Inventaario")
        raise ValueError(f"Netvisor takes no {flow.value}")

    def rejected_event(self, flow: Flow) -> Event:
        """An event Netvisor refuses: its order, purchase order or product does not exist."""
        now = self.now()
        event_id = f"evt-rejected-{flow.value}-{next(self._ids['seed'])}"
        if flow == Flow.DELIVERIES:
            return Delivery(event_id=event_id, occurred_at=now, order_number="999999",
                            status=DeliveryStatus.SENT, lines=(DeliveryLine(
                                external_line_key="999999", article_number="NO-SUCH-PRODUCT",
                                delivered_quantity=Decimal(1),
                                total_delivered_quantity=Decimal(1)),))
        if flow == Flow.RECEIPTS:
            return Receipt(event_id=event_id, occurred_at=now, purchase_order_number="999999",
                           complete=True, rows=(ReceiptRow(
                               row_key="999999", article_number="NO-SUCH-PRODUCT",
                               received_quantity=Decimal(1),
                               total_received_quantity=Decimal(1)),))
        if flow == Flow.ADJUSTMENTS:
            return InventoryAdjustment(event_id=event_id, occurred_at=now,
                                       article_number="NO-SUCH-PRODUCT", quantity=Decimal(1))
        raise ValueError(f"Netvisor takes no {flow.value}")

    def times_applied(self, flow: Flow, event: Event) -> int:
        """How many writes of ``event`` Netvisor accepted: delivery calls on its order, receipt
        edits of its purchase order, warehouse events of its product."""
        company = self._company()
        if isinstance(event, Delivery):
            order = self._find_order(company, event.order_number)
            return 0 if order is None else order.delivery_calls
        if isinstance(event, Receipt):
            po = self._find_po(company, event.purchase_order_number)
            return 0 if po is None else po.receipt_writes
        if isinstance(event, InventoryAdjustment):
            return sum(1 for e in company.warehouse_events.values()
                       if any(line.product_code == event.article_number for line in e.lines))
        raise ValueError(f"Netvisor takes no {type(event).__name__}")

    def stock_level(self, key: str) -> Decimal | None:
        """None: the integration pushes no stock balances to Netvisor."""
        return None

    def populate_demo(self, size: int) -> DemoCompany:
        """A small Finnish company for ``erpsync demo``: about ``size`` products, orders with
        comment lines and several lines each (some to a separate delivery address), and
        purchase orders sent to the vendor."""
        kinds = ["Kahvi", "Tee", "Ruisleipä", "Puolukkahillo", "Hunaja", "Kaurahiutale",
                 "Sinappi", "Lakritsi", "Suklaa", "Karpalomehu", "Näkkileipä", "Mustikkakeitto",
                 "Sienisalaatti", "Leipäjuusto", "Kuivaliha", "Sahti", "Siirappi", "Voileipäkeksi"]
        sizes = ["100 g", "250 g", "500 g", "1 kg", "0,5 l", "1 l", "6 kpl"]
        articles = [
            self.add_product(f"TU-{n:04d}", f"{kinds[n % len(kinds)]} {sizes[n % len(sizes)]}",
                             unit_price=Decimal(3 + n % 17) + Decimal("0.90"),
                             purchase_price=Decimal(1 + n % 11) + Decimal("0.45"),
                             ean=f"64{n:011d}", tariff_heading="21069098",
                             country_of_origin="FI", net_weight=Decimal("0.5"),
                             gross_weight=Decimal("0.55"))
            for n in range(size)]
        towns = [("Helsinki", "00100"), ("Tampere", "33100"), ("Oulu", "90100"),
                 ("Jyväskylä", "40100"), ("Turku", "20100")]
        customers = [self.add_customer(f"AS-{n:03d}", name, street=f"Kauppakatu {n + 1}",
                                       post_code=towns[n % 5][1], city=towns[n % 5][0],
                                       email=f"tilaukset{n}@example.fi")
                     for n, name in enumerate(["Kahvila Äijälä Oy", "Ruokakauppa Östman Ky",
                                               "Lähikauppa Åkerlund", "Herkkupuoti Oy"])]
        orders: dict[str, dict[str, Decimal]] = {}
        for n in range(max(3, size // 10)):
            lines = [ProductLine(articles[(n * 3 + i) % size], 2 + (n + i) % 4)
                     for i in range(1 + n % 3)]
            address = (DeliveryAddress(name="Varasto Pohjola", line="Satamatie 4",
                                       post_code="90100", town="Oulu", country="FI")
                       if n % 4 == 3 else None)
            number = self.add_order(customers[n % len(customers)],
                                    [*lines, CommentLine("Toimitus takaovelle, kiitos!")],
                                    our_reference="Myyntitiimi", text_before="Tilaus verkosta",
                                    delivery_address=address)
            order = self._order_by_number(number)
            orders[number] = {str(line.key): Decimal(line.quantity)
                              for line in order.product_lines}
        purchase_orders: dict[str, dict[str, Decimal]] = {}
        for n in range(max(2, size // 50)):
            number = self.add_purchase_order(
                "Tukkuliike Virtanen Oy",
                [PurchaseLine(articles[(n * 5 + i) % size], 12 + i) for i in range(2)])
            po = self._po_by_number(number)
            purchase_orders[number] = {str(group.origin): group.ordered for group in po.groups}
        return DemoCompany(articles, orders, purchase_orders)

    # --- control surface: the clock, access, faults ---------------------------------------------


    def add_organisation(self, organisation_id: str, *, grant: bool = False) -> None:
        """Another company in Netvisor (the API user has rights to it only with ``grant``)."""
        self._companies.setdefault(organisation_id, _Company(organisation_id))
        if grant:
            self.grant_access(organisation_id)

    def grant_access(self, organisation_id: str | None = None) -> None:
        self._users[self.customer_id].organisations.add(organisation_id or self.organisation_id)

    def revoke_access(self, organisation_id: str | None = None) -> None:
        """The API user loses the rights to the company (a user who left, seed 004)."""
        self._users[self.customer_id].organisations.discard(
            organisation_id or self.organisation_id)

    def block(self, resource: str, organisation_id: str | None = None) -> None:
        """The company blocks the resource (seed 004's SERVICE_ACCESS_ERROR)."""
        self._company(organisation_id).blocked.add(resource.lower())

    def unblock(self, resource: str, organisation_id: str | None = None) -> None:
        self._company(organisation_id).blocked.discard(resource.lower())

    def add_event_type(self, name: str) -> None:
        """An inventory event type (Products => Stock transactions => Inventory event types)."""
        self._company().event_types.add(name)

    def fail_next(self, count: int = 1, status: int = 503, body: bytes | str | None = None, *,
                  resource: str | None = None, after: bool = False) -> None:
        """Answer the next ``count`` calls (of ``resource`` when given) with ``status`` and
        ``body`` (default: a short text). With ``after`` the call is served first and its
        answer lost: a write happened."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(_Fault(count, status, body, resource.lower() if resource else None,
                                   after))

    def clear_faults(self) -> None:
        self._faults.clear()

    def request_count(self, resource: str | None = None, method: str | None = None) -> int:
        """Calls answered so far, optionally of one resource and/or method."""
        return sum(1 for r in self.requests
                   if (resource is None or r.resource == resource.lower())
                   and (method is None or r.method == method.upper()))

    def peak_in_flight(self, organisation_id: str | None = None) -> int:
        """The most calls to one company in flight at once (C9)."""
        return self._peak.get(organisation_id or self.organisation_id, 0)

    # --- control surface: products and customers --------------------------------------------

    def add_product(
        self, code: str, name: str, *, description: str | None = None, unit: str = "kpl",
        unit_price: Decimal = _ZERO, vat_percent: Decimal = Decimal("25.5"),
        purchase_price: Decimal | None = None, tariff_heading: str | None = None,
        country_of_origin: str | None = None, ean: str | None = None,
        secondary_ean: str | None = None, net_weight: Decimal | None = None,
        gross_weight: Decimal | None = None, weight_unit: str = "kg",
        length: Decimal | None = None, width: Decimal | None = None,
        height: Decimal | None = None, group: str | None = None, published: bool = True,
        stockable: bool = True, sub_products: Mapping[str, Decimal | int] | None = None,
        inventory: Decimal | int = 0, at: datetime | None = None,
    ) -> str:
        """A new product; returns its code. Dimensions are centimetres; ``group`` is the
        product group's name (its id is assigned)."""
        company = self._company()
        if self._find_product(company, code) is not None:
            raise ValueError(f"product code {code!r} is taken")
        if weight_unit not in ("g", "kg", "tn"):
            raise ValueError("weight_unit is g, kg or tn")
        product = _Product(
            key=next(self._ids["product"]), code=code, name=name, description=description,
            unit=unit, unit_price=Decimal(unit_price), vat_percent=Decimal(vat_percent),
            purchase_price=purchase_price, tariff_heading=tariff_heading,
            country_of_origin=country_of_origin, primary_ean=ean, secondary_ean=secondary_ean,
            net_weight=net_weight, gross_weight=gross_weight, weight_unit=weight_unit,
            length=length, width=width, height=height, group_key=None, group_name=None,
            published=published, stockable=stockable, sub_products=[],
            changed_at=self._moment(at), inventory=_quantity(inventory))
        self._set_group(company, product, group)
        product.sub_products = self._subs(company, sub_products or {})
        company.products[product.key] = product
        return code

    def change_product(self, code: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change fields of product ``code`` (the keyword names of :meth:`add_product`)."""
        company = self._company()
        product = self._product_by_code(code)
        names = {"name", "description", "unit", "unit_price", "vat_percent", "purchase_price",
                 "tariff_heading", "country_of_origin", "secondary_ean", "net_weight",
                 "gross_weight", "weight_unit", "length", "width", "height", "published",
                 "stockable", "ean", "group", "sub_products", "inventory"}
        unknown = set(fields) - names
        if unknown:
            raise TypeError(f"unknown product fields: {', '.join(sorted(unknown))}")
        for name, value in fields.items():
            if name == "ean":
                product.primary_ean = value
            elif name == "group":
                self._set_group(company, product, value)
            elif name == "sub_products":
                product.sub_products = self._subs(company, value or {})
            elif name == "inventory":
                product.inventory = _quantity(value)
            else:
                setattr(product, name, value)
        product.changed_at = self._moment(at)

    def delete_product(self, code: str, *, at: datetime | None = None) -> None:
        """Delete the product (Netvisor keeps it, marked deleted)."""
        product = self._product_by_code(code)
        product.deleted = True
        product.changed_at = self._moment(at)

    def product(self, code: str) -> dict[str, Any]:
        """The product as stored (stock in ``inventory``)."""
        product = self._product_by_code(code)
        return {"key": str(product.key), "code": product.code, "name": product.name,
                "published": product.published, "deleted": product.deleted,
                "inventory": product.inventory, "changed_at": product.changed_at,
                "group": product.group_name}

    def add_customer(
        self, code: str, name: str, *, name_extension: str | None = None,
        street: str | None = None, additional: str | None = None, post_code: str | None = None,
        city: str | None = None, country: str | None = "FI", phone: str | None = None,
        email: str | None = None, organisation_identifier: str | None = None,
    ) -> str:
        """A new customer; returns its code."""
        company = self._company()
        if any(c.code == code for c in company.customers.values()):
            raise ValueError(f"customer code {code!r} is taken")
        key = next(self._ids["customer"])
        company.customers[key] = _Customer(key, code, name, name_extension, street, additional,
                                           post_code, city, country, phone, email,
                                           organisation_identifier)
        return code

    # --- control surface: sales orders ----------------------------------------------------------

    def add_order(
        self, customer: str, lines: Sequence[ProductLine | CommentLine], *,
        number: str | None = None, order_date: date | None = None,
        delivery_date: date | None = None, our_reference: str | None = None,
        your_reference: str | None = None, text_before: str | None = None,
        text_after: str | None = None, private_comment: str | None = None,
        delivery_method: str | None = None, delivery_term: str | None = None,
        delivery_address: DeliveryAddress | None = None, status: str = "undelivered",
        at: datetime | None = None,
    ) -> str:
        """A new sales order of customer ``customer`` (its code); returns the order number."""
        company = self._company()
        buyer = self._customer_by_code(customer)
        if status not in ORDER_STATUSES:
            raise ValueError(f"status is one of {', '.join(ORDER_STATUSES)}")
        moment = self._moment(at)
        built: list[_OrderLine | _Comment] = []
        for line in lines:
            if isinstance(line, CommentLine):
                built.append(_Comment(line.text, next(self._ids["comment"])))
                continue
            product = self._product_by_code(line.product)
            quantity = _quantity(line.quantity)
            if quantity <= 0:
                raise ValueError("an order line needs a quantity above 0")
            built.append(_OrderLine(
                key=next(self._ids["order_line"]), product_key=product.key,
                product_code=product.code, name=product.name, quantity=quantity,
                unit_price=product.unit_price if line.unit_price is None else line.unit_price,
                vat_percent=product.vat_percent if line.vat_percent is None
                else line.vat_percent, discount_percent=line.discount_percent,
                free_text=line.free_text, delivery_date=line.delivery_date))
        if number is None:
            number = str(next(self._ids["order_number"]))
            while self._find_order(company, number) is not None:
                number = str(next(self._ids["order_number"]))
        elif not number.isdigit() or self._find_order(company, number) is not None:
            raise ValueError(f"order number {number!r}: a free number of digits")
        key = next(self._ids["order"])
        if delivery_method:
            company.delivery_methods.add(delivery_method)
        company.orders[key] = _Order(
            key=key, number=int(number), customer_key=buyer.key,
            order_date=order_date or _local(moment).date(), delivery_date=delivery_date,
            our_reference=our_reference, your_reference=your_reference,
            text_before=text_before, text_after=text_after, private_comment=private_comment,
            delivery_method=delivery_method, delivery_term=delivery_term,
            address=delivery_address, lines=built, status=status, changed_at=moment)
        return number

    def change_order(self, number: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change an order's fields (our_reference, your_reference, text_before, text_after,
        private_comment, delivery_method, delivery_term, delivery_date, delivery_address,
        status)."""
        order = self._order_by_number(number)
        names = {"our_reference", "your_reference", "text_before", "text_after",
                 "private_comment", "delivery_method", "delivery_term", "delivery_date",
                 "address", "delivery_address", "status"}
        unknown = set(fields) - names
        if unknown:
            raise TypeError(f"unknown order fields: {', '.join(sorted(unknown))}")
        for name, value in fields.items():
            if name == "status" and value not in ORDER_STATUSES:
                raise ValueError(f"status is one of {', '.join(ORDER_STATUSES)}")
            setattr(order, "address" if name == "delivery_address" else name, value)
        order.changed_at = self._moment(at)

    def order(self, number: str) -> dict[str, Any]:
        """The order as stored: status, lines with ordered and delivered quantities."""
        order = self._order_by_number(number)
        return {"key": str(order.key), "number": str(order.number), "status": order.status,
                "changed_at": order.changed_at, "lines": [
                    {"key": str(line.key), "product": line.product_code,
                     "quantity": line.quantity, "delivered": line.delivered,
                     "closed": line.closed}
                    for line in order.product_lines]}

    def delivered(self, number: str) -> dict[str, Decimal]:
        """Delivered quantity per order line (line NetvisorKey -> quantity)."""
        return {str(line.key): line.delivered
                for line in self._order_by_number(number).product_lines}

    def deliveries(self, number: str) -> list[dict[str, Any]]:
        """Every delivery recorded on the order, in order: line, date, amount, post delivery."""
        return [{"line": str(line.key), "date": d.when, "amount": d.amount,
                 "post_delivery": d.post_delivery}
                for line in self._order_by_number(number).product_lines for d in line.deliveries]

    # --- control surface: purchase orders -------------------------------------------------------

    def add_purchase_order(
        self, vendor: str, lines: Sequence[PurchaseLine], *, number: str | None = None,
        status: str = "senttovendor", order_date: date | None = None,
        our_reference: str | None = None, comment: str | None = None,
        private_comment: str | None = None, vendor_address: str | None = None,
        vendor_post_code: str | None = None, vendor_city: str | None = None,
        vendor_country: str | None = "FI", delivery_term: str | None = None,
        delivery_method: str | None = None, at: datetime | None = None,
    ) -> str:
        """A new purchase order; returns its number."""
        company = self._company()
        if status not in PURCHASE_ORDER_STATUSES:
            raise ValueError(f"status is one of {', '.join(PURCHASE_ORDER_STATUSES)}")
        moment = self._moment(at)
        if number is None:
            number = str(next(self._ids["po_number"]))
            while self._find_po(company, number) is not None:
                number = str(next(self._ids["po_number"]))
        elif not number.isdigit() or self._find_po(company, number) is not None:
            raise ValueError(f"purchase order number {number!r}: a free number of digits")
        groups: list[_PoGroup] = []
        rows: list[_PoRow] = []
        for line in lines:
            product = self._product_by_code(line.product)
            amount = _quantity(line.amount)
            if amount <= 0:
                raise ValueError("a purchase order line needs an amount above 0")
            group, row = self._new_line(product, line.vendor_product_code, amount,
                                        product.purchase_price if line.unit_price is None
                                        else line.unit_price,
                                        product.vat_percent if line.vat_percent is None
                                        else line.vat_percent,
                                        line.delivery_date or _local(moment).date())
            groups.append(group)
            rows.append(row)
        key = next(self._ids["purchase_order"])
        company.purchase_orders[key] = _PurchaseOrder(
            key=key, number=int(number), status=status,
            order_date=order_date or _local(moment).date(), vendor_name=vendor,
            vendor_address=vendor_address, vendor_post_code=vendor_post_code,
            vendor_city=vendor_city, vendor_country=vendor_country,
            delivery_term=delivery_term, delivery_method=delivery_method, comment=comment,
            private_comment=private_comment, our_reference=our_reference, groups=groups,
            rows=rows, comments=[], changed_at=moment)
        return number

    def change_purchase_order(self, number: str, *, at: datetime | None = None,
                              **fields: Any) -> None:
        """Change a purchase order's fields (status, comment, private_comment, our_reference,
        delivery_term, delivery_method, vendor_name)."""
        po = self._po_by_number(number)
        names = {"status", "comment", "private_comment", "our_reference", "delivery_term",
                 "delivery_method", "vendor_name"}
        unknown = set(fields) - names
        if unknown:
            raise TypeError(f"unknown purchase order fields: {', '.join(sorted(unknown))}")
        if "status" in fields and fields["status"] not in PURCHASE_ORDER_STATUSES:
            raise ValueError(f"status is one of {', '.join(PURCHASE_ORDER_STATUSES)}")
        for name, value in fields.items():
            setattr(po, name, value)
        po.changed_at = self._moment(at)

    def received(self, number: str) -> dict[str, Decimal]:
        """Received quantity per purchase-order line (the line's original NetvisorKey -> the sum
        over its delivery group's rows)."""
        po = self._po_by_number(number)
        return {str(group.origin): po.delivered(group) for group in po.groups}

    def purchase_order_rows(self, number: str) -> list[dict[str, Any]]:
        """The purchase order's product rows, partial delivery rows included."""
        po = self._po_by_number(number)
        return [{"key": str(r.key), "group": str(r.group), "ordered": r.ordered,
                 "delivered": r.delivered, "received_date": r.received_date,
                 "delivery_date": r.delivery_date, "confirmed": r.confirmed} for r in po.rows]

    def purchase_order_comments(self, number: str) -> list[str]:
        return [c.text for c in self._po_by_number(number).comments]

    def warehouse_events(self, reference: str | None = None) -> list[dict[str, Any]]:
        """The warehouse events recorded (of one reference when given)."""
        return [{"key": str(e.key), "reference": e.reference, "description": e.description,
                 "created_at": e.created_at, "lines": [
                     {"event_type": line.event_type, "product": line.product_code,
                      "quantity": line.quantity, "unit_price": line.unit_price,
                      "value_date": line.value_date, "status": line.status,
                      "inventory_place": self._company().inventory_places.get(line.place),
                      "description": line.description} for line in e.lines]}
                for e in self._company().warehouse_events.values()
                if reference is None or e.reference == reference]

    # --- helpers of the control surface ---------------------------------------------------------

    def _company(self, organisation_id: str | None = None) -> _Company:
        return self._companies[organisation_id or self.organisation_id]

    def _moment(self, at: datetime | None) -> datetime:
        moment = at or self.now()
        if moment.tzinfo is None:
            raise ValueError("give timezone-aware times")
        return moment

    def _seed_code(self) -> str:
        company = self._company()
        while True:
            code = f"TUOTE-{next(self._ids['seed']):05d}"
            if self._find_product(company, code) is None:
                return code

    def _seed_product(self, at: datetime) -> str:
        return self.add_product(self._seed_code(), "Kahvimuki äöå", unit_price=Decimal("9.90"),
                                at=at)

    def _seed_customer(self) -> str:
        company = self._company()
        for customer in company.customers.values():
            if customer.code == "ASIAKAS-1":
                return customer.code
        return self.add_customer("ASIAKAS-1", "Asiakas Oy", street="Katu 1", post_code="00100",
                                 city="Helsinki", phone="+358401234567",
                                 email="asiakas@example.fi")

    def _set_group(self, company: _Company, product: _Product, name: str | None) -> None:
        if name is None:
            product.group_key, product.group_name = None, None
            return
        if name not in company.groups:
            company.groups[name] = next(self._ids["group"])
        product.group_key, product.group_name = company.groups[name], name

    def _subs(self, company: _Company, subs: Mapping[str, Decimal | int]
              ) -> list[tuple[int, Decimal]]:
        result: list[tuple[int, Decimal]] = []
        for code, amount in subs.items():
            child = self._find_product(company, code)
            if child is None:
                raise KeyError(f"no product {code!r}")
            result.append((child.key, _quantity(amount)))
        return result

    def _new_line(self, product: _Product | None, vendor_code: str | None, amount: Decimal,
                  unit_price: Decimal | None, vat: Decimal, when: date,
                  code: str | None = None) -> tuple[_PoGroup, _PoRow]:
        row_key = next(self._ids["po_row"])
        group = _PoGroup(key=next(self._ids["po_group"]), origin=row_key,
                         product_key=product.key if product else None,
                         product_code=product.code if product else (code or ""),
                         product_name=product.name if product else (code or ""),
                         vendor_product_code=vendor_code, ordered=amount,
                         unit_price=unit_price if unit_price is not None else _ZERO,
                         vat_percent=vat)
        return group, _PoRow(key=row_key, group=group.key, ordered=amount, delivery_date=when)

    @staticmethod
    def _find_product(company: _Company, code: str) -> _Product | None:
        return next((p for p in company.products.values() if p.code == code), None)

    def _product_by_code(self, code: str) -> _Product:
        product = self._find_product(self._company(), code)
        if product is None:
            raise KeyError(f"no product {code!r}")
        return product

    def _customer_by_code(self, code: str) -> _Customer:
        found = next((c for c in self._company().customers.values() if c.code == code), None)
        if found is None:
            raise KeyError(f"no customer {code!r}")
        return found

    @staticmethod
    def _find_order(company: _Company, number: str) -> _Order | None:
        return next((o for o in company.orders.values() if str(o.number) == number), None)

    def _order_by_number(self, number: str) -> _Order:
        order = self._find_order(self._company(), number)
        if order is None:
            raise KeyError(f"no order {number!r}")
        return order

    @staticmethod
    def _find_po(company: _Company, number: str) -> _PurchaseOrder | None:
        return next((p for p in company.purchase_orders.values() if str(p.number) == number),
                    None)

    def _po_by_number(self, number: str) -> _PurchaseOrder:
        po = self._find_po(self._company(), number)
        if po is None:
            raise KeyError(f"no purchase order {number!r}")
        return po

    # --- the app -------------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Counts every call and injects faults around the API."""
        if scope["type"] != "http":
            await self._starlette(scope, receive, send)
            return
        resource = scope["path"].strip("/").lower()
        query = scope.get("query_string", b"").decode("latin-1")
        method: str = scope["method"]
        before = self._take_fault(resource, after=False)
        if before is not None:
            await self._send_fault(scope, send, before)
            self.requests.append(LoggedRequest(method, resource, query, before.status, None))
            return
        after = self._take_fault(resource, after=True)
        seen: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(message["status"])
            if after is None:
                await send(message)

        await self._starlette(scope, receive, capture)
        if after is not None:
            await self._send_fault(scope, send, after)
            seen.append(after.status)
        code = scope.get("state", {}).get("netvisor_code") if after is None else None
        self.requests.append(LoggedRequest(method, resource, query, seen[-1], code))

    def _take_fault(self, resource: str, *, after: bool) -> _Fault | None:
        for fault in self._faults:
            if fault.after == after and fault.resource in (None, resource):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    async def _send_fault(scope: Scope, send: Send, fault: _Fault) -> None:
        body = fault.body if fault.body is not None else f"Injected failure ({fault.status})"
        content = body.encode("utf-8") if isinstance(body, str) else body
        response = Response(content, status_code=fault.status,
                            media_type="text/plain; charset=utf-8")

        async def nothing() -> Message:  # pragma: no cover - the body is never read
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)

    async def _endpoint(self, request: Request) -> Response:
        resource = request.path_params["resource"].lower()
        status_codes = request.headers.get(_HEADER + "UseHTTPResponseStatusCodes") == "1"
        company: _Company | None = None
        try:
            spec = _RESOURCES.get(resource)
            if spec is None:
                return self._failure(request, _Fail(
                    "INVALID_DATA", f"unknown resource {request.url.path!r}", 404), True)
            if request.method != spec.method:
                return self._failure(request, _Fail(
                    "INVALID_DATA", f"{resource} takes HTTP {spec.method}", 405), True)
            raw = await request.body()
            company = self._authenticate(request)
            if company.in_flight and self.refuse_overlap:
                raise _Fail("TECHNICAL_ERROR", "Another request to this company is still being "
                                               "processed: send one message at a time")
            if resource in company.blocked:  # [FAQ]
                raise _Fail("SERVICE_ACCESS_ERROR", "Service error. The company has blocked "
                                                    f"access to the api resource: {resource}")
            company.in_flight += 1
            self._peak[company.organisation_id] = max(
                self._peak.get(company.organisation_id, 0), company.in_flight)
            try:
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                params = _query(request.url.query.encode("latin-1"), spec.allowed,
                                spec.unsimulated)
                body = _read_document(raw, spec.body) if spec.body is not None else None
                if spec.body is None and raw.strip():
                    raise _invalid(f"{resource} takes no XML message")
                language = request.headers["X-Netvisor-Interface-Language"]
                base = f"{request.url.scheme}://{request.headers.get('host', '')}"
                payload = spec.handler(self, _Call(company, params, body, base, language))
            finally:
                company.in_flight -= 1
        except _Fail as failure:
            return self._failure(request, failure, status_codes)
        return Response(_envelope(self.now(), payload), status_code=200,
                        media_type="text/xml; charset=utf-8")

    def _failure(self, request: Request, failure: _Fail, status_codes: bool) -> Response:
        request.scope.setdefault("state", {})["netvisor_code"] = failure.code
        status = failure.status or (HTTP_STATUS.get(failure.code, 400) if status_codes else 200)
        return Response(_envelope(self.now(), [], failure), status_code=status,
                        media_type="text/xml; charset=utf-8")

    # --- authentication [SEC] ---------------------------------------------------------------

    def _authenticate(self, request: Request) -> _Company:
        headers = request.headers
        values: dict[str, str] = {}
        for name in _REQUIRED_HEADERS:
            value = headers.get(name)
            if value is None or not value.strip():
                raise _Fail("AUTHENTICATION_FAILED", f"The header {name} is missing")
            if not value.isascii() or not value.isprintable():
                raise _Fail("AUTHENTICATION_FAILED", f"The header {name} is not printable ASCII")
            values[name] = value
        partner_key = self._partners.get(values[_HEADER + "PartnerId"])
        if partner_key is None:
            raise _Fail("AUTHENTICATION_FAILED", "Integration partner not found, see the "
                                                 "documentation")
        user = self._users.get(values[_HEADER + "CustomerId"])
        if user is None:
            raise _Fail("AUTHENTICATION_FAILED", "Integration keys are not valid. Please check "
                                                 "the keys specific to the user and partner.")
        language = values["X-Netvisor-Interface-Language"]
        if language not in LANGUAGES:
            raise _Fail("AUTHENTICATION_FAILED", f"Unknown interface language {language!r} "
                                                 "(FI, EN or SE)")
        algorithm = values[_HEADER + "MACHashCalculationAlgorithm"]
        if algorithm not in MAC_ALGORITHMS:
            raise _Fail("AUTHENTICATION_FAILED", f"Unsupported MAC hash calculation algorithm "
                                                 f"{algorithm!r}")
        url = self._request_url(request)
        parts = (url, values[_HEADER + "Sender"], values[_HEADER + "CustomerId"],
                 values[_HEADER + "Timestamp"], language, values["X-Netvisor-Organisation-ID"],
                 values[_HEADER + "TransactionId"])
        if algorithm == "SHA256":
            expected = mac(*parts, user.key, partner_key)
        else:
            unix = headers.get(_HEADER + "TimestampUnix")
            if not unix or not unix.isdigit():
                raise _Fail("AUTHENTICATION_FAILED", f"The header {_HEADER}TimestampUnix is "
                                                     "missing")
            expected = hmac_mac(*parts, unix, user.key, partner_key)
        if not hmac.compare_digest(expected, values[_HEADER + "MAC"].lower()):
            raise _Fail("AUTHENTICATION_FAILED", "Integration keys are not valid. Please check "
                                                 "the keys specific to the user and partner.")
        self._check_timestamp(values[_HEADER + "Timestamp"])
        transaction = (user.customer_id, values[_HEADER + "TransactionId"])
        if transaction in self._transactions:
            raise _Fail("REQUEST_NOT_UNIQUE", "Duplicate transaction id: a request with this "
                                              "X-Netvisor-Authentication-TransactionId has "
                                              "already been received")
        self._transactions.add(transaction)
        organisation = values["X-Netvisor-Organisation-ID"]
        if organisation not in user.organisations or organisation not in self._companies:
            raise _Fail("AUTHENTICATION_FAILED", f"The user has no rights to the organisation "
                                                 f"{organisation}")
        return self._companies[organisation]

    @staticmethod
    def _request_url(request: Request) -> str:
        """The URL as sent (C5)."""
        scope = request.scope
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw_path.decode("latin-1").split("?", 1)[0]
        host = request.headers.get("host", "")
        query = scope.get("query_string", b"").decode("latin-1")
        return f"{scope['scheme']}://{host}{path}" + (f"?{query}" if query else "")

    def _check_timestamp(self, text: str) -> None:
        match = _TIMESTAMP.fullmatch(text)
        if match is None:
            raise _Fail("AUTHENTICATION_FAILED", f"The timestamp {text!r} is not "
                                                 "yyyy-MM-dd HH:mm:ss.fff (UTC)")
        try:
            moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        except ValueError:
            raise _Fail("AUTHENTICATION_FAILED", f"The timestamp {text!r} is no time") from None
        if match.group(2):
            moment += timedelta(microseconds=int(match.group(2).ljust(6, "0")[:6]))
        if abs(self._wall_clock() - moment) > MAX_CLOCK_SKEW:
            raise _Fail("AUTHENTICATION_FAILED", f"The timestamp {text} is too old or in the "
                                                 "future: check the clock (UTC)")

    # --- products [PL, GP] -------------------------------------------------------------------

    def _productlist(self, call: _Call) -> list[Any]:
        params = call.params
        since = (_parse_query_time(params["changedsince"], "changedsince")
                 if "changedsince" in params else None)
        keyword = params.get("keyword", "").casefold()
        flags = {name: _flag(params, name) for name in ("published", "unpublished", "deleted")}
        filtering = any(value is not None for value in flags.values())  # (C16)
        listing = etree.Element("ProductList")
        for product in sorted(call.company.products.values(), key=lambda p: p.key):
            if since is not None and not product.changed_at > since:
                continue
            if keyword and keyword not in product.name.casefold() \
                    and keyword not in product.code.casefold():
                continue
            category = ("deleted" if product.deleted
                        else "published" if product.published else "unpublished")
            if filtering and not flags[category]:
                continue
            item = _el(listing, "Product")
            _el(item, "NetvisorKey", product.key)
            _el(item, "ProductCode", product.code)
            _el(item, "Name", product.name)
            _el(item, "UnitPrice", _num(product.unit_price, 12))
            _el(item, "UnitGrossPrice", _num(self._gross(product), 12))
            _el(item, "ProductGroupID", product.group_key if product.group_key else "")
            _el(item, "ProductGroupDescription", product.group_name or "")
            _el(item, "Uri", f"{call.base}/getproduct.nv?id={product.key}")
        return [listing]

    @staticmethod
    def _gross(product: _Product) -> Decimal:
        return product.unit_price * (1 + product.vat_percent / 100)

    def _getproduct(self, call: _Call) -> list[Any]:
        params = call.params
        selector = _one_of(params, ("id", "idlist", "code", "codelist", "eancode"))
        limit = ID_LIST_LIMITS["getproduct.nv"]
        products = call.company.products
        found: list[_Product]
        if selector == "id":
            key = _key(params["id"], "parameter id")
            found = [products[key]] if key in products else []
        elif selector == "idlist":
            keys = [_key(k, "parameter idlist") for k in _id_list(params["idlist"], "idlist",
                                                                   limit)]
            found = [products[k] for k in dict.fromkeys(keys) if k in products]
        elif selector == "codelist":
            codes = _id_list(params["codelist"], "codelist", limit)
            found = [p for code in dict.fromkeys(codes)
                     if (p := self._find_product(call.company, code)) is not None]
        else:
            value = params[selector]
            found = [p for p in products.values()
                     if (p.code if selector == "code" else p.primary_ean) == value][:1]
        option = params.get("replyoption")
        if option not in (None, "1", "2", "3"):
            raise _invalid(f"parameter replyoption: {option!r} is not 1, 2 or 3")
        found = [p for p in found if option is None
                 or (option == "1" and not p.deleted) or (option == "2" and p.published)
                 or (option == "3" and p.published and not p.deleted)]
        subs = _flag(params, "showsubproducts") or False
        if selector in ("idlist", "codelist"):
            wrapper = etree.Element("Products")
            for product in found:
                wrapper.append(self._product_xml(call.company, product, subs))
            return [wrapper]
        if not found:
            raise _invalid(f"Product not found: {params[selector]}")
        return [self._product_xml(call.company, found[0], subs)]

    def _product_xml(self, company: _Company, p: _Product, subs: bool) -> Any:
        element = etree.Element("Product")
        base = _el(element, "ProductBaseInformation")
        _el(base, "NetvisorKey", p.key)
        _el(base, "ProductCode", p.code)
        _el(base, "ProductGroup", p.group_name or "")
        _el(base, "Name", p.name)
        _el(base, "Description", p.description or "")
        _el(base, "UnitPrice", _num(p.unit_price, 2), type="net")
        _el(base, "UnitGrossPrice", _num(self._gross(p), 2), type="gross")
        _el(base, "Unit", p.unit)
        _el(base, "PurchasePrice", _num(p.purchase_price, 4) if p.purchase_price is not None
            else "")
        _el(base, "TariffHeading", p.tariff_heading or "")
        _el(base, "ComissionPercentage", "0")
        _el(base, "IsActive", "0" if p.deleted else "1")
        _el(base, "IsSalesProduct", "1")
        _el(base, "InventoryEnabled", "1" if p.stockable else "0")
        _el(base, "CountryOfOrigin", p.country_of_origin or "", type="ISO-3166")
        books = _el(element, "ProductBookkeepingDetails")
        _el(books, "DefaultVatPercent", _num(p.vat_percent))
        _el(books, "DefaultDomesticAccountNumber", "3000")
        _el(books, "DefaultEuAccountNumber", "3360")
        _el(books, "DefaultOutsideEUAccountNumber", "3380")
        stock = _el(element, "ProductInventoryDetails")
        reserved = sum((line.quantity - line.delivered for o in company.orders.values()
                        if o.status == "undelivered" for line in o.product_lines
                        if line.product_key == p.key and not line.done), _ZERO)
        ordered = sum((row.ordered - row.delivered for po in company.purchase_orders.values()
                       if po.status in ("approved", "senttovendor") for g in po.groups
                       if g.product_key == p.key for row in po.rows
                       if row.group == g.key and row.delivered < row.ordered), _ZERO)
        price = p.purchase_price or _ZERO
        _el(stock, "InventoryAmount", _num(p.inventory, 2))
        _el(stock, "InventoryMidPrice", _num(price, 2))
        _el(stock, "InventoryValue", _num(price * p.inventory, 4))
        _el(stock, "InventoryReservedAmount", _num(reserved, 2))
        _el(stock, "InventoryOrderedAmount", _num(ordered, 2))
        extra = _el(element, "ProductAdditionalInformation")
        if p.net_weight is not None:
            _el(extra, "ProductNetWeight", _num(p.net_weight), weightunit=p.weight_unit)
        if p.gross_weight is not None:
            _el(extra, "ProductGrossWeight", _num(p.gross_weight), weightunit=p.weight_unit)
        if any(v is not None for v in (p.width, p.height, p.length)):
            package = _el(extra, "ProductPackageInformation")
            for tag, value in (("PackageWidth", p.width), ("PackageHeight", p.height),
                               ("PackageLength", p.length)):
                if value is not None:
                    _el(package, tag, _num(value), unit="cm")
        _opt(extra, "PrimaryEanCode", p.primary_ean)
        _opt(extra, "SecondaryEanCode", p.secondary_ean)
        if subs:
            info = _el(element, "SubProductInformation")
            parents = _el(info, "Parents")
            for other in company.products.values():
                for child_key, amount in other.sub_products:
                    if child_key == p.key:
                        self._sub_xml(parents, other.key, amount)
            children = _el(info, "Children")
            for child_key, amount in p.sub_products:
                self._sub_xml(children, child_key, amount)
        return element

    @staticmethod
    def _sub_xml(parent: Any, key: int, amount: Decimal) -> None:
        item = _el(parent, "Product")
        _el(item, "NetvisorKey", key)
        _el(item, "Amount", _num(amount))
        _el(item, "PurchasePriceChange", "0")
        _el(item, "UnitPriceChange", "0")

    # --- orders [SIL, GO, GC, SOI, WR] ----------------------------------------------------------

    def _salesinvoicelist(self, call: _Call) -> list[Any]:
        params = call.params
        listtype = params.get("listtype", "")
        if listtype not in ("", "preinvoice"):
            raise _invalid(f"parameter listtype: {listtype!r} is not simulated "
                           "(empty or preinvoice)")
        listing = etree.Element("SalesInvoiceList")
        if listtype == "":
            return [listing]  # the simulated company has orders, no invoices (C19)
        above = (_key(params["invoicesabovenetvisorkey"], "parameter invoicesabovenetvisorkey")
                 if "invoicesabovenetvisorkey" in params else None)
        begin = (_parse_date(params["begininvoicedate"], "parameter begininvoicedate")
                 if "begininvoicedate" in params else None)
        end = (_parse_date(params["endinvoicedate"], "parameter endinvoicedate")
               if "endinvoicedate" in params else None)
        start = (_parse_query_time(params["lastmodifiedstart"], "lastmodifiedstart")
                 if "lastmodifiedstart" in params else None)
        stop = (_parse_query_time(params["lastmodifiedend"], "lastmodifiedend")
                if "lastmodifiedend" in params else None)
        status = params.get("invoicestatus")
        if status is not None and status not in ORDER_STATUSES:
            raise _invalid(f"parameter invoicestatus: {status!r} is no order status "
                           f"({', '.join(ORDER_STATUSES)})")
        customer_key = (_key(params["customernetvisorkey"], "parameter customernetvisorkey")
                        if "customernetvisorkey" in params else None)
        chosen: list[_Order] = []
        for order in sorted(call.company.orders.values(), key=lambda o: o.key):
            customer = call.company.customers[order.customer_key]
            if ((above is not None and order.key <= above)
                    or (begin is not None and order.order_date < begin)
                    or (end is not None and order.order_date > end)
                    or (start is not None and not order.changed_at > start)
                    or (stop is not None and not order.changed_at < stop)
                    or (status is not None and order.status != status)
                    or ("invoicenumber" in params and str(order.number) != params["invoicenumber"])
                    or ("customercode" in params and customer.code != params["customercode"])
                    or (customer_key is not None and customer.key != customer_key)):
                continue
            chosen.append(order)
        for order in chosen[: self.page_size]:  # (C14)
            customer = call.company.customers[order.customer_key]
            item = _el(listing, "SalesInvoice")
            _el(item, "NetvisorKey", order.key)
            _el(item, "InvoiceNumber", order.number)
            _el(item, "Invoicedate", order.order_date.isoformat(), format="ansi")
            _el(item, "InvoiceStatus", order.status)
            _el(item, "CustomerCode", customer.code)
            _el(item, "CustomerName", customer.name)
            _el(item, "ReferenceNumber", "")
            _el(item, "InvoiceSum", _num(order.amount, 2))
            _el(item, "OpenSum", _num(order.amount, 2))
            _el(item, "Uri", f"{call.base}/getorder.nv?netvisorkey={order.key}")
        return [listing]

    def _getorder(self, call: _Call) -> list[Any]:
        params = call.params
        selector = _one_of(params, ("netvisorkey", "netvisorkeylist"))
        pdf = params.get("pdfimage")
        if pdf not in (None, "lastsentprintservice", "pdf", "nopdf", "preview"):
            raise _invalid(f"parameter pdfimage: {pdf!r} is not lastsentprintservice, pdf, "
                           "nopdf or preview")
        for name in ("showprocesshistory", "includeattachments", "includedocuments"):
            _flag(params, name)
        comments = _flag(params, "showcommentlines") or False
        orders = call.company.orders
        if selector == "netvisorkey":
            key = _key(params["netvisorkey"], "parameter netvisorkey")
            if key not in orders:
                raise _invalid(f"Sales order not found: {key}")
            return [self._order_xml(call, orders[key], comments)]
        keys = [_key(k, "parameter netvisorkeylist") for k in _id_list(
            params["netvisorkeylist"], "netvisorkeylist", ID_LIST_LIMITS["getorder.nv"])]
        wrapper = etree.Element("SalesInvoices")
        for key in dict.fromkeys(keys):
            if key in orders:
                wrapper.append(self._order_xml(call, orders[key], comments))
        return [wrapper]

    def _order_xml(self, call: _Call, order: _Order, comments: bool) -> Any:
        customer = call.company.customers[order.customer_key]
        language = ("FI", "EN", "SE").index(call.language)
        e = etree.Element("SalesInvoice")
        _el(e, "SalesInvoiceNetvisorKey", order.key)
        _el(e, "SalesInvoiceNumber", order.number)
        _ansi(e, "SalesInvoiceDate", order.order_date)
        _ansi(e, "SalesInvoiceDeliveryDate", order.delivery_date)
        _el(e, "SalesInvoiceReferencenumber", "")
        _el(e, "SalesInvoiceAmount", _num(order.amount, 2), iso4217currencycode="EUR")
        _el(e, "SellerIdentifier", "", type="name")
        _el(e, "InvoiceStatus", ORDER_STATUSES[order.status][language], status=order.status)
        _el(e, "SalesInvoiceFreeTextBeforeLines", order.text_before or "")
        _el(e, "SalesInvoiceFreeTextAfterLines", order.text_after or "")
        _el(e, "SalesInvoiceOurReference", order.our_reference or "")
        _el(e, "SalesInvoiceYourReference", order.your_reference or "")
        _el(e, "SalesInvoicePrivateComment", order.private_comment or "")
        _el(e, "SalesInvoiceAgreementIdentifier", "")
        _el(e, "InvoicingCustomerCode", customer.code)
        _el(e, "InvoicingCustomerName", customer.name)
        _el(e, "InvoicingCustomerNameExtension", customer.name_extension or "")
        _el(e, "InvoicingCustomerNetvisorKey", customer.key)
        _el(e, "InvoicingCustomerOrganizationIdentifier", customer.organisation_identifier or "")
        _el(e, "InvoicingCustomerAddressline", customer.street or "")
        _el(e, "InvoicingCustomerAdditionalAddressLine", customer.additional or "")
        _el(e, "InvoicingCustomerPostnumber", customer.post_code or "")
        _el(e, "InvoicingCustomerTown", customer.city or "")
        _el(e, "InvoicingCustomerCountryCode", customer.country or "", type="ISO-3166")
        _el(e, "MatchPartialPaymentsByDefault", "0")
        address = order.address or DeliveryAddress(country=None)
        _el(e, "DeliveryAddressName", address.name or "")
        _opt(e, "DeliveryAddressNameExtension", address.name_extension)
        _el(e, "DeliveryAddressLine", address.line or "")
        _el(e, "DeliveryAddressPostnumber", address.post_code or "")
        _el(e, "DeliveryAddressTown", address.town or "")
        _el(e, "DeliveryAddressCountryCode", address.country or "", type="ISO-3166")
        _el(e, "DeliveryMethod", order.delivery_method or "")
        _el(e, "DeliveryTerm", order.delivery_term or "")
        _el(e, "PaymentTermNetDays", "14")
        _el(e, "PaymentTermCashDiscountDays", "0")
        _el(e, "PaymentTermCashDiscount", "0", type="percentage")
        holder = _el(_el(e, "InvoiceLines"), "InvoiceLine")
        for line in order.lines:
            if isinstance(line, _Comment):
                if comments:
                    _el(_el(holder, "SalesInvoiceCommentLine"), "Comment", line.text)
                continue
            product = call.company.products[line.product_key]
            row = _el(holder, "SalesInvoiceProductLine")
            _el(row, "NetvisorKey", line.key)
            _el(row, "ProductIdentifier", line.product_code, type="customer")
            _el(row, "ProductName", line.name)
            _el(row, "ProductNetvisorKey", line.product_key)
            _el(row, "ProductUnitPrice", _num(line.unit_price, 2))
            _el(row, "ProductPurchasePrice", _num(product.purchase_price or _ZERO, 2))
            _el(row, "ProductVatPercentage", _num(line.vat_percent), vatcode="KOMY")
            _el(row, "ProductPrimaryEanCode", product.primary_ean or "")
            _el(row, "ProductSecondaryEanCode", product.secondary_ean or "")
            _el(row, "SalesInvoiceProductLineQuantity", _num(line.quantity))
            _el(row, "SalesInvoiceProductLineUnit", product.unit)
            if line.delivery_date is not None:
                _ansi(row, "SalesInvoiceProductLineDeliveryDate", line.delivery_date)
            _el(row, "SalesInvoiceProductLineDiscountPercentage", _num(line.discount_percent))
            _el(row, "SalesInvoiceProductLineFreeText", line.free_text or "")
            _el(row, "SalesInvoiceProductLineVatSum", _num(line.vat, 2))
            _el(row, "SalesInvoiceProductLineSum", _num(line.net, 2))
            _el(row, "AccountingAccountSuggestion", "")
            _el(row, "AccountingAccountSuggestionAccountNumber", "")
            _el(row, "ProvisionPercentage", "0")
        return e

    def _getcustomer(self, call: _Call) -> list[Any]:
        params = call.params
        selector = _one_of(params, ("id", "idlist"))
        customers = call.company.customers
        if selector == "id":
            key = _key(params["id"], "parameter id")
            if key not in customers:
                raise _invalid(f"Customer not found: {key}")
            return [self._customer_xml(customers[key])]
        keys = [_key(k, "parameter idlist") for k in _id_list(
            params["idlist"], "idlist", ID_LIST_LIMITS["getcustomer.nv"])]
        wrapper = etree.Element("Customers")
        for key in dict.fromkeys(keys):
            if key in customers:
                wrapper.append(self._customer_xml(customers[key]))
        return [wrapper]

    @staticmethod
    def _customer_xml(c: _Customer) -> Any:
        element = etree.Element("Customer")
        base = _el(element, "CustomerBaseInformation")
        _el(base, "NetvisorKey", c.key)
        _el(base, "InternalIdentifier", c.code)
        _el(base, "ExternalIdentifier", c.organisation_identifier or "")
        _el(base, "Name", c.name)
        _el(base, "NameExtension", c.name_extension or "")
        _el(base, "StreetAddress", c.street or "")
        _el(base, "AdditionalStreetAddress", c.additional or "")
        _el(base, "City", c.city or "")
        _el(base, "PostNumber", c.post_code or "")
        _el(base, "Country", c.country or "", type="ISO-3166")
        _el(base, "PhoneNumber", c.phone or "")
        _el(base, "FaxNumber", "")
        _el(base, "Email", c.email or "")
        _el(base, "IsActive", "1")
        return element

    def _salesorderinvoicing(self, call: _Call) -> list[Any]:
        method = call.params.get("method")
        if method == "billanddelivery":
            raise _invalid("method billanddelivery is documented, but not simulated")
        if method != "deliveryonly":
            raise _invalid(f"parameter method: {method!r} is not deliveryonly or "
                           "billanddelivery")
        for name in ("copysublines", "updatemidprice"):
            if call.params.get(name) not in (None, "true", "false"):
                raise _invalid(f"parameter {name}: give true or false")
        company = call.company
        invoicing = call.body.find("salesorderinvoicing/invoicingcustomer")
        customer_key = _key(_text(invoicing, "netvisorkey") or "", "invoicingcustomer/netvisorkey")
        when = _parse_date(_text(invoicing, "invoicedate"), "invoicedate")
        index = {line.key: (order, line) for order in company.orders.values()
                 for line in order.product_lines}
        plan: list[tuple[_OrderLine, Decimal, date, bool]] = []
        order: _Order | None = None
        for element in invoicing.iterfind("invoicingproductlines/invoicingproductline"):
            key = _key(_text(element, "netvisorkey") or "", "invoicingproductline/netvisorkey")
            if key not in index:
                raise _invalid(f"Sales order line not found: {key}")
            line_order, line = index[key]
            if order is not None and line_order is not order:
                raise _invalid("the lines belong to more than one sales order")
            if line_order.status != "undelivered":
                raise _invalid(f"sales order {line_order.number} is {line_order.status}: only "
                               "undelivered orders can be delivered")
            order = line_order
            if any(planned[0] is line for planned in plan):
                raise _invalid(f"sales order line {key} is given twice")
            amount_element = element.find("deliveryamount")
            amount = _parse_num((amount_element.text or "").strip(), "deliveryamount")
            delivery_date = _parse_date(_text(element, "deliverydate"), "deliverydate")
            place = _text(element, "inventoryplace")
            if place is not None and _key(place, "inventoryplace") not in company.inventory_places:
                raise _invalid(f"inventory place {place} not found")
            remaining = line.quantity - line.delivered
            if line.closed:
                raise _invalid(f"sales order line {key} is closed")
            if amount <= 0:
                raise _invalid(f"sales order line {key}: the delivery amount must be above 0")
            if amount > remaining:
                raise _invalid(f"sales order line {key}: delivery amount {_num(amount)} is more "
                               f"than the {_num(remaining)} still undelivered")
            plan.append((line, amount, delivery_date,
                         amount_element.get("ispostdelivery") == "true"))
        assert order is not None  # the document requires a line
        if order.customer_key != customer_key:
            raise _invalid(f"invoicing customer {customer_key} is not the customer of sales "
                           f"order {order.number}")
        del when  # the invoice date matters only to billanddelivery
        for line, amount, delivery_date, post in plan:
            line.deliveries.append(_LineDelivery(delivery_date, amount, post))
            if not post and line.delivered < line.quantity:
                line.closed = True
            company.products[line.product_key].inventory -= amount
        if all(line.done for line in order.product_lines):
            order.status = "delivered"
        order.changed_at = self.now()
        order.delivery_calls += 1
        return []

    def _warehousereport(self, call: _Call) -> list[Any]:
        params = call.params
        report = params.get("report")
        if report == "salesinventoryevents":
            return self._sales_inventory_events(call)
        if report == "warehouseevents" and self.warehouse_event_report:
            return self._warehouse_event_report(call)
        if report in ("productinventoryamounts", "purchaseorderinventoryevents"):
            raise _invalid(f"report {report} is documented, but not simulated")
        raise _invalid(f"parameter report: unknown report {report!r}")

    def _sales_inventory_events(self, call: _Call) -> list[Any]:
        params = call.params
        if "reference" in params:
            raise _invalid("parameter reference: unknown for report salesinventoryevents")
        kind = params.get("salesentitytype")
        if kind not in ("salesorder", "salesinvoice"):
            raise _invalid("parameter salesentitytype: give salesorder or salesinvoice")
        statuses = (set(_id_list(params["salesentitystatuses"], "salesentitystatuses", 10))
                    if "salesentitystatuses" in params else None)
        if statuses is not None and kind == "salesorder" and not statuses <= set(ORDER_STATUSES):
            raise _invalid("parameter salesentitystatuses: order states are billed, delivered "
                           "and undelivered")
        keys = ({_key(k, "salesentitiesnetvisorkeys") for k in _id_list(
            params["salesentitiesnetvisorkeys"], "salesentitiesnetvisorkeys", 50_000)}
            if "salesentitiesnetvisorkeys" in params else None)
        customers = ({_key(k, "customernetvisorkeys") for k in _id_list(
            params["customernetvisorkeys"], "customernetvisorkeys", 50_000)}
            if "customernetvisorkeys" in params else None)
        page = int(params.get("page", "1")) if params.get("page", "1").isdigit() else 0
        size = (int(params.get("salesentitiesonpage", "50000"))
                if params.get("salesentitiesonpage", "50000").isdigit() else 0)
        if page < 1 or size < 1:
            raise _invalid("parameters page and salesentitiesonpage are numbers from 1")
        chosen = [] if kind == "salesinvoice" else [
            o for o in sorted(call.company.orders.values(), key=lambda o: o.key)
            if (statuses is None or o.status in statuses) and (keys is None or o.key in keys)
            and (customers is None or o.customer_key in customers)]
        pages = max(1, -(-len(chosen) // size))
        report = etree.Element("InventoryReport", Report="SalesInvetoryEvents",  # sic [WR]
                               TimeStamp=_local(self.now()).strftime("%Y-%m-%d %H:%M"))
        entities = _el(report, "SalesEntities", CurrentPage=str(page), PageCount=str(pages),
                       SalesEntitiesOnPage=str(size), SalesEntitiesOnPages=str(len(chosen)))
        for order in chosen[(page - 1) * size: page * size]:
            customer = call.company.customers[order.customer_key]
            entity = _el(entities, "SalesEntity", Type="salesorder")
            _el(entity, "NetvisorKey", order.key)
            _el(entity, "OrderNumber", order.number)
            _el(entity, "OrderState", order.status)
            holder = _el(entity, "Customer")
            _el(holder, "NetvisorKey", customer.key)
            _el(holder, "CustomerName", customer.name)
            lines = _el(entity, "SalesEntityProductLines")
            for line in order.product_lines:
                item = _el(lines, "SalesEntityProductLine")
                _el(item, "NetvisorKey", line.key)
                _el(item, "ProductNetvisorKey", line.product_key)  # (C19) from here on
                _el(item, "ProductCode", line.product_code)
                _el(item, "OrderedAmount", _num(line.quantity))
                _el(item, "DeliveredAmount", _num(line.delivered))
        return [report]

    def _warehouse_event_report(self, call: _Call) -> list[Any]:
        """The undocumented reading of C20."""
        extra = set(call.params) - {"report", "reference"}
        if extra:
            raise _invalid(f"parameter {sorted(extra)[0]}: unknown for report warehouseevents")
        reference = call.params.get("reference")
        report = etree.Element("InventoryReport", Report="WarehouseEvents",
                               TimeStamp=_local(self.now()).strftime("%Y-%m-%d %H:%M"))
        holder = _el(report, "WarehouseEvents")
        for event in call.company.warehouse_events.values():
            if reference is not None and event.reference != reference:
                continue
            item = _el(holder, "WarehouseEvent")
            _el(item, "NetvisorKey", event.key)
            _el(item, "Reference", event.reference)
            _el(item, "Description", event.description or "")
            lines = _el(item, "WarehouseEventLines")
            for line in event.lines:
                row = _el(lines, "WarehouseEventLine")
                _el(row, "EventType", line.event_type)
                _el(row, "ProductNetvisorKey", line.product_key)
                _el(row, "ProductCode", line.product_code)
                _el(row, "Quantity", _num(line.quantity))
                _ansi(row, "ValueDate", line.value_date)
        return [report]

    # --- purchase orders [PO] --------------------------------------------------------------------

    def _purchaseorderlist(self, call: _Call) -> list[Any]:
        params = call.params
        numbers = {name: _key(params[name], f"parameter {name}")
                   for name in ("limitstartordernumber", "limitendordernumber") if name in params}
        dates = {name: _parse_date(params[name], f"parameter {name}")
                 for name in ("limitbegindate", "limitenddate") if name in params}
        times = {name: _parse_query_time(params[name], name)
                 for name in ("lastmodifiedstart", "lastmodifiedend") if name in params}
        status = params.get("limitorderstatus")
        if status is not None and status not in PURCHASE_ORDER_STATUSES:
            raise _invalid(f"parameter limitorderstatus: {status!r} is not one of "
                           f"{', '.join(PURCHASE_ORDER_STATUSES)}")
        search = params.get("searchcomment", "").casefold()
        vendor = params.get("limitvendor")
        chosen = []
        for po in sorted(call.company.purchase_orders.values(), key=lambda p: p.number):
            if (po.number < numbers.get("limitstartordernumber", po.number)
                    or po.number > numbers.get("limitendordernumber", po.number)
                    or po.order_date < dates.get("limitbegindate", po.order_date)
                    or po.order_date > dates.get("limitenddate", po.order_date)
                    or ("lastmodifiedstart" in times
                        and not po.changed_at > times["lastmodifiedstart"])
                    or ("lastmodifiedend" in times
                        and not po.changed_at < times["lastmodifiedend"])
                    or (status is not None and po.status != status)
                    or (search and search not in (po.comment or "").casefold()
                        and search not in (po.private_comment or "").casefold())
                    or (vendor is not None and vendor != po.vendor_name)):
                continue
            chosen.append(po)
        listing = etree.Element("PurchaseOrderList")
        for po in chosen[: self.page_size]:  # (C14)
            item = _el(listing, "PurchaseOrder")
            _el(item, "NetvisorKey", po.key)
            _el(item, "OrderNumber", po.number)
            _el(item, "OrderDate", po.order_date.isoformat(), format="ansi")
            _el(item, "OrderStatus", po.status)
            _el(item, "VendorName", po.vendor_name)
            _el(item, "Amount", _num(self._po_amount(po), 2))
            _el(item, "Uri", f"{call.base}/getpurchaseorder.nv?netvisorkey={po.key}")
        return [listing]

    @staticmethod
    def _po_amount(po: _PurchaseOrder) -> Decimal:
        return sum(((g.ordered * g.unit_price).quantize(_CENT, ROUND_HALF_UP)
                    for g in po.groups), _ZERO)

    def _getpurchaseorder(self, call: _Call) -> list[Any]:
        params = call.params
        selector = _one_of(params, ("netvisorkey", "netvisorkeylist"))
        pos = call.company.purchase_orders
        if selector == "netvisorkey":
            key = _key(params["netvisorkey"], "parameter netvisorkey")
            if key not in pos:
                raise _invalid(f"Purchase order not found: {key}")
            return [self._po_xml(pos[key])]
        keys = [_key(k, "parameter NetvisorKeyList") for k in _id_list(
            params["netvisorkeylist"], "NetvisorKeyList", ID_LIST_LIMITS["getpurchaseorder.nv"])]
        wrapper = etree.Element("PurchaseOrders")
        for key in dict.fromkeys(keys):
            if key in pos:
                wrapper.append(self._po_xml(pos[key]))
        return [wrapper]

    @staticmethod
    def _delivery_status(po: _PurchaseOrder) -> str:
        """``OrderStatus@deliverystatus`` (C23)."""
        if not any(row.delivered for row in po.rows):
            return "undelivered"
        short = over = False
        for group in po.groups:
            delivered = po.delivered(group)
            confirmed = any(r.confirmed for r in po.rows if r.group == group.key)
            if delivered > group.ordered:
                over = True
            elif delivered < group.ordered and not confirmed:
                short = True
        if short:
            return "partiallydelivered"
        return "overdelivered" if over else "fullydelivered"

    def _po_xml(self, po: _PurchaseOrder) -> Any:
        e = etree.Element("PurchaseOrder")
        _el(e, "NetvisorKey", po.key)
        _el(e, "OrderNumber", po.number)
        _el(e, "OrderStatus", po.status, deliverystatus=self._delivery_status(po))
        _el(e, "OrderDate", po.order_date.isoformat())
        _el(e, "VendorName", po.vendor_name)
        _el(e, "VendorAddressLine", po.vendor_address or "")
        _el(e, "VendorPostNumber", po.vendor_post_code or "")
        _el(e, "VendorCity", po.vendor_city or "")
        _el(e, "VendorCountry", po.vendor_country or "", type="ISO-3166")
        _el(e, "DeliveryTerm", po.delivery_term or "")
        _el(e, "DeliveryMethod", po.delivery_method or "")
        _el(e, "DeliveryName", "")
        _el(e, "DeliveryAddressLine", "")
        _el(e, "DeliveryPostNumber", "")
        _el(e, "DeliveryCity", "")
        _el(e, "DeliveryCountry", "", type="ISO-3166")
        _el(e, "PrivateComment", po.private_comment or "")
        _el(e, "Comment", po.comment or "")
        _el(e, "OurReference", po.our_reference or "")
        _el(e, "PaymentTerm", "14 pv netto")
        _el(e, "Amount", _num(self._po_amount(po), 2), currencycode="EUR", type="ISO-4217")
        lines = _el(e, "PurchaseOrderLines")
        for group in po.groups:
            head = _el(lines, "PurchaseOrderProductDeliveryGroup")
            _el(head, "NetvisorKey", group.key)
            _el(head, "ProductCode", group.product_code)
            _el(head, "ProductName", group.product_name)
            _el(head, "VendorProductCode", group.vendor_product_code or "")
            _el(head, "OrderedAmount", _num(group.ordered))
            _el(head, "UnitPrice", _num(group.unit_price, 2))
            _el(head, "VatPercent", _num(group.vat_percent))
            _el(head, "LineSum", _num(group.ordered * group.unit_price, 2))
            _el(head, "FreightRate", _num(group.freight_rate))
            for row in po.rows:
                if row.group != group.key:
                    continue
                item = _el(lines, "PurchaseOrderProductLine")
                _el(item, "NetvisorKey", row.key)
                _el(item, "PurchaseOrderProductDeliveryGroupID", group.key)
                _el(item, "ProductCode", group.product_code)
                _el(item, "ProductName", group.product_name)
                _el(item, "VendorProductCode", group.vendor_product_code or "")
                _el(item, "OrderedAmount", _num(row.ordered))
                _el(item, "DeliveredAmount", _num(row.delivered))
                _el(item, "UnitPrice", _num(group.unit_price, 2))
                _el(item, "VatPercent", _num(group.vat_percent))
                _el(item, "LineSum", _num(row.ordered * group.unit_price, 2))
                _el(item, "FreightRate", _num(group.freight_rate))
                _ansi(item, "DeliveryDate", row.delivery_date)
                _el(item, "LinkedPurchaseInvoiceLines")
        for comment in po.comments:
            item = _el(lines, "PurchaseOrderCommentLine")
            _el(item, "NetvisorKey", comment.key)
            _el(item, "Comment", comment.text)
        return e

    def _purchaseorder(self, call: _Call) -> list[Any]:
        params = call.params
        method = params.get("method", "")
        if method.lower() == "add":
            raise _invalid("method add is documented, but not simulated: the simulated user "
                           "makes purchase orders")
        if method.lower() != "edit":
            raise _invalid(f"parameter method: {method!r} is not add or edit")
        if "id" not in params:
            raise _invalid("parameter id: required with method edit")
        key = _key(params["id"], "parameter id")
        company = call.company
        original = company.purchase_orders.get(key)
        if original is None:
            raise _invalid(f"Purchase order not found: {key}")
        po = copy.deepcopy(original)  # every check passes before anything is kept (C22)
        order = call.body.find("purchaseorder")
        for name in ("ordernumber", "vendoridentifier", "purchaseordervendordetails",
                     "purchaseorderdeliverydetails", "currencycode", "purchaseorderpaymentterm"):
            if order.find(name) is not None:
                raise _invalid(f"purchaseorder/{name}: editing it is not simulated")
        status = _text(order, "orderstatus")
        if status is not None:
            if status not in PURCHASE_ORDER_STATUSES:
                raise _invalid(f"orderstatus: {status!r} is not one of "
                               f"{', '.join(PURCHASE_ORDER_STATUSES)}")
            po.status = status
        if order.find("orderdate") is not None:
            po.order_date = _parse_date(_text(order, "orderdate"), "orderdate")
        for tag, name in (("deliveryterm", "delivery_term"), ("deliverymethod", "delivery_method"),
                          ("privatecomment", "private_comment"), ("comment", "comment"),
                          ("ourreference", "our_reference")):
            value = _text(order, tag)
            if value is not None:
                setattr(po, name, value or None)
        received = False
        lines = order.find("purchaseorderlines")
        for element in _elements(lines) if lines is not None else []:
            if element.tag == "purchaseordercommentline":
                self._po_comment(po, element)
            else:
                received = self._po_line(company, po, element) or received
        for group in po.groups:
            rows = [r for r in po.rows if r.group == group.key]
            total = sum((r.ordered for r in rows), _ZERO)
            if len(rows) == 1 and total != group.ordered:
                group.ordered = total
            elif total != group.ordered:
                raise _invalid(f"Partially delivered product amounts ({_num(total)}) must "
                               "correspond to the original purchase order line's product "
                               f"amount ({_num(group.ordered)})")
        if received and po.status in ("proposal", "archived"):
            raise _invalid(f"purchase order {po.number} is {po.status}: no deliveries")
        for group in po.groups:  # received amounts move stock (C22)
            if group.product_key is None or group.product_key not in company.products:
                continue
            before = next((original.delivered(g) for g in original.groups
                           if g.key == group.key), _ZERO)
            company.products[group.product_key].inventory += po.delivered(group) - before
        po.changed_at = self.now()
        if received:
            po.receipt_writes += 1
        company.purchase_orders[key] = po
        reply = etree.Element("Replies")
        _el(reply, "InsertedDataIdentifier", po.key)
        return [reply]

    def _po_comment(self, po: _PurchaseOrder, element: Any) -> None:
        method = element.get("method")
        text = _text(element, "comment")
        if method == "add":
            if not text:
                raise _invalid("purchaseordercommentline: a new comment line needs a comment")
            po.comments.append(_Comment(text, next(self._ids["po_comment"])))
            return
        raw_key = element.get("netvisorkey")
        if raw_key is None:
            raise _invalid(f"purchaseordercommentline: method {method} needs netvisorkey")
        key = _key(raw_key, "purchaseordercommentline/@netvisorkey")
        comment = next((c for c in po.comments if c.key == key), None)
        if comment is None:
            raise _invalid(f"Purchase order comment line not found: {key}")
        if method == "delete":
            if text:
                raise _invalid("purchaseordercommentline: delete needs an empty comment")
            po.comments.remove(comment)
        else:
            comment.text = text or ""

    def _po_line(self, company: _Company, po: _PurchaseOrder, element: Any) -> bool:
        """One ``purchaseorderproductline``; True when it wrote delivery information."""
        method = element.get("method", "add")
        raw_key = element.get("netvisorkey")
        partial = element.find("purchaseorderproductlinepartialdelivery")
        if method == "add":
            return self._po_add_line(company, po, element)
        if raw_key is None:
            raise _invalid(f"purchaseorderproductline: method {method} needs netvisorkey")
        key = _key(raw_key, "purchaseorderproductline/@netvisorkey")
        row = next((r for r in po.rows if r.key == key), None)
        if row is None:
            raise _invalid(f"Purchase order product line {key} not found in purchase order "
                           f"{po.number}")
        if method == "delete":
            if _elements(element) or (element.text or "").strip():
                raise _invalid("purchaseorderproductline: delete needs an empty element")
            if row.delivered:
                raise _invalid(f"purchase order product line {key} has deliveries")
            po.rows.remove(row)
            if not any(r.group == row.group for r in po.rows):
                po.groups = [g for g in po.groups if g.key != row.group]
            return False
        if method == "edit":
            if partial is not None:
                raise _invalid("purchaseorderproductline: method edit may not include partial "
                               "delivery information")
            return self._po_edit_line(po, row, element)
        if partial is None or len(_elements(element)) != 1:
            raise _invalid(f"purchaseorderproductline: method {method} carries the partial "
                           "delivery only")
        contents = [self._partial(content) for content in
                    partial.iterfind("purchaseorderproductlinepartialdeliverycontent")]
        if method == "partialdeliver":
            if len(contents) < 2:
                raise _invalid("partialdeliver needs at least two partial delivery rows")
            total = sum((c.ordered for c in contents), _ZERO)
            if total != row.ordered:
                raise _invalid(f"the partial delivery rows' ordered amounts ({_num(total)}) must "
                               "correspond to the ordered amount of the product line "
                               f"({_num(row.ordered)})")
            index = po.rows.index(row)
            first, *rest = contents
            first.key, first.group = row.key, row.group
            for content in rest:
                content.key, content.group = next(self._ids["po_row"]), row.group
            po.rows[index:index + 1] = contents
        else:  # addtopartialdeliverygroup
            index = max(i for i, r in enumerate(po.rows) if r.group == row.group)
            for content in contents:
                content.key, content.group = next(self._ids["po_row"]), row.group
            po.rows[index + 1:index + 1] = contents
        return True

    @staticmethod
    def _partial(content: Any) -> _PoRow:
        ordered = _parse_num(_text(content, "orderedamount"), "orderedamount")
        delivered = _parse_num(_text(content, "deliveredamount"), "deliveredamount")
        if ordered < 0 or delivered < 0:
            raise _invalid("partial delivery amounts may not be negative")
        when = _parse_date(_text(content, "deliveryreceiveddate"), "deliveryreceiveddate")
        confirmed = _text(content, "deliverymanuallyconfirmed")
        if confirmed not in (None, "true", "false"):
            raise _invalid("deliverymanuallyconfirmed: give true or false")
        return _PoRow(key=0, group=0, ordered=ordered, delivery_date=when, delivered=delivered,
                      received_date=when if delivered else None, confirmed=confirmed == "true")

    def _po_edit_line(self, po: _PurchaseOrder, row: _PoRow, element: Any) -> bool:
        group = next(g for g in po.groups if g.key == row.group)
        if element.find("productcode") is not None:
            raise _invalid("purchaseorderproductline/productcode: editing it is not simulated")
        for tag in ("unitprice", "vatpercent", "freightrate"):
            value = _text(element, tag)
            if value is not None:
                number = _parse_num(value, tag)
                setattr(group, {"unitprice": "unit_price", "vatpercent": "vat_percent",
                                "freightrate": "freight_rate"}[tag], number)
        if element.find("vendorproductcode") is not None:
            group.vendor_product_code = _text(element, "vendorproductcode") or None
        if element.find("linecomment") is not None:
            group.line_comment = _text(element, "linecomment") or None
        if element.find("orderedamount") is not None:
            amount = _parse_num(_text(element, "orderedamount"), "orderedamount")
            if amount <= 0:
                raise _invalid("orderedamount must be above 0")
            row.ordered = amount
        if element.find("deliverydate") is not None:
            row.delivery_date = _parse_date(_text(element, "deliverydate"), "deliverydate")
        details = element.find("purchaseorderproductlinedeliverydetails")
        if details is None:
            return False
        self._delivery_details(row, details)
        return True

    @staticmethod
    def _delivery_details(row: _PoRow, details: Any) -> None:
        """``purchaseorderproductlinedeliverydetails``: the row's delivered amount, absolute."""
        delivered = _parse_num(_text(details, "deliveredamount"), "deliveredamount")
        if delivered < 0:
            raise _invalid("deliveredamount may not be negative")
        confirmed = _text(details, "deliverymanuallyconfirmed")
        if confirmed not in (None, "true", "false"):
            raise _invalid("deliverymanuallyconfirmed: give true or false")
        row.delivered = delivered
        row.received_date = _parse_date(_text(details, "deliveryreceiveddate"),
                                        "deliveryreceiveddate")
        row.confirmed = confirmed == "true"

    def _po_add_line(self, company: _Company, po: _PurchaseOrder, element: Any) -> bool:
        if element.get("netvisorkey") is not None:
            raise _invalid("purchaseorderproductline: a new line has no netvisorkey")
        if element.find("purchaseorderproductlinepartialdelivery") is not None:
            raise _invalid("purchaseorderproductline: a new line has no partial deliveries")
        for tag in ("productcode", "orderedamount", "vatpercent", "deliverydate"):
            if not _text(element, tag):
                raise _invalid(f"purchaseorderproductline: a new line needs {tag}")
        code_element = element.find("productcode")
        code = _text(element, "productcode") or ""
        kind = code_element.get("type")
        product: _Product | None = None
        if kind == "netvisor":
            product = company.products.get(_key(code, "productcode"))
            if product is None:
                raise _invalid(f"Product not found: {code}")
        elif kind == "customer":
            product = self._find_product(company, code)
            if product is None:
                raise _invalid(f"Product not found: {code}")
        amount = _parse_num(_text(element, "orderedamount"), "orderedamount")
        if amount <= 0:
            raise _invalid("orderedamount must be above 0")
        price = _text(element, "unitprice")
        group, row = self._new_line(
            product, _text(element, "vendorproductcode"), amount,
            _parse_num(price, "unitprice") if price else None,
            _parse_num(_text(element, "vatpercent"), "vatpercent"),
            _parse_date(_text(element, "deliverydate"), "deliverydate"), code)
        po.groups.append(group)
        po.rows.append(row)
        details = element.find("purchaseorderproductlinedeliverydetails")
        if details is None:
            return False
        self._delivery_details(row, details)
        return True

    # --- warehouse events [WE] -------------------------------------------------------------------

    def _warehouseevent(self, call: _Call) -> list[Any]:
        company = call.company
        event = call.body.find("warehouseevent")
        reference = _text(event, "reference") or ""
        if len(reference) > REFERENCE_MAX:
            raise _invalid(f"reference: at most {REFERENCE_MAX} characters")
        method = _text(event, "deliverymethod")
        if method and method not in company.delivery_methods:
            raise _invalid(f"delivery method {method!r} not found")
        lines: list[_WarehouseEventLine] = []
        for element in event.iterfind("warehouseeventlines/warehouseeventline"):
            event_type = _text(element, "eventtype") or ""
            if event_type not in company.event_types:
                raise _invalid(f"warehouse event type {event_type!r} not found")
            product_element = element.find("product")
            code = _text(element, "product") or ""
            if product_element.get("type", "netvisor") == "netvisor":
                product = company.products.get(_key(code, "product"))
            else:
                product = self._find_product(company, code)
            if product is None or product.deleted:
                raise _invalid(f"Product not found: {code}")
            if not product.stockable:
                raise _invalid(f"product {product.code} keeps no inventory")
            place_element = element.find("inventoryplace")
            place = 1
            if place_element is not None:
                name = _text(element, "inventoryplace") or ""
                if place_element.get("type") == "netvisor":
                    place = _key(name, "inventoryplace")
                    if place not in company.inventory_places:
                        raise _invalid(f"inventory place {name} not found")
                else:
                    found = [k for k, v in company.inventory_places.items() if v == name]
                    if not found:
                        raise _invalid(f"inventory place {name!r} not found")
                    place = found[0]
            quantity = _parse_num(_text(element, "quantity"), "quantity")
            if quantity == 0:
                raise _invalid("quantity: a warehouse event of 0 changes nothing")
            status = _text(element, "status") or ""
            if status not in WAREHOUSE_EVENT_STATUSES:
                raise _invalid(f"status: {status!r} is not one of "
                               f"{', '.join(WAREHOUSE_EVENT_STATUSES)}")
            lines.append(_WarehouseEventLine(
                event_type=event_type, product_key=product.key, product_code=product.code,
                place=place, description=_text(element, "description") or None,
                quantity=quantity, unit_price=_parse_num(_text(element, "unitprice"),
                                                         "unitprice"),
                value_date=_parse_date(_text(element, "valuedate"), "valuedate"),
                status=status))
        key = next(self._ids["event"])
        company.warehouse_events[key] = _WarehouseEvent(
            key=key, reference=reference, description=_text(event, "description") or None,
            delivery_method=method or None, distributer=_text(event, "distributer") or None,
            lines=lines, created_at=self.now())
        for line in lines:
            company.products[line.product_key].inventory += line.quantity
        reply = etree.Element("Replies")
        _el(reply, "InsertedDataIdentifier", key)
        return [reply]


@dataclass(frozen=True)
class _Resource:
    method: str
    handler: Callable[[NetvisorSandbox, _Call], list[Any]]
    allowed: tuple[str, ...] = ()
    unsimulated: tuple[str, ...] = ()
    body: _Spec | None = None


_RESOURCES: dict[str, _Resource] = {
    "productlist.nv": _Resource("GET", NetvisorSandbox._productlist, (
        "changedsince", "keyword", "published", "unpublished", "deleted")),
    "getproduct.nv": _Resource("GET", NetvisorSandbox._getproduct, (
        "id", "idlist", "eancode", "code", "codelist", "showsubproducts", "replyoption")),
    "salesinvoicelist.nv": _Resource("GET", NetvisorSandbox._salesinvoicelist, (
        "listtype", "invoicesabovenetvisorkey", "begininvoicedate", "endinvoicedate",
        "invoicenumber", "invoicestatus", "lastmodifiedstart", "lastmodifiedend",
        "customercode", "customernetvisorkey"), (
        "salesinvoicebatchid", "secondname", "secondnamenetvisorkey",
        "invoicingcustomercontrycode", "replyoption", "includemodifiedpayments")),
    "getorder.nv": _Resource("GET", NetvisorSandbox._getorder, (
        "netvisorkey", "netvisorkeylist", "pdfimage", "showprocesshistory",
        "includeattachments", "showcommentlines", "includedocuments"), ("replyoption",)),
    "getcustomer.nv": _Resource("GET", NetvisorSandbox._getcustomer, ("id", "idlist"),
                                ("replyoption",)),
    "salesorderinvoicing.nv": _Resource("POST", NetvisorSandbox._salesorderinvoicing, (
        "method", "copysublines", "updatemidprice"), body=_SALESORDERINVOICING),
    "warehousereport.nv": _Resource("GET", NetvisorSandbox._warehousereport, (
        "report", "page", "salesentitiesonpage", "salesentitytype", "salesentitystatuses",
        "salesentitiesnetvisorkeys", "customernetvisorkeys", "reference")),
    "purchaseorderlist.nv": _Resource("GET", NetvisorSandbox._purchaseorderlist, (
        "limitstartordernumber", "limitendordernumber", "limitbegindate", "limitenddate",
        "limitorderstatus", "searchcomment", "limitvendor", "lastmodifiedstart",
        "lastmodifiedend")),
    "getpurchaseorder.nv": _Resource("GET", NetvisorSandbox._getpurchaseorder, (
        "netvisorkey", "netvisorkeylist")),
    "purchaseorder.nv": _Resource("POST", NetvisorSandbox._purchaseorder, ("method", "id"),
                                  body=_PURCHASEORDER),
    "warehouseevent.nv": _Resource("POST", NetvisorSandbox._warehouseevent,
                                   body=_WAREHOUSEEVENT),
}
"""The served resources: HTTP method, handler, parameters, request document (C10, C11)."""

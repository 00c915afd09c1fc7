"""Netvisor's XML API as the plugin uses it: authentication, envelope, resources, errors.

Returns vendor-shaped data (lxml elements and the small records of
:mod:`erpsync_netvisor.mapping`); the mapping turns them into canonical records.

- **Hosts**: production ``https://isvapi.netvisor.fi``, the test environment
  ``https://isvapitest.netvisor.fi``; resources are paths such as ``/productlist.nv``
  (https://support.netvisor.fi/en/support/solutions/articles/77000557880-api-authentication).
- **Authentication** on every request, every attempt (:class:`NetvisorAuth`): the headers
  listed at https://support.netvisor.fi/en/support/solutions/articles/77000577954-security-and-
  authentication, a new ``X-Netvisor-Authentication-TransactionId`` and ``-Timestamp`` per
  attempt ("If a request with the same transaction identifier has been sent to the interface
  previously, the interface will return an error") and the MAC of :func:`mac` with
  ``X-Netvisor-Authentication-MACHashCalculationAlgorithm: SHA256``.
- **One call at a time**: "Send one message at a time and wait for a response before sending
  the next message. Overlapping messages to the same customer environment cause different
  errors. We recommend that the timeout for messages is at least 120 000 ms"
  (https://support.netvisor.fi/en/support/solutions/articles/77000500440-controlling-errors):
  ``RateLimit(concurrency=1)``, shared by every goods owner on the same Netvisor company
  (keyed by the organisation id), and a 120 s timeout. No request rate is published; the pace
  is a setting.
- **XML both ways**: requests are written with lxml and encoded in ISO-8859-15 without an XML
  declaration ("the message has to be encoded in ISO/IEC 8859-15, but xml declaration does not
  need to be given ... the material should always start with <root>", elements in DTD order:
  https://support.netvisor.fi/en/articles/766841-resources-general). Answers are read with
  :func:`erpsync.http.parse_xml` (no DTD, no entities, no network); an answer without an XML
  declaration that is not UTF-8 is read in its declared charset, else as ISO-8859-15.
- **Query strings** are written here (``:`` and ``,`` left as they are, everything else
  percent-encoded), so the URL in the MAC is exactly the URL sent.

The envelope is read on every answer: ``ResponseStatus/Status`` is ``OK``, or ``FAILED``
followed by ``CODE :: text`` (controlling-errors page above). Kinds (:func:`failure`):

- ``AUTHENTICATION_FAILED``: :class:`~erpsync.errors.AuthenticationLost`. Seed 004: API
  identifiers belong to the Netvisor user who made them; when that user leaves the company the
  integration stops, and another user must create new identifiers.
- ``SERVICE_ACCESS_ERROR`` ("The company has blocked access to the api resource: X"):
  :class:`~erpsync.errors.AuthenticationLost`, naming the resource and the page where it is
  allowed. It is a right of the connection, not a fault of one record: every record of the
  flow would be refused alike, and retrying cannot help until a person allows the resource, so
  the goods owner stops with that instruction instead of filling the dead letters.
- ``INVALID_DATA``, ``INVALID_DATA_SIZE``, ``DUPLICATE_DATA``, ``PERIOD_LOCK`` on a write:
  :class:`~erpsync.errors.RecordRejected` with Netvisor's text and the business key; on a read
  (this plugin's request is wrong): :class:`~erpsync.errors.VendorError`.
- ``REQUEST_NOT_UNIQUE``, ``SYSTEM_MAINTANANCE`` (sic) / ``SYSTEM_MAINTENANCE``,
  ``TECHNICAL_ERROR``, HTTP 5xx and timeouts: :class:`~erpsync.errors.TransientError`.
- anything else: :class:`~erpsync.errors.VendorError` naming the call.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from erpsync.errors import (
    AuthenticationLost,
    RecordRejected,
    ResponseInvalid,
    TransientError,
    VendorError,
)
from erpsync.http import HttpClient, RateLimit, iter_xml, parse_xml

from . import mapping
from .mapping import CustomerCard, Element, ListedProduct, OrderState

__all__ = [
    "PRODUCTION_URL",
    "REQUEST_ENCODING",
    "RESOURCES",
    "TEST_URL",
    "VENDOR",
    "Credentials",
    "NetvisorAuth",
    "NetvisorClient",
    "encode",
    "failure",
    "mac",
    "netvisor_time",
    "timestamp",
]

VENDOR = "netvisor"
PRODUCTION_URL = "https://isvapi.netvisor.fi"
TEST_URL = "https://isvapitest.netvisor.fi"
REQUEST_ENCODING = "ISO-8859-15"
MAC_ALGORITHM = "SHA256"

RESOURCES = {
    "productlist.nv": "https://support.netvisor.fi/en/support/solutions/articles/77000554240",
    "getproduct.nv": "https://support.netvisor.fi/en/support/solutions/articles/77000554241",
    "salesinvoicelist.nv": "https://support.netvisor.fi/en/support/solutions/articles/77000554148",
    "getorder.nv": "https://support.netvisor.fi/fi/support/solutions/articles/77000554151",
    "getcustomer.nv": "https://support.netvisor.fi/en/articles/766863",
    "warehousereport.nv": "https://support.netvisor.fi/en/support/solutions/articles/77000554249",
    "salesorderinvoicing.nv": (
        "https://support.netvisor.fi/en/support/solutions/articles/77000554163"),
    "purchaseorderlist.nv": "seed 003",
    "getpurchaseorder.nv": "https://support.netvisor.fi/en/support/solutions/articles/77000554227",
    "purchaseorder.nv": "https://support.netvisor.fi/fi/support/solutions/articles/77000554228",
    "warehouseevent.nv": "https://support.netvisor.fi/en/articles/766879",
}
"""The resources this plugin uses and where each is documented: the list of interface
resources to allow in Netvisor (company menu => Rights of interface resources)."""

PRODUCT_ID_LIST_MAX = 400
"""getproduct.nv ``idlist``: "max. 400 IDs"."""
PRODUCT_LIST_MAX_BYTES = 256_000_000
"""The body cap of a productlist.nv answer. It is not paged: the whole catalogue comes in one
answer, about 350 bytes a product (the simulator's answers), so 100,000 products are ~35 MB,
beyond the client's usual cap; this one leaves room for some 700,000 products."""
ORDER_KEY_LIST_MAX = 500
"""getorder.nv (as getsalesinvoice.nv) ``netvisorkeylist``: max. 500 identifiers."""
CUSTOMER_ID_LIST_MAX = 500
"""getcustomer.nv ``idlist``: "max. 500 IDs"."""
PURCHASE_ORDER_KEY_LIST_MAX = 500
"""getpurchaseorder.nv ``NetvisorKeyList``: "Max. 500 identifiers" (seed 003)."""

RENEW_IDENTIFIERS = (
    "a current Netvisor user of the company creates new API identifiers (company menu => API "
    "identifiers => Create new API identifier) and the new user ID and key are set as "
    "customer_id and private_key in the config; check partner_id and partner_key too"
)
ALLOW_RESOURCE = (
    "a user administrator allows the resource for this integration in Netvisor: company menu "
    "=> Rights of interface resources (Custom integrations or Ready integrations), then run again"
)

_FAILED = "FAILED"
_OK = "OK"
_REJECTED = frozenset({"INVALID_DATA", "INVALID_DATA_SIZE", "DUPLICATE_DATA", "PERIOD_LOCK"})
_TRANSIENT = frozenset({"REQUEST_NOT_UNIQUE", "SYSTEM_MAINTANANCE", "SYSTEM_MAINTENANCE",
                        "TECHNICAL_ERROR"})
_BLOCKED_RESOURCE = re.compile(r"api resource:?\s*([A-Za-z0-9_.]+)", re.IGNORECASE)
_MESSAGE_CHARS = 500
_QUERY_SAFE = ":,"


# --- authentication ------------------------------------------------------------------------


def mac(
    url: str,
    sender: str,
    customer_id: str,
    timestamp: str,
    language: str,
    organisation_id: str,
    transaction_id: str,
    customer_key: str,
    partner_key: str,
) -> str:
    """The ``X-Netvisor-Authentication-MAC`` of one request: SHA-256, lower-case hex.

    The MAC "is calculated using all the information listed" with the request: the request's
    URL (with its query string, as sent), then the values of the headers
    ``X-Netvisor-Authentication-Sender``, ``-CustomerId``, ``-Timestamp``,
    ``X-Netvisor-Interface-Language``, ``X-Netvisor-Organisation-ID``,
    ``X-Netvisor-Authentication-TransactionId``, and last the two secrets the headers never
    carry, the user's key (``private_key``) and the partner's key: the nine values in that
    order, joined with ``&``, UTF-8, hashed with SHA256
    (https://support.netvisor.fi/en/support/solutions/articles/77000577954-security-and-
    authentication: "The headers of requests sent to the API do not include the unique keys of
    the software partner or user, however, these are necessary for the SHA256 calculation";
    the order is that of the vendor's example at .../77000557880-api-authentication).
    """
    message = "&".join([url, sender, customer_id, timestamp, language, organisation_id,
                        transaction_id, customer_key, partner_key])
    return hashlib.sha256(message.encode("utf-8")).hexdigest()


def timestamp(now: datetime | None = None) -> str:
    """``X-Netvisor-Authentication-Timestamp``: the time in UTC, ANSI, with milliseconds
    (``2024-03-05 08:15:02.123``)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@dataclass(frozen=True)
class Credentials:
    """What the headers and the MAC are made of. The keys are never shown."""

    sender: str
    customer_id: str
    partner_id: str
    organisation_id: str
    language: str
    customer_key: str = field(repr=False)
    partner_key: str = field(repr=False)


class NetvisorAuth(httpx.Auth):
    """Sets Netvisor's headers on every attempt (the HTTP client calls it per attempt, retries
    included): a new transaction id and timestamp each time, and the MAC over them."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        clock: Callable[[], datetime] | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._credentials = credentials
        self._clock = clock or (lambda: datetime.now(UTC))
        self._new_id = new_id or (lambda: uuid.uuid4().hex)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        c = self._credentials
        stamp = timestamp(self._clock())
        transaction_id = self._new_id()
        request.headers["X-Netvisor-Authentication-Sender"] = c.sender
        request.headers["X-Netvisor-Authentication-CustomerId"] = c.customer_id
        request.headers["X-Netvisor-Authentication-PartnerId"] = c.partner_id
        request.headers["X-Netvisor-Authentication-Timestamp"] = stamp
        request.headers["X-Netvisor-Authentication-TransactionId"] = transaction_id
        request.headers["X-Netvisor-Interface-Language"] = c.language
        request.headers["X-Netvisor-Organisation-ID"] = c.organisation_id
        request.headers["X-Netvisor-Authentication-MAC"] = mac(
            str(request.url), c.sender, c.customer_id, stamp, c.language, c.organisation_id,
            transaction_id, c.customer_key, c.partner_key,
        )
        request.headers["X-Netvisor-Authentication-MACHashCalculationAlgorithm"] = MAC_ALGORITHM
        yield request


# --- values in requests --------------------------------------------------------------------


def netvisor_time(since: datetime, zone: ZoneInfo) -> str:
    """A change-time filter value (``yyyy-MM-ddTHH:mm:ss``, Netvisor's local time).

    Netvisor's filters return changes "after" the time given; ``since`` means at or after, so
    the value is one second earlier (a record or two too many costs nothing; one too few is
    lost).
    """
    moment = (since - timedelta(seconds=1)).astimezone(zone).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def encode(document: Element) -> bytes:
    """An XML request body: ISO-8859-15, no XML declaration, starting with ``<root>``
    (characters outside ISO-8859-15 become character references)."""
    body: bytes = etree.tostring(document, encoding=REQUEST_ENCODING, xml_declaration=False)
    return body


def _path(resource: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return f"/{resource}"
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe=_QUERY_SAFE)}"
                     for name, value in params.items())
    return f"/{resource}?{query}"


# --- answers -------------------------------------------------------------------------------


def failure(
    status_text: str,
    *,
    resource: str,
    action: str,
    key: str | None = None,
    write: bool = False,
    http_status: int | None = None,
) -> Exception:
    """The error for a ``FAILED`` envelope whose second ``Status`` is ``status_text``."""
    code, _, text = status_text.partition("::")
    code, text = code.strip().upper(), text.strip() or status_text.strip()
    vendor_message = status_text.strip()[:_MESSAGE_CHARS]
    where = f"{VENDOR} {resource}"
    if code == "AUTHENTICATION_FAILED":
        return AuthenticationLost(
            f"{where}: Netvisor refused the API identifiers ({vendor_message}). API identifiers "
            "belong to the Netvisor user who created them: if that user has left the company "
            "or lost access to it, the integration stops working until new identifiers are "
            "made (the machine's clock must also be right: every request is time-stamped)",
            action=RENEW_IDENTIFIERS, vendor_message=vendor_message, status=http_status,
        )
    if code == "SERVICE_ACCESS_ERROR":
        match = _BLOCKED_RESOURCE.search(text)
        blocked = match.group(1) if match else resource
        return AuthenticationLost(
            f"{where}: the company has blocked this integration's access to the interface "
            f"resource {blocked} ({vendor_message})",
            action=f"allow {blocked}: {ALLOW_RESOURCE}",
            vendor_message=vendor_message, status=http_status,
        )
    if code in _TRANSIENT:
        return TransientError(f"{where}: {action}: {vendor_message}", maybe_sent=False,
                              vendor_message=vendor_message, status=http_status)
    if code in _REJECTED and write:
        return RecordRejected(f"{where}: Netvisor refused {key or 'the record'} ({action}): "
                              f"{vendor_message}", key=key, vendor_message=vendor_message,
                              status=http_status)
    return VendorError(f"{where}: {action} failed: {vendor_message}",
                       vendor_message=vendor_message, status=http_status)


def _readable(response: httpx.Response) -> httpx.Response:
    """The response as :func:`parse_xml` can read it: a body without an XML declaration that is
    not UTF-8 is re-encoded from its charset (else ISO-8859-15, the API's encoding)."""
    body = response.content
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
        return response
    charset = response.charset_encoding
    try:
        if charset is None or charset.lower().replace("_", "-") in ("utf-8", "utf8"):
            body.decode("utf-8")
            return response
        decoded = body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        decoded = body.decode(REQUEST_ENCODING, errors="replace")
    readable = httpx.Response(response.status_code, content=decoded.encode("utf-8"),
                              request=response.request)
    readable.extensions.update(response.extensions)
    return readable


def read(
    response: httpx.Response,
    *,
    resource: str,
    action: str,
    key: str | None = None,
    write: bool = False,
) -> Element:
    """The root of an ``OK`` answer; any other answer raised as its error kind."""
    status = response.status_code
    if status >= 500:
        raise TransientError(
            f"{VENDOR} {resource}: {action}: HTTP {status}", maybe_sent=write,
            vendor_message=response.text[:_MESSAGE_CHARS] or None, status=status)
    try:
        root = parse_xml(_readable(response))
    except ResponseInvalid:
        if status in (401, 403):
            raise failure("AUTHENTICATION_FAILED :: HTTP " + str(status), resource=resource,
                          action=action, http_status=status) from None
        raise
    statuses = [(el.text or "").strip() for el in root.findall("ResponseStatus/Status")]
    if statuses and statuses[0].upper() == _OK:
        return root
    if statuses and statuses[0].upper() == _FAILED:
        detail = " ".join(part for part in statuses[1:] if part) or _FAILED
        raise failure(detail, resource=resource, action=action, key=key, write=write,
                      http_status=status)
    if status in (401, 403):
        raise failure(f"AUTHENTICATION_FAILED :: HTTP {status}", resource=resource,
                      action=action, http_status=status)
    raise ResponseInvalid(
        f"{VENDOR} {resource}: {action}: the answer has no ResponseStatus OK or FAILED "
        f"(HTTP {status})", maybe_sent=write, status=status)


def read_list(response: httpx.Response, tag: str, *, resource: str, action: str
              ) -> Iterator[Element]:
    """The ``tag`` elements of an ``OK`` answer one at a time (:func:`erpsync.http.iter_xml`:
    a long list is never held parsed whole); any other answer raised as :func:`read` raises it.

    Netvisor's answers begin with their ``ResponseStatus``, so it is read before the list."""
    if response.status_code < 500:
        readable = _readable(response)
        elements = iter_xml(readable, ("ResponseStatus", tag))
        try:
            first = next(elements, None)
        except ResponseInvalid:
            first = None  # read() below says what is wrong with the body
        if first is not None and first.tag == "ResponseStatus" and [
                (el.text or "").strip().upper() for el in first.findall("Status")][:1] == [_OK]:
            yield from elements
            return
    # An error answer raises here; an OK one that does not begin with its status is read whole.
    yield from read(response, resource=resource, action=action).iter(tag)


# --- the client ----------------------------------------------------------------------------


class NetvisorClient:
    """One connection to one Netvisor company (one per goods owner and cycle)."""

    def __init__(
        self,
        base_url: str,
        auth: NetvisorAuth,
        *,
        zone: ZoneInfo,
        rate_limit: RateLimit,
        timeout: float = 120.0,
        product_batch: int = PRODUCT_ID_LIST_MAX,
        order_batch: int = ORDER_KEY_LIST_MAX,
        purchase_order_batch: int = PURCHASE_ORDER_KEY_LIST_MAX,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.zone = zone
        self._product_batch = product_batch
        self._order_batch = order_batch
        self._purchase_order_batch = purchase_order_batch
        self._http = HttpClient(base_url, vendor=VENDOR, auth=auth, timeout=timeout,
                                rate_limit=rate_limit, transport=transport)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._http.aclose()

    async def get(self, resource: str, params: Mapping[str, str] | None = None, *,
                  action: str) -> Element:
        """GET ``resource`` and return the root of its ``OK`` answer."""
        response = await self._http.get(_path(resource, params))
        return read(response, resource=resource, action=action)

    async def post(self, resource: str, params: Mapping[str, str], document: Element, *,
                   action: str, key: str) -> Element:
        """POST ``document`` to ``resource`` (ISO-8859-15) and return its ``OK`` answer."""
        response = await self._http.post(
            _path(resource, params), content=encode(document),
            headers={"Content-Type": f"text/xml; charset={REQUEST_ENCODING}"},
        )
        return read(response, resource=resource, action=action, key=key, write=True)

    # --- reads --------------------------------------------------------------------------

    async def ping(self) -> None:
        """One cheap read: the products changed from now on (normally none)."""
        await self.get("productlist.nv", {"changedsince": netvisor_time(datetime.now(UTC),
                                                                        self.zone)},
                       action="read the product list")

    async def product_list(self, since: datetime | None) -> list[ListedProduct]:
        """Published, not deleted products changed at or after ``since`` (productlist.nv)."""
        params = {"published": "1", "unpublished": "0", "deleted": "0"}
        if since is not None:
            params["changedsince"] = netvisor_time(since, self.zone)
        response = await self._http.get(_path("productlist.nv", params),
                                        max_body_bytes=PRODUCT_LIST_MAX_BYTES)
        elements = read_list(response, "Product", resource="productlist.nv",
                             action="read the product list")
        return list(mapping.listed_products(elements))

    async def products(self, keys: Sequence[str], *, published_only: bool = True
                       ) -> list[Element]:
        """getproduct.nv in ``idlist`` batches, with sub products; ``replyoption=3``: "only
        active published products" (1: only active ones, for structure components)."""
        found: list[Element] = []
        for batch in mapping.batches(keys, self._product_batch):
            root = await self.get("getproduct.nv", {
                "idlist": ",".join(batch), "showsubproducts": "1",
                "replyoption": "3" if published_only else "1",
            }, action="read products")
            found += mapping.product_elements(root)
        return found

    async def order_keys(self, since: datetime | None) -> list[str]:
        """Undelivered orders (not invoices) changed at or after ``since``: salesinvoicelist.nv
        with ``listtype=preinvoice``, ``invoicestatus=undelivered`` and ``lastmodifiedstart``,
        paged by ``invoicesabovenetvisorkey`` until a page adds nothing."""
        params = {"listtype": "preinvoice", "invoicestatus": "undelivered"}
        if since is not None:
            params["lastmodifiedstart"] = netvisor_time(since, self.zone)
        return await self._keys_above("salesinvoicelist.nv", params, "invoicesabovenetvisorkey",
                                      "read the order list")

    async def _keys_above(self, resource: str, params: dict[str, str], above: str,
                          action: str) -> list[str]:
        keys: list[str] = []
        seen: set[str] = set()
        while True:
            root = await self.get(resource, params, action=action)
            page = [key for key in (mapping.text(item, "NetvisorKey")
                                    for item in root.iter("SalesInvoice")) if key]
            new = [key for key in page if key not in seen]
            if not new:
                return keys
            seen.update(new)
            keys += new
            numeric = [int(key) for key in new if key.isdigit()]
            if not numeric:
                return keys
            params = {**params, above: str(max(numeric))}

    async def orders(self, keys: Sequence[str]) -> list[Element]:
        """getorder.nv in ``netvisorkeylist`` batches, with the comment lines."""
        found: list[Element] = []
        for batch in mapping.batches(keys, self._order_batch):
            root = await self.get("getorder.nv", {
                "netvisorkeylist": ",".join(batch), "showcommentlines": "1",
                "pdfimage": "nopdf",
            }, action="read orders")
            found += mapping.order_elements(root)
        return found

    async def customer_cards(self, keys: Sequence[str]) -> dict[str, CustomerCard]:
        """The customers' cards (getcustomer.nv in ``idlist`` batches)."""
        cards: dict[str, CustomerCard] = {}
        for batch in mapping.batches(mapping.unique(keys), CUSTOMER_ID_LIST_MAX):
            root = await self.get("getcustomer.nv", {"idlist": ",".join(batch)},
                                  action="read customers")
            cards.update(mapping.customer_cards(root))
        return cards

    async def purchase_order_keys(self, since: datetime | None) -> list[str]:
        """Purchase orders sent to the vendor and changed at or after ``since``
        (purchaseorderlist.nv: ``limitorderstatus=senttovendor``, ``lastmodifiedstart``),
        paged by ``limitstartordernumber`` until a page adds nothing."""
        params = {"limitorderstatus": "senttovendor"}
        if since is not None:
            params["lastmodifiedstart"] = netvisor_time(since, self.zone)
        keys: list[str] = []
        seen: set[str] = set()
        while True:
            root = await self.get("purchaseorderlist.nv", params,
                                  action="read the purchase order list")
            new: list[str] = []
            numbers: list[int] = []
            for item in root.iter("PurchaseOrder"):
                key = mapping.text(item, "NetvisorKey")
                status = mapping.text(item, "OrderStatus")
                number = mapping.text(item, "OrderNumber") or ""
                if number.isdigit():
                    numbers.append(int(number))
                if key and key not in seen and (status is None or status == "senttovendor"):
                    new.append(key)
                    seen.add(key)
            keys += new
            if not new or not numbers:
                return keys
            params = {**params, "limitstartordernumber": str(max(numbers) + 1)}

    async def purchase_orders(self, keys: Sequence[str]) -> list[Element]:
        """getpurchaseorder.nv in ``NetvisorKeyList`` batches."""
        found: list[Element] = []
        for batch in mapping.batches(keys, self._purchase_order_batch):
            root = await self.get("getpurchaseorder.nv", {"NetvisorKeyList": ",".join(batch)},
                                  action="read purchase orders")
            found += mapping.purchase_order_elements(root)
        return found

    # --- write-back: deliveries -----------------------------------------------------------

    async def find_order_key(self, number: str) -> str | None:
        """The Netvisor key of the order numbered ``number`` (salesinvoicelist.nv
        ``invoicenumber``), or None."""
        root = await self.get("salesinvoicelist.nv", {"listtype": "preinvoice",
                                                      "invoicenumber": number},
                              action=f"find order {number}")
        for item in root.iter("SalesInvoice"):
            if mapping.text(item, "InvoiceNumber") in (number, None):
                return mapping.text(item, "NetvisorKey")
        return None

    async def order_state(self, order_key: str) -> OrderState | None:
        """The order's lines and delivered quantities, undelivered or delivered
        (warehousereport.nv ``report=salesinventoryevents``, ``salesentitytype=salesorder``)."""
        root = await self.get("warehousereport.nv", {
            "report": "salesinventoryevents", "salesentitytype": "salesorder",
            "salesentitystatuses": "undelivered,delivered",
            "salesentitiesnetvisorkeys": order_key,
        }, action=f"read the deliveries of order {order_key}")
        return mapping.order_state(root, order_key)

    async def deliver(self, document: Element, *, key: str) -> None:
        """Record delivered amounts on an order, without invoicing it
        (salesorderinvoicing.nv ``method=deliveryonly``)."""
        await self.post("salesorderinvoicing.nv", {"method": "deliveryonly"}, document,
                        action="record the delivery", key=key)

    # --- write-back: receipts -------------------------------------------------------------

    async def find_purchase_order_key(self, number: str) -> str | None:
        """The key of the purchase order numbered ``number``, or None."""
        root = await self.get("purchaseorderlist.nv", {"limitstartordernumber": number,
                                                       "limitendordernumber": number},
                              action=f"find purchase order {number}")
        for item in root.iter("PurchaseOrder"):
            if mapping.text(item, "OrderNumber") == number:
                return mapping.text(item, "NetvisorKey")
        return None

    async def purchase_order(self, key: str) -> Element | None:
        """One purchase order in detail (getpurchaseorder.nv ``netvisorkey``), or None."""
        root = await self.get("getpurchaseorder.nv", {"netvisorkey": key},
                              action=f"read purchase order {key}")
        found = mapping.purchase_order_elements(root)
        return found[0] if found else None

    async def edit_purchase_order(self, key: str, document: Element, *, number: str) -> None:
        """purchaseorder.nv ``method=edit&id=``."""
        await self.post("purchaseorder.nv", {"method": "edit", "id": key}, document,
                        action="record the receipt", key=number)

    # --- write-back: inventory adjustments ------------------------------------------------

    async def add_warehouse_event(self, document: Element, *, key: str) -> str | None:
        """warehouseevent.nv; the new event's key (``Replies/InsertedDataIdentifier``) if
        given."""
        root = await self.post("warehouseevent.nv", {}, document,
                               action="record the stock transaction", key=key)
        return mapping.text(root, "Replies/InsertedDataIdentifier")

    async def find_warehouse_event(self, reference: str) -> str | None:
        """The warehouse event whose reference is ``reference``, or None when there is none.

        The public reference pages document no read of warehouse events (warehouseevent.nv is
        import only; warehousereport.nv documents ``salesinventoryevents`` and
        ``purchaseorderinventoryevents``). This is our reading, in the documented report's
        pattern: ``warehousereport.nv?report=warehouseevents&reference=`` answering
        ``WarehouseEvent`` elements with ``NetvisorKey`` and ``Reference``. Where Netvisor
        refuses it, the error says that the stock transaction must be checked by hand.
        """
        try:
            root = await self.get("warehousereport.nv", {"report": "warehouseevents",
                                                         "reference": reference},
                                  action=f"look up stock transaction {reference}")
        except AuthenticationLost:
            raise
        except ResponseInvalid as error:
            raise _unverifiable(reference, error) from error
        except TransientError:
            raise
        except VendorError as error:
            raise _unverifiable(reference, error) from error
        found = mapping.warehouse_event_keys(root, reference)
        return found[0] if found else None


def _unverifiable(reference: str, error: VendorError) -> VendorError:
    return VendorError(
        f"{VENDOR}: cannot tell whether the stock transaction with reference {reference} "
        f"reached Netvisor ({error.message}); check Products => Stock transactions in Netvisor "
        "for that reference before anything is sent again",
        vendor_message=error.vendor_message, status=error.status,
    )

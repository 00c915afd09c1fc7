"""A faithful local simulator of the PowerOffice Go API v2, the part erpsync's integration uses.

:class:`PowerOfficeSandbox` is a starlette ASGI app (:attr:`PowerOfficeSandbox.app`) that answers
as ``https://goapi.poweroffice.net`` does: the token endpoint and the v2 API of both
environments, production (``/OAuth/Token``, ``/v2/...``) and demo (``/Demo/OAuth/Token``,
``/Demo/v2/...``), behind the Azure API Management gateway that checks the subscription key and
throttles. Around it a control surface in plain Python plays the Go user (product groups,
products, customers, sending invoices and credit notes, reversing, registering payments, the
clock, keys, privileges, faults) and reads back what a client wrote (stock on hand, patches).
It also implements :class:`erpsync.conformance.ErpSandbox`::

    sandbox = PowerOfficeSandbox()
    sandbox.add_product("KAFFE-1", "Kaffe 250 g", unit_price=Decimal("59.90"), stock_item=True)
    with erpsync.http.mount(sandbox.base_url, sandbox.app):
        ...                                        # the plugin talks to the simulator
    sandbox.stock_on_hand("KAFFE-1")               # Decimal("12")

Nothing here imports the plugin.

Sources (public; each rule in the code cites its source by the tag in brackets)
-------------------------------------------------------------------------------

- [AUTH] https://developer.poweroffice.net/documentation/authentication (mirror:
  https://developer-betatest.poweroffice.net/documentation/authentication): OAuth 2.0 Client
  Credentials Grant (RFC 6749 section 4.4); "the application key is provided as the client key
  value, and the client key must be provided as the client secret"; "different URLs for the
  demo and production environment, and ... it is not possible to mix access tokens between the
  two environments. Subscription-, Application- and Client-Key all need to be from the same
  environment when requesting access token"; each Go client has its own client key.
- [POSTMAN] https://developer-betatest.poweroffice.net/resources/postman: demo token URL
  ``https://goapi.poweroffice.net/Demo/OAuth/Token``, demo v2 base ``https://goapi.poweroffice.net/
  Demo/v2``; the access token "Will expire after 10 minutes in v1 and 20 minutes in v2"; the
  subscription key is "Unique key representing the product subscription".
- [V1V2] https://developer.poweroffice.net/documentation/from-v1-to-v2: "all api calls made
  towards the v2 endpoints must include the product subscription key"; demo and production
  are separated, "everything else (url's, keys) are separated for demo and production".
- [REQ] https://developer.poweroffice.net/documentation/requests (mirror
  https://proddemo-go-apim-apiv2-eurw.developer.azure-api.net/documentation/requests):
  "throttling with a limit of 10 requests per second, for each subscription key (regardless of
  the number of client integration instances, ie clientkey's)"; over it "429 - Too Many
  Requests"; no webhooks, poll with last-changed filters; renew the token proactively or on 401.
- [CII] https://developer.poweroffice.net/endpoints/client-settings/client-integration-information:
  the error code "forbidden" (403) when the client's Go subscriptions lack a privilege;
  ``GET /ClientIntegrationInformation`` needs no privilege and lists valid and invalid ones.
- [SPEC] The v2 OpenAPI specification as published by PowerOffice
  (https://prdm0go0stor0apiv20eurw.z6.web.core.windows.net/openapispecs/*.json), read through
  the client generated from it, github.com/stianwe/PowerOfficeGoV2 (docs/apis/*.md,
  docs/models/*.md): ProductsApi, ProductGroupsApi, CustomersApi, ContactDeliveryAddressesApi,
  OutgoingInvoicesApi, ClientIntegrationInformationApi; ProductDto, ProductGroupDto,
  CustomerDto, ContactAddressDto, ContactDeliveryAddressDto, OutgoingInvoiceDto,
  OutgoingInvoiceLineDto, ResourceParameters, VoucherLineType, OutgoingInvoiceVoucherType,
  UnitOfMeasureType, ClientIntegrationInformationDto. Every list endpoint answers 200, "204 Given
  when no content is returned", "400 Given when request is badly formatted", 401, 403, 429,
  and "When request is not processed correctly a ProblemDetail object is returned"; the
  "Auth roles" of each operation are the privileges it needs.
- [APIM] Azure API Management, the gateway in front of the API (the developer portal is
  ``*.developer.azure-api.net``, the header is ``Ocp-Apim-Subscription-Key``): its bodies
  ``{"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to
  include subscription key when making requests to an API."}``, "... invalid subscription key.
  Make sure to provide a valid key for an active subscription." (learn.microsoft.com
  troubleshooting article "unauthorized-errors-invoke-apis"), and for the rate-limit policy
  ``429`` with ``Retry-After`` and ``{"statusCode": 429, "message": "Rate limit is exceeded. Try
  again in N seconds."}`` (learn.microsoft.com "implement-rate-limiting-azure-api-management",
  "rate-limit-policy": a sliding window).
- [RFC6749] section 5.2: token errors ``invalid_client`` (401 with ``WWW-Authenticate`` when the
  client authenticated with the Authorization header), ``unsupported_grant_type``,
  ``invalid_request`` (400). [RFC6902] JSON Patch. [RFC7807] ProblemDetails.

Served (under ``""`` for production and ``/Demo`` for demo; method, path, query parameters)
------------------------------------------------------------------------------------------

- ``POST /OAuth/Token`` (form ``grant_type=client_credentials``; Basic application key:client key)
- ``GET /v2/Products``: codes, createdDateTimeOffsetGreaterThan, isArchived,
  lastChangedDateTimeOffsetGreaterThan, stockOnHandLastChangedDatetimeOffsetGreaterThan, names,
  productGroupCodes, type; ``GET /v2/Products/{id}``; ``PATCH /v2/Products/{id}`` [SPEC]
- ``GET /v2/ProductGroups``: codes, createdDateTimeOffsetGreaterThan, isArchived,
  lastChangedDateTimeOffsetGreaterThan, names, type; ``GET /v2/ProductGroups/{id}`` [SPEC]
- ``GET /v2/Customers``: customerCreatedDateTimeOffsetGreaterThan, customerNos,
  lastChangedDateTimeOffsetGreaterThan (contactGroupIds, externalImportReference, externalNos:
  documented, not simulated, C9); ``GET /v2/Customers/{id}`` [SPEC]
- ``GET /v2/ContactDeliveryAddresses``: contactIds, createdDateTimeOffsetGreaterThan,
  lastChangedDateTimeOffsetGreaterThan (externalCodes: not simulated);
  ``GET /v2/ContactDeliveryAddresses/{contactId}/{id}`` [SPEC]
- ``GET /v2/OutgoingInvoices``: balanceLastChangedDateTimeOffsetGreaterThan, customerNos,
  fromDate, toDate, invoiceIds, invoiceNos, voucherNos, onlyUnpaidInvoices,
  onlyCreatedByCurrentIntegration, sentDateTimeOffsetGreaterThan (customMatchingReferences,
  departmentCodes, projectCodes, includeSubProject: not simulated);
  ``GET /v2/OutgoingInvoices/{id}``; ``GET /v2/OutgoingInvoices/{id}/Lines`` [SPEC]
- ``GET /v2/ClientIntegrationInformation`` [CII]
- every list also takes the ResourceParameters PageNumber, PageSize, OrderBy, Fields,
  UseDatabaseValidation [SPEC]

Choices where the documentation is silent (the strict reading; the code says "(C<n>)")
-------------------------------------------------------------------------------------

C1  Paths are case-sensitive and spelled as documented: ``/Demo/OAuth/Token``, ``/Demo/v2``,
    ``/OAuth/Token``, ``/v2``, resource names as in [SPEC]. Anything else, or a documented path
    with another HTTP method, is the gateway's ``404 {"statusCode": 404, "message": "Resource
    not found"}`` [APIM].
C2  Gateway checks come first, in this order: route (C1), subscription key present (401
    missing), subscription key valid for that environment (401 invalid) [APIM, V1V2], then the
    rate limit (C3). Then the API: the bearer token (C4), the privilege (C6), the query (C8,
    C9), the body, the resource. The first failure answers.
C3  The rate limit is 10 calls in any sliding second per subscription key [REQ], counted over
    calls that passed the key check, token calls included (they carry the key too [V1V2]);
    refused calls do not count. The answer is [APIM]'s 429 body with ``Retry-After`` in whole
    seconds (at least 1). The window runs on :attr:`PowerOfficeSandbox.rate_clock` (monotonic
    real time), not on the business clock.
C4  Token: ``POST`` with ``Content-Type: application/x-www-form-urlencoded``, body exactly
    ``grant_type=client_credentials`` (other fields refused), ``Authorization: Basic
    base64(application key:client key)`` [AUTH]. The application key must be registered in that
    environment and activated on the client; the client key must belong to that environment and
    be active. Refusals per [RFC6749]: 400 ``invalid_request`` / ``unsupported_grant_type``,
    401 ``invalid_client`` with ``WWW-Authenticate: Basic``. The answer is ``{"access_token",
    "token_type": "Bearer", "expires_in": 1200}``: 20 minutes [POSTMAN] on the business clock
    (:meth:`PowerOfficeSandbox.now`), so tests can let a token expire with :meth:`advance`.
    A token is bound to its environment, client and subscription key: used elsewhere, with
    another subscription key, after expiry, or after :meth:`revoke_tokens`, it is refused with
    401, an empty body and ``WWW-Authenticate: Bearer error="invalid_token"`` (as ASP.NET's
    bearer handler answers; no ProblemDetails is promised for 401 [SPEC]).
C5  JSON is PascalCase as in [SPEC]; every property of a DTO is present, null when unset.
    Enums are strings (``"Product"``, ``"Normal"``, ``"OutgoingCreditNote"``, ``"EA"``).
    Timestamps are .NET round-trip DateTimeOffsets in UTC with 7 fraction digits
    (``2024-03-05T08:15:02.1234560+00:00``); dates are ``yyyy-MM-dd``; numbers are JSON numbers
    (the API's doubles). Ids of invoices are GUIDs, other ids integers.
C6  Privileges are the "Auth roles" of [SPEC]: Product / Product_Full (read products and product
    groups; Product_Full to patch), Customer / Customer_Full, ContactDeliveryAddress(_Full) or
    Customer(_Full) for delivery addresses, OutgoingInvoice / OutgoingInvoice_Full. A missing
    one is 403 ProblemDetails whose detail names the privileges that would do [CII].
C7  Errors of the API are ProblemDetails [RFC7807] (``application/problem+json``) with
    ``type``, ``title``, ``status``, ``detail``, ``traceId``; 400s also carry ``errors`` {field:
    [messages]} as ASP.NET's validation problem does. The texts are ours.
C8  Query parameters are spelled exactly as documented (camelCase filters, PascalCase
    ResourceParameters); another spelling is unknown. An unknown parameter, a parameter given
    twice, or a value that does not parse is 400 naming it. Timestamps in queries must carry an
    offset (``Z`` or ``+hh:mm``; a ``+`` must be percent-encoded, else it arrives as a space
    and is refused), ``T`` or a space between date and time, up to 7 fraction digits. Booleans
    are ``true``/``false`` (any case), enum values exactly as documented. "GreaterThan"
    filters are exclusive ("Timestamp not inclusive" [SPEC]); fromDate/toDate are inclusive
    dates, a time part is ignored [SPEC].
C9  A documented parameter the simulator does not simulate is 400 naming it as such, so a
    client never believes a filter was applied.
C10 Paging [SPEC ResourceParameters]: PageNumber from 1; PageSize from 1 up to MaxPageSize
    (``max_page_size``, 20 000 as documented), else 400; without PageSize a page holds
    ``page_size`` records (the documented default is 5 000; the simulator's is small so that
    reads page). A page past the last, and an empty result, is ``204`` with no body and no
    X-Pagination [SPEC]. A 200 list carries ``X-Pagination``, a JSON object ``{"TotalCount",
    "PageSize", "CurrentPage", "TotalPages", "HasNext", "HasPrevious"}`` (the format is not
    public; this is the usual ASP.NET shape).
C11 Order: without OrderBy the records come in a new random order on every request, so paging
    without OrderBy loses and repeats records, as an unordered SQL query may. OrderBy is
    ``Field [asc|desc], ...`` over DTO property names (exact spelling); records that tie on
    every given field are still in random order (add ``Id``). Nulls sort first. Fields lists
    DTO properties to return; an unknown one is 400.
C12 Products: ``codes`` filters product codes (the spec's text says "product group codes", a
    copy slip); lists match exactly. Without ``isArchived`` archived and active products are
    both listed. A product that is not a stock item has StockOnHand, StockAvailable and
    StockOnHandLastChangedDatetimeOffset null. ``StockAvailable`` equals ``StockOnHand`` (no
    confirmed sales orders are simulated). A product's group is required (Go puts a product
    without one in the default group [SPEC]; the simulator's default group is "Standard").
C13 JSON Patch on a product [SPEC, RFC6902]: ``Content-Type: application/json-patch+json``
    (else 415); the body is a JSON array of operations; ``replace``, ``add`` (same as replace on
    a property) and ``test`` are supported, ``remove``/``move``/``copy`` are 400. Paths are
    ``/<PascalCase property>`` of ProductDto that can be written (Code, Name, Description, Gtin,
    IsArchived, IsStockItem, ProductGroupId, ProductType, UnitPrice, UnitCost,
    UnitOfMeasureCode, StockOnHand); a camelCase or unknown path, a read-only property, a value of
    the wrong JSON type, StockOnHand on a product that is not a stock item, or a product group
    that does not exist, is 400 and nothing of the document is applied. Writing StockOnHand
    moves only StockOnHandLastChangedDatetimeOffset ("Changes in total stock does not affect
    the product's last changed property" [SPEC ProductDto]); any other change moves only
    LastChangedDateTimeOffset. Writing a value equal to the present one changes nothing and
    moves no timestamp. The answer is 200 with the ProductDto.
C14 Outgoing invoices are created by the control surface only, as Go's user sends them.
    Lines: ``Normal`` lines carry a product, Quantity, ProductUnitPrice (the unit price used on
    the line, in the invoice currency), Allowance (the discount in percent, 10 = 10 %),
    NetAmount = round(Quantity x ProductUnitPrice x (1 - Allowance/100), 2), VAT 25 % unless
    given; ``Text`` lines carry only Description and SortOrder (amounts and Quantity null).
    Line ids are unique per client. OrderNo (from the draft) and InvoiceNo are separate series.
    Balance and the posted amounts are in the client currency NOK (amount x
    CurrencyExchangeRate) [SPEC OutgoingInvoiceDto].
C15 Payments, credit notes, reversals move Balance and BalanceLastChangedDateTimeOffset, never
    LastChangedDateTimeOffset [SPEC]. A payment may be partial, never more than the balance. A
    credit note (VoucherType OutgoingCreditNote, negative amounts, RelatedInvoiceNo) is matched
    with the invoice it credits: both balances drop by the credited amount and share a
    MatchId, so a fully credited invoice has Balance 0 without being paid. A reversal sets
    IsReversed and Balance 0. An invoice whose Balance reaches 0 gets a MatchId.
C16 The request log keeps method, path, query and status, and the subscription key's label
    (``<environment>-<n>``), never a key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import math
import random
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpsync.http import ASGIApp
from erpsync.models import Event, Flow
from erpsync.sandbox import BusinessClock, DemoCompany

__all__ = [
    "BASE_URL",
    "ENVIRONMENTS",
    "MAX_PAGE_SIZE",
    "PRIVILEGES",
    "RATE_LIMIT",
    "TOKEN_LIFETIME",
    "LoggedRequest",
    "PowerOfficeSandbox",
    "ProductLine",
    "TextLine",
]

# --- the tunables of the choices above ------------------------------------------------------

BASE_URL = "https://goapi.poweroffice.net"
"""The host of both environments [POSTMAN]."""
ENVIRONMENTS: dict[str, str] = {"production": "", "demo": "/Demo"}
"""Path prefix per environment: ``/OAuth/Token`` and ``/v2`` follow it [AUTH, POSTMAN] (C1)."""
TOKEN_LIFETIME = timedelta(minutes=20)
"""v2 access tokens "expire after ... 20 minutes in v2" [POSTMAN] (C4)."""
RATE_LIMIT = 10
"""Calls per second per subscription key [REQ] (C3)."""
MAX_PAGE_SIZE = 20_000
"""ResourceParameters.MaxPageSize, "20 000 by default" [SPEC] (C10)."""
PRIVILEGES = ("Product", "Product_Full", "Customer", "Customer_Full", "ContactDeliveryAddress",
              "ContactDeliveryAddress_Full", "OutgoingInvoice", "OutgoingInvoice_Full")
"""The privileges the simulated endpoints need ("Auth roles" [SPEC]) (C6)."""
PRODUCT_TYPES = ("Product", "Service")
"""ProductType: "Available values: Product, Service" [SPEC]."""
UNITS = frozenset({
    "BX", "MTR", "KMT", "KGM", "EA", "LTR", "HUR", "DAY", "MTK", "MTQ", "TNE", "MON", "ANN", "QAN",
    "NL", "XRO", "XBA", "XPL", "XPC", "PR", "XCI", "XBG", "SET", "XTY", "XOF", "FTK", "KWH", "MWH",
    "LBR", "CMT", "DMT", "LM", "XPK", "GRM", "HGM", "XFL", "XBE", "E54", "MMT", "DAA", "H18", "MLT",
    "HLT", "DLT", "AK", "XCR", "E14", "MJ", "J57", "XJG", "XCT", "XSA", "XTU", "WEE", "XCA", "XCN",
    "NAR", "M4", "XVQ", "P1", "MFU", "KMK", "LM3", "FOT", "FM3", "E34", "E35"})
"""UnitOfMeasureType [SPEC]."""
DEFAULT_VAT_RATE = Decimal("0.25")
"""Norwegian standard VAT (C14)."""
TRACE_PREFIX = "00-"

_SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
_APIM_MISSING = ("Access denied due to missing subscription key. Make sure to include "
                 "subscription key when making requests to an API.")
_APIM_INVALID = ("Access denied due to invalid subscription key. Make sure to provide a valid "
                 "key for an active subscription.")
_QUERY_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?\s?(Z|[+-]\d{2}:\d{2})$")
_QUERY_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
_RANGE = re.compile(r"^(\d{1,18})?(-)?(\d{1,18})?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_PROBLEM_TYPES = {400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                  403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
                  404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
                  409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
                  415: "https://tools.ietf.org/html/rfc7231#section-6.5.13",
                  500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
                  503: "https://tools.ietf.org/html/rfc7231#section-6.6.4"}
_TITLES = {400: "One or more validation errors occurred.", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 415: "Unsupported Media Type", 500: "Internal Server Error",
           503: "Service Unavailable"}


# --- what the control surface takes -----------------------------------------------------------


@dataclass(frozen=True)
class ProductLine:
    """An invoice line of type ``Normal`` with a product (C14)."""

    product_code: str
    quantity: Decimal | int
    unit_price: Decimal | None = None
    """None: the product's UnitPrice."""
    discount_percent: Decimal | int = 0
    """Allowance in percent: 10 means 10 % [SPEC OutgoingInvoiceLineDto]."""
    description: str | None = None
    """None: the product's name."""
    vat_rate: Decimal = DEFAULT_VAT_RATE


@dataclass(frozen=True)
class TextLine:
    """An invoice line of type ``Text``: a description, no amounts (C14)."""

    description: str


class LoggedRequest(NamedTuple):
    """One call the simulator received (C16)."""

    method: str
    path: str
    query: str
    status: int
    subscription: str | None
    """The subscription key's label, ``<environment>-<n>``; None when absent or unknown."""


# --- the simulated state --------------------------------------------------------------------


@dataclass
class _Group:
    id: int
    code: str
    name: str
    created: datetime
    last_changed: datetime
    description: str | None = None
    is_archived: bool = False
    product_type: str = "Product"
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    unit: str | None = None


@dataclass
class _Product:
    id: int
    code: str
    name: str
    group_id: int
    created: datetime
    last_changed: datetime
    description: str | None = None
    gtin: str | None = None
    is_archived: bool = False
    is_stock_item: bool = False
    product_type: str = "Product"
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    unit: str | None = None
    stock_on_hand: Decimal = _ZERO
    stock_changed: datetime | None = None
    stock_writes: int = 0


@dataclass
class _Address:
    id: int
    line1: str | None
    line2: str | None
    zip_code: str | None
    city: str | None
    country: str | None
    created: datetime
    last_changed: datetime
    external_code: str | None = None
    is_primary: bool = False


@dataclass
class _Customer:
    id: int
    number: int
    name: str | None
    created: datetime
    last_changed: datetime
    legal_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_person: bool = False
    email: str | None = None
    invoice_email: str | None = None
    phone: str | None = None
    organization_number: str | None = None
    mail_address: _Address | None = None
    delivery_addresses: list[_Address] = field(default_factory=list)
    delivery_term: str | None = None


@dataclass
class _Line:
    id: int
    sort_order: int
    line_type: str
    description: str | None
    product_id: int | None = None
    product_code: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    allowance: Decimal | None = None
    net: Decimal | None = None
    vat: Decimal | None = None
    vat_rate: Decimal | None = None
    unit: str | None = None


@dataclass
class _Invoice:
    id: uuid.UUID
    invoice_no: int
    order_no: int | None
    voucher_no: int
    voucher_type: str
    customer: _Customer
    currency: str
    exchange_rate: Decimal
    lines: list[_Line]
    created: datetime
    sent: datetime
    voucher_date: date
    due_date: date
    order_date: date
    balance: Decimal
    balance_changed: datetime
    last_changed: datetime
    delivery_date: date | None = None
    delivery_term: str | None = None
    customer_reference: str | None = None
    purchase_order_reference: str | None = None
    related_invoice_no: int | None = None
    is_reversed: bool = False
    match_id: int | None = None
    delivery: _Address | None = None
    payment_term: int = 14

    @property
    def net(self) -> Decimal:
        return sum((line.net or _ZERO for line in self.lines), _ZERO)

    @property
    def total(self) -> Decimal:
        return sum(((line.net or _ZERO) + (line.vat or _ZERO) for line in self.lines), _ZERO)

    @property
    def total_posted(self) -> Decimal:
        return _money(self.total * self.exchange_rate)


@dataclass
class _Company:
    """One Go client: its data."""

    name: str
    groups: dict[int, _Group] = field(default_factory=dict)
    products: dict[int, _Product] = field(default_factory=dict)
    customers: dict[int, _Customer] = field(default_factory=dict)
    invoices: dict[uuid.UUID, _Invoice] = field(default_factory=dict)


@dataclass
class _Client:
    """One Go client's activation of the integration: its client key [AUTH]."""

    key: str
    environment: str
    application_key: str
    company: _Company
    privileges: set[str]
    active: bool = True


@dataclass
class _Token:
    environment: str
    client: _Client
    subscription: str
    expires: datetime


@dataclass
class _Fault:
    count: int
    status: int
    body: bytes
    media_type: str
    path: str | None
    headers: dict[str, str] = field(default_factory=dict)


class _Fail(Exception):
    """An API answer other than success: a ProblemDetails, unless ``raw`` is given."""

    def __init__(self, status: int, detail: str, *, errors: Mapping[str, list[str]] | None = None,
                 raw: Response | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = dict(errors or {})
        self.raw = raw


def _bad(name: str, message: str) -> _Fail:
    return _Fail(400, f"{name}: {message}", errors={name: [message]})


# --- formats ----------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _stamp(moment: datetime | None) -> str | None:
    """A .NET round-trip DateTimeOffset in UTC with 7 fraction digits (C5)."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0+00:00"


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _ticks(moment: datetime) -> int:
    """100-nanosecond ticks since 1970, exact."""
    return ((moment - _EPOCH) // timedelta(microseconds=1)) * 10


def _parse_time(name: str, text: str) -> int:
    """A query timestamp as ticks (C8)."""
    match = _QUERY_TIME.match(text)
    if match is None:
        raise _bad(name, f"{text!r} is not a timestamp with an offset, e.g. "
                         "2024-03-05T08:15:02.1234567Z or 2024-03-05T08:15:02+01:00 (a '+' in "
                         "a query must be encoded as %2B)")
    day, clock, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if offset == 'Z' else offset}")
    except ValueError as error:
        raise _bad(name, f"{text!r} is not a valid timestamp: {error}") from None
    digits = (fraction or "").ljust(7, "0")
    return ((moment - _EPOCH) // timedelta(seconds=1)) * 10_000_000 + int(digits)


def _parse_date(name: str, text: str) -> date:
    match = _QUERY_DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise _bad(name, f"{text!r} is not a date (yyyy-MM-dd)") from None


def _parse_bool(name: str, text: str) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise _bad(name, f"{text!r} is not a boolean (true or false)")


def _parse_int(name: str, text: str, minimum: int) -> int:
    if not re.fullmatch(r"\d{1,9}", text) or int(text) < minimum:
        raise _bad(name, f"{text!r} is not a whole number of at least {minimum}")
    return int(text)


def _parse_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_ranges(name: str, text: str) -> list[tuple[int | None, int | None]]:
    """``"10000-11000, 12000, 13000-"`` [SPEC] as inclusive (low, high) pairs."""
    ranges: list[tuple[int | None, int | None]] = []
    for part in _parse_list(text):
        match = _RANGE.match(part.replace(" ", ""))
        if match is None or (match.group(1) is None and match.group(3) is None):
            raise _bad(name, f"{part!r} is not a number or a range like 1-5 or 9-")
        low, dash, high = match.groups()
        if dash is None:
            ranges.append((int(low), int(low)))
        else:
            ranges.append((int(low) if low else None, int(high) if high else None))
    return ranges


def _in_ranges(value: int | None, ranges: Sequence[tuple[int | None, int | None]]) -> bool:
    return value is not None and any((low is None or value >= low) and
                                     (high is None or value <= high) for low, high in ranges)


# --- the simulator ----------------------------------------------------------------------------


class PowerOfficeSandbox(BusinessClock):
    """The PowerOffice Go v2 simulator and the control surface that plays the Go user.

    One Go client per environment exists from the start (``client_key`` in demo, the one
    :meth:`settings` gives; and one in production); :meth:`add_client` adds more, each with its
    own data. Control-surface methods act on the client ``client`` (a client key; default: the
    settings' client), raise :class:`KeyError` for an unknown key and :class:`ValueError` for
    what Go's user could not do. ``at`` stamps a change with that time (else :meth:`now`).
    """

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        environment: str = "demo",
        page_size: int = 5,
        max_page_size: int = MAX_PAGE_SIZE,
        rate_limit: int | None = RATE_LIMIT,
        latency: float = 0.0,
        clock: Callable[[], datetime] | None = None,
        rate_clock: Callable[[], float] | None = None,
        seed: int | None = None,
    ) -> None:
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {sorted(ENVIRONMENTS)}")
        if not 1 <= page_size <= max_page_size:
            raise ValueError("page_size must be between 1 and max_page_size")
        self.base_url = base_url.rstrip("/")
        self.environment = environment
        """The environment :meth:`settings` points at."""
        self.page_size = page_size
        """Records per page when a list call gives no PageSize (C10)."""
        self.max_page_size = max_page_size
        self.rate_limit = rate_limit
        """Calls per sliding second per subscription key; None: no limit (C3)."""
        self.latency = latency
        """Seconds every authenticated API call takes."""
        self.rate_clock: Callable[[], float] = rate_clock or time.monotonic
        self.requests: list[LoggedRequest] = []
        self.patches: list[tuple[str, list[Any]]] = []
        """Every JSON Patch document applied, with the product code: (code, operations)."""
        BusinessClock.__init__(self, clock)
        self._random = random.Random(seed)  # noqa: S311 - orders rows, guards nothing
        self._ids = {name: itertools.count(start) for name, start in {
            "group": 101, "product": 1001, "customer": 5001, "customer_no": 10000,
            "address": 7001, "line": 90001, "invoice_no": 1, "order_no": 5001,
            "voucher_no": 1, "match": 301, "seed": 1, "subscription": 1, "trace": 1}.items()}
        self._application_keys: dict[str, set[str]] = {env: set() for env in ENVIRONMENTS}
        self._subscriptions: dict[str, tuple[str, str]] = {}
        """Subscription key -> (environment, label)."""
        self._clients: dict[str, _Client] = {}
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, deque[float]] = {}
        self._arrivals: dict[str, deque[float]] = {}
        self._peak: dict[str, int] = {}
        self._throttled: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self.application_key: dict[str, str] = {}
        """The integration's application key per environment [AUTH]."""
        self.subscription_key: dict[str, str] = {}
        """The first subscription key per environment [V1V2]."""
        self.client_key: dict[str, str] = {}
        """The first client key per environment."""
        for env in ENVIRONMENTS:
            self.application_key[env] = self.add_application_key(env)
            self.subscription_key[env] = self.add_subscription_key(env)
            self.client_key[env] = self.add_client(env, name=f"Demo AS ({env})")

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi(scope, receive, send)

        self.app: ASGIApp = app
        """The ASGI 3 application; a plain coroutine function, so that servers such as uvicorn
        recognise it as ASGI 3."""

    # --- the conformance protocol (erpsync.conformance.ErpSandbox) ----------------------------

    def settings(self) -> dict[str, Any]:
        """Settings of the PowerOffice plugin (``PowerOfficeSettings`` in its plugin.py) for
        this simulator's client in :attr:`environment`; ``page_size`` is the plugin's PageSize,
        so that reads page as the conformance suite needs."""
        env = self.environment
        return {
            "environment": env,
            "base_url": self.base_url,
            "application_key": SecretStr(self.application_key[env]),
            "client_key": SecretStr(self.client_key[env]),
            "subscription_key": SecretStr(self.subscription_key[env]),
            "page_size": self.page_size,
        }

    def bad_settings(self) -> dict[str, Any]:
        """The same settings with a client key the token endpoint refuses (invalid_client)."""
        return self.settings() | {"client_key": SecretStr(str(uuid.uuid4()))}

    def seed(self, flow: Flow, count: int, at: datetime) -> list[str]:
        """``count`` new records of ``flow`` changed at ``at``; their keys: product codes
        (articles, stock: stock items) or order numbers (orders: invoices sent and paid, the
        payment at ``at``)."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            return [self.add_product(self._seed_code(), f"Vare {n} æøå",
                                     unit_price=Decimal("99.50"), unit_cost=Decimal("40"),
                                     gtin=f"70{next(self._ids['seed']):011d}", unit="EA",
                                     stock_item=True, at=at)
                    for n in range(count)]
        if flow == Flow.ORDERS:
            product = self._seed_product(at)
            customer = self._seed_customer(at)
            keys = []
            for _ in range(count):
                invoice = self.send_invoice(
                    customer, [ProductLine(product, 2), TextLine("Takk for handelen!")],
                    customer_reference="Ola", at=at)
                self.register_payment(invoice, at=at)
                keys.append(str(self._invoice(invoice).order_no))
            return keys
        raise ValueError(f"PowerOffice has no {flow.value} to seed")

    def change(self, flow: Flow, key: str, at: datetime) -> None:
        """Change record ``key`` of ``flow`` at ``at``: a product's name; an order's customer
        reference, with the balance timestamp moved to ``at`` (Go's sent invoices do not change;
        this plays a correction booked against it)."""
        if flow in (Flow.ARTICLES, Flow.STOCK):
            product = self._product_by_code(key)
            self.change_product(key, name=product.name + " (endret)", at=at)
        elif flow == Flow.ORDERS:
            invoice = self._invoice_by_order_no(key)
            invoice.customer_reference = (invoice.customer_reference or "") + "+"
            invoice.balance_changed = at
        else:
            raise ValueError(f"PowerOffice has no {flow.value} to change")

    def event(self, flow: Flow) -> Event:
        """PowerOffice takes no deliveries, receipts or adjustments."""
        raise ValueError(f"PowerOffice takes no {flow.value}")

    def rejected_event(self, flow: Flow) -> Event:
        """PowerOffice takes no deliveries, receipts or adjustments."""
        raise ValueError(f"PowerOffice takes no {flow.value}")

    def times_applied(self, flow: Flow, event: Event) -> int:
        """PowerOffice takes no deliveries, receipts or adjustments."""
        raise ValueError(f"PowerOffice takes no {flow.value}")

    def stock_level(self, key: str) -> Decimal | None:
        """The StockOnHand of product ``key``; None for an unknown product."""
        product = self._find_product(self._company(), key)
        return None if product is None else product.stock_on_hand

    def populate_demo(self, size: int) -> DemoCompany:
        """A small Norwegian company for ``erpsync demo``: about ``size`` stock products in
        groups, customers with and without a mail address, paid invoices with product and text
        lines (some with a discount, one in EUR), and what must not become an order: an unpaid
        invoice, a credited one, a reversed one."""
        kinds = ["Brunost", "Kaffe", "Lefse", "Flatbrød", "Multesyltetøy", "Tyttebær",
                 "Rakfisk", "Spekeskinke", "Kavring", "Krumkake", "Solbærtoddy", "Fiskeboller",
                 "Havregryn", "Tran", "Sild i tomat", "Kvikk Lunsj", "Pepperkaker", "Lutefisk"]
        sizes = ["250 g", "500 g", "1 kg", "0,5 l", "1 l", "6 stk", "12 stk"]
        groups = [self.add_product_group(code, name) for code, name in
                  (("MAT", "Matvarer"), ("DRIKKE", "Drikkevarer"), ("SNACKS", "Snacks"))]
        articles = [
            self.add_product(f"VARE-{n:04d}", f"{kinds[n % len(kinds)]} {sizes[n % len(sizes)]}",
                             group=groups[n % len(groups)],
                             unit_price=Decimal(19 + n % 40) + Decimal("0.90"),
                             unit_cost=Decimal(8 + n % 15) + Decimal("0.50"),
                             gtin=f"70{n:011d}", unit="EA", stock_item=True,
                             description=f"{kinds[n % len(kinds)]} fra Norge")
            for n in range(max(1, size))]
        towns = [("Oslo", "0150"), ("Bergen", "5003"), ("Trondheim", "7010"),
                 ("Tromsø", "9008"), ("Ålesund", "6002")]
        customers = []
        for n, (legal, name) in enumerate([("Kafé Ærlig AS", "Kafé Ærlig"),
                                           ("Dagligvare Øst AS", "Nærbutikken Øst"),
                                           ("Fjellstua Drift AS", "Fjellstua"),
                                           ("Bakeriet på Hjørnet AS", "Bakeriet")]):
            town, code = towns[n % len(towns)]
            mail = ({"AddressLine1": f"Postboks {100 + n}", "ZipCode": code, "City": town,
                     "CountryCode": "NO"} if n % 2 == 0 else None)
            customers.append(self.add_customer(
                name, legal_name=legal, email=f"ordre{n}@example.no",
                phone=f"+47 9{n}0 00 00{n}" if n % 2 else None, mail_address=mail,
                delivery_address={"AddressLine1": f"Storgata {n + 1}", "ZipCode": code,
                                  "City": town, "CountryCode": "NO"}))
        orders: dict[str, dict[str, Decimal]] = {}
        for n in range(max(3, size // 10)):
            lines: list[ProductLine | TextLine] = [
                ProductLine(articles[(n * 3 + i) % len(articles)], 2 + (n + i) % 4,
                            discount_percent=10 if (n + i) % 5 == 0 else 0)
                for i in range(1 + n % 3)]
            lines.append(TextLine("Leveres bakdøren, takk!"))
            invoice = self.send_invoice(customers[n % len(customers)], lines,
                                        customer_reference="Kari Nordmann",
                                        delivery_term="FCA",
                                        currency="EUR" if n == 1 else "NOK",
                                        exchange_rate=Decimal("11.50") if n == 1 else None)
            self.register_payment(invoice)
            sent = self._invoice(invoice)
            orders[str(sent.order_no)] = {str(line.id): line.quantity or _ZERO
                                          for line in sent.lines if line.line_type == "Normal"}
        self.send_invoice(customers[0], [ProductLine(articles[0], 1)])  # unpaid
        credited = self.send_invoice(customers[1], [ProductLine(articles[-1], 3)])
        self.send_credit_note(credited)
        reversed_ = self.send_invoice(customers[2], [ProductLine(articles[0], 1)])
        self.reverse_invoice(reversed_)
        return DemoCompany(articles, orders, {})

    # --- control surface: the clock, keys, privileges, faults -----------------------------------


    def add_application_key(self, environment: str) -> str:
        """Register another application key (integration) in ``environment``."""
        key = str(uuid.uuid4())
        self._application_keys[self._env(environment)].add(key)
        return key

    def add_subscription_key(self, environment: str) -> str:
        """Another product subscription key for ``environment`` [V1V2]."""
        env = self._env(environment)
        key = secrets.token_hex(16)
        self._subscriptions[key] = (env, f"{env}-{next(self._ids['subscription'])}")
        return key

    def revoke_subscription_key(self, key: str) -> None:
        """The subscription ends: the gateway refuses the key."""
        del self._subscriptions[key]

    def add_client(self, environment: str, *, name: str = "Kunde AS",
                   application_key: str | None = None,
                   privileges: Iterable[str] = PRIVILEGES) -> str:
        """A Go client that activated the integration (``application_key``, default the
        environment's) with ``privileges``; its client key [AUTH]."""
        env = self._env(environment)
        app_key = application_key or self.application_key[env]
        if app_key not in self._application_keys[env]:
            raise KeyError(f"no application key {app_key!r} in {env}")
        key = str(uuid.uuid4())
        client = _Client(key, env, app_key, _Company(name), set(self._privileges(privileges)))
        self._clients[key] = client
        moment = self.now()
        group_id = next(self._ids["group"])
        client.company.groups[group_id] = _Group(group_id, "1", "Standard", moment, moment)
        return key

    def set_privileges(self, privileges: Iterable[str], client: str | None = None) -> None:
        """The privileges ``client`` grants (its Go subscriptions) [CII] (C6)."""
        self._client(client).privileges = set(self._privileges(privileges))

    def revoke_privilege(self, privilege: str, client: str | None = None) -> None:
        self._client(client).privileges.discard(privilege)

    def deactivate_client(self, client: str | None = None) -> None:
        """The customer deactivates the integration: its client key no longer gets tokens and
        its tokens stop working."""
        found = self._client(client)
        found.active = False
        self.revoke_tokens(found.key)

    def revoke_tokens(self, client: str | None = None) -> None:
        """Every access token of ``client`` stops working (as after a key rotation)."""
        found = self._client(client)
        for token in [t for t, v in self._tokens.items() if v.client is found]:
            del self._tokens[token]

    def fail_next(self, count: int = 1, status: int = 503,
                  body: bytes | str | Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None, *,
                  path: str | None = None) -> None:
        """The next ``count`` calls (to ``path`` only, if given, e.g. ``"/Demo/v2/Products"``)
        get ``status`` with ``body`` (default: a ProblemDetails) and ``headers`` (e.g.
        ``Retry-After`` with a 429) before anything is checked; they are counted and logged."""
        if body is None:
            content = json.dumps(self._problem_body(status, f"Injected failure ({status})"))
            data, media = content.encode(), "application/problem+json; charset=utf-8"
        elif isinstance(body, Mapping):
            data, media = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            data = body.encode() if isinstance(body, str) else body
            media = "text/plain; charset=utf-8"
        self._faults.append(_Fault(count, status, data, media, path, dict(headers or {})))

    def clear_faults(self) -> None:
        self._faults.clear()

    def request_count(self, path: str | None = None, method: str | None = None,
                      status: int | None = None) -> int:
        """Calls received, optionally only those whose path contains ``path`` (e.g.
        ``"/v2/Products"``), with ``method`` or answered with ``status``."""
        return sum(1 for r in self.requests
                   if (path is None or path in r.path) and (method is None or r.method == method)
                   and (status is None or r.status == status))

    def peak_rate(self, subscription_key: str) -> int:
        """The most calls with ``subscription_key`` that arrived within one second (C3)."""
        return self._peak.get(subscription_key, 0)

    def throttled(self, subscription_key: str) -> int:
        """How many calls with ``subscription_key`` were refused with 429."""
        return self._throttled.get(subscription_key, 0)

    # --- control surface: the Go user ---------------------------------------------------------

    def add_product_group(self, code: str, name: str, *, description: str | None = None,
                          archived: bool = False, product_type: str = "Product",
                          unit_price: Decimal | None = None, unit_cost: Decimal | None = None,
                          at: datetime | None = None, client: str | None = None) -> str:
        """A product group; its code."""
        company = self._company(client)
        if any(g.code == code for g in company.groups.values()):
            raise ValueError(f"product group {code!r} exists")
        if product_type not in PRODUCT_TYPES:
            raise ValueError(f"product_type must be one of {PRODUCT_TYPES}")
        moment = self._moment(at)
        group_id = next(self._ids["group"])
        company.groups[group_id] = _Group(group_id, code, name, moment, moment, description,
                                          archived, product_type, unit_price, unit_cost)
        return code

    def add_product(self, code: str, name: str, *, group: str | None = None,
                    unit_price: Decimal | None = None, unit_cost: Decimal | None = None,
                    gtin: str | None = None, description: str | None = None,
                    unit: str | None = None, stock_item: bool = False,
                    stock_on_hand: Decimal | int = 0, archived: bool = False,
                    product_type: str = "Product", at: datetime | None = None,
                    client: str | None = None) -> str:
        """A product (in group ``group``, a group code; default "Standard" (C12)); its code."""
        company = self._company(client)
        if self._find_product(company, code) is not None:
            raise ValueError(f"product {code!r} exists")
        if unit is not None and unit not in UNITS:
            raise ValueError(f"{unit!r} is no UnitOfMeasureType")
        if product_type not in PRODUCT_TYPES:
            raise ValueError(f"product_type must be one of {PRODUCT_TYPES}")
        if stock_on_hand and not stock_item:
            raise ValueError("only a stock item has stock on hand")
        moment = self._moment(at)
        product = _Product(next(self._ids["product"]), code, name,
                           self._group_by_code(company, group or "1").id, moment, moment,
                           description, gtin, archived, stock_item, product_type, unit_price,
                           unit_cost, unit, Decimal(stock_on_hand),
                           moment if stock_item else None)
        company.products[product.id] = product
        return code

    def change_product(self, code: str, *, at: datetime | None = None,
                       client: str | None = None, **fields: Any) -> None:
        """Change product fields as Go's user does: name, description, gtin, unit_price,
        unit_cost, unit, archived, stock_item, group (a group code), product_type, stock_on_hand
        (moves only the stock timestamp, C13)."""
        company = self._company(client)
        product = self._product_by_code(code, client)
        moment = self._moment(at)
        names = {"name": "name", "description": "description", "gtin": "gtin",
                 "unit_price": "unit_price", "unit_cost": "unit_cost", "unit": "unit",
                 "archived": "is_archived", "stock_item": "is_stock_item",
                 "product_type": "product_type"}
        for key, value in fields.items():
            if key == "stock_on_hand":
                if not product.is_stock_item:
                    raise ValueError(f"{code} is not a stock item")
                product.stock_on_hand = Decimal(value)
                product.stock_changed = moment
            elif key == "group":
                product.group_id = self._group_by_code(company, value).id
                product.last_changed = moment
            elif key in names:
                setattr(product, names[key], value)
                product.last_changed = moment
            else:
                raise TypeError(f"no product field {key!r}")

    def stock_on_hand(self, code: str, client: str | None = None) -> Decimal:
        """What Go holds as the product's StockOnHand."""
        return self._product_by_code(code, client).stock_on_hand

    def product(self, code: str, client: str | None = None) -> dict[str, Any]:
        """The product as the API shows it (ProductDto)."""
        company = self._company(client)
        return self._product_dto(company, self._product_by_code(code, client))

    def stock_writes(self, code: str, client: str | None = None) -> int:
        """How many JSON Patch documents changed the product's StockOnHand."""
        return self._product_by_code(code, client).stock_writes

    def add_customer(self, name: str | None, *, legal_name: str | None = None,
                     first_name: str | None = None, last_name: str | None = None,
                     is_person: bool = False, number: int | None = None,
                     email: str | None = None, invoice_email: str | None = None,
                     phone: str | None = None, organization_number: str | None = None,
                     mail_address: Mapping[str, str | None] | None = None,
                     delivery_address: Mapping[str, str | None] | None = None,
                     delivery_term: str | None = None, at: datetime | None = None,
                     client: str | None = None) -> int:
        """A customer; its customer number. Addresses are mappings with the ContactAddressDto
        keys AddressLine1, AddressLine2, ZipCode, City, CountryCode. Without ``mail_address``
        the customer's MailAddress has every field null."""
        company = self._company(client)
        moment = self._moment(at)
        number = number if number is not None else next(self._ids["customer_no"])
        if any(c.number == number for c in company.customers.values()):
            raise ValueError(f"customer number {number} exists")
        customer = _Customer(next(self._ids["customer"]), number, name, moment, moment,
                             legal_name, first_name, last_name, is_person, email, invoice_email,
                             phone, organization_number,
                             self._address(mail_address or {}, moment), [], delivery_term)
        company.customers[customer.id] = customer
        if delivery_address is not None:
            self.add_delivery_address(number, delivery_address, at=at, client=client)
        return number

    def add_delivery_address(self, customer_no: int, address: Mapping[str, str | None], *,
                             at: datetime | None = None, client: str | None = None) -> int:
        """Another delivery address of the customer (the first is primary [SPEC]); its id."""
        customer = self._customer_by_number(customer_no, client)
        moment = self._moment(at)
        made = self._address(address, moment)
        made.is_primary = not customer.delivery_addresses
        customer.delivery_addresses.append(made)
        return made.id

    def change_customer(self, customer_no: int, *, at: datetime | None = None,
                        client: str | None = None, **fields: Any) -> None:
        """Change customer fields (name, legal_name, first_name, last_name, email, phone,
        mail_address as a mapping or None)."""
        customer = self._customer_by_number(customer_no, client)
        moment = self._moment(at)
        for key, value in fields.items():
            if key == "mail_address":
                customer.mail_address = self._address(value or {}, moment)
            elif key in ("name", "legal_name", "first_name", "last_name", "email", "phone",
                         "invoice_email", "organization_number", "delivery_term"):
                setattr(customer, key, value)
            else:
                raise TypeError(f"no customer field {key!r}")
        customer.last_changed = moment

    def send_invoice(self, customer_no: int, lines: Sequence[ProductLine | TextLine], *,
                     currency: str = "NOK", exchange_rate: Decimal | None = None,
                     delivery_date: date | None = None, delivery_term: str | None = None,
                     customer_reference: str | None = None,
                     purchase_order_reference: str | None = None,
                     at: datetime | None = None, client: str | None = None) -> int:
        """Go's user sends an invoice made from an order draft; its invoice number (C14)."""
        if not lines:
            raise ValueError("an invoice needs a line")
        company = self._company(client)
        customer = self._customer_by_number(customer_no, client)
        if currency != "NOK" and exchange_rate is None:
            raise ValueError("a foreign currency needs an exchange_rate")
        rate = Decimal(1) if currency == "NOK" else Decimal(exchange_rate or 1)
        made = [self._line(company, n, line) for n, line in enumerate(lines)]
        moment = self._moment(at)
        primary = next((a for a in customer.delivery_addresses if a.is_primary), None)
        invoice = _Invoice(
            uuid.uuid4(), next(self._ids["invoice_no"]), next(self._ids["order_no"]),
            next(self._ids["voucher_no"]), "OutgoingInvoice", customer, currency, rate, made,
            moment, moment, moment.date(), moment.date() + timedelta(days=14), moment.date(),
            _ZERO, moment, moment, delivery_date, delivery_term or customer.delivery_term,
            customer_reference, purchase_order_reference, delivery=primary)
        invoice.balance = invoice.total_posted
        company.invoices[invoice.id] = invoice
        return invoice.invoice_no

    def register_payment(self, invoice_no: int, amount: Decimal | None = None, *,
                         at: datetime | None = None, client: str | None = None) -> Decimal:
        """A payment (in NOK) matched with the invoice; None pays the whole balance. Moves the
        balance and its timestamp (C15); returns the balance left."""
        invoice = self._invoice(invoice_no, client)
        if invoice.voucher_type != "OutgoingInvoice" or invoice.is_reversed:
            raise ValueError(f"invoice {invoice_no} takes no payment")
        paid = invoice.balance if amount is None else _money(Decimal(amount))
        if paid <= 0 or paid > invoice.balance:
            raise ValueError(f"a payment must be more than 0 and at most the balance "
                             f"{invoice.balance}")
        self._move_balance(invoice, invoice.balance - paid, self._moment(at))
        return invoice.balance

    def send_credit_note(self, invoice_no: int,
                         lines: Sequence[ProductLine | TextLine] | None = None, *,
                         at: datetime | None = None, client: str | None = None) -> int:
        """A credit note for invoice ``invoice_no`` (all of it, or ``lines`` with positive
        quantities), matched with it (C15); its invoice number."""
        company = self._company(client)
        original = self._invoice(invoice_no, client)
        if original.voucher_type != "OutgoingInvoice" or original.is_reversed:
            raise ValueError(f"invoice {invoice_no} cannot be credited")
        moment = self._moment(at)
        if lines is None:
            made = [_Line(next(self._ids["line"]), n, line.line_type, line.description,
                          line.product_id, line.product_code,
                          None if line.quantity is None else -line.quantity, line.unit_price,
                          line.unit_cost, line.allowance,
                          None if line.net is None else -line.net,
                          None if line.vat is None else -line.vat, line.vat_rate, line.unit)
                    for n, line in enumerate(original.lines)]
        else:
            made = [self._line(company, n, line, sign=-1) for n, line in enumerate(lines)]
        note = _Invoice(
            uuid.uuid4(), next(self._ids["invoice_no"]), None, next(self._ids["voucher_no"]),
            "OutgoingCreditNote", original.customer, original.currency, original.exchange_rate,
            made, moment, moment, moment.date(), moment.date(), moment.date(), _ZERO, moment,
            moment, related_invoice_no=original.invoice_no, delivery=original.delivery)
        credited = -note.total_posted
        if credited > original.balance:
            raise ValueError(f"the credit note ({credited}) exceeds the balance "
                             f"{original.balance}")
        company.invoices[note.id] = note
        match = next(self._ids["match"])
        note.match_id = match
        self._move_balance(original, original.balance - credited, moment, match)
        return note.invoice_no

    def reverse_invoice(self, invoice_no: int, *, at: datetime | None = None,
                        client: str | None = None) -> None:
        """The invoice voucher is reversed (nullified) [SPEC IsReversed] (C15)."""
        invoice = self._invoice(invoice_no, client)
        if invoice.is_reversed:
            raise ValueError(f"invoice {invoice_no} is already reversed")
        invoice.is_reversed = True
        self._move_balance(invoice, _ZERO, self._moment(at))

    def invoice(self, invoice_no: int, client: str | None = None) -> dict[str, Any]:
        """The invoice as the API shows it (OutgoingInvoiceDto), and its ``Lines``."""
        found = self._invoice(invoice_no, client)
        return self._invoice_dto(found) | {"Lines": [self._line_dto(line)
                                                     for line in found.lines]}

    # --- internals of the control surface -------------------------------------------------------

    @staticmethod
    def _env(environment: str) -> str:
        if environment not in ENVIRONMENTS:
            raise KeyError(f"no environment {environment!r}: {sorted(ENVIRONMENTS)}")
        return environment

    @staticmethod
    def _privileges(privileges: Iterable[str]) -> list[str]:
        given = list(privileges)
        unknown = [p for p in given if p not in PRIVILEGES]
        if unknown:
            raise ValueError(f"unknown privileges {unknown}: {PRIVILEGES}")
        return given

    def _client(self, client: str | None) -> _Client:
        key = client or self.client_key[self.environment]
        if key not in self._clients:
            raise KeyError("no such client key")
        return self._clients[key]

    def _company(self, client: str | None = None) -> _Company:
        return self._client(client).company

    def _moment(self, at: datetime | None) -> datetime:
        if at is not None and at.tzinfo is None:
            raise ValueError("give a timezone-aware time")
        return at or self.now()

    def _address(self, fields: Mapping[str, str | None], moment: datetime) -> _Address:
        allowed = {"AddressLine1", "AddressLine2", "ZipCode", "City", "CountryCode",
                   "ExternalCode"}
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown address fields {sorted(unknown)}: {sorted(allowed)}")
        return _Address(next(self._ids["address"]), fields.get("AddressLine1"),
                        fields.get("AddressLine2"), fields.get("ZipCode"), fields.get("City"),
                        fields.get("CountryCode"), moment, moment, fields.get("ExternalCode"))

    def _line(self, company: _Company, n: int, line: ProductLine | TextLine,
              sign: int = 1) -> _Line:
        if isinstance(line, TextLine):
            return _Line(next(self._ids["line"]), n, "Text", line.description)
        product = self._find_product(company, line.product_code)
        if product is None:
            raise KeyError(f"no product {line.product_code!r}")
        price = line.unit_price if line.unit_price is not None else product.unit_price
        if price is None:
            raise ValueError(f"product {product.code} has no unit price: give one")
        quantity = Decimal(line.quantity) * sign
        allowance = Decimal(line.discount_percent)
        if not Decimal(-1000) <= allowance <= Decimal(100):
            raise ValueError("the discount is a percent between -1000 and 100")
        net = _money(quantity * Decimal(price) * (1 - allowance / 100))
        return _Line(next(self._ids["line"]), n, "Normal", line.description or product.name,
                     product.id, product.code, quantity, Decimal(price), product.unit_cost,
                     allowance, net, _money(net * line.vat_rate), line.vat_rate, product.unit)

    def _move_balance(self, invoice: _Invoice, balance: Decimal, moment: datetime,
                      match: int | None = None) -> None:
        invoice.balance = balance
        invoice.balance_changed = moment
        if match is not None or (balance == 0 and invoice.match_id is None):
            invoice.match_id = match if match is not None else next(self._ids["match"])

    def _seed_code(self) -> str:
        return f"PO-{next(self._ids['seed']):05d}"

    def _seed_product(self, at: datetime) -> str:
        return self.add_product(self._seed_code(), "Seedvare", unit_price=Decimal("25"),
                                stock_item=True, unit="EA", at=at)

    def _seed_customer(self, at: datetime) -> int:
        return self.add_customer("Seedkunde", legal_name="Seedkunde AS",
                                 email="seed@example.no",
                                 mail_address={"AddressLine1": "Postboks 1", "ZipCode": "0101",
                                               "City": "Oslo", "CountryCode": "NO"}, at=at)

    @staticmethod
    def _find_product(company: _Company, code: str) -> _Product | None:
        return next((p for p in company.products.values() if p.code == code), None)

    def _product_by_code(self, code: str, client: str | None = None) -> _Product:
        product = self._find_product(self._company(client), code)
        if product is None:
            raise KeyError(f"no product {code!r}")
        return product

    @staticmethod
    def _group_by_code(company: _Company, code: str) -> _Group:
        group = next((g for g in company.groups.values() if g.code == code), None)
        if group is None:
            raise KeyError(f"no product group {code!r}")
        return group

    def _customer_by_number(self, number: int, client: str | None = None) -> _Customer:
        found = next((c for c in self._company(client).customers.values()
                      if c.number == number), None)
        if found is None:
            raise KeyError(f"no customer {number}")
        return found

    def _invoice(self, invoice_no: int, client: str | None = None) -> _Invoice:
        found = next((i for i in self._company(client).invoices.values()
                      if i.invoice_no == invoice_no), None)
        if found is None:
            raise KeyError(f"no invoice {invoice_no}")
        return found

    def _invoice_by_order_no(self, order_no: str, client: str | None = None) -> _Invoice:
        found = next((i for i in self._company(client).invoices.values()
                      if str(i.order_no) == order_no), None)
        if found is None:
            raise KeyError(f"no invoice with order number {order_no}")
        return found

    # --- the DTOs [SPEC] (C5) -------------------------------------------------------------------

    @staticmethod
    def _group_dto(group: _Group) -> dict[str, Any]:
        return {
            "Code": group.code, "CreatedDateTimeOffset": _stamp(group.created),
            "CreatedFromImportJournalId": None, "Description": group.description,
            "Id": group.id, "IsArchived": group.is_archived,
            "LastChangedDateTimeOffset": _stamp(group.last_changed), "Name": group.name,
            "OptionalSalesAccount": None, "OptionalSalesAccountAgricultureDepartment": None,
            "OptionalSalesAccountId": None, "ProductType": group.product_type,
            "StandardSalesAccount": None, "StandardSalesAccountAgricultureDepartment": None,
            "StandardSalesAccountId": None, "UnitCost": _num(group.unit_cost),
            "UnitOfMeasureCode": group.unit, "UnitPrice": _num(group.unit_price),
        }

    @staticmethod
    def _product_dto(company: _Company, p: _Product) -> dict[str, Any]:
        return {
            "Code": p.code, "CreatedDateTimeOffset": _stamp(p.created),
            "CreatedFromImportJournalId": None, "Description": p.description, "Gtin": p.gtin,
            "Id": p.id, "IsArchived": p.is_archived, "IsStockItem": p.is_stock_item,
            "LastChangedDateTimeOffset": _stamp(p.last_changed), "Name": p.name,
            "OptionalSalesAccount": None, "OptionalSalesAccountAgricultureDepartment": None,
            "OptionalSalesAccountId": None,
            "ProductGroupCode": company.groups[p.group_id].code, "ProductGroupId": p.group_id,
            "ProductType": p.product_type, "StandardSalesAccount": None,
            "StandardSalesAccountAgricultureDepartment": None, "StandardSalesAccountId": None,
            "StockAvailable": _num(p.stock_on_hand) if p.is_stock_item else None,
            "StockOnHand": _num(p.stock_on_hand) if p.is_stock_item else None,
            "StockOnHandLastChangedDatetimeOffset": _stamp(p.stock_changed),
            "UnitCost": _num(p.unit_cost), "UnitOfMeasureCode": p.unit,
            "UnitPrice": _num(p.unit_price),
        }

    @staticmethod
    def _address_dto(a: _Address | None) -> dict[str, Any]:
        if a is None:
            return {"AddressLine1": None, "AddressLine2": None, "City": None,
                    "CountryCode": None, "ExternalCode": None, "Id": None,
                    "LastChangedDateTimeOffset": None, "ZipCode": None}
        return {"AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city,
                "CountryCode": a.country, "ExternalCode": a.external_code, "Id": a.id,
                "LastChangedDateTimeOffset": _stamp(a.last_changed), "ZipCode": a.zip_code}

    @staticmethod
    def _delivery_address_dto(customer: _Customer, a: _Address) -> dict[str, Any]:
        return {"AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city,
                "ContactId": customer.id, "CountryCode": a.country,
                "CreatedDateTimeOffset": _stamp(a.created), "ExternalCode": a.external_code,
                "Id": a.id, "IsPrimary": a.is_primary,
                "LastChangedDateTimeOffset": _stamp(a.last_changed), "ZipCode": a.zip_code}

    def _customer_dto(self, c: _Customer) -> dict[str, Any]:
        unset = ("Allowance", "BillableRate", "ContactGroupIds", "CreatedFromImportJournalId",
                 "CustomerSince", "DateOfBirth", "DeliveryTermId", "DepartmentCode",
                 "DepartmentId", "ExternalImportReference", "ExternalNumber",
                 "InvoiceBrandingThemeCode", "InvoiceBrandingThemeId", "InvoiceEmailAddressCC",
                 "NationalIdNumber", "NoticeOfDebtCollectionDeliveryType",
                 "PaymentReminderEmailAddress", "PaymentTerm", "PaymentTermId",
                 "ReminderDeliveryType", "SalesPersonEmployeeId", "SalesPersonEmployeeNumber",
                 "SubledgerAccountId", "WebsiteUrl")
        return dict.fromkeys(unset) | {
            "ContactCreatedDateTimeOffset": _stamp(c.created),
            "CurrencyCode": "NOK", "CustomerCreatedDateTimeOffset": _stamp(c.created),
            "DeliveryTerm": c.delivery_term, "DoNotAddLatePaymentFees": False,
            "DoNotAddLatePaymentInterest": False, "DoNotAutomatePaymentNotifications": False,
            "EmailAddress": c.email, "FirstName": c.first_name, "Id": c.id,
            "InvoiceDeliveryType": "PdfByEmail" if c.invoice_email or c.email else "None",
            "InvoiceEmailAddress": c.invoice_email, "IsActive": True, "IsArchived": False,
            "IsPerson": c.is_person, "IsVatFree": False,
            "LastChangedDateTimeOffset": _stamp(c.last_changed), "LastName": c.last_name,
            "LegalName": c.legal_name, "MailAddress": self._address_dto(c.mail_address),
            "Name": c.name, "Number": c.number, "OrganizationNumber": c.organization_number,
            "PhoneNumber": c.phone, "SendPaymentReminders": True,
            "TransferToDebtCollectionAgency": True, "UseInvoiceFee": True,
        }

    @staticmethod
    def _invoice_dto(i: _Invoice) -> dict[str, Any]:
        unset = ("BrandingThemeCode", "BrandingThemeId", "Cid", "ContractNo",
                 "CustomMatchingReference", "CustomerReferenceContactPersonId", "DeliveryTermId",
                 "DepartmentCode", "DepartmentId", "Dim1Code", "Dim1Id", "Dim2Code", "Dim2Id",
                 "Dim3Code", "Dim3Id", "ExternalImportReference", "ImportedOrderNo",
                 "LocationCode", "LocationId", "PaymentTermId", "ProjectCode", "ProjectId",
                 "SellersReferenceEmployeeId", "SellersReferenceEmployeeNo")
        d = i.delivery
        return dict.fromkeys(unset) | {
            "Balance": float(i.balance), "BalanceLastChangedDateTimeOffset":
                _stamp(i.balance_changed),
            "CreatedDateTimeOffset": _stamp(i.created), "CurrencyCode": i.currency,
            "CurrencyExchangeRate": float(i.exchange_rate), "CustomerId": i.customer.id,
            "CustomerNo": i.customer.number, "CustomerReference": i.customer_reference,
            "DeliveryAddress1": d.line1 if d else None, "DeliveryAddress2": d.line2 if d else None,
            "DeliveryAddressCity": d.city if d else None,
            "DeliveryAddressCountryCode": d.country if d else None,
            "DeliveryAddressZipCode": d.zip_code if d else None,
            "DeliveryDate": _day(i.delivery_date), "DeliveryTerm": i.delivery_term,
            "DueDate": _day(i.due_date), "Id": str(i.id),
            "InvoiceDeliveryType": "PdfByEmail", "InvoiceNo": i.invoice_no,
            "IsCreatedByCurrentIntegration": False, "IsReversed": i.is_reversed,
            "LastChangedDateTimeOffset": _stamp(i.last_changed), "MatchId": i.match_id,
            "NetAmount": float(i.net), "NetPostedAmount": float(_money(i.net * i.exchange_rate)),
            "OrderDate": _day(i.order_date), "OrderNo": i.order_no,
            "PaymentTerm": i.payment_term,
            "PurchaseOrderReference": i.purchase_order_reference,
            "RelatedInvoiceNo": i.related_invoice_no,
            "SentDateTimeOffset": _stamp(i.sent), "TotalAmount": float(i.total),
            "TotalPostedAmount": float(i.total_posted), "VoucherDate": _day(i.voucher_date),
            "VoucherNo": i.voucher_no, "VoucherType": i.voucher_type,
        }

    @staticmethod
    def _line_dto(line: _Line) -> dict[str, Any]:
        unset = ("AgricultureDepartment", "DepartmentCode", "DepartmentId", "Dim1Code",
                 "Dim1Id", "Dim2Code", "Dim2Id", "Dim3Code", "Dim3Id", "ExternalImportReference",
                 "LocationCode", "LocationId", "ProjectCode", "ProjectId",
                 "SellersReferenceEmployeeId", "SellersReferenceEmployeeNo",
                 "VatReturnSpecification")
        normal = line.line_type == "Normal"
        total = None if line.net is None else line.net + (line.vat or _ZERO)
        return dict.fromkeys(unset) | {
            "AccountId": 3000 if normal else None, "AccountNo": 3000 if normal else None,
            "Allowance": _num(line.allowance), "Description": line.description, "Id": line.id,
            "IsAccrued": False, "LineType": line.line_type, "NetAmount": _num(line.net),
            "NetPostedAmount": _num(line.net), "ProductCode": line.product_code,
            "ProductId": line.product_id, "ProductUnitCost": _num(line.unit_cost),
            "ProductUnitPrice": _num(line.unit_price), "Quantity": _num(line.quantity),
            "SortOrder": line.sort_order, "TotalAmount": _num(total),
            "TotalPostedAmount": _num(total), "UnitOfMeasureCode": line.unit,
            "VatAmount": _num(line.vat), "VatCode": "3" if normal else None,
            "VatId": 3 if normal else None, "VatRate": _num(line.vat_rate),
        }

    # --- the HTTP side ----------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to serve
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        key = request.headers.get(_SUBSCRIPTION_HEADER)
        label = self._subscriptions[key][1] if key in self._subscriptions else None
        fault = self._take_fault(path)
        if fault is not None:
            response = Response(fault.body, status_code=fault.status, media_type=fault.media_type,
                                headers=fault.headers)
        else:
            response = await self._handle(request, path)
        self.requests.append(LoggedRequest(scope["method"], path, query, response.status_code,
                                           label))
        await response(scope, receive, send)

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path in (None, path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _problem_body(self, status: int, detail: str,
                      errors: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": _PROBLEM_TYPES.get(status, "about:blank"),
            "title": _TITLES.get(status, "Error"), "status": status, "detail": detail,
            "traceId": f"{TRACE_PREFIX}{next(self._ids['trace']):032x}-{secrets.token_hex(8)}-00",
        }
        if errors:
            body["errors"] = dict(errors)
        return body

    def _problem(self, failure: _Fail) -> Response:
        if failure.raw is not None:
            return failure.raw
        return Response(json.dumps(self._problem_body(failure.status, failure.detail,
                                                      failure.errors or None)),
                        status_code=failure.status,
                        media_type="application/problem+json; charset=utf-8")

    @staticmethod
    def _gateway(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """An answer of the API Management gateway [APIM]."""
        return Response(json.dumps({"statusCode": status, "message": message}),
                        status_code=status, media_type="application/json",
                        headers=dict(headers or {}))

    def _route(self, method: str, path: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(environment, operation, path arguments) of a documented route (C1)."""
        for env, prefix in ENVIRONMENTS.items():
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix):]
            if rest == "/OAuth/Token":
                return (env, "token", ()) if method == "POST" else None
            if not rest.startswith("/v2/"):
                continue
            for pattern, methods in _ROUTES:
                match = pattern.fullmatch(rest[len("/v2"):])
                if match is not None:
                    operation = methods.get(method)
                    return None if operation is None else (env, operation, match.groups())
            return None
        return None

    async def _handle(self, request: Request, path: str) -> Response:
        route = self._route(request.method, path)
        if route is None:
            return self._gateway(404, "Resource not found")  # C1
        env, operation, args = route
        key = request.headers.get(_SUBSCRIPTION_HEADER)
        if not key:
            return self._gateway(401, _APIM_MISSING)  # [APIM, V1V2]
        if self._subscriptions.get(key, ("", ""))[0] != env:
            return self._gateway(401, _APIM_INVALID)  # a key of the other environment [V1V2]
        throttled = self._throttle(key)
        if throttled is not None:
            return throttled
        try:
            if operation == "token":
                return await self._token(request, env, key)
            client = self._bearer(request, env, key)
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            handler, roles = _OPERATIONS[operation]
            if roles and not roles & client.privileges:
                raise _Fail(403, f"The integration is not granted any of the privileges "
                                 f"{', '.join(sorted(roles))} on client "
                                 f"'{client.company.name}'. The client must grant one (a Go "
                                 "subscription that includes it); see "
                                 "/ClientIntegrationInformation.")  # [CII] (C6)
            answer: Response = await handler(self, request, client, args)
            return answer
        except _Fail as failure:
            return self._problem(failure)

    def _throttle(self, key: str) -> Response | None:
        """The sliding one-second window per subscription key [REQ, APIM] (C3)."""
        moment = self.rate_clock()
        arrivals = self._arrivals.setdefault(key, deque())
        arrivals.append(moment)
        while arrivals and arrivals[0] <= moment - 1.0:
            arrivals.popleft()
        self._peak[key] = max(self._peak.get(key, 0), len(arrivals))
        if self.rate_limit is None:
            return None
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= moment - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = max(1, math.ceil(window[0] + 1.0 - moment))
            self._throttled[key] = self._throttled.get(key, 0) + 1
            return self._gateway(429, f"Rate limit is exceeded. Try again in {wait} seconds.",
                                 {"Retry-After": str(wait)})
        window.append(moment)
        return None

    async def _token(self, request: Request, env: str, subscription: str) -> Response:
        """The client credentials grant [AUTH, RFC6749] (C4)."""

        def oauth(status: int, error: str, description: str) -> Response:
            headers = {"WWW-Authenticate": 'Basic realm="PowerOffice Go"'} if status == 401 else {}
            headers["Cache-Control"] = "no-store"
            return Response(json.dumps({"error": error, "error_description": description}),
                            status_code=status, media_type="application/json", headers=headers)

        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return oauth(400, "invalid_request",
                         "the body must be application/x-www-form-urlencoded")
        form = parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True)
        if [name for name, _ in form] != ["grant_type"]:
            return oauth(400, "invalid_request", "the body must be grant_type=client_credentials")
        if form[0][1] != "client_credentials":
            return oauth(400, "unsupported_grant_type", "only client_credentials is supported")
        authorization = request.headers.get("authorization", "")
        scheme, _, encoded = authorization.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError("not Basic")
            app_key, colon, client_key = base64.b64decode(
                encoded.strip(), validate=True).decode("utf-8").partition(":")
            if not colon:
                raise ValueError("no colon")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return oauth(401, "invalid_client", "send the application key and the client key "
                                                "as HTTP Basic authentication")
        client = self._clients.get(client_key)
        if (app_key not in self._application_keys[env] or client is None
                or client.environment != env or client.application_key != app_key
                or not client.active):
            return oauth(401, "invalid_client", "the application key and client key are not "
                                                "an active integration in this environment")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(env, client, subscription, self.now() + TOKEN_LIFETIME)
        return Response(json.dumps({"access_token": token, "token_type": "Bearer",
                                    "expires_in": int(TOKEN_LIFETIME.total_seconds())}),
                        media_type="application/json", headers={"Cache-Control": "no-store"})

    def _bearer(self, request: Request, env: str, subscription: str) -> _Client:
        """The access token of an API call (C4)."""

        def refuse(description: str) -> _Fail:
            challenge = f'Bearer error="invalid_token", error_description="{description}"'
            return _Fail(401, description, raw=Response(
                b"", status_code=401, headers={"WWW-Authenticate": challenge}))

        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Fail(401, "no token", raw=Response(
                b"", status_code=401, headers={"WWW-Authenticate": "Bearer"}))
        token = self._tokens.get(value.strip())
        if token is None or token.environment != env:
            raise refuse("The token is not valid")
        if token.subscription != subscription:
            raise refuse("The token was issued for another subscription key")
        if self.now() >= token.expires:
            raise refuse(f"The token expired at '{_stamp(token.expires)}'")
        if not token.client.active:
            raise refuse("The integration is deactivated on the client")
        return token.client

    # --- list machinery (C8 - C11) ----------------------------------------------------------------

    @staticmethod
    def _params(request: Request, filters: Iterable[str], unsimulated: Iterable[str] = (),
                *, listing: bool = True) -> dict[str, str]:
        """The query of a call: ``filters`` and, for a list (``listing``), the
        ResourceParameters (C8, C9)."""
        allowed = set(filters) | (set(_RESOURCE_PARAMETERS) if listing else set())
        not_simulated = set(unsimulated)
        seen: dict[str, str] = {}
        for name, value in parse_qsl(request.url.query, keep_blank_values=True):
            if name in not_simulated:
                raise _bad(name, "documented, but not simulated: the simulator cannot apply "
                                 "this filter (C9)")
            if name not in allowed:
                hint = next((a for a in sorted(allowed | not_simulated)
                             if a.lower() == name.lower()), None)
                raise _bad(name, "unknown query parameter" +
                           (f" (the documented spelling is {hint!r})" if hint else ""))
            if name in seen:
                raise _bad(name, "given more than once")
            seen[name] = value
        return seen

    def _page(self, params: Mapping[str, str], rows: list[dict[str, Any]]) -> Response:
        number = _parse_int("PageNumber", params["PageNumber"], 1) if "PageNumber" in params \
            else 1
        size = _parse_int("PageSize", params["PageSize"], 1) if "PageSize" in params \
            else self.page_size
        if size > self.max_page_size:
            raise _bad("PageSize", f"{size} is larger than MaxPageSize {self.max_page_size}")
        if "UseDatabaseValidation" in params:
            _parse_bool("UseDatabaseValidation", params["UseDatabaseValidation"])
        self._random.shuffle(rows)  # no order without OrderBy (C11)
        if "OrderBy" in params:
            for name, descending in reversed(self._order_by(params["OrderBy"], rows)):
                rows.sort(key=_by(name), reverse=descending)
        if "Fields" in params:
            wanted = _parse_list(params["Fields"])
            known = set(rows[0]) if rows else set()
            unknown = [f for f in wanted if rows and f not in known]
            if not wanted or unknown:
                raise _bad("Fields", f"unknown fields {unknown}" if unknown else "empty")
            rows = [{f: row[f] for f in wanted} for row in rows]
        total = len(rows)
        pages = math.ceil(total / size)
        chunk = rows[(number - 1) * size:number * size]
        if not chunk:
            return Response(status_code=204)  # [SPEC] (C10)
        pagination = {"TotalCount": total, "PageSize": size, "CurrentPage": number,
                      "TotalPages": pages, "HasNext": number < pages, "HasPrevious": number > 1}
        return Response(json.dumps(chunk), media_type="application/json; charset=utf-8",
                        headers={"X-Pagination": json.dumps(pagination)})

    @staticmethod
    def _order_by(text: str, rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
        keys: list[tuple[str, bool]] = []
        for part in _parse_list(text):
            words = part.split()
            if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise _bad("OrderBy", f"{part!r} is not 'Field', 'Field asc' or 'Field desc'")
            if rows and words[0] not in rows[0]:
                raise _bad("OrderBy", f"{words[0]!r} is no property to order by (C11)")
            keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
        if not keys:
            raise _bad("OrderBy", "empty")
        return keys

    @staticmethod
    def _one(rows: Iterable[Any], what: str) -> Any:
        found = next(iter(rows), None)
        if found is None:
            raise _Fail(404, f"{what} was not found")
        return found

    @staticmethod
    def _json(body: Any) -> Response:
        return Response(json.dumps(body), media_type="application/json; charset=utf-8")

    # --- the resources ------------------------------------------------------------------------

    async def _products(self, request: Request, client: _Client,
                        args: tuple[str, ...]) -> Response:
        company = client.company
        params = self._params(request, (
            "codes", "createdDateTimeOffsetGreaterThan", "isArchived",
            "lastChangedDateTimeOffsetGreaterThan",
            "stockOnHandLastChangedDatetimeOffsetGreaterThan", "names", "productGroupCodes",
            "type"))
        found = list(company.products.values())
        if "codes" in params:  # (C12)
            codes = set(_parse_list(params["codes"]))
            found = [p for p in found if p.code in codes]
        if "names" in params:
            names = set(_parse_list(params["names"]))
            found = [p for p in found if p.name in names]
        if "productGroupCodes" in params:
            groups = set(_parse_list(params["productGroupCodes"]))
            found = [p for p in found if company.groups[p.group_id].code in groups]
        if "isArchived" in params:
            archived = _parse_bool("isArchived", params["isArchived"])
            found = [p for p in found if p.is_archived == archived]
        if "type" in params:
            if params["type"] not in PRODUCT_TYPES:
                raise _bad("type", f"{params['type']!r} is not one of {', '.join(PRODUCT_TYPES)}")
            found = [p for p in found if p.product_type == params["type"]]
        if "createdDateTimeOffsetGreaterThan" in params:
            after = _parse_time("createdDateTimeOffsetGreaterThan",
                                params["createdDateTimeOffsetGreaterThan"])
            found = [p for p in found if _ticks(p.created) > after]
        if "lastChangedDateTimeOffsetGreaterThan" in params:
            after = _parse_time("lastChangedDateTimeOffsetGreaterThan",
                                params["lastChangedDateTimeOffsetGreaterThan"])
            found = [p for p in found if _ticks(p.last_changed) > after]
        if "stockOnHandLastChangedDatetimeOffsetGreaterThan" in params:
            after = _parse_time("stockOnHandLastChangedDatetimeOffsetGreaterThan",
                                params["stockOnHandLastChangedDatetimeOffsetGreaterThan"])
            found = [p for p in found
                     if p.stock_changed is not None and _ticks(p.stock_changed) > after]
        return self._page(params, [self._product_dto(company, p) for p in found])

    async def _product(self, request: Request, client: _Client,
                       args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        product = self._one((p for p in client.company.products.values()
                             if str(p.id) == args[0]), f"Product {args[0]}")
        return self._json(self._product_dto(client.company, product))

    async def _patch_product(self, request: Request, client: _Client,
                             args: tuple[str, ...]) -> Response:
        """JSON Patch on a product [SPEC, RFC6902] (C13)."""
        self._params(request, (), listing=False)
        company = client.company
        product: _Product = self._one((p for p in company.products.values()
                                       if str(p.id) == args[0]), f"Product {args[0]}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json-patch+json":
            raise _Fail(415, "The body must be a JSON Patch document with Content-Type "
                             "application/json-patch+json")
        try:
            document = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise _bad("operations", "the body is not JSON") from None
        if not isinstance(document, list) or not document:
            raise _bad("operations", "the body must be a non-empty JSON array of operations")
        draft = _ProductDraft.of(product)
        for n, op in enumerate(document):
            draft.apply(company, product, n, op)
        changed = draft.commit(product, self.now())
        if "StockOnHand" in changed:
            product.stock_writes += 1
        self.patches.append((product.code, document))
        return self._json(self._product_dto(company, product))

    async def _product_groups(self, request: Request, client: _Client,
                              args: tuple[str, ...]) -> Response:
        params = self._params(request, (
            "codes", "createdDateTimeOffsetGreaterThan", "isArchived",
            "lastChangedDateTimeOffsetGreaterThan", "names", "type"))
        found = list(client.company.groups.values())
        if "codes" in params:
            codes = set(_parse_list(params["codes"]))
            found = [g for g in found if g.code in codes]
        if "names" in params:
            names = set(_parse_list(params["names"]))
            found = [g for g in found if g.name in names]
        if "isArchived" in params:
            archived = _parse_bool("isArchived", params["isArchived"])
            found = [g for g in found if g.is_archived == archived]
        if "type" in params:
            if params["type"] not in PRODUCT_TYPES:
                raise _bad("type", f"{params['type']!r} is not one of {', '.join(PRODUCT_TYPES)}")
            found = [g for g in found if g.product_type == params["type"]]
        for name, attribute in (("createdDateTimeOffsetGreaterThan", "created"),
                                ("lastChangedDateTimeOffsetGreaterThan", "last_changed")):
            if name in params:
                after = _parse_time(name, params[name])
                found = [g for g in found if _ticks(getattr(g, attribute)) > after]
        return self._page(params, [self._group_dto(g) for g in found])

    async def _product_group(self, request: Request, client: _Client,
                             args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        group = self._one((g for g in client.company.groups.values() if str(g.id) == args[0]),
                          f"ProductGroup {args[0]}")
        return self._json(self._group_dto(group))

    async def _customers(self, request: Request, client: _Client,
                         args: tuple[str, ...]) -> Response:
        params = self._params(request, (
            "customerCreatedDateTimeOffsetGreaterThan", "customerNos",
            "lastChangedDateTimeOffsetGreaterThan"),
            ("contactGroupIds", "externalImportReference", "externalNos"))
        found = list(client.company.customers.values())
        if "customerNos" in params:
            ranges = _parse_ranges("customerNos", params["customerNos"])
            found = [c for c in found if _in_ranges(c.number, ranges)]
        for name, attribute in (("customerCreatedDateTimeOffsetGreaterThan", "created"),
                                ("lastChangedDateTimeOffsetGreaterThan", "last_changed")):
            if name in params:
                after = _parse_time(name, params[name])
                found = [c for c in found if _ticks(getattr(c, attribute)) > after]
        return self._page(params, [self._customer_dto(c) for c in found])

    async def _customer(self, request: Request, client: _Client,
                        args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        customer = self._one((c for c in client.company.customers.values()
                              if str(c.id) == args[0]), f"Customer {args[0]}")
        return self._json(self._customer_dto(customer))

    async def _delivery_addresses(self, request: Request, client: _Client,
                                  args: tuple[str, ...]) -> Response:
        params = self._params(request, ("contactIds", "createdDateTimeOffsetGreaterThan",
                                        "lastChangedDateTimeOffsetGreaterThan"),
                              ("externalCodes",))
        pairs = [(c, a) for c in client.company.customers.values()
                 for a in c.delivery_addresses]
        if "contactIds" in params:
            ids = _parse_list(params["contactIds"])
            bad = [i for i in ids if not i.isdigit()]
            if bad:
                raise _bad("contactIds", f"not ids: {bad}")
            pairs = [(c, a) for c, a in pairs if str(c.id) in ids]
        for name, attribute in (("createdDateTimeOffsetGreaterThan", "created"),
                                ("lastChangedDateTimeOffsetGreaterThan", "last_changed")):
            if name in params:
                after = _parse_time(name, params[name])
                pairs = [(c, a) for c, a in pairs if _ticks(getattr(a, attribute)) > after]
        return self._page(params, [self._delivery_address_dto(c, a) for c, a in pairs])

    async def _delivery_address(self, request: Request, client: _Client,
                                args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        pair = self._one(((c, a) for c in client.company.customers.values()
                          if str(c.id) == args[0] for a in c.delivery_addresses
                          if str(a.id) == args[1]), f"Delivery address {args[1]}")
        return self._json(self._delivery_address_dto(*pair))

    async def _invoices(self, request: Request, client: _Client,
                        args: tuple[str, ...]) -> Response:
        params = self._params(request, (
            "balanceLastChangedDateTimeOffsetGreaterThan", "customerNos", "fromDate",
            "invoiceIds", "invoiceNos", "onlyCreatedByCurrentIntegration", "onlyUnpaidInvoices",
            "sentDateTimeOffsetGreaterThan", "toDate", "voucherNos"),
            ("customMatchingReferences", "departmentCodes", "includeSubProject", "projectCodes"))
        found = list(client.company.invoices.values())
        for name, attribute in (("customerNos", "customer_no"), ("invoiceNos", "invoice_no"),
                                ("voucherNos", "voucher_no")):
            if name in params:
                ranges = _parse_ranges(name, params[name])
                found = [i for i in found if _in_ranges(
                    i.customer.number if attribute == "customer_no" else getattr(i, attribute),
                    ranges)]
        if "invoiceIds" in params:
            try:
                ids = {uuid.UUID(part) for part in _parse_list(params["invoiceIds"])}
            except ValueError:
                raise _bad("invoiceIds", "not a comma separated list of GUIDs") from None
            found = [i for i in found if i.id in ids]
        if "fromDate" in params:
            start = _parse_date("fromDate", params["fromDate"])
            found = [i for i in found if i.voucher_date >= start]
        if "toDate" in params:
            end = _parse_date("toDate", params["toDate"])
            found = [i for i in found if i.voucher_date <= end]
        if "onlyUnpaidInvoices" in params and _parse_bool("onlyUnpaidInvoices",
                                                          params["onlyUnpaidInvoices"]):
            found = [i for i in found if i.balance != 0]
        if "onlyCreatedByCurrentIntegration" in params and _parse_bool(
                "onlyCreatedByCurrentIntegration", params["onlyCreatedByCurrentIntegration"]):
            found = []  # every simulated invoice was sent by Go's user [SPEC]
        for name, attribute in (("balanceLastChangedDateTimeOffsetGreaterThan",
                                 "balance_changed"),
                                ("sentDateTimeOffsetGreaterThan", "sent")):
            if name in params:
                after = _parse_time(name, params[name])
                found = [i for i in found if _ticks(getattr(i, attribute)) > after]
        return self._page(params, [self._invoice_dto(i) for i in found])

    def _find_invoice(self, client: _Client, text: str) -> _Invoice:
        try:
            wanted = uuid.UUID(text)
        except ValueError:
            raise _bad("id", f"{text!r} is not a GUID") from None
        found: _Invoice = self._one((i for i in client.company.invoices.values()
                                     if i.id == wanted), f"Outgoing invoice {text}")
        return found

    async def _invoice_one(self, request: Request, client: _Client,
                           args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        return self._json(self._invoice_dto(self._find_invoice(client, args[0])))

    async def _invoice_lines(self, request: Request, client: _Client,
                             args: tuple[str, ...]) -> Response:
        params = self._params(request, ())
        invoice = self._find_invoice(client, args[0])
        return self._page(params, [self._line_dto(line) for line in invoice.lines])

    async def _integration_information(self, request: Request, client: _Client,
                                       args: tuple[str, ...]) -> Response:
        self._params(request, (), listing=False)
        return self._json({
            "ActiveClientSubscriptions": sorted({p.removesuffix("_Full")
                                                 for p in client.privileges}),
            "ClientId": str(uuid.uuid5(uuid.NAMESPACE_URL, client.key)),
            "ClientName": client.company.name,
            "InvalidPrivileges": sorted(set(PRIVILEGES) - client.privileges),
            "ValidPrivileges": sorted(client.privileges)})


def _by(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda row: _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then the value (C11)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)


# --- JSON Patch on products (C13) -------------------------------------------------------------

_WRITABLE: dict[str, tuple[str, type | tuple[type, ...], bool]] = {
    "Code": ("code", str, False), "Name": ("name", str, False),
    "Description": ("description", str, True), "Gtin": ("gtin", str, True),
    "IsArchived": ("is_archived", bool, False), "IsStockItem": ("is_stock_item", bool, False),
    "ProductGroupId": ("group_id", int, False), "ProductType": ("product_type", str, False),
    "UnitPrice": ("unit_price", (int, float), True), "UnitCost": ("unit_cost", (int, float), True),
    "UnitOfMeasureCode": ("unit", str, True), "StockOnHand": ("stock_on_hand", (int, float), False),
}
"""ProductDto properties a patch may write: (attribute, JSON type, nullable)."""
_READ_ONLY = frozenset({"Id", "CreatedDateTimeOffset", "CreatedFromImportJournalId",
                        "LastChangedDateTimeOffset", "ProductGroupCode", "StockAvailable",
                        "StockOnHandLastChangedDatetimeOffset", "OptionalSalesAccount",
                        "StandardSalesAccount"})


@dataclass
class _ProductDraft:
    values: dict[str, Any]

    @classmethod
    def of(cls, product: _Product) -> _ProductDraft:
        return cls({attribute: getattr(product, attribute)
                    for attribute, _, _ in _WRITABLE.values()})

    def apply(self, company: _Company, product: _Product, n: int, op: Any) -> None:
        where = f"operations[{n}]"
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) \
                or not isinstance(op.get("path"), str):
            raise _bad(where, "an operation is an object with 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind not in ("replace", "add", "test"):
            raise _bad(where, f"op {kind!r} is not supported: use replace (C13)")
        if "value" not in op:
            raise _bad(where, f"op {kind!r} needs a value")
        name = path[1:] if path.startswith("/") else ""
        if name not in _WRITABLE:
            hint = next((w for w in [*_WRITABLE, *_READ_ONLY] if w.lower() == name.lower()),
                        None)
            if name in _READ_ONLY:
                raise _bad(where, f"{path} is read-only")
            raise _bad(where, f"unknown path {path!r}" + (
                f": properties are PascalCase, write '/{hint}'" if hint else ""))
        attribute, kind_of, nullable = _WRITABLE[name]
        value = op["value"]
        if value is None:
            if not nullable:
                raise _bad(where, f"{path} cannot be null")
        elif isinstance(value, bool) != (kind_of is bool) or not isinstance(value, kind_of):
            raise _bad(where, f"{path} takes a JSON {_json_type(kind_of)}, not {value!r}")
        converted = Decimal(str(value)) if isinstance(value, int | float) \
            and not isinstance(value, bool) and name != "ProductGroupId" else value
        if kind == "test":
            if self.values[attribute] != converted:
                raise _Fail(409, f"test failed: {path} is not {value!r}")
            return
        if name == "StockOnHand" and not self.values["is_stock_item"]:
            raise _bad(where, f"product {product.code} is not a stock item (IsStockItem false): "
                              "its stock on hand cannot be set")
        if name == "ProductGroupId" and value not in company.groups:
            raise _bad(where, f"no product group with id {value}")
        if name == "ProductType" and value not in PRODUCT_TYPES:
            raise _bad(where, f"ProductType is one of {', '.join(PRODUCT_TYPES)}")
        if name == "UnitOfMeasureCode" and value is not None and value not in UNITS:
            raise _bad(where, f"{value!r} is no UnitOfMeasureType")
        if name == "Code" and any(p.code == value and p is not product
                                  for p in company.products.values()):
            raise _bad(where, f"product code {value!r} is taken")
        self.values[attribute] = converted

    def commit(self, product: _Product, moment: datetime) -> set[str]:
        """Apply the draft; the names of the properties that changed."""
        changed = {name for name, (attribute, _, _) in _WRITABLE.items()
                   if getattr(product, attribute) != self.values[attribute]}
        for name in changed:
            setattr(product, _WRITABLE[name][0], self.values[_WRITABLE[name][0]])
        if "StockOnHand" in changed:
            product.stock_changed = moment
        if changed - {"StockOnHand"}:
            product.last_changed = moment
        if product.is_stock_item and product.stock_changed is None:
            product.stock_changed = moment
        return changed


def _json_type(kind: type | tuple[type, ...]) -> str:
    if kind is bool:
        return "boolean"
    if kind is str:
        return "string"
    return "number"


# --- routing ------------------------------------------------------------------------------------

_Handler = Callable[[PowerOfficeSandbox, Request, _Client, tuple[str, ...]], Any]

_OPERATIONS: dict[str, tuple[_Handler, frozenset[str]]] = {
    "products": (PowerOfficeSandbox._products, frozenset({"Product", "Product_Full"})),
    "product": (PowerOfficeSandbox._product, frozenset({"Product", "Product_Full"})),
    "patch_product": (PowerOfficeSandbox._patch_product, frozenset({"Product_Full"})),
    "product_groups": (PowerOfficeSandbox._product_groups,
                       frozenset({"Product", "Product_Full"})),
    "product_group": (PowerOfficeSandbox._product_group, frozenset({"Product", "Product_Full"})),
    "customers": (PowerOfficeSandbox._customers, frozenset({"Customer", "Customer_Full"})),
    "customer": (PowerOfficeSandbox._customer, frozenset({"Customer", "Customer_Full"})),
    "delivery_addresses": (PowerOfficeSandbox._delivery_addresses, frozenset({
        "ContactDeliveryAddress", "ContactDeliveryAddress_Full", "Customer", "Customer_Full"})),
    "delivery_address": (PowerOfficeSandbox._delivery_address, frozenset({
        "ContactDeliveryAddress", "ContactDeliveryAddress_Full", "Customer", "Customer_Full"})),
    "invoices": (PowerOfficeSandbox._invoices,
                 frozenset({"OutgoingInvoice", "OutgoingInvoice_Full"})),
    "invoice": (PowerOfficeSandbox._invoice_one,
                frozenset({"OutgoingInvoice", "OutgoingInvoice_Full"})),
    "invoice_lines": (PowerOfficeSandbox._invoice_lines,
                      frozenset({"OutgoingInvoice", "OutgoingInvoice_Full"})),
    "integration": (PowerOfficeSandbox._integration_information, frozenset()),
}
"""Operation -> (handler, the privileges any of which it needs [SPEC "Auth roles"]) (C6)."""

_ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    (re.compile(r"/Products"), {"GET": "products"}),
    (re.compile(r"/Products/(\d+)"), {"GET": "product", "PATCH": "patch_product"}),
    (re.compile(r"/ProductGroups"), {"GET": "product_groups"}),
    (re.compile(r"/ProductGroups/(\d+)"), {"GET": "product_group"}),
    (re.compile(r"/Customers"), {"GET": "customers"}),
    (re.compile(r"/Customers/(\d+)"), {"GET": "customer"}),
    (re.compile(r"/ContactDeliveryAddresses"), {"GET": "delivery_addresses"}),
    (re.compile(r"/ContactDeliveryAddresses/(\d+)/(\d+)"), {"GET": "delivery_address"}),
    (re.compile(r"/OutgoingInvoices"), {"GET": "invoices"}),
    (re.compile(r"/OutgoingInvoices/([^/]+)"), {"GET": "invoice"}),
    (re.compile(r"/OutgoingInvoices/([^/]+)/Lines"), {"GET": "invoice_lines"}),
    (re.compile(r"/ClientIntegrationInformation"), {"GET": "integration"}),
)
"""The served v2 paths (after ``/v2``) and their operations per HTTP method [SPEC] (C1)."""

_RESOURCE_PARAMETERS = ("PageNumber", "PageSize", "OrderBy", "Fields", "UseDatabaseValidation")
"""ResourceParameters [SPEC] (C10, C11)."""

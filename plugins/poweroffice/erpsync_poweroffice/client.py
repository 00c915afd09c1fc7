"""PowerOffice Go's API v2 as the plugin uses it: tokens, the subscription key, paging, errors.

Returns vendor-shaped data (dicts with PascalCase keys, numbers as Decimal); the mapping turns
them into canonical records. Sources: the developer portal, https://developer.poweroffice.net
(documentation/authentication, documentation/from-v1-to-v2, resources/postman, the v2 API
reference and its OpenAPI specification).

- **Environments**: production and demo share the host ``https://goapi.poweroffice.net`` and
  differ by a path prefix: the token endpoint is ``/OAuth/Token`` (production) or
  ``/Demo/OAuth/Token`` (demo), the API ``/v2`` or ``/Demo/v2``. "It is not possible to mix
  access tokens between the two environments. Subscription-, Application- and Client-Key all
  need to be from the same environment" (documentation/authentication).
- **Authentication**: OAuth 2.0 Client Credentials Grant (RFC 6749 section 4.4): the application
  key as the client id and the client key as the client secret, in HTTP Basic auth on
  ``POST {prefix}/OAuth/Token`` with the form body ``grant_type=client_credentials``. The access
  token "will expire after ... 20 minutes in v2" (resources/postman). It is reused until
  :data:`TOKEN_MARGIN` before it expires, and fetched again once when the API answers 401.
- **Subscription key**: "all api calls made towards the v2 endpoints must include the product
  subscription key found in the developer portal" (documentation/from-v1-to-v2): the header
  ``Ocp-Apim-Subscription-Key`` goes on every call, the token call included.
- **Rate limit**: 10 requests per second per subscription key, for every client (customer)
  that key serves. Every goods owner on one key shares one pacer
  (``RateLimit(key=...)``, keyed by a hash of the key, never the key itself).
- **Lists**: ``PageNumber`` (from 1) and ``PageSize`` (ResourceParameters: "5000 by default",
  at most ``MaxPageSize``); read until a page holds fewer than ``PageSize`` objects or
  ``X-Pagination`` says it was the last; an empty result is ``204 No Content`` with no body.
  The API promises no order: every list asks for one with ``OrderBy``.
- **Errors** are ``ProblemDetails`` (``Type``, ``Title``, ``Status``, ``Detail``,
  ``Instance``): :func:`problem` maps them onto the core's kinds. 401 (after one new token):
  :class:`~erpsync.errors.AuthenticationLost`; 403 ("Integration does not have required
  permission to use endpoint"): :class:`~erpsync.errors.AuthenticationLost` naming the
  privilege (the endpoint's "Auth roles") the customer must grant the integration in Go;
  400/404/409/422 on a write: :class:`~erpsync.errors.RecordRejected`; 5xx: a
  :class:`~erpsync.errors.TransientError`; 429 and 503 are retried by the HTTP layer.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx

from erpsync.errors import (
    AuthenticationLost,
    RecordRejected,
    TransientError,
    VendorError,
)
from erpsync.http import HttpClient, RateLimit, parse_json

from .mapping import fingerprint_key, pascal

__all__ = [
    "API_PATH",
    "ENVIRONMENTS",
    "HOST",
    "PAGE_SIZE_MAX",
    "RATE_LIMIT_PER_SECOND",
    "SUBSCRIPTION_HEADER",
    "TOKEN_MARGIN",
    "TOKEN_PATH",
    "VENDOR",
    "Environment",
    "Keys",
    "PowerOfficeClient",
    "filter_time",
    "problem",
    "rate_limit_for",
]

VENDOR = "poweroffice"
HOST = "https://goapi.poweroffice.net"
Environment = Literal["production", "demo"]
ENVIRONMENTS: Mapping[str, str] = {"production": "", "demo": "/Demo"}
"""The path prefix of each environment under :data:`HOST`."""
TOKEN_PATH = "/OAuth/Token"  # noqa: S105 - a path, not a secret
API_PATH = "/v2"
SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
RATE_LIMIT_PER_SECOND = 10
TOKEN_MARGIN = 60.0
"""Seconds before its expiry at which a token is no longer used."""
TOKEN_LIFETIME = 20 * 60.0
"""Assumed when the token answer gives no ``expires_in``."""
PAGE_SIZE_MAX = 20_000
"""ResourceParameters ``MaxPageSize``: "20 000 by default"."""
ORDER_BY = "Id"
"""Every list is ordered by the object's id: unique and unchanging, so a page break never
reorders records that change during the read."""

PRIVILEGES = {
    "/Products": "Product",
    "/ProductGroups": "Product",
    "/OutgoingInvoices": "OutgoingInvoice",
    "/Customers": "Customer",
}
"""The privilege (the endpoints' "Auth roles") each resource needs to be read; writing products
needs ``Product_Full``."""

ACTIVATE = (
    "a user of the customer's PowerOffice Go client with the administrator role or the "
    "'Settings -> Organization' privilege activates this integration under Menu -> Settings -> "
    "Extensions and gives its client key; application key, client key and subscription key "
    "must all be from the same environment ({environment})"
)
GRANT = (
    "in PowerOffice Go (Menu -> Settings -> Extensions, this integration) grant the privilege "
    "{privilege}; it needs the client's subscription of the matching Go module, which "
    "GET /v2/ClientIntegrationInformation lists"
)

_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class Keys:
    """The three keys of one goods owner's connection. Never shown."""

    application_key: str = field(repr=False)
    client_key: str = field(repr=False)
    subscription_key: str = field(repr=False)


def rate_limit_for(subscription_key: str, environment: str) -> RateLimit:
    """The pacer budget of a subscription key: 9 requests per second, shared by every goods
    owner on the key; the key itself is hashed, never used as the name."""
    # The gateway counts arrivals, not our grants: starts spaced evenly (no burst at a window's
    # edge) and one under the limit, so that network jitter never lands an eleventh call in
    # its second (measured: bursts of 10 drew 429s over loopback, docs/benchmarks.md).
    return RateLimit(
        requests=RATE_LIMIT_PER_SECOND - 1, per=1.0, even=True,
        key=f"{VENDOR}:{environment}:{fingerprint_key(subscription_key)}",
    )


def filter_time(since: datetime) -> str:
    """A ``...GreaterThan`` filter value for "changed at or after ``since``".

    The v2 filters are "not inclusive"; the value is one millisecond earlier, in UTC, ISO 8601
    (a record or two too many costs nothing; one too few is lost)."""
    moment = (since - timedelta(milliseconds=1)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _body(response: httpx.Response) -> Any:
    """The JSON body with numbers as Decimal and keys PascalCase."""
    if not response.content.strip():
        return parse_json(response)  # raises ResponseInvalid naming the call
    try:
        value = json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError):
        return parse_json(response)  # raises ResponseInvalid naming the call
    return pascal(value)


def _problem_text(response: httpx.Response) -> tuple[str | None, str | None]:
    """``Title`` and ``Detail`` of a ProblemDetails body (or APIM's ``message``)."""
    try:
        body = pascal(json.loads(response.content)) if response.content.strip() else None
    except (ValueError, RecursionError):
        excerpt = response.text.strip()[:_MESSAGE_CHARS]
        return None, excerpt or None
    if not isinstance(body, dict):
        return None, None
    title = body.get("Title") or body.get("Error")
    detail = body.get("Detail") or body.get("Message") or body.get("Error_description")
    errors = body.get("Errors")
    if isinstance(errors, dict) and errors:
        listed = "; ".join(f"{name}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                           for name, v in errors.items())
        detail = f"{detail} ({listed})" if detail else listed
    return (str(title)[:_MESSAGE_CHARS] if title else None,
            str(detail)[:_MESSAGE_CHARS] if detail else None)


def problem(
    response: httpx.Response,
    *,
    action: str,
    privilege: str,
    environment: str,
    key: str | None = None,
    write: bool = False,
) -> Exception:
    """The error for a failed answer (``response.status_code`` >= 400)."""
    status = response.status_code
    title, detail = _problem_text(response)
    said = ": ".join(part for part in (title, detail) if part) or f"HTTP {status}"
    where = f"{VENDOR} {action}"
    if status == 401:
        return AuthenticationLost(
            f"{where}: PowerOffice Go refused the keys (HTTP 401: {said})",
            action=ACTIVATE.format(environment=environment), vendor_message=said, status=status,
        )
    if status == 403:
        return AuthenticationLost(
            f"{where}: the integration lacks the privilege {privilege} on this PowerOffice Go "
            f"client (HTTP 403: {said})",
            action=GRANT.format(privilege=privilege), vendor_message=said, status=status,
        )
    if status >= 500:
        return TransientError(f"{where}: HTTP {status}: {said}", maybe_sent=write,
                              vendor_message=said, status=status)
    if write and status in (400, 404, 409, 422):
        return RecordRejected(f"{where}: PowerOffice Go refused {key or 'the record'}: {said}",
                              key=key, vendor_message=said, status=status)
    return VendorError(f"{where} failed: HTTP {status}: {said}", vendor_message=said,
                       status=status)


def _last_page(response: httpx.Response, page: int, count: int, size: int) -> bool:
    if count < size:
        return True
    header = response.headers.get("X-Pagination")
    if header:
        try:
            info = pascal(json.loads(header))
        except (ValueError, RecursionError):
            return False
        if isinstance(info, dict):
            total = info.get("TotalPages")
            if isinstance(total, int) and not isinstance(total, bool):
                return page >= total
            if info.get("HasNext") is False:
                return True
    return False


class PowerOfficeClient:
    """One goods owner's connection (one PowerOffice Go client) for one cycle."""

    def __init__(
        self,
        host: str,
        environment: Environment,
        keys: Keys,
        *,
        page_size: int = 1000,
        timeout: float = 60.0,
        rate_limit: RateLimit | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = 5,
    ) -> None:
        if environment not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {environment!r}: production or demo")
        self.environment = environment
        self.page_size = page_size
        self._keys = keys
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self.tokens_fetched = 0
        self._http = HttpClient(
            host.rstrip("/") + ENVIRONMENTS[environment],
            vendor=VENDOR,
            headers={SUBSCRIPTION_HEADER: keys.subscription_key, "Accept": "application/json"},
            timeout=timeout,
            rate_limit=rate_limit or rate_limit_for(keys.subscription_key, environment),
            transport=transport,
            max_attempts=max_attempts,
        )
        self._group_names: dict[str, str] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> HttpClient:
        return self._http

    # -- tokens --

    async def token(self, *, renew: bool = False) -> str:
        """The access token: the one held while it has more than :data:`TOKEN_MARGIN` seconds
        left, else a new one from the token endpoint."""
        if not renew and self._token is not None and self._clock() < self._expires:
            return self._token
        self._token = None
        basic = base64.b64encode(
            f"{self._keys.application_key}:{self._keys.client_key}".encode()).decode("ascii")
        started = self._clock()
        response = await self._http.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"}, idempotent=True,
        )
        if response.status_code in (400, 401, 403):
            title, detail = _problem_text(response)
            said = ": ".join(part for part in (title, detail) if part) or (
                f"HTTP {response.status_code}")
            raise AuthenticationLost(
                f"{VENDOR}: the token endpoint refused the application key, client key or "
                f"subscription key ({said})",
                action=ACTIVATE.format(environment=self.environment),
                vendor_message=said, status=response.status_code,
            )
        if response.status_code >= 300:
            raise problem(response, action="token", privilege="-",
                          environment=self.environment)
        body = parse_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorError(f"{VENDOR}: the token answer has no access_token")
        lifetime = body.get("expires_in", TOKEN_LIFETIME)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = TOKEN_LIFETIME
        self._token = token
        self._expires = started + max(0.0, seconds - TOKEN_MARGIN)
        self.tokens_fetched += 1
        return token

    # -- requests --

    async def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        key: str | None = None,
        write: bool = False,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One API call under ``/v2`` with the bearer token; a 401 gets one new token and one
        more try. Answers of 400 and above become the errors of :func:`problem`."""
        renewed = False
        while True:
            token = await self.token(renew=renewed)
            headers = {"Authorization": f"Bearer {token}"}
            if content_type:
                headers["Content-Type"] = content_type
            response = await self._http.request(
                method, API_PATH + path, params=dict(params) if params else None,
                content=content, headers=headers, idempotent=idempotent,
            )
            if response.status_code == 401 and not renewed:
                renewed = True
                continue
            if response.status_code >= 400:
                raise problem(response, action=action, privilege=self._privilege(path, write),
                              environment=self.environment, key=key, write=write)
            return response

    @staticmethod
    def _privilege(path: str, write: bool) -> str:
        resource = "/" + path.strip("/").split("/", 1)[0]
        name = PRIVILEGES.get(resource, resource.strip("/"))
        return f"{name}_Full" if write else name

    async def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, action: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The objects of a list resource, page by page, ordered by id."""
        page = 1
        while True:
            query = dict(params or {}) | {"OrderBy": ORDER_BY, "PageNumber": page,
                                          "PageSize": self.page_size}
            response = await self.call("GET", path, params=query, action=action)
            if response.status_code == 204:
                return
            body = _body(response)
            if not isinstance(body, list):
                raise VendorError(f"{VENDOR} {action}: expected a JSON list, got "
                                  f"{type(body).__name__}")
            items = [item for item in body if isinstance(item, dict)]
            if items:
                yield items
            if _last_page(response, page, len(body), self.page_size):
                return
            page += 1

    async def ping(self) -> None:
        """One cheap authorised read: the client's integration information."""
        await self.call("GET", "/ClientIntegrationInformation",
                        action="read the client integration information")

    # -- resources --

    def products(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        params = {} if since is None else {
            "lastChangedDateTimeOffsetGreaterThan": filter_time(since)}
        return self.pages("/Products", params, action="read products")

    async def products_by_code(self, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The products with these codes, by code (``codes`` filter, comma separated)."""
        found: dict[str, dict[str, Any]] = {}
        if not codes:
            return found
        async for page in self.pages("/Products", {"codes": ",".join(codes)},
                                     action="read products by code"):
            for product in page:
                code = product.get("Code")
                if isinstance(code, str) and code.strip() in codes:
                    found[code.strip()] = product
        return found

    async def group_names(self) -> dict[str, str]:
        """Product group id -> name, read once per cycle."""
        from .mapping import group_names

        if self._group_names is None:
            groups: list[dict[str, Any]] = []
            async for page in self.pages("/ProductGroups", action="read product groups"):
                groups.extend(page)
            self._group_names = group_names(groups)
        return self._group_names

    def paid_invoice_pages(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Outgoing invoices whose balance changed since ``since`` (the caller keeps the paid
        ones)."""
        params = {} if since is None else {
            "balanceLastChangedDateTimeOffsetGreaterThan": filter_time(since)}
        return self.pages("/OutgoingInvoices", params, action="read outgoing invoices")

    async def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        async for page in self.pages(f"/OutgoingInvoices/{invoice_id}/Lines",
                                     action=f"read the lines of invoice {invoice_id}"):
            lines.extend(page)
        return lines

    async def customers(self, numbers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The customers with these numbers, by number (``customerNos`` filter)."""
        found: dict[str, dict[str, Any]] = {}
        if not numbers:
            return found
        async for page in self.pages("/Customers", {"customerNos": ",".join(numbers)},
                                     action="read customers"):
            for customer in page:
                number = customer.get("Number")
                if number is not None:
                    found[str(number)] = customer
        return found

    async def set_stock(self, product_id: str, patch: list[dict[str, Any]], *, key: str) -> None:
        """JSON Patch the product (``PATCH /v2/Products/{id}``, ``application/json-patch+json``):
        an absolute value, safe to repeat."""
        await self.call(
            "PATCH", f"/Products/{product_id}", action=f"set the stock on hand of {key}",
            content=json.dumps(patch).encode("utf-8"),
            content_type="application/json-patch+json", key=key, write=True, idempotent=True,
        )

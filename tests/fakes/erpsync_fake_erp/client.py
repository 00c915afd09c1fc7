"""The Fake ERP's API as the plugin uses it: auth, paging, endpoints, errors.

Returns vendor-shaped dicts; :mod:`erpsync_fake_erp.mapping` turns them into canonical records.
Vendor answers map onto :mod:`erpsync.errors` kinds:

- 401: :class:`~erpsync.errors.AuthenticationLost` (issue a new API key; with OAuth the
  token is refreshed once first, by :class:`OAuthBearer`);
- 422: :class:`~erpsync.errors.RecordRejected` with the vendor's message and the business key;
- 5xx left over by the HTTP layer: :class:`~erpsync.errors.TransientError`;
- any other 4xx (a 400 means this client sent a bad request): :class:`~erpsync.errors.VendorError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from erpsync.errors import (
    AuthenticationLost,
    RecordRejected,
    ResponseInvalid,
    TransientError,
    VendorError,
)
from erpsync.http import HttpClient, parse_json
from erpsync.oauth import RotatingTokens

__all__ = ["VENDOR", "FakeErpClient", "OAuthBearer"]

VENDOR = "fake-erp"
NEW_KEY_ACTION = "issue a new API key and set it in the config"
JsonDict = dict[str, Any]


class OAuthBearer(httpx.Auth):
    """``Authorization: Bearer`` with an OAuth access token; on a 401 the token is refreshed
    once (unless another refresher already did) and the request sent again."""

    def __init__(self, tokens: RotatingTokens) -> None:
        self._tokens = tokens

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self._tokens.after_unauthorized(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


class FakeErpClient:
    """One connection to the Fake ERP (one per goods owner and cycle), authenticated by an
    API key or by OAuth tokens."""

    def __init__(
        self, base_url: str, api_key: str | None = None, *, tokens: RotatingTokens | None = None,
        page_size: int = 50,
    ) -> None:
        self._page_size = page_size
        if tokens is not None:
            self._http = HttpClient(base_url, vendor=VENDOR, auth=OAuthBearer(tokens))
        else:
            self._http = HttpClient(
                base_url, vendor=VENDOR, headers={"Authorization": f"Bearer {api_key}"}
            )

    async def aclose(self) -> None:
        """Close the connection."""
        await self._http.aclose()

    async def ping(self) -> None:
        """One cheap authenticated read."""
        response = await self._http.get("/products", params={"page_size": 1})
        _read(response, "read products")

    async def iterate(self, resource: str, since: datetime | None) -> AsyncIterator[JsonDict]:
        """Yield every record of ``resource`` changed at or after ``since``, each number once.

        The API pages by offset over live data, where a record changed between two requests
        moves to the end and shifts the rest forward, so a plain ``page += 1`` can skip one.
        Instead each request restarts at the last ``modified_at`` seen (``>=``, page 1) and
        records already yielded are dropped; only while a whole page shares the timestamp it
        started from does the page number advance.
        """
        seen: set[str] = set()
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page, "page_size": self._page_size}
            if since is not None:
                params["modified_since"] = since.isoformat()
            response = await self._http.get(f"/{resource}", params=params)
            body = _object(_read(response, f"list {resource}"), f"list {resource}")
            items, total_pages = body.get("items"), body.get("total_pages")
            if not isinstance(items, list) or not isinstance(total_pages, int):
                raise _invalid(response, "expected items and total_pages")
            last: datetime | None = None
            for item in items:
                record = _object(item, f"list {resource}")
                number, modified_at = record.get("number"), record.get("modified_at")
                if not isinstance(number, str) or not isinstance(modified_at, str):
                    raise _invalid(response, "a record lacks number or modified_at")
                last = _timestamp(modified_at, response)
                if number not in seen:
                    seen.add(number)
                    yield record
            if page >= total_pages or last is None:
                return
            if since is None or last > since:
                since, page = last, 1
            else:
                page += 1

    async def create(self, resource: str, body: JsonDict, *, key: str) -> str:
        """POST ``body`` to ``resource``; return the id the ERP gave it."""
        response = await self._http.post(f"/{resource}", json=body)
        answer = _object(_read(response, f"create {resource}", key=key), f"create {resource}")
        reference = answer.get("id")
        if not isinstance(reference, str) or not reference:
            raise _invalid(response, "expected an id")
        return reference

    async def find(self, resource: str, event_id: str) -> str | None:
        """The id of the ``resource`` record written for ``event_id``, or None."""
        response = await self._http.get(f"/{resource}", params={"event_id": event_id})
        body = _object(_read(response, f"look up {resource}"), f"look up {resource}")
        items = body.get("items")
        if not isinstance(items, list):
            raise _invalid(response, "expected items")
        for item in items:
            reference = _object(item, f"look up {resource}").get("id")
            if isinstance(reference, str) and reference:
                return reference
        return None

    async def set_stock(self, article: str, quantity: str) -> None:
        """Set the stock level of ``article`` (absolute)."""
        response = await self._http.put(
            f"/stock/{quote(article, safe='')}", json={"quantity": quantity}
        )
        _read(response, "set stock", key=article)


def _read(response: httpx.Response, action: str, *, key: str | None = None) -> Any:
    """The JSON body of a 2xx answer; any other status raised as its error kind."""
    status = response.status_code
    if 200 <= status < 300:
        return parse_json(response)
    message = _vendor_message(response)
    if status == 401:
        raise AuthenticationLost(
            f"{VENDOR} refused the API key ({action}): {message}",
            action=NEW_KEY_ACTION, vendor_message=message, status=status,
        )
    if status == 422:
        raise RecordRejected(
            f"{VENDOR} rejected {key or 'the record'} ({action}): {message}",
            key=key, vendor_message=message, status=status,
        )
    if status >= 500:
        raise TransientError(
            f"{VENDOR} failed to {action}: HTTP {status} {message}",
            maybe_sent=response.request.method != "GET",
            vendor_message=message, status=status,
        )
    raise VendorError(
        f"{VENDOR} refused to {action}: HTTP {status} {message}",
        vendor_message=message, status=status,
    )


def _vendor_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text[:200]


def _object(value: Any, action: str) -> JsonDict:
    if not isinstance(value, dict):
        raise ResponseInvalid(f"{VENDOR} {action}: expected a JSON object", maybe_sent=True)
    return value


def _invalid(response: httpx.Response, problem: str) -> ResponseInvalid:
    request = response.request
    return ResponseInvalid(
        f"{VENDOR} {request.method} {request.url.path}: {problem}", maybe_sent=True,
        status=response.status_code,
    )


def _timestamp(text: str, response: httpx.Response) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(response, f"modified_at {text!r} is not ISO-8601") from None
    if value.tzinfo is None:
        raise _invalid(response, f"modified_at {text!r} has no UTC offset")
    return value

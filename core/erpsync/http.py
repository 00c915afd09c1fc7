"""The HTTP client every vendor plugin uses: paced, retried, capped and never leaking a secret.

A plugin makes one :class:`HttpClient` per goods owner connection and maps the answers it gets
onto the :mod:`erpsync.errors` kinds; everything that is the same for every vendor lives here::

    client = HttpClient(
        "https://api.example.com/v1",
        vendor="example",
        auth=ExampleAuth(settings),  # an httpx.Auth: runs on every attempt (fresh nonce, MAC)
        rate_limit=RateLimit(requests=60, per=60.0, concurrency=1),
    )
    async with client:
        response = await client.get("/articles", params={"changedSince": cursor})
        if response.status_code == 401:
            raise AuthenticationLost("example refused the API key", action="...")
        articles = parse_json(response)

What :meth:`HttpClient.request` does for every call:

- **Pacing.** Before every attempt, retries included, it waits for its turn under the
  :class:`RateLimit`: at most ``requests`` attempts start in any sliding window of ``per``
  seconds, and at most ``concurrency`` are in flight at once. Clients whose limits carry the
  same ``key`` share one budget (one vendor subscription used for many goods owners): in this
  process, and across processes and hosts once :func:`share_budgets` is given a store of
  shared budgets (the PostgreSQL state store is one). Pacing waits; it never fails.
- **Bounded retries** (tenacity), at most ``max_attempts`` attempts in all:

  ======================================================  =====================================
  what happened                                           retried
  ======================================================  =====================================
  connection refused, connect or pool timeout             always (nothing reached the vendor)
  other transport failure (read timeout, dropped link)    only when the call is idempotent
  HTTP 429, HTTP 503                                      always, after Retry-After if given
  HTTP 502, HTTP 504                                      only when the call is idempotent
  any other status (2xx, 3xx, 4xx, 500)                   never: returned to the plugin as is
  ======================================================  =====================================

  GET, HEAD, PUT, DELETE, OPTIONS and TRACE are idempotent, POST and PATCH are not; the caller
  may say otherwise with ``idempotent=``. Without Retry-After the wait grows exponentially from
  ``backoff`` seconds (with a little jitter), never beyond ``max_wait``. A Retry-After longer
  than ``max_wait`` is a spent budget: :class:`~erpsync.errors.TransientError` is raised at
  once, with ``retry_after`` set, so the flow stops cleanly and the next cycle tries again.
  When the attempts run out, :class:`~erpsync.errors.TransientError` says what happened, how
  many attempts were made and whether the request may have reached the vendor
  (``maybe_sent``). 500 is not retried: vendors answer validation errors with it too.
- **A body size cap.** The body is streamed and at most ``max_body_bytes`` (decoded) bytes are
  read (the client's cap, or the call's own); a longer one raises
  :class:`~erpsync.errors.ResponseInvalid`. The response returned is
  fully read, so ``.content``, ``.text`` and ``.json()`` work.
- **Counting.** ``client.stats`` counts this client's attempts; :func:`count_requests` counts
  the attempts of every client used inside a block (the flows report requests per run with it);
  :func:`vendor_totals` counts the process's attempts by vendor (the service's metrics).
- **Logging** to ``erpsync.http``: one DEBUG line per attempt (vendor, method, path, status,
  milliseconds) and one WARNING per retry (why, how long the wait). Headers, query strings and
  bodies are never logged, and registered secrets are masked in the path.

Vendor answers are untrusted input: :func:`parse_json` and :func:`parse_xml` turn a body that
cannot be read into :class:`~erpsync.errors.ResponseInvalid` naming the call, and
:func:`parse_xml` never loads a DTD, never reaches the network and never expands an entity;
:func:`iter_xml` reads a long XML list the same way one element at a time.

:func:`mount` connects clients to an in-process ASGI app (a vendor simulator) instead of the
network, for tests and ``erpsync demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import email.utils
import functools
import io
import ipaddress
import logging
import re
import ssl
import time
import weakref
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    MutableMapping,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NoReturn, Protocol, Self, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx
import tenacity
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from erpsync.errors import ResponseInvalid, TransientError
from erpsync.secrets import redact

__all__ = [
    "ASGIApp",
    "HttpClient",
    "RateLimit",
    "RequestOptions",
    "RequestStats",
    "SharedBudgets",
    "check_base_url",
    "count_requests",
    "is_loopback",
    "iter_xml",
    "mount",
    "parse_json",
    "parse_xml",
    "retry_after_seconds",
    "share_budgets",
    "stop_sharing",
    "vendor_totals",
    "window_wait",
]

log = logging.getLogger("erpsync.http")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one loads the CA bundle, which
    costs tens of milliseconds of CPU, and every goods owner makes new clients each cycle."""
    return httpx.create_ssl_context()


def check_base_url(value: str, *, example: str) -> str:
    """A vendor API's base URL from the operator's settings, checked: http(s) with a host, no
    credentials, query or fragment, plain http only for loopback (the simulators); returned
    without a trailing slash. Raises ValueError naming the fix (``example`` shows one)."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"give the API URL, e.g. {example}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("give the URL without credentials, query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("use https: plain http is only accepted for localhost")
    return url


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
"""An ASGI application, such as a starlette app simulating a vendor."""

QueryParams = Mapping[str, Any] | list[tuple[str, Any]]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_VENDOR_MESSAGE_CHARS = 500
_EXCERPT_CHARS = 200
_VENDOR_EXTENSION = "erpsync.vendor"


# --- rate limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """How fast a client may call its vendor."""

    requests: int
    """At most this many attempts start ..."""
    per: float
    """... in any sliding window of this many seconds."""
    key: str | None = field(default=None, repr=False)
    """Clients whose limits have the same key share one budget (many goods owners on one vendor
    subscription); ``None`` keeps the budget private to the client. Not shown in ``repr``, in
    case a plugin uses a credential as the key."""
    concurrency: int | None = None
    """At most this many requests in flight at once (1: one call at a time); ``None``: no
    limit."""
    even: bool = False
    """Start attempts at least ``per / requests`` seconds apart: no bursts. For a vendor that
    counts arrivals in a window of its own, where a burst granted here at the window's edge
    plus a little network jitter lands one call too many in the vendor's window."""

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError(f"RateLimit.requests must be at least 1, not {self.requests}")
        if not self.per > 0:
            raise ValueError(f"RateLimit.per must be more than 0 seconds, not {self.per}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(
                f"RateLimit.concurrency must be at least 1 or None, not {self.concurrency}"
            )


def window_wait(count: int, first: float | None, last: float | None, now: float,
                requests: int, per: float, even: bool) -> float | None:
    """The sliding-window rule every rate budget keeps (this process's pacer and the state
    stores' shared budgets): given the ``count`` attempts started in the last ``per`` seconds,
    the ``first`` and ``last`` of them, ``None`` if one more may start ``now``, else the seconds
    to wait."""
    gap = per / requests
    if count < requests:
        if not even or last is None or now >= last + gap:
            return None
        return last + gap - now
    assert first is not None
    return first + per - now


class _Pacer:
    """One rate budget: the start times of recent attempts and the calls now in flight."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._starts: deque[float] = deque()
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._lock = asyncio.Lock()
        self._slots: asyncio.Semaphore | None = None

    def _bind(self) -> None:
        """asyncio locks belong to one event loop: make new ones when the loop changes."""
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop() is not loop:
            self._loop = weakref.ref(loop)
            self._lock = asyncio.Lock()
            concurrency = self.limit.concurrency
            self._slots = None if concurrency is None else asyncio.Semaphore(concurrency)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a free slot and a place in the window; hold the slot until the exit."""
        self._bind()
        slots = self._slots
        if slots is None:
            await self._wait_for_window()
            yield
            return
        async with slots:
            await self._wait_for_window()
            yield

    async def _wait_for_window(self) -> None:
        requests, per = self.limit.requests, self.limit.per
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                starts = self._starts
                while starts and starts[0] <= now - per:
                    starts.popleft()
                wait = window_wait(len(starts), starts[0] if starts else None,
                                   starts[-1] if starts else None, now, requests, per,
                                   self.limit.even)
                if wait is None:
                    starts.append(now)
                    break
                await asyncio.sleep(wait)
            budgets, key = _shared_budgets, self.limit.key
            while budgets is not None and key is not None:
                # Other processes on this key count too (the lock keeps this process's turn).
                wait = await asyncio.to_thread(budgets.claim, key, requests, per,
                                               self.limit.even)
                if wait <= 0:
                    return
                await asyncio.sleep(wait)
                self._starts[-1] = time.monotonic()


class SharedBudgets(Protocol):
    """Rate budgets shared with other processes and hosts (the PostgreSQL state store has
    them): a keyed :class:`RateLimit` asks here too, after its own process's pacer."""

    def claim(self, key: str, requests: int, per: float, even: bool) -> float:
        """Count one attempt for ``key`` now if its budget allows: 0.0; else the seconds to
        wait before asking again."""
        ...


_shared_budgets: SharedBudgets | None = None


def share_budgets(budgets: SharedBudgets | None) -> None:
    """Keyed rate limits are kept across processes through ``budgets`` from now on (None:
    in this process only)."""
    global _shared_budgets
    _shared_budgets = budgets


def stop_sharing(budgets: SharedBudgets) -> None:
    """Forget ``budgets`` if they are the ones shared (their store is closing)."""
    global _shared_budgets
    if _shared_budgets is budgets:
        _shared_budgets = None


_shared_pacers: dict[str, _Pacer] = {}


def _pacer_for(limit: RateLimit) -> _Pacer:
    if limit.key is None:
        return _Pacer(limit)
    pacer = _shared_pacers.get(limit.key)
    if pacer is None:
        pacer = _shared_pacers[limit.key] = _Pacer(limit)
    elif pacer.limit != limit:
        raise ValueError(
            f"rate limit key {redact(limit.key)!r} is already used with requests="
            f"{pacer.limit.requests}, per={pacer.limit.per}, concurrency="
            f"{pacer.limit.concurrency}, even={pacer.limit.even}: clients sharing a key must "
            "give the same limit"
        )
    return pacer


# --- counting ------------------------------------------------------------------------------


@dataclass
class RequestStats:
    """What a client (or a :func:`count_requests` block) did."""

    requests: int = 0
    """HTTP attempts that may have reached the vendor (retries included; an attempt that could
    not connect is not counted)."""
    retries: int = 0
    """Attempts that were followed by another one."""
    throttled: int = 0
    """HTTP 429 answers received."""
    errors: int = 0
    """Calls that ended in an exception (:class:`~erpsync.errors.TransientError` or
    :class:`~erpsync.errors.ResponseInvalid`) rather than a response."""


_counters: contextvars.ContextVar[tuple[RequestStats, ...]] = contextvars.ContextVar(
    "erpsync_http_counters", default=()
)


@contextlib.contextmanager
def count_requests() -> Iterator[RequestStats]:
    """Count what every :class:`HttpClient` does inside the block into the yielded stats.

    Tasks created inside the block count too (they copy the context). Blocks nest: an attempt
    counts in every enclosing block.
    """
    stats = RequestStats()
    token = _counters.set((*_counters.get(), stats))
    try:
        yield stats
    finally:
        _counters.reset(token)


_totals: dict[str, RequestStats] = {}


def vendor_totals() -> dict[str, RequestStats]:
    """What every client of this process did since it started, by vendor name (the service's
    metrics): a copy."""
    return {vendor: dataclasses.replace(stats) for vendor, stats in _totals.items()}


def _bump(client: HttpClient, counter: str) -> None:
    total = _totals.get(client.vendor)
    if total is None:
        total = _totals[client.vendor] = RequestStats()
    for stats in (client.stats, total, *_counters.get()):
        setattr(stats, counter, getattr(stats, counter) + 1)


# --- mounting simulators -------------------------------------------------------------------

_mounts: list[tuple[str, ASGIApp]] = []


@contextlib.contextmanager
def mount(base_url: str, app: ASGIApp) -> Iterator[None]:
    """While the block runs, clients created for URLs under ``base_url`` talk to ``app``.

    Only clients created inside the block without an explicit ``transport`` are affected; they
    keep using ``app`` after the block ends. A URL is under ``base_url`` when it is equal to it
    or continues it after a ``/`` (``https://a.example`` does not cover ``https://a.example.org``).
    Mounts may nest and overlap: the latest one that covers a URL wins.
    """
    entry = (base_url.rstrip("/"), app)
    _mounts.append(entry)
    try:
        yield
    finally:
        for index in range(len(_mounts) - 1, -1, -1):
            if _mounts[index] is entry:
                del _mounts[index]
                break


def _mounted_app(base_url: str) -> ASGIApp | None:
    url = base_url.rstrip("/") + "/"
    for prefix, app in reversed(_mounts):
        if url.startswith(prefix + "/"):
            return app
    return None


# --- the client ----------------------------------------------------------------------------


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`HttpClient.request` and its per-method shortcuts."""

    params: QueryParams | None
    json: Any
    content: str | bytes | None
    data: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    idempotent: bool | None
    max_body_bytes: int | None


class _Retry(Exception):
    """One attempt failed in a way another attempt may fix (internal to this module)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.vendor_message = vendor_message


@dataclass
class _Call:
    """One call of :meth:`HttpClient.request`, across its attempts."""

    method: str
    where: str
    """``vendor METHOD /path`` with secrets masked: for messages and log lines."""
    idempotent: bool
    build: Callable[[], httpx.Request]
    first: httpx.Request | None = None
    """The request of the first attempt, built once to name the call (later attempts build
    their own, so that the client's auth signs each afresh)."""
    replay: _Retry | None = None
    """The first attempt's failure, handed to the retry loop as its own first outcome."""
    max_body_bytes: int = 0
    """The body cap of this call."""
    maybe_sent: bool = False
    attempts: int = 0

    @property
    def attempt(self) -> str:
        return f"attempt {self.attempts}" if self.attempts > 1 else "the first attempt"


async def _retry_sleep(seconds: float) -> None:
    """The sleep between attempts (a seam for tests); pacing sleeps on its own."""
    await asyncio.sleep(seconds)


class HttpClient:
    """An asynchronous HTTP client for one vendor connection (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        rate_limit: RateLimit | None = None,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        max_body_bytes: int = 20_000_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        if backoff < 0 or max_wait < 0:
            raise ValueError("backoff and max_wait must not be negative")
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        self.vendor = vendor
        self.base_url = base_url
        self.stats = RequestStats()
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._max_body_bytes = max_body_bytes
        self._backoff = tenacity.wait_exponential(
            multiplier=backoff, max=max_wait
        ) + tenacity.wait_random(0, backoff)
        self._pacer = None if rate_limit is None else _pacer_for(rate_limit)
        if transport is None:
            app = _mounted_app(base_url)
            if app is not None:
                transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            verify=_ssl_context(),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def get(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """:meth:`request` with GET."""
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """:meth:`request` with POST."""
        return await self.request("POST", url, **options)

    async def put(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """:meth:`request` with PUT."""
        return await self.request("PUT", url, **options)

    async def patch(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """:meth:`request` with PATCH."""
        return await self.request("PATCH", url, **options)

    async def delete(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """:meth:`request` with DELETE."""
        return await self.request("DELETE", url, **options)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        content: str | bytes | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        """Send a request, paced and retried; return the vendor's fully read response.

        ``url`` is relative to the base URL (or absolute). ``idempotent`` defaults by method.
        ``max_body_bytes`` replaces the client's cap for this call (an answer the vendor does
        not page, such as a whole catalogue in one list).
        Headers that must change on every attempt (timestamps, nonces, signatures) belong in
        the client's ``httpx.Auth``, which runs on every attempt; ``headers`` are sent as given.

        Raises:
            TransientError: the vendor did not answer usably within the retries, or asked to
                wait longer than ``max_wait``, or a non-idempotent call failed in a way that
                may have reached it.
            ResponseInvalid: the body exceeds ``max_body_bytes`` or cannot be decoded.
        """
        method = method.upper()
        build = functools.partial(
            self._client.build_request,
            method,
            url,
            params=params,
            json=json,
            content=content,
            data=data,
            headers=headers,
        )
        first = build()
        call = _Call(
            method=method,
            where=f"{self.vendor} {method} {redact(first.url.path)}",
            idempotent=method in _IDEMPOTENT if idempotent is None else idempotent,
            build=build,
            first=first,
            max_body_bytes=self._max_body_bytes if max_body_bytes is None else max_body_bytes,
        )
        if call.max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        try:
            try:
                # Most calls succeed at once: the retry loop is set up only for those that don't.
                return await self._attempt(call)
            except _Retry as error:
                call.replay = error
            retrying = tenacity.AsyncRetrying(
                sleep=_retry_sleep,
                stop=tenacity.stop_after_attempt(self._max_attempts),
                wait=self._wait,
                retry=tenacity.retry_if_exception_type(_Retry),
                before_sleep=functools.partial(self._before_retry, call),
                retry_error_callback=functools.partial(self._give_up, call),
            )
            response: httpx.Response = await retrying(self._attempt, call)
        except TransientError:
            _bump(self, "errors")
            raise
        return response

    # -- one attempt --

    async def _attempt(self, call: _Call) -> httpx.Response:
        if call.replay is not None:  # the retry loop's first outcome: the attempt made already
            error, call.replay = call.replay, None
            raise error
        call.attempts += 1
        request, call.first = call.first or call.build(), None
        if self._pacer is None:
            return await self._send(call, request)
        async with self._pacer.turn():
            return await self._send(call, request)

    async def _send(self, call: _Call, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            response = await self._exchange(call, request)
        except httpx.UnsupportedProtocol as error:
            raise TransientError(f"{call.where}: {error}", maybe_sent=False) from error
        except _NEVER_SENT as error:
            self._log_attempt(call, type(error).__name__, started)
            raise _Retry(f"{type(error).__name__} (not sent)") from error
        except BaseException as error:
            _bump(self, "requests")
            self._log_attempt(call, type(error).__name__, started)
            if not isinstance(error, httpx.TransportError):
                raise
            call.maybe_sent = True
            if call.idempotent:
                raise _Retry(type(error).__name__) from error
            raise TransientError(
                f"{call.where}: {type(error).__name__} on {call.attempt}; not retried because"
                " the call is not idempotent and may have been carried out",
                maybe_sent=True,
            ) from error
        _bump(self, "requests")
        status = response.status_code
        self._log_attempt(call, str(status), started)
        if status == 429:
            _bump(self, "throttled")
        if status not in (429, 502, 503, 504):
            return response
        maybe_sent = status in (502, 504)
        call.maybe_sent = call.maybe_sent or maybe_sent
        vendor_message = response.text[:_VENDOR_MESSAGE_CHARS] or None
        if maybe_sent and not call.idempotent:
            raise TransientError(
                f"{call.where}: HTTP {status} on {call.attempt}; not retried because the call is"
                " not idempotent and may have been carried out",
                maybe_sent=True,
                status=status,
                vendor_message=vendor_message,
            )
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > self._max_wait:
            raise TransientError(
                f"{call.where}: HTTP {status} on {call.attempt}; the vendor asks to wait"
                f" {retry_after:g} s, longer than this client waits ({self._max_wait:g} s):"
                " try again later",
                maybe_sent=call.maybe_sent,
                retry_after=retry_after,
                status=status,
                vendor_message=vendor_message,
            )
        raise _Retry(
            f"HTTP {status}",
            status=status,
            retry_after=retry_after,
            vendor_message=vendor_message,
        )

    async def _exchange(self, call: _Call, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read at most ``max_body_bytes`` of the answer."""
        response = await self._client.send(request, stream=True)
        limit = call.max_body_bytes
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ResponseInvalid(
                        f"{call.where}: the response body exceeds {limit} bytes",
                        maybe_sent=True,
                        status=response.status_code,
                    )
        except httpx.DecodingError as error:
            raise ResponseInvalid(
                f"{call.where}: the response body cannot be decoded: {error}",
                maybe_sent=True,
                status=response.status_code,
            ) from error
        finally:
            await response.aclose()
        # What Response.aread() does, with the cap: the body is now read and the stream closed.
        response._content = bytes(body)
        response.extensions[_VENDOR_EXTENSION] = self.vendor
        return response

    def _log_attempt(self, call: _Call, outcome: str, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("%s -> %s in %.0f ms", call.where, outcome, elapsed_ms)

    # -- tenacity callbacks --

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retry) and error.retry_after is not None:
            return error.retry_after
        return min(self._max_wait, self._backoff(state))

    def _before_retry(self, call: _Call, state: tenacity.RetryCallState) -> None:
        _bump(self, "retries")
        error = state.outcome.exception() if state.outcome is not None else None
        reason = error.reason if isinstance(error, _Retry) else repr(error)
        log.warning(
            "%s: %s; attempt %d of %d in %.2f s",
            call.where,
            reason,
            state.attempt_number + 1,
            self._max_attempts,
            state.next_action.sleep if state.next_action is not None else 0.0,
        )

    def _give_up(self, call: _Call, state: tenacity.RetryCallState) -> NoReturn:
        error = state.outcome.exception() if state.outcome is not None else None
        if not isinstance(error, _Retry):  # pragma: no cover - only _Retry is retried
            raise RuntimeError(f"unexpected retry outcome {error!r}")
        attempts = state.attempt_number
        raise TransientError(
            f"{call.where}: gave up after {attempts} attempt{'s' if attempts > 1 else ''};"
            f" last: {error.reason}",
            maybe_sent=call.maybe_sent,
            retry_after=error.retry_after,
            status=error.status,
            vendor_message=error.vendor_message,
        ) from error.__cause__


# --- reading answers -----------------------------------------------------------------------


def _describe(response: httpx.Response) -> str:
    vendor = response.extensions.get(_VENDOR_EXTENSION)
    try:
        request = response.request
    except RuntimeError:
        return str(vendor or "vendor")
    return f"{vendor or request.url.host} {request.method} {redact(request.url.path)}"


def _invalid(response: httpx.Response, problem: str) -> ResponseInvalid:
    excerpt = response.text[:_EXCERPT_CHARS]
    return ResponseInvalid(
        f"{_describe(response)}: {problem}; the body begins: {excerpt!r}",
        maybe_sent=True,
        status=response.status_code,
        vendor_message=excerpt or None,
    )


def parse_json(response: httpx.Response) -> Any:
    """The JSON value in ``response``'s body.

    Raises:
        ResponseInvalid: the body is empty or not JSON; the message names the call and quotes
            the start of the body (secrets masked).
    """
    if not response.content.strip():
        raise _invalid(response, "expected JSON, the body is empty")
    try:
        return response.json()
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError: ValueError
        raise _invalid(response, f"the body is not valid JSON ({error})") from error


def parse_xml(response: httpx.Response) -> etree._Element:
    """The root element of the XML document in ``response``'s body, parsed safely.

    No DTD is loaded, nothing is fetched from the network, no entity is expanded, and libxml2's
    limits on depth and text size stay on. A document that declares entities, or refers to
    entities declared elsewhere (an external DTD), is refused.

    Raises:
        ResponseInvalid: the body is not well-formed XML or uses entities.
    """
    parser = etree.XMLParser(**_SAFE_XML)
    try:
        root = etree.fromstring(response.content, parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise _invalid(response, f"the body is not well-formed XML ({error})") from error
    if root is None:
        raise _invalid(response, "the body holds no XML element")
    _refuse_entities(response, root)
    return root


_SAFE_XML: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
}
"""libxml2's options for vendor XML: no DTD, no network, no entity expansion, limits on."""


def _refuse_entities(response: httpx.Response, element: etree._Element) -> None:
    """Refuse ``element``'s document if it declares entities, or ``element`` if it refers to
    one (without a DTD an entity reference is a syntax error already)."""
    docinfo = element.getroottree().docinfo
    if docinfo.doctype:
        dtd = docinfo.internalDTD
        if dtd is not None and any(True for _ in dtd.iterentities()):
            raise _invalid(response, "the XML declares entities, which are refused")
        if any(True for _ in element.iter(etree.Entity)):
            raise _invalid(response, "the XML refers to entities it does not declare")


def iter_xml(response: httpx.Response, tags: Collection[str]) -> Iterator[etree._Element]:
    """The elements named ``tags`` in ``response``'s XML body, in document order, each whole
    (its children parsed), parsed as safely as :func:`parse_xml` does.

    For a long list the vendor sends in one answer: once the next element is asked for, an
    element is emptied and the elements before it are dropped from the tree, so the parsed
    list is never held whole (the body itself is, by the response). Keep what you need of an
    element before asking for the next.

    Raises:
        ResponseInvalid: the body is not well-formed XML or uses entities (possibly after some
            elements were yielded).
    """
    events = etree.iterparse(io.BytesIO(response.content), events=("end",), tag=tuple(tags),
                             **_SAFE_XML)
    doctype: bool | None = None  # the document's DTD is looked at once, with its first element
    try:
        for _, element in events:
            if doctype is None:
                doctype = bool(element.getroottree().docinfo.doctype)
                _refuse_entities(response, element)
            elif doctype:
                _refuse_entities(response, element)
            yield element
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except (etree.XMLSyntaxError, ValueError) as error:
        raise _invalid(response, f"the body is not well-formed XML ({error})") from error


_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for, in seconds; ``None`` if absent or unreadable.

    Both forms of RFC 9110 §10.2.3 are read: delta-seconds (``120``; a decimal fraction is
    accepted too) and an HTTP-date, counted from ``now`` (default: the current time; a date
    in the past means 0).
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())

"""Tests for erpsync.http: pacing, retries, body cap, safe parsing, counting, mounting."""

from __future__ import annotations

import asyncio
import copy
import gzip
import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from erpsync import http
from erpsync.errors import ResponseInvalid, TransientError
from erpsync.http import (
    HttpClient,
    RateLimit,
    count_requests,
    iter_xml,
    mount,
    parse_json,
    parse_xml,
    retry_after_seconds,
)
from erpsync.secrets import register_secret

BASE = "https://vendor.test/api"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Answer = tuple[int, str | bytes, dict[str, str]]


def ok(body: str = '{"ok": true}') -> Answer:
    return (200, body, {"content-type": "application/json"})


def status(code: int, body: str = "", **headers: str) -> Answer:
    return (code, body, {k.replace("_", "-"): v for k, v in headers.items()})


@dataclass
class Vendor:
    """A scripted vendor: answers in order (the last one repeats) and records every request."""

    answers: list[Answer]
    delay: float = 0.0
    seen: list[Request] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            self.arrivals.append(time.monotonic())
            self.seen.append(request)
            answer = self.answers[min(len(self.seen), len(self.answers)) - 1]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
            code, body, headers = answer
            return Response(body, status_code=code, headers=headers)

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)])

    @property
    def hits(self) -> int:
        return len(self.seen)


def client_for(vendor: Vendor, **options: object) -> HttpClient:
    options.setdefault("backoff", 0.001)
    return HttpClient(
        BASE,
        vendor="acme",
        transport=httpx.ASGITransport(app=vendor.app),
        **options,  # type: ignore[arg-type]
    )


class ScriptedTransport(httpx.AsyncBaseTransport):
    """Raises the scripted exceptions in order, then answers 200."""

    def __init__(self, *failures: type[httpx.TransportError]) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)("scripted failure", request=request)
        return httpx.Response(200, json={"ok": True})


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the waits between attempts instead of sleeping."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(http, "_retry_sleep", fake_sleep)
    return recorded


# --- retries on status -----------------------------------------------------------------------


async def test_429_with_retry_after_zero_is_retried_then_succeeds() -> None:
    vendor = Vendor([status(429, "slow down", Retry_After="0"), ok()])
    async with client_for(vendor) as client:
        response = await client.get("/articles")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert vendor.hits == 2
    assert client.stats.throttled == 1
    assert client.stats.retries == 1
    assert client.stats.requests == 2
    assert client.stats.errors == 0


async def test_retry_after_seconds_are_waited(sleeps: list[float]) -> None:
    vendor = Vendor([status(429, Retry_After="7"), ok()])
    async with client_for(vendor, max_wait=60.0) as client:
        response = await client.get("/articles")
    assert response.status_code == 200
    assert sleeps == [7.0]


async def test_retry_after_http_date_is_waited(sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    vendor = Vendor([status(503, Retry_After=when), ok()])
    async with client_for(vendor) as client:
        await client.get("/articles")
    assert len(sleeps) == 1
    assert 27.0 <= sleeps[0] <= 30.0


async def test_retry_after_is_really_slept() -> None:
    vendor = Vendor([status(429, Retry_After="1"), ok()])
    async with client_for(vendor) as client:
        await client.get("/articles")
    assert vendor.arrivals[1] - vendor.arrivals[0] >= 0.95


async def test_without_retry_after_the_wait_grows_exponentially(sleeps: list[float]) -> None:
    vendor = Vendor([status(429), status(429), status(429), ok()])
    async with client_for(vendor, backoff=1.0, max_wait=2.5) as client:
        await client.get("/articles")
    assert len(sleeps) == 3
    assert 1.0 <= sleeps[0] <= 2.0
    assert 2.0 <= sleeps[1] <= 2.5
    assert sleeps[2] == 2.5  # capped at max_wait


async def test_retry_after_beyond_max_wait_raises_at_once(sleeps: list[float]) -> None:
    vendor = Vendor([status(429, '{"error": "quota"}', Retry_After="120"), ok()])
    async with client_for(vendor, max_wait=60.0) as client:
        with pytest.raises(TransientError) as caught:
            await client.get("/articles")
    error = caught.value
    assert error.retry_after == 120.0
    assert error.status == 429
    assert error.maybe_sent is False
    assert error.vendor_message == '{"error": "quota"}'
    assert vendor.hits == 1
    assert sleeps == []
    assert client.stats.errors == 1
    assert "first attempt" in str(error)


async def test_retry_after_beyond_max_wait_on_a_later_attempt(sleeps: list[float]) -> None:
    vendor = Vendor([status(503, Retry_After="1"), status(429, Retry_After="3600")])
    async with client_for(vendor, max_wait=60.0) as client:
        with pytest.raises(TransientError) as caught:
            await client.get("/articles")
    assert sleeps == [1.0]
    assert caught.value.retry_after == 3600.0
    assert "attempt 2" in str(caught.value)


async def test_503_is_retried() -> None:
    vendor = Vendor([status(503), status(503, Retry_After="0"), ok()])
    async with client_for(vendor) as client:
        response = await client.post("/orders", json={"n": 1})
    assert response.status_code == 200
    assert vendor.hits == 3
    assert client.stats.retries == 2


@pytest.mark.parametrize("code", [502, 504])
async def test_502_and_504_on_post_are_not_retried(code: int) -> None:
    vendor = Vendor([status(code, "gateway trouble"), ok()])
    async with client_for(vendor) as client:
        with pytest.raises(TransientError) as caught:
            await client.post("/orders", json={"n": 1})
    assert vendor.hits == 1
    assert caught.value.maybe_sent is True
    assert caught.value.status == code
    assert caught.value.vendor_message == "gateway trouble"
    assert "not idempotent" in str(caught.value)


@pytest.mark.parametrize("code", [502, 504])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_502_and_504_on_idempotent_methods_are_retried(method: str, code: int) -> None:
    vendor = Vendor([status(code), ok()])
    async with client_for(vendor) as client:
        response = await client.request(method, "/orders/1")
    assert response.status_code == 200
    assert vendor.hits == 2


async def test_patch_is_not_idempotent_by_default() -> None:
    vendor = Vendor([status(502), ok()])
    async with client_for(vendor) as client:
        with pytest.raises(TransientError):
            await client.patch("/orders/1", json={"qty": 7})
    assert vendor.hits == 1


async def test_caller_can_declare_idempotency() -> None:
    vendor = Vendor([status(502), ok(), status(502), ok()])
    async with client_for(vendor) as client:
        response = await client.post("/orders/1/state", json={"delivered": 7}, idempotent=True)
        assert response.status_code == 200
        assert vendor.hits == 2
        with pytest.raises(TransientError):
            await client.get("/orders/next-number", idempotent=False)
    assert vendor.hits == 3


async def test_exhaustion_raises_transient_error_naming_the_attempts() -> None:
    vendor = Vendor([status(503, "down for maintenance", Retry_After="0")])
    async with client_for(vendor, max_attempts=3) as client:
        with pytest.raises(TransientError) as caught:
            await client.get("/articles", params={"page": 2})
    error = caught.value
    assert vendor.hits == 3
    assert "acme GET /api/articles" in str(error)
    assert "3 attempts" in str(error)
    assert "page" not in str(error)
    assert error.status == 503
    assert error.maybe_sent is False
    assert error.retry_after == 0.0
    assert error.vendor_message == "down for maintenance"
    assert client.stats.requests == 3
    assert client.stats.retries == 2
    assert client.stats.errors == 1


async def test_vendor_message_is_cut_to_500_characters() -> None:
    vendor = Vendor([status(503, "x" * 2000)])
    async with client_for(vendor, max_attempts=1) as client:
        with pytest.raises(TransientError) as caught:
            await client.get("/articles")
    assert caught.value.vendor_message == "x" * 500
    assert "1 attempt;" in str(caught.value)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422, 500])
async def test_other_statuses_are_returned_unchanged(code: int) -> None:
    vendor = Vendor([status(code, '{"message": "no such customer"}'), ok()])
    async with client_for(vendor) as client:
        response = await client.post("/orders", json={})
    assert response.status_code == code
    assert response.json() == {"message": "no such customer"}
    assert vendor.hits == 1
    assert client.stats.retries == 0


# --- retries on transport errors ---------------------------------------------------------------


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_connection_failures_are_retried_even_for_post(
    failure: type[httpx.TransportError],
) -> None:
    transport = ScriptedTransport(failure, failure)
    async with HttpClient(BASE, vendor="acme", transport=transport, backoff=0.001) as client:
        response = await client.post("/orders", json={"n": 1})
    assert response.json() == {"ok": True}
    assert transport.calls == 3
    assert client.stats.retries == 2
    assert client.stats.requests == 1  # the failed attempts never reached the vendor


async def test_connection_failures_exhausted_say_not_sent() -> None:
    transport = ScriptedTransport(*[httpx.ConnectError] * 10)
    async with HttpClient(
        BASE, vendor="acme", transport=transport, backoff=0.001, max_attempts=4
    ) as client:
        with pytest.raises(TransientError) as caught:
            await client.post("/orders", json={"n": 1})
    assert transport.calls == 4
    assert caught.value.maybe_sent is False
    assert "4 attempts" in str(caught.value)
    assert "ConnectError" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_read_timeout_on_post_is_not_retried() -> None:
    transport = ScriptedTransport(httpx.ReadTimeout)
    async with HttpClient(BASE, vendor="acme", transport=transport, backoff=0.001) as client:
        with pytest.raises(TransientError) as caught:
            await client.post("/orders", json={"n": 1})
    assert transport.calls == 1
    assert caught.value.maybe_sent is True
    assert client.stats.requests == 1


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
async def test_other_transport_errors_on_get_are_retried(
    failure: type[httpx.TransportError],
) -> None:
    transport = ScriptedTransport(failure)
    async with HttpClient(BASE, vendor="acme", transport=transport, backoff=0.001) as client:
        response = await client.get("/articles")
    assert response.status_code == 200
    assert transport.calls == 2


async def test_maybe_sent_if_any_attempt_may_have_arrived() -> None:
    transport = ScriptedTransport(httpx.ReadTimeout, httpx.ConnectError, httpx.ConnectError)
    async with HttpClient(
        BASE, vendor="acme", transport=transport, backoff=0.001, max_attempts=3
    ) as client:
        with pytest.raises(TransientError) as caught:
            await client.put("/articles/1", json={})
    assert caught.value.maybe_sent is True


async def test_unsupported_scheme_is_not_retried() -> None:
    async with HttpClient("ftp://vendor.test", vendor="acme", backoff=0.001) as client:
        with pytest.raises(TransientError) as caught:
            await client.get("/x")
    assert caught.value.maybe_sent is False
    assert client.stats.retries == 0


async def test_auth_runs_on_every_attempt() -> None:
    class NonceAuth(httpx.Auth):
        def __init__(self) -> None:
            self.counter = itertools.count()

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
            request.headers["X-Nonce"] = str(next(self.counter))
            yield request

    vendor = Vendor([status(503, Retry_After="0"), ok()])
    async with HttpClient(
        BASE, vendor="acme", auth=NonceAuth(), transport=httpx.ASGITransport(app=vendor.app)
    ) as client:
        await client.get("/articles")
    assert [r.headers["X-Nonce"] for r in vendor.seen] == ["0", "1"]


# --- pacing ------------------------------------------------------------------------------------

TOLERANCE = 0.015  # the app sees a request a little after the pacer lets it go


def assert_window(arrivals: list[float], requests: int, per: float) -> None:
    arrivals = sorted(arrivals)
    for earlier, later in zip(arrivals, arrivals[requests:], strict=False):
        assert later - earlier >= per - TOLERANCE, arrivals


async def test_rate_limit_keeps_the_sliding_window() -> None:
    vendor = Vendor([ok()])
    started = time.monotonic()
    async with client_for(vendor, rate_limit=RateLimit(requests=3, per=0.2)) as client:
        await asyncio.gather(*(client.get(f"/articles/{n}") for n in range(10)))
    assert vendor.hits == 10
    assert_window(vendor.arrivals, 3, 0.2)
    assert time.monotonic() - started >= 0.6 - TOLERANCE


async def test_an_even_rate_limit_starts_attempts_apart_never_in_a_burst() -> None:
    vendor = Vendor([ok()])
    limit = RateLimit(requests=4, per=0.2, even=True)
    async with client_for(vendor, rate_limit=limit) as client:
        await asyncio.gather(*(client.get(f"/articles/{n}") for n in range(8)))
    arrivals = sorted(vendor.arrivals)
    assert_window(arrivals, 4, 0.2)
    # Bursts of 4 would end after one window (0.2 s); starts 0.05 s apart take 7 gaps. One
    # late arrival may shorten one gap, so the span, not each gap, is what is asserted.
    assert arrivals[-1] - arrivals[0] >= 7 * 0.05 - TOLERANCE, arrivals


async def test_without_rate_limit_requests_are_not_paced() -> None:
    vendor = Vendor([ok()])
    async with client_for(vendor) as client:
        await asyncio.gather(*(client.get(f"/articles/{n}") for n in range(10)))
    assert max(vendor.arrivals) - min(vendor.arrivals) < 0.2


async def test_retries_are_paced_too() -> None:
    vendor = Vendor([status(503, Retry_After="0"), ok()])
    async with client_for(vendor, rate_limit=RateLimit(requests=1, per=0.15)) as client:
        await client.get("/articles")
    assert vendor.arrivals[1] - vendor.arrivals[0] >= 0.15 - TOLERANCE


async def test_clients_with_the_same_key_share_one_window() -> None:
    vendor = Vendor([ok()])
    limit = RateLimit(requests=2, per=0.2, key=f"subscription-{uuid.uuid4()}")
    async with client_for(vendor, rate_limit=limit) as a, client_for(vendor, rate_limit=limit) as b:
        await asyncio.gather(*(c.get("/articles") for c in (a, b, a, b, a, b)))
    assert_window(vendor.arrivals, 2, 0.2)


async def test_clients_without_a_key_have_their_own_windows() -> None:
    vendor = Vendor([ok()])
    limit = RateLimit(requests=2, per=0.5)
    async with client_for(vendor, rate_limit=limit) as a, client_for(vendor, rate_limit=limit) as b:
        await asyncio.gather(*(c.get("/articles") for c in (a, b, a, b)))
    assert max(vendor.arrivals) - min(vendor.arrivals) < 0.25


def test_a_shared_key_must_keep_one_limit() -> None:
    key = f"subscription-{uuid.uuid4()}"
    HttpClient(BASE, vendor="acme", rate_limit=RateLimit(requests=2, per=1.0, key=key))
    with pytest.raises(ValueError, match="same limit"):
        HttpClient(BASE, vendor="acme", rate_limit=RateLimit(requests=5, per=1.0, key=key))


def test_rate_limit_key_is_not_in_repr() -> None:
    assert "hunter22" not in repr(RateLimit(requests=1, per=1.0, key="hunter22"))


@pytest.mark.parametrize(
    "arguments",
    [
        {"requests": 0, "per": 1.0},
        {"requests": 1, "per": 0.0},
        {"requests": 1, "per": 1.0, "concurrency": 0},
    ],
)
def test_rate_limit_refuses_nonsense(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RateLimit"):
        RateLimit(**arguments)  # type: ignore[arg-type]


async def test_concurrency_one_means_one_call_at_a_time() -> None:
    vendor = Vendor([ok()], delay=0.02)
    limit = RateLimit(requests=100, per=1.0, concurrency=1)
    async with client_for(vendor, rate_limit=limit) as client:
        await asyncio.gather(*(client.get("/articles") for _ in range(5)))
    assert vendor.hits == 5
    assert vendor.max_in_flight == 1


async def test_concurrency_limit_is_reached_but_not_exceeded() -> None:
    vendor = Vendor([ok()], delay=0.02)
    limit = RateLimit(requests=100, per=1.0, concurrency=3)
    async with client_for(vendor, rate_limit=limit) as client:
        await asyncio.gather(*(client.get("/articles") for _ in range(8)))
    assert vendor.max_in_flight == 3


async def test_concurrency_is_shared_by_key() -> None:
    vendor = Vendor([ok()], delay=0.02)
    limit = RateLimit(requests=100, per=1.0, key=f"owner-{uuid.uuid4()}", concurrency=1)
    async with client_for(vendor, rate_limit=limit) as a, client_for(vendor, rate_limit=limit) as b:
        await asyncio.gather(*(c.get("/articles") for c in (a, b, a, b)))
    assert vendor.max_in_flight == 1


# --- body cap ----------------------------------------------------------------------------------


async def test_body_within_the_cap_is_returned_fully_read() -> None:
    vendor = Vendor([(200, "a" * 1000, {})])
    async with client_for(vendor, max_body_bytes=1000) as client:
        response = await client.get("/big")
    assert response.is_closed
    assert response.content == b"a" * 1000
    assert response.text == "a" * 1000


async def test_body_over_the_cap_is_refused() -> None:
    vendor = Vendor([(200, "a" * 1001, {})])
    async with client_for(vendor, max_body_bytes=1000) as client:
        with pytest.raises(ResponseInvalid, match="exceeds 1000 bytes") as caught:
            await client.get("/big")
    assert caught.value.maybe_sent is True
    assert vendor.hits == 1
    assert client.stats.errors == 1


async def test_the_cap_applies_to_the_decompressed_body() -> None:
    bomb = gzip.compress(b"0" * 1_000_000)
    vendor = Vendor([(200, bomb, {"content-encoding": "gzip"})])
    async with client_for(vendor, max_body_bytes=100_000) as client:
        with pytest.raises(ResponseInvalid, match="exceeds 100000 bytes"):
            await client.get("/big")
    assert len(bomb) < 100_000


async def test_gzip_body_is_decoded() -> None:
    vendor = Vendor([(200, gzip.compress(b'{"a": 1}'), {"content-encoding": "gzip"})])
    async with client_for(vendor) as client:
        response = await client.get("/small")
    assert parse_json(response) == {"a": 1}


async def test_undecodable_body_is_response_invalid() -> None:
    vendor = Vendor([(200, b"not gzip at all", {"content-encoding": "gzip"})])
    async with client_for(vendor) as client:
        with pytest.raises(ResponseInvalid, match="cannot be decoded"):
            await client.get("/small")


# --- parsing -----------------------------------------------------------------------------------


async def fetch(body: str | bytes, path: str = "/articles?page=1&apikey=qwerty") -> httpx.Response:
    vendor = Vendor([(200, body, {})])
    async with client_for(vendor) as client:
        return await client.get(path)


async def test_parse_json_reads_json() -> None:
    assert parse_json(await fetch('{"rows": [1, 2]}')) == {"rows": [1, 2]}


async def test_parse_json_names_the_call_and_quotes_the_body() -> None:
    response = await fetch("<html>Service Unavailable</html>")
    with pytest.raises(ResponseInvalid) as caught:
        parse_json(response)
    message = str(caught.value)
    assert "acme GET /api/articles" in message
    assert "not valid JSON" in message
    assert "<html>Service Unavailable</html>" in message
    assert "qwerty" not in message
    assert caught.value.status == 200


@pytest.mark.parametrize(
    "body", ["", "   ", '{"rows": [1, 2', "[" * 100_000 + "]" * 100_000, b"\xff\xfe{"]
)
async def test_parse_json_refuses_broken_bodies(body: str | bytes) -> None:
    response = await fetch(body)
    with pytest.raises(ResponseInvalid):
        parse_json(response)


async def test_parse_json_quotes_at_most_200_characters() -> None:
    response = await fetch("x" * 1000)
    with pytest.raises(ResponseInvalid) as caught:
        parse_json(response)
    assert "x" * 200 in str(caught.value)
    assert "x" * 201 not in str(caught.value)


async def test_parse_xml_reads_xml() -> None:
    root = parse_xml(await fetch('<?xml version="1.0" encoding="utf-8"?><Root><A>ä</A></Root>'))
    assert root.tag == "Root"
    assert root.findtext("A") == "ä"


Parse = Callable[[httpx.Response], Any]


def _last_of_iter_xml(response: httpx.Response) -> Any:
    """iter_xml's reading of a document whose root is ``r`` (or anything): its last element."""
    found = None
    for element in iter_xml(response, ["r", "Root", "lolz"]):
        found = copy.deepcopy(element)  # iter_xml empties an element once the next is asked for
    return found


@pytest.fixture(params=[parse_xml, _last_of_iter_xml], ids=["parse_xml", "iter_xml"])
def parse(request: pytest.FixtureRequest) -> Parse:
    """Both XML readers refuse the same documents in the same way."""
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("body", ["", "<Root><A></Root>", "not xml", "<?xml version='1.0'?>"])
async def test_parse_xml_refuses_malformed_documents(body: str, parse: Parse) -> None:
    with pytest.raises(ResponseInvalid, match="acme GET /api/articles"):
        parse(await fetch(body))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


async def test_parse_xml_does_not_expand_billion_laughs(parse: Parse) -> None:
    started = time.monotonic()
    with pytest.raises(ResponseInvalid) as caught:
        parse(await fetch(BILLION_LAUGHS))
    assert "lollollol" not in str(caught.value)
    assert time.monotonic() - started < 1.0


async def test_parse_xml_refuses_internal_entities(parse: Parse) -> None:
    document = '<!DOCTYPE r [<!ENTITY e "expanded">]><r>&e;</r>'
    with pytest.raises(ResponseInvalid, match="declares entities"):
        parse(await fetch(document))


async def test_parse_xml_accepts_a_doctype_without_entities(parse: Parse) -> None:
    root = parse(await fetch('<!DOCTYPE r SYSTEM "http://vendor.test/r.dtd"><r>plain</r>'))
    assert root.text == "plain"


async def test_parse_xml_does_not_read_external_entities(tmp_path: Path, parse: Parse) -> None:
    secret_file = tmp_path / "passwd"
    secret_file.write_text("root:x:0:0:TOPSECRET")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
        "<r>&xxe;</r>"
    )
    with pytest.raises(ResponseInvalid) as caught:
        parse(await fetch(document))
    assert "TOPSECRET" not in str(caught.value)


async def test_parse_xml_does_not_load_external_dtds(tmp_path: Path, parse: Parse) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY secret "TOPSECRET">')
    document = f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{dtd.as_uri()}"><r>&secret;</r>'
    with pytest.raises(ResponseInvalid, match="does not declare") as caught:
        parse(await fetch(document))
    assert "TOPSECRET" not in str(caught.value)


async def test_parse_xml_refuses_parameter_entities(tmp_path: Path, parse: Parse) -> None:
    secret_file = tmp_path / "passwd"
    secret_file.write_text("TOPSECRET")
    document = f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{secret_file.as_uri()}"> %p;]><r>plain</r>'
    with pytest.raises(ResponseInvalid, match="entities") as caught:
        parse(await fetch(document))
    assert "TOPSECRET" not in str(caught.value)


async def test_iter_xml_yields_each_element_whole_and_drops_those_done() -> None:
    items = "".join(f"<Item><Key>{n}</Key><Name>Nimi {n} ä</Name></Item>" for n in range(5))
    response = await fetch(f"<Root><Status>OK</Status><List>{items}</List></Root>")
    seen = []
    for element in iter_xml(response, ["Status", "Item"]):
        seen.append((element.tag, element.findtext("Key"), element.findtext("Name")))
        if element.tag == "Item":  # at most the one before is left, and emptied
            previous = element.getprevious()
            assert previous is None or (len(previous) == 0 and previous.getprevious() is None)
    assert seen == [("Status", None, None)] + [("Item", str(n), f"Nimi {n} ä") for n in range(5)]


async def test_iter_xml_refuses_a_body_that_breaks_off_after_some_elements() -> None:
    response = await fetch("<Root><Item>1</Item><Item>2</Item><Item>")
    elements = iter_xml(response, ["Item"])
    seen = [next(elements).text, next(elements).text]
    with pytest.raises(ResponseInvalid, match="not well-formed"):
        next(elements)
    assert seen == ["1", "2"]


async def test_the_body_cap_can_be_raised_for_one_call() -> None:
    vendor = Vendor([(200, "a" * 1001, {}), (200, "a" * 1001, {})])
    async with client_for(vendor, max_body_bytes=1000) as client:
        response = await client.get("/big", max_body_bytes=2000)
        with pytest.raises(ResponseInvalid, match="exceeds 1000 bytes"):
            await client.get("/big")
    assert len(response.content) == 1001


def test_parsers_work_on_responses_not_made_by_the_client() -> None:
    response = httpx.Response(200, content=b"{oops")
    with pytest.raises(ResponseInvalid, match="not valid JSON"):
        parse_json(response)


# --- Retry-After -------------------------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("-5", None),
        ("soon", None),
        ("12 s", None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


def test_retry_after_seconds_accepts_a_naive_now() -> None:
    naive = NOW.replace(tzinfo=None)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=naive) == 60.0


def test_retry_after_seconds_defaults_to_the_current_time() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=100), usegmt=True)
    waited = retry_after_seconds(later)
    assert waited is not None
    assert 98.0 <= waited <= 100.0


# --- secrets and logs --------------------------------------------------------------------------


async def test_secrets_do_not_reach_error_messages_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    register_secret(secret)
    vendor = Vendor([status(503, f"invalid token {secret} for customer", Retry_After="0")])
    caplog.set_level(logging.DEBUG, logger="erpsync.http")
    async with client_for(vendor, max_attempts=2) as client:
        with pytest.raises(TransientError) as caught:
            await client.get(f"/customers/{secret}/orders", params={"signature": "sig-9f8e7d"})
    error = caught.value
    assert vendor.seen[0].url.path == f"/api/customers/{secret}/orders"  # it was really sent
    for text in (str(error), error.message, error.vendor_message or "", caplog.text):
        assert secret not in text
        assert "sig-9f8e7d" not in text
    assert "/customers/***/orders" in str(error)
    assert error.vendor_message == "invalid token *** for customer"


async def test_one_debug_line_per_attempt_and_a_warning_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vendor = Vendor([status(429, Retry_After="0"), ok()])
    caplog.set_level(logging.DEBUG, logger="erpsync.http")
    async with HttpClient(
        BASE,
        vendor="acme",
        headers={"Authorization": "Bearer header-value-123"},
        transport=httpx.ASGITransport(app=vendor.app),
    ) as client:
        await client.post("/orders", content=b"body-value-456")
    records = [r for r in caplog.records if r.name == "erpsync.http"]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(debug) == 2
    assert "acme POST /api/orders -> 429" in debug[0]
    assert "ms" in debug[0]
    assert "acme POST /api/orders -> 200" in debug[1]
    assert len(warnings) == 1
    assert "HTTP 429" in warnings[0]
    assert "attempt 2 of 5" in warnings[0]
    assert "header-value-123" not in caplog.text
    assert "body-value-456" not in caplog.text


# --- counting ----------------------------------------------------------------------------------


async def test_count_requests_counts_attempts_including_retries() -> None:
    vendor = Vendor([ok(), status(429, Retry_After="0"), ok()])
    async with client_for(vendor) as client:
        await client.get("/before")  # outside the block: not counted
        with count_requests() as counted:
            await client.get("/inside")  # 429, then 200
            await client.get("/inside")
        await client.get("/after")
    assert counted.requests == 3
    assert counted.retries == 1
    assert counted.throttled == 1
    assert client.stats.requests == 5
    assert client.stats.retries == 1


async def test_count_requests_counts_retries_and_spawned_tasks() -> None:
    vendor = Vendor([status(429, Retry_After="0"), ok()])
    async with client_for(vendor) as a, client_for(Vendor([ok()])) as b:
        with count_requests() as counted:
            await asyncio.create_task(a.get("/one"))  # 429, then 200
            async with asyncio.TaskGroup() as group:
                group.create_task(b.get("/two"))
                group.create_task(b.get("/three"))
        await b.get("/after")
    assert counted.requests == 4
    assert counted.retries == 1
    assert counted.throttled == 1


async def test_count_requests_nests() -> None:
    vendor = Vendor([ok()])
    async with client_for(vendor) as client:
        with count_requests() as outer:
            await client.get("/a")
            with count_requests() as inner:
                await client.get("/b")
                await client.get("/c")
            await client.get("/d")
    assert inner.requests == 2
    assert outer.requests == 4


async def test_count_requests_counts_errors() -> None:
    vendor = Vendor([status(503)])
    async with client_for(vendor, max_attempts=2) as client:
        with count_requests() as counted, pytest.raises(TransientError):
            await client.get("/x")
    assert counted.errors == 1
    assert counted.requests == 2


# --- mount -------------------------------------------------------------------------------------


async def test_mount_routes_new_clients_to_the_app() -> None:
    vendor = Vendor([ok('{"from": "simulator"}')])
    with mount("https://sim.vendor.test", vendor.app):
        client = HttpClient("https://sim.vendor.test/v2", vendor="acme")
    async with client:
        response = await client.get("/articles")
    assert parse_json(response) == {"from": "simulator"}
    assert vendor.seen[0].url.path == "/v2/articles"


def test_mount_nests_and_unmounts() -> None:
    outer, inner = Vendor([ok()]).app, Vendor([ok()]).app
    assert http._mounted_app("https://sim.vendor.test") is None
    with mount("https://sim.vendor.test/", outer):
        assert http._mounted_app("https://sim.vendor.test/api") is outer
        assert http._mounted_app("https://sim.vendor.test.evil.example") is None
        with mount("https://sim.vendor.test/api", inner):
            assert http._mounted_app("https://sim.vendor.test/api/v1") is inner
            assert http._mounted_app("https://sim.vendor.test/other") is outer
        assert http._mounted_app("https://sim.vendor.test/api/v1") is outer
    assert http._mounted_app("https://sim.vendor.test/api") is None


def test_mount_unmounts_on_error() -> None:
    app = Vendor([ok()]).app
    with pytest.raises(RuntimeError), mount("https://sim.vendor.test", app):
        raise RuntimeError("boom")
    assert http._mounted_app("https://sim.vendor.test") is None


async def test_explicit_transport_wins_over_mount() -> None:
    mounted, explicit = Vendor([ok('"mounted"')]), Vendor([ok('"explicit"')])
    with mount(BASE, mounted.app):
        client = client_for(explicit)
    async with client:
        assert parse_json(await client.get("/x")) == "explicit"
    assert mounted.hits == 0


def test_client_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        HttpClient(BASE, vendor="acme", max_attempts=0)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("api.example.com", "give the API URL, e.g. https://api.example.com/v1"),
        ("https://user:pw@api.example.com", "without credentials"),
        ("https://api.example.com/v1?key=1", "without credentials, query or fragment"),
        ("http://api.example.com/v1", "use https"),
    ],
)
def test_base_urls_are_checked_with_the_fix_named(url: str, problem: str) -> None:
    from erpsync.http import check_base_url

    with pytest.raises(ValueError, match=re.escape(problem)):
        check_base_url(url, example="https://api.example.com/v1")


def test_loopback_http_and_https_base_urls_pass_without_a_trailing_slash() -> None:
    from erpsync.http import check_base_url

    assert check_base_url("http://127.0.0.1:8080/x/", example="") == "http://127.0.0.1:8080/x"
    assert check_base_url(" https://api.example.com/v1/ ", example="") == (
        "https://api.example.com/v1")

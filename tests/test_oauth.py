"""erpsync.oauth against a strict OAuth server (the Fake ERP's, single-use refresh tokens).

In-process tests mount the server with erpsync.http.mount; the process tests serve it with
uvicorn on a loopback port and run real child processes on one DiskState directory: two
refreshing at once, and one killed with SIGKILL at each step of a refresh, after which a
restarted run (the real runner, through the Fake ERP plugin) must find the chain working,
except in the window no client can close, where it must end in "needs re-authorisation".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from erpsync_fake_erp.oauth_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, OAuthServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erpsync import http
from erpsync.demo import LoopbackServer
from erpsync.errors import AuthenticationLost, ResponseInvalid, TransientError
from erpsync.flows import RunContext
from erpsync.hookspecs import CredentialStore
from erpsync.models import Flow
from erpsync.oauth import ClientCredentials, RotatingTokens, TokenEndpoint, authorization_url
from erpsync.state import DiskState

from .helpers import Harness, seed

BASE = "https://auth.test"
TOKEN_URL = f"{BASE}/oauth/token"
ACTION = "erpsync authorize acme"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    oauth = OAuthServer()
    with http.mount(BASE, oauth.app):
        yield oauth


@pytest.fixture
def state(tmp_path: Path) -> Iterator[DiskState]:
    store = DiskState(tmp_path / "state")
    yield store
    store.close()


@pytest.fixture
def store(state: DiskState) -> CredentialStore:
    return RunContext("acme", state).for_plugin("fake_erp").credentials("oauth")


def _endpoint(url: str = TOKEN_URL, secret: str = DEFAULT_CLIENT_SECRET,
              **headers: str) -> TokenEndpoint:
    return TokenEndpoint(url, DEFAULT_CLIENT_ID, secret, "fake-erp", headers)


@pytest.fixture
async def tokens(store: CredentialStore) -> AsyncIterator[RotatingTokens]:
    rotating = RotatingTokens(store, _endpoint(), action=ACTION)
    yield rotating
    await rotating.aclose()


def _due(pair: dict[str, Any]) -> dict[str, Any]:
    """``pair`` with its access token about to expire (inside the refresh margin)."""
    return {**pair, "expires_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}


def _texts(caplog: pytest.LogCaptureFixture, *errors: BaseException) -> list[str]:
    return [r.getMessage() for r in caplog.records] + [str(e) for e in errors] + [
        str(getattr(e, "vendor_message", "")) for e in errors]


# --- the grant and the stored pair -----------------------------------------------------------


async def test_a_code_is_exchanged_for_a_stored_pair(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    redirect = "http://127.0.0.1:8765/callback"
    consent = authorization_url(f"{BASE}/oauth/authorize", client_id=DEFAULT_CLIENT_ID,
                                redirect_uri=redirect, scopes=["read", "write"], state="s1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as browser:
        answer = await browser.get(consent)
    assert answer.status_code == 302
    query = dict(httpx.URL(answer.headers["location"]).params)
    assert query["state"] == "s1"

    await tokens.exchange_code(query["code"], redirect)

    stored = store.load()
    assert stored is not None
    assert set(stored) == {"access_token", "refresh_token", "expires_at", "scope"}
    assert server.accepts(stored["access_token"])
    assert server.refresh_token_alive(stored["refresh_token"])
    assert datetime.fromisoformat(stored["expires_at"]).tzinfo is not None
    assert stored["scope"] == "read write"
    assert await tokens.access_token() == stored["access_token"]
    assert server.token_requests == 1  # a fresh token is used as it is


async def test_a_code_is_single_use_and_a_refused_code_says_what_to_do(
    server: OAuthServer, tokens: RotatingTokens
) -> None:
    with pytest.raises(AuthenticationLost) as refused:
        await tokens.exchange_code("no-such-code", "http://127.0.0.1:1/callback")
    assert refused.value.action == ACTION
    assert "invalid_grant" in refused.value.message


def test_the_consent_url_carries_every_parameter_of_the_code_grant() -> None:
    url = httpx.URL(authorization_url("https://erp.example/oauth/auth", client_id="c 1",
                                      redirect_uri="http://127.0.0.1:5000/callback",
                                      scopes=["article", "order"], state="xyz",
                                      extra={"access_type": "offline"}))
    assert dict(url.params) == {"client_id": "c 1", "redirect_uri":
                                "http://127.0.0.1:5000/callback", "scope": "article order",
                                "state": "xyz", "response_type": "code",
                                "access_type": "offline"}
    assert url.path == "/oauth/auth"


def test_the_endpoint_hides_its_secret_and_refuses_plain_http_off_loopback() -> None:
    assert DEFAULT_CLIENT_SECRET not in repr(_endpoint())
    with pytest.raises(ValueError, match="https"):
        TokenEndpoint("http://auth.example/token", "c", "s", "fake-erp")


# --- expiry and rotation ---------------------------------------------------------------------


async def test_an_expiring_token_is_refreshed_and_the_pair_rotated(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    old = server.issue_pair()
    store.save(_due(old))

    token = await tokens.access_token()

    stored = store.load()
    assert stored is not None
    assert token == stored["access_token"] != old["access_token"]
    assert stored["refresh_token"] != old["refresh_token"]
    assert not server.refresh_token_alive(old["refresh_token"])
    assert server.refresh_token_alive(stored["refresh_token"])
    assert "refresh_sent_at" not in stored and "answer" not in stored
    assert server.refreshes == 1


async def test_a_chain_of_refreshes_keeps_exactly_one_live_refresh_token(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    store.save(server.issue_pair())
    seen = set()
    for _ in range(5):
        data = store.load()
        assert data is not None
        seen.add(await tokens.after_unauthorized(data["access_token"]))
    assert len(seen) == 5
    assert server.refreshes == 5
    assert server.live_refresh_tokens() == 1


async def test_a_used_refresh_token_is_refused_with_the_reauthorisation_action(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    old = server.issue_pair()
    store.save(_due(old))
    await tokens.access_token()
    store.save(_due(old))  # as if the rotated pair had been lost

    with pytest.raises(AuthenticationLost) as refused:
        await tokens.access_token()

    assert refused.value.action == ACTION
    assert refused.value.status == 400
    assert "invalid_grant" in refused.value.message
    assert server.refused == ["invalid_grant"]
    secrets = [old["refresh_token"], old["access_token"], DEFAULT_CLIENT_SECRET]
    for text in _texts(caplog, refused.value):
        for secret in secrets:
            assert secret not in text


async def test_a_vendor_echoing_the_token_has_it_masked(
    store: CredentialStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pair = {"access_token": "access-token-aaaa1111", "refresh_token": "refresh-token-bbbb2222",
            "expires_at": datetime.now(UTC).isoformat(), "scope": None}

    async def token(request: Request) -> Response:
        form = dict(httpx.QueryParams((await request.body()).decode()))
        return JSONResponse({"error": "invalid_grant", "error_description":
                             f"token {form['refresh_token']} was revoked"}, status_code=400)

    store.save(pair)
    with http.mount("https://echo.test", Starlette(routes=[Route("/t", token,
                                                                 methods=["POST"])])):
        rotating = RotatingTokens(store, _endpoint("https://echo.test/t"), action=ACTION)
        with pytest.raises(AuthenticationLost) as refused:
            await rotating.access_token()
        await rotating.aclose()
    assert "was revoked" in refused.value.message
    for text in _texts(caplog, refused.value):
        assert pair["refresh_token"] not in text


async def test_a_refused_client_is_authentication_lost(
    server: OAuthServer, store: CredentialStore
) -> None:
    store.save(_due(server.issue_pair()))
    rotating = RotatingTokens(store, _endpoint(secret="wrong-secret-0000"), action=ACTION)
    with pytest.raises(AuthenticationLost) as refused:
        await rotating.access_token()
    await rotating.aclose()
    assert refused.value.status == 401
    assert "invalid_client" in refused.value.message
    assert "wrong-secret-0000" not in refused.value.message


async def test_nothing_stored_is_authentication_lost_with_the_action(
    server: OAuthServer, tokens: RotatingTokens
) -> None:
    with pytest.raises(AuthenticationLost) as lost:
        await tokens.access_token()
    assert lost.value.action == ACTION
    assert server.token_requests == 0


async def test_after_unauthorized_uses_another_refreshers_token_without_asking(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    store.save(server.issue_pair())
    data = store.load()
    assert data is not None
    fresh = await tokens.after_unauthorized(data["access_token"])
    assert server.refreshes == 1
    assert await tokens.after_unauthorized(data["access_token"]) == fresh  # the stale one
    assert server.refreshes == 1


async def test_concurrent_callers_in_one_process_refresh_once(
    server: OAuthServer, store: CredentialStore
) -> None:
    store.save(_due(server.issue_pair()))
    many = [RotatingTokens(store, _endpoint(), action=ACTION) for _ in range(4)]
    got = await asyncio.gather(*(t.access_token() for t in many))
    for rotating in many:
        await rotating.aclose()
    assert len(set(got)) == 1
    assert server.refreshes == 1


# --- failures that are not refusals ----------------------------------------------------------


async def test_an_unreachable_token_endpoint_is_transient(store: CredentialStore) -> None:
    store.save(_due({"access_token": "a" * 20, "refresh_token": "r" * 20,
                     "expires_at": datetime.now(UTC).isoformat(), "scope": None}))
    rotating = RotatingTokens(store, _endpoint("http://127.0.0.1:9/oauth/token"), action=ACTION)
    with pytest.raises(TransientError):
        await rotating.access_token()
    await rotating.aclose()
    stored = store.load()
    assert stored is not None and stored["refresh_token"] == "r" * 20


async def test_a_busy_token_endpoint_is_asked_once_not_retried(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    store.save(_due(server.issue_pair()))
    server.on_token_request = lambda grant: False  # answered 503, nothing issued
    with pytest.raises(TransientError):
        await tokens.access_token()
    assert server.token_requests == 1
    server.on_token_request = None
    assert server.accepts(await tokens.access_token())  # the stored pair still works


async def test_an_unreadable_answer_keeps_the_pair_and_the_next_run_decides(
    store: CredentialStore,
) -> None:
    pair = {"access_token": "access-token-cccc", "refresh_token": "refresh-token-dddd",
            "expires_at": datetime.now(UTC).isoformat(), "scope": None}
    answers = [Response("<html>proxy</html>", media_type="text/html"),
               JSONResponse({"access_token": "access-token-eeee", "token_type": "bearer",
                             "expires_in": 3600, "refresh_token": "refresh-token-ffff"})]

    async def token(request: Request) -> Response:
        return answers.pop(0)

    store.save(pair)
    with http.mount("https://odd.test", Starlette(routes=[Route("/t", token,
                                                                methods=["POST"])])):
        rotating = RotatingTokens(store, _endpoint("https://odd.test/t"), action=ACTION)
        with pytest.raises(ResponseInvalid):
            await rotating.access_token()
        kept = store.load()
        assert kept is not None and kept["refresh_token"] == "refresh-token-dddd"
        assert "answer" not in kept and "refresh_sent_at" in kept
        assert await rotating.access_token() == "access-token-eeee"
        await rotating.aclose()


async def test_a_saved_answer_is_finished_without_asking_again(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    old = server.issue_pair()
    answer = json.dumps({"access_token": "new-access-1234", "refresh_token": "new-refresh-5678",
                         "token_type": "Bearer", "expires_in": 3600})
    store.save({**old, "refresh_sent_at": datetime.now(UTC).isoformat(), "answer": answer,
                "answer_received_at": datetime.now(UTC).isoformat()})
    assert await tokens.access_token() == "new-access-1234"
    assert server.token_requests == 0
    stored = store.load()
    assert stored is not None and stored["refresh_token"] == "new-refresh-5678"


async def test_an_interrupted_refresh_is_resolved_at_once_and_named_if_lost(
    server: OAuthServer, tokens: RotatingTokens, store: CredentialStore
) -> None:
    old = server.issue_pair()  # fresh: without the marker it would be used as it is
    marked = {**old, "refresh_sent_at": "2024-01-01T09:00:00+00:00"}
    store.save(marked)
    fresh = await tokens.access_token()
    assert fresh != old["access_token"] and server.refreshes == 1

    store.save(marked)  # the vendor rotated, and that answer was lost
    with pytest.raises(AuthenticationLost) as lost:
        await tokens.access_token()
    assert "interrupted" in lost.value.message
    assert lost.value.action == ACTION


# --- client credentials ----------------------------------------------------------------------


async def test_client_credentials_send_the_extra_headers_and_renew_when_refused(
    server: OAuthServer, store: CredentialStore
) -> None:
    seen: list[str | None] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(dict(scope["headers"]).get(b"tenantid", b"").decode() or None)
        await server.app(scope, receive, send)

    with http.mount("https://cc.test", recording):
        grant = ClientCredentials(store, _endpoint("https://cc.test/oauth/token",
                                                   TenantId="4711"),
                                  action=ACTION, scope="read")
        first = await grant.access_token()
        assert await grant.access_token() == first
        second = await grant.after_unauthorized(first)
        await grant.aclose()
    assert first != second and server.accepts(second)
    assert seen == ["4711", "4711"]
    stored = store.load()
    assert stored is not None and "refresh_token" not in stored


async def test_client_credentials_refused_are_authentication_lost(
    server: OAuthServer, store: CredentialStore
) -> None:
    grant = ClientCredentials(store, _endpoint(secret="not-the-secret-1"), action=ACTION)
    with pytest.raises(AuthenticationLost) as refused:
        await grant.access_token()
    await grant.aclose()
    assert refused.value.action == ACTION and refused.value.status == 401


# --- real processes: two at once, and SIGKILL at every step of a refresh ----------------------

CHILD = textwrap.dedent('''
    import asyncio, json, os, signal, sys
    from contextlib import asynccontextmanager

    from erpsync.errors import AuthenticationLost
    from erpsync.oauth import RotatingTokens, TokenEndpoint
    from erpsync.state import DiskState

    state_dir, url, client_id, secret, crash, gate = sys.argv[1:7]
    state = DiskState(state_dir)
    NAME = ("acme", "fake_erp:oauth")  # where the Fake ERP plugin keeps its pair

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    class Store:
        """The plugin's store over the shared state, with a lock that expires 1 s after a
        killed holder (the production lock: 60 s) and the crash points of the test."""

        def load(self):
            return state.load_credentials(*NAME)

        def save(self, data):
            step = ("answer" if "answer" in data else "marker" if "refresh_sent_at" in data
                    else "pair")
            if crash == "before_answer_saved" and step == "answer":
                kill()
            state.save_credentials(*NAME, data)
            if crash == f"after_{step}_saved":
                kill()

        def lock(self):
            @asynccontextmanager
            async def held():
                async with state.lock("credentials:acme:fake_erp:oauth", ttl=1.0):
                    if crash == "after_lock":
                        kill()
                    yield
            return held()

    async def main():
        tokens = RotatingTokens(Store(), TokenEndpoint(url, client_id, secret, "fake-erp"),
                                action="erpsync authorize acme")
        print("ready", flush=True)
        if gate == "gate":
            sys.stdin.readline()
        try:
            print(json.dumps({"token": await tokens.access_token()}), flush=True)
        except AuthenticationLost as error:
            print(json.dumps({"lost": error.message, "action": error.action}), flush=True)
        finally:
            await tokens.aclose()

    asyncio.run(main())
''')


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened


class Processes:
    """The Fake ERP (API and OAuth server) of goods owner acme, served on a loopback port for
    child processes and mounted in-process for the runner; children on the harness's state."""

    def __init__(self, harness: Harness, script: Path) -> None:
        self.harness = harness
        self.site = harness.add("acme", oauth=True, flows=[Flow.ARTICLES])
        self.oauth = self.site.erp.oauth
        self.oauth.access_lifetime = 1  # every access_token() call refreshes (margin 5 min)
        self.server = LoopbackServer(self.site.erp.app)
        self.script = script
        assert self.site.client_id is not None
        self.secret = self.oauth.clients[self.site.client_id]

    def child(self, crash: str = "none", *, gate: bool = False) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "tests" / "fakes"), str(ROOT / "core")])}
        url = f"http://127.0.0.1:{self.server.port}/oauth/token"
        assert self.site.client_id is not None
        process = subprocess.Popen(
            [sys.executable, str(self.script), str(self.harness.state_dir), url,
             self.site.client_id, self.secret, crash, "gate" if gate else "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return process

    def stored(self) -> dict[str, Any]:
        data = self.harness.state.load_credentials("acme", "fake_erp:oauth")
        assert data is not None
        return data


@pytest.fixture
def processes(harness: Harness, tmp_path: Path) -> Iterator[Processes]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    running = Processes(harness, script)
    running.server.start()
    harness.state.save_credentials("acme", "fake_erp:oauth", running.oauth.issue_pair(
        running.site.client_id or ""))
    try:
        yield running
    finally:
        running.server.stop()


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def test_two_processes_refreshing_at_once_keep_one_chain(processes: Processes) -> None:
    processes.oauth.access_lifetime = 3600  # the stored pair is due; a new one is not
    first, second = processes.child(gate=True), processes.child(gate=True)
    for process in (first, second):
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    a, b = _result(first), _result(second)

    assert processes.oauth.refreshes == 1  # the second saw the first's pair under the lock
    assert a == b and processes.oauth.accepts(a["token"])
    assert processes.oauth.refused == []
    assert processes.oauth.refresh_token_alive(processes.stored()["refresh_token"])


SURVIVABLE = ["after_lock", "after_marker_saved", "request_dropped", "after_answer_saved",
              "after_pair_saved"]
WINDOW = ["rotated_answer_on_the_wire", "before_answer_saved"]


@pytest.mark.parametrize("crash", SURVIVABLE + WINDOW)
async def test_a_process_killed_at_any_step_of_a_refresh(
    processes: Processes, harness: Harness, crash: str
) -> None:
    victim: list[subprocess.Popen[str]] = []

    def kill_the_child() -> None:
        victim[0].kill()
        victim[0].wait(timeout=30)

    if crash == "request_dropped":  # it reached the server, which had not handled it yet
        processes.oauth.on_token_request = lambda grant: (kill_the_child(), False)[1]
    elif crash == "rotated_answer_on_the_wire":  # rotated, answer not yet received
        processes.oauth.after_rotation = kill_the_child
    process = processes.child("none" if crash in ("request_dropped",
                                                  "rotated_answer_on_the_wire") else crash,
                              gate=True)
    victim.append(process)
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    processes.oauth.on_token_request = processes.oauth.after_rotation = None

    # The restart: a whole cycle of the goods owner through the runner and the plugin.
    seed(processes.site)
    harness.load()
    runs = await harness.run()
    status = harness.state.get_owner_status("acme")

    if crash in SURVIVABLE:
        assert runs[Flow.ARTICLES].outcome == "ok", runs[Flow.ARTICLES].message
        assert status is None
        stored = processes.stored()
        assert processes.oauth.refresh_token_alive(stored["refresh_token"])
        assert processes.oauth.live_refresh_tokens() == 1
        assert set(stored) == {"access_token", "refresh_token", "expires_at", "scope"}
        assert "invalid_grant" not in processes.oauth.refused
    else:
        # The window no client can close: detected at once, never silent.
        assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
        assert status is not None and status.action == "erpsync authorize acme"
        assert "interrupted" in status.message
        assert processes.oauth.refused == ["invalid_grant"]
        assert processes.site.erp.request_count == 0  # no API call with a dead credential

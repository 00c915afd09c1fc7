"""``[notify]``: one notice when a goods owner enters "needs re-authorisation", never a secret.

A webhook receiver (starlette, served by uvicorn on a loopback port) and a small SMTP
receiver (a socketserver speaking just enough SMTP for smtplib, on a loopback port) record
what erpsync sends.
"""

from __future__ import annotations

import base64
import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erpsync.config import load_config
from erpsync.demo import LoopbackServer
from erpsync.errors import ConfigError
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.secrets import redact

from .helpers import PLUGINS, Harness, Site, seed

SMTP_USER = "erpsync-mailer-31f7"
SMTP_PASSWORD = "smtp-password-8c2e4b"


class WebhookReceiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.status = 204
        self.app = Starlette(routes=[Route("/hooks/erpsync", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.bodies.append(json.loads(await request.body()))
        if self.status >= 400:
            return JSONResponse({"error": "receiver down"}, status_code=self.status)
        return Response(status_code=self.status)


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self.refuse_mail = False
        self.port: int = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _SmtpSession(socketserver.StreamRequestHandler):
    server: SmtpReceiver

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 receiver.test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-receiver.test")
                self._say("250 AUTH PLAIN")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).decode().split("\0")
                self.server.logins.append((user, password))
                self._say("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                self._say("550 5.7.1 not today" if self.server.refuse_mail else "250 OK")
            elif verb == "RCPT":
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                message = message_from_bytes(data, policy=policy.default)
                assert isinstance(message, EmailMessage)
                self.server.messages.append(message)
                self._say("250 OK queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


@pytest.fixture
def webhook() -> Iterator[tuple[WebhookReceiver, int]]:
    receiver = WebhookReceiver()
    server = LoopbackServer(receiver.app)
    server.start()
    try:
        yield receiver, server.port
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened


def _notify(harness: Harness, webhook_port: int, smtp_port: int) -> None:
    harness.set_env("ERPSYNC_TEST_SMTP_USER", SMTP_USER)
    harness.set_env("ERPSYNC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    harness.extra_toml = [
        "[notify]",
        f'webhook_url = "http://127.0.0.1:{webhook_port}/hooks/erpsync"',
        "[notify.email]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'from = "erpsync@warehouse.test"',
        'to = ["ops@warehouse.test", "owner@acme.test"]',
        'username = { env = "ERPSYNC_TEST_SMTP_USER" }',
        'password = { env = "ERPSYNC_TEST_SMTP_PASSWORD" }',
        "starttls = false",
    ]


@pytest.fixture
def acme(harness: Harness, webhook: tuple[WebhookReceiver, int], smtp: SmtpReceiver) -> Site:
    """Goods owner acme on OAuth (a stored, working pair), with both notifications."""
    site = harness.add("acme", oauth=True, flows=[Flow.ARTICLES])
    seed(site)
    assert site.client_id is not None
    harness.state.save_credentials("acme", "fake_erp:oauth", site.erp.oauth.issue_pair(
        site.client_id))
    _notify(harness, webhook[1], smtp.port)
    harness.load()
    return site


async def test_one_notice_on_entering_the_status_not_one_a_cycle(
    harness: Harness, acme: Site, webhook: tuple[WebhookReceiver, int], smtp: SmtpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = webhook[0]
    assert (await harness.run())[Flow.ARTICLES].outcome == "ok"
    tokens = harness.state.load_credentials("acme", "fake_erp:oauth")
    assert tokens is not None
    acme.erp.oauth.revoke_all()  # "the integration stopped working"

    for _ in range(3):  # by hand, and on the schedule
        runs = await harness.run()
        assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
    assert await harness.runner.run_owner(harness.owner(), scheduled=True) == []

    assert len(receiver.bodies) == 1
    assert len(smtp.messages) == 1
    body = receiver.bodies[0]
    assert body["event"] == "needs_reauthorisation"
    assert body["goods_owner"] == "acme"
    assert body["action"] == "erpsync authorize acme"
    assert "invalid_grant" in str(body["message"])
    mail = smtp.messages[0]
    assert mail["Subject"] == "erpsync: goods owner acme needs re-authorisation"
    assert mail["To"] == "ops@warehouse.test, owner@acme.test"
    text = mail.get_content()
    assert "erpsync authorize acme" in text and "invalid_grant" in text
    assert smtp.logins == [(SMTP_USER, SMTP_PASSWORD)]

    secrets = [*harness.secrets, *(str(v) for k, v in tokens.items() if k.endswith("token"))]
    sent = [json.dumps(b) for b in receiver.bodies] + [m.as_string() for m in smtp.messages]
    logged = [r.getMessage() for r in caplog.records]
    for secret in secrets:
        for text in sent + logged:
            assert secret not in text


async def test_a_goods_owner_that_recovers_and_fails_again_is_announced_again(
    harness: Harness, acme: Site, webhook: tuple[WebhookReceiver, int], smtp: SmtpReceiver,
) -> None:
    acme.erp.oauth.revoke_all()
    await harness.run()
    assert acme.client_id is not None
    harness.state.save_credentials("acme", "fake_erp:oauth", acme.erp.oauth.issue_pair(
        acme.client_id))  # what `erpsync authorize acme` stores
    assert (await harness.run())[Flow.ARTICLES].outcome == "ok"
    assert harness.state.get_owner_status("acme") is None
    acme.erp.oauth.revoke_all()
    await harness.run()
    assert len(webhook[0].bodies) == 2 and len(smtp.messages) == 2


async def test_failing_notifications_are_logged_and_never_break_the_run(
    harness: Harness, acme: Site, webhook: tuple[WebhookReceiver, int], smtp: SmtpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    webhook[0].status = 500
    smtp.refuse_mail = True
    acme.erp.oauth.revoke_all()

    runs = await harness.run()

    assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
    status = harness.state.get_owner_status("acme")
    assert status is not None and status.action == "erpsync authorize acme"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("webhook" in w and "HTTP 500" in w for w in warnings), warnings
    assert any("e-mail via 127.0.0.1 failed: SMTP 550" in w for w in warnings), warnings
    for secret in (*harness.secrets, SMTP_PASSWORD, SMTP_USER):
        assert all(secret not in w for w in warnings)


async def test_an_unreachable_receiver_does_not_break_the_run(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    site = harness.add("acme", flows=[Flow.ARTICLES])
    harness.extra_toml = ["[notify]", 'webhook_url = "http://127.0.0.1:9/hook"',
                          "[notify.email]", 'host = "127.0.0.1"', "port = 9",
                          'from = "a@b.test"', 'to = ["c@d.test"]', "starttls = false"]
    harness.load()
    site.erp.api_key = "rotated-by-someone-0000"
    runs = await harness.run()
    assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("webhook to 127.0.0.1 failed" in w for w in warnings), warnings
    assert any("e-mail via 127.0.0.1 failed" in w for w in warnings), warnings


# --- the config's [notify] table ---------------------------------------------------------------


def _load(tmp_path: Path, notify: str) -> ConfigError:
    path = tmp_path / "erpsync.toml"
    path.write_text(notify, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, discover(select=PLUGINS))
    return error.value


@pytest.mark.parametrize(("toml", "where", "says"), [
    ("[notify]\n", "notify", "needs webhook_url"),
    ('[notify]\nwebhook_url = "http://hooks.example.com/x"\n', "notify.webhook_url", "https"),
    ('[notify]\nwebhook_url = "hooks"\n', "notify.webhook_url", "give the API URL"),
    ('[notify]\nwebhook_url = 5\n', "notify.webhook_url", "give a URL"),
    ('[notify.email]\nhost = "h"\nfrom = "ops"\nto = ["a@b.test"]\n', "notify.email.from",
     "not an e-mail address"),
    ('[notify.email]\nhost = "h"\nfrom = "x@y.test"\nto = []\n', "notify.email.to",
     "at least 1"),
    ('[notify.email]\nhost = "h"\nfrom = "x@y.test"\nto = ["a@b.test"]\n'
     'username = { env = "ERPSYNC_TEST_U" }\n', "notify.email", "both username and password"),
    ('[notify.email]\nhost = "h"\nfrom = "x@y.test"\nto = ["a@b.test"]\n'
     'username = { env = "ERPSYNC_TEST_U" }\npassword = "inline-password-77"\n',
     "notify.email.password", "by reference"),
    ('[notify]\nwebhok_url = "https://x.test"\n', "notify.webhok_url", "remove this field"),
])
def test_notify_config_problems_name_the_field_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, where: str, says: str
) -> None:
    monkeypatch.setenv("ERPSYNC_TEST_U", "smtp-user-value-1")
    problems = _load(tmp_path, toml).problems
    assert any(p.where.endswith(where) and says in f"{p.problem} {p.fix}" for p in problems), (
        problems)
    assert all(p.fix for p in problems)
    assert not any("inline-password-77" in str(p) for p in problems)


def test_a_secret_webhook_url_is_given_by_reference_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://hooks.example.com/services/T0/B0/secret-token-5f5f"
    monkeypatch.setenv("ERPSYNC_TEST_HOOK", url)
    path = tmp_path / "erpsync.toml"
    path.write_text('[notify]\nwebhook_url = { env = "ERPSYNC_TEST_HOOK" }\n', encoding="utf-8")
    config = load_config(path, discover(select=PLUGINS))
    assert config.notify is not None and config.notify.webhook_url == url
    assert "secret-token-5f5f" not in redact(f"posting to {url}")

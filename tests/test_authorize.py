"""``erpsync authorize``: the OAuth consent end to end, with the Fake ERP's consent flow.

The end-to-end test runs the command as a real process against the Fake ERP served on a
loopback port and plays the browser with httpx against the URL it printed; the others run it
in-process (typer's runner) with ``webbrowser.open`` replaced by a thread that plays it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from erpsync_fake_erp.client import NEW_KEY_ACTION
from typer.testing import CliRunner, Result

from erpsync.cli import app
from erpsync.demo import LoopbackServer
from erpsync.models import Flow
from erpsync.runner import reauthorisation_action
from erpsync.state import OwnerStatus, RunRecord
from tests.conftest import MakeDist

from .helpers import Harness, Site, seed

ROOT = Path(__file__).parent.parent


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("ERPSYNC_PLUGINS", "fake_erp,fake_wms")
    # The CLI sets up logging for the whole process: put back what was there afterwards.
    root, package = logging.getLogger(), logging.getLogger("erpsync")
    handlers, levels = root.handlers[:], (root.level, package.level)
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    package.setLevel(levels[1])


def _invoke(harness: Harness, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--config", str(harness.config_path), *args],
                                env={"COLUMNS": "200"})
    for secret in harness.secrets:
        assert secret not in result.output
    return result


def _tokens(harness: Harness) -> dict[str, object] | None:
    return harness.state.load_credentials("acme", "fake_erp:oauth")


async def test_authorize_end_to_end_reactivates_a_goods_owner(harness: Harness) -> None:
    site = harness.add("acme", oauth=True, flows=[Flow.ARTICLES])
    seed(site)
    server = LoopbackServer(site.erp.app)
    server.start()
    try:
        site.base_url = f"http://127.0.0.1:{server.port}"
        harness.load()
        # Never authorised: the run stops with the status and the command to run.
        runs = await harness.run()
        assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
        status = harness.state.get_owner_status("acme")
        assert status is not None and status.action == "erpsync authorize acme"

        output = _authorize_in_a_process(harness, site)

        assert "acme: authorised" in output
        assert "status is cleared" in output
        assert harness.state.get_owner_status("acme") is None
        stored = _tokens(harness)
        assert stored is not None and site.erp.oauth.accepts(str(stored["access_token"]))
        runs = await harness.run()
        assert runs[Flow.ARTICLES].outcome == "ok"
        assert runs[Flow.ARTICLES].written == 3
    finally:
        server.stop()


def _authorize_in_a_process(harness: Harness, site: Site) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "fakes"),
                                                        str(ROOT / "core")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "erpsync.cli", "--config", str(harness.config_path),
         "authorize", "acme", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("http"):
                break
        consent = httpx.URL(printed[-1].strip())
        assert consent.path == "/oauth/authorize"
        assert consent.params["client_id"] == site.client_id
        redirect = httpx.URL(consent.params["redirect_uri"])
        assert redirect.host == "127.0.0.1" and redirect.path == "/callback"

        # A redirect that is not the answer to this consent (another state) is refused, and
        # the command goes on waiting for the real one.
        forged = httpx.get(redirect.copy_merge_params({"code": "x", "state": "forged"}))
        assert forged.status_code == 400

        answer = httpx.get(consent)  # the user consents (the Fake ERP's auto-consent)
        assert answer.status_code == 302
        page = httpx.get(answer.headers["location"])
        assert page.status_code == 200
        assert "authorised" in page.text
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    text = "".join(printed) + out + err
    for secret in harness.secrets:
        assert secret not in text
    assert consent.params["state"] not in out  # printed once, in the URL only
    return text


class Browser:
    """``webbrowser.open`` played by a thread: consent at the (in-process) ERP, then follow its
    redirect to erpsync's loopback callback."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.pages: list[httpx.Response] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        async def visit() -> None:
            erp = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.site.erp.app))
            async with erp, httpx.AsyncClient() as loopback:
                answer = await erp.get(url)
                self.pages.append(await loopback.get(answer.headers["location"]))

        thread = threading.Thread(target=asyncio.run, args=(visit(),))
        thread.start()
        self.threads.append(thread)
        return True

    def wait(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.fixture
def browser(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Browser:
    site = harness.add("acme", oauth=True, flows=[Flow.ARTICLES])
    harness.write_config()
    played = Browser(site)
    monkeypatch.setattr("webbrowser.open", played.open)
    return played


def test_authorize_opens_the_browser_and_stores_the_tokens(
    harness: Harness, browser: Browser
) -> None:
    result = _invoke(harness, "authorize", "acme")
    browser.wait()
    assert result.exit_code == 0, result.output
    assert "acme: authorised" in result.output
    assert "status is cleared" not in result.output  # there was none
    assert browser.pages and browser.pages[0].status_code == 200
    assert _tokens(harness) is not None


def test_a_refused_consent_fails_with_the_vendors_answer(
    harness: Harness, browser: Browser
) -> None:
    browser.site.erp.oauth.auto_consent = False  # the user clicks "deny"
    result = _invoke(harness, "authorize", "acme")
    browser.wait()
    assert result.exit_code == 1
    assert "access_denied" in result.output
    assert browser.pages[0].status_code == 400
    assert "access_denied" in browser.pages[0].text
    assert _tokens(harness) is None


def test_a_refused_code_exchange_fails_and_keeps_the_status(
    harness: Harness, browser: Browser
) -> None:
    harness.load()
    harness.state.set_owner_status("acme", OwnerStatus(
        goods_owner="acme", state="needs_reauthorisation", message="refused",
        since=datetime(2024, 1, 1, tzinfo=UTC), action="erpsync authorize acme"))
    browser.site.erp.oauth.clients = {"acme-client": "another-secret-0000"}  # revoked client
    result = _invoke(harness, "authorize", "acme")
    browser.wait()
    assert result.exit_code == 1
    assert "invalid_client" in result.output
    assert harness.state.get_owner_status("acme") is not None


def test_an_erp_with_an_api_key_needs_no_consent(harness: Harness) -> None:
    harness.add("acme")
    harness.write_config()
    result = _invoke(harness, "authorize", "acme", "--no-browser")
    assert result.exit_code == 1
    assert "need no consent" in result.output


def test_a_plugin_without_a_consent_flow_says_what_to_do_instead(
    harness: Harness, make_dist: MakeDist
) -> None:
    make_dist("erpsync-plain", {"plain_erp": '''
        from pydantic import BaseModel
        from erpsync.hookspecs import PluginInfo, hookimpl

        class Settings(BaseModel):
            pass

        @hookimpl
        def describe():
            return PluginInfo(name="plain_erp", version="1", role="erp", settings_model=Settings)

        @hookimpl
        async def fetch_articles(ctx, settings, since):
            if False:
                yield None
    '''}, {"plain_erp": "plain_erp"})
    harness.add("acme")
    harness.write_config()
    text = harness.config_path.read_text(encoding="utf-8")
    start = text.index('plugin = "fake_erp"')
    end = text.index("[goods_owners.wms]")
    harness.config_path.write_text(text[:start] + 'plugin = "plain_erp"\n' + text[end:],
                                   encoding="utf-8")
    harness.monkeypatch.setenv("ERPSYNC_PLUGINS", "plain_erp,fake_wms")
    result = _invoke(harness, "authorize", "acme")
    assert result.exit_code == 1
    assert "has no consent flow" in result.output
    assert "erpsync check --connect" in result.output


def test_the_redirect_uri_registered_with_the_vendor_is_used_letter_for_letter(
        harness: Harness) -> None:
    harness.add("acme", oauth=True)
    harness.write_config()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://localhost:{port}/erp/callback"
    result = _invoke(harness, "authorize", "acme", "--no-browser", "--timeout", "1",
                     "--redirect-uri", uri)
    assert f"redirect_uri={quote(uri, safe='')}" in result.output.replace("\n", "")
    assert f"Waiting for the answer on {uri}" in result.output
    assert result.exit_code == 1 and "no answer from the consent page within 1 s" in result.output


@pytest.mark.parametrize("uri", ["https://erp.example/callback", "http://127.0.0.1/callback",
                                 "http://192.0.2.1:8765/callback"])
def test_a_redirect_uri_erpsync_cannot_listen_on_is_refused(harness: Harness, uri: str) -> None:
    harness.add("acme", oauth=True)
    harness.write_config()
    result = _invoke(harness, "authorize", "acme", "--no-browser", "--redirect-uri", uri)
    assert result.exit_code == 1
    assert "give a loopback URL with a port and a path" in result.output


def test_an_unknown_goods_owner_is_named(harness: Harness) -> None:
    harness.add("acme", oauth=True)
    harness.write_config()
    result = _invoke(harness, "authorize", "nobody", "--no-browser")
    assert result.exit_code == 1
    assert "no goods owner 'nobody'" in result.output


async def test_the_status_of_an_api_key_owner_says_to_fix_the_config(harness: Harness) -> None:
    site = harness.add("acme", flows=[Flow.ARTICLES])
    harness.load()
    site.erp.api_key = "rotated-elsewhere-1234"
    await harness.run()
    status = harness.state.get_owner_status("acme")
    assert status is not None
    assert status.action == (f"{NEW_KEY_ACTION}; then run: erpsync run --once --goods-owner "
                             "acme"), "the refusing plugin's own advice, then the command"


async def test_a_refused_warehouse_password_never_says_authorize_the_erp(
        harness: Harness) -> None:
    harness.add("acme", oauth=True, flows=[Flow.ARTICLES])
    harness.load()
    erp, _ = harness.bound("acme")
    assert erp.can_authorize, "the ERP has a consent flow: authorize would be offered for it"
    refused = RunRecord(goods_owner="acme", flow="articles", started_at=datetime.now(UTC),
                        finished_at=datetime.now(UTC), outcome="needs_reauthorisation",
                        refused_by="wms", action="set the warehouse's current password")
    assert reauthorisation_action("acme", erp, refused) == (
        "set the warehouse's current password; then run: erpsync run --once --goods-owner acme")

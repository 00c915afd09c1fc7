"""With the ERP and WMS secrets set to known values (and vendors echoing them back in their
error texts), no log line at DEBUG, exception text, ``erpsync status`` output, dead letter,
run record or state file contains them; a real ``erpsync --debug run --once`` process neither.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Collection
from typing import Any

import pytest

from erpsync.models import Flow
from tests.faults.conftest import Tally
from tests.faults.world import OWNER, PRODUCTS, InProcess, ServedWorld, World, cli
from tests.faults.world_fortnox import ARTICLES, FxWorld
from tests.faults.world_poweroffice import PoWorld


def _secrets(world: ServedWorld) -> dict[str, str]:
    """The secrets, and what a client derives from them that is as good as the secret."""
    found = dict(world.secrets)
    password = world.secrets["FAULT_WMS.password"]
    basic = base64.b64encode(f"{world.wms.username}:{password}".encode()).decode()
    found["ongoing basic auth"] = basic
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


async def test_no_secret_leaks_anywhere(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tally: Tally,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("erpsync", "httpx", "httpcore", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    inproc = InProcess(world, monkeypatch)
    secrets = _secrets(world)
    password = world.secrets["FAULT_WMS.password"]
    nv_key = world.secrets["FAULT_NV.private_key"]
    try:
        # Vendors that echo the credentials back in their error texts.
        world.wms.fail_next(1, 400, {"message": f"Invalid article; user erpsync/{password}"},
                            method="PUT", path="/articles")
        world.nv.fail_next(20, 503, f"TECHNICAL_ERROR :: key {nv_key} overloaded",
                           resource="purchaseorderlist.nv")
        tally.faults += 2
        first = await inproc.run()
        tally.count_runs(first)
        assert first[Flow.ARTICLES].dead_lettered == 1
        assert first[Flow.PURCHASE_ORDERS].outcome == "failed"
        letters = inproc.state.dead_letters()
        assert letters, "the refused article is a dead letter"
        assert "***" in (letters[0].vendor_message or ""), "the echoed password is masked"
        assert _leaks("\n".join(d.model_dump_json() for d in letters), secrets) == []
        assert "***" in (first[Flow.PURCHASE_ORDERS].message or "") or _leaks(
            first[Flow.PURCHASE_ORDERS].message or "", secrets) == []
        world.nv.clear_faults()
        tally.count_runs(await inproc.run())
        world.play_the_warehouse()
        world.wms.fail_next(1, 401, {"message": f"Bad credentials {password}"},
                            {"WWW-Authenticate": 'Basic realm="Ongoing"'},
                            method="GET", path="/orders")
        tally.faults += 1
        second = await inproc.run()
        tally.count_runs(second)
        assert "needs_reauthorisation" in {run.outcome for run in second.values()}

        _no_leaks_in_logs_runs_or_status(caplog, inproc, secrets)
    finally:
        inproc.close()
    await _no_leaks_in_cli_child_or_state(world, tally, secrets)


def _no_leaks_in_logs_runs_or_status(caplog: pytest.LogCaptureFixture,
                                     inproc: InProcess[Any], secrets: dict[str, str]) -> None:
    texts: list[str] = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    assert len(texts) > 20, "DEBUG lines were captured"
    assert _leaks("\n".join(texts), secrets) == [], "a log line (as logged, unfiltered)"
    runs = [r for flow in Flow for r in inproc.state.runs(OWNER, flow.value)]
    assert _leaks("\n".join(r.model_dump_json() for r in runs), secrets) == []
    assert _leaks("\n".join(d.model_dump_json() for d in inproc.state.dead_letters()),
                  secrets) == []
    status = inproc.state.get_owner_status(OWNER)
    assert status is not None
    assert _leaks(status.model_dump_json(), secrets) == []


async def _no_leaks_in_cli_child_or_state(world: ServedWorld, tally: Tally,
                                          secrets: dict[str, str],
                                          in_the_store: Collection[str] = ()) -> None:
    """``in_the_store``: the names of the secrets the credential store (the state directory's
    ``credentials``) is there to hold, such as OAuth tokens; no other file may hold them."""
    shown = await cli(world, "status")
    assert "needs re-authorisation" in shown.output
    assert _leaks(shown.output, secrets) == []

    # A real process at --debug: every log line and any traceback on its stderr.
    env = {**os.environ, **world.env}
    child = subprocess.run([sys.executable, "-m", "erpsync.cli", "--config", str(world.config),
                            "--debug", "run", "--once"], env=env, capture_output=True,
                           text=True, timeout=60)
    tally.runs += 1
    assert "DEBUG" in child.stderr, child.stderr[-2000:]
    assert _leaks(child.stdout + child.stderr, secrets) == []

    store = world.state_dir / "credentials"
    for path in world.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [name for name, value in secrets.items() if value.encode() in data
                      and not (name in in_the_store and path.is_relative_to(store))]
            assert leaked == [], f"{path} holds {leaked}"


async def test_no_poweroffice_key_leaks_anywhere(
    po_world: PoWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tally: Tally,
) -> None:
    """The application key, the client key and the subscription key (and the Basic credentials
    and bearer tokens made of them), with Go's gateway and API echoing them back."""
    world = po_world
    caplog.set_level(logging.DEBUG)
    for name in ("erpsync", "httpx", "httpcore", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    inproc = InProcess(world, monkeypatch)
    secrets = dict(world.secrets)
    application = secrets["FAULT_PO.application_key"]
    client = secrets["FAULT_PO.client_key"]
    subscription = secrets["FAULT_PO.subscription_key"]
    secrets["poweroffice basic auth"] = base64.b64encode(
        f"{application}:{client}".encode()).decode()
    try:
        world.po.fail_next(20, 503, {"title": "Service Unavailable",
                                     "detail": f"subscription {subscription} client {client} "
                                               "overloaded"},
                           path="/Demo/v2/OutgoingInvoices")
        tally.faults += 1
        first = await inproc.run()
        tally.count_runs(first)
        assert first[Flow.ORDERS].outcome == "failed"
        assert "***" in (first[Flow.ORDERS].message or ""), "the echoed keys are masked"
        world.po.clear_faults()
        tally.count_runs(await inproc.run())
        secrets |= {f"bearer token {n}": token for n, token in enumerate(world.po._tokens)}
        world.play_the_warehouse()
        code = PRODUCTS[0][0]
        world.po.fail_next(1, 400, {"title": "Bad Request",
                                    "detail": f"StockOnHand refused for key {application}"},
                           path=f"/Demo/v2/Products/{world.po.product(code)['Id']}")
        tally.faults += 1
        second = await inproc.run()
        tally.count_runs(second)
        (letter,) = inproc.state.dead_letters()
        assert letter.business_key == code
        assert "***" in (letter.vendor_message or ""), "the echoed application key is masked"
        world.po.deactivate_client()  # every token refused; the token endpoint says why
        tally.faults += 1
        third = await inproc.run()
        tally.count_runs(third)
        assert "needs_reauthorisation" in {run.outcome for run in third.values()}

        _no_leaks_in_logs_runs_or_status(caplog, inproc, secrets)
    finally:
        inproc.close()
    await _no_leaks_in_cli_child_or_state(world, tally, secrets)


async def test_no_fortnox_secret_or_token_leaks_anywhere(
    fx_world: FxWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tally: Tally,
) -> None:
    """The client secret (and the Basic credentials made of it), with Fortnox echoing it back in
    its error texts, and every access and refresh token of the chain (the consent's and the
    refreshed ones): only the credential store holds the tokens."""
    world = fx_world
    fx = world.fx
    caplog.set_level(logging.DEBUG)
    for name in ("erpsync", "httpx", "httpcore", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    inproc = InProcess(world, monkeypatch)
    secrets = _secrets(world)
    client_secret = secrets["FAULT_FX.client_secret"]
    secrets["fortnox basic auth"] = base64.b64encode(
        f"{fx.client_id}:{client_secret}".encode()).decode()
    tokens = world.tokens()
    try:
        fx.fail_next(20, 503, {"ErrorInformation": {
            "error": 1, "code": 1000003,
            "message": f"Systemfel för klienten {client_secret}"}}, path="/3/orders")
        tally.faults += 1
        first = await inproc.run(Flow.ARTICLES, Flow.ORDERS)
        tally.count_runs(first)
        assert first[Flow.ORDERS].outcome == "failed"
        assert "***" in (first[Flow.ORDERS].message or ""), "the echoed secrets are masked"
        fx.clear_faults()

        fx.expire_access_tokens()  # the next call is refused: the chain rotates
        tally.faults += 1
        tally.count_runs(await inproc.run(Flow.ORDERS, Flow.PURCHASE_ORDERS))
        assert fx.request_count("/oauth-v1/token", "POST") == 1, "refreshed"
        tokens |= {f"rotated {name}": token for name, token in world.tokens().items()}
        world.play_the_warehouse()
        invoiced = f"/3/orders/{world.orders[1]}/createinvoice"
        fx.fail_next(1, 400, {"ErrorInformation": {
            "error": 1, "code": 2000588,
            "message": f"Kan inte fakturera med klienten {client_secret}"}}, path=invoiced)
        tally.faults += 1
        second = await inproc.run(Flow.DELIVERIES, Flow.ADJUSTMENTS)
        tally.count_runs(second)
        (letter,) = inproc.state.dead_letters()
        assert (letter.flow, letter.business_key) == ("deliveries", world.orders[1])
        assert "***" in (letter.vendor_message or ""), "the echoed client secret is masked"

        fx.revoke_integration()  # "the integration stopped working" (seed 002)
        tally.faults += 1
        third = await inproc.run()
        tally.count_runs(third)
        assert "needs_reauthorisation" in {run.outcome for run in third.values()}
        secrets |= tokens
        _no_leaks_in_logs_runs_or_status(caplog, inproc, secrets)
    finally:
        inproc.close()
    await _no_leaks_in_cli_child_or_state(world, tally, secrets, in_the_store=tokens)


async def test_a_fortnox_access_token_echoed_back_is_masked(
    fx_mounted: InProcess[FxWorld], caplog: pytest.LogCaptureFixture, tally: Tally,
) -> None:
    """Fortnox refuses a read and quotes the bearer token it was given: the token is masked in
    the run record, the log and any dead letter, as a configured secret is."""
    caplog.set_level(logging.DEBUG)
    world = fx_mounted.world
    (access,) = world.fx._access
    number = ARTICLES[0][0]
    world.fx.fail_next(1, 400, {"ErrorInformation": {
        "error": 1, "code": 2000310, "message": f"Ogiltig token {access} för {number}"}},
        path=f"/3/articles/{number}")
    tally.faults += 1
    runs = await fx_mounted.run(Flow.ARTICLES)
    tally.count_runs(runs)
    texts = [runs[Flow.ARTICLES].model_dump_json(), caplog.text,
             *(d.model_dump_json() for d in fx_mounted.state.dead_letters())]
    assert "Ogiltig token" in "\n".join(texts), "Fortnox's words were kept"
    assert _leaks("\n".join(texts), {"access token": access}) == []

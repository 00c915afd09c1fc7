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

import pytest

from erpsync.models import Flow
from tests.faults.conftest import Tally
from tests.faults.world import OWNER, InProcess, World, cli


def _secrets(world: World) -> dict[str, str]:
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

        texts: list[str] = []
        for record in caplog.records:
            texts.append(record.getMessage())
            if record.exc_info:
                texts.append("".join(traceback.format_exception(*record.exc_info)))
        assert len(texts) > 20, "DEBUG lines were captured"
        assert _leaks("\n".join(texts), secrets) == [], "a log line (as logged, unfiltered)"
        runs = [r for flow in Flow for r in inproc.state.runs(OWNER, flow.value)]
        assert _leaks("\n".join(r.model_dump_json() for r in runs), secrets) == []
        status = inproc.state.get_owner_status(OWNER)
        assert status is not None
        assert _leaks(status.model_dump_json(), secrets) == []
    finally:
        inproc.close()

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

    for path in world.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [name for name, value in secrets.items() if value.encode() in data]
            assert leaked == [], f"{path} holds {leaked}"

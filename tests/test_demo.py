"""`erpsync demo`: a whole integration against the plugins' simulators, over real HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner

from erpsync.cli import app
from erpsync.demo import run_demo
from erpsync.models import Flow
from erpsync.plugins import discover


def test_the_demo_moves_everything_and_then_nothing(tmp_path: Path) -> None:
    registry = discover(select={"fake_erp", "ongoing_wms"})
    threads_before = set(threading.enumerate())
    result = run_demo(registry, "fake_erp", "ongoing_wms", folder=tmp_path, size=20)
    assert set(threading.enumerate()) <= threads_before, "a simulator server was left running"

    (_, inbound), (_, back), (_, again) = result.steps
    moved = {Flow(r.flow): r for r in inbound}
    assert moved[Flow.ARTICLES].written == 20
    assert moved[Flow.ORDERS].written >= 3
    reported = {Flow(r.flow): r for r in back}
    assert reported[Flow.DELIVERIES].written == 2, "one order shipped in full, one in part"
    assert reported[Flow.RECEIPTS].written == 3
    assert reported[Flow.ADJUSTMENTS].written == 4
    assert all(r.outcome == "ok" for r in (*inbound, *back, *again))
    assert sum(r.written for r in again) == 0, "the second cycle must write nothing"
    assert all(r.requests > 0 for r in inbound), "requests went over real HTTP and were counted"

    config = (tmp_path / "erpsync.toml").read_text()
    assert "{ file = " in config, "secrets are referenced, not written into the config"
    assert "127.0.0.1" in config
    log = (tmp_path / "erpsync.log").read_text()
    assert "demo articles ok" in log
    for secret in (tmp_path / "secrets").iterdir():
        assert secret.stat().st_mode & 0o077 == 0, "secret files are private"
        assert secret.read_text() not in log


def test_the_demo_command_shows_the_tables_and_where_things_are(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--erp", "fake_erp", "--wms", "ongoing_wms",
                                      "--size", "10", "--folder", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "1. Master data and orders from the ERP into the warehouse" in result.output
    assert "3. The same cycle again: only what changed since is written" in result.output
    assert "The last cycle wrote 0 record(s)" in result.output
    assert str(tmp_path / "d") in result.output
    assert "erpsync check --connect" in result.output


def test_a_plugin_without_a_simulator_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--erp", "fake_erp", "--wms", "fake_wms"])
    assert result.exit_code == 1
    assert "plugin 'fake_wms' ships no simulator" in result.output


def test_the_default_demo_runs_netvisor_into_ongoing_and_back(tmp_path: Path) -> None:
    registry = discover(select={"netvisor", "ongoing_wms", "fake_erp"})
    from erpsync.demo import choose

    assert choose(registry, "erp", None) == "fake_erp", "alphabetical among simulators"
    result = run_demo(registry, "netvisor", "ongoing_wms", folder=tmp_path, size=20)
    (_, inbound), (_, back), (_, again) = result.steps
    assert all(r.outcome == "ok" for r in (*inbound, *back, *again)), [
        (r.flow, r.message) for r in (*inbound, *back, *again) if r.outcome != "ok"]
    assert {Flow(r.flow): r.written for r in inbound}[Flow.ARTICLES] == 20
    written_back = {Flow(r.flow): r.written for r in back}
    assert written_back == {Flow.DELIVERIES: 2, Flow.RECEIPTS: 2, Flow.ADJUSTMENTS: 4}
    assert sum(r.written for r in again) == 0


def test_the_poweroffice_demo_ships_only_paid_uncredited_invoices(tmp_path: Path) -> None:
    registry = discover(select={"poweroffice", "ongoing_wms"})
    result = run_demo(registry, "poweroffice", "ongoing_wms", folder=tmp_path, size=20)
    (_, inbound), (_, back), (_, again) = result.steps
    assert all(r.outcome == "ok" for r in (*inbound, *back, *again))
    orders = {Flow(r.flow): r for r in inbound}[Flow.ORDERS]
    assert orders.written == 3, "the unpaid, the credited and the reversed invoice stay out"
    assert [Flow(r.flow) for r in back] == [Flow.STOCK]
    assert sum(r.written for r in again) == 0


def test_the_fortnox_demo_gives_consent_and_rotates_the_refresh_token(tmp_path: Path) -> None:
    registry = discover(select={"fortnox", "ongoing_wms"})
    notes: list[str] = []
    result = run_demo(registry, "fortnox", "ongoing_wms", folder=tmp_path, size=10,
                      on_note=notes.append)
    (_, inbound), (_, back), (_, again) = result.steps
    assert all(r.outcome == "ok" for r in (*inbound, *back, *again)), [
        (r.flow, r.message) for r in (*inbound, *back, *again) if r.outcome != "ok"]
    assert any("Consent given at the fortnox simulator's consent page" in n for n in notes)
    log = (tmp_path / "erpsync.log").read_text()
    assert log.count("access token refreshed; the new pair is stored") == 1, (
        "the warehouse's hour outlived step 1's access token: exactly one refresh")
    assert {Flow(r.flow): r.written for r in back}[Flow.DELIVERIES] == 2
    written_again = {Flow(r.flow): r.written for r in again if r.written}
    assert written_again.get(Flow.ORDERS) == 1, "the back order of the partial delivery"

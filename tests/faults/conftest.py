"""Fixtures of the fault suite and its counts (faults injected, runs, records, duplicates,
records lost), written at the end of the test session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.world import InProcess, World, make_world


@dataclass
class Tally:
    faults: int = 0
    runs: int = 0
    records: int = 0
    duplicates: int = 0
    lost: int = 0

    def count_runs(self, runs: dict[str, Any]) -> None:
        """Runs as the child prints them, or ``{flow: RunRecord}``."""
        self.runs += 1
        for run in runs.values():
            self.records += run[1] if isinstance(run, list) else run.read

    def compare(self, expected: dict[str, Any], actual: dict[str, Any]) -> None:
        """Count duplicates and losses between two snapshots (see World.snapshot)."""
        for name in ("nv_deliveries", "nv_report_posts"):
            for key, want in expected[name].items():
                got = actual[name].get(key, 0)
                self.duplicates += max(0, got - want)
                self.lost += max(0, want - got)
        for name in ("wms_articles", "wms_orders", "wms_purchase_orders"):
            self.lost += len(set(expected[name]) - set(actual[name]))
        want_events = [e[0] for e in expected["nv_warehouse_events"]]
        got_events = [e[0] for e in actual["nv_warehouse_events"]]
        self.duplicates += len(got_events) - len(set(got_events))
        self.lost += len(set(want_events) - set(got_events))


TALLY = Tally()


@pytest.fixture
def tally() -> Tally:
    return TALLY


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    served = make_world(tmp_path)
    try:
        yield served
    finally:
        served.close()


SUMMARY_ENV = "ERPSYNC_FAULT_SUMMARY"
"""A file to write the counts to as JSON (``nox -s bench`` puts them into docs/benchmarks.md)."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.runs == 0:
        return
    terminalreporter.write_sep("-", "fault-injection suite")
    terminalreporter.write_line(
        f"faults injected: {TALLY.faults}, runs: {TALLY.runs}, records read: {TALLY.records}, "
        f"duplicates found: {TALLY.duplicates}, records lost: {TALLY.lost}")
    target = os.environ.get(SUMMARY_ENV)
    if target:
        stats = terminalreporter.stats
        Path(target).write_text(json.dumps({
            "faults": TALLY.faults, "runs": TALLY.runs, "records": TALLY.records,
            "duplicates": TALLY.duplicates, "lost": TALLY.lost,
            "passed": len(stats.get("passed", [])), "failed": len(stats.get("failed", [])),
        }), encoding="utf-8")


@pytest.fixture
def inproc(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    runner = InProcess(world, monkeypatch)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    """The seeded world with the simulators mounted in-process (no sockets): the runner in
    this process. The apps are the Chaos wrappers, so their faults work too."""
    from erpsync import http

    served = make_world(tmp_path, serve=False)
    with (http.mount(served.nv.base_url, served.nv_chaos),
          http.mount(served.wms.base_url, served.wms_chaos)):
        runner = InProcess(served, monkeypatch)
        try:
            yield runner
        finally:
            runner.close()

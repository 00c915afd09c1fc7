"""Fixtures of the fault suite and its counts (faults injected, runs, records, duplicates,
records lost), written at the end of the test session."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAULT_TALLY
from tests.faults.world import (
    OWNER,
    InProcess,
    ServedWorld,
    W,
    World,
    child_runs,
    make_world,
)
from tests.faults.world_fortnox import FxWorld, make_fx_world
from tests.faults.world_poweroffice import PoWorld, make_po_world


@dataclass
class Tally:
    faults: int = 0
    runs: int = 0
    records: int = 0
    duplicates: int = 0
    lost: int = 0

    def count_runs(self, runs: Mapping[Any, Any]) -> None:
        """Runs as the child prints them, or ``{flow: RunRecord}``."""
        self.runs += 1
        for run in runs.values():
            self.records += run[1] if isinstance(run, list) else run.read

    def compare(self, expected: dict[str, Any], actual: dict[str, Any]) -> None:
        """Count duplicates and losses between two snapshots of one ERP's world
        (``World.snapshot``, ``PoWorld.snapshot``)."""
        for name in COUNTED:
            for key, want in expected.get(name, {}).items():
                got = actual[name].get(key, 0)
                self.duplicates += max(0, got - want)
                self.lost += max(0, want - got)
        for name in ("wms_articles", "wms_orders", "wms_purchase_orders"):
            self.lost += len(set(expected.get(name, ())) - set(actual.get(name, ())))
        want_events = [e[0] for e in expected.get("nv_warehouse_events", ())]
        got_events = [e[0] for e in actual.get("nv_warehouse_events", ())]
        self.duplicates += len(got_events) - len(set(got_events))
        self.lost += len(set(want_events) - set(got_events))
        if "wms_order_count" in expected:
            surplus = actual["wms_order_count"] - expected["wms_order_count"]
            self.duplicates += max(0, surplus)


COUNTED = ("nv_deliveries", "nv_report_posts", "po_stock_writes", "fx_invoices",
           "fx_incoming_goods", "fx_custom_documents")
"""Snapshot entries that count what was reported to the ERP: more is a duplicate, fewer a
loss."""

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


WORLDS: dict[str, Callable[[Path], ServedWorld]] = {"netvisor": make_world,
                                                    "poweroffice": make_po_world,
                                                    "fortnox": make_fx_world}
"""The ERPs the suite runs against, by plugin name."""
ERPS = list(WORLDS)


@pytest.fixture
def erp_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedWorld]:
    """The world of the ERP named by the test's parameter (``indirect=["erp_world"]``, or
    ``@pytest.mark.parametrize("erp_world", ERPS, indirect=True)``)."""
    served = WORLDS[request.param](tmp_path)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def erp_inproc(erp_world: ServedWorld,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[ServedWorld]]:
    runner = InProcess(erp_world, monkeypatch)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def po_world(tmp_path: Path) -> Iterator[PoWorld]:
    served = make_po_world(tmp_path)
    try:
        yield served
    finally:
        served.close()


def run_ok(world: ServedWorld, tally: Tally, point: str | None = None) -> dict[str, Any]:
    """One cycle in a child process (``child.py``) that must end ``ok`` in every flow."""
    result = world.run_child(point)
    assert result.returncode == 0, result.stderr[-3000:]
    runs: dict[str, Any] = child_runs(result)[OWNER]
    tally.count_runs(runs)
    assert {flow: run[0] for flow, run in runs.items()} == dict.fromkeys(runs, "ok"), runs
    return runs


@pytest.fixture(scope="session")
def clean_end_state() -> Callable[[str], dict[str, Any]]:
    """Both simulators' end state of an ERP's world after a cycle, the warehouse's work and
    another cycle, without a fault (made once per ERP, in child processes)."""
    made: dict[str, dict[str, Any]] = {}

    def clean(erp: str) -> dict[str, Any]:
        if erp not in made:
            with tempfile.TemporaryDirectory() as folder:
                world = WORLDS[erp](Path(folder))
                try:
                    run_ok(world, TALLY)
                    world.play_the_warehouse()
                    run_ok(world, TALLY)
                    made[erp] = world.snapshot()
                finally:
                    world.close()
        return made[erp]

    return clean


@pytest.fixture(autouse=True)
def _reported_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    """What this test added to the counts, attached to its report: the counts are summed
    from the reports (tests/conftest.py), so they are whole when the tests run in parallel
    worker processes too."""
    before = dataclasses.asdict(TALLY)
    yield
    after = dataclasses.asdict(TALLY)
    request.node.user_properties.append(
        (FAULT_TALLY, {name: after[name] - before[name] for name in after}))


@pytest.fixture
def inproc(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[World]]:
    runner = InProcess(world, monkeypatch)
    try:
        yield runner
    finally:
        runner.close()


@contextlib.contextmanager
def _in_process(served: W, erp_url: str, erp_app: Any, wms_url: str, wms_app: Any,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[W]]:
    """``served`` with its simulators' Chaos wrappers mounted in-process (no sockets) and the
    runner in this process, so that the faults work without a child."""
    from erpsync import http

    with http.mount(erp_url, erp_app), http.mount(wms_url, wms_app):
        runner = InProcess(served, monkeypatch)
        try:
            yield runner
        finally:
            runner.close()


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[World]]:
    """The seeded world with the simulators mounted in-process (no sockets): the runner in
    this process. The apps are the Chaos wrappers, so their faults work too."""
    served = make_world(tmp_path, serve=False)
    with _in_process(served, served.nv.base_url, served.nv_chaos, served.wms.base_url,
                     served.wms_chaos, monkeypatch) as runner:
        yield runner


@pytest.fixture
def fx_world(tmp_path: Path) -> Iterator[FxWorld]:
    served = make_fx_world(tmp_path)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def fx_mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[FxWorld]]:
    """The Fortnox world mounted in-process, as ``mounted``."""
    served = make_fx_world(tmp_path, serve=False)
    with _in_process(served, served.fx.base_url, served.erp_chaos, served.wms.base_url,
                     served.wms_chaos, monkeypatch) as runner:
        yield runner


@pytest.fixture
def po_mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess[PoWorld]]:
    """The PowerOffice world mounted in-process, as ``mounted``."""
    served = make_po_world(tmp_path, serve=False)
    with _in_process(served, served.po.base_url, served.erp_chaos, served.wms.base_url,
                     served.wms_chaos, monkeypatch) as runner:
        yield runner

"""A real SIGKILL at each point of a run, then a restart: the end state is a clean run's.

The simulators are served from this process (uvicorn on loopback) and outlive the killed
child; the child (``child.py``) runs one cycle of the real runner and kills itself at the
point named in its environment. After each kill the state directory is checked (no cursor
ahead of what was written), then the child runs again without a fault, the warehouse does
its work, and a last cycle runs; both simulators must end as after the same steps without a
fault: no record lost, no delivery, receipt or stock transaction reported twice.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erpsync.models import Flow
from erpsync.state import DiskState
from tests.faults.conftest import Tally
from tests.faults.world import OWNER, World, child_runs, make_world

INBOUND_POINTS = {
    "before:upsert_order:1": "after the ERP read of the orders, before any order is written",
    "after:upsert_article:3": "between WMS writes: the third article's PUT is done, its "
                              "fingerprint not written",
    "before:upsert_purchase_order:2": "between the purchase orders' WMS writes",
    "txn:cursor-articles:1": "during the articles' cursor write (inside the SQLite "
                             "transaction)",
}
EVENT_POINTS = {
    "state:ledger-done-deliveries:1": "Netvisor accepted a delivery, the ledger not yet done",
    "txn:ledger-done-receipts:1": "Netvisor accepted a receipt, killed inside the ledger write",
    "state:ledger-done-adjustments:2": "Netvisor accepted the second warehouse event, the "
                                       "ledger not yet done",
    "txn:ledger-pending-deliveries:2": "during the pending write of the second delivery",
    "before:mark_reported:2": "ledger done, the WMS not yet told",
    "txn:cursor-deliveries:1": "during the deliveries' cursor write",
}
KILLED = -signal.SIGKILL


def _ok(world: World, tally: Tally, point: str | None = None) -> dict[str, Any]:
    result = world.run_child(point)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = child_runs(result)[OWNER]
    tally.count_runs(runs)
    assert {flow: run[0] for flow, run in runs.items()} == dict.fromkeys(runs, "ok"), runs
    return runs


def _kill(world: World, tally: Tally, point: str) -> None:
    result = world.run_child(point)
    assert result.returncode == KILLED, (
        f"the child was not killed at {point} (rc {result.returncode}): the point was never "
        f"reached\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
    tally.faults += 1
    tally.runs += 1


def _ledger(world: World) -> dict[str, str]:
    state = DiskState(world.state_dir)
    try:
        cache = state._caches["ledger"]
        return {str(key): state.get_ledger(*str(key).split("\x1f")).status  # type: ignore[union-attr]
                for key in cache.iterkeys()}
    finally:
        state.close()


def _cursor(world: World, flow: Flow) -> Any:
    state = DiskState(world.state_dir)
    try:
        return state.get_cursor(OWNER, flow.value)
    finally:
        state.close()


@pytest.fixture(scope="module")
def clean() -> Iterator[dict[str, Any]]:
    """Both simulators' end state after the same steps without a fault."""
    from tests.faults.conftest import TALLY

    with tempfile.TemporaryDirectory() as folder:
        world = make_world(Path(folder))
        try:
            _ok(world, TALLY)
            world.play_the_warehouse()
            _ok(world, TALLY)
            yield world.snapshot()
        finally:
            world.close()


@pytest.mark.parametrize("point", list(INBOUND_POINTS))
def test_a_kill_while_syncing_into_the_warehouse(point: str, world: World, tally: Tally,
                                                 clean: dict[str, Any]) -> None:
    _kill(world, tally, point)
    if point == "before:upsert_order:1":
        assert _cursor(world, Flow.ARTICLES) is not None, "the articles flow had finished"
        assert world.wms.count(Flow.ORDERS) == 0
    # No cursor ahead of what was written: the killed flow's cursor was never stored.
    killed_flow = {"before:upsert_order:1": Flow.ORDERS, "after:upsert_article:3": Flow.ARTICLES,
                   "before:upsert_purchase_order:2": Flow.PURCHASE_ORDERS,
                   "txn:cursor-articles:1": Flow.ARTICLES}[point]
    assert _cursor(world, killed_flow) is None
    if point == "txn:cursor-articles:1":
        assert world.wms.count(Flow.ARTICLES) == 7, "every article was written before the kill"

    restart = _ok(world, tally)
    assert restart["articles"][1] == 7, "the restart read the catalogue again"
    world.play_the_warehouse()
    _ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean
    assert set(_ledger(world).values()) == {"done"}


@pytest.mark.parametrize("point", list(EVENT_POINTS))
def test_a_kill_while_reporting_back_to_netvisor(point: str, world: World, tally: Tally,
                                                 clean: dict[str, Any]) -> None:
    _ok(world, tally)
    world.play_the_warehouse()
    _kill(world, tally, point)
    if point.startswith("state:ledger-done") or point.startswith("txn:ledger-done"):
        assert "pending" in _ledger(world).values(), "the ERP has it, the ledger says pending"
    if point == "txn:cursor-deliveries:1":
        assert _cursor(world, Flow.DELIVERIES) is None, "the killed cursor write was rolled back"
        assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2

    _ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean, "no delivery, receipt or warehouse event lost or sent twice"
    assert set(_ledger(world).values()) == {"done"}

    quiet = _ok(world, tally)
    assert {flow: run[2] for flow, run in quiet.items()} == dict.fromkeys(quiet, 0)
    assert world.snapshot() == clean

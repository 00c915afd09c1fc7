"""A real SIGKILL at each point of a run, then a restart: the end state is a clean run's.

The simulators are served from this process (uvicorn on loopback) and outlive the killed
child; the child (``child.py``) runs one cycle of the real runner and kills itself at the
point named in its environment. After each kill the state directory is checked (no cursor
ahead of what was written), then the child runs again without a fault, the warehouse does
its work, and a last cycle runs; both simulators must end as after the same steps without a
fault: no record lost, no delivery, receipt or stock transaction reported twice.

Every test runs against each ERP's world (Netvisor; PowerOffice Go, whose way back is the
stock on hand) at the kill points that apply to that ERP's flows. Fortnox's world is killed
several times in a row instead, each restart being the next killed run, and compared with the
clean run at the end: the plugin paces itself to Fortnox's 25 calls per 5 seconds, so each of
its calls costs 0.2 s, and a clean run per kill point would not fit the suite's time.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from erpsync.models import Flow
from erpsync.state import DiskState
from tests.faults.conftest import Tally, run_ok
from tests.faults.world import OWNER, ServedWorld
from tests.faults.world_fortnox import CREDENTIALS, FxWorld

INBOUND_POINTS: dict[str, dict[str, tuple[str, Flow]]] = {
    "netvisor": {
        "before:upsert_order:1": ("after the ERP read of the orders, before any order is "
                                  "written", Flow.ORDERS),
        "after:upsert_article:3": ("between WMS writes: the third article's PUT is done, its "
                                   "fingerprint not written", Flow.ARTICLES),
        "before:upsert_purchase_order:2": ("between the purchase orders' WMS writes",
                                           Flow.PURCHASE_ORDERS),
        "txn:cursor-articles:1": ("during the articles' cursor write (inside the SQLite "
                                  "transaction)", Flow.ARTICLES),
    },
    "poweroffice": {
        "before:upsert_order:1": ("after the read of the paid invoices (and their lines and "
                                  "customers), before any order is written", Flow.ORDERS),
        "after:upsert_article:3": ("between WMS writes: the third product's PUT is done, its "
                                   "fingerprint not written", Flow.ARTICLES),
        "txn:cursor-orders:1": ("during the orders' cursor write (inside the SQLite "
                                "transaction)", Flow.ORDERS),
    },
}
RETURN_POINTS: dict[str, dict[str, str]] = {
    "netvisor": {
        "state:ledger-done-deliveries:1": "Netvisor accepted a delivery, the ledger not yet "
                                          "done",
        "txn:ledger-done-receipts:1": "Netvisor accepted a receipt, killed inside the ledger "
                                      "write",
        "state:ledger-done-adjustments:2": "Netvisor accepted the second warehouse event, the "
                                           "ledger not yet done",
        "txn:ledger-pending-deliveries:2": "during the pending write of the second delivery",
        "before:mark_reported:2": "ledger done, the WMS not yet told",
        "txn:cursor-deliveries:1": "during the deliveries' cursor write",
    },
    "poweroffice": {
        "http:PATCH:1": "between stock pushes: the first product's StockOnHand PATCH answered, "
                        "the others not sent",
        "after:push_stock:1": "every PATCH of the batch answered, no fingerprint written",
    },
}
KILLED = -signal.SIGKILL


def _points(table: dict[str, dict[str, Any]]) -> list[Any]:
    return [pytest.param(erp, point, id=f"{erp}-{point}")
            for erp, points in table.items() for point in points]


def _kill(world: ServedWorld, tally: Tally, point: str) -> None:
    result = world.run_child(point)
    assert result.returncode == KILLED, (
        f"the child was not killed at {point} (rc {result.returncode}): the point was never "
        f"reached\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
    tally.faults += 1
    tally.runs += 1


def _ledger(world: ServedWorld) -> dict[str, str]:
    state = DiskState(world.state_dir)
    try:
        cache = state._caches["ledger"]
        return {str(key): state.get_ledger(*str(key).split("\x1f")).status  # type: ignore[union-attr]
                for key in cache.iterkeys()}
    finally:
        state.close()


def _cursor(world: ServedWorld, flow: Flow) -> Any:
    state = DiskState(world.state_dir)
    try:
        return state.get_cursor(OWNER, flow.value)
    finally:
        state.close()


def _all_done(world: ServedWorld) -> None:
    """Every report the ledger holds is done (an ERP that takes no reports has none)."""
    assert set(_ledger(world).values()) == ({"done"} if world.reports_events else set())


@pytest.mark.parametrize(("erp_world", "point"), _points(INBOUND_POINTS),
                         indirect=["erp_world"])
def test_a_kill_while_syncing_into_the_warehouse(
    erp_world: ServedWorld, point: str, tally: Tally,
    clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    world = erp_world
    clean = clean_end_state(world.erp_name)
    _kill(world, tally, point)
    if point == "before:upsert_order:1":
        assert _cursor(world, Flow.ARTICLES) is not None, "the articles flow had finished"
        assert world.wms.count(Flow.ORDERS) == 0
    # No cursor ahead of what was written: the killed flow's cursor was never stored.
    assert _cursor(world, INBOUND_POINTS[world.erp_name][point][1]) is None
    if point == "txn:cursor-articles:1":
        assert world.wms.count(Flow.ARTICLES) == 7, "every article was written before the kill"
    if point == "txn:cursor-orders:1":
        assert world.wms.count(Flow.ORDERS) == len(world.orders), "written before the kill"

    restart = run_ok(world, tally)
    assert restart["articles"][1] == 7, "the restart read the catalogue again"
    world.play_the_warehouse()
    run_ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean
    _all_done(world)


@pytest.mark.parametrize(("erp_world", "point"), _points(RETURN_POINTS),
                         indirect=["erp_world"])
def test_a_kill_while_reporting_back_to_the_erp(
    erp_world: ServedWorld, point: str, tally: Tally,
    clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    world = erp_world
    clean = clean_end_state(world.erp_name)
    run_ok(world, tally)
    world.play_the_warehouse()
    before = world.snapshot()
    _kill(world, tally, point)
    if point.startswith("state:ledger-done") or point.startswith("txn:ledger-done"):
        assert "pending" in _ledger(world).values(), "the ERP has it, the ledger says pending"
    if point == "txn:cursor-deliveries:1":
        assert _cursor(world, Flow.DELIVERIES) is None, "the killed cursor write was rolled back"
        assert world.erp.request_count("salesorderinvoicing.nv", "POST") == 2
    if point.startswith("http:PATCH:"):
        patched = int(point.rsplit(":", 1)[1])
        writes = world.snapshot()["po_stock_writes"]
        assert sum(writes.values()) - sum(before["po_stock_writes"].values()) == patched, \
            "killed between two PATCHes"

    run_ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean, "no delivery, receipt, warehouse event or stock write lost or " \
                              "sent twice"
    _all_done(world)

    quiet = run_ok(world, tally)
    assert {flow: run[2] for flow, run in quiet.items()} == dict.fromkeys(quiet, 0)
    assert world.snapshot() == clean


# --- Fortnox: one kill after another ---------------------------------------------------------

FORTNOX_INBOUND: list[tuple[str, str, Flow]] = [
    ("after:upsert_article:2", "between WMS writes: the second article's PUT is done, its "
                               "fingerprint not written", Flow.ARTICLES),
    ("before:upsert_order:1", "after the Fortnox read of the orders, before any order is "
                              "written", Flow.ORDERS),
    ("txn:cursor-orders:1", "during the orders' cursor write (inside the SQLite transaction)",
     Flow.ORDERS),
]
FORTNOX_RETURN: list[tuple[str, str]] = [
    ("state:credentials-pair:1", "during a token refresh: Fortnox rotated the pair and its "
                                 "answer is saved, the new pair not yet stored"),
    ("state:ledger-done-deliveries:1", "Fortnox accepted the first delivery (rows written, "
                                       "warehouse-ready, invoice created), the ledger not yet "
                                       "done"),
    ("txn:ledger-done-receipts:1", "Fortnox accepted the receipt (incoming goods created, "
                                   "released and completed, the purchase order completed), "
                                   "killed inside the ledger write"),
]


def _credentials(world: ServedWorld) -> dict[str, Any]:
    state = DiskState(world.state_dir)
    try:
        stored = state.load_credentials(OWNER, CREDENTIALS)
    finally:
        state.close()
    assert stored is not None
    return stored


def _token_calls(world: FxWorld) -> int:
    return world.fx.request_count("/oauth-v1/token", "POST")


def test_fortnox_killed_three_times_while_syncing_into_the_warehouse(
    fx_world: FxWorld, tally: Tally, clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    world = fx_world
    clean = clean_end_state(world.erp_name)
    for point, where, flow in FORTNOX_INBOUND:
        _kill(world, tally, point)
        assert _cursor(world, flow) is None, f"no cursor ahead of what was written ({where})"
        if point == "after:upsert_article:2":
            assert world.wms.count(Flow.ARTICLES) == 2
        if point == "before:upsert_order:1":
            assert _cursor(world, Flow.ARTICLES) is not None, "the articles flow had finished"
            assert world.wms.count(Flow.ORDERS) == 0
        if point == "txn:cursor-orders:1":
            assert world.wms.count(Flow.ORDERS) == len(world.orders), "written before the kill"

    run_ok(world, tally)
    world.play_the_warehouse()
    run_ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean
    _all_done(world)
    assert _token_calls(world) == 0, "the consent's access token served every run"


def test_fortnox_killed_during_a_token_refresh_and_while_reporting_back(
    fx_world: FxWorld, tally: Tally, clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    world = fx_world
    clean = clean_end_state(world.erp_name)
    run_ok(world, tally)
    world.play_the_warehouse()
    world.fx.expire_access_tokens()  # the next call is refused: the plugin refreshes
    for point, where in FORTNOX_RETURN:
        _kill(world, tally, point)
        if point.startswith("state:credentials"):
            assert _token_calls(world) == 1
            assert "answer" in _credentials(world), f"saved raw before the kill ({where})"
            assert world.fx.refresh_tokens_alive() == 1, "Fortnox holds one chain"
        else:
            assert _token_calls(world) == 1, "the saved answer was settled: no second refresh"
            assert "pending" in _ledger(world).values(), f"Fortnox has it ({where})"
        if point == "state:ledger-done-deliveries:1":
            assert sorted(len(world.fx.invoices_of(int(n))) for n in world.orders) == [0, 1]
        if point == "txn:ledger-done-receipts:1":
            assert len(world.fx.incoming_goods(int(world.purchase_orders[0]))) == 1

    run_ok(world, tally)
    snapshot = world.snapshot()
    tally.compare(clean, snapshot)
    assert snapshot == clean, "no invoice, incoming goods or custom document lost or made twice"
    _all_done(world)
    stored = _credentials(world)
    assert set(stored) >= {"access_token", "refresh_token"} and "answer" not in stored
    assert world.fx.refresh_tokens_alive() == 1 and _token_calls(world) == 1

    quiet = run_ok(world, tally)
    assert {flow: run[2] for flow, run in quiet.items()} == dict.fromkeys(quiet, 0)
    assert world.snapshot() == clean

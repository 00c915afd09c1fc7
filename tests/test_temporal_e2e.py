"""End to end: the Temporal engine (``engine = "temporal"``) as it is deployed.

Real processes only: ``erpsync worker`` (two of them where it matters), ``erpsync run --once``,
``schedules sync``, ``pause`` and ``state migrate`` as ``sys.executable -m erpsync.cli``; a real
Temporal dev server (tests/temporal.py), real PostgreSQL (tests/postgres.py) and the Netvisor
and Ongoing WMS simulators on loopback ports with many goods owners, each its own Netvisor
organisation and Ongoing user (tests/temporal_world.py, on the benchmarks' ``Vendors``).

1. 50 goods owners on two workers end where the embedded engine ends: the same records in the
   WMS, the same run records; and the simulators (an ASGI middleware counting calls in flight
   per goods owner) never saw two calls of one goods owner at once, while many goods owners
   ran at once. One test, one 50-owner run: split in two, xdist could run it twice.
2. A worker SIGKILLed in the middle of a cycle, at the worst moment (Netvisor has taken its
   report, it has not heard so): its flows run again on the other worker; no record is lost,
   none is written or reported twice, no run is recorded twice.
3. PostgreSQL stopped under a running worker: a clear StateError naming the database (not its
   password) in the worker's log; started again, the cycle completes.
4. A paused goods owner never runs, however often its Schedule would fire and however often
   ``run --once`` is asked.

Budget: about a minute on one xdist worker, most of it the 50-owner run and, in 2., the
seconds Temporal waits before it hands a dead worker's workflow tasks to the other (the
worker's ``sticky_queue_schedule_to_start_timeout``: the heartbeat timeout, at most 10 s).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from erpsync.models import Flow
from erpsync.state import open_state

from .postgres import PostgresServer
from .temporal import temporal_toml
from .temporal_world import Fleet, RunDigest, fleet, run_digest

FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
         Flow.ADJUSTMENTS)
"""Every flow both plugins offer (Netvisor and Ongoing WMS)."""


def engine(address: str, state_url: str, heartbeat_seconds: float = 3) -> str:
    """The config's top for the Temporal engine: state_url (a TOML value), then [temporal].
    The heartbeat timeout is also the goods owner's lock's expiry: short, so that a dead
    worker's flows move on quickly; not too short for a loaded CI machine."""
    return f"state_url = {state_url}\n" + temporal_toml(
        address, heartbeat_seconds=heartbeat_seconds, jitter_seconds=0)


ON_DEMAND = 1_000_000
"""interval_minutes (about two years) of goods owners whose cycles only ``run --once`` starts:
an interval Schedule fires at the multiples of its interval since 1970, so with the default
15 minutes one fires within a test now and then, and a cycle nobody asked for would run."""

REPORTS = {"/salesorderinvoicing.nv": 1, "/purchaseorder.nv": 1, "/warehouseevent.nv": 1}
"""The calls that report one goods owner's shipped order, received purchase order and stock
adjustment to Netvisor (:meth:`Fleet.play_the_warehouse`)."""


def report_calls(world: Fleet) -> Counter[tuple[str, str]]:
    """(goods owner, path) of every report (POST) Netvisor was sent."""
    return Counter({(owner, path): n for (owner, method, path), n
                    in world.erp_calls.writes.items() if method == "POST"})


def sent_by(sent: Counter[tuple[str, str]], owner_id: str) -> dict[str, int]:
    return {path: n for (owner, path), n in sent.items() if owner == owner_id}


def digest(world: Fleet, state_dir: Path, state_url: str | None = None) -> RunDigest:
    state = open_state(state_dir, state_url)
    try:
        return run_digest(state, world.ids, FLOWS)
    finally:
        state.close()


def assert_complete(world: Fleet) -> dict[str, dict[str, Any]]:
    """Every goods owner's articles, orders and purchase orders are in the WMS, each once
    (nothing else of the goods owner there); the WMS's snapshot."""
    wms = world.wms_snapshot()
    for owner_id, counts in world.expected_counts().items():
        held = wms[owner_id]
        assert {name: held[name] for name in counts} == counts, owner_id
        catalogue = world.catalogues[owner_id]
        assert (sorted(held["articles"]), sorted(held["orders"]), sorted(
            held["purchase_orders"])) == (sorted(catalogue.products), sorted(catalogue.orders),
                                          sorted(catalogue.purchase_orders)), owner_id
    return wms


def test_fifty_goods_owners_on_two_workers_end_as_the_embedded_engine_one_call_at_a_time(
        tmp_path: Path, temporal_address: str, pg_database_url: str) -> None:
    """The same population in two worlds: one cycle of the embedded engine (disk state), one
    through the Schedules on two workers (PostgreSQL state). Every flow of every goods owner
    ends the same in both, and the Temporal world's simulators (with some latency, so that
    calls last) never had two calls of one goods owner in flight."""
    with fleet(tmp_path / "embedded", 50) as embedded, \
            fleet(tmp_path / "temporal", 50, latency=0.02) as world:
        embedded.write_config(concurrency=8)
        world.write_config(concurrency=8, interval_minutes=ON_DEMAND,
                           head=engine(temporal_address, f'"{pg_database_url}"'))
        at_home = embedded.start("run", "--once")  # meanwhile the Temporal world is set up
        world.ok("state", "migrate")
        world.ok("schedules", "sync")
        workers = world.start_workers(2)
        embedded.finish(at_home)

        world.ok("run", "--once", timeout=180)

        # Both workers ran flows, and together every flow of every goods owner once.
        done = [w.flows_done() for w in workers]
        assert all(done), f"a worker ran nothing: {done}"
        assert sum(done) == 50 * len(FLOWS)
        # One call at a time per goods owner, on both vendors, though many goods owners ran at
        # once: the per-owner peak could have been seen above 1.
        for calls in (world.erp_calls, world.wms_calls):
            assert set(calls.calls) == set(world.ids), "a call from no known goods owner"
            assert dict(calls.peak) == dict.fromkeys(world.ids, 1)
            assert calls.peak_total > 1
        # The same end state: what the WMS holds, and each state's runs.
        assert_complete(world)
        assert world.wms_snapshot() == embedded.wms_snapshot()
        got = digest(world, tmp_path, pg_database_url)
        want = digest(embedded, tmp_path / "embedded" / "state")
        assert got == want
        assert {runs[0][0] for runs in got.values()} == {"ok"}
        assert all(len(runs) == 1 for runs in got.values())
        assert sum(runs[0][2] for runs in got.values()) == 50 * (3 + 2 + 1)  # written


def test_a_worker_killed_mid_cycle_loses_nothing_and_reports_nothing_twice(
        tmp_path: Path, temporal_address: str, pg_database_url: str) -> None:
    """A first cycle puts the catalogues into the WMS; then Netvisor changes and the warehouse
    ships, receives and adjusts, and a second cycle writes the changes to the WMS and reports
    back to Netvisor. The worker whose stock adjustment Netvisor has just recorded is
    SIGKILLed before it hears so (that answer held back, and from then on every answer, so
    that each of its flows dies in the middle of a call): its flows run again on the other
    worker once its heartbeats are missed. A warehouse event, unlike a delivery or a receipt,
    is not absolute: only the write-back ledger's look-up keeps it from being made twice."""
    with fleet(tmp_path, 8) as world:
        world.write_config(concurrency=8, interval_minutes=ON_DEMAND, head=engine(
            temporal_address, f'"{pg_database_url}"', heartbeat_seconds=2))
        world.ok("state", "migrate")
        world.ok("schedules", "sync")
        workers = world.start_workers(2)
        world.ok("run", "--once")
        world.change_in_the_erp()
        expected_reports = world.play_the_warehouse()
        world.vendors.erp.latency = world.vendors.wms.latency = 0.05  # cycles take a while
        reports_before = report_calls(world)

        world.gate.arm(lambda side, scope: side == "erp" and scope["method"] == "POST"
                       and scope["path"] == "/warehouseevent.nv")
        second = world.start("run", "--once")
        try:
            caught = world.gate.wait_caught(timeout=60)
            time.sleep(0.5)  # every flow still running now waits on an answer
            victim = world.worker_of(caught.port)
            victim.kill()
        finally:
            world.gate.open()
        [survivor] = [w for w in workers if w is not victim]
        world.finish(second, also=lambda: survivor.log()[-4000:])
        assert survivor.proc.poll() is None
        # The victim was in the middle of flows, which ran again on the survivor.
        retried = world.retried()
        assert caught.owner in retried, (caught, retried)
        # Every flow of both cycles completed, and was recorded once per cycle.
        runs = digest(world, tmp_path, pg_database_url)
        assert {key: [run[0] for run in history] for key, history in runs.items()} == {
            key: ["ok", "ok"] for key in runs}
        # The WMS holds each record once, as Netvisor has it now.
        wms = assert_complete(world)
        for owner_id in world.ids:
            names = {a["articleName"] for a in wms[owner_id]["articles"].values()}
            assert all(name.endswith("muutettu") for name in names), names
            last_order = world.catalogues[owner_id].orders[-1]
            assert wms[owner_id]["orders"][last_order]["referenceNumber"] == "Muutettu"
        # Netvisor got every delivery, receipt and adjustment once; the report whose answer
        # the victim never heard was not sent again: each goods owner sent the same reports.
        assert world.erp_reports() == expected_reports
        sent = report_calls(world) - reports_before
        assert {owner_id: sent_by(sent, owner_id) for owner_id in world.ids} == dict.fromkeys(
            world.ids, REPORTS)


def test_postgresql_restarted_mid_run_gives_clear_errors_and_the_cycle_recovers(
        tmp_path: Path, temporal_address: str, own_postgres: PostgresServer) -> None:
    """The state database stops under a worker running a cycle: the worker says so (the
    StateError line ending the traceback Temporal's SDK logs for each failed attempt) naming
    host, port and database, never the URL's password; its flows are retried, and once the
    database is back the cycle completes."""
    password = "pw-e2e-Zq8v"
    plain = urlsplit(own_postgres.create_database())
    url = urlunsplit(plain._replace(netloc=f"postgres:{password}@{plain.hostname}:{plain.port}"))
    where = f"{plain.hostname}:{plain.port}{plain.path}"
    with fleet(tmp_path, 4, latency=0.1) as world:
        world.env["ERPSYNC_E2E_STATE_URL"] = url  # a password: by reference only
        world.write_config(concurrency=4, interval_minutes=ON_DEMAND, head=engine(
            temporal_address, '{ env = "ERPSYNC_E2E_STATE_URL" }'))
        world.ok("state", "migrate")
        world.ok("schedules", "sync")
        [worker] = world.start_workers(1)
        cycle = world.start("run", "--once")
        worker.wait_for(lambda: worker.flows_done() > 0, "a first flow")

        own_postgres.stop()
        failed = re.compile(rf"StateError: state database {re.escape(where)}: cannot .+")
        try:
            worker.wait_for(lambda: failed.search(worker.log()), "the StateError", timeout=30)
        finally:
            own_postgres.start()
        shown = world.finish(cycle, also=lambda: worker.log()[-4000:])

        assert password not in worker.log() + shown
        assert worker.proc.poll() is None, "the worker ended with its database"
        assert world.retried(), "no flow was interrupted by the outage"
        runs = digest(world, tmp_path, url)
        assert {key: history[0][0] for key, history in runs.items()} == dict.fromkeys(runs, "ok")
        assert_complete(world)


def test_a_paused_goods_owner_never_runs(tmp_path: Path, temporal_address: str,
                                         pg_database_url: str) -> None:
    """``erpsync pause`` pauses the goods owner's Schedule (and writes a Pause); with every
    Schedule firing every 1.2 s and ``run --once`` asked twice, the others run again and again
    and the paused one never: no cycle, no run record, no call to either vendor."""
    with fleet(tmp_path, 4) as world:
        paused = world.ids[1]
        head = engine(temporal_address, f'"{pg_database_url}"')
        # Its Schedule is created paused (switched off), so that it cannot fire before the
        # pause; `schedules sync` must keep the person's pause when it is switched on again.
        world.write_config(concurrency=4, head=head, interval_minutes=0.02, disabled=[paused])
        world.ok("state", "migrate")
        world.ok("schedules", "sync")
        world.ok("pause", paused, "--reason", "stocktaking")
        world.write_config(concurrency=4, head=head, interval_minutes=0.02)
        world.ok("schedules", "sync")
        world.start_workers(2)
        for _ in range(2):
            shown = world.ok("run", "--once")
            assert paused not in shown
        # The Schedules fire by themselves meanwhile (every 1.2 s): wait until each of the
        # others has started three cycles or more (on a loaded machine cycles take longer,
        # and a Schedule skips a start while its last cycle runs).
        deadline = time.monotonic() + 60
        while True:
            fired = world.schedules()
            others = [s for owner_id, s in fired.items() if owner_id != paused]
            if all(s.cycles >= 3 for s in others) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (fired[paused].paused, fired[paused].cycles) == (True, 0), fired[paused]
        assert fired[paused].note == "paused by erpsync pause: stocktaking"
        # The others' Schedules ran them when asked and on their interval too (more cycles
        # than the two asked for): the paused one's would have fired as often.
        assert all(not s.paused and s.cycles >= 3 for owner_id, s in fired.items()
                   if owner_id != paused), fired
        state = open_state(tmp_path, pg_database_url)
        try:
            pause = state.get_pause(paused)
        finally:
            state.close()
        assert pause is not None and pause.reason == "stocktaking"
        runs = digest(world, tmp_path, pg_database_url)
        for (owner_id, flow), history in runs.items():
            if owner_id == paused:
                assert history == [], (owner_id, flow)
            else:
                assert len(history) >= 2 and {r[0] for r in history} == {"ok"}, (owner_id, flow)
        for calls in (world.erp_calls, world.wms_calls):
            assert calls.calls[paused] == 0
            assert all(calls.calls[o] > 0 for o in world.ids if o != paused)

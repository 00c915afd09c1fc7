"""The state directory read-only, full, or with a corrupted entry: a clear StateError naming
the problem and a stop; never a silent re-sync of everything, never a report sent twice.

The tests run as whoever runs the suite (root in CI, for whom ``chmod`` changes nothing), so a
read-only directory and a full disk are simulated where SQLite would report them: diskcache's
writes raise ``sqlite3.OperationalError("attempt to write a readonly database")`` or
``OSError(ENOSPC)``.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable
from typing import Any

import diskcache
import pytest

from erpsync.errors import StateError
from erpsync.models import Flow
from erpsync.state import DiskState
from tests.faults.conftest import Tally
from tests.faults.world import OWNER, InProcess, World, cli

RETURN = (Flow.DELIVERIES, Flow.RECEIPTS, Flow.ADJUSTMENTS)


def _break_writes(monkeypatch: pytest.MonkeyPatch, error: Exception,
                  when: Callable[[diskcache.Cache, str, Any], bool]) -> list[str]:
    """Make diskcache's ``set`` raise ``error`` when ``when(cache, key, value)``."""
    refused: list[str] = []
    original = diskcache.Cache.set

    def set_(self: diskcache.Cache, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if when(self, str(key), value):
            refused.append(str(key))
            raise error
        return original(self, key, value, *args, **kwargs)

    monkeypatch.setattr(diskcache.Cache, "set", set_)
    return refused


def _in(name: str) -> Callable[[diskcache.Cache, str, Any], bool]:
    return lambda cache, key, value: cache.directory.endswith("/" + name)


def _ledger(status: str) -> Callable[[diskcache.Cache, str, Any], bool]:
    return lambda cache, key, value: (cache.directory.endswith("/ledger")
                                      and f'"status":"{status}"' in str(value))


def _wms_writes(world: Any) -> int:
    return sum(world.wms.request_count(m) for m in ("PUT", "PATCH", "DELETE"))


async def test_a_full_disk_before_a_report_stops_before_anything_is_sent(
    mounted: InProcess[World], monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    world = mounted.world
    tally.count_runs(await mounted.run())
    world.play_the_warehouse()
    with monkeypatch.context() as patch:
        refused = _break_writes(patch, OSError(errno.ENOSPC, "No space left on device"),
                                _ledger("pending"))
        with pytest.raises(StateError) as stopped:
            await mounted.run(*RETURN)
        tally.faults += 1
        tally.runs += 1
    assert refused, "the pending write was refused"
    assert "No space left on device" in stopped.value.message
    assert str(world.state_dir) in stopped.value.message
    assert world.nv.request_count(method="POST") == 0, "nothing sent without a ledger entry"

    again = await mounted.run(*RETURN)
    tally.count_runs(again)
    assert {f: r.written for f, r in again.items()} == {f: 1 if f is Flow.RECEIPTS else 2
                                                       for f in RETURN}
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2


async def test_a_full_disk_after_netvisor_accepted_never_sends_the_report_twice(
    mounted: InProcess[World], monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    world = mounted.world
    tally.count_runs(await mounted.run())
    world.play_the_warehouse()
    with monkeypatch.context() as patch:
        _break_writes(patch, OSError(errno.ENOSPC, "No space left on device"), _ledger("done"))
        with pytest.raises(StateError, match="No space left on device"):
            await mounted.run(Flow.DELIVERIES)
        tally.faults += 1
        tally.runs += 1
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 1, "a stop at once"
    pending = [e for e in (mounted.state.get_ledger(OWNER, "deliveries", k.split("\x1f")[-1])
                           for k in mounted.state._caches["ledger"].iterkeys()) if e]
    assert [e.status for e in pending] == ["pending"]

    again = await mounted.run(Flow.DELIVERIES)
    tally.count_runs(again)
    assert again[Flow.DELIVERIES].outcome == "ok"
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2, "1 + the other order"
    assert [len(world.nv.deliveries(n)) for n in world.orders] == [2, 1, 0]
    tally.compare({"nv_deliveries": {n: c for n, c in zip(world.orders, [2, 1, 0], strict=True)},
                   "nv_report_posts": {}, "wms_articles": {}, "wms_orders": {},
                   "wms_purchase_orders": {}, "nv_warehouse_events": []}, world.snapshot())


async def test_a_read_only_state_directory_stops_the_run_and_nothing_is_resynced(
    mounted: InProcess[World], monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    world = mounted.world
    tally.count_runs(await mounted.run(Flow.ARTICLES))
    world.nv.change_product("TEE-100", name="Tee Mökkiläinen 200 g")
    writes = _wms_writes(world)
    with monkeypatch.context() as patch:
        _break_writes(patch, sqlite3.OperationalError("attempt to write a readonly database"),
                      lambda cache, key, value: True)
        with pytest.raises(StateError) as stopped:
            await mounted.run(Flow.ARTICLES)
        tally.faults += 1
        tally.runs += 1
    assert "readonly database" in stopped.value.message
    assert _wms_writes(world) - writes <= 1, "a stop at the first state write"

    again = await mounted.run(Flow.ARTICLES)
    tally.count_runs(again)
    assert (again[Flow.ARTICLES].outcome, again[Flow.ARTICLES].written) == ("ok", 1)
    assert world.wms.article("TEE-100")["articleName"] == "Tee Mökkiläinen 200 g"
    assert _wms_writes(world) - writes == 2, "the changed article, twice at most; no re-sync"


def test_a_state_directory_that_is_not_writable_is_refused_at_open(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    import erpsync.state

    monkeypatch.setattr(erpsync.state.os, "access", lambda path, mode: False)
    with pytest.raises(StateError, match="not writable"):
        DiskState(tmp_path / "state")
    tally.faults += 1


@pytest.mark.parametrize("entry", ["cursor", "ledger", "fingerprint"])
async def test_a_corrupted_entry_is_a_clear_error_and_a_stop(
    entry: str, mounted: InProcess[World], tally: Tally,
) -> None:
    world = mounted.world
    tally.count_runs(await mounted.run())
    world.play_the_warehouse()
    # Netvisor takes the reports, the WMS cannot be told: the events stay unreported there and
    # are read again next time, so their ledger entries are consulted again.
    world.wms.fail_next(100, 503, method="PATCH")
    tally.count_runs(await mounted.run())
    world.wms.clear_faults()
    posts = world.nv.request_count(method="POST")
    writes = _wms_writes(world)
    caches = mounted.state._caches
    if entry == "cursor":
        caches["cursors"].set(f"{OWNER}\x1farticles", '{"at": "yesterday-ish')
        flow = Flow.ARTICLES
    elif entry == "ledger":
        key = next(str(k) for k in caches["ledger"].iterkeys() if "\x1fdeliveries\x1f" in str(k))
        caches["ledger"].set(key, '{"status": "done", "event_id": 12')
        flow = Flow.DELIVERIES
    else:
        key = next(str(k) for k in caches["fingerprints"].iterkeys()
                   if "\x1farticles\x1f" in str(k))
        caches["fingerprints"].set(key, 12345)
        flow = Flow.ARTICLES
    tally.faults += 1
    with pytest.raises(StateError, match="corrupted") as stopped:
        await mounted.run(flow)
    tally.runs += 1
    assert "corrupted" in stopped.value.message
    assert world.nv.request_count(method="POST") == posts, "no report sent again"
    assert _wms_writes(world) == writes, "no silent re-sync"

    shown = await cli(world, "run", "--once", "--flow", flow.value)
    tally.runs += 1
    assert shown.exit_code != 0
    assert "corrupted" in shown.output
    assert world.nv.request_count(method="POST") == posts
    assert _wms_writes(world) == writes

"""The durable state: every part round-trips, survives a reopen, and fails loudly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from erpsync.errors import StateError
from erpsync.state import (
    Cursor,
    DeadLetter,
    DiskState,
    LedgerEntry,
    OwnerStatus,
    Pause,
    RunRecord,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def state(tmp_path: Path) -> DiskState:
    store = DiskState(tmp_path / "state")
    yield store  # type: ignore[misc]
    store.close()


def letter(key: str = "A-1", message: str = "too long") -> DeadLetter:
    return DeadLetter(goods_owner="acme", flow="articles", key=key, business_key=key,
                      message=message, record_type="Article", payload={"article_number": key},
                      first_seen=NOW, last_seen=NOW)


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    first = DiskState(tmp_path / "s")
    first.set_cursor("acme", "articles", Cursor(at=NOW, key="A-9"))
    first.set_fingerprint("acme", "articles", "A-1", "abc")
    first.put_ledger(LedgerEntry(goods_owner="acme", flow="deliveries", event_id="e1", key="1001",
                                 status="pending", updated_at=NOW))
    first.save_credentials("acme", "oauth", {"refresh_token": "r1"})
    first.put_dead_letter(letter())
    first.add_run(RunRecord(goods_owner="acme", flow="articles", started_at=NOW, finished_at=NOW,
                            outcome="ok", read=3))
    first.set_owner_status("acme", OwnerStatus(goods_owner="acme", state="needs_reauthorisation",
                                               message="refused", since=NOW))
    first.close()
    second = DiskState(tmp_path / "s")
    assert second.get_cursor("acme", "articles") == Cursor(at=NOW, key="A-9")
    assert second.get_cursor("acme", "orders") is None
    assert second.get_fingerprint("acme", "articles", "A-1") == "abc"
    entry = second.get_ledger("acme", "deliveries", "e1")
    assert entry is not None and entry.status == "pending"
    assert second.load_credentials("acme", "oauth") == {"refresh_token": "r1"}
    assert [d.key for d in second.dead_letters("acme")] == ["A-1"]
    assert second.runs("acme", "articles")[0].read == 3
    status = second.get_owner_status("acme")
    assert status is not None and status.message == "refused"
    second.close()


def test_dead_letters_count_attempts_and_clear(state: DiskState) -> None:
    state.put_dead_letter(letter())
    state.put_dead_letter(letter(message="still too long"))
    state.put_dead_letter(letter("B-2"))
    (first, second) = state.dead_letters()
    assert (first.key, first.attempts, first.message) == ("A-1", 2, "still too long")
    assert second.key == "B-2"
    assert state.dead_letters("other") == []
    assert state.clear_dead_letter("acme", "articles", "A-1") is True
    assert state.clear_dead_letter("acme", "articles", "A-1") is False
    assert [d.key for d in state.dead_letters()] == ["B-2"]


def test_run_history_keeps_the_latest_first(state: DiskState) -> None:
    for n in range(25):
        state.add_run(RunRecord(goods_owner="acme", flow="stock", started_at=NOW,
                                finished_at=NOW, outcome="ok", read=n))
    runs = state.runs("acme", "stock")
    assert len(runs) == 20
    assert runs[0].read == 24


def test_a_corrupted_entry_is_a_clear_error(state: DiskState) -> None:
    state._caches["cursors"].set("acme\x1farticles", "{not json")
    with pytest.raises(StateError, match=r"cursors/.*corrupted"):
        state.get_cursor("acme", "articles")
    state._caches["ledger"].set("acme\x1fdeliveries\x1fe1", '{"status": "maybe"}')
    with pytest.raises(StateError, match=r"ledger/.*corrupted"):
        state.get_ledger("acme", "deliveries", "e1")


def test_a_read_only_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.joinpath("ro").mkdir(mode=0o500)
    # root may write anywhere, so ask the question the way an unprivileged service would
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(StateError, match="not writable"):
        DiskState(tmp_path / "ro")


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="state directory"):
        DiskState(blocker / "state")


async def test_a_lock_is_held_by_one_task_at_a_time(state: DiskState) -> None:
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        async with state.lock("owner:acme"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(5)))
    assert most == 1


def test_a_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    DiskState(directory).close()
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from erpsync.state import DiskState
        async def main():
            state = DiskState({str(directory)!r})
            async with state.lock("owner:acme"):
                print("in", time.monotonic(), flush=True)
                await asyncio.sleep(0.3)
                print("out", time.monotonic(), flush=True)
        asyncio.run(main())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=30)[0].split() for p in procs]
    spans = sorted((float(o[1]), float(o[3])) for o in outputs)
    assert spans[0][1] <= spans[1][0], f"the two holders overlapped: {spans}"


async def test_a_killed_holder_frees_the_lock_after_its_ttl(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from erpsync.state import DiskState
        async def main():
            state = DiskState({str(directory)!r})
            async with state.lock("owner:acme", ttl=0.5):
                print("held", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.stdout.strip() == "held" and proc.returncode == -9
    state = DiskState(directory)
    started = time.monotonic()
    async with state.lock("owner:acme", ttl=0.5):
        waited = time.monotonic() - started
    state.close()
    assert waited < 5


async def test_a_held_lock_is_renewed_past_its_ttl(state: DiskState) -> None:
    got_in = asyncio.Event()

    async def holder() -> None:
        async with state.lock("k", ttl=0.15):
            got_in.set()
            await asyncio.sleep(0.5)

    task = asyncio.create_task(holder())
    await got_in.wait()
    await asyncio.sleep(0.3)  # twice the ttl: only renewal keeps it
    assert state._caches["locks"].get("k") is not None
    await task
    assert state._caches["locks"].get("k") is None


def test_a_pause_is_kept_apart_from_the_status(state: DiskState) -> None:
    assert state.get_pause("acme") is None
    state.set_owner_status("acme", OwnerStatus(goods_owner="acme", state="needs_reauthorisation",
                                               message="refused", since=NOW))
    state.set_pause("acme", Pause(goods_owner="acme", since=NOW, reason="ERP migration"))
    assert state.get_pause("acme") == Pause(goods_owner="acme", since=NOW, reason="ERP migration")
    state.set_pause("acme", None)
    assert state.get_pause("acme") is None
    assert state.get_owner_status("acme") is not None  # resuming hides nothing


def test_the_summary_keeps_each_flows_last_run_and_last_success(state: DiskState) -> None:
    def run(flow: str, outcome: str, minute: int) -> RunRecord:
        at = NOW.replace(minute=minute)
        return RunRecord(goods_owner="acme", flow=flow, started_at=at, finished_at=at,
                         outcome=outcome)  # type: ignore[arg-type]

    state.add_run(run("articles", "ok", 1))
    state.add_run(run("articles", "failed", 2))
    state.add_run(run("orders", "partial", 3))
    state.add_run(run("articles", "ok", 4).model_copy(update={"goods_owner": "beta"}))
    summary = state.summary("acme", ["articles", "orders", "stock"])
    assert set(summary) == {"articles", "orders"}  # stock never ran
    assert summary["articles"].last.outcome == "failed"
    assert summary["articles"].last_success == NOW.replace(minute=1)
    assert summary["orders"].last_success == NOW.replace(minute=3)
    assert state.summary("beta", ["articles"])["articles"].last_success == NOW.replace(minute=4)


def test_dead_letters_are_counted_without_reading_them(state: DiskState) -> None:
    state.put_dead_letter(letter("A-1"))
    state.put_dead_letter(letter("A-2"))
    state.put_dead_letter(letter("A-2"))  # the same record again: one letter
    state.put_dead_letter(letter("O-1").model_copy(update={"flow": "orders"}))
    assert state.dead_letter_counts() == {("acme", "articles"): 2, ("acme", "orders"): 1}


def test_check_finds_a_directory_that_is_gone_or_replaced(tmp_path: Path) -> None:
    store = DiskState(tmp_path / "state")
    try:
        store.check()
        (tmp_path / "state").rename(tmp_path / "away")
        with pytest.raises(StateError, match="unreachable"):
            store.check()
        (tmp_path / "state").mkdir()  # an empty volume mounted in its place
        with pytest.raises(StateError, match="no longer the one erpsync opened"):
            store.check()
        (tmp_path / "state").rmdir()
        (tmp_path / "away").rename(tmp_path / "state")
        store.check()
    finally:
        store.close()

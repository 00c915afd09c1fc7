"""The durable state: every part round-trips, survives a reopen, and fails loudly.

Every test of the state interface runs against both stores: the embedded one (``disk``,
diskcache in a directory) and PostgreSQL (``postgres``: a database of the test's own on a real
server, tests/postgres.py). What only one store has (a directory that is replaced, a server
that stops) is tested for that store alone.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

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
    StateStore,
)

from .postgres import PostgresServer, free_port, require_psycopg

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Where:
    """Where a store keeps its state: a directory, or a PostgreSQL database's URL. Opened in
    this process (:meth:`open`) or named in another one's code (:meth:`code`)."""

    kind: Literal["disk", "postgres"]
    location: str

    def open(self) -> StateStore:
        if self.kind == "disk":
            return DiskState(self.location)
        from erpsync.pgstate import PgState  # the optional extra: only where it is tested

        return PgState(self.location)

    def code(self) -> str:
        """Python that opens the store as ``state`` in another process."""
        module, name = (("erpsync.state", "DiskState") if self.kind == "disk"
                        else ("erpsync.pgstate", "PgState"))
        return f"from {module} import {name}\nstate = {name}({self.location!r})\n"

    def corrupt(self, store: StateStore, part: str, key: str, text: str) -> None:
        """Put ``text`` into an entry behind the store's back, as a foreign writer would."""
        if self.kind == "disk":
            assert isinstance(store, DiskState)
            store._caches[part].set(key, text)
            return
        import psycopg

        with psycopg.connect(self.location, autocommit=True) as conn:
            conn.execute("INSERT INTO erpsync_entries (part, key, value) VALUES (%s, %s, %s) "
                         "ON CONFLICT (part, key) DO UPDATE SET value = excluded.value",
                         (part, key, text))


def migrated(url: str) -> str:
    """``url``, its database given erpsync's schema (`erpsync state migrate`)."""
    from erpsync.pgstate import PgState

    store = PgState(url, migrating=True)
    try:
        store.migrate()
    finally:
        store.close()
    return url


@pytest.fixture(params=["disk", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "disk":
        return Where("disk", str(tmp_path / "state"))
    return Where("postgres", migrated(request.getfixturevalue("pg_database_url")))


@pytest.fixture
def state(where: Where) -> Iterator[StateStore]:
    store = where.open()
    yield store
    store.close()


def letter(key: str = "A-1", message: str = "too long") -> DeadLetter:
    return DeadLetter(goods_owner="acme", flow="articles", key=key, business_key=key,
                      message=message, record_type="Article", payload={"article_number": key},
                      first_seen=NOW, last_seen=NOW)


def test_everything_survives_a_reopen(where: Where) -> None:
    first = where.open()
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
    second = where.open()
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


def test_a_write_is_seen_by_another_store_at_once(where: Where) -> None:
    """Two processes (or hosts) on one state: neither keeps a stale copy of the other's
    writes, and a deletion is seen as well as a write."""
    first, second = where.open(), where.open()
    try:
        first.set_cursor("acme", "articles", Cursor(at=NOW, key="A-1"))
        first.set_fingerprint("acme", "articles", "A-1", "abc")
        assert second.get_cursor("acme", "articles") == Cursor(at=NOW, key="A-1")
        second.set_cursor("acme", "articles", None)
        second.set_fingerprint("acme", "articles", "A-1", None)
        first.delete_ledger("acme", "deliveries", "never-written")  # deleting nothing is fine
        assert first.get_cursor("acme", "articles") is None
        assert first.get_fingerprint("acme", "articles", "A-1") is None
    finally:
        first.close()
        second.close()


def test_dead_letters_count_attempts_and_clear(state: StateStore) -> None:
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


def test_run_history_keeps_the_latest_first(state: StateStore) -> None:
    for n in range(25):
        state.add_run(RunRecord(goods_owner="acme", flow="stock", started_at=NOW,
                                finished_at=NOW, outcome="ok", read=n))
    runs = state.runs("acme", "stock")
    assert len(runs) == 20
    assert runs[0].read == 24


def test_runs_recorded_at_once_by_two_stores_are_all_kept(where: Where) -> None:
    """A run's history and its goods owner's summary are read, changed and written back: two
    writers at once must not lose one another's runs."""
    stores = [where.open(), where.open()]
    start = threading.Barrier(len(stores))

    def record(store: StateStore, flow: str) -> None:
        start.wait()
        for n in range(8):
            store.add_run(RunRecord(goods_owner="acme", flow="stock", started_at=NOW,
                                    finished_at=NOW, outcome="ok", message=f"{flow} {n}"))
            store.add_run(RunRecord(goods_owner="acme", flow=flow, started_at=NOW,
                                    finished_at=NOW, outcome="ok"))

    threads = [threading.Thread(target=record, args=(store, f"flow{i}"))
               for i, store in enumerate(stores)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(stores[0].runs("acme", "stock")) == 16
        assert set(stores[1].summary("acme", ["stock", "flow0", "flow1"])) == {
            "stock", "flow0", "flow1"}
    finally:
        for store in stores:
            store.close()


def test_a_corrupted_entry_is_a_clear_error(where: Where, state: StateStore) -> None:
    where.corrupt(state, "cursors", "acme\x1farticles", "{not json")
    with pytest.raises(StateError, match=r"cursors/.*corrupted"):
        state.get_cursor("acme", "articles")
    where.corrupt(state, "ledger", "acme\x1fdeliveries\x1fe1", '{"status": "maybe"}')
    with pytest.raises(StateError, match=r"ledger/.*corrupted"):
        state.get_ledger("acme", "deliveries", "e1")
    where.corrupt(state, "credentials", "acme\x1foauth", '["not", "a", "dict"]')
    with pytest.raises(StateError, match=r"credentials .*corrupted"):
        state.load_credentials("acme", "oauth")
    where.corrupt(state, "runs", "acme\x1fstock", '[{"outcome": "ok"}]')
    with pytest.raises(StateError, match=r"run history .*corrupted"):
        state.runs("acme", "stock")


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


async def test_a_lock_is_held_by_one_task_at_a_time(state: StateStore) -> None:
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


def run_script(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_lock_is_exclusive_across_processes(where: Where) -> None:
    where.open().close()
    script = where.code() + textwrap.dedent("""
        import asyncio, time
        async def main():
            async with state.lock("owner:acme"):
                print("in", time.monotonic(), flush=True)
                await asyncio.sleep(0.3)
                print("out", time.monotonic(), flush=True)
        asyncio.run(main())
    """)
    procs = [run_script(script) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        outputs.append(out.split())
    spans = sorted((float(o[1]), float(o[3])) for o in outputs)
    assert spans[0][1] <= spans[1][0], f"the two holders overlapped: {spans}"


async def test_a_killed_holder_frees_the_lock_after_its_ttl(where: Where) -> None:
    script = where.code() + textwrap.dedent("""
        import asyncio, os, signal
        async def main():
            async with state.lock("owner:acme", ttl=0.5):
                print("held", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.stdout.strip() == "held" and proc.returncode == -9, proc.stderr
    state = where.open()
    started = time.monotonic()
    async with state.lock("owner:acme", ttl=0.5):
        waited = time.monotonic() - started
    state.close()
    assert waited < 5


async def test_a_held_lock_is_renewed_past_its_ttl(where: Where, state: StateStore) -> None:
    """Held for over three times its ttl: renewal keeps out another store (another process)
    that asks meanwhile, and it gets in once the holder lets go."""
    other = where.open()
    got_in = asyncio.Event()
    left_at = 0.0

    async def holder() -> None:
        nonlocal left_at
        async with state.lock("k", ttl=0.15):
            got_in.set()
            await asyncio.sleep(0.5)
            left_at = time.monotonic()

    task = asyncio.create_task(holder())
    await got_in.wait()
    await asyncio.sleep(0.3)  # twice the ttl: only renewal keeps it
    try:
        async with other.lock("k", ttl=0.15):
            entered_at = time.monotonic()
        await task
        assert left_at and entered_at >= left_at, "the lock was taken while still held"
    finally:
        other.close()


def test_a_pause_is_kept_apart_from_the_status(state: StateStore) -> None:
    assert state.get_pause("acme") is None
    state.set_owner_status("acme", OwnerStatus(goods_owner="acme", state="needs_reauthorisation",
                                               message="refused", since=NOW))
    state.set_pause("acme", Pause(goods_owner="acme", since=NOW, reason="ERP migration"))
    assert state.get_pause("acme") == Pause(goods_owner="acme", since=NOW, reason="ERP migration")
    state.set_pause("acme", None)
    assert state.get_pause("acme") is None
    assert state.get_owner_status("acme") is not None  # resuming hides nothing


def test_the_summary_keeps_each_flows_last_run_and_last_success(state: StateStore) -> None:
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


def test_dead_letters_are_counted_without_reading_them(state: StateStore) -> None:
    state.put_dead_letter(letter("A-1"))
    state.put_dead_letter(letter("A-2"))
    state.put_dead_letter(letter("A-2"))  # the same record again: one letter
    state.put_dead_letter(letter("O-1").model_copy(update={"flow": "orders"}))
    assert state.dead_letter_counts() == {("acme", "articles"): 2, ("acme", "orders"): 1}


def test_check_proves_a_write_reads_back(state: StateStore) -> None:
    state.check()
    state.check()  # again: the probe is overwritten, never piled up


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


# --- PostgreSQL alone -----------------------------------------------------------------------

PASSWORD = "s3cret-pw"  # trust auth ignores it; no message may show it


def test_check_fails_clearly_while_the_server_is_down_and_recovers(
    own_postgres: PostgresServer,
) -> None:
    url = migrated(own_postgres.create_database())
    url = url.replace("postgres@", f"postgres:{PASSWORD}@")
    store = Where("postgres", url).open()
    try:
        store.check()
        store.set_cursor("acme", "articles", Cursor(at=NOW, key="A-9"))
        own_postgres.stop()
        where = f"127.0.0.1:{own_postgres.port}/{url.rsplit('/', 1)[1]}"
        for _ in range(2):  # the broken connection, then a refused one
            with pytest.raises(StateError, match=f"state database {where}") as caught:
                store.check()
            assert PASSWORD not in str(caught.value)
        with pytest.raises(StateError, match=f"state database {where}"):
            store.get_cursor("acme", "articles")
        own_postgres.start()
        store.check()  # the next call connects again: the next cycle recovers by itself
        assert store.get_cursor("acme", "articles") == Cursor(at=NOW, key="A-9")
    finally:
        store.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    require_psycopg()
    url = f"postgresql://erpsync:{PASSWORD}@127.0.0.1:{free_port()}/erpsync"
    with pytest.raises(StateError, match=r"state database 127\.0\.0\.1:\d+/erpsync") as caught:
        Where("postgres", url).open().check()
    assert PASSWORD not in str(caught.value)


def test_a_database_without_the_schema_names_the_migrate_command(pg_database_url: str) -> None:
    from erpsync.pgstate import PgState

    with pytest.raises(StateError, match="erpsync state migrate"):
        PgState(pg_database_url)
    store = PgState(migrated(pg_database_url), migrating=True)
    try:
        assert store.migrate() == []  # already current: nothing to apply again
    finally:
        store.close()


async def test_a_holder_whose_lock_was_taken_over_is_stopped(where: Where) -> None:
    store = where.open()
    intruder = where.open()

    async def stalled_holder() -> None:
        async with store.lock("owner:acme", ttl=0.3):
            time.sleep(0.6)  # stalled (the event loop blocked) past the lock's TTL ...
            async with intruder.lock("owner:acme", ttl=30):  # ... so another took it
                await asyncio.sleep(2)  # the holder is stopped at its next renewal
                raise AssertionError("the stale holder went on")

    try:
        with pytest.raises(StateError, match="lock 'owner:acme' was lost: another process "):
            await stalled_holder()
        async with intruder.lock("owner:acme", ttl=30):  # the intruder's lock was released
            pass
    finally:
        store.close()
        intruder.close()


async def test_a_holder_whose_renewals_fail_is_stopped(
    state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(name: str, token: str, ttl: float) -> bool:
        raise StateError("state database db:5432/erpsync: cannot renew a lock: server closed")

    monkeypatch.setattr(state, "_renew", unreachable)
    with pytest.raises(StateError, match=r"was lost: .*server closed"):
        async with state.lock("owner:acme", ttl=0.15):
            await asyncio.sleep(5)


async def test_a_holder_that_stalled_past_its_ttl_keeps_a_lock_nobody_took(where: Where) -> None:
    store = where.open()
    other = where.open()
    try:
        async with store.lock("owner:acme", ttl=0.3):
            time.sleep(0.6)  # stalled past the TTL, but no other process wanted the lock
            await asyncio.sleep(0.3)  # a renewal: it is still this holder's
            taken = asyncio.create_task(_take(other))
            await asyncio.sleep(0.3)
            assert not taken.done()  # still held: the other waits
        await asyncio.wait_for(taken, 5)
    finally:
        store.close()
        other.close()


async def _take(store: StateStore) -> None:
    async with store.lock("owner:acme", ttl=30):
        pass


async def test_a_release_that_fails_leaves_what_the_block_did_and_the_lock_expires(
    where: Where, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = where.open()
    other = where.open()
    try:
        def refuse(name: str, token: str) -> None:  # as each store's guard words it
            raise StateError("state store: cannot release a lock: it went away for a moment")

        monkeypatch.setattr(store, "_release", refuse)
        done = []
        async with store.lock("owner:acme", ttl=0.5):
            done.append("synced")
        assert done == ["synced"], "the block's work stands: no StateError after it"
        assert "cannot release a lock" in caplog.text and "expires by itself" in caplog.text

        with pytest.raises(ValueError, match="the block's own"):
            async with store.lock("owner:beta", ttl=0.5):
                raise ValueError("the block's own error is the one seen")
        await asyncio.wait_for(_take(other), 5)  # and the unreleased lock expired
    finally:
        monkeypatch.undo()
        store.close()
        other.close()

"""The durable state: cursors, fingerprints, the write-back ledger, tokens, dead letters, runs.

All durable state goes through :class:`StateStore`, and nothing in it needs more than a
transactional key-value store could do, so that a PostgreSQL implementation can stand in for
the embedded one (:class:`DiskState`, diskcache on SQLite) without a change elsewhere.

What each part is for:

- **cursors** (goods owner, flow) -> :class:`Cursor`: where the next incremental read starts.
  Advanced only after the records before it are written.
- **fingerprints** (goods owner, flow, key) -> content hash of the record last written, so an
  unchanged record is not written twice.
- **ledger** (goods owner, flow, event id) -> :class:`LedgerEntry`: ``pending`` is written
  *before* a report goes to the ERP and ``done`` with the ERP's reference after, durably.
- **credentials** (goods owner, name) -> a dict (rotating tokens), saved durably before use.
- **dead letters** (goods owner, flow, key) -> :class:`DeadLetter`: a record a vendor refused,
  with the vendor's message and the record itself so ``erpsync retry`` can send it again.
- **runs**: the last runs of every (goods owner, flow), and an owner's status (for example
  "needs re-authorisation").
- **pauses** (goods owner) -> :class:`Pause`: an operator's ``erpsync pause``; the schedule
  skips the goods owner until ``erpsync resume``. Kept apart from the status: a paused goods
  owner may need re-authorisation too, and resuming must not hide that.

:class:`DiskState` is safe for several processes on one state directory (SQLite's locking);
the ledger, cursors and credentials are written with ``synchronous=FULL`` (fsync'd before the
call returns). Values are stored as JSON text, never pickles, so a corrupted or foreign entry
is an error naming the entry, not code execution.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import diskcache
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from erpsync.errors import StateError
from erpsync.http import share_budgets, stop_sharing, window_wait

if TYPE_CHECKING:
    from erpsync.pgstate import PgState

__all__ = [
    "PARTS",
    "Cursor",
    "DeadLetter",
    "DiskState",
    "FlowSummary",
    "KeyValueState",
    "LedgerEntry",
    "OwnerStatus",
    "Pause",
    "RunRecord",
    "StateStore",
    "open_state",
]

log = logging.getLogger("erpsync.state")

_SEP = "\x1f"
_SUMMARY = "\x1esummary"  # beside the histories; no goods owner id holds this character
_PROBE = _SEP + "probe"  # in the status part; no goods owner id holds the separator
PARTS = ("cursors", "fingerprints", "ledger", "credentials", "deadletters", "runs", "status")
"""The parts of a store's entries (its locks apart): what ``erpsync state export`` moves."""
_RUNS_KEPT = 20


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_M = TypeVar("_M", bound=_Value)


class Cursor(_Value):
    """Where an incremental read resumes: the last change time written, and its record's key."""

    at: AwareDatetime
    key: str = ""


class LedgerEntry(_Value):
    goods_owner: str
    flow: str
    event_id: str
    key: str
    """The business key (order number ...), for people reading the ledger."""
    status: Literal["pending", "done"]
    erp_ref: str | None = None
    updated_at: AwareDatetime


class DeadLetter(_Value):
    goods_owner: str
    flow: str
    key: str
    """The record's key within the flow (article number, order number, event id)."""
    business_key: str
    """What a person searches for: the article or order number."""
    message: str
    vendor_message: str | None = None
    record_type: str
    payload: dict[str, Any]
    """The canonical record as JSON data, to send again with ``erpsync retry``."""
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    attempts: int = 1


class RunRecord(_Value):
    goods_owner: str
    flow: str
    run_id: str | None = None
    """The id every log line of this run carries (``None`` in records older than it)."""
    started_at: AwareDatetime
    finished_at: AwareDatetime
    outcome: Literal["ok", "partial", "failed", "needs_reauthorisation", "stopped"]
    """``partial``: some records were dead-lettered; ``stopped``: a stop was asked mid-run."""
    read: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    requests: int = 0
    message: str | None = None
    refused_by: Literal["erp", "wms"] | None = None
    """With ``needs_reauthorisation``: whose credentials were refused."""
    action: str | None = None
    """With ``needs_reauthorisation``: what the plugin says a person must do."""


class OwnerStatus(_Value):
    goods_owner: str
    state: Literal["needs_reauthorisation"]
    message: str
    action: str | None = None
    since: AwareDatetime


class FlowSummary(_Value):
    """What a status page shows of one (goods owner, flow) without reading its history."""

    last: RunRecord
    last_success: AwareDatetime | None = None
    """When the last run that ended ``ok`` or ``partial`` finished."""


class Pause(_Value):
    goods_owner: str
    since: AwareDatetime
    reason: str | None = None


class StateStore(Protocol):
    """The one interface to durable state (see the module docstring)."""

    def get_cursor(self, owner: str, flow: str) -> Cursor | None: ...
    def set_cursor(self, owner: str, flow: str, cursor: Cursor | None) -> None: ...

    def get_fingerprint(self, owner: str, flow: str, key: str) -> str | None: ...
    def set_fingerprint(self, owner: str, flow: str, key: str, fingerprint: str | None) -> None: ...

    def get_ledger(self, owner: str, flow: str, event_id: str) -> LedgerEntry | None: ...
    def put_ledger(self, entry: LedgerEntry) -> None: ...
    def delete_ledger(self, owner: str, flow: str, event_id: str) -> None: ...

    def load_credentials(self, owner: str, name: str) -> dict[str, Any] | None: ...
    def save_credentials(self, owner: str, name: str, data: dict[str, Any]) -> None: ...

    def put_dead_letter(self, letter: DeadLetter) -> None: ...
    def dead_letters(self, owner: str | None = None) -> list[DeadLetter]: ...
    def clear_dead_letter(self, owner: str, flow: str, key: str) -> bool: ...

    def add_run(self, run: RunRecord) -> None: ...
    def runs(self, owner: str, flow: str) -> list[RunRecord]: ...
    def summary(self, owner: str, flows: Iterable[str]) -> dict[str, FlowSummary]:
        """The last run and last success of each of ``flows`` that ever ran: one read per
        goods owner, for pages and metrics over many goods owners."""
        ...
    def dead_letter_counts(self) -> dict[tuple[str, str], int]:
        """How many dead letters each (goods owner, flow) has, without reading them."""
        ...

    def get_owner_status(self, owner: str) -> OwnerStatus | None: ...
    def set_owner_status(self, owner: str, status: OwnerStatus | None) -> None: ...

    def get_pause(self, owner: str) -> Pause | None: ...
    def set_pause(self, owner: str, pause: Pause | None) -> None: ...

    def lock(self, name: str, ttl: float = 60.0) -> AbstractAsyncContextManager[None]: ...

    def check(self) -> None:
        """Prove the store is reachable now (a write and a read): raise :class:`StateError`
        naming why not. The service's readiness and the scheduler's recovery ask it."""
        ...

    def export_entries(self) -> Iterator[tuple[str, str, str]]:
        """Every entry as (part, key, text), locks excepted (``erpsync state export``)."""
        ...
    def import_entries(self, entries: Iterable[tuple[str, str, str]]) -> int:
        """Write what :meth:`export_entries` gave (``erpsync state import``); how many."""
        ...

    def close(self) -> None: ...


def _k(*parts: str) -> str:
    return _SEP.join(parts)


def _identity(directory: Path) -> tuple[int, int]:
    info = directory.stat()
    return info.st_dev, info.st_ino


class KeyValueState(ABC):
    """What every store does, over entries of text: (part, key) -> text. The parts are
    :data:`PARTS`; values are JSON text (fingerprints: the hash itself). A store provides the
    entries (:meth:`_read`, :meth:`_write`, :meth:`_keys`, :meth:`_atomic`), its errors
    (:meth:`_guard`), :meth:`check`, :meth:`lock` and :meth:`close`; everything about cursors,
    ledgers, runs and dead letters is here, once."""

    def __init__(self) -> None:
        self._summaries: dict[str, tuple[object, dict[str, FlowSummary]]] = {}
        """Each goods owner's run summary as last parsed, with the text it was parsed from:
        a page or a scrape over 1,000 goods owners parses only those that ran since."""

    # --- what a store provides --------------------------------------------------------------

    @abstractmethod
    def _read(self, part: str, key: str) -> str | None: ...

    @abstractmethod
    def _write(self, part: str, key: str, text: str | None) -> None:
        """Set the entry (``None``: delete it); durable when the call returns."""

    @abstractmethod
    def _delete(self, part: str, key: str) -> bool:
        """Delete the entry; True if there was one."""

    @abstractmethod
    def _keys(self, part: str, prefix: str = "") -> list[str]: ...

    @abstractmethod
    def _atomic(self, part: str, scope: str) -> AbstractContextManager[None]:
        """A block in which reads and writes of ``part``'s entries of ``scope`` (a goods owner)
        are one step for every process."""

    @abstractmethod
    def _guard(self, what: str) -> AbstractContextManager[None]:
        """Turns the store's own errors into :class:`StateError` naming ``what`` failed."""

    @abstractmethod
    def check(self) -> None: ...

    @abstractmethod
    def _take(self, name: str, token: str, ttl: float) -> bool:
        """Take the lock ``name`` for ``token`` if it is free or expired; True if taken."""

    @abstractmethod
    def _renew(self, name: str, token: str, ttl: float) -> bool:
        """Push the lock's expiry ``ttl`` seconds on; False if ``token`` no longer holds it."""

    @abstractmethod
    def _release(self, name: str, token: str) -> None:
        """Free the lock if ``token`` still holds it."""

    @abstractmethod
    def close(self) -> None: ...

    # --- locks ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, name: str, ttl: float = 60.0) -> AsyncIterator[None]:
        """Hold ``name`` across tasks, threads, processes (and hosts, with a shared store).

        The lock expires ``ttl`` seconds after its holder was last heard of: while held it is
        renewed every ``ttl / 3`` seconds, so a long cycle keeps it and a killed process frees
        it within ``ttl``. A holder whose lock is lost (it stalled longer than ``ttl`` and
        another took the lock, or the store stopped answering its renewals) is cancelled at
        once and the block raises :class:`StateError`: two holders never work at once.
        """
        token = uuid.uuid4().hex
        delay = 0.005
        while True:
            with self._guard("take a lock"):
                if self._take(name, token, ttl):
                    break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        holder = asyncio.current_task()
        lost: list[str] = []

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                try:
                    with self._guard("renew a lock"):
                        if self._renew(name, token, ttl):
                            continue
                    why = "another process holds it now (this one was stalled too long)"
                except StateError as error:
                    why = error.message
                lost.append(f"the lock {name!r} was lost: {why}; stopped so that two "
                            "processes never work at once")
                if holder is not None:
                    holder.cancel()
                return

        renewer = asyncio.create_task(renew())
        try:
            yield
        except asyncio.CancelledError:
            if lost and holder is not None and holder.uncancel() == 0:
                raise StateError(lost[0]) from None
            raise  # a cancellation of its own
        finally:
            renewer.cancel()
            if not lost:
                try:
                    with self._guard("release a lock"):
                        self._release(name, token)
                except StateError as error:
                    # What the block did stands (and its own error, if any, is the one to
                    # see): the lock expires by itself within ``ttl``.
                    log.warning("%s; it expires by itself within %g s", error.message, ttl)

    # --- moving a whole store ----------------------------------------------------------------

    def export_entries(self) -> Iterator[tuple[str, str, str]]:
        """Every entry, (part, key, text), locks excepted: ``erpsync state export``."""
        for part in PARTS:
            for key in self._keys(part):
                text = self._read(part, key)
                if text is not None:
                    yield part, key, text

    def import_entries(self, entries: Iterable[tuple[str, str, str]]) -> int:
        """Write entries as :meth:`export_entries` gave them; how many."""
        count = 0
        for part, key, text in entries:
            if part not in PARTS:
                raise StateError(f"unknown state part {part!r}: not an erpsync state export")
            with self._guard(f"write {part}"):
                self._write(part, key, text)
            count += 1
        return count

    # --- JSON entries ------------------------------------------------------------------------

    def _get(self, part: str, key: str) -> Any:
        with self._guard(f"read {part}"):
            raw = self._read(part, key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise StateError(f"state entry {part}/{key!r} is corrupted: {error}") from error

    def _set(self, part: str, key: str, value: Any) -> None:
        with self._guard(f"write {part}"):
            self._write(part, key, None if value is None
                        else json.dumps(value, separators=(",", ":")))

    def _model(self, model: type[_M], part: str, key: str) -> _M | None:
        data = self._get(part, key)
        if data is None:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise StateError(f"state entry {part}/{key!r} is corrupted: {error}") from error

    def _probe(self, where: str) -> None:
        """A durable write that reads back (:meth:`check`). Each probe writes an entry of its
        own: probes made at once (the service's scheduler and a /readyz request, two
        processes) would otherwise read each other's value back."""
        probe = uuid.uuid4().hex
        key = _PROBE + _SEP + probe
        self._set("status", key, probe)
        try:
            if self._get("status", key) != probe:
                raise StateError(f"{where}: a write did not read back")
        finally:
            self._set("status", key, None)

    # --- cursors ---------------------------------------------------------------------------

    def get_cursor(self, owner: str, flow: str) -> Cursor | None:
        return self._model(Cursor, "cursors", _k(owner, flow))

    def set_cursor(self, owner: str, flow: str, cursor: Cursor | None) -> None:
        self._set("cursors", _k(owner, flow), cursor.model_dump(mode="json") if cursor else None)

    # --- fingerprints ----------------------------------------------------------------------

    def get_fingerprint(self, owner: str, flow: str, key: str) -> str | None:
        with self._guard("read fingerprints"):
            return self._read("fingerprints", _k(owner, flow, key))

    def set_fingerprint(self, owner: str, flow: str, key: str, fingerprint: str | None) -> None:
        with self._guard("write fingerprints"):
            self._write("fingerprints", _k(owner, flow, key), fingerprint)

    # --- ledger ----------------------------------------------------------------------------

    def get_ledger(self, owner: str, flow: str, event_id: str) -> LedgerEntry | None:
        return self._model(LedgerEntry, "ledger", _k(owner, flow, event_id))

    def put_ledger(self, entry: LedgerEntry) -> None:
        key = _k(entry.goods_owner, entry.flow, entry.event_id)
        self._set("ledger", key, entry.model_dump(mode="json"))

    def delete_ledger(self, owner: str, flow: str, event_id: str) -> None:
        self._set("ledger", _k(owner, flow, event_id), None)

    # --- credentials -----------------------------------------------------------------------

    def load_credentials(self, owner: str, name: str) -> dict[str, Any] | None:
        data = self._get("credentials", _k(owner, name))
        if data is not None and not isinstance(data, dict):
            raise StateError(f"credentials {owner}/{name} are corrupted")
        return data

    def save_credentials(self, owner: str, name: str, data: dict[str, Any]) -> None:
        self._set("credentials", _k(owner, name), data)

    # --- dead letters ----------------------------------------------------------------------

    def put_dead_letter(self, letter: DeadLetter) -> None:
        key = _k(letter.goods_owner, letter.flow, letter.key)
        old = self._model(DeadLetter, "deadletters", key)
        if old is not None:
            letter = letter.model_copy(
                update={"first_seen": old.first_seen, "attempts": old.attempts + 1}
            )
        self._set("deadletters", key, letter.model_dump(mode="json"))

    def dead_letters(self, owner: str | None = None) -> list[DeadLetter]:
        with self._guard("read deadletters"):
            keys = self._keys("deadletters", "" if owner is None else owner + _SEP)
        letters = [self._model(DeadLetter, "deadletters", k) for k in keys]
        return sorted((x for x in letters if x is not None), key=lambda x: (x.goods_owner,
                      x.flow, x.key))

    def clear_dead_letter(self, owner: str, flow: str, key: str) -> bool:
        with self._guard("write deadletters"):
            return self._delete("deadletters", _k(owner, flow, key))

    # --- runs and status -------------------------------------------------------------------

    def add_run(self, run: RunRecord) -> None:
        key = _k(run.goods_owner, run.flow)
        with self._guard("write runs"), self._atomic("runs", run.goods_owner):
            history = self._get("runs", key) or []
            history = [run.model_dump(mode="json"), *history][:_RUNS_KEPT]
            self._set("runs", key, history)
            summary = self._get("runs", _k(_SUMMARY, run.goods_owner)) or {}
            success = (run.finished_at.isoformat() if run.outcome in ("ok", "partial")
                       else summary.get(run.flow, {}).get("last_success"))
            summary[run.flow] = {"last": history[0], "last_success": success}
            self._set("runs", _k(_SUMMARY, run.goods_owner), summary)

    def summary(self, owner: str, flows: Iterable[str]) -> dict[str, FlowSummary]:
        key = _k(_SUMMARY, owner)
        with self._guard("read runs"):
            raw = self._read("runs", key)
        parsed = self._summaries.get(owner)
        if parsed is None or parsed[0] != raw:  # read anew only what changed since last asked
            data = self._get("runs", key) or {}
            try:
                parsed = (raw, {flow: FlowSummary.model_validate(item)
                                for flow, item in data.items()})
            except ValidationError as error:
                raise StateError(f"run summary of {owner} is corrupted: {error}") from error
            self._summaries[owner] = parsed
        found: dict[str, FlowSummary] = {}
        for flow in flows:
            if flow in parsed[1]:
                found[flow] = parsed[1][flow]
                continue
            history = self.runs(owner, flow)  # runs recorded before summaries were kept
            if history:
                success = next((r.finished_at for r in history
                                if r.outcome in ("ok", "partial")), None)
                found[flow] = FlowSummary(last=history[0], last_success=success)
        return found

    def dead_letter_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        with self._guard("read deadletters"):
            for key in self._keys("deadletters"):
                owner, flow, _ = key.split(_SEP, 2)
                counts[owner, flow] = counts.get((owner, flow), 0) + 1
        return counts

    def runs(self, owner: str, flow: str) -> list[RunRecord]:
        """The most recent runs first."""
        history = self._get("runs", _k(owner, flow)) or []
        try:
            return [RunRecord.model_validate(item) for item in history]
        except ValidationError as error:
            raise StateError(f"run history of {owner}/{flow} is corrupted: {error}") from error

    def get_owner_status(self, owner: str) -> OwnerStatus | None:
        return self._model(OwnerStatus, "status", owner)

    def set_owner_status(self, owner: str, status: OwnerStatus | None) -> None:
        self._set("status", owner, status.model_dump(mode="json") if status else None)

    def get_pause(self, owner: str) -> Pause | None:
        return self._model(Pause, "status", _k("pause", owner))

    def set_pause(self, owner: str, pause: Pause | None) -> None:
        self._set("status", _k("pause", owner), pause.model_dump(mode="json") if pause else None)


class DiskState(KeyValueState):
    """The embedded state store: diskcache (SQLite) in one directory."""

    _DURABLE = ("cursors", "ledger", "credentials", "status", "locks")
    _FAST = ("fingerprints", "deadletters", "runs")
    _VOLATILE = ("budgets",)
    """Rate budgets: shared by the processes on this directory, lost harmlessly in a crash."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__()
        self.directory = Path(directory)
        self._caches: dict[str, diskcache.Cache] = {}
        with self._guard("open"):
            self.directory.mkdir(parents=True, exist_ok=True)
            if not os.access(self.directory, os.W_OK):
                raise StateError(f"state directory {self.directory} is not writable")
            self._identity = _identity(self.directory)
            for name in self._DURABLE:
                self._caches[name] = diskcache.Cache(
                    str(self.directory / name), sqlite_synchronous=2, size_limit=2**40
                )
            for name in self._FAST:
                self._caches[name] = diskcache.Cache(
                    str(self.directory / name), sqlite_synchronous=1, size_limit=2**40
                )
            for name in self._VOLATILE:
                self._caches[name] = diskcache.Cache(
                    str(self.directory / name), sqlite_synchronous=0, size_limit=2**30
                )

    # --- the entries ---------------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StateError:
            raise
        except (sqlite3.Error, OSError) as error:
            raise StateError(f"state directory {self.directory}: cannot {what}: {error}") from error

    def _read(self, part: str, key: str) -> str | None:
        raw = self._caches[part].get(key)
        if raw is not None and not isinstance(raw, str):
            raise StateError(f"state entry {part}/{key!r} is not text: corrupted or foreign")
        return raw

    def _write(self, part: str, key: str, text: str | None) -> None:
        if text is None:
            self._caches[part].delete(key)
        else:
            self._caches[part].set(key, text)

    def _delete(self, part: str, key: str) -> bool:
        return bool(self._caches[part].delete(key))

    def _keys(self, part: str, prefix: str = "") -> list[str]:
        return [str(k) for k in self._caches[part].iterkeys() if str(k).startswith(prefix)]

    def _atomic(self, part: str, scope: str) -> AbstractContextManager[None]:
        return self._caches[part].transact()  # type: ignore[no-any-return,unused-ignore]

    def close(self) -> None:
        stop_sharing(self)
        for cache in self._caches.values():
            cache.close()

    def check(self) -> None:
        """The directory is still the one opened (not unmounted, moved or replaced: SQLite
        would go on writing to the old files unseen), writable, and a durable write and read
        go through."""
        try:
            now = _identity(self.directory)
        except OSError as error:
            raise StateError(f"state directory {self.directory} is unreachable: "
                             f"{error.strerror}") from error
        if now != self._identity:
            raise StateError(f"state directory {self.directory} is no longer the one erpsync "
                             "opened (unmounted, moved or replaced): restart erpsync once it is "
                             "back")
        if not os.access(self.directory, os.W_OK):
            raise StateError(f"state directory {self.directory} is not writable")
        self._probe(f"state directory {self.directory}")

    # --- rate budgets shared by the processes on this directory (erpsync.http.SharedBudgets) --

    def claim(self, key: str, requests: int, per: float, even: bool) -> float:
        """A sliding window of attempt start times per key (hashed: a plugin may key its budget
        by a credential), one claim at a time across processes (SQLite's write lock)."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        cache = self._caches["budgets"]
        with self._guard("claim a rate budget"), cache.transact():
            now = time.time()
            starts: list[float] = [t for t in json.loads(cache.get(digest, "[]"))
                                   if t > now - per]
            wait = window_wait(len(starts), starts[0] if starts else None,
                               starts[-1] if starts else None, now, requests, per, even)
            if wait is None:
                cache.set(digest, json.dumps([*starts, now]))
                return 0.0
            return max(0.001, wait)

    # --- locks -----------------------------------------------------------------------------

    def _take(self, name: str, token: str, ttl: float) -> bool:
        return bool(self._caches["locks"].add(name, token, expire=ttl))

    def _renew(self, name: str, token: str, ttl: float) -> bool:
        cache = self._caches["locks"]
        with cache.transact():
            holder = cache.get(name)
            if holder == token:
                return bool(cache.touch(name, expire=ttl))
            if holder is None:  # expired while this holder stalled, and nobody took it: keep
                return bool(cache.add(name, token, expire=ttl))  # it, as PostgreSQL's row stays
            return False

    def _release(self, name: str, token: str) -> None:
        cache = self._caches["locks"]
        with cache.transact():
            if cache.get(name) == token:
                cache.delete(name)


def open_state(directory: str | os.PathLike[str], url: str | None = None) -> KeyValueState:
    """The configured store: PostgreSQL at ``url`` when given (``erpsync[postgres]``), else
    the embedded store in ``directory``. The store also keeps the keyed rate budgets of
    :mod:`erpsync.http` from then on, so that goods owners sharing one vendor budget stay under
    it however many processes (on this host, or on any host with PostgreSQL) serve them."""
    store: DiskState | PgState
    if url is None:
        store = DiskState(directory)
    else:
        try:
            from erpsync.pgstate import PgState
        except ImportError:
            raise StateError('state_url needs the PostgreSQL driver: pip install '
                             '"erpsync[postgres]"') from None
        store = PgState(url)
    share_budgets(store)
    return store

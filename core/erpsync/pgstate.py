"""The state in PostgreSQL, for many processes on many hosts: ``state_url`` in the config.

The same entries as the embedded store (:class:`erpsync.state.KeyValueState`: every rule
about cursors, ledgers, runs and dead letters lives there once), kept in one table, and the
locks in another, so that ``erpsync state export`` / ``import`` move an installation between
the two without a change of meaning. Optional: ``pip install "erpsync[postgres]"`` brings
psycopg 3; the embedded store never imports this module.

- Every write is its own transaction (autocommit), durable when the call returns (PostgreSQL
  commits with ``synchronous_commit`` on by default); a read-modify-write (a run's history and
  its goods owner's summary) runs in one transaction under a transaction-level advisory lock
  of that part of that goods owner, so two hosts never interleave one.
- Locks are rows with an expiry in the server's clock (never a host's): taken only when free
  or expired, renewed every ``ttl / 3`` seconds while held, so a dead host's lock frees within
  ``ttl`` and two hosts never hold one at once.
- Each thread has its own connection (the service reads state from a thread pool while the
  scheduler writes); a connection that broke (the server restarted) is dropped and the next
  call connects again, so the next cycle recovers by itself.
- The schema is versioned: :data:`MIGRATIONS` in order, applied by ``erpsync state migrate``
  (:meth:`PgState.migrate`, one process at a time under an advisory lock). A store opened on
  an older or newer schema refuses to work, naming the command.

No message names the URL's password: errors name the host, port and database only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import conninfo

from erpsync.errors import StateError
from erpsync.http import stop_sharing, window_wait
from erpsync.state import KeyValueState

__all__ = ["MIGRATIONS", "PgState"]

MIGRATIONS: tuple[str, ...] = (
    # 1: the entries and the locks.
    """
    CREATE TABLE erpsync_entries (
        part text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (part, key)
    );
    CREATE TABLE erpsync_locks (
        name text PRIMARY KEY,
        token text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    """,
    # 2: rate budgets shared by every process and host (keyed RateLimits).
    """
    CREATE TABLE erpsync_budget_starts (
        key text NOT NULL,
        at timestamptz NOT NULL
    );
    CREATE INDEX erpsync_budget_starts_key_at ON erpsync_budget_starts (key, at);
    """,
)
"""The schema, one step per version; never edit a released step, add one."""

_MIGRATION_LOCK = 0x6572_7073_796E_6300 >> 8  # "erpsync" as a number: one migrator at a time


class PgState(KeyValueState):
    """The state store in PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, *, migrating: bool = False) -> None:
        super().__init__()
        self._url = url
        try:
            info = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise StateError(f"state_url is not a PostgreSQL URL: {error}") from None
        self.where = (f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/"
                      f"{info.get('dbname', '')}")
        """Where the store is, for messages (never the password)."""
        self._local = threading.local()
        self._open: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        if not migrating:
            self._check_schema()

    # --- connections --------------------------------------------------------------------------

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5,
                                   application_name="erpsync")
            self._local.conn = conn
            with self._lock:
                self._open[:] = [c for c in self._open if not c.closed]
                self._open.append(conn)
        return conn

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StateError:
            raise
        except psycopg.Error as error:
            conn = getattr(self._local, "conn", None)
            if conn is not None and (conn.broken or isinstance(error, psycopg.OperationalError)):
                self._local.conn = None  # the next call connects again
                conn.close()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise StateError(f"state database {self.where}: cannot {what}: {reason}") from error

    def close(self) -> None:
        stop_sharing(self)
        with self._lock:
            for conn in self._open:
                conn.close()
            self._open.clear()

    # --- the schema ---------------------------------------------------------------------------

    def _version(self) -> int:
        conn = self._conn()
        exists = conn.execute("SELECT to_regclass('erpsync_schema') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT version FROM erpsync_schema").fetchone()
        return int(row[0]) if row else 0

    def _check_schema(self) -> None:
        with self._guard("open"):
            version = self._version()
        if version < len(MIGRATIONS):
            raise StateError(f"state database {self.where} has schema version {version}; this "
                             f"erpsync needs {len(MIGRATIONS)}: run `erpsync state migrate`")
        if version > len(MIGRATIONS):
            raise StateError(f"state database {self.where} has schema version {version}, made "
                             f"by a newer erpsync (this one knows {len(MIGRATIONS)}): upgrade "
                             "erpsync")

    def migrate(self) -> list[int]:
        """Bring the schema to this erpsync's version; the versions applied, in order."""
        applied: list[int] = []
        with self._guard("migrate the schema"):
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS erpsync_schema (version integer NOT "
                             "NULL)")
                version = self._version()
                if version > len(MIGRATIONS):
                    raise StateError(f"state database {self.where} has schema version "
                                     f"{version}, made by a newer erpsync: upgrade erpsync")
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    conn.execute(MIGRATIONS[number - 1].encode())
                    applied.append(number)
                conn.execute("DELETE FROM erpsync_schema")
                conn.execute("INSERT INTO erpsync_schema (version) VALUES (%s)",
                             (len(MIGRATIONS),))
        return applied

    # --- the entries --------------------------------------------------------------------------

    def _read(self, part: str, key: str) -> str | None:
        row = self._conn().execute(
            "SELECT value FROM erpsync_entries WHERE part = %s AND key = %s", (part, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def _write(self, part: str, key: str, text: str | None) -> None:
        if text is None:
            self._delete(part, key)
            return
        self._conn().execute(
            "INSERT INTO erpsync_entries (part, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (part, key) DO UPDATE SET value = excluded.value", (part, key, text))

    def _delete(self, part: str, key: str) -> bool:
        cursor = self._conn().execute(
            "DELETE FROM erpsync_entries WHERE part = %s AND key = %s", (part, key))
        return cursor.rowcount > 0

    def _keys(self, part: str, prefix: str = "") -> list[str]:
        rows = self._conn().execute(
            "SELECT key FROM erpsync_entries WHERE part = %s AND starts_with(key, %s) "
            "ORDER BY key", (part, prefix)).fetchall()
        return [str(row[0]) for row in rows]

    @contextmanager
    def _atomic(self, part: str, scope: str) -> Iterator[None]:
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"erpsync:{part}:{scope}",))
            yield

    # --- rate budgets shared across hosts (erpsync.http.SharedBudgets) -----------------------

    def claim(self, key: str, requests: int, per: float, even: bool) -> float:
        """A sliding window of attempt start times per key, in the server's clock, one claim
        at a time per key (a transaction-level advisory lock). The key is stored hashed: a
        plugin may key its budget by a credential."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._guard("claim a rate budget"):
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                              ("erpsync:budget:" + digest,))
                row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
                assert row is not None
                now = float(row[0])
                conn.execute("DELETE FROM erpsync_budget_starts WHERE key = %s AND "
                             "at <= to_timestamp(%s)", (digest, now - per))
                counted = conn.execute(
                    "SELECT count(*), extract(epoch FROM min(at)), extract(epoch FROM max(at)) "
                    "FROM erpsync_budget_starts WHERE key = %s", (digest,)).fetchone()
                assert counted is not None
                first, last = (None if t is None else float(t) for t in counted[1:])
                wait = window_wait(int(counted[0]), first, last, now, requests, per, even)
                if wait is None:
                    conn.execute("INSERT INTO erpsync_budget_starts (key, at) "
                                 "VALUES (%s, to_timestamp(%s))", (digest, now))
                    return 0.0
                return max(0.001, wait)

    def check(self) -> None:
        """The server answers, and a write reads back."""
        with self._guard("reach the server"):
            self._conn().execute("SELECT 1")
        self._probe(f"state database {self.where}")

    # --- locks --------------------------------------------------------------------------------

    def _take(self, name: str, token: str, ttl: float) -> bool:
        taken = self._conn().execute(
            "INSERT INTO erpsync_locks (name, token, expires_at) "
            "VALUES (%s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (name) DO UPDATE SET token = excluded.token, "
            "expires_at = excluded.expires_at WHERE erpsync_locks.expires_at < now() "
            "RETURNING token", (name, token, ttl)).fetchone()
        return taken is not None

    def _renew(self, name: str, token: str, ttl: float) -> bool:
        cursor = self._conn().execute(
            "UPDATE erpsync_locks SET expires_at = now() + make_interval(secs => %s) "
            "WHERE name = %s AND token = %s", (ttl, name, token))
        return cursor.rowcount > 0

    def _release(self, name: str, token: str) -> None:
        self._conn().execute("DELETE FROM erpsync_locks WHERE name = %s AND token = %s",
                             (name, token))

"""Real PostgreSQL servers for the tests: the installed server binaries, run as a throw-away
cluster in a temporary directory, on loopback only.

Each test session (each xdist worker has its own) starts one server the first time a test asks
for ``postgres_url``; every test that needs a clean store gets a database of its own
(``pg_database_url``), dropped afterwards, so tests never see each other's data. A test that
stops and restarts the server asks for ``own_postgres``, a server of its own.

PostgreSQL refuses to run as root, so as root the cluster belongs to Debian's unprivileged
``postgres`` user (``nobody`` without it) and the server runs as that user. It listens on
127.0.0.1 on a free port, with its unix socket in the cluster's directory (never in
/var/run), trusts loopback connections, and keeps ``fsync`` on: the stores' durability is
what the tests exercise. The server dies with the process that started it, so a killed
test run leaves no server behind.

The binaries are a system package: ``.ci/run`` installs Debian's ``postgresql`` before the
tests; elsewhere the tests skip naming the package, and under CI (``CI=true``) its absence
fails them, as with chromium (tests/test_status_page_browser.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = ["PostgresServer", "find_bindir", "free_port", "own_postgres", "pg_database_url",
           "postgres_server", "postgres_url", "require_postgres", "require_psycopg"]

DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
"""Where Debian's ``postgresql`` package puts initdb and postgres (one folder per version)."""
START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: Debian's newest version, else PATH."""
    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", folder.parent.name))

    candidates = sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return next((c for c in candidates
                 if (c / "initdb").is_file() and (c / "postgres").is_file()), None)


def _unavailable(missing: str, under_ci: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing}; {under_ci}", pytrace=False)
    pytest.skip(missing)


def require_psycopg() -> None:
    """psycopg 3 (the ``postgres`` extra), or skip (fail under CI)."""
    try:
        import psycopg  # noqa: F401 - the optional extra, only for these tests
    except ImportError:
        _unavailable('needs psycopg 3 (pip install "psycopg[binary]")',
                     "the test extra must install it")


def require_postgres() -> Path:
    """The server binaries' folder, or skip (fail under CI) naming what to install."""
    bindir = find_bindir()
    if bindir is None:
        _unavailable("needs PostgreSQL's server binaries (initdb, postgres): Debian's package "
                     "postgresql (apt-get install postgresql)",
                     ".ci/run installs the system package before the tests")
    require_psycopg()
    return bindir


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the server's process, before exec: a fast shutdown when the test process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


class PostgresServer:
    """One throw-away cluster: :meth:`start` and :meth:`stop` as often as a test likes (the
    port stays the same, so URLs handed out stay valid), :meth:`remove` at the end."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="erpsync-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                user = pwd.getpwnam("nobody")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self._env["LC_ALL"] = "C"
        try:
            self._run("initdb", "--pgdata", str(self.data), "--username", "postgres",
                      "--auth", "trust", "--encoding", "UTF8", "--no-locale", "--no-sync")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bindir / tool), *args], cwd=self.root, env=self._env,
                              capture_output=True, text=True, check=False, **self._as)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it takes connections; on a first start pick a
        free port (again, if another process took it in between)."""
        for _attempt in range(5):
            port = self.port or free_port()
            if self._launch(port):
                self.port = port
                return
            if self.port:  # a restart must keep its port: the store's URL names it
                break
        raise RuntimeError(f"PostgreSQL did not start:\n{self._log_tail()}")

    def _launch(self, port: int) -> bool:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.root}",
                 "-c", "shared_buffers=16MB", "-c", "max_connections=100",
                 "-c", "max_wal_size=256MB", "-c", "log_min_messages=warning"],
                cwd=self.root, env=self._env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **self._as)
        import psycopg  # present: require_postgres() checked

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                                     connect_timeout=2) as conn:
                    row = conn.execute("SELECT current_setting('data_directory')").fetchone()
            except psycopg.OperationalError:
                time.sleep(0.02)
                continue
            if row is not None and Path(row[0]) == self.data:
                return True
            # another test process's server took the port first: ours will not bind it
            self._process.wait(timeout=START_TIMEOUT)
            return False
        self.stop()
        raise RuntimeError(f"PostgreSQL took over {START_TIMEOUT}s to start:\n{self._log_tail()}")

    def stop(self) -> None:
        """A fast shutdown (clients are disconnected, the cluster stays consistent)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def create_database(self) -> str:
        """A new empty database's URL."""
        import psycopg
        from psycopg import sql

        name = f"test_{uuid.uuid4().hex}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop it, disconnecting whatever a test left connected."""
        import psycopg
        from psycopg import sql

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(require_postgres())
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This session's (this xdist worker's) server, shared by its tests: never stop it."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A libpq URL of the session's server, as its superuser, on the ``postgres`` database."""
    return postgres_server.url()


@pytest.fixture
def pg_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A libpq URL of an empty database of this test's own on the session's server."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A running server of this test's own, to stop and start (about a second to set up)."""
    with running_postgres() as server:
        yield server

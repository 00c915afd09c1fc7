"""Many goods owners against one Netvisor and one Ongoing WMS simulator, for the end-to-end
tests of the Temporal engine (tests/test_temporal_e2e.py).

The simulators and their population are the benchmarks' (:class:`benchmarks.run.Vendors`: each
goods owner its own Netvisor organisation and its own Ongoing API user and goods owner id;
:func:`benchmarks.run.write_config` writes the config), served by uvicorn on loopback ports in
this process, each wrapped in :class:`InFlight`, which counts the calls in flight per goods
owner. ``erpsync`` itself runs only as real processes (``sys.executable -m erpsync.cli``):
``run --once``, ``worker``, ``pause``, ``schedules sync``, ``state migrate``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from benchmarks.run import Catalogue, Owner, Vendors, write_config
from erpsync_netvisor.sandbox import NetvisorSandbox
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erpsync.demo import served
from erpsync.models import Flow
from erpsync.state import RunRecord, StateStore

__all__ = ["Caught", "Fleet", "Gate", "InFlight", "RunDigest", "ScheduleSeen", "Worker", "fleet",
           "retried_activities", "run_digest", "schedules"]

ROOT = Path(__file__).resolve().parent.parent
WMS_FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

Run = tuple[str, int, int, int, int, int, int]
RunDigest = dict[tuple[str, str], list[Run]]
"""(goods owner, flow) -> its run records, newest first, as (outcome, read, written,
unchanged, skipped, dead letters, requests)."""


# --- the simulators' view: who is calling, and how many at once ------------------------------


@dataclass(frozen=True)
class Caught:
    """The call a :class:`Gate` caught: whose, what, and the caller's port (its process)."""

    owner: str
    method: str
    path: str
    port: int


class Gate:
    """Holds the simulators' answers, to stop the world at a chosen moment.

    Armed (:meth:`arm`), the first call the ``catch`` test matches is processed (the write
    happens) but its answer is held; from then on every call to a simulator sharing the gate
    is processed and its answer held too, until :meth:`open`. A process killed meanwhile is
    killed in the middle of a call, never between calls, and never hears whether its last
    writes went through.
    """

    def __init__(self) -> None:
        self._catch: Callable[[str, Scope], bool] | None = None
        self.caught: Caught | None = None
        self._opened = threading.Event()

    def arm(self, catch: Callable[[str, Scope], bool]) -> None:
        """``catch(side, scope)``, side ``"erp"`` or ``"wms"``: the call to catch."""
        self._opened.clear()
        self.caught = None
        self._catch = catch

    def holds(self, side: str, who: str, scope: Scope) -> bool:
        """Whether this call's answer waits for :meth:`open`."""
        if self._catch is None or self._opened.is_set():
            return False
        if self.caught is None:
            if not self._catch(side, scope):
                return False
            client = scope.get("client") or ("", 0)
            self.caught = Caught(who, scope["method"], scope["path"], int(client[1]))
        return True

    def wait_caught(self, timeout: float) -> Caught:
        deadline = time.monotonic() + timeout
        while self.caught is None:
            if time.monotonic() > deadline:
                raise AssertionError("the gate caught no call")
            time.sleep(0.01)
        return self.caught

    async def opened(self) -> None:
        while not self._opened.is_set():
            await asyncio.sleep(0.01)

    def open(self) -> None:
        self._catch = None
        self._opened.set()


class InFlight:
    """ASGI middleware: the calls of each goods owner in flight, the most at once per goods
    owner (:attr:`peak`) and over all of them (:attr:`peak_total`), and how many each made.

    A call is in flight from its arrival until the last part of its answer is handed to the
    server, so a goods owner's next call, sent after the answer arrived, never overlaps it.
    Counting happens in the server's one event loop; the test reads the counts afterwards.
    """

    def __init__(self, app: ASGIApp, side: str, identify: Callable[[Scope], str],
                 gate: Gate) -> None:
        self.app = app
        self.side = side
        self.identify = identify
        self.gate = gate
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.writes: Counter[tuple[str, str, str]] = Counter()
        """(goods owner, method, path) of every call but a GET."""
        self.total = 0
        self.peak_total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        who = self.identify(scope)
        self.calls[who] += 1
        if scope["method"] != "GET":
            self.writes[who, scope["method"], scope["path"]] += 1
        held = self.gate.holds(self.side, who, scope)
        self.now[who] += 1
        self.total += 1
        self.peak[who] = max(self.peak[who], self.now[who])
        self.peak_total = max(self.peak_total, self.total)
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                self.now[who] -= 1
                self.total -= 1

        async def answer(message: Message) -> None:
            if held and message["type"] == "http.response.start":
                await self.gate.opened()
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            finish()


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _basic_user(scope: Scope) -> str:
    scheme, _, token = _header(scope, b"authorization").partition(" ")
    if scheme.lower() != "basic":
        return ""
    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
        return base64.b64decode(token.strip()).decode("utf-8").partition(":")[0]
    return ""


# --- the erpsync processes -------------------------------------------------------------------

def succeeded(args: Iterable[str], returncode: int, out: str, err: str) -> None:
    """An erpsync command's end: status 0, or the test fails with what it said. (It is 0 also
    after the Temporal SDK's crash at exit, temporalio/sdk-python#300: erpsync.cli.main
    leaves before the interpreter finalizes; tests/test_temporal.py checks that.)"""
    if returncode != 0:
        raise AssertionError(f"erpsync {' '.join(args)} failed ({returncode}):\n"
                             f"{out[-4000:]}\n{err[-4000:]}")


@dataclass
class Worker:
    """One ``erpsync worker`` process; its stderr in a file (so a SIGKILL loses no line)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    _sink: TextIO

    @classmethod
    def start(cls, config: Path, log_path: Path, env: dict[str, str]) -> Worker:
        """``erpsync worker`` on ``config``, its stderr into ``log_path``."""
        sink = log_path.open("w", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "erpsync.cli", "--config", str(config),
                                 "worker"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=sink)
        return cls(proc, log_path, sink)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        """It polls its task queue."""
        return "worker on task queue" in self.log()

    def flows_done(self) -> int:
        """Flow runs this worker logged (the runner's "OWNER FLOW OUTCOME: read ..." lines)."""
        return len(re.findall(r"erpsync\.runner \[[^\]]*\]: \S+ \S+ \w+: read \d+", self.log()))

    def wait_for(self, check: Callable[[], object], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker ended ({self.proc.returncode}) before {what}:"
                                     f"\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the worker said:\n"
                                     f"{self.log()[-4000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it does not leave within 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._sink.close()


@dataclass
class Fleet:
    """The simulators with ``owners`` goods owners, a folder for the config, and the erpsync
    processes started against them."""

    folder: Path
    vendors: Vendors
    owners: list[Owner]
    catalogues: dict[str, Catalogue]
    erp_calls: InFlight
    """Netvisor's calls, by the goods owner of the X-Netvisor-Organisation-ID header."""
    wms_calls: InFlight
    """Ongoing's calls, by the goods owner of the Basic-auth user."""
    gate: Gate
    """Shared by both simulators."""
    ports: tuple[int, int] = (0, 0)
    env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    background: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.folder / "erpsync.toml"

    @property
    def ids(self) -> list[str]:
        return [o.id for o in self.owners]

    def temporal(self) -> dict[str, Any]:
        """The config's [temporal] table (its task queue and schedule prefix are unique)."""
        table: dict[str, Any] = tomllib.loads(self.config.read_text(encoding="utf-8"))["temporal"]
        return table

    def write_config(self, *, concurrency: int, head: str = "",
                     interval_minutes: float | None = None,
                     disabled: Iterable[str] = ()) -> Path:
        """The benchmarks' config for every goods owner, with ``head`` (top-level keys and the
        [temporal] table) before the goods owners, and each goods owner's interval."""
        path = write_config(self.folder, self.vendors, *self.ports, concurrency)
        top, first, owners = path.read_text(encoding="utf-8").partition("\n[[goods_owners]]")
        off = set(disabled)

        def fields(match: re.Match[str]) -> str:
            extra = ("" if interval_minutes is None
                     else f"interval_minutes = {interval_minutes}\n")
            if match.group(1) in off:
                extra += "enabled = false\n"
            return match.group(0) + extra

        owners = re.sub(r'^id = "([^"]+)"\n', fields, owners, flags=re.MULTILINE)
        path.write_text(f"{top}\n{head}{first}{owners}", encoding="utf-8")
        return path

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **self.env}
        env.pop("ERPSYNC_CONFIG", None)
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``erpsync --config CONFIG ARGS``, to its end."""
        return subprocess.run([sys.executable, "-m", "erpsync.cli", "--config", str(self.config),
                               *args], cwd=ROOT, env=self._env(), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def ok(self, *args: str, timeout: float = 120) -> str:
        """``cli`` that must succeed (:func:`succeeded`); its output."""
        done = self.cli(*args, timeout=timeout)
        succeeded(args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``erpsync ARGS`` in the background (ended, if still running, at the end)."""
        proc = subprocess.Popen([sys.executable, "-m", "erpsync.cli", "--config",
                                 str(self.config), *args], cwd=ROOT, env=self._env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.background.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float = 120,
               also: Callable[[], str] = str) -> str:
        """Wait for a command :meth:`start` started, which must succeed; its output. ``also``:
        more to show if it did not (a worker's log)."""
        out, err = proc.communicate(timeout=timeout)
        command = proc.args
        assert isinstance(command, list)  # [python, -m, erpsync.cli, --config, CONFIG, ARGS...]
        succeeded([str(a) for a in command[5:]], proc.returncode, out, err + also())
        return out

    def start_worker(self) -> Worker:
        worker = Worker.start(self.config, self.folder / f"worker-{len(self.workers)}.log",
                              self._env())
        self.workers.append(worker)
        return worker

    def start_workers(self, count: int) -> list[Worker]:
        """``count`` workers, each polling its task queue when this returns."""
        started = [self.start_worker() for _ in range(count)]
        for worker in started:
            worker.wait_for(worker.ready, "the worker to start", timeout=60)
        return started

    def worker_of(self, port: int) -> Worker:
        """The worker whose connection has this local port (the caller of a caught call)."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        for worker in self.workers:
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{worker.proc.pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) in inodes:
                            return worker
        raise AssertionError(f"no worker has a connection from port {port}")

    def stop_all(self) -> None:
        """Every process this world started, ended; its Schedules and cycles gone from the
        session's Temporal (they would go on starting cycles no worker runs)."""
        for proc in self.background:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        for worker in self.workers:
            worker.stop()
        if self.config.is_file() and "[temporal]" in self.config.read_text(encoding="utf-8"):
            table = self.temporal()
            forget(table["address"], table["schedule_prefix"], table["task_queue"])

    def retried(self) -> dict[str, list[int]]:
        """:func:`retried_activities` of this world's goods owners."""
        table = self.temporal()
        return retried_activities(table["address"], table["schedule_prefix"], self.ids)

    def schedules(self) -> dict[str, ScheduleSeen]:
        table = self.temporal()
        return schedules(table["address"], table["schedule_prefix"], self.ids)

    # --- what ended up where ------------------------------------------------------------------

    def wms_snapshot(self) -> dict[str, dict[str, Any]]:
        """Per goods owner: what the WMS holds of each flow (the business content the plugin
        wrote, dates left out) and how many records it holds in all."""
        wms = self.vendors.wms
        snapshot: dict[str, dict[str, Any]] = {}
        for owner in self.owners:
            catalogue = self.catalogues[owner.id]
            keys = {Flow.ARTICLES: catalogue.products, Flow.ORDERS: catalogue.orders,
                    Flow.PURCHASE_ORDERS: catalogue.purchase_orders}
            held: dict[str, Any] = {}
            for flow in WMS_FLOWS:
                held[f"{flow.value} held"] = wms.count(flow, goods_owner_id=owner.wms_goods_owner)
                records = {}
                for key in keys[flow]:
                    with contextlib.suppress(KeyError):
                        records[key] = _undated(wms.sent(flow, key,
                                                         goods_owner_id=owner.wms_goods_owner))
                held[flow.value] = records
            snapshot[owner.id] = held
        return snapshot

    def expected_counts(self) -> dict[str, dict[str, int]]:
        """Per goods owner: how many records of each flow the WMS should hold."""
        return {o.id: {f"{Flow.ARTICLES.value} held": len(self.catalogues[o.id].products),
                       f"{Flow.ORDERS.value} held": len(self.catalogues[o.id].orders),
                       f"{Flow.PURCHASE_ORDERS.value} held":
                           len(self.catalogues[o.id].purchase_orders)}
                for o in self.owners}

    # --- the other side: what the warehouse does, and what Netvisor hears of it --------------

    @contextlib.contextmanager
    def company(self, owner: Owner) -> Iterator[NetvisorSandbox]:
        """Netvisor's control surface on the goods owner's company (as ``Vendors.populate``
        uses it): only while no erpsync process calls Netvisor."""
        erp = self.vendors.erp
        previous, erp.organisation_id = erp.organisation_id, owner.organisation_id
        try:
            yield erp
        finally:
            erp.organisation_id = previous

    def change_in_the_erp(self) -> None:
        """Every product renamed and each goods owner's last order given a new reference in
        Netvisor (the orders shipped are no longer editable in the WMS)."""
        for owner in self.owners:
            catalogue = self.catalogues[owner.id]
            with self.company(owner) as erp:
                for n, code in enumerate(catalogue.products):
                    erp.change_product(code, name=f"Tuote {n} muutettu")
                erp.change_order(catalogue.orders[-1], our_reference="Muutettu")

    def play_the_warehouse(self) -> dict[str, dict[str, Any]]:
        """Per goods owner: ship its first order in full, receive its first purchase order one
        short per row and close it, count its first article's stock and find two missing.
        What Netvisor must hear of it, once (:meth:`erp_reports`)."""
        wms = self.vendors.wms
        expected = {}
        for owner in self.owners:
            catalogue, goods_owner = self.catalogues[owner.id], owner.wms_goods_owner
            order, po, article = (catalogue.orders[0], catalogue.purchase_orders[0],
                                  catalogue.products[0])
            with self.company(owner) as erp:
                lines = erp.order(order)["lines"]
                rows = {r["key"]: r["ordered"] - 1 for r in erp.purchase_order_rows(po)}
            wms.ship(order, goods_owner_id=goods_owner)
            wms.receive(po, rows, complete=True, goods_owner_id=goods_owner)
            wms.set_stock(article, 10, goods_owner_id=goods_owner)
            wms.adjust(article, Decimal(-2), "Rikkoutunut", goods_owner_id=goods_owner)
            expected[owner.id] = {
                "delivered": {order: sorted(Decimal(line["quantity"]) for line in lines)},
                "deliveries": {order: len(lines)},
                "received": {po: sorted(Decimal(q) for q in rows.values())},
                "events": [(article, Decimal(-2))]}
        return expected

    def erp_reports(self) -> dict[str, dict[str, Any]]:
        """Per goods owner, what Netvisor recorded of the warehouse's work (as
        :meth:`play_the_warehouse` says it)."""
        found = {}
        for owner in self.owners:
            catalogue = self.catalogues[owner.id]
            order, po = catalogue.orders[0], catalogue.purchase_orders[0]
            with self.company(owner) as erp:
                found[owner.id] = {
                    "delivered": {order: sorted(erp.delivered(order).values())},
                    "deliveries": {order: len(erp.deliveries(order))},
                    "received": {po: sorted(erp.received(po).values())},
                    "events": sorted((line["product"], line["quantity"])
                                     for event in erp.warehouse_events()
                                     for line in event["lines"])}
        return found


def _undated(value: Any) -> Any:
    """``value`` without dates: the two worlds are filled moments apart."""
    if isinstance(value, dict):
        return {k: _undated(v) for k, v in value.items()
                if not (isinstance(v, str) and _DATE.match(v))}
    if isinstance(value, list):
        return [_undated(v) for v in value]
    return value


def run_digest(state: StateStore, owners: Iterable[str], flows: Iterable[Flow]) -> RunDigest:
    """Every (goods owner, flow)'s run records in ``state``."""
    flows = list(flows)

    def digest(run: RunRecord) -> Run:
        return (run.outcome, run.read, run.written, run.unchanged, run.skipped,
                run.dead_lettered, run.requests)

    return {(o, f.value): [digest(r) for r in state.runs(o, f.value)]
            for o in owners for f in flows}


@contextlib.contextmanager
def fleet(folder: Path, owners: int, *, products: int = 3, orders: int = 2,
          purchase_orders: int = 1, latency: float = 0.0) -> Iterator[Fleet]:
    """``owners`` goods owners, each with its own small catalogue, on served simulators."""
    vendors = Vendors(latency)
    vendors.owners.clear()  # not the default goods owner: only those added here
    # The reading the plugin looks an adjustment's warehouse event up with after a crash (the
    # simulator's choice C20; the fault suite serves it too).
    vendors.erp.warehouse_event_report = True
    added = [vendors.add_owner(n) for n in range(owners)]
    catalogues = {o.id: vendors.populate(o, products, orders, purchase_orders, tag=f"O{n}")
                  for n, o in enumerate(added)}
    by_user = {o.username: o.id for o in added}
    by_organisation = {o.organisation_id: o.id for o in added}
    gate = Gate()
    erp_calls = InFlight(vendors.erp.app, "erp", lambda scope: by_organisation.get(
        _header(scope, b"x-netvisor-organisation-id"), "?"), gate)
    wms_calls = InFlight(vendors.wms.app, "wms",
                         lambda scope: by_user.get(_basic_user(scope), "?"), gate)
    folder.mkdir(parents=True, exist_ok=True)
    world = Fleet(folder, vendors, added, catalogues, erp_calls, wms_calls, gate)
    with served(erp_calls, wms_calls) as (erp_server, wms_server):
        world.ports = (erp_server.port, wms_server.port)
        try:
            yield world
        finally:
            world.stop_all()


# --- Temporal, as the test sees it -----------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSeen:
    """A goods owner's Schedule as Temporal describes it."""

    paused: bool
    note: str
    cycles: int
    """Cycles it started (on its interval or triggered)."""
    workflow_ids: tuple[str, ...]
    """Its recent cycles."""


def schedules(address: str, prefix: str, owner_ids: Iterable[str]) -> dict[str, ScheduleSeen]:
    """Each goods owner's Schedule."""
    from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

    async def read() -> dict[str, ScheduleSeen]:
        client = await Client.connect(address)
        found = {}
        for owner_id in owner_ids:
            described = await client.get_schedule_handle(f"{prefix}:{owner_id}").describe()
            state, info = described.schedule.state, described.info
            found[owner_id] = ScheduleSeen(
                state.paused, state.note or "", info.num_actions,
                tuple(a.action.workflow_id for a in info.recent_actions
                      if isinstance(a.action, ScheduleActionExecutionStartWorkflow)))
        return found

    return asyncio.run(read())


def retried_activities(address: str, prefix: str, owner_ids: Iterable[str],
                       ) -> dict[str, list[int]]:
    """Per goods owner, the attempt of each activity of its recent cycles that completed on
    a second or later attempt (its first failed, or died with its worker)."""
    from temporalio.client import Client

    seen = schedules(address, prefix, owner_ids)

    async def read() -> dict[str, list[int]]:
        client = await Client.connect(address)
        retried: dict[str, list[int]] = {}
        for owner_id, schedule in seen.items():
            for workflow_id in schedule.workflow_ids:
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                for event in history.events:
                    if event.HasField("activity_task_started_event_attributes"):
                        attempt = event.activity_task_started_event_attributes.attempt
                        if attempt > 1:
                            retried.setdefault(owner_id, []).append(attempt)
        return retried

    return asyncio.run(read())


def forget(address: str, prefix: str, task_queue: str) -> None:
    """Delete the Schedules of ``prefix`` and end the cycles still open on ``task_queue``."""
    from temporalio.client import Client
    from temporalio.service import RPCError

    async def clean() -> None:
        try:
            client = await Client.connect(address)
        except RuntimeError:  # Temporal is gone: nothing to clean
            return
        async for listed in await client.list_schedules():
            if listed.id.startswith(f"{prefix}:"):
                with contextlib.suppress(RPCError):
                    await client.get_schedule_handle(listed.id).delete()
        query = f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running"'
        async for open_cycle in client.list_workflows(query):
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(open_cycle.id).terminate("test over")

    asyncio.run(clean())

"""The Temporal engine's face: the config, the Schedules kept in step with it, pause, resume,
run now and status through them, a refused credential pausing its Schedule, ``erpsync serve``
as the Schedules' keeper, and the embedded default untouched by any of it.

Real servers: the Temporal dev server (tests/temporal.py), PostgreSQL (tests/postgres.py),
the Netvisor and Ongoing simulators on loopback ports (tests/served.py); ``erpsync worker``
and ``erpsync serve`` run as processes. The many-owner, killed-worker and restarted-database
runs are in tests/test_temporal_e2e.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from erpsync.config import load_config
from erpsync.plugins import discover
from erpsync.state import KeyValueState, open_state

from .served import ServedErpsync, served_erpsync
from .temporal import temporal_toml
from .temporal_world import Worker

if os.environ.get("CI") != "true":  # under CI the test extra has it: a missing one fails
    pytest.importorskip("temporalio", reason='needs the Temporal SDK: pip install '
                        '"erpsync[temporal]"')

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
)

from erpsync.temporal.schedules import DISABLED, REAUTHORISATION, Schedules, connect


@dataclass
class World:
    """The simulators, a PostgreSQL database and a Temporal task queue of the test's own."""

    served: ServedErpsync
    state_url: str
    temporal: str
    """The config's engine lines (tests/temporal.py's temporal_toml)."""
    workers: list[Worker] = field(default_factory=list)

    def write(self, owners: list[str] | None = None) -> None:
        """The config with these goods owners (``"beta!"``: beta with a refused key)."""
        self.served.write_config(owners, extra=f'state_url = "{self.state_url}"\n'
                                 + self.temporal)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.served.cli(*args)

    def worker(self) -> Worker:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("ERPSYNC_CONFIG", None)
        log = self.served.folder / f"worker-{len(self.workers)}.log"
        self.workers.append(Worker.start(self.served.config, log, env))
        return self.workers[-1]

    def state(self) -> KeyValueState:
        return open_state(self.served.state_dir, self.state_url)


@pytest.fixture
def world(tmp_path: Path, temporal_address: str, pg_database_url: str) -> Iterator[World]:
    """acme (working credentials) and beta (a Netvisor key the simulator refuses), with
    engine = "temporal", the state in a PostgreSQL database of the test's own."""
    with served_erpsync(tmp_path, interval_minutes=60) as served:
        served.env["COLUMNS"] = "250"  # the status table whole
        opened = World(served, pg_database_url,
                       temporal_toml(temporal_address, heartbeat_seconds=3, jitter_seconds=0))
        opened.write()
        migrated = opened.cli("state", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        try:
            yield opened
        finally:
            for worker in opened.workers:
                worker.stop()


async def _schedules(world: World) -> Schedules:
    config = load_config(world.served.config, discover())
    assert config.temporal is not None
    return Schedules(await connect(config.temporal), config)


def test_the_embedded_default_imports_neither_temporal_nor_postgres(tmp_path: Path) -> None:
    with served_erpsync(tmp_path) as world:
        world.write_config(["acme"])
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("ERPSYNC_CONFIG", None)
        for command in (["run", "--once"], ["status"], ["check"]):
            done = subprocess.run([sys.executable, "-X", "importtime", "-m", "erpsync.cli",
                                   "--config", str(world.config), *command], env=env,
                                  capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
            imported = set(re.findall(r"\|\s+([\w.]+)$", done.stderr, re.MULTILINE))
            assert "erpsync.flows" in imported or command != ["run", "--once"]
            assert not {m for m in imported if m.split(".")[0] in ("temporalio", "psycopg")}, \
                f"erpsync {' '.join(command)} imported an optional extra"


def test_a_worker_needs_the_temporal_engine(tmp_path: Path) -> None:
    with served_erpsync(tmp_path) as world:
        world.write_config(["acme"])
        done = world.cli("worker")
    assert done.returncode == 1
    assert "runs the embedded engine" in done.stderr and "erpsync serve" in done.stderr


async def test_the_schedules_follow_the_config(world: World) -> None:
    schedules = await _schedules(world)
    client, prefix = schedules.client, schedules.settings.schedule_prefix
    foreign = await _foreign_schedule(schedules)

    assert sorted(await schedules.sync()) == [
        "goods owner acme: schedule created (every 60 min)",
        "goods owner beta: schedule created (every 60 min)"]
    assert await schedules.sync() == [], "a second sync changes nothing"
    acme = await client.get_schedule_handle(f"{prefix}:acme").describe()
    assert acme.schedule.spec.intervals[0].every.total_seconds() == 3600
    assert not acme.schedule.state.paused

    # A person's pause survives a sync; the config's interval and on/off are applied.
    await schedules.pause("acme", "paused by erpsync pause: stocktaking")
    world.served.interval_minutes = 30
    world.write()
    text = world.served.config.read_text(encoding="utf-8")
    world.served.config.write_text(text.replace('id = "beta"\n', 'id = "beta"\nenabled = false\n'),
                                   encoding="utf-8")
    schedules.config = load_config(world.served.config, discover())
    changes = sorted(await schedules.sync())
    assert changes == ["goods owner acme: schedule updated",
                       "goods owner beta: schedule updated (paused: switched off)"], changes
    acme_view, beta_view = await schedules.view("acme"), await schedules.view("beta")
    assert acme_view is not None and acme_view.paused
    assert acme_view.note == "paused by erpsync pause: stocktaking"
    assert beta_view is not None and beta_view.paused and beta_view.note == DISABLED
    acme = await client.get_schedule_handle(f"{prefix}:acme").describe()
    assert acme.schedule.spec.intervals[0].every.total_seconds() == 1800

    # Switched on again: unpaused; removed from the config: deleted; others: untouched.
    world.write(["acme"])
    schedules.config = load_config(world.served.config, discover())
    text = world.served.config.read_text(encoding="utf-8")
    changes = sorted(await schedules.sync())
    assert "goods owner beta: schedule deleted (no longer in the config)" in changes, changes
    assert await schedules.view("beta") is None
    assert (await foreign.describe()).id == foreign.id, "a schedule erpsync does not own"
    world.write(["acme", "beta!"])
    schedules.config = load_config(world.served.config, discover())
    assert await schedules.sync() == ["goods owner beta: schedule created (every 30 min)"]
    beta_view = await schedules.view("beta")
    assert beta_view is not None and not beta_view.paused
    assert text  # the config was read


async def _foreign_schedule(schedules: Schedules) -> ScheduleHandle:
    """A schedule of another application in the same namespace."""
    return await schedules.client.create_schedule(
        f"other-{schedules.settings.schedule_prefix}:acme",
        Schedule(action=ScheduleActionStartWorkflow("other.workflow", id="other",
                                                    task_queue="other"),
                 spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                 state=ScheduleState(paused=True)))


async def test_pause_resume_and_status_go_through_the_schedule(world: World) -> None:
    assert world.cli("schedules", "sync").returncode == 0
    schedules = await _schedules(world)

    paused = world.cli("pause", "acme", "--reason", "stocktaking")
    assert paused.returncode == 0, paused.stderr
    view = await schedules.view("acme")
    assert view is not None and view.paused and view.note.endswith("stocktaking")
    state = world.state()
    try:
        pause = state.get_pause("acme")
        assert pause is not None and pause.reason == "stocktaking"
    finally:
        state.close()
    status = world.cli("status", "-g", "acme")
    assert "paused" in status.stdout and "is paused" in status.stderr

    resumed = world.cli("resume", "acme")
    assert resumed.returncode == 0, resumed.stderr
    view = await schedules.view("acme")
    assert view is not None and not view.paused and view.next_run is not None
    status = world.cli("status", "-g", "acme")
    shown = view.next_run.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert status.stdout.count(shown) == 6, "every flow's next run is the Schedule's"


async def test_refused_credentials_pause_the_schedule_until_a_run_by_hand_succeeds(
    world: World,
) -> None:
    world.write(["acme", "beta!"])
    assert world.cli("schedules", "sync").returncode == 0
    world.worker()
    schedules = await _schedules(world)

    refused = world.cli("run", "--once", "-g", "beta")
    assert refused.returncode == 1
    assert "needs re-authorisation" in refused.stderr, refused.stderr
    view = await schedules.view("beta")
    assert view is not None and view.paused and view.note.startswith(REAUTHORISATION)
    state = world.state()
    try:
        status = state.get_owner_status("beta")
        assert status is not None and "refused" in status.message
        assert [r.outcome for r in state.runs("beta", "articles")] == ["needs_reauthorisation"]
    finally:
        state.close()

    resumed = world.cli("resume", "beta")
    assert "still needs re-authorisation" in resumed.stderr
    view = await schedules.view("beta")
    assert view is not None and view.paused, "resume does not undo a credentials hold"

    world.write(["acme", "beta"])  # the key fixed in the config; then run by hand
    fixed = world.cli("run", "--once", "-g", "beta")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    view = await schedules.view("beta")
    assert view is not None and not view.paused, "the hold ends with a successful cycle"
    state = world.state()
    try:
        assert state.get_owner_status("beta") is None
        assert state.runs("beta", "articles")[0].outcome == "ok"
    finally:
        state.close()


async def test_serve_keeps_the_schedules_in_step_and_shows_them(world: World) -> None:
    world.write(["acme", "beta"])
    world.served.start()
    schedules = await _schedules(world)
    ready = world.served.wait_for(lambda: world.served.get("/readyz").status_code == 200, 30)
    assert ready
    page = world.served.get("/").text
    assert "acme" in page and "beta" in page
    assert await schedules.view("acme") is not None

    world.write(["acme"])
    world.served.signal(signal.SIGHUP)
    world.served.wait_for(lambda: "schedule deleted" in world.served.log(), 30)
    assert await schedules.view("beta") is None
    assert await schedules.view("acme") is not None
    page = world.served.get("/").text
    assert "beta" not in page


def test_check_connect_reaches_temporal_and_names_it_when_it_cannot(world: World) -> None:
    world.write(["acme"])
    checked = world.cli("check", "--connect")
    assert checked.returncode == 0, checked.stderr
    assert "answers; task queue q-" in checked.stdout

    world.temporal = world.temporal.replace(
        world.temporal.split('address = "')[1].split('"')[0], "127.0.0.1:9")
    world.write(["acme"])
    refused = world.cli("check", "--connect")
    assert refused.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:9 (namespace default)" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_a_stopped_worker_finishes_its_current_record_and_the_next_cycle_goes_on(
    world: World,
) -> None:
    world.write(["acme"])
    assert world.cli("schedules", "sync").returncode == 0
    world.served.erp.latency = 0.3  # each Netvisor call takes a while: the cycle is long
    worker = world.worker()
    running = subprocess.Popen(
        [sys.executable, "-m", "erpsync.cli", "--config", str(world.served.config), "run",
         "--once", "-g", "acme"], env={**os.environ, "COLUMNS": "250"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # SIGTERM once the orders flow has had its first answer from Netvisor: mid-flow.
    worker.wait_for(lambda: any("salesinvoicelist" in r.resource
                                for r in world.served.erp.requests), "the orders flow", 60)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0, worker.log()
    log = worker.log()
    assert "running flows stop after their current record" in log
    assert "acme orders stopped" in log, log

    world.served.erp.latency = 0.0
    world.worker()  # another worker takes the rest of that cycle, or the next one
    shown, said = running.communicate(timeout=120)
    assert running.returncode == 1 and "stopped" in shown, (
        f"the cycle it was in says so:\n{shown}\n{said}\nthe worker said:\n{log}")
    again = world.cli("run", "--once", "-g", "acme")
    assert again.returncode == 0, again.stdout + again.stderr
    state = world.state()
    try:
        for flow in ("articles", "orders", "purchase_orders"):
            runs = state.runs("acme", flow)
            assert runs and runs[0].outcome == "ok", (flow, runs)
        assert [r.outcome for r in state.runs("acme", "articles")].count("ok") == 2
    finally:
        state.close()
    assert world.served.wms.count("articles") == 12, "every article written once"


def test_commands_on_temporal_exit_cleanly(world: World) -> None:
    """The Temporal SDK's runtime can abort the interpreter as it finalizes after a client was
    used (temporalio/sdk-python#300: exit -6 or -11 after the work was done; seen here in up to
    four of twenty runs on a loaded machine, none on an idle one): erpsync leaves before that,
    with the command's own status."""
    assert world.cli("schedules", "sync").returncode == 0
    codes = [world.cli("status").returncode for _ in range(8)]
    assert codes == [0] * 8


async def test_readiness_says_when_temporal_is_out_of_reach(
    tmp_path: Path, pg_database_url: str
) -> None:
    """`erpsync serve` on a Temporal of the test's own, which then stops: /readyz turns 503
    and names it (the status page and /healthz stay up: the process is fine)."""
    from temporalio.testing import WorkflowEnvironment

    from .temporal import find_temporal

    binary = find_temporal()
    assert binary is not None
    own = await WorkflowEnvironment.start_local(dev_server_existing_path=binary, ui=False,
                                                dev_server_log_level="error")
    address = own.client.service_client.config.target_host
    with served_erpsync(tmp_path, interval_minutes=60) as served:
        world = World(served, pg_database_url, temporal_toml(address, jitter_seconds=0))
        world.write(["acme"])
        assert world.cli("state", "migrate").returncode == 0
        served.start()
        try:
            served.wait_for(lambda: served.get("/readyz").status_code == 200, 30)
        finally:
            await own.shutdown()
        answer = served.wait_for(
            lambda: (r := served.get("/readyz")).status_code == 503 and r, 30)
        said = answer.json()
        assert f"Temporal at {address}" in json.dumps(said), said
        assert served.get("/healthz").status_code == 200
        assert served.get("/").status_code == 200

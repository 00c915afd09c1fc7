"""One Temporal Schedule per goods owner, reconciled with the config (the config is the truth).

A goods owner's Schedule is ``PREFIX:ID`` (``[temporal] schedule_prefix``); it starts a
:class:`~erpsync.temporal.workflow.Cycle` every ``interval_minutes``, up to ``jitter_seconds``
late, and skips a start while the last cycle still runs (overlap SKIP: never two cycles of one
goods owner at once). :meth:`Schedules.sync` makes the Schedules what the config says: added,
changed (interval, flows, timeouts), removed, and paused while the goods owner is switched
off; a Schedule a person paused (``erpsync pause``) or the workflow paused for
re-authorisation stays paused. Schedules without the prefix are never touched.

:class:`TemporalScheduler` is what ``erpsync serve`` runs with ``engine = "temporal"``: no
cycle runs in it (the workers run them); it syncs the Schedules at start and on every reload,
and reads their next and running cycles for the status page, /readyz and ``erpsync status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecution,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from erpsync.config import Config, GoodsOwner, TemporalSettings
from erpsync.errors import ErpsyncError
from erpsync.plugins import PluginRegistry
from erpsync.runner import Runner
from erpsync.state import StateStore
from erpsync.temporal.workflow import Cycle, CycleInput, CycleResult

__all__ = ["DISABLED", "REAUTHORISATION", "ScheduleView", "Schedules", "TemporalScheduler",
           "connect"]

log = logging.getLogger("erpsync.temporal")

DISABLED = "switched off in the config (enabled = false)"
"""The note of a Schedule paused because its goods owner is switched off."""
REAUTHORISATION = "needs re-authorisation"
"""How the note of a Schedule paused for refused credentials begins."""
AT_ONCE = 16
"""Schedule requests in flight at once (a sync, a look at every Schedule)."""


async def connect(settings: TemporalSettings) -> Client:
    """A client of the Temporal service ``[temporal]`` names; :class:`ErpsyncError` naming
    the address when it cannot be reached."""
    tls: bool | TLSConfig = settings.uses_tls
    if settings.client_cert is not None or settings.server_ca is not None:
        tls = TLSConfig(
            server_root_ca_cert=(settings.server_ca.get_secret_value().encode()
                                 if settings.server_ca else None),
            client_cert=(settings.client_cert.get_secret_value().encode()
                         if settings.client_cert else None),
            client_private_key=(settings.client_key.get_secret_value().encode()
                                if settings.client_key else None))
    try:
        return await Client.connect(
            settings.address, namespace=settings.namespace, tls=tls,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None)
    except (RPCError, RuntimeError) as error:
        raise ErpsyncError(f"cannot reach Temporal at {settings.address} (namespace "
                           f"{settings.namespace}): {error}") from None


@dataclass(frozen=True)
class ScheduleView:
    """What Temporal says of one goods owner's Schedule."""

    paused: bool
    note: str
    next_run: datetime | None
    running: bool
    last_started: datetime | None


def _view(description: ScheduleDescription) -> ScheduleView:
    info, state = description.info, description.schedule.state
    recent = info.recent_actions[-1].started_at if info.recent_actions else None
    return ScheduleView(paused=state.paused, note=state.note or "",
                        next_run=info.next_action_times[0] if info.next_action_times else None,
                        running=bool(info.running_actions), last_started=recent)


def _offset(owner_id: str, every: timedelta) -> timedelta:
    """Where in its interval a goods owner's cycles start: spread by its id. Temporal counts
    intervals from 1970, so without an offset every goods owner on a 15-minute interval
    would start at the same instant each quarter hour (jitter only smears that peak)."""
    seconds = int(every.total_seconds())
    if seconds < 2:
        return timedelta(0)
    spread = int.from_bytes(hashlib.sha256(owner_id.encode()).digest()[:8], "big")
    return timedelta(seconds=spread % seconds)


def _intervals(spec: ScheduleSpec) -> list[tuple[timedelta, timedelta]]:
    """The spec's intervals as compared: Temporal answers no offset for a zero one."""
    return [(i.every, i.offset or timedelta(0)) for i in spec.intervals]


def _workflow_ids(actions: Iterable[ScheduleActionExecution]) -> list[str]:
    return [a.workflow_id for a in actions if isinstance(a, ScheduleActionExecutionStartWorkflow)]


def _not_found(error: RPCError) -> bool:
    return error.status == RPCStatusCode.NOT_FOUND


class Schedules:
    """The Schedule operations erpsync needs, for the goods owners of ``config``."""

    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config

    @property
    def settings(self) -> TemporalSettings:
        assert self.config.temporal is not None
        return self.config.temporal

    def schedule_id(self, owner_id: str) -> str:
        return f"{self.settings.schedule_prefix}:{owner_id}"

    def cycle_input(self, owner: GoodsOwner, **by_hand: object) -> CycleInput:
        return CycleInput(owner.id, [f.value for f in owner.flows],
                          heartbeat_seconds=self.settings.heartbeat_seconds,
                          flow_timeout_minutes=self.settings.flow_timeout_minutes,
                          **by_hand)  # type: ignore[arg-type]

    def _schedule(self, owner: GoodsOwner, state: ScheduleState) -> Schedule:
        every = timedelta(minutes=owner.interval_minutes)
        return Schedule(
            action=ScheduleActionStartWorkflow(
                Cycle.run, self.cycle_input(owner), id=f"{self.schedule_id(owner.id)}:cycle",
                task_queue=self.settings.task_queue),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=every, offset=_offset(owner.id, every))],
                jitter=timedelta(seconds=min(self.settings.jitter_seconds,
                                             owner.interval_minutes * 60 / 2))),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                                  catchup_window=timedelta(minutes=owner.interval_minutes)),
            state=state)

    async def _differs(self, have: Schedule, want: Schedule, owner: GoodsOwner) -> bool:
        if not isinstance(have.action, ScheduleActionStartWorkflow):
            return True
        assert isinstance(want.action, ScheduleActionStartWorkflow)
        args = await self.client.data_converter.decode(
            [a for a in have.action.args if isinstance(a, Payload)])
        return (args != [dataclasses.asdict(self.cycle_input(owner))]
                or have.action.task_queue != want.action.task_queue
                or have.action.workflow != want.action.workflow
                or _intervals(have.spec) != _intervals(want.spec)
                # Temporal answers no jitter for a zero one.
                or (have.spec.jitter or timedelta(0)) != (want.spec.jitter or timedelta(0))
                or have.policy.overlap != want.policy.overlap)

    async def sync(self) -> list[str]:
        """Make the Schedules what the config says; what changed, one line each."""
        changes: list[str] = []
        wanted = {self.schedule_id(o.id): o for o in self.config.goods_owners}
        limit = asyncio.Semaphore(AT_ONCE)

        async def one(schedule_id: str, owner: GoodsOwner) -> None:
            async with limit:
                change = await self._sync_one(schedule_id, owner)
            if change:
                changes.append(f"goods owner {owner.id}: {change}")

        await asyncio.gather(*(one(i, o) for i, o in wanted.items()))
        prefix = f"{self.settings.schedule_prefix}:"
        async for listed in await self.client.list_schedules():
            if listed.id.startswith(prefix) and listed.id not in wanted:
                with contextlib.suppress(RPCError):  # gone meanwhile
                    await self.client.get_schedule_handle(listed.id).delete()
                    changes.append(f"goods owner {listed.id.removeprefix(prefix)}: schedule "
                                   "deleted (no longer in the config)")
        return changes

    async def _sync_one(self, schedule_id: str, owner: GoodsOwner) -> str | None:
        handle = self.client.get_schedule_handle(schedule_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if not _not_found(error):
                raise
            state = ScheduleState(paused=not owner.enabled,
                                  note="" if owner.enabled else DISABLED)
            await self.client.create_schedule(schedule_id, self._schedule(owner, state))
            return f"schedule created (every {owner.interval_minutes:g} min)"
        state = description.schedule.state
        if not owner.enabled and not state.paused:
            state = dataclasses.replace(state, paused=True, note=DISABLED)
        elif owner.enabled and state.paused and state.note == DISABLED:
            state = dataclasses.replace(state, paused=False, note="")
        want = self._schedule(owner, state)
        if (state == description.schedule.state
                and not await self._differs(description.schedule, want, owner)):
            return None

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=want)

        await handle.update(update)
        return "schedule updated" + (" (paused: switched off)" if state.note == DISABLED and
                                     state.paused else "")

    async def pause(self, owner_id: str, note: str) -> None:
        await self.client.get_schedule_handle(self.schedule_id(owner_id)).pause(note=note)

    async def resume(self, owner_id: str) -> ScheduleView:
        """Unpause, unless the goods owner is switched off or needs re-authorisation; the
        Schedule as it is then."""
        handle = self.client.get_schedule_handle(self.schedule_id(owner_id))
        view = _view(await handle.describe())
        if view.paused and view.note != DISABLED and not view.note.startswith(REAUTHORISATION):
            await handle.unpause(note="resumed by erpsync resume")
            view = dataclasses.replace(view, paused=False, note="")
        return view

    async def release(self, owner_id: str) -> bool:
        """Unpause a Schedule paused for re-authorisation; True if it was."""
        handle = self.client.get_schedule_handle(self.schedule_id(owner_id))
        view = _view(await handle.describe())
        if view.paused and view.note.startswith(REAUTHORISATION):
            await handle.unpause(note="re-authorised")
            return True
        return False

    async def view(self, owner_id: str) -> ScheduleView | None:
        try:
            description = await self.client.get_schedule_handle(
                self.schedule_id(owner_id)).describe()
        except RPCError as error:
            if _not_found(error):
                return None
            raise
        return _view(description)

    async def views(self, owner_ids: Iterable[str]) -> dict[str, ScheduleView | None]:
        limit = asyncio.Semaphore(AT_ONCE)

        async def one(owner_id: str) -> tuple[str, ScheduleView | None]:
            async with limit:
                return owner_id, await self.view(owner_id)

        return dict(await asyncio.gather(*(one(i) for i in owner_ids)))

    async def run_now(self, owner: GoodsOwner, *, by_hand: bool = False, flows: Collection[str]
                      | None = None, dry_run: bool = False, since: datetime | None = None,
                      ) -> CycleResult:
        """One cycle of the goods owner now, and its result.

        Not by hand: the Schedule is triggered (what it would do itself, so never beside a
        running cycle: that one's result is returned instead). By hand (a person named the
        goods owner, or chose flows, a dry run or a backfill): a cycle of its own that runs
        even when paused, and unpauses a Schedule held for re-authorisation when it ends
        without a refusal.
        """
        if by_hand:
            cycle = self.cycle_input(owner, by_hand=True, dry_run=dry_run,
                                     since=since.isoformat() if since else None)
            if flows is not None:
                cycle = dataclasses.replace(cycle, flows=[f for f in cycle.flows if f in flows])
            started = await self.client.start_workflow(
                Cycle.run, cycle, id=f"{self.schedule_id(owner.id)}:by-hand:{uuid.uuid4().hex}",
                task_queue=self.settings.task_queue)
            return await started.result()
        schedule = self.client.get_schedule_handle(self.schedule_id(owner.id))
        before = await schedule.describe()
        seen = set(_workflow_ids(a.action for a in before.info.recent_actions))
        await schedule.trigger()
        workflow_id = None
        for _ in range(100):
            description = await schedule.describe()
            new = [i for i in _workflow_ids(a.action for a in description.info.recent_actions)
                   if i not in seen]
            skipped = (description.info.num_actions_skipped_overlap
                       > before.info.num_actions_skipped_overlap)
            if new or skipped:
                running = _workflow_ids(description.info.running_actions)
                workflow_id = new[-1] if new else running[-1] if running else None
                break
            await asyncio.sleep(0.1)
        if workflow_id is None:
            raise ErpsyncError(f"{owner.id}: Temporal started no cycle for the trigger of "
                               f"schedule {self.schedule_id(owner.id)} within 10 s: is a "
                               "worker running (erpsync worker)?")
        handle: WorkflowHandle[Any, CycleResult] = self.client.get_workflow_handle(
            workflow_id, result_type=CycleResult)
        return await handle.result()


class TemporalScheduler(Runner):
    """``erpsync serve`` with ``engine = "temporal"``: the Schedules, not the cycles.

    Keeps :class:`~erpsync.runner.Runner`'s face to the service (``next_run``, ``running``,
    ``scheduled``, the state store probe and heartbeat, ``reload``) so the status page,
    /healthz, /readyz and /metrics read it as they read the embedded schedule.
    """

    @property
    def refresh_seconds(self) -> float:
        """The least pause between two looks at every Schedule (next and running cycles, and
        whether Temporal answers): three state store probes' worth, 15 s by default."""
        return 3 * self.probe_interval

    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry,
                 client: Client) -> None:
        super().__init__(config, state, registry)
        self.schedules = Schedules(client, config)
        self.views: dict[str, ScheduleView | None] = {}
        self.unreachable: str | None = None
        """Why Temporal could not be asked, when the last attempt failed."""
        self._syncing = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    def _reconcile(self) -> None:
        assert self._group is not None
        self._group.create_task(self._sync(), name="erpsync schedules sync")
        if self._watcher is None:
            self._watcher = self._group.create_task(self._watch(), name="erpsync schedules")
            self._background.append(self._watcher)

    async def _sync(self) -> None:
        self.schedules.config = self.config
        async with self._syncing:
            try:
                changes = await self.schedules.sync()
            except RPCError as error:
                log.error("the schedules could not be synced: %s (they are tried again at the "
                          "next reload or restart)", self._unreachable(error))
                return
            for change in changes:
                log.info("%s", change)
            log.info("schedules synced with the config: %d goods owners, %d change(s)",
                     len(self.config.goods_owners), len(changes))
        await self.refresh()

    async def refresh(self) -> None:
        """Describe every goods owner's Schedule again."""
        try:
            views = await self.schedules.views([o.id for o in self.config.goods_owners])
        except RPCError as error:
            log.warning("the schedules could not be read: %s", self._unreachable(error))
            return
        self.unreachable = None
        self.views = views
        self.next_run = {i: v.next_run for i, v in views.items()
                         if v is not None and v.next_run is not None and not v.paused}

    def _unreachable(self, error: RPCError) -> str:
        self.unreachable = f"Temporal at {self.schedules.settings.address}: {error}"
        return self.unreachable

    async def _watch(self) -> None:
        """Describe the Schedules again and again (each sync, at start and reload, already
        ends with a look); with many goods owners a pass takes a while (~4 ms a Schedule,
        docs/scaling.md), and the pause before the next is at least three times as long, so
        that the page costs Temporal a quarter of the time at most."""
        took = 0.0
        while True:
            await asyncio.sleep(max(self.refresh_seconds, 3 * took))
            began = time.monotonic()
            await self.refresh()
            took = time.monotonic() - began

    def _serving_says(self) -> None:
        log.info("keeping the Schedules of %d goods owners on Temporal at %s (namespace %s); "
                 "`erpsync worker` runs their cycles", len(self.config.goods_owners),
                 self.schedules.settings.address, self.schedules.settings.namespace)

    def schedule_problem(self) -> str | None:
        return self.unreachable

    def scheduled(self) -> dict[str, bool]:
        return {i: v is not None and self.unreachable is None for i, v in self.views.items()}

    def running(self, owner_id: str) -> bool:
        view = self.views.get(owner_id)
        return view is not None and view.running

"""The schedule: which flows of which goods owner run when.

:meth:`Runner.run_once` runs one cycle of every (or some) goods owners; :meth:`Runner.serve`
runs each goods owner's cycle on its interval until asked to stop. Both keep the same rules:

- one goods owner's failure never stops another: every flow's outcome is recorded and the next
  flow, and the next goods owner, go on;
- a goods owner whose credentials were refused stops at once with the status "needs
  re-authorisation" and is skipped by the schedule until someone re-authorises it
  (``erpsync authorize ID`` when its ERP plugin has a consent flow) or runs it by hand
  (``erpsync run --once --goods-owner ID``) after fixing the credentials: no retry loop against
  a dead credential. Entering that status (the transition, not every cycle that finds it)
  sends one notification to the config's ``[notify]`` webhook and e-mail: the goods owner, the
  message and the command to run. A notification that fails is logged and never breaks the
  run;
- at most ``concurrency`` goods owners run at once; the calls of one goods owner are made one
  flow at a time, and two cycles of one goods owner never overlap, even across processes
  (a lock in the state store);
- a paused goods owner (``erpsync pause``) is skipped by the schedule until it is resumed;
- a stop request (SIGTERM, SIGINT) lets every running flow finish its current record, keeps
  the cursors where they are safe, and returns;
- :meth:`Runner.reload` takes a new config while serving: goods owners added start, removed
  ones stop, changed ones run with their new settings from their next cycle;
- without durable state nothing may be synced: :class:`~erpsync.errors.StateError` ends
  :meth:`Runner.run_once`, and halts :meth:`Runner.serve` (no cycle starts) until the state
  store answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from erpsync import logs
from erpsync.config import Config, EmailSettings, GoodsOwner, NotifySettings
from erpsync.errors import ErpsyncError, StateError
from erpsync.flows import FlowOptions, RunContext, run_flow
from erpsync.http import HttpClient
from erpsync.models import Flow
from erpsync.plugins import Erp, PluginRegistry
from erpsync.state import OwnerStatus, RunRecord, StateStore

__all__ = ["AnyOf", "Notifier", "RunObserver", "Runner", "reauthorisation_action"]

log = logging.getLogger("erpsync.runner")


def _now() -> datetime:
    return datetime.now(UTC)


def _first(errors: BaseExceptionGroup[StateError]) -> StateError:
    """The first StateError of a task group's: raised as itself, so that callers (the CLI)
    can catch it by its kind and show its message rather than "unhandled errors in a
    TaskGroup"."""
    first = errors.exceptions[0]
    return first if isinstance(first, StateError) else _first(first)


_PROBE_REDIRECT = "http://127.0.0.1/callback"
_NOTIFY_TIMEOUT = 15.0


def reauthorisation_action(owner_id: str, erp: Erp, run: RunRecord | None = None) -> str:
    """What a person does for a goods owner whose credentials were refused: ``erpsync
    authorize OWNER`` when the ERP's were refused and its plugin has a consent flow for these
    settings; else what the refusing plugin says (or: fix the credentials in the config), and
    then run the goods owner by hand."""
    by_hand = f"erpsync run --once --goods-owner {owner_id}"
    if run is None or run.refused_by != "wms":
        try:
            consent = erp.authorization_url(_PROBE_REDIRECT, "status") is not None
        except Exception:  # a broken hook must not hide the status itself
            log.exception("%s: asking %s for its consent URL failed", owner_id, erp.name)
            consent = False
        if consent:
            return f"erpsync authorize {owner_id}"
    if run is not None and run.action:
        return f"{run.action}; then run: {by_hand}"
    side = f" of the {run.refused_by.upper()}" if run is not None and run.refused_by else ""
    return f"fix the credentials{side} in the config, then run: {by_hand}"


class Notifier:
    """Sends "goods owner X needs re-authorisation" to the ``[notify]`` webhook and e-mail.

    :meth:`send` never raises: a notification that cannot be delivered is logged (without
    the webhook URL, which may carry a token) and the run goes on.
    """

    def __init__(self, settings: NotifySettings | None) -> None:
        self.settings = settings

    async def send(self, status: OwnerStatus) -> None:
        if self.settings is None:
            return
        if self.settings.webhook_url is not None:
            try:
                await asyncio.wait_for(self._webhook(self.settings.webhook_url, status),
                                       _NOTIFY_TIMEOUT)
            except Exception as error:
                log.warning("%s: the re-authorisation webhook to %s failed: %s",
                            status.goods_owner, urlsplit(self.settings.webhook_url).hostname,
                            _reason(error))
        if self.settings.email is not None:
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(_send_mail, self.settings.email, status),
                    _NOTIFY_TIMEOUT)
            except Exception as error:
                log.warning("%s: the re-authorisation e-mail via %s failed: %s",
                            status.goods_owner, self.settings.email.host, _reason(error))

    @staticmethod
    async def _webhook(url: str, status: OwnerStatus) -> None:
        parts = urlsplit(url)
        body = {"event": "needs_reauthorisation", "goods_owner": status.goods_owner,
                "message": status.message, "action": status.action,
                "since": status.since.isoformat(), "text": _text(status)}
        async with HttpClient(f"{parts.scheme}://{parts.netloc}", vendor="notify webhook",
                              max_attempts=3, max_wait=5.0, timeout=10.0) as client:
            response = await client.post(url, json=body)
        if not response.is_success:
            raise RuntimeError(f"HTTP {response.status_code}")
        log.info("%s: re-authorisation notice sent to the webhook", status.goods_owner)


def _text(status: OwnerStatus) -> str:
    return (f"erpsync: goods owner {status.goods_owner} needs re-authorisation.\n\n"
            f"{status.message}\n\nTo fix it, run:\n\n    {status.action}\n")


def _send_mail(settings: EmailSettings, status: OwnerStatus) -> None:
    """One message over SMTP (blocking: runs in a thread)."""
    message = EmailMessage()
    message["Subject"] = f"erpsync: goods owner {status.goods_owner} needs re-authorisation"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    message.set_content(_text(status))
    with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username.get_secret_value(), settings.password.get_secret_value())
        smtp.send_message(message)
    log.info("%s: re-authorisation notice e-mailed to %d recipient(s)", status.goods_owner,
             len(settings.to))


def _reason(error: BaseException) -> str:
    """Why a notification failed, without the server's words (an SMTP server may echo the
    user name) and without a URL."""
    if isinstance(error, ErpsyncError):
        return type(error).__name__
    if isinstance(error, smtplib.SMTPResponseException):
        return f"SMTP {error.smtp_code}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return type(error).__name__ + (f" ({error})" if isinstance(error, RuntimeError) else "")


class RunObserver(Protocol):
    """Told what the runner did, as it happens (the service's metrics)."""

    def run_finished(self, owner: GoodsOwner, run: RunRecord) -> None: ...
    def cycle_finished(self, owner: GoodsOwner, seconds: float) -> None: ...


@dataclass
class _Scheduled:
    """One goods owner's place in :meth:`Runner.serve`."""

    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the service stops or the goods owner left the config: its flows stop after
    the current record."""
    poke: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to make the waiting loop look at its next run again (a reload changed it)."""
    started: datetime | None = None
    """When its current or last cycle began."""
    busy: bool = False
    """A cycle is under way."""


class AnyOf:
    """Set when any of its events is (a :class:`~erpsync.flows.StopSignal`)."""

    def __init__(self, *events: asyncio.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)


class Runner:
    probe_interval: float = 5.0
    """Seconds between looks at an unreachable state store while the schedule is halted."""
    lock_ttl: float = 60.0
    """A goods owner's lock outlives its holder by this much (a killed process's included)."""

    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry,
                 observer: RunObserver | None = None) -> None:
        self.config = config
        self.state = state
        self.registry = registry
        self.observer = observer
        self.notifier = Notifier(config.notify)
        self.next_run: dict[str, datetime] = {}
        self.halted: StateError | None = None
        """While set, the state store was found unreachable: no cycle starts (:meth:`serve`)."""
        self.heartbeat = time.monotonic()
        """When :meth:`serve`'s scheduler last looked around (every second)."""
        self.serving = False
        self._scheduled: dict[str, _Scheduled] = {}
        self._limit = asyncio.Semaphore(config.concurrency)
        self._state_back = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._background: list[asyncio.Task[None]] = []
        """Tasks of :meth:`serve` that run until it stops (cancelled then)."""
        self._stop = asyncio.Event()

    def options(self, **overrides: object) -> FlowOptions:
        """The flows' options of this config (its overlap), with ``overrides``."""
        base = {"overlap": timedelta(seconds=self.config.overlap_seconds)}
        return FlowOptions(**{**base, **overrides})  # type: ignore[arg-type]

    async def run_owner(
        self,
        owner: GoodsOwner,
        *,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
        scheduled: bool = False,
    ) -> list[RunRecord]:
        """One cycle of one goods owner: its switched-on flows in order. A scheduled cycle
        skips a paused goods owner and one that needs re-authorisation."""
        options = options or self.options()
        with logs.context(goods_owner=owner.id):
            if scheduled:
                pause = self.state.get_pause(owner.id)
                if pause is not None:
                    log.info("%s skipped: paused", owner.id)
                    return []
                status = self.state.get_owner_status(owner.id)
                if status is not None:
                    log.warning("%s skipped: %s", owner.id, status.message)
                    return []
            selected = [f for f in owner.flows if flows is None or f in flows]
            began = time.monotonic()
            async with self.state.lock(f"owner:{owner.id}", ttl=self.lock_ttl):
                runs = await self._cycle(owner, selected, options)
        if self.observer is not None:
            for run in runs:
                self.observer.run_finished(owner, run)
            self.observer.cycle_finished(owner, time.monotonic() - began)
        return runs

    async def _cycle(self, owner: GoodsOwner, selected: list[Flow],
                     options: FlowOptions) -> list[RunRecord]:
        runs: list[RunRecord] = []
        status = self.state.get_owner_status(owner.id)
        ctx = RunContext(owner.id, self.state)
        try:
            erp = self.registry.erp(owner.erp_plugin, owner.erp_settings)
            wms = self.registry.wms(owner.wms_plugin, owner.wms_settings)
        except ErpsyncError as error:
            now = _now()
            for flow in selected:
                run = RunRecord(goods_owner=owner.id, flow=flow.value, started_at=now,
                                finished_at=now, outcome="failed", message=error.message)
                self.state.add_run(run)
                runs.append(run)
            return runs
        try:
            for flow in selected:
                run = await run_flow(flow, owner.id, self.state, erp, wms, ctx, options)
                runs.append(run)
                with logs.context(flow=flow.value, run_id=run.run_id or ""):
                    log.info("%s %s %s: read %d, written %d, unchanged %d, skipped %d, "
                             "dead letters %d, requests %d%s", owner.id, flow.value,
                             run.outcome, run.read, run.written, run.unchanged, run.skipped,
                             run.dead_lettered, run.requests,
                             f" ({run.message})" if run.message else "")
                if run.outcome == "needs_reauthorisation" and not options.dry_run:
                    entered = OwnerStatus(
                        goods_owner=owner.id, state="needs_reauthorisation",
                        message=run.message or "credentials refused", since=_now(),
                        action=reauthorisation_action(owner.id, erp, run),
                    )
                    self.state.set_owner_status(owner.id, entered)
                    if status is None:  # the transition only: one notice, not one a cycle
                        await self.notifier.send(entered)
                    break
                if run.outcome == "stopped":
                    break
            else:
                if status is not None and not options.dry_run:
                    self.state.set_owner_status(owner.id, None)
        finally:
            await ctx.aclose()
        return runs

    async def complete_authorization(self, owner: GoodsOwner, code: str,
                                     redirect_uri: str) -> bool:
        """Exchange the code the ERP's consent page redirected with (the ERP plugin stores the
        credential) and clear the goods owner's "needs re-authorisation" status; True if it
        had one. Never while a cycle of the goods owner runs."""
        erp = self.registry.erp(owner.erp_plugin, owner.erp_settings)
        async with self.state.lock(f"owner:{owner.id}"):
            ctx = RunContext(owner.id, self.state)
            try:
                await erp.complete_authorization(ctx.for_plugin(erp.name), code, redirect_uri)
            finally:
                await ctx.aclose()
            cleared = self.state.get_owner_status(owner.id) is not None
            self.state.set_owner_status(owner.id, None)
        return cleared

    async def run_once(
        self,
        owner_ids: Collection[str] | None = None,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
    ) -> dict[str, list[RunRecord]]:
        """One cycle of the chosen goods owners, concurrently; by default every enabled one
        that is not paused (a goods owner named in ``owner_ids`` runs even when paused: a
        person asked for it by name)."""
        if owner_ids:
            owners = [self.config.owner(i) for i in owner_ids]
        else:
            owners = [o for o in self.config.goods_owners
                      if o.enabled and self.state.get_pause(o.id) is None]
        limit = asyncio.Semaphore(self.config.concurrency)
        results: dict[str, list[RunRecord]] = {}

        async def one(owner: GoodsOwner) -> None:
            async with limit:
                results[owner.id] = await self.run_owner(owner, flows=flows, options=options)

        try:
            async with asyncio.TaskGroup() as group:
                for owner in owners:
                    group.create_task(one(owner))
        except* StateError as errors:
            raise _first(errors) from None
        return {o.id: results[o.id] for o in owners}

    # --- the schedule ------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        """Run every enabled goods owner on its interval until ``stop`` is set.

        :meth:`reload` changes the goods owners while it runs. A state store that fails halts
        the schedule instead of ending it: no cycle starts until the store answers again
        (looked at every :attr:`probe_interval` seconds), then the goods owners go on where
        their cursors are.
        """
        self._limit = asyncio.Semaphore(self.config.concurrency)
        self._stop = stop
        self.serving = True
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self._reconcile()
                self._serving_says()
                self._background.append(group.create_task(self._tick()))
                await stop.wait()
                for scheduled in self._scheduled.values():
                    scheduled.stop.set()
                    scheduled.poke.set()
                self._state_back.set()  # loops waiting for a failed store: to their end
                for task in self._background:
                    task.cancel()
        finally:
            self.serving = False
            self._group = None
            self._background = []
        log.info("stopped")

    def _serving_says(self) -> None:
        log.info("serving %d goods owners, %d at a time", len(self._scheduled),
                 self.config.concurrency)

    def reload(self, config: Config) -> list[str]:
        """Serve ``config`` from now on: goods owners added start, removed (or switched off)
        ones stop after their current record, changed ones run with their new settings from
        their next cycle and on their new interval. Returns what changed, one line each.

        Raises ValueError (nothing changed) for what only a restart can change: where the
        state is (state_dir, state_url).
        """
        if config.state_dir != self.config.state_dir:
            raise ValueError(f"state_dir changed from {self.config.state_dir} to "
                             f"{config.state_dir}: restart erpsync serve to move to it")
        if config.state_url != self.config.state_url:
            raise ValueError("state_url changed: restart erpsync serve to move to it")
        old = {o.id: o for o in self.config.goods_owners}
        new = {o.id: o for o in config.goods_owners}
        changes = [f"goods owner {i} added" for i in new if i not in old]
        changes += [f"goods owner {i} removed" for i in old if i not in new]
        changes += [f"goods owner {i} changed" for i in new if i in old and new[i] != old[i]]
        if config.concurrency != self.config.concurrency:
            changes.append(f"concurrency {self.config.concurrency} -> {config.concurrency}")
            self._limit = asyncio.Semaphore(config.concurrency)
        self.config = config
        self.notifier = Notifier(config.notify)
        if self._group is not None:
            self._reconcile()
        return changes

    def _reconcile(self) -> None:
        """One loop per enabled goods owner of the config, no loop for any other."""
        assert self._group is not None
        wanted = {o.id: o for o in self.config.goods_owners if o.enabled}
        for owner_id in [i for i in self._scheduled if i not in wanted]:
            leaving = self._scheduled.pop(owner_id)
            leaving.stop.set()
            leaving.poke.set()
            self.next_run.pop(owner_id, None)
        now = _now()
        for owner_id, owner in wanted.items():
            scheduled = self._scheduled.get(owner_id)
            if scheduled is None:
                scheduled = self._scheduled[owner_id] = _Scheduled()
                self.next_run[owner_id] = now
                scheduled.task = self._group.create_task(self._loop(owner_id, scheduled),
                                                         name=f"erpsync owner {owner_id}")
            elif scheduled.started is not None:
                self.next_run[owner_id] = scheduled.started + timedelta(
                    minutes=owner.interval_minutes)
                scheduled.poke.set()

    def schedule_problem(self) -> str | None:
        """Why the schedule itself cannot be relied on now, beyond the state store (None: the
        embedded schedule is this process; the Temporal one says when Temporal is out of
        reach)."""
        return None

    def scheduled(self) -> dict[str, bool]:
        """Each goods owner the schedule serves, and whether its loop is alive."""
        return {i: s.task is not None and not s.task.done() for i, s in self._scheduled.items()}

    def running(self, owner_id: str) -> bool:
        """Whether a cycle of the goods owner started by this schedule is under way."""
        scheduled = self._scheduled.get(owner_id)
        return scheduled is not None and scheduled.busy

    async def _loop(self, owner_id: str, scheduled: _Scheduled) -> None:
        # The service's stop reaches the flows directly, not one scheduler step later.
        options = self.options(stop=AnyOf(self._stop, scheduled.stop))
        while not scheduled.stop.is_set():
            delay = (self.next_run[owner_id] - _now()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(scheduled.poke.wait(), delay)
                scheduled.poke.clear()
                continue
            while self.halted is not None and not scheduled.stop.is_set():
                await self._state_back.wait()
            async with self._limit:
                if scheduled.stop.is_set():
                    return
                owner = next((o for o in self.config.goods_owners if o.id == owner_id), None)
                if owner is None:
                    return
                scheduled.started = _now()
                self.next_run[owner_id] = scheduled.started + timedelta(
                    minutes=owner.interval_minutes)
                scheduled.busy = True
                try:
                    await self.run_owner(owner, options=options, scheduled=True)
                except StateError as error:
                    self._halt(error)
                finally:
                    scheduled.busy = False

    def _halt(self, error: StateError) -> None:
        if self.halted is None:
            log.error("the state store failed: no cycle starts until it answers again: %s",
                      error.message)
            self._state_back.clear()
        self.halted = error

    async def _tick(self) -> None:
        """The scheduler's heartbeat, and a look at the state store every
        :attr:`probe_interval` seconds: a store that fails (a volume gone, a disk full) halts
        the schedule before a cycle finds it, and one that answers again resumes it."""
        last_probe = time.monotonic()
        while True:
            self.heartbeat = time.monotonic()
            if self.heartbeat - last_probe >= self.probe_interval:
                last_probe = self.heartbeat
                try:
                    await asyncio.to_thread(self.state.check)
                except StateError as error:
                    self._halt(error)
                else:
                    if self.halted is not None:
                        log.warning("the state store answers again: the schedule goes on")
                        self.halted = None
                        self._state_back.set()
            await asyncio.sleep(min(1.0, self.probe_interval))

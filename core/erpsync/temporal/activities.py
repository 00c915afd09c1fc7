"""The activities of :class:`~erpsync.temporal.workflow.Cycle`: where the work is done.

:meth:`Activities.flow` runs one flow of one goods owner through the embedded runner's own
:meth:`~erpsync.runner.Runner.run_owner`, so a flow on a Temporal worker keeps every rule it
keeps at home: the goods owner's lock in the state store (taken for as long as the heartbeat
timeout, so a worker presumed dead and its successor never call one goods owner's vendors at
once), the write-back ledger (a flow run again after a killed worker writes nothing twice),
the cursors, the run record, and the "needs re-authorisation" status with its one
notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from erpsync.config import Config, load_config
from erpsync.errors import AuthenticationLost, ConfigError
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry
from erpsync.runner import AnyOf, Runner
from erpsync.state import StateStore
from erpsync.temporal.schedules import Schedules
from erpsync.temporal.workflow import FLOW, HOLD, RELEASE, FlowStep, Hold

__all__ = ["Activities"]

log = logging.getLogger("erpsync.temporal")


class Activities:
    """The activities of one worker. Each flow runs with the config as its file is now: a
    changed file (the operator fixed a key, added a goods owner) is read again before the
    next flow, so no worker has to be restarted or signalled; a file that no longer loads is
    logged and the config loaded before is kept."""

    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry,
                 client: Client) -> None:
        assert config.temporal is not None
        self.registry = registry
        self._seen = _stamp(config.path)
        self.runner = Runner(config, state, registry)
        self.runner.lock_ttl = config.temporal.heartbeat_seconds
        self.schedules = Schedules(client, config)
        self.stopping = asyncio.Event()
        """Set when the worker stops: every flow stops after its current record."""

    def reload(self, config: Config) -> None:
        self.runner.reload(config)
        self.schedules.config = config

    def fresh_config(self, *, force: bool = False) -> Config:
        """The config as its file is now (read again if it changed, or if ``force``)."""
        path = self.runner.config.path
        stamp = _stamp(path)
        if force or stamp != self._seen:
            self._seen = stamp
            try:
                self.reload(load_config(path, self.registry))
            except (ConfigError, ValueError) as error:
                log.error("%s changed but is refused; still working with the config loaded "
                          "before: %s", path, error)
            else:
                log.info("%s changed: read again", path)
        return self.runner.config

    @activity.defn(name=FLOW)
    async def flow(self, step: FlowStep) -> dict[str, Any] | None:
        """One flow of one goods owner; its run record as JSON, or None when the goods owner
        is paused or needs re-authorisation (a scheduled cycle skips it)."""
        owner = self.fresh_config().owner(step.goods_owner)
        cancelled = asyncio.Event()
        options = self.runner.options(
            stop=AnyOf(self.stopping, cancelled), dry_run=step.dry_run,
            since=datetime.fromisoformat(step.since) if step.since else None)
        work = asyncio.ensure_future(self.runner.run_owner(
            owner, flows=[Flow(step.flow)], options=options, scheduled=not step.by_hand))
        every = activity.info().heartbeat_timeout
        beat = every.total_seconds() / 3 if every else 10.0
        try:
            # A flow that ends within one beat sends none (each is a round trip, and an
            # action on Temporal Cloud's bill); a longer one says it lives every beat.
            while not (await asyncio.wait({work}, timeout=beat))[0]:
                activity.heartbeat()
        except asyncio.CancelledError:
            # Cancelled (the worker stops, or Temporal gave up on this attempt): the flow
            # stops after its current record, as at home, and keeps its cursor safe.
            cancelled.set()
            with contextlib.suppress(Exception):
                await asyncio.shield(work)
            raise
        try:
            runs = work.result()
        except Exception as error:  # retried by Temporal unless a person must act
            log.error("%s %s: %s (attempt %d)", owner.id, step.flow,
                      getattr(error, "message", None) or f"{type(error).__name__}: {error}",
                      activity.info().attempt)
            raise
        if not runs:
            return None
        run = runs[0]
        record = run.model_dump(mode="json")
        if run.outcome == "needs_reauthorisation":
            # The core's error, by name, with the run record for the cycle's result: the
            # workflow's RetryPolicy lists it as not retryable (a person must act).
            raise ApplicationError(run.message or "credentials refused", record,
                                   type=AuthenticationLost.__name__)
        return record

    @activity.defn(name=HOLD)
    async def hold(self, hold: Hold) -> None:
        """Pause the goods owner's Schedule: its credentials need a person."""
        await self.schedules.pause(hold.goods_owner, hold.note)
        log.warning("%s: schedule paused: %s", hold.goods_owner, hold.note)

    @activity.defn(name=RELEASE)
    async def release(self, hold: Hold) -> None:
        """Unpause the Schedule if it was paused for re-authorisation (not by a person)."""
        if await self.schedules.release(hold.goods_owner):
            log.info("%s: re-authorised: schedule resumed", hold.goods_owner)


def _stamp(path: Path) -> tuple[int, int] | None:
    """When the config file last changed, and its size (None: it cannot be read)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size

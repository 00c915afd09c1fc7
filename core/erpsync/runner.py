"""The schedule: which flows of which goods owner run when.

:meth:`Runner.run_once` runs one cycle of every (or some) goods owners; :meth:`Runner.serve`
runs each goods owner's cycle on its interval until asked to stop. Both keep the same rules:

- one goods owner's failure never stops another: every flow's outcome is recorded and the next
  flow, and the next goods owner, go on;
- a goods owner whose credentials were refused stops at once with the status "needs
  re-authorisation" and is skipped by the schedule until someone runs it by hand
  (``erpsync run --once --goods-owner ID``) after fixing the credentials: no retry loop against
  a dead credential;
- at most ``concurrency`` goods owners run at once; the calls of one goods owner are made one
  flow at a time, and two cycles of one goods owner never overlap, even across processes
  (a lock in the state store);
- a stop request (SIGTERM, SIGINT) lets every running flow finish its current record, keeps
  the cursors where they are safe, and returns;
- only :class:`~erpsync.errors.StateError` ends everything: without durable state nothing may
  be synced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from erpsync.config import Config, GoodsOwner
from erpsync.errors import ErpsyncError, StateError
from erpsync.flows import FlowOptions, RunContext, run_flow
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry
from erpsync.state import OwnerStatus, RunRecord, StateStore

__all__ = ["Runner"]

log = logging.getLogger("erpsync.runner")


def _now() -> datetime:
    return datetime.now(UTC)


def _first(errors: BaseExceptionGroup[StateError]) -> StateError:
    """The first StateError of a task group's: raised as itself, so that callers (the CLI)
    can catch it by its kind and show its message rather than "unhandled errors in a
    TaskGroup"."""
    first = errors.exceptions[0]
    return first if isinstance(first, StateError) else _first(first)


class Runner:
    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry) -> None:
        self.config = config
        self.state = state
        self.registry = registry
        self.next_run: dict[str, datetime] = {}

    def _options(self, **overrides: object) -> FlowOptions:
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
        """One cycle of one goods owner: its switched-on flows in order."""
        options = options or self._options()
        status = self.state.get_owner_status(owner.id)
        if status is not None and scheduled:
            log.warning("%s skipped: %s", owner.id, status.message)
            return []
        selected = [f for f in owner.flows if flows is None or f in flows]
        runs: list[RunRecord] = []
        async with self.state.lock(f"owner:{owner.id}"):
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
                    log.info("%s %s %s: read %d, written %d, unchanged %d, skipped %d, "
                             "dead letters %d, requests %d%s", owner.id, flow.value, run.outcome,
                             run.read, run.written, run.unchanged, run.skipped,
                             run.dead_lettered, run.requests,
                             f" ({run.message})" if run.message else "")
                    if run.outcome == "needs_reauthorisation" and not options.dry_run:
                        self.state.set_owner_status(owner.id, OwnerStatus(
                            goods_owner=owner.id, state="needs_reauthorisation",
                            message=run.message or "credentials refused", since=_now(),
                            action=f"fix the credentials, then run: erpsync run --once "
                                   f"--goods-owner {owner.id}",
                        ))
                        break
                    if run.outcome == "stopped":
                        break
                else:
                    if status is not None and not options.dry_run:
                        self.state.set_owner_status(owner.id, None)
            finally:
                await ctx.aclose()
        return runs

    async def run_once(
        self,
        owner_ids: Collection[str] | None = None,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
    ) -> dict[str, list[RunRecord]]:
        """One cycle of the chosen goods owners (all enabled ones by default), concurrently."""
        owners = ([self.config.owner(i) for i in owner_ids] if owner_ids
                  else [o for o in self.config.goods_owners if o.enabled])
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

    async def serve(self, stop: asyncio.Event) -> None:
        """Run every enabled goods owner on its interval until ``stop`` is set."""
        limit = asyncio.Semaphore(self.config.concurrency)
        options = self._options(stop=stop)
        owners = [o for o in self.config.goods_owners if o.enabled]
        start = _now()
        for owner in owners:
            self.next_run.setdefault(owner.id, start)
        log.info("serving %d goods owners, %d at a time", len(owners), self.config.concurrency)

        async def loop(owner: GoodsOwner) -> None:
            while not stop.is_set():
                delay = (self.next_run[owner.id] - _now()).total_seconds()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        return
                    except TimeoutError:
                        pass
                async with limit:
                    if stop.is_set():
                        return
                    began = _now()
                    self.next_run[owner.id] = began + timedelta(minutes=owner.interval_minutes)
                    await self.run_owner(owner, options=options, scheduled=True)

        try:
            async with asyncio.TaskGroup() as group:
                for owner in owners:
                    group.create_task(loop(owner))
        except* StateError as errors:
            raise _first(errors) from None
        log.info("stopped")

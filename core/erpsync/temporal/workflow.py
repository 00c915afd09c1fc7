"""One cycle of one goods owner, as a Temporal workflow: thin and deterministic.

The workflow only orders the steps; every step that touches the world is an activity
(:mod:`erpsync.temporal.activities`), which calls the same flow function as the embedded
runner. Temporal's sandbox imports this module again for every workflow run, so it imports
nothing of erpsync's but plain data, and names its activities by string.

- each flow of the goods owner is one activity, in the order the config gives, one at a time
  (never two calls of one goods owner at once);
- activities heartbeat and are retried, on any worker, with :data:`RETRY`; the core's
  "authentication lost" and "record rejected" errors are never retried;
- credentials refused: the activity has recorded the goods owner's "needs re-authorisation"
  status; the workflow pauses the goods owner's Schedule with a note saying so, and stops;
- a cycle run by hand (``erpsync run --once -g OWNER``) that ends without a refusal unpauses a
  Schedule paused for re-authorisation (the person fixed the credentials).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

__all__ = ["FLOW", "HOLD", "NON_RETRYABLE", "RELEASE", "RETRY", "Cycle", "CycleInput",
           "FlowStep", "Hold"]

FLOW = "erpsync.flow"
HOLD = "erpsync.hold"
RELEASE = "erpsync.release"

NON_RETRYABLE = ["AuthenticationLost", "RecordRejected", "ConfigError", "PluginError"]
"""Errors no retry can mend: a person must act (re-authorise, fix the config or a plugin)."""

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=60),
                    non_retryable_error_types=NON_RETRYABLE)
"""A store or worker that fails is waited for (StateError and a lost worker are retried)."""


@dataclass(frozen=True)
class CycleInput:
    goods_owner: str
    flows: list[str]
    heartbeat_seconds: float = 30.0
    flow_timeout_minutes: float = 60.0
    by_hand: bool = False
    """Run by a person (``run --once``): runs even when paused, and may clear a hold."""
    dry_run: bool = False
    since: str | None = None
    """Backfill from this ISO time instead of the cursor."""


@dataclass(frozen=True)
class FlowStep:
    goods_owner: str
    flow: str
    by_hand: bool = False
    dry_run: bool = False
    since: str | None = None


@dataclass(frozen=True)
class Hold:
    goods_owner: str
    note: str = ""


@dataclass
class CycleResult:
    runs: list[dict[str, Any]] = field(default_factory=list)
    """The run records (JSON) of the flows that ran, in order."""
    skipped: str | None = None
    """Why nothing ran (paused, needs re-authorisation), if so."""
    held: str | None = None
    """The note the Schedule was paused with, if credentials were refused."""


def _refusal(error: ActivityError) -> ApplicationError | None:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "AuthenticationLost":
        return cause
    return None


@workflow.defn(name="erpsync.cycle")
class Cycle:
    @workflow.run
    async def run(self, cycle: CycleInput) -> CycleResult:
        result = CycleResult()
        timeout = timedelta(minutes=cycle.flow_timeout_minutes)
        for flow in cycle.flows:
            step = FlowStep(cycle.goods_owner, flow, cycle.by_hand, cycle.dry_run, cycle.since)
            try:
                run: dict[str, Any] | None = await workflow.execute_activity(
                    FLOW, step, result_type=dict, schedule_to_close_timeout=timeout,
                    heartbeat_timeout=timedelta(seconds=cycle.heartbeat_seconds),
                    retry_policy=RETRY)
            except ActivityError as error:
                refusal = _refusal(error)
                if refusal is None:
                    raise
                result.runs.extend(refusal.details[:1])  # the run record of the refusal
                result.held = f"needs re-authorisation: {refusal.message}"
                if not cycle.dry_run:
                    await workflow.execute_activity(
                        HOLD, Hold(cycle.goods_owner, result.held),
                        start_to_close_timeout=timedelta(minutes=1), retry_policy=RETRY)
                return result
            if run is None:  # the activity found the goods owner paused or held
                result.skipped = "skipped: paused, or needs re-authorisation"
                return result
            result.runs.append(run)
            if run["outcome"] == "stopped":
                return result
        if cycle.by_hand and not cycle.dry_run:
            await workflow.execute_activity(
                RELEASE, Hold(cycle.goods_owner), start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RETRY)
        return result

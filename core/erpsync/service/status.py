"""What the service shows: every goods owner's state, read from the state store and the
schedule. The status page and the metrics both read it here, one read per goods owner (the
state's run summary, its pause and its status), so a page over 1,000 goods owners stays quick.

Everything shown passes :func:`erpsync.secrets.redact` on its way to the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from erpsync.config import GoodsOwner
from erpsync.runner import Runner
from erpsync.state import FlowSummary, OwnerStatus, Pause

__all__ = ["OwnerView", "Snapshot", "snapshot"]

OwnerState = Literal["running", "active", "paused", "needs_reauthorisation", "disabled"]


@dataclass(frozen=True)
class OwnerView:
    owner: GoodsOwner
    state: OwnerState
    flows: dict[str, FlowSummary]
    """The flows that ever ran, by name."""
    next_run: datetime | None
    pause: Pause | None = None
    status: OwnerStatus | None = None
    dead_letters: int = 0

    @property
    def flow_names(self) -> set[str]:
        """The flows switched on for the goods owner."""
        return {f.value for f in self.owner.flows}

    @property
    def problem(self) -> bool:
        """Something a person should look at: credentials, dead letters, a failed flow."""
        return (self.status is not None or self.dead_letters > 0
                or any(s.last.outcome not in ("ok", "stopped") for s in self.flows.values()))


@dataclass(frozen=True)
class Snapshot:
    owners: list[OwnerView]
    counts: dict[str, int] = field(default_factory=dict)
    """Goods owners by state."""


def snapshot(runner: Runner) -> Snapshot:
    """Every configured goods owner as the state store and the schedule know it now."""
    state = runner.state
    letters = state.dead_letter_counts()
    per_owner: dict[str, int] = {}
    for (owner_id, _), count in letters.items():
        per_owner[owner_id] = per_owner.get(owner_id, 0) + count
    views = []
    for owner in runner.config.goods_owners:
        pause = state.get_pause(owner.id)
        status = state.get_owner_status(owner.id)
        kind: OwnerState
        if not owner.enabled:
            kind = "disabled"
        elif status is not None:
            kind = "needs_reauthorisation"
        elif pause is not None:
            kind = "paused"
        elif runner.running(owner.id):
            kind = "running"
        else:
            kind = "active"
        views.append(OwnerView(
            owner=owner, state=kind,
            flows=state.summary(owner.id, [f.value for f in owner.flows]),
            next_run=runner.next_run.get(owner.id) if kind in ("active", "running") else None,
            pause=pause, status=status, dead_letters=per_owner.get(owner.id, 0)))
    counts = {kind: 0 for kind in ("running", "active", "paused", "needs_reauthorisation",
                                   "disabled")}
    for view in views:
        counts[view.state] += 1
    return Snapshot(views, counts)

"""What a plugin's vendor simulator hands the core, beside its ASGI app and settings.

Simulators are plugin code (``sandbox.py`` of each plugin, returned by the ``sandbox`` hook);
the few shapes they share with the core live here, in a module that imports nothing else of
erpsync, so that a simulator never pulls in the runner or the flows.

``erpsync demo`` also uses two optional parts of an ERP simulator when it has them:
``redirect_uri`` (the redirect URI registered for its OAuth client: the demo gives consent
there when the plugin's settings need consent) and ``advance(delta)`` (moves its business
clock on: the demo lets an hour pass while the warehouse works, so tokens expire).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = ["BusinessClock", "DemoCompany"]


@dataclass
class DemoCompany:
    """What an ERP simulator's ``populate_demo()`` created, for the demo to play with."""

    articles: list[str]
    orders: dict[str, dict[str, Decimal]]
    """Order key -> the ERP's line key -> ordered quantity."""
    purchase_orders: dict[str, dict[str, Decimal]]
    """Purchase order key -> the ERP's row key -> advised quantity."""


class BusinessClock:
    """A simulator's business clock: the vendor's "now" (change times, token expiry), which a
    test or the demo may stop and move on. ``advance`` is what ``erpsync demo`` calls."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        """The business clock's time: the stopped time, else the running clock's."""
        moment = self._frozen or self._clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return moment

    def set_time(self, at: datetime | None) -> None:
        """Stop the business clock at ``at`` (None: run with the clock again)."""
        if at is not None and at.tzinfo is None:
            raise ValueError("give a timezone-aware time")
        self._frozen = at

    def advance(self, delta: timedelta) -> None:
        """Move a stopped (or running: it stops) business clock on by ``delta``."""
        self._frozen = self.now() + delta

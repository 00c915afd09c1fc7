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

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DemoCompany"]


@dataclass
class DemoCompany:
    """What an ERP simulator's ``populate_demo()`` created, for the demo to play with."""

    articles: list[str]
    orders: dict[str, dict[str, Decimal]]
    """Order key -> the ERP's line key -> ordered quantity."""
    purchase_orders: dict[str, dict[str, Decimal]]
    """Purchase order key -> the ERP's row key -> advised quantity."""

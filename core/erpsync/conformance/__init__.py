"""The plugin conformance suite: ``from erpsync.conformance import ErpConformance``.

See :mod:`erpsync.conformance.suite`. The suite is imported lazily so that pytest, through
the ``pytest11`` entry point, can register it for assertion rewriting before it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erpsync.conformance.suite import ErpConformance, ErpSandbox

__all__ = ["ErpConformance", "ErpSandbox"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from erpsync.conformance import suite

        return getattr(suite, name)
    raise AttributeError(name)

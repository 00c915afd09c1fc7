"""The plugin conformance suites: ``from erpsync.conformance import ErpConformance``
(or ``WmsConformance``).

See :mod:`erpsync.conformance.suite` and :mod:`erpsync.conformance.wms`. They are imported
lazily so that pytest, through the ``pytest11`` entry point, can register them for assertion
rewriting before they are imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erpsync.conformance.suite import ErpConformance, ErpSandbox
    from erpsync.conformance.wms import WmsConformance, WmsSandbox

__all__ = ["ErpConformance", "ErpSandbox", "WmsConformance", "WmsSandbox"]


def __getattr__(name: str) -> Any:
    if name in ("ErpConformance", "ErpSandbox"):
        from erpsync.conformance import suite

        return getattr(suite, name)
    if name in ("WmsConformance", "WmsSandbox"):
        from erpsync.conformance import wms

        return getattr(wms, name)
    raise AttributeError(name)

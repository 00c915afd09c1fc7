"""The pytest plugin (``pytest11`` entry point) that carries the conformance suite.

Installed with erpsync, so any plugin package's tests can subclass
:class:`erpsync.conformance.ErpConformance`; it makes pytest rewrite the suite's asserts, so a
failing check shows the values it compared beside the message that says what to fix.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("erpsync.conformance.suite", "erpsync.conformance.wms")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "erpsync_conformance: a test of the erpsync plugin conformance suite"
    )

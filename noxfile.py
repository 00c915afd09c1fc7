"""The project's sessions: ``nox -s lint typecheck tests`` is what CI runs (see .ci/run)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["lint", "typecheck", "tests"]

PLUGINS: list[str] = ["plugins/fortnox", "plugins/netvisor", "plugins/ongoing_wms",
                      "plugins/poweroffice"]
"""The plugin distributions under plugins/, installed beside the core like any third party's."""


def _install(session: nox.Session, *extra: str) -> None:
    session.install("-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", p)), *extra)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, offline, in two worker processes (most tests wait on simulated
    vendors: pacing windows, timeouts, killed processes, so two workers halve the wall time
    on a 2-core machine). `nox -s tests -- ARGS` passes ARGS to pytest."""
    _install(session)
    session.run("pytest", "-n", "2", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """A whole integration against the simulators: `erpsync demo` (arguments pass through)."""
    session.install("-e", ".[sandbox]", *(arg for p in PLUGINS for arg in ("-e", f"{p}[sandbox]")))
    # Netvisor by default, as the README describes; `nox -s demo -- --erp fortnox` for another.
    session.run("erpsync", "demo", *(session.posargs or ["--erp", "netvisor"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on every Python file."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core, the plugins and the test plugins."""
    _install(session, "mypy")
    session.run("mypy")
    session.run("mypy", "tests/fakes/erpsync_fake_erp", "tests/fakes/erpsync_fake_wms")


@nox.session
def bench(session: nox.Session) -> None:
    """The fault-injection suite's counts and the benchmarks against the simulators over
    loopback HTTP, written to docs/benchmarks.md (`nox -s bench -- --quick` for small sizes).
    Not part of CI: it measures, it asserts nothing."""
    measured = ["plugins/netvisor", "plugins/ongoing_wms",  # the plugins benchmarks/ drives
                "plugins/poweroffice", "plugins/fortnox"]
    _install(session)  # the fault suite's counts go into the same report
    session.install("-e", ".[sandbox]", *(arg for p in measured for arg in ("-e", f"{p}[sandbox]")))
    counts = Path(session.create_tmp()) / "faults.json"
    session.run("pytest", "tests/faults", "-q", "-n", "2", "-p", "no:cacheprovider",
                env={"ERPSYNC_FAULT_SUMMARY": str(counts)})
    session.run("python", "-m", "benchmarks.run", "--faults", str(counts), *session.posargs)

"""The project's sessions: ``nox -s lint typecheck tests wheels`` is what CI runs (see .ci/run)."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["lint", "typecheck", "tests", "wheels"]

PLUGINS: list[str] = ["plugins/fortnox", "plugins/netvisor", "plugins/ongoing_wms",
                      "plugins/poweroffice"]
"""The plugin distributions under plugins/, installed beside the core like any third party's."""


def _install(session: nox.Session, *extra: str) -> None:
    session.install("-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", p)), *extra)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, offline, in four worker processes: most tests wait on simulated
    vendors (pacing windows, timeouts, killed processes, served processes starting), so even
    on a 2-core machine four workers beat two (3.7 against 5.1 minutes here).
    `nox -s tests -- ARGS` passes ARGS to pytest."""
    _install(session)
    session.run("pytest", "-n", "4", *session.posargs)


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


DISTRIBUTIONS: dict[str, str] = {
    ".": "core/erpsync", **{p: f"{p}/erpsync_{Path(p).name}" for p in PLUGINS}}
"""Each distribution's folder (where its pyproject.toml is) and the one package it ships."""

WHEEL_DEMOS: list[list[str]] = [
    ["--erp", "netvisor"],  # the README's demo, at its full size
    # A smaller company for the other two: the Fortnox simulator paces requests as Fortnox
    # does (about three minutes for the default 200 articles, 20 s for 20).
    ["--erp", "poweroffice", "--size", "20"],
    ["--erp", "fortnox", "--size", "20"],
]
"""The demos `nox -s wheels` runs from the installed wheels (with Ongoing WMS, the only WMS)."""

_NOT_IN_A_CLONE = {".git", ".nox", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                   "build", "dist", "state", "test-artifacts"}

_FROM_SITE_PACKAGES = """
import importlib, sys, sysconfig
from pathlib import Path
site = Path(sysconfig.get_path("purelib")).resolve()
for name in sys.argv[1:]:
    where = Path(importlib.import_module(name).__file__).resolve()
    if site not in where.parents:
        sys.exit(f"{name} is imported from {where}, not from its wheel in {site}")
    print(f"{name}: {where}")
"""
"""Run in the session's environment: each package named is imported from site-packages."""


def _clean_copy(target: Path) -> None:
    """Copy the repository as a fresh clone has it. Without the leftovers of editable installs
    in particular: setuptools merges an existing ``*.egg-info/SOURCES.txt`` into the sdist it
    builds, so a stale one puts files in the sdist that a clean clone's lacks (an old
    core/erpsync.egg-info lists tests/*.py) and can hide a file that no longer ships."""
    root = Path(__file__).resolve().parent

    def ignore(folder: str, names: list[str]) -> set[str]:
        at_top = Path(folder) == root
        return {n for n in names if n == "__pycache__" or n.endswith((".egg-info", ".pyc"))
                or (at_top and n in _NOT_IN_A_CLONE)}

    shutil.copytree(root, target, ignore=ignore, symlinks=True)


def _check_wheel(session: nox.Session, wheel: Path, package: Path) -> None:
    """The wheel holds every file of ``package``'s source folder (modules, py.typed,
    templates) and nothing beside the package. It was built from the sdist, so the sdist
    holds them too."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = {f.relative_to(package.parent).as_posix() for f in package.rglob("*")
                if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"}
    if missing := sorted(expected - shipped):
        session.error(f"{wheel.name} lacks {', '.join(missing)}: add them to the "
                      "distribution's [tool.setuptools.package-data]")
    tops = {name.split("/")[0] for name in shipped}
    if stray := sorted(t for t in tops if t != package.name and not t.endswith(".dist-info")):
        session.error(f"{wheel.name} ships {', '.join(stray)} beside {package.name}")


@nox.session
def wheels(session: nox.Session) -> None:
    """Every distribution as its users get it: builds the sdist of the core and of each plugin,
    then the wheel from that sdist; installs the five wheels (no editable folder) into this
    fresh environment; and, from a folder outside the repository, checks that the packages
    come from site-packages, lists the plugins, runs each plugin's conformance suite (its
    tests/plugins/<name>/test_conformance.py) and the demos."""
    # setuptools as the pyprojects' build-system requires: `build --no-isolation` checks it
    # and saves a fresh build environment per sdist and wheel (ten of them).
    session.install("build", "setuptools>=77", "pytest>=8", "pytest-xdist>=3.5")
    root = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="erpsync-wheels-") as scratch:
        tmp = Path(scratch)
        _clean_copy(tmp / "src")
        built: list[Path] = []
        for folder, package in DISTRIBUTIONS.items():
            out = tmp / "dist" / Path(package).name
            # An sdist, then the wheel built from it (build's default): a file the sdist
            # lacks fails the wheel's build or the wheel's check.
            session.run("python", "-m", "build", "--no-isolation", "--outdir", str(out),
                        str(tmp / "src" / folder), silent=True)  # its output on failure
            [wheel] = out.glob("*.whl")
            [sdist] = out.glob("*.tar.gz")
            _check_wheel(session, wheel, root / package)
            session.log(f"built {sdist.name} and from it {wheel.name}")
            built.append(wheel)
        # Our five from these files only; their third-party dependencies from the index.
        session.install(*(f"{wheel}[sandbox]" for wheel in built))

        run = tmp / "run"
        run.mkdir()
        plugins = [Path(p).name for p in PLUGINS]
        for name in plugins:
            # The test modules as they are, under names of their own in one folder.
            shutil.copy(root / "tests" / "plugins" / name / "test_conformance.py",
                        run / f"test_{name}_conformance.py")
        (run / "pytest.ini").write_text(
            "[pytest]\naddopts = -ra --strict-markers\n"
            "filterwarnings = error::pytest.PytestUnraisableExceptionWarning\n",
            encoding="utf-8")
        with session.chdir(run):
            session.run("python", "-c", _FROM_SITE_PACKAGES,
                        *(Path(package).name for package in DISTRIBUTIONS.values()))
            listing = session.run("erpsync", "plugins", env={"COLUMNS": "200"}, silent=True)
            session.log(str(listing))
            if unlisted := [n for n in plugins
                            if not re.search(rf"^│ {n} ", str(listing), re.MULTILINE)]:
                session.error(f"`erpsync plugins` does not list {', '.join(unlisted)}")
            # Four workers on two cores: the suites wait on the simulators' pacing, not the CPU.
            session.run("pytest", "-n", "4", "-p", "no:cacheprovider", "-c", "pytest.ini",
                        "--rootdir", str(run), *sorted(p.name for p in run.glob("test_*.py")))
            for args in WHEEL_DEMOS:
                shown = str(session.run("erpsync", "demo", *args, "--folder",
                                        str(tmp / f"demo-{args[1]}"),
                                        env={"COLUMNS": "120"}, silent=True))
                outcomes = re.findall(r"^│ (\w+)\s+│ (\w+)\s+│", shown, re.MULTILINE)
                if not outcomes or any(outcome != "ok" for _, outcome in outcomes):
                    session.error(f"erpsync demo {' '.join(args)}:\n{shown}")
                written = re.search(r"The last cycle wrote \d+ record\(s\)", shown)
                session.log(f"erpsync demo {' '.join(args)}: {len(outcomes)} flow runs, all "
                            f"ok; {written[0] if written else shown}")

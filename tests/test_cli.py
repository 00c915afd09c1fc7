"""The command line, through typer's test runner, against the fakes mounted in-process.

Every invocation goes through :meth:`Cli.invoke`, which also checks that no secret of the
configuration (the environment values) appears in what the command printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from erpsync import cli as cli_module
from erpsync import service as service_module
from erpsync.cli import app
from erpsync.errors import StateError
from erpsync.hookspecs import HOOKSPEC_VERSION
from erpsync.models import Flow
from erpsync.runner import Runner
from erpsync.secrets import RedactingFilter
from erpsync.state import DiskState

from .helpers import Harness, Site, seed

WIDE = 400
"""Columns for commands whose tables are read back (rich wraps cells to fit)."""
PIPE = 80
"""What rich assumes when the output is not a terminal: the width of a pipe or a log file."""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened


@dataclass
class Cli:
    harness: Harness

    def invoke(self, *args: str, columns: int = WIDE, config: bool = True) -> Result:
        """``erpsync --config <the harness's config> ARGS``; no secret may be printed."""
        argv = ["--config", str(self.harness.config_path), *args] if config else list(args)
        result = CliRunner().invoke(app, argv, env={"COLUMNS": str(columns)})
        for secret in self.harness.secrets:
            assert secret not in result.output, f"a secret was printed by {args}"
            assert secret not in result.stderr, f"a secret was printed by {args}"
        assert "Traceback" not in result.output
        return result


@pytest.fixture
def cli(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.setenv("ERPSYNC_PLUGINS", "fake_erp,fake_wms")
    for name in ("ERPSYNC_CONFIG", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE",
                 "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    root, package = logging.getLogger(), logging.getLogger("erpsync")
    before, levels = root.handlers[:], (root.level, package.level)
    yield Cli(harness)
    # The CLI sets up logging for the whole process (its own stderr handler on the root
    # logger): put back what was there so that later tests log as before.
    for handler in root.handlers[:]:
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            root.removeHandler(handler)
    for handler in before:
        if handler not in root.handlers and type(handler).__name__ != "LogCaptureHandler":
            root.addHandler(handler)
    root.setLevel(levels[0])
    package.setLevel(levels[1])


@pytest.fixture
def acme(harness: Harness) -> Site:
    site = harness.add("acme")
    seed(site)
    harness.write_config()
    return site


def cells(row: str) -> list[str]:
    """The cells of one table row as rich draws it."""
    return [cell.strip() for cell in row.split("│")[1:-1]]


def lines_with(text: str, *parts: str) -> list[str]:
    """The lines of ``text`` that contain every one of ``parts``."""
    return [line for line in text.splitlines() if all(p in line for p in parts)]


# --- plugins, check --------------------------------------------------------------------------


def test_plugins_lists_the_fakes_with_their_flows(cli: Cli) -> None:
    result = cli.invoke("plugins", config=False)
    assert result.exit_code == 0, result.output
    flows = ", ".join(f.value for f in Flow)
    (erp_line,) = lines_with(result.stdout, "fake_erp")
    (wms_line,) = lines_with(result.stdout, "fake_wms")
    assert " erp " in erp_line
    assert " wms " in wms_line
    assert flows in erp_line
    assert flows in wms_line
    assert f"{HOOKSPEC_VERSION} (not declared)" in erp_line  # the fakes do not say
    assert f"provides hook specifications {HOOKSPEC_VERSION}" in result.stdout


def test_check_accepts_a_good_config_and_prints_no_secret(cli: Cli, acme: Site) -> None:
    result = cli.invoke("check")
    assert result.exit_code == 0, result.output
    assert lines_with(result.stdout, "acme", "fake_erp", "fake_wms", "15 min")
    assert "1 goods owner(s), valid" in result.stdout
    assert result.stderr == ""


def test_check_reads_the_config_named_by_the_environment(
    cli: Cli, acme: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERPSYNC_CONFIG", str(cli.harness.config_path))
    result = cli.invoke("check", config=False)
    assert result.exit_code == 0, result.output
    assert "1 goods owner(s), valid" in result.stdout


def test_check_lists_every_problem_on_its_own_line_with_the_fix(cli: Cli) -> None:
    cli.harness.config_path.write_text("""
concurrency = 0

[[goods_owners]]
id = "acme"
[goods_owners.erp]
plugin = "fake_erp"
[goods_owners.erp.settings]
base_url = "https://acme-erp.test"
api_key = "inline-secret-value-9431"
pag_size = 3
[goods_owners.wms]
plugin = "nonexistent_wms"

[[goods_owners]]
id = "beta"
flows = ["teleport"]
[goods_owners.erp]
plugin = "fake_erp"
[goods_owners.wms]
plugin = "fake_wms"
""", encoding="utf-8")
    cli.harness.secrets.add("inline-secret-value-9431")  # refused, and never echoed
    result = cli.invoke("check", columns=PIPE)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    where = str(cli.harness.config_path)
    expected = [
        (f"{where}: concurrency", "greater than or equal to 1"),
        (f"{where}: goods owner 'acme': erp.settings.api_key", "not inline"),
        (f"{where}: goods owner 'acme': erp.settings.pag_size", "remove this field"),
        (f"{where}: goods owner 'acme': wms.plugin", "nonexistent_wms"),
        (f"{where}: goods owner 'beta': goods_owners[1].flows.0", "Input should be 'articles'"),
    ]
    for location, detail in expected:
        (line,) = lines_with(result.stderr, location)
        assert detail in line, line
        assert "(fix: " in line, line
        assert line.endswith(")"), line
    assert "5 problem(s) in the configuration" in result.stderr  # each one once
    assert "teleport" not in result.output  # values are never echoed
    assert result.stdout == ""


def test_check_connect_names_the_goods_owner_whose_key_is_refused(cli: Cli) -> None:
    seed(cli.harness.add("acme"))
    beta = cli.harness.add("beta")
    cli.harness.set_env(beta.key_env, "beta-wrong-key-1234abc")
    cli.harness.write_config()
    result = cli.invoke("check", "--connect", columns=PIPE)
    assert result.exit_code == 1
    assert lines_with(result.stdout, "✓ acme: fake_erp connected")
    assert lines_with(result.stdout, "✓ beta: fake_wms connected")
    (line,) = lines_with(result.stderr, "beta")
    assert "✗ beta: fake_erp: fake-erp refused the API key" in line
    assert line.endswith("(issue a new API key and set it in the config)")
    assert "1 connection(s) failed" in result.stderr


# --- run -------------------------------------------------------------------------------------


def test_run_once_syncs_and_prints_a_row_per_flow(cli: Cli, acme: Site) -> None:
    result = cli.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    rows = {cells(row)[1]: cells(row) for row in lines_with(result.stdout, "│ acme ")}
    assert list(rows) == [flow.value for flow in Flow]
    assert {row[2] for row in rows.values()} == {"ok"}
    assert rows["articles"][3:5] == ["3", "3"]  # read, written
    assert acme.warehouse.article("A1") is not None
    assert acme.warehouse.order("O1") is not None


def test_run_once_limits_to_the_goods_owner_and_flow_given(cli: Cli, acme: Site) -> None:
    beta = cli.harness.add("beta")
    seed(beta)
    cli.harness.write_config()
    result = cli.invoke("run", "--once", "--goods-owner", "beta", "--flow", "orders")
    assert result.exit_code == 0, result.output
    assert lines_with(result.stdout, "beta", " orders ", " ok ")
    assert not lines_with(result.stdout, "acme")
    assert not lines_with(result.stdout, " articles ")
    assert acme.erp.request_count == 0
    assert beta.warehouse.order("O1") is not None
    assert beta.warehouse.article("A1") is None


def test_run_once_dry_run_shows_what_would_move_and_writes_nothing(cli: Cli, acme: Site) -> None:
    result = cli.invoke("run", "--once", "--dry-run")
    assert result.exit_code == 0, result.output
    rows = {cells(row)[1]: cells(row) for row in lines_with(result.stdout, "│ acme ")}
    assert rows["articles"][2:5] == ["ok", "3", "3"]  # outcome, read, would write
    assert acme.warehouse.writes == 0
    assert acme.erp.stock_level("A1") is None
    status = cli.invoke("status")
    assert len(lines_with(status.stdout, "│ acme ", "never run")) == len(Flow)


def test_run_once_since_reads_again_from_that_date(cli: Cli) -> None:
    site = cli.harness.add("acme", flows=[Flow.ARTICLES])
    site.erp.add_product("A1", "One")
    site.erp.tick(7200)
    site.erp.add_product("A2", "Two")
    cli.harness.write_config()
    assert cli.invoke("run", "--once").exit_code == 0

    def read() -> str:
        (row,) = lines_with(result.stdout, "│ acme ", " articles ")
        return cells(row)[3]

    result = cli.invoke("run", "--once")
    assert read() == "1"  # the overlap window only
    result = cli.invoke("run", "--once", "--since", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert read() == "2"


def test_serve_runs_until_sigterm_and_stops_cleanly(
    cli: Cli, acme: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    class SignalledRunner(Runner):
        """Sends this process SIGTERM once the first cycle is done, while serve runs."""

        async def serve(self, stop: asyncio.Event) -> None:
            async def terminate() -> None:
                while not self.state.runs("acme", "adjustments"):
                    await asyncio.sleep(0.01)
                os.kill(os.getpid(), signal.SIGTERM)

            sender = asyncio.create_task(terminate())
            try:
                await super().serve(stop)
            finally:
                sender.cancel()

    monkeypatch.setattr(service_module, "Runner", SignalledRunner)
    started = time.monotonic()
    result = cli.invoke("serve")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5
    assert "serving 1 goods owners" in result.stderr
    assert lines_with(result.stderr, "erpsync.runner: stopped")
    assert acme.warehouse.order("O1") is not None
    assert len(cli.harness.state.runs("acme", "articles")) == 1


def test_run_without_once_is_a_usage_error_with_a_hint(cli: Cli, acme: Site) -> None:
    result = cli.invoke("run")
    assert result.exit_code == 2
    assert "--once" in result.stderr
    assert "erpsync serve" in result.stderr
    assert acme.erp.request_count == 0


def test_run_with_an_unknown_flow_is_a_usage_error(cli: Cli, acme: Site) -> None:
    result = cli.invoke("run", "--once", "--flow", "nonsense", columns=PIPE)
    assert result.exit_code == 2
    (line,) = lines_with(result.stderr, "nonsense")
    assert "articles, suppliers, orders" in line
    assert acme.erp.request_count == 0


def test_run_once_exits_1_when_a_goods_owner_failed(cli: Cli) -> None:
    site = cli.harness.add("acme")
    seed(site)
    cli.harness.set_env(site.key_env, "acme-wrong-key-77d0e1")
    cli.harness.write_config()
    result = cli.invoke("--debug", "run", "--once")  # debug logs leak no secret either
    assert result.exit_code == 1
    assert lines_with(result.stdout, "acme", " articles ", "needs_reauthorisation")


# --- status and retry ------------------------------------------------------------------------


VENDOR_MESSAGE = "article name [too long] for the label [/b]"


def test_status_shows_runs_dead_letters_and_who_must_reauthorise(cli: Cli, acme: Site) -> None:
    beta = cli.harness.add("beta")
    cli.harness.set_env(beta.key_env, "beta-wrong-key-5a5a5a")
    cli.harness.write_config()
    acme.warehouse.reject_next(1, VENDOR_MESSAGE)
    assert cli.invoke("run", "--once").exit_code == 1  # beta's refused key

    result = cli.invoke("status")
    assert result.exit_code == 0, result.output
    outcomes = {flow: "ok" for flow in Flow} | {Flow.ARTICLES: "partial"}
    runs = [cells(row) for row in lines_with(result.stdout, "│ acme ")]
    rows = {row[1]: row for row in runs if len(row) == 9}  # the runs table, not dead letters
    assert {flow: rows[flow.value][3] for flow in Flow} == outcomes
    assert lines_with(result.stdout, "beta", " articles ", "needs_reauthorisation")
    for flow in Flow:
        if flow is not Flow.ARTICLES:
            assert lines_with(result.stdout, "beta", f" {flow.value} ", "never run")
    (letter,) = lines_with(result.stdout, "acme", " articles ", " A1 ")
    assert VENDOR_MESSAGE in letter  # the vendor's words, verbatim
    (reauth,) = lines_with(result.stderr, "beta needs re-authorisation")
    assert "erpsync run --once --goods-owner beta" in reauth

    result = cli.invoke("status", "--goods-owner", "acme")
    assert result.exit_code == 0
    assert not lines_with(result.output, "beta")


def test_retry_sends_dead_letters_again(cli: Cli, acme: Site) -> None:
    acme.warehouse.reject_next(2, VENDOR_MESSAGE)  # A1 and A2
    assert cli.invoke("run", "--once").exit_code == 0  # partial is not a failure

    acme.warehouse.reject_next(1, "still refused")
    result = cli.invoke("retry", "--key", "A2")
    assert result.exit_code == 1
    assert "0 dead letter(s) sent and cleared, 1 still refused" in result.stdout
    assert lines_with(result.stdout, "✗ acme articles A2")
    assert acme.warehouse.article("A2") is None

    result = cli.invoke("retry")
    assert result.exit_code == 0, result.output
    assert "2 dead letter(s) sent and cleared, 0 still refused" in result.stdout
    assert acme.warehouse.article("A1") is not None
    assert acme.warehouse.article("A2") is not None
    assert "erpsync retry sends them again" not in cli.invoke("status").stdout


# --- help and errors -------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "says"), [
    ("plugins", "List the installed plugins"),
    ("check", "Validate the config"),
    ("run", "Run one cycle"),
    ("serve", "on its interval"),
    ("status", "dead letters"),
    ("retry", "Send dead letters again"),
    ("authorize", "consent in a browser"),
    ("version", "version"),
])
def test_every_command_says_what_it_does(cli: Cli, command: str, says: str) -> None:
    result = cli.invoke(command, "--help", config=False)
    assert result.exit_code == 0
    assert says in result.stdout


def test_help_lists_the_commands(cli: Cli) -> None:
    result = cli.invoke("--help", config=False)
    assert result.exit_code == 0
    for command in ("plugins", "check", "run", "serve", "status", "retry", "authorize"):
        assert lines_with(result.stdout, f" {command} ")


def test_an_unexpected_error_is_one_line_unless_debug(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the plugin registry fell over while loading a very long list")

    monkeypatch.setattr(cli_module, "discover", broken)
    result = cli.invoke("plugins", columns=PIPE, config=False)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: unexpected RuntimeError: the plugin registry fell over")
    assert line.endswith("(run with --debug for the traceback)")

    result = cli.invoke("--debug", "plugins", config=False)
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


def test_a_state_error_during_a_run_is_one_line_naming_it(
    cli: Cli, acme: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: DiskState, run: object) -> None:
        raise StateError(f"state directory {self.directory}: cannot write runs: disk is full")

    monkeypatch.setattr(DiskState, "add_run", disk_full)
    result = cli.invoke("run", "--once", columns=PIPE)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: state directory ")
    assert line.endswith(": cannot write runs: disk is full")


def test_a_config_error_is_reported_without_a_traceback(cli: Cli, acme: Site) -> None:
    result = cli.invoke("status", "--goods-owner", "nobody", columns=PIPE)
    assert result.exit_code == 1
    (problem,) = lines_with(result.stderr, "no goods owner 'nobody'")
    assert "(fix: use one of the configured ids)" in problem
    missing = cli.invoke("--config", "/nonexistent/erpsync.toml", "check", config=False)
    assert missing.exit_code == 1
    assert lines_with(missing.stderr, "the config file does not exist", "fix:")


# --- operating a service: pause, resume, reload ------------------------------------------------


def test_pause_and_resume_say_what_they_did_and_status_shows_the_pause(
    cli: Cli, acme: Site
) -> None:
    paused = cli.invoke("pause", "acme", "--reason", "ERP migration")
    assert paused.exit_code == 0, paused.output
    assert "acme paused" in paused.stdout and "erpsync resume acme" in paused.stdout
    assert "already paused" in cli.invoke("pause", "acme").stdout
    status = cli.invoke("status")
    assert lines_with(status.stderr, "acme is paused", "ERP migration", "erpsync resume acme")
    assert lines_with(status.stdout, "│ acme ", " articles ", " paused ")  # no next run
    run = cli.invoke("run", "--once")
    assert run.exit_code == 0 and not lines_with(run.stdout, "│ acme ")  # skipped
    resumed = cli.invoke("resume", "acme")
    assert resumed.exit_code == 0 and "acme resumed" in resumed.stdout
    assert "was not paused" in cli.invoke("resume", "acme").stdout
    assert not lines_with(cli.invoke("status").stderr, "paused")
    unknown = cli.invoke("pause", "nobody")
    assert unknown.exit_code == 1 and "no goods owner 'nobody'" in unknown.stderr


def test_reload_checks_the_config_and_finds_no_service_to_signal(cli: Cli, acme: Site) -> None:
    result = cli.invoke("reload")
    assert result.exit_code == 1
    assert "no running erpsync serve found" in result.stderr
    assert "erpsync-serve.pid" in result.stderr

    text = cli.harness.config_path.read_text(encoding="utf-8")
    cli.harness.config_path.write_text(text.replace("fake_erp", "fake_erq"), encoding="utf-8")
    result = cli.invoke("reload")
    assert result.exit_code == 1
    assert lines_with(result.stderr, "✗", "fake_erq")  # the messages of `erpsync check`
    assert "problem(s) in the configuration" in result.stderr

"""The command line: ``erpsync plugins | check | run --once | serve | reload | pause | resume |
status | retry | authorize | state migrate|export|import | worker | schedules sync | demo |
new-plugin``.

With ``engine = "temporal"`` the same commands act through Temporal's Schedules (one per goods
owner): ``serve`` keeps them in step with the config, ``run --once`` runs cycles now on the
workers (``erpsync worker``), ``pause``/``resume`` pause the Schedule too, ``status`` shows its
next run.

Every command reads the config named by ``--config`` (or ``$ERPSYNC_CONFIG``, default
``erpsync.toml``). Errors are one clear line and exit status 1 (2 for a usage error); ``--debug``
shows the traceback too. No command prints a secret.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import html
import http.server
import json
import logging
import os
import queue
import secrets
import signal
import sys
import threading
import webbrowser
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from erpsync import __version__, logs
from erpsync.config import Config, GoodsOwner, load_config
from erpsync.errors import ConfigError, ErpsyncError
from erpsync.flows import RunContext, retry_dead_letter
from erpsync.hookspecs import HOOKSPEC_VERSION
from erpsync.models import Flow
from erpsync.plugins import Erp, PluginRegistry, discover
from erpsync.runner import Runner
from erpsync.secrets import redact
from erpsync.state import KeyValueState, Pause, RunRecord, open_state

if TYPE_CHECKING:
    from erpsync.temporal.schedules import Schedules

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="erpsync",
    help="Keep an ERP and a warehouse management system in step, for many goods owners.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
"""The terminal; made anew as each command starts (:func:`_main`), since a console reads its
environment (``COLUMNS``, ``NO_COLOR``) when it is made."""


class LogFormatChoice(enum.StrEnum):
    text = "text"
    json = "json"


class _Options:
    config: Path = Path("erpsync.toml")
    debug: bool = False
    temporal: bool = False
    """The command used a Temporal client (see :func:`main`)."""


_opts = _Options()


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except ConfigError as error:
        if _opts.debug:
            raise
        for problem in error.problems:
            err.print(f"[red]✗[/] {escape(redact(str(problem)))}", highlight=False,
                      soft_wrap=True)
        _fail(f"{len(error.problems)} problem(s) in the configuration")
    except ErpsyncError as error:
        if _opts.debug:
            raise
        _fail(error.message)
    except Exception as error:
        if _opts.debug:
            raise
        _fail(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)")


def _load() -> tuple[PluginRegistry, Config]:
    registry = discover()
    return registry, load_config(_opts.config, registry)


_NEEDS_TEMPORAL = 'engine = "temporal" needs the Temporal SDK: pip install "erpsync[temporal]"'


def _on_temporal(config: Config, work: Callable[[Schedules], Awaitable[T]]) -> T:
    """``work`` done with the Schedules of the config's Temporal (``engine = "temporal"``)."""
    try:
        from erpsync.temporal.schedules import Schedules, connect
    except ImportError:
        _fail(_NEEDS_TEMPORAL)
    assert config.temporal is not None
    settings = config.temporal
    _opts.temporal = True

    async def go() -> T:
        return await work(Schedules(await connect(settings), config))

    return asyncio.run(go())


@app.callback()
def _main(
    config: Annotated[Path, typer.Option(
        "--config", "-c", envvar="ERPSYNC_CONFIG", help="The config file (TOML).",
    )] = Path("erpsync.toml"),
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each flow's result.")]
    = False,
    log_format: Annotated[LogFormatChoice, typer.Option(
        "--log-format", envvar="ERPSYNC_LOG_FORMAT",
        help="Log lines as text, or as JSON lines with goods_owner, flow and run_id.",
    )] = LogFormatChoice.text,
) -> None:
    """erpsync: scheduled, incremental, write-back-once sync between an ERP and a WMS."""
    global out, err
    out, err = Console(), Console(stderr=True)
    _opts.config, _opts.debug = config, debug
    logs.setup(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
               log_format.value)


@app.command()
def version() -> None:
    """Show erpsync's version."""
    out.print(f"erpsync {__version__}")


@app.command()
def plugins() -> None:
    """List the installed plugins: version, role, the flows each offers, and load failures."""
    with _errors():
        registry = discover()
    table = Table("plugin", "version", "role", "built for hooks", "flows offered",
                  "distribution", caption=f"this erpsync provides hook specifications "
                  f"{HOOKSPEC_VERSION}")
    for plugin in sorted(registry.plugins.values(), key=lambda p: p.name):
        declared = "hookspec_version" in plugin.info.model_fields_set
        table.add_row(plugin.name, plugin.info.version, plugin.role,
                      plugin.info.hookspec_version + ("" if declared else " (not declared)"),
                      ", ".join(f.value for f in plugin.flows) or "-",
                      plugin.distribution or "-")
    out.print(table)
    for failure in registry.failures:
        err.print(f"[red]✗ {escape(failure.name)}[/] "
                  f"({escape(failure.distribution or 'unknown distribution')}):"
                  f" {escape(failure.error)}", highlight=False, soft_wrap=True)
    if not registry.plugins and not registry.failures:
        out.print("No plugins installed: pip install an erpsync plugin distribution.")
    if registry.failures:
        raise typer.Exit(1)


@app.command()
def check(
    connect: Annotated[bool, typer.Option(
        "--connect", help="Also call each vendor once to prove the credentials work.",
    )] = False,
) -> None:
    """Validate the config: every problem with its file, goods owner, field and fix."""
    with _errors():
        registry, config = _load()
        table = Table("goods owner", "erp", "wms", "flows", "every")
        for owner in config.goods_owners:
            table.add_row(owner.id, owner.erp_plugin, owner.wms_plugin,
                          ", ".join(f.value for f in owner.flows),
                          f"{owner.interval_minutes:g} min" + ("" if owner.enabled else " (off)"))
        out.print(table)
        if connect:
            failed = asyncio.run(_connect(registry, config))
            if config.temporal is not None:
                failed += _on_temporal(config, _reach_temporal)
            if failed:
                _fail(f"{failed} connection(s) failed")
    out.print(f"[green]✓[/] {escape(str(_opts.config))}: {len(config.goods_owners)} goods "
              "owner(s), valid", soft_wrap=True)


async def _connect(registry: PluginRegistry, config: Config) -> int:
    state = open_state(config.state_dir, config.state_url)
    failed = 0
    try:
        for owner in config.goods_owners:
            ctx = RunContext(owner.id, state)
            erp = registry.erp(owner.erp_plugin, owner.erp_settings)
            wms = registry.wms(owner.wms_plugin, owner.wms_settings)
            for bound in (erp, wms):
                try:
                    await bound.check_connection(ctx.for_plugin(bound.name))
                    out.print(f"[green]✓[/] {owner.id}: {bound.name} connected")
                except ErpsyncError as error:
                    failed += 1
                    action = getattr(error, "action", None)
                    err.print(f"[red]✗[/] {owner.id}: {bound.name}: {escape(error.message)}"
                              + (f" ({escape(action)})" if action else ""), highlight=False,
                              soft_wrap=True)
            await ctx.aclose()
    finally:
        state.close()
    return failed


async def _reach_temporal(schedules: Schedules) -> int:
    """1 if Temporal does not answer for the config's namespace (connecting proved it)."""
    settings = schedules.settings
    try:
        async for _ in await schedules.client.list_schedules(page_size=1):
            break
    except Exception as error:
        err.print(f"[red]✗[/] Temporal at {settings.address} (namespace {settings.namespace}): "
                  f"{escape(str(error))}", highlight=False, soft_wrap=True)
        return 1
    out.print(f"[green]✓[/] Temporal at {settings.address} (namespace {settings.namespace}) "
              f"answers; task queue {settings.task_queue}", highlight=False)
    return 0


def _flows(names: list[str] | None) -> list[Flow] | None:
    if not names:
        return None
    try:
        return [Flow(name) for name in names]
    except ValueError:
        _fail(f"unknown flow in {', '.join(names)}; the flows are: "
              f"{', '.join(f.value for f in Flow)}", 2)


def _runs_table(results: dict[str, list[RunRecord]]) -> Table:
    table = Table("goods owner", "flow", "outcome", "read", "written", "unchanged", "skipped",
                  "dead letters", "requests", "message")
    for owner, runs in results.items():
        for run in runs:
            colour = {"ok": "green", "partial": "yellow"}.get(run.outcome, "red")
            table.add_row(owner, run.flow, f"[{colour}]{run.outcome}[/]", str(run.read),
                          str(run.written), str(run.unchanged), str(run.skipped),
                          str(run.dead_lettered), str(run.requests), escape(run.message or ""))
    return table


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle now and exit.")] = False,
    goods_owner: Annotated[list[str] | None, typer.Option(
        "--goods-owner", "-g", help="Only this goods owner (repeatable).")] = None,
    flow: Annotated[list[str] | None, typer.Option(
        "--flow", "-f", help="Only this flow (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read and map, write nothing, move no cursor.")] = False,
    since: Annotated[datetime | None, typer.Option(
        "--since", help="Backfill: read from this date (UTC) instead of the cursor.")] = None,
) -> None:
    """Run one cycle of every goods owner (or those given), and show what moved."""
    if not once:
        _fail("give --once to run one cycle now; `erpsync serve` runs on the schedule", 2)
    flows = _flows(flow)
    with _errors():
        registry, config = _load()
        if config.temporal is not None:
            results = _run_on_temporal(config, goods_owner, flows, dry_run, since)
            out.print(_runs_table(results))
            if any(r.outcome not in ("ok", "partial") for runs in results.values()
                   for r in runs):
                raise typer.Exit(1)
            return
        state = open_state(config.state_dir, config.state_url)
        try:
            runner = Runner(config, state, registry)
            options = runner.options(
                dry_run=dry_run, since=since.replace(tzinfo=since.tzinfo or UTC) if since else None
            )
            results = asyncio.run(runner.run_once(goods_owner, flows, options))
        finally:
            state.close()
    out.print(_runs_table(results))
    if any(r.outcome not in ("ok", "partial") for runs in results.values() for r in runs):
        raise typer.Exit(1)


RUN_NOW_AT_ONCE = 256
"""Cycles ``run --once`` starts on Temporal and waits for at once."""


def _run_on_temporal(config: Config, goods_owner: list[str] | None, flows: list[Flow] | None,
                     dry_run: bool, since: datetime | None) -> dict[str, list[RunRecord]]:
    """``run --once`` on the workers: each chosen goods owner's cycle now, awaited."""
    by_hand = bool(goods_owner or flows or dry_run or since)
    if goods_owner:
        owners = [config.owner(i) for i in goods_owner]
    else:
        state = open_state(config.state_dir, config.state_url)
        try:
            owners = [o for o in config.goods_owners
                      if o.enabled and state.get_pause(o.id) is None]
        finally:
            state.close()

    async def work(schedules: Schedules) -> dict[str, list[RunRecord]]:
        # Only waits on Temporal here: the workers bound how many cycles run at once.
        limit = asyncio.Semaphore(RUN_NOW_AT_ONCE)

        async def one(owner: GoodsOwner) -> list[RunRecord]:
            async with limit:
                result = await schedules.run_now(
                    owner, by_hand=by_hand, dry_run=dry_run,
                    flows=[f.value for f in flows] if flows else None,
                    since=since.replace(tzinfo=since.tzinfo or UTC) if since else None)
            if result.skipped or result.held:
                err.print(f"[yellow]{owner.id}[/]: {escape(result.held or result.skipped or '')}",
                          highlight=False, soft_wrap=True)
            return [RunRecord.model_validate(r) for r in result.runs]

        runs = await asyncio.gather(*(one(o) for o in owners))
        return {o.id: r for o, r in zip(owners, runs, strict=True)}

    return _on_temporal(config, work)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(
        "--host", envvar="ERPSYNC_SERVICE_HOST",
        help="Listen on this address (over [service] host; off loopback the token is asked).",
    )] = None,
    port: Annotated[int | None, typer.Option(
        "--port", envvar="ERPSYNC_SERVICE_PORT", min=0, max=65535,
        help="Serve /healthz, /readyz, /metrics and the status page on this port.",
    )] = None,
) -> None:
    """Run every goods owner on its interval until SIGTERM or SIGINT (state is kept safe);
    SIGHUP or `erpsync reload` reads the config again."""
    from erpsync.service import Service, listen_settings

    with _errors():
        registry, config = _load()
        settings = listen_settings(config, host, port)
        if not logging.getLogger("erpsync").isEnabledFor(logging.INFO):
            logging.getLogger("erpsync").setLevel(logging.INFO)
        state = open_state(config.state_dir, config.state_url)
        try:
            if config.temporal is not None:
                _on_temporal(config, lambda schedules: Service(
                    config, state, registry, settings,
                    _temporal_scheduler(config, state, registry, schedules),
                ).run(asyncio.Event()))
            else:
                asyncio.run(Service(config, state, registry, settings).run(asyncio.Event()))
        finally:
            state.close()


def _temporal_scheduler(config: Config, state: KeyValueState, registry: PluginRegistry,
                        schedules: Schedules) -> Runner:
    from erpsync.temporal.schedules import TemporalScheduler

    return TemporalScheduler(config, state, registry, schedules.client)


@app.command()
def worker() -> None:
    """Run the goods owners' cycles Temporal hands out (engine = "temporal"); start as many as
    you like on as many hosts as you like. SIGTERM/SIGINT stop it cleanly, SIGHUP reloads."""
    with _errors():
        registry, config = _load()
        if config.temporal is None:
            _fail(f'{_opts.config} runs the embedded engine: `erpsync serve` runs its cycles. '
                  'Workers are for engine = "temporal" (see README "Past one machine")')
        try:
            from erpsync.temporal.worker import run_worker
        except ImportError:
            _fail(_NEEDS_TEMPORAL)
        if not logging.getLogger("erpsync").isEnabledFor(logging.INFO):
            logging.getLogger("erpsync").setLevel(logging.INFO)
        state = open_state(config.state_dir, config.state_url)
        _opts.temporal = True
        try:
            asyncio.run(run_worker(config, state, registry, asyncio.Event()))
        finally:
            state.close()


schedules_app = typer.Typer(help='Temporal\'s Schedules, one per goods owner (engine = '
                            '"temporal").', no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")


@schedules_app.command("sync")
def schedules_sync() -> None:
    """Make the Schedules what the config says (`erpsync serve` does it at start and reload)."""
    with _errors():
        _, config = _load()
        if config.temporal is None:
            _fail(f'{_opts.config} runs the embedded engine: it has no Schedules (engine = '
                  '"temporal" has)')

        async def sync(schedules: Schedules) -> list[str]:
            return await schedules.sync()

        changes = _on_temporal(config, sync)
    for change in changes:
        out.print(f"[green]✓[/] {escape(change)}", highlight=False, soft_wrap=True)
    out.print(f"{len(config.goods_owners)} goods owner(s), {len(changes)} change(s)")


@app.command()
def reload() -> None:
    """Make the running `erpsync serve` read its config again (SIGHUP), after checking it."""
    from erpsync.service import PID_FILE, read_pid

    with _errors():
        _, config = _load()  # refused here, with every problem, before the service sees it
        pid = read_pid(config.state_dir)
        if pid is None:
            _fail(f"no running erpsync serve found ({config.state_dir / PID_FILE} is missing "
                  "or names no running process)")
        os.kill(pid, signal.SIGHUP)
    out.print(f"[green]✓[/] {escape(str(_opts.config))} is valid; erpsync serve (pid {pid}) is "
              "reading it again: its log says what changed", soft_wrap=True)


@contextmanager
def _owner_state(goods_owner: str) -> Iterator[tuple[GoodsOwner, KeyValueState, Config]]:
    """The goods owner the config names, the state store (closed after the block), the
    config."""
    _, config = _load()
    owner = config.owner(goods_owner)
    state = open_state(config.state_dir, config.state_url)
    try:
        yield owner, state, config
    finally:
        state.close()


@app.command()
def pause(
    goods_owner: Annotated[str, typer.Argument(help="The goods owner to pause.")],
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Shown on the status page and in `erpsync status`.")] = None,
) -> None:
    """Skip a goods owner on the schedule (a running cycle finishes) until `erpsync resume`."""
    with _errors(), _owner_state(goods_owner) as (owner, state, config):
        was = state.get_pause(owner.id)
        if was is None:
            state.set_pause(owner.id, Pause(goods_owner=owner.id, since=datetime.now(UTC),
                                            reason=reason))
        if config.temporal is not None:
            note = "paused by erpsync pause" + (f": {reason}" if reason else "")
            _on_temporal(config, lambda schedules: schedules.pause(owner.id, note))
    if was is not None:
        out.print(f"{owner.id} was already paused (since {_when(was.since)})")
    else:
        out.print(f"[green]✓[/] {owner.id} paused: the schedule skips it until `erpsync resume "
                  f"{owner.id}`", soft_wrap=True)


@app.command()
def resume(
    goods_owner: Annotated[str, typer.Argument(help="The goods owner to resume.")],
) -> None:
    """Put a paused goods owner back on the schedule."""
    with _errors(), _owner_state(goods_owner) as (owner, state, config):
        was = state.get_pause(owner.id)
        state.set_pause(owner.id, None)
        status = state.get_owner_status(owner.id)
        if config.temporal is not None:
            view = _on_temporal(config, lambda schedules: schedules.resume(owner.id))
            if view.paused and status is None:
                err.print(f"[yellow]{owner.id}'s Temporal Schedule stays paused[/]: "
                          f"{escape(view.note)}", highlight=False, soft_wrap=True)
    if was is None:
        out.print(f"{owner.id} was not paused")
    else:
        out.print(f"[green]✓[/] {owner.id} resumed: it runs at its next scheduled time")
    if status is not None:
        err.print(f"[red]✗ {owner.id} still needs re-authorisation[/]: "
                  f"{escape(status.action or '')}", highlight=False, soft_wrap=True)


@app.command()
def status(
    goods_owner: Annotated[str | None, typer.Option("--goods-owner", "-g")] = None,
) -> None:
    """Goods owners x flows: last run, outcome, records moved; dead letters; credentials."""
    with _errors():
        _, config = _load()
        state = open_state(config.state_dir, config.state_url)
        try:
            owners = [config.owner(goods_owner)] if goods_owner else list(config.goods_owners)
            next_runs = _next_runs(config, owners)
            table = Table("goods owner", "flow", "last run", "outcome", "read", "written",
                          "dead letters", "next run", "message")
            for owner in owners:
                held = ("off" if not owner.enabled else "paused" if state.get_pause(owner.id)
                        else "held" if state.get_owner_status(owner.id) else None)
                for flow in owner.flows:
                    runs = state.runs(owner.id, flow.value)
                    last = runs[0] if runs else None
                    due = (next_runs.get(owner.id) if next_runs is not None
                           else last.started_at + timedelta(minutes=owner.interval_minutes)
                           if last else None)
                    table.add_row(owner.id, flow.value, _when(last.finished_at if last else None),
                                  last.outcome if last else "never run",
                                  str(last.read) if last else "", str(last.written) if last else "",
                                  str(last.dead_lettered) if last else "", held or _when(due),
                                  escape(last.message or "") if last else "")
            out.print(table)
            for owner in owners:
                paused = state.get_pause(owner.id)
                if paused is not None:
                    err.print(f"[yellow]‖ {owner.id} is paused[/] since {_when(paused.since)}"
                              + (f": {escape(paused.reason)}" if paused.reason else "")
                              + f"; `erpsync resume {owner.id}`", highlight=False,
                              soft_wrap=True)
                owner_status = state.get_owner_status(owner.id)
                if owner_status is not None:
                    err.print(f"[red]✗ {owner.id} needs re-authorisation[/]: "
                              f"{escape(owner_status.message)}; "
                              f"{escape(owner_status.action or '')}",
                              highlight=False, soft_wrap=True)
            letters = [d for o in owners for d in state.dead_letters(o.id)]
            if letters:
                dead = Table("goods owner", "flow", "key", "message", "vendor says", "attempts",
                             "last seen", title="dead letters (erpsync retry sends them again)")
                for d in letters:
                    # Vendor text is shown as it came, never read as rich markup.
                    dead.add_row(d.goods_owner, d.flow, escape(d.business_key),
                                 escape(d.message), escape(d.vendor_message or ""),
                                 str(d.attempts), _when(d.last_seen))
                out.print(dead)
        finally:
            state.close()


def _next_runs(config: Config, owners: list[GoodsOwner]) -> dict[str, datetime | None] | None:
    """With engine = "temporal": each goods owner's next run, as its Schedule says."""
    if config.temporal is None:
        return None

    async def read(schedules: Schedules) -> dict[str, datetime | None]:
        views = await schedules.views([o.id for o in owners])
        return {i: v.next_run if v is not None and not v.paused else None
                for i, v in views.items()}

    return _on_temporal(config, read)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


@app.command()
def retry(
    goods_owner: Annotated[str | None, typer.Option("--goods-owner", "-g")] = None,
    key: Annotated[list[str] | None, typer.Option(
        "--key", "-k", help="Only the dead letter with this business key (repeatable).")] = None,
) -> None:
    """Send dead letters again; those that go through are cleared."""
    with _errors():
        registry, config = _load()
        state = open_state(config.state_dir, config.state_url)
        try:
            owners = [config.owner(goods_owner)] if goods_owner else list(config.goods_owners)
            sent, kept = asyncio.run(_retry(registry, state, owners, key))
        finally:
            state.close()
    out.print(f"{sent} dead letter(s) sent and cleared, {kept} still refused")
    if kept:
        raise typer.Exit(1)


async def _retry(
    registry: PluginRegistry, state: KeyValueState, owners: list[GoodsOwner], keys: list[str] | None
) -> tuple[int, int]:
    sent = kept = 0
    for owner in owners:
        letters = [d for d in state.dead_letters(owner.id)
                   if not keys or d.business_key in keys or d.key in keys]
        if not letters:
            continue
        erp = registry.erp(owner.erp_plugin, owner.erp_settings)
        wms = registry.wms(owner.wms_plugin, owner.wms_settings)
        ctx = RunContext(owner.id, state)
        try:
            async with state.lock(f"owner:{owner.id}"):
                for letter in letters:
                    if await retry_dead_letter(letter, state, erp, wms, ctx):
                        sent += 1
                        out.print(f"[green]✓[/] {owner.id} {letter.flow} "
                                  f"{escape(letter.business_key)}")
                    else:
                        kept += 1
                        out.print(f"[red]✗[/] {owner.id} {letter.flow} "
                                  f"{escape(letter.business_key)}")
        finally:
            await ctx.aclose()
    return sent, kept


# --- authorize: the OAuth consent on a loopback callback --------------------------------------


class _CallbackServer(http.server.HTTPServer):
    """Receives the vendor's redirect on ``/callback`` (RFC 8252 §7.3,
    https://datatracker.ietf.org/doc/html/rfc8252#section-7.3: a loopback redirect URI on a
    port of the client's choosing) and answers once the code was exchanged."""

    def __init__(self, port: int, state: str, path: str = "/callback") -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.state = state
        self.path = path
        self.redirect_uri = f"http://127.0.0.1:{self.server_address[1]}{path}"
        self.answers: queue.Queue[dict[str, str]] = queue.Queue()
        """What the consent page redirected with (the state already checked)."""
        self.outcome: queue.Queue[tuple[bool, str]] = queue.Queue()
        """What the browser is told at last: success, and the sentence to show."""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="authorize-callback",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self._page(404, "Not found", "This is erpsync's authorisation callback only.")
            return
        query = dict(parse_qsl(parts.query))
        # RFC 6749 §10.12: the state ties the redirect to this command's request (CSRF).
        if not hmac.compare_digest(query.get("state", "").encode(), self.server.state.encode()):
            self._page(400, "Not this authorisation",
                       "The state of this redirect does not match the consent erpsync asked "
                       "for. Start again with the URL erpsync printed.")
            return
        self.server.answers.put(query)
        try:
            done, sentence = self.server.outcome.get(timeout=120)
        except queue.Empty:
            done, sentence = False, "erpsync did not finish in time; see its terminal."
        self._page(200 if done else 400, "Authorised" if done else "Not authorised", sentence)

    def _page(self, status: int, title: str, sentence: str) -> None:
        body = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>erpsync: "
                f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(sentence)}</p></body></html>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line holds the authorisation code."""


@app.command()
def authorize(
    goods_owner: Annotated[str, typer.Argument(help="The goods owner to authorise.")],
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Only print the consent URL; do not open a browser.")] = False,
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535,
        help="The loopback port of the callback (default: any free port).")] = 0,
    redirect_uri: Annotated[str | None, typer.Option(
        "--redirect-uri", help="The redirect URI registered for the integration with the "
        "vendor, when it must be exactly that one: a loopback URL such as "
        "http://127.0.0.1:8765/callback (its port and path are listened on).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="Seconds to wait for the consent.")] = 600,
) -> None:
    """Let the goods owner's ERP plugin reach the ERP: consent in a browser (OAuth), also
    after "needs re-authorisation"."""
    with _errors():
        registry, config = _load()
        owner = config.owner(goods_owner)
        erp = registry.erp(owner.erp_plugin, owner.erp_settings)
        if not erp.can_authorize:
            _fail(f"goods owner {owner.id}: the ERP plugin {erp.name!r} has no consent flow; it "
                  "takes its credentials from the config: fix them there, then run `erpsync "
                  f"check --connect` and `erpsync run --once --goods-owner {owner.id}`")
        path = "/callback"
        if redirect_uri is not None:
            port, path = _loopback_redirect(redirect_uri)
        state = secrets.token_urlsafe(24)
        try:
            server = _CallbackServer(port, state, path)
        except OSError as error:
            _fail(f"cannot listen on 127.0.0.1:{port} for the callback ({error.strerror}): "
                  "give another --port, or leave it out for any free one")
        if redirect_uri is not None:
            server.redirect_uri = redirect_uri  # as registered, letter for letter
        try:
            _consent(erp, owner, config, server, state, no_browser=no_browser, timeout=timeout)
        finally:
            server.stop()


def _loopback_redirect(uri: str) -> tuple[int, str]:
    """The port and path of a loopback ``--redirect-uri``; anything else is refused."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not port \
            or parts.query or parts.fragment:
        _fail(f"--redirect-uri {uri!r}: give a loopback URL with a port and a path, such as "
              "http://127.0.0.1:8765/callback (erpsync receives the answer there); register "
              "the same URL with the vendor")
    return port, parts.path or "/"


def _consent(erp: Erp, owner: GoodsOwner, config: Config, server: _CallbackServer, state: str,
             *, no_browser: bool, timeout: float) -> None:
    redirect_uri = server.redirect_uri
    url = erp.authorization_url(redirect_uri, state)
    if url is None:
        _fail(f"goods owner {owner.id}: the settings of ERP plugin {erp.name!r} need no "
              "consent in a browser (its credentials come from the config)")
    server.start()
    out.print(f"To let erpsync reach {erp.name} for goods owner {owner.id}, open this URL and "
              "give consent:", highlight=False, soft_wrap=True, markup=False)
    out.print(url, highlight=False, soft_wrap=True, markup=False)
    out.print(f"Waiting for the answer on {redirect_uri} ...", highlight=False, soft_wrap=True,
              markup=False)
    if not no_browser:
        webbrowser.open(url)
    try:
        answer = server.answers.get(timeout=timeout)
    except queue.Empty:
        _fail(f"no answer from the consent page within {timeout:g} s: run `erpsync authorize "
              f"{owner.id}` again")
    if "error" in answer:
        refusal = answer["error"] + (f": {answer['error_description']}"
                                     if answer.get("error_description") else "")
        server.outcome.put((False, f"The ERP did not authorise erpsync ({refusal})."))
        _fail(f"goods owner {owner.id}: the consent page answered {refusal}")
    code = answer.get("code")
    if not code:
        server.outcome.put((False, "The redirect carried no authorisation code."))
        _fail(f"goods owner {owner.id}: the consent page's redirect carried no code")
    try:
        cleared = asyncio.run(_complete(erp, owner, config, code, redirect_uri))
    except ErpsyncError as error:
        server.outcome.put((False, f"erpsync could not complete the authorisation: "
                                   f"{redact(error.message)}"))
        raise
    except BaseException:
        server.outcome.put((False, "erpsync could not complete the authorisation."))
        raise
    server.outcome.put((True, "erpsync is authorised. You can close this window."))
    out.print(f"[green]✓[/] {owner.id}: authorised; {erp.name} credentials stored"
              + ("; the 'needs re-authorisation' status is cleared" if cleared else ""),
              highlight=False, soft_wrap=True)
    if config.temporal is not None and _on_temporal(
            config, lambda schedules: schedules.release(owner.id)):
        out.print(f"[green]✓[/] {owner.id}: its Temporal Schedule runs again")


async def _complete(
    erp: Erp, owner: GoodsOwner, config: Config, code: str, redirect_uri: str
) -> bool:
    """Exchange the code; clear the goods owner's status. True if there was one."""
    state = open_state(config.state_dir, config.state_url)
    try:
        return await Runner(config, state, erp.registry).complete_authorization(
            owner, code, redirect_uri)
    finally:
        state.close()


# --- state: migrate, export, import -----------------------------------------------------------

state_app = typer.Typer(help="The state store: schema migrations, and moving it to another "
                        "store (export, import).", no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("migrate")
def state_migrate() -> None:
    """Create or upgrade the PostgreSQL state schema (state_url); safe to run again."""
    with _errors():
        _, config = _load()
        if config.state_url is None:
            out.print("The embedded state store (state_dir) needs no migration.")
            return
        try:
            from erpsync.pgstate import MIGRATIONS, PgState
        except ImportError:
            _fail('state_url needs the PostgreSQL driver: pip install "erpsync[postgres]"')
        store = PgState(config.state_url, migrating=True)
        try:
            applied = store.migrate()
        finally:
            store.close()
    out.print(f"[green]✓[/] state database {escape(store.where)}: schema version "
              f"{len(MIGRATIONS)}" + (f" (applied {', '.join(map(str, applied))})" if applied
                                      else " (already)"), soft_wrap=True)


@state_app.command("export")
def state_export(
    file: Annotated[Path, typer.Argument(help="Where to write the state (JSON lines; it holds "
                                         "credentials: it is made readable by you only).")],
) -> None:
    """Write every cursor, ledger entry, token, dead letter and run of the configured store
    to FILE. Stop `erpsync serve` first: what it writes meanwhile would be missed."""
    with _errors():
        _, config = _load()
        if file.exists():
            _fail(f"{file} exists already: give a new file")
        store = open_state(config.state_dir, config.state_url)
        try:
            file.touch(mode=0o600)
            count = 0
            with file.open("w", encoding="utf-8") as sink:
                for part, key, text in store.export_entries():
                    sink.write(json.dumps({"part": part, "key": key, "value": text}) + "\n")
                    count += 1
                sink.flush()
                os.fsync(sink.fileno())
        finally:
            store.close()
    out.print(f"[green]✓[/] {count} entries written to {escape(str(file))} (it holds "
              "credentials: keep it safe, delete it when imported)", soft_wrap=True)


@state_app.command("import")
def state_import(
    file: Annotated[Path, typer.Argument(help="A file `erpsync state export` wrote.")],
) -> None:
    """Read FILE into the configured store, which must be empty (nothing is overwritten)."""
    with _errors():
        _, config = _load()
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            _fail(f"cannot read {file}: {error.strerror}")
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                entries.append((str(item["part"]), str(item["key"]), str(item["value"])))
            except (ValueError, KeyError, TypeError):
                _fail(f"{file}, line {number}: not an entry of `erpsync state export`")
        store = open_state(config.state_dir, config.state_url)
        try:
            if next(store.export_entries(), None) is not None:
                _fail("the configured state store is not empty: import into a new one only "
                      "(nothing is overwritten)")
            count = store.import_entries(entries)
        finally:
            store.close()
    out.print(f"[green]✓[/] {count} entries imported", soft_wrap=True)


@app.command()
def demo(
    erp: Annotated[str | None, typer.Option(
        "--erp", help="The ERP plugin to demonstrate (default: the first with a simulator).",
    )] = None,
    wms: Annotated[str | None, typer.Option(
        "--wms", help="The WMS plugin (default: the first with a simulator).")] = None,
    size: Annotated[int, typer.Option(
        "--size", min=10, max=5000, help="About how many articles the demo company has.")] = 200,
    folder: Annotated[Path | None, typer.Option(
        "--folder", help="Where to keep the demo's config, state and log (default: a new "
        "temporary folder).")] = None,
) -> None:
    """Run a whole integration against the plugins' simulators and show what moved."""
    from erpsync.demo import choose, run_demo

    screen = out
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a log, rich would squeeze the tables into 80 columns (a console of its
        # own: the shared one keeps following COLUMNS for every other command).
        screen = Console(width=120)
    with _errors():
        registry = discover()
        erp_name = choose(registry, "erp", erp)
        wms_name = choose(registry, "wms", wms)
        screen.print(f"[bold]erpsync demo[/]: {erp_name} -> {wms_name} and back, against their "
                  "simulators on loopback ports.\n")
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

        def on_step(title: str, runs: list[RunRecord]) -> None:
            table = Table("flow", "outcome", "read", "written", "unchanged", "skipped",
                          "dead letters", "requests", title=title, title_justify="left")
            for run in runs:
                table.add_row(run.flow, run.outcome, str(run.read), str(run.written),
                              str(run.unchanged), str(run.skipped), str(run.dead_lettered),
                              str(run.requests))
            screen.print(table)
            for run in runs:
                if run.message:
                    screen.print(f"  {run.flow}: {escape(run.message)}", soft_wrap=True)

        with screen.status("Working...", spinner="dots"):
            result = run_demo(registry, erp_name, wms_name, folder=folder, size=size,
                              on_step=on_step, on_note=lambda text: screen.print(f"  {text}"))
    written = sum(r.written for r in result.steps[-1][1])
    screen.print(f"\nThe last cycle wrote {written} record(s). Config, state and log are in "
              f"{result.folder} (erpsync.toml, state/, erpsync.log); try\n"
              f"  erpsync --config {result.folder / 'erpsync.toml'} status\n"
              "For real accounts, write your own erpsync.toml (README 'Configuration'), then "
              "run `erpsync check --connect` and `erpsync serve`.", soft_wrap=True)


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(
        help="The plugin's name: a lower-case Python identifier such as myerp (its entry-point "
        "name; the package is erpsync_NAME).")],
    folder: Annotated[Path, typer.Option(
        "--folder", help="Where to make the project's folder erpsync-NAME (default: here).",
    )] = Path("."),
) -> None:
    """Start an ERP plugin of your own: a project whose conformance tests say what to do next."""
    from erpsync.kit import new_plugin as make

    with _errors():
        project = make(name, folder)
    out.print(f"[green]✓[/] {escape(str(project))}: the ERP plugin {name}, built for hook "
              f"specifications {HOOKSPEC_VERSION}. Next:", highlight=False, soft_wrap=True)
    out.print(f"  cd {project}\n"
              '  pip install -e ".[test]"\n'
              "  pytest          # the conformance suite says which hook to implement next",
              highlight=False, soft_wrap=True, markup=False)


def main(argv: list[str] | None = None) -> None:
    """The console entry point."""
    command: Callable[..., object] = app
    try:
        if argv is not None:
            command(args=argv)
        else:
            command()
    except SystemExit as done:
        if _opts.temporal:
            _leave(done.code)
        raise


def _leave(code: object) -> NoReturn:
    """Exit at once, once everything is written: the Temporal SDK's runtime can abort the
    interpreter while it finalizes after its client was used (temporalio/sdk-python#300:
    "PyGILState_Release ... finalizing", exit -6/-11 after the work was done), which scripts
    and systemd would take for a failure."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":  # pragma: no cover
    main()

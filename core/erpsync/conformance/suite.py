"""The ERP plugin conformance suite: prove that a plugin keeps the hook contract.

A plugin author adds one test module to the plugin's own tests::

    from erpsync.conformance import ErpConformance
    from erpsync_myerp.sandbox import MyErpSandbox

    class TestMyErp(ErpConformance):
        plugin_name = "myerp"                 # the entry-point name
        def make_sandbox(self):               # a fresh simulator for every test
            return MyErpSandbox()

and runs pytest. The suite loads the installed plugin through its entry point, serves the
plugin's simulator in-process (:func:`erpsync.http.mount`), seeds data through the simulator's
control surface (the :class:`ErpSandbox` protocol), drives the plugin through the core's own
flow machinery, and reads back what the plugin wrote through the same control surface.

The flows a plugin offers are the hooks it implements, and the suite's tests are generated
for exactly those flows: an offered flow's tests cannot be skipped, and a flow not offered has
no tests (not skipped ones). Every failure message says what the plugin must do instead.

What is checked, per offered flow:

- reads (articles, suppliers, orders, purchase orders): a full read delivers every record
  exactly once, also when records that share one change time straddle page breaks; ``since``
  narrows the read; a ``since`` in the future returns nothing; resuming from every change
  time returns every record changed at or after it; through the core, a second run writes
  nothing and a record changed later is written again, alone;
- write-back (deliveries, receipts, adjustments): a report reaches the ERP exactly once, also
  when the process died between the ERP's answer and the ledger write (``lookup_report``
  must find it); ``lookup_report`` finds nothing for an event never sent; an event the ERP
  refuses raises ``RecordRejected`` with the vendor's message;
- stock: balances are written; a balance the ERP refuses comes back as a ``Rejection``;
- for every plugin: ``describe`` is right; it offers a flow (a plugin that offers none yet, as
  ``erpsync new-plugin`` makes it, is told the next hook to implement: its signature, what it
  must do and return, and where it goes); refused credentials raise ``AuthenticationLost``;
  an unavailable vendor raises ``TransientError``; no secret of the settings reaches a log
  line, an exception, a dead letter or the state directory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import pytest
from pydantic import BaseModel, SecretStr

from erpsync import hookspecs
from erpsync.errors import AuthenticationLost, RecordRejected, TransientError
from erpsync.flows import EVENTS, INBOUND, FlowOptions, RunContext, run_flow
from erpsync.hookspecs import PluginInfo, WriteResult, hookimpl
from erpsync.http import ASGIApp, mount
from erpsync.models import Event, Flow, Record, StockBalance, Unreadable
from erpsync.plugins import (
    ERP_FLOW_HOOKS,
    WMS_FLOW_HOOKS,
    Erp,
    LoadedPlugin,
    PluginRegistry,
    Wms,
    discover,
)
from erpsync.state import DiskState, RunRecord

__all__ = ["ErpConformance", "ErpSandbox", "hook_signature", "next_hook_guide"]

T = TypeVar("T")
OWNER = "conformance"
RECORDER = "erpsync_conformance_wms"
READ_FLOWS = tuple(INBOUND)
EVENT_FLOWS = tuple(EVENTS)
GUIDE = "docs/writing-a-plugin.md"
"""erpsync's guide for plugin authors; each hook has a section there, ``#<hook name>``."""


class ErpSandbox(Protocol):
    """The control surface the suite drives; a plugin's simulator implements it.

    Times given to :meth:`seed` and :meth:`change` are the vendor's change times for those
    records: the simulator stamps them exactly, so that the suite can make many records share
    one time and straddle a page break.
    """

    base_url: str
    """Where the plugin's settings point; the suite mounts :attr:`app` there."""
    app: ASGIApp
    """The simulator, an ASGI application."""
    page_size: int
    """How many records one page of the plugin's list reads holds."""

    def settings(self) -> dict[str, Any]:
        """Settings for the plugin that work against this simulator. Give secrets as
        :class:`pydantic.SecretStr`; the suite checks that none of them leaks."""
        ...

    def bad_settings(self) -> dict[str, Any]:
        """Settings whose credentials the simulator refuses."""
        ...

    def seed(self, flow: Flow, count: int, at: datetime) -> list[str]:
        """Create ``count`` new records read by ``flow``, all changed at ``at``; return their
        keys (``Record.key()``). For ``Flow.STOCK``: create articles, return their keys."""
        ...

    def change(self, flow: Flow, key: str, at: datetime) -> None:
        """Change the record ``key`` of ``flow`` (any field) at ``at``."""
        ...

    def event(self, flow: Flow) -> Event:
        """A new event of a write-back ``flow`` that the ERP will accept (seed what it needs)."""
        ...

    def rejected_event(self, flow: Flow) -> Event:
        """An event of ``flow`` that the ERP refuses (for example: its order does not exist)."""
        ...

    def times_applied(self, flow: Flow, event: Event) -> int:
        """How many times the ERP recorded ``event``."""
        ...

    def stock_level(self, key: str) -> Decimal | None:
        """The stock the ERP holds for article ``key``."""
        ...


class _Settings(BaseModel):
    pass


class _Recorder:
    """The suite's own WMS plugin: records what the core writes, serves queued events."""

    def __init__(self) -> None:
        self.written: dict[str, list[Record]] = {}
        self.queued: dict[Flow, list[Any]] = {}
        self.marked: list[str] = []

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(name=RECORDER, version="1", role="wms", settings_model=_Settings)

    async def _write(self, flow: Flow, record: Record) -> WriteResult:
        self.written.setdefault(flow.value, []).append(record)
        return WriteResult(outcome="written")

    @hookimpl
    async def upsert_article(self, ctx: Any, settings: Any, article: Record) -> WriteResult:
        return await self._write(Flow.ARTICLES, article)

    @hookimpl
    async def upsert_supplier(self, ctx: Any, settings: Any, supplier: Record) -> WriteResult:
        return await self._write(Flow.SUPPLIERS, supplier)

    @hookimpl
    async def upsert_order(self, ctx: Any, settings: Any, order: Record) -> WriteResult:
        return await self._write(Flow.ORDERS, order)

    @hookimpl
    async def upsert_purchase_order(
        self, ctx: Any, settings: Any, purchase_order: Record
    ) -> WriteResult:
        return await self._write(Flow.PURCHASE_ORDERS, purchase_order)

    async def _queued(self, flow: Flow) -> AsyncIterator[Any]:
        for item in list(self.queued.get(flow, [])):
            yield item

    @hookimpl
    def fetch_deliveries(self, ctx: Any, settings: Any, since: Any) -> AsyncIterator[Any]:
        return self._queued(Flow.DELIVERIES)

    @hookimpl
    def fetch_receipts(self, ctx: Any, settings: Any, since: Any) -> AsyncIterator[Any]:
        return self._queued(Flow.RECEIPTS)

    @hookimpl
    def fetch_inventory_adjustments(
        self, ctx: Any, settings: Any, since: Any
    ) -> AsyncIterator[Any]:
        return self._queued(Flow.ADJUSTMENTS)

    @hookimpl
    def fetch_stock_balances(self, ctx: Any, settings: Any) -> AsyncIterator[Any]:
        return self._queued(Flow.STOCK)

    @hookimpl
    async def mark_reported(self, ctx: Any, settings: Any, flow: Flow, event: Event) -> None:
        self.marked.append(event.event_id)


class _Harness:
    """One test's world: the plugin, the recorder, a state directory, the mounted sandbox."""

    def __init__(self, plugin_name: str, sandbox: ErpSandbox, state_dir: Path) -> None:
        self.sandbox = sandbox
        self.registry: PluginRegistry = discover(select={plugin_name})
        failure = next((f for f in self.registry.failures if f.name == plugin_name), None)
        assert failure is None, f"the plugin {plugin_name!r} does not load: {failure.error}"
        assert plugin_name in self.registry.plugins, (
            f"no plugin {plugin_name!r} in the 'erpsync' entry-point group: register it in "
            "pyproject.toml under [project.entry-points.erpsync] and install the distribution"
        )
        self.plugin = self.registry.get(plugin_name)
        self.recorder = _Recorder()
        self.registry.register(RECORDER, self.recorder)
        self.state = DiskState(state_dir)
        self.settings = self.plugin.validate_settings(sandbox.settings())
        self.wms: Wms = self.registry.wms(RECORDER, _Settings())

    def erp(self, settings: dict[str, Any] | None = None) -> Erp:
        chosen = self.settings if settings is None else self.plugin.validate_settings(settings)
        return self.registry.erp(self.plugin.name, chosen)

    def run(self, body: Callable[[RunContext], Awaitable[T]], app: ASGIApp | None = None) -> T:
        """Run ``body`` in a fresh event loop with the sandbox mounted and a fresh context."""

        async def main() -> T:
            ctx = RunContext(OWNER, self.state)
            try:
                return await body(ctx)
            finally:
                await ctx.aclose()

        with mount(self.sandbox.base_url, app or self.sandbox.app):
            return asyncio.run(main())

    def flow(self, flow: Flow, erp: Erp | None = None) -> RunRecord:
        return self.run(lambda ctx: run_flow(flow, OWNER, self.state, erp or self.erp(),
                                             self.wms, ctx, FlowOptions()))

    def read(self, flow: Flow, since: datetime | None) -> list[Record]:
        spec = INBOUND[flow]

        async def body(ctx: RunContext) -> list[Record]:
            erp = self.erp()
            records: list[Record] = []
            async for record in spec.read(erp, ctx.for_plugin(erp.name), since):
                assert not isinstance(record, Unreadable), (
                    f"the plugin could not read {flow.value} {record.key()} that its own "
                    f"simulator holds: {record.message}"
                )
                records.append(record)
            return records

        return self.run(body)

    def close(self) -> None:
        self.state.close()


def _keys(records: Sequence[Record]) -> list[str]:
    return [r.key() for r in records]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def _unavailable(scope: Any, receive: Any, send: Any) -> None:
    """A vendor that is down: 503 with Retry-After 0 to every request."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"retry-after", b"0"), (b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"service unavailable"})


def _bind(check: Callable[..., None], flow: Flow) -> Callable[..., None]:
    def test(self: object, harness: object) -> None:
        check(self, harness, flow)

    test.__name__ = f"test_{check.__name__.removeprefix('check_')}__{flow.value}"
    test.__doc__ = check.__doc__
    return test


def _add_flow_tests(cls: type, base: type, plugin_name: str,
                    chosen: Collection[Flow] | None) -> None:
    """Give ``cls`` one ``test_<check>__<flow>`` per ``check_*`` of ``base`` and per flow the
    plugin offers among the check's flows (among ``chosen`` when given): an offered flow's
    tests exist, others do not."""
    if not plugin_name:
        return
    plugin = discover(select={plugin_name}).plugins.get(plugin_name)
    offered: Collection[Flow] = plugin.flows if plugin is not None else ()
    if chosen is not None and plugin is not None:
        strange = sorted(f.value for f in chosen if f not in offered)
        if strange:
            raise TypeError(f"{cls.__name__}.flows names {', '.join(strange)}, which plugin "
                            f"{plugin_name!r} does not offer")
        offered = [f for f in offered if f in chosen]
    for name in dir(base):
        check = getattr(base, name)
        for flow in getattr(check, "_flows", ()):
            if flow in offered:
                setattr(cls, f"test_{name.removeprefix('check_')}__{flow.value}",
                        _bind(check, flow))


class _CaptureAll(logging.Handler):
    """Keeps every log record's raw text: a plugin must not hand a secret to logging at all."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@contextmanager
def _capture_logs() -> Iterator[_CaptureAll]:
    """Every record at every level, on the root logger and on ``erpsync``'s own (which the
    CLI or a host application may have set to a higher level or to not propagate)."""
    handler = _CaptureAll()
    loggers = [logging.getLogger(), logging.getLogger("erpsync")]
    old_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, old_levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _for_flows(*flows: Flow) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a check that runs once per offered flow among ``flows``."""

    def mark(check: Callable[..., None]) -> Callable[..., None]:
        check._flows = flows  # type: ignore[attr-defined]
        return check

    return mark


# --- what to implement next ---------------------------------------------------------------------


def hook_signature(hook: str, role: str = "erp") -> str:
    """The hook as a plugin implements it, read from its specification in
    :mod:`erpsync.hookspecs`: ``fetch_articles(ctx, settings, since) -> AsyncIterator[Article |
    Unreadable]`` (an ERP plugin's ``fetch_*`` hook may yield :class:`Unreadable`)."""
    signature = inspect.signature(getattr(hookspecs, hook))
    returns = signature.return_annotation  # a string: hookspecs postpones its annotations
    if returns is inspect.Signature.empty:
        returns = "None"
    returns = str(returns)
    if role == "erp" and hook.startswith("fetch_") and returns.startswith("AsyncIterator["):
        returns = f"{returns[:-1]} | Unreadable]"
    return f"{hook}({', '.join(signature.parameters)}) -> {returns}"


def _plain(text: str) -> str:
    """A docstring's sentence as one plain line: no reST roles, single backquotes, and without
    "Offers the x flow" (the guide lists the flows itself)."""
    text = " ".join(text.split()).replace("``", "`")
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return re.sub(r"\s*Offers the `\w+` flow[^.]*\.", "", text).strip().rstrip(".")


def _hook_duty(hook: str, role: str) -> str:
    """What the hook is and must do, in one sentence from its specification's docstring."""
    spec = getattr(hookspecs, hook)
    doc = inspect.getdoc(spec) or ""
    summary = _plain(doc.split("\n\n")[0])
    summary = summary[:1].lower() + summary[1:]
    signature = hook_signature(hook, role)
    if ") -> AsyncIterator[" in signature:
        model = signature.split("AsyncIterator[", 1)[1].split("]", 1)[0].split(" | ")[0]
        kind = "an async generator (async def ... yield)"
        summary += f", each an erpsync.models.{model}"
        if "Unreadable" in signature:
            summary += " (or an erpsync.models.Unreadable in place of a record it cannot map)"
    elif inspect.iscoroutinefunction(spec):
        kind = "a coroutine function (async def)"
    else:
        kind = "a function"
    returned = re.search(r"^:return: (.+?)(?:\n\s*\n|\n:|\Z)", doc, re.MULTILINE | re.DOTALL)
    if returned:
        summary += f"; it returns {_plain(returned.group(1))}"
    return f"{kind} decorated with @hookimpl (erpsync.hookspecs): {summary}"


def _source(obj: object) -> str:
    """Where a plugin object's hooks are written: ``erpsync_myerp/plugin.py``."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__.replace(".", "/") + ".py"
    module = type(obj).__module__.replace(".", "/") + ".py"
    return f"{module} (class {type(obj).__name__})"


def next_hook_guide(plugin: LoadedPlugin) -> str:
    """What a plugin that offers no flow implements next: the missing hook of a flow it has
    started (``lookup_report`` without a ``report_*``), else the first flow's hook
    (``fetch_articles`` of an ERP plugin), with its signature, its duty and where it goes."""
    table = ERP_FLOW_HOOKS if plugin.role == "erp" else WMS_FLOW_HOOKS
    started = [f for f in Flow if any(h in plugin.hooks for h in table[f])]
    flow = started[0] if started else Flow.ARTICLES
    missing = [h for h in table[flow] if h not in plugin.hooks]
    hook = missing[0]
    done = [h for h in table[flow] if h in plugin.hooks]
    lead = (f"it implements {', '.join(done)}, which the {flow.value} flow needs together with "
            f"{', '.join(missing)}: " if done else "")
    flows = "; ".join(f"{f.value}: {' + '.join(table[f])}" for f in Flow)
    return (
        f"this plugin offers no flow yet: {lead}implement {hook_signature(hook, plugin.role)} "
        f"in {_source(plugin.obj)} (see {GUIDE}#{hook}): {_hook_duty(hook, plugin.role)}. "
        f"The suite then tests the {flow.value} flow against the simulator, and each failure "
        f"says what to fix. A plugin offers every flow whose hooks it implements ({flows})"
    )


class _Suite:
    """What both suites share: the plugin's name, its simulator, the generated flow tests."""

    plugin_name: ClassVar[str] = ""
    flows: ClassVar[Collection[Flow] | None] = None
    """The flows to check, when the simulator's settings switch on only some of the offered
    ones (the plugin's ``enabled_flows``): one subclass per mode, say with a module and
    without. By default every offered flow; either way the settings must switch on exactly
    the flows checked."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        suite = next(base for base in cls.__mro__ if _Suite in base.__bases__)
        _add_flow_tests(cls, suite, cls.plugin_name, cls.flows)

    def checked(self, harness: Any) -> list[Flow]:
        """The flows this class checks: those the plugin offers (among :attr:`flows`)."""
        return [f for f in harness.plugin.flows if self.flows is None or f in self.flows]

    def test_the_settings_switch_on_the_flows_checked(self, harness: Any) -> None:
        expected = [f.value for f in self.checked(harness)]
        enabled = [f.value for f in harness.registry.enabled_flows(harness.plugin.name,
                                                                   harness.settings)]
        assert enabled == expected, (
            f"the simulator's settings switch on {enabled or 'no flow'} but the suite checks "
            f"{expected}: a flow switched off would pass unchecked. Return the flows the "
            "settings switch on from enabled_flows, or set flows on the conformance class to "
            "the ones this mode switches on (and check the others in a class of their own)")

    def make_sandbox(self) -> Any:
        """A fresh simulator; by default the one the plugin's ``sandbox`` hook returns."""
        assert self.plugin_name, f"{type(self).__name__} must set plugin_name"
        registry = discover(select={self.plugin_name})
        plugin = registry.plugins.get(self.plugin_name)
        if plugin is None or "sandbox" not in plugin.hooks:
            raise NotImplementedError(
                f"{type(self).__name__} must define make_sandbox() returning the plugin's "
                "simulator, or the plugin must implement the sandbox hook"
            )
        return registry.sandbox(self.plugin_name)


class ErpConformance(_Suite):
    """Subclass with ``plugin_name`` (and :meth:`make_sandbox` unless the plugin implements
    the ``sandbox`` hook); pytest collects the rest.

    The per-flow checks (``check_*``) become one test per flow the plugin offers, named
    ``test_<check>__<flow>``, when the subclass is created.
    """

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[_Harness]:
        assert self.plugin_name, f"{type(self).__name__} must set plugin_name"
        world = _Harness(self.plugin_name, self.make_sandbox(), tmp_path / "state")
        try:
            yield world
        finally:
            world.close()

    # --- every plugin ----------------------------------------------------------------------

    def test_describe(self, harness: _Harness) -> None:
        info = harness.plugin.info
        assert info.role == "erp", f"describe() says role {info.role!r}; an ERP plugin says 'erp'"
        assert info.version.strip(), "describe() must give the plugin's version"

    def test_the_plugin_offers_a_flow(self, harness: _Harness) -> None:
        assert harness.plugin.flows, next_hook_guide(harness.plugin)

    def test_refused_credentials_raise_authentication_lost(self, harness: _Harness) -> None:
        _assert_it_calls_the_vendor(harness)
        erp = harness.erp(harness.sandbox.bad_settings())
        error = _raised(lambda: harness.run(lambda ctx: _first_call(harness, erp, ctx)))
        assert isinstance(error, AuthenticationLost), (
            f"refused credentials gave {_describe(error)}; raise erpsync.errors."
            "AuthenticationLost (with an action saying how to re-authorise), so the goods "
            "owner stops instead of retrying against a dead credential"
        )
        assert error.message, "AuthenticationLost needs a message saying what was refused"

    def test_an_unavailable_vendor_raises_transient_error(self, harness: _Harness) -> None:
        _assert_it_calls_the_vendor(harness)
        error = _raised(lambda: harness.run(lambda ctx: _first_call(harness, harness.erp(), ctx),
                                            app=_unavailable))
        assert isinstance(error, TransientError), (
            f"a vendor answering 503 to everything gave {_describe(error)}; let "
            "erpsync.errors.TransientError from the HTTP client through (or raise one), so "
            "the run stops and the next one tries again"
        )

    def test_no_secret_leaks(self, harness: _Harness) -> None:
        bad = harness.plugin.validate_settings(harness.sandbox.bad_settings())
        secrets = [v.get_secret_value() for v in _secret_values(harness.settings)]
        assert secrets, (
            "the plugin's settings hold no secret: declare credentials as erpsync.secrets.Secret"
        )
        problems: list[str] = []
        secrets += [v.get_secret_value() for v in _secret_values(bad)]
        with _capture_logs() as logs:
            for flow in self.checked(harness):
                _exercise(harness, flow)
            try:
                erp = harness.registry.erp(harness.plugin.name, bad)
                harness.run(lambda ctx: _first_call(harness, erp, ctx))
            except Exception as error:  # any error: only its text matters here
                problems.append(str(error))
        texts = logs.texts + problems
        texts += [r.message or "" for f in self.checked(harness)
                  for r in harness.state.runs(OWNER, f.value)]
        texts += [d.model_dump_json() for d in harness.state.dead_letters()]
        texts += [r.model_dump_json() for rs in harness.recorder.written.values() for r in rs]
        harness.state.close()
        stored = b"".join(p.read_bytes() for p in harness.state.directory.rglob("*")
                          if p.is_file())
        for secret in secrets:
            leaked = [t for t in texts if secret in t]
            assert not leaked, (
                f"a secret of the settings appeared in {len(leaked)} log line(s), error(s), "
                f"run message(s) or record(s), e.g.: {leaked[0].replace(secret, '<SECRET>')!r}"
            )
            assert secret.encode() not in stored, "a secret was written to the state directory"

    # --- reads -----------------------------------------------------------------------------

    @_for_flows(*READ_FLOWS)
    def check_full_read_delivers_every_record_once(self, harness: _Harness, flow: Flow) -> None:
        count = 2 * harness.sandbox.page_size + 1
        at = _now() - timedelta(days=1)
        seeded = harness.sandbox.seed(flow, count, at)
        got = _keys(harness.read(flow, None))
        repeated = sorted({k for k in got if got.count(k) > 1})
        assert not repeated, (
            f"fetch for {flow.value} yielded {len(repeated)} key(s) more than once "
            f"(e.g. {repeated[:3]}): yield each record once per call"
        )
        missing = sorted(set(seeded) - set(got))
        assert not missing, (
            f"{len(missing)} of {count} {flow.value} that share one change time across page "
            f"breaks (page size {harness.sandbox.page_size}) were not delivered, e.g. "
            f"{missing[:3]}: page until the vendor's last page and do not skip a record "
            "at a page boundary"
        )


    @_for_flows(*READ_FLOWS)
    def check_since_narrows_the_read(self, harness: _Harness, flow: Flow) -> None:
        then = _now() - timedelta(days=2)
        old = harness.sandbox.seed(flow, 3, then)
        new = harness.sandbox.seed(flow, 3, then + timedelta(days=1))
        got = set(_keys(harness.read(flow, then + timedelta(days=1))))
        assert set(new) <= got, (
            f"a read since T missed {flow.value} changed at T: {sorted(set(new) - got)}; "
            "'since' means changed at or after (>=)"
        )
        assert not set(old) & got, (
            f"a read since T returned {flow.value} last changed a day before T: "
            f"{sorted(set(old) & got)}; pass 'since' to the vendor's change filter"
        )


    @_for_flows(*READ_FLOWS)
    def check_a_future_since_returns_nothing(self, harness: _Harness, flow: Flow) -> None:
        harness.sandbox.seed(flow, 2, _now() - timedelta(hours=1))
        got = _keys(harness.read(flow, _now() + timedelta(days=1)))
        assert got == [], f"a read since tomorrow returned {flow.value}: {got[:3]}"


    @_for_flows(*READ_FLOWS)
    def check_resuming_from_every_change_time(self, harness: _Harness, flow: Flow) -> None:
        start = _now() - timedelta(hours=3)
        stamps = [start + timedelta(seconds=s) for s in range(4)]
        seeded: dict[str, datetime] = {}
        for n, at in enumerate(stamps):
            # the third time is shared by more than a page of records
            count = harness.sandbox.page_size + 1 if n == 2 else 2
            seeded.update(dict.fromkeys(harness.sandbox.seed(flow, count, at), at))
        for at in stamps:
            got = set(_keys(harness.read(flow, at)))
            due = {k for k, t in seeded.items() if t >= at}
            assert due <= got, (
                f"resuming {flow.value} from {at.isoformat()} lost {len(due - got)} record(s) "
                f"changed at or after it, e.g. {sorted(due - got)[:3]}"
            )


    @_for_flows(*READ_FLOWS)
    def check_a_second_run_writes_only_what_changed(self, harness: _Harness, flow: Flow) -> None:
        keys = harness.sandbox.seed(flow, 4, _now() - timedelta(hours=2))
        first = harness.flow(flow)
        assert first.outcome == "ok", f"the first {flow.value} run failed: {first.message}"
        written = _keys(harness.recorder.written.get(flow.value, []))
        assert sorted(written) == sorted(keys), (
            f"the first run wrote {sorted(written)}, expected the seeded {sorted(keys)}"
        )
        second = harness.flow(flow)
        assert second.outcome == "ok", f"the second {flow.value} run failed: {second.message}"
        assert second.written == 0, (
            f"a run with nothing changed wrote {second.written} {flow.value}: the mapping must "
            "give the same record for the same vendor data (no clock-dependent fields)"
        )
        harness.sandbox.change(flow, keys[0], _now())
        third = harness.flow(flow)
        later = _keys(harness.recorder.written[flow.value][len(written):])
        assert later == [keys[0]], (
            f"after changing {keys[0]} the next run wrote {later}; expected exactly that record "
            f"(outcome {third.outcome}: {third.message})"
        )


    # --- write-back --------------------------------------------------------------------------

    @_for_flows(*EVENT_FLOWS)
    def check_a_report_reaches_the_erp_once_even_after_a_crash(
        self, harness: _Harness, flow: Flow
    ) -> None:
        event = harness.sandbox.event(flow)
        harness.recorder.queued[flow] = [event]
        run = harness.flow(flow)
        assert run.outcome == "ok", f"reporting {flow.value} failed: {run.message}"
        assert harness.sandbox.times_applied(flow, event) == 1, (
            f"one {flow.value} event was applied {harness.sandbox.times_applied(flow, event)} "
            "times by one report"
        )
        assert event.event_id in harness.recorder.marked
        # The process died after the ERP accepted the report, before the ledger said so.
        entry = harness.state.get_ledger(OWNER, flow.value, event.event_id)
        assert entry is not None
        harness.state.put_ledger(entry.model_copy(update={"status": "pending"}))
        again = harness.flow(flow)
        assert again.outcome == "ok", f"the run after the crash failed: {again.message}"
        applied = harness.sandbox.times_applied(flow, event)
        assert applied == 1, (
            f"after a crash between the ERP's answer and the ledger write, the {flow.value} "
            f"event was applied {applied} times: lookup_report must find the earlier report "
            "(by the event id stored with it) and return its reference"
        )


    @_for_flows(*EVENT_FLOWS)
    def check_lookup_finds_nothing_never_sent(self, harness: _Harness, flow: Flow) -> None:
        event = harness.sandbox.event(flow)

        async def lookup(ctx: RunContext) -> str | None:
            erp = harness.erp()
            return await erp.lookup_report(ctx.for_plugin(erp.name), flow, event)

        found = harness.run(lookup)
        assert found is None, (
            f"lookup_report found {found!r} for a {flow.value} event that was never sent: the "
            "core would then never report it; match on the event id, not on the order alone"
        )


    @_for_flows(*EVENT_FLOWS)
    def check_a_refused_event_raises_record_rejected(self, harness: _Harness, flow: Flow) -> None:
        event = harness.sandbox.rejected_event(flow)
        spec = EVENTS[flow]

        async def report(ctx: RunContext) -> str:
            erp = harness.erp()
            return await spec.report(erp, ctx.for_plugin(erp.name), event)

        with pytest.raises(RecordRejected) as caught:
            harness.run(report)
        assert caught.value.vendor_message or caught.value.message, (
            "RecordRejected must carry the vendor's message (vendor_message)"
        )
        assert harness.sandbox.times_applied(flow, event) == 0


    # --- stock -------------------------------------------------------------------------------

    @_for_flows(Flow.STOCK)
    def check_stock_balances_are_written(self, harness: _Harness, flow: Flow) -> None:
        keys = harness.sandbox.seed(Flow.STOCK, 3, _now() - timedelta(hours=1))
        balances = [StockBalance(article_number=k, quantity=Decimal(n + 5), as_of=_now())
                    for n, k in enumerate(keys)]
        unknown = StockBalance(article_number="NO-SUCH-ARTICLE-0", quantity=Decimal(1),
                               as_of=_now())
        harness.recorder.queued[Flow.STOCK] = [*balances, unknown]
        run = harness.flow(Flow.STOCK)
        for balance in balances:
            level = harness.sandbox.stock_level(balance.article_number)
            assert level == balance.quantity, (
                f"stock of {balance.article_number} is {level} in the ERP after pushing "
                f"{balance.quantity}"
            )
        assert run.dead_lettered == 1, (
            "a balance for an article the ERP does not know must come back from push_stock as "
            f"a Rejection (outcome {run.outcome}: {run.message})"
        )



# --- helpers the tests share ---------------------------------------------------------------------


def _raised(call: Callable[[], object]) -> Exception | None:
    try:
        call()
    except Exception as error:
        return error
    return None


def _describe(error: Exception | None) -> str:
    return "no error" if error is None else f"{type(error).__name__}: {error}"


def _assert_it_calls_the_vendor(harness: _Harness) -> None:
    assert "check_connection" in harness.plugin.hooks or harness.plugin.flows, (
        "the plugin has no hook that calls the vendor yet, so how it meets refused credentials "
        "and an unavailable vendor cannot be tested: implement "
        f"{hook_signature('check_connection')} (one cheap read that proves the URL and the "
        f"credentials, see {GUIDE}#check_connection), or a flow: {next_hook_guide(harness.plugin)}"
    )


async def _first_call(harness: _Harness, erp: Erp, ctx: RunContext) -> None:
    """Make the plugin call its vendor once: check_connection, else its first offered flow."""
    own = ctx.for_plugin(erp.name)
    if "check_connection" in erp.plugin.hooks:
        await erp.check_connection(own)
        return
    flow = erp.plugin.flows[0]
    if flow in INBOUND:
        async for _ in INBOUND[flow].read(erp, own, None):
            break
    elif flow in EVENTS:
        await EVENTS[flow].report(erp, own, harness.sandbox.event(flow))
    else:
        key = harness.sandbox.seed(Flow.STOCK, 1, _now())[0]
        await erp.push_stock(own, [StockBalance(article_number=key, quantity=Decimal(1),
                                                as_of=_now())])


def _exercise(harness: _Harness, flow: Flow) -> None:
    """Run ``flow`` once through the core on seeded data, including a refused record."""
    if flow in INBOUND:
        harness.sandbox.seed(flow, 2, _now() - timedelta(minutes=1))
    elif flow in EVENTS:
        harness.recorder.queued[flow] = [harness.sandbox.event(flow),
                                         harness.sandbox.rejected_event(flow)]
    else:
        key = harness.sandbox.seed(Flow.STOCK, 1, _now())[0]
        harness.recorder.queued[flow] = [
            StockBalance(article_number=key, quantity=Decimal(2), as_of=_now()),
            StockBalance(article_number="NO-SUCH-ARTICLE-1", quantity=Decimal(2), as_of=_now()),
        ]
    harness.flow(flow)


def _secret_values(settings: BaseModel) -> list[SecretStr]:
    found: list[SecretStr] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value)
        elif isinstance(value, BaseModel):
            found += _secret_values(value)
    return found


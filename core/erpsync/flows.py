"""One plain function per flow step: ``run_flow(flow, ...)`` for one goods owner.

The machinery that pages, checkpoints, deduplicates, dead-letters and writes back exactly once
lives here, once, for every plugin. A flow step is a plain async function of (goods owner,
state, plugins): the embedded runner, a CLI command or a workflow engine's activity can call it
alike, and it is safe to run again after a crash at any point.

Three shapes of flow:

**Inbound** (articles, suppliers, orders, purchase orders; ERP -> WMS). The ERP is read from
the cursor minus the overlap window (``>=``, so records that share the cursor's time are read
again rather than missed); a record whose content fingerprint equals the one last written is
not written again; a record the WMS refuses goes to the dead letters and the run goes on. The
cursor moves to the newest change time read only when the whole read completed, and never
backwards. An unchanged catalogue therefore costs one list read and no write.

**Events** (deliveries, receipts, adjustments; WMS -> ERP). Each event is reported once,
through the idempotency ledger: ``pending`` is recorded before the ERP call and ``done`` with
the ERP's reference after. A ``pending`` entry found later (the process died in between) is
resolved by asking the ERP (``lookup_report``), never by sending again blindly. Only then is
the event marked reported in the WMS; a crash before that only repeats the (idempotent) mark.

**Stock** (WMS -> ERP). Absolute balances, safe to repeat; only balances whose value changed
since the ERP last accepted them are sent, in batches.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from erpsync import logs
from erpsync.errors import (
    AuthenticationLost,
    ErpsyncError,
    RecordRejected,
    StateError,
    TransientError,
)
from erpsync.hookspecs import Context, WriteResult
from erpsync.http import count_requests
from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    Record,
    StockBalance,
    Supplier,
    Unreadable,
)
from erpsync.plugins import Erp, Wms
from erpsync.secrets import redact
from erpsync.state import Cursor, DeadLetter, LedgerEntry, RunRecord, StateStore

__all__ = [
    "INBOUND",
    "RECORD_TYPES",
    "STOCK_BATCH",
    "FlowOptions",
    "RunContext",
    "retry_dead_letter",
    "run_flow",
]

T = TypeVar("T")
log = logging.getLogger("erpsync.flows")

STOCK_BATCH = 100
"""Balances per ``push_stock`` call."""

RECORD_TYPES: dict[str, type[Record]] = {
    model.__name__: model
    for model in (Article, Supplier, Order, PurchaseOrder, Delivery, Receipt,
                  InventoryAdjustment, StockBalance)
}
"""Dead letters name their record's type; ``erpsync retry`` rebuilds the record from it."""


def _now() -> datetime:
    return datetime.now(UTC)


# --- the context every hook receives ------------------------------------------------------------


class _Credentials:
    def __init__(self, state: StateStore, owner: str, name: str) -> None:
        self._state, self._owner, self._name = state, owner, name

    def load(self) -> dict[str, Any] | None:
        return self._state.load_credentials(self._owner, self._name)

    def save(self, data: dict[str, Any]) -> None:
        self._state.save_credentials(self._owner, self._name, data)

    def lock(self) -> AbstractAsyncContextManager[None]:
        return self._state.lock(f"credentials:{self._owner}:{self._name}")


class RunContext:
    """The :class:`~erpsync.hookspecs.Context` of one cycle of one goods owner.

    Each plugin sees its own view (:meth:`for_plugin`): resource and credential names are its
    own, so an ERP and a WMS plugin that both keep a ``"client"`` never get each other's.
    """

    def __init__(
        self, goods_owner: str, state: StateStore, *, plugin: str = "",
        resources: dict[str, Any] | None = None,
    ) -> None:
        self._owner = goods_owner
        self._state = state
        self._plugin = plugin
        self._log = logging.getLogger(
            f"erpsync.owner.{goods_owner}" + (f".{plugin}" if plugin else ""))
        self._resources: dict[str, Any] = {} if resources is None else resources

    def for_plugin(self, plugin: str) -> RunContext:
        """The view of this cycle that plugin ``plugin`` gets (resources closed together)."""
        return RunContext(self._owner, self._state, plugin=plugin, resources=self._resources)

    def _name(self, name: str) -> str:
        return f"{self._plugin}:{name}" if self._plugin else name

    @property
    def goods_owner(self) -> str:
        return self._owner

    @property
    def log(self) -> logging.Logger:
        return self._log

    def credentials(self, name: str) -> _Credentials:
        return _Credentials(self._state, self._owner, self._name(name))

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        key = self._name(name)
        if key not in self._resources:
            self._resources[key] = await factory()
        resource: T = self._resources[key]
        return resource

    async def aclose(self) -> None:
        """Close every resource of the cycle (``aclose()`` or ``close()``), of every view."""
        resources = list(self._resources.values())
        self._resources.clear()
        for resource in reversed(resources):
            closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
            if closer is None:
                continue
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self._log.exception("closing a resource failed")


# --- what a flow is -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inbound:
    read: Callable[[Erp, Context, datetime | None], AsyncIterator[Record | Unreadable]]
    write: Callable[[Wms, Context, Any], Awaitable[WriteResult]]


@dataclass(frozen=True)
class _Events:
    read: Callable[[Wms, Context, datetime | None], AsyncIterator[Event]]
    report: Callable[[Erp, Context, Any], Awaitable[str]]


INBOUND: dict[Flow, _Inbound] = {
    Flow.ARTICLES: _Inbound(Erp.fetch_articles, Wms.upsert_article),
    Flow.SUPPLIERS: _Inbound(Erp.fetch_suppliers, Wms.upsert_supplier),
    Flow.ORDERS: _Inbound(Erp.fetch_orders, Wms.upsert_order),
    Flow.PURCHASE_ORDERS: _Inbound(Erp.fetch_purchase_orders, Wms.upsert_purchase_order),
}
EVENTS: dict[Flow, _Events] = {
    Flow.DELIVERIES: _Events(Wms.fetch_deliveries, Erp.report_delivery),
    Flow.RECEIPTS: _Events(Wms.fetch_receipts, Erp.report_receipt),
    Flow.ADJUSTMENTS: _Events(Wms.fetch_inventory_adjustments, Erp.push_inventory_adjustment),
}


class StopSignal(Protocol):
    """Anything that says whether to stop, such as an :class:`asyncio.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class FlowOptions:
    overlap: timedelta = timedelta(minutes=5)
    dry_run: bool = False
    """Read and map, write nothing, move no cursor."""
    since: datetime | None = None
    """Backfill: read from this time instead of the cursor (the cursor still only advances)."""
    stop: StopSignal | None = None
    """Set to stop between records; a stopped inbound flow keeps its cursor."""


@dataclass
class _Tally:
    flow: Flow
    owner: str
    started_at: datetime = field(default_factory=_now)
    read: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    stopped: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def record(self, outcome: str | None = None, message: str | None = None,
               requests: int = 0) -> RunRecord:
        if outcome is None:
            outcome = ("stopped" if self.stopped else "partial" if self.dead_lettered else "ok")
        return RunRecord(
            goods_owner=self.owner, flow=self.flow.value, run_id=self.run_id,
            started_at=self.started_at,
            finished_at=_now(), outcome=outcome,
            read=self.read, written=self.written, unchanged=self.unchanged,
            skipped=self.skipped, dead_lettered=self.dead_lettered, requests=requests,
            message=message,
        )


def _dead_letter(
    state: StateStore, owner: str, flow: Flow, record: Record | Unreadable, error: ErpsyncError
) -> None:
    vendor_message = getattr(error, "vendor_message", None)
    now = _now()
    state.put_dead_letter(DeadLetter(
        goods_owner=owner, flow=flow.value, key=record.key(), business_key=record.business_key(),
        message=error.message, vendor_message=vendor_message,
        record_type=type(record).__name__, payload=record.model_dump(mode="json"),
        first_seen=now, last_seen=now,
    ))
    log.warning("%s %s %s dead-lettered: %s", owner, flow.value, record.business_key(),
                vendor_message or error.message)


# --- running one flow -----------------------------------------------------------------------------


async def run_flow(
    flow: Flow,
    owner: str,
    state: StateStore,
    erp: Erp,
    wms: Wms,
    ctx: RunContext,
    options: FlowOptions | None = None,
) -> RunRecord:
    """Run one flow for one goods owner and record the run.

    Returns the run's :class:`~erpsync.state.RunRecord`. Vendor and plugin failures end the
    flow with outcome ``failed`` (or ``needs_reauthorisation``) and leave its cursor where it
    was; only :class:`~erpsync.errors.StateError` is raised, because without durable state no
    flow may go on.
    """
    options = options or FlowOptions()
    tally = _Tally(flow, owner)
    outcome: str | None = None
    message: str | None = None
    refused: tuple[str | None, str | None] | None = None
    sides = _Sides(erp, ctx.for_plugin(erp.name), wms, ctx.for_plugin(wms.name))
    with count_requests() as requests, logs.context(goods_owner=owner, flow=flow.value,
                                                    run_id=tally.run_id):
        try:
            if flow in INBOUND:
                await _inbound(INBOUND[flow], tally, state, sides, options)
            elif flow in EVENTS:
                await _events(EVENTS[flow], tally, state, sides, options)
            else:
                await _stock(tally, state, sides, options)
        except StateError:
            raise
        except AuthenticationLost as error:
            outcome, message = "needs_reauthorisation", error.message
            refused = (error.role if error.role in ("erp", "wms") else None, error.action)
        except ErpsyncError as error:
            outcome, message = "failed", error.message
            vendor_message = getattr(error, "vendor_message", None)
            if vendor_message and vendor_message not in message:
                message = f"{message} (the vendor says: {vendor_message[:300]})"
            if isinstance(error, TransientError):
                message = f"{message}; will try again next run"
        except Exception as error:
            outcome = "failed"
            message = redact(f"unexpected error (a bug in a plugin or in erpsync): {error!r}")
            log.exception("%s %s: unexpected error", owner, flow.value)
    run = tally.record(outcome, message, requests.requests)
    if refused is not None:
        run = run.model_copy(update={"refused_by": refused[0], "action": refused[1]})
    if not options.dry_run:
        state.add_run(run)
    return run


@dataclass(frozen=True)
class _Sides:
    """The two plugins of a flow, each with its own view of the cycle's context."""

    erp: Erp
    erp_ctx: RunContext
    wms: Wms
    wms_ctx: RunContext


def _stopping(options: FlowOptions) -> bool:
    return options.stop is not None and options.stop.is_set()


async def _inbound(
    spec: _Inbound, tally: _Tally, state: StateStore, sides: _Sides, options: FlowOptions
) -> None:
    owner, flow = tally.owner, tally.flow
    cursor = state.get_cursor(owner, flow.value)
    since = options.since or (cursor.at - options.overlap if cursor else None)
    newest: tuple[datetime, str] | None = None
    undated = False
    async for record in spec.read(sides.erp, sides.erp_ctx, since):
        if _stopping(options):
            tally.stopped = True
            return
        tally.read += 1
        key = record.key()
        if isinstance(record, Unreadable):
            # Held until the record is fixed in the source: its next read clears it.
            tally.dead_lettered += 1
            _dead_letter(state, owner, flow, record, RecordRejected(record.message, key=key))
            continue
        if record.modified_at is None:
            undated = True
        elif newest is None or (record.modified_at, key) > newest:
            newest = (record.modified_at, key)
        fingerprint = record.fingerprint()
        if state.get_fingerprint(owner, flow.value, key) == fingerprint:
            tally.unchanged += 1
            continue
        if options.dry_run:
            tally.written += 1
            continue
        await _write_one(spec, tally, state, sides, record, fingerprint)
    if options.dry_run:
        return
    # Records without a change time of their own: the run's start is the best bound we have.
    if undated:
        candidate: Cursor | None = Cursor(at=tally.started_at)
    else:
        candidate = Cursor(at=newest[0], key=newest[1]) if newest else None
    if candidate is not None and (cursor is None or (candidate.at, candidate.key) >
                                  (cursor.at, cursor.key)):
        state.set_cursor(owner, flow.value, candidate)


async def _write_one(
    spec: _Inbound, tally: _Tally, state: StateStore, sides: _Sides, record: Record,
    fingerprint: str,
) -> bool:
    owner, flow, key = tally.owner, tally.flow, record.key()
    try:
        result = await spec.write(sides.wms, sides.wms_ctx, record)
    except RecordRejected as error:
        tally.dead_lettered += 1
        _dead_letter(state, owner, flow, record, error)
        return False
    if result.outcome == "skipped":
        tally.skipped += 1
        sides.wms_ctx.log.info("%s %s skipped: %s", flow.value, record.business_key(),
                               result.reason)
        return False
    state.set_fingerprint(owner, flow.value, key, fingerprint)
    state.clear_dead_letter(owner, flow.value, key)
    tally.written += 1
    return True


async def _events(
    spec: _Events, tally: _Tally, state: StateStore, sides: _Sides, options: FlowOptions
) -> None:
    owner, flow = tally.owner, tally.flow
    cursor = state.get_cursor(owner, flow.value)
    since = options.since or (cursor.at - options.overlap if cursor else None)
    newest: datetime | None = None
    async for event in spec.read(sides.wms, sides.wms_ctx, since):
        if _stopping(options):
            tally.stopped = True
            return
        tally.read += 1
        newest = event.occurred_at if newest is None else max(newest, event.occurred_at)
        if options.dry_run:
            entry = state.get_ledger(owner, flow.value, event.event_id)
            if entry is not None and entry.status == "done":
                tally.unchanged += 1
            else:
                tally.written += 1
            continue
        await _report_one(spec, tally, state, sides, event)
    if not options.dry_run and newest is not None and (cursor is None or newest > cursor.at):
        state.set_cursor(owner, flow.value, Cursor(at=newest))


async def _report_one(
    spec: _Events, tally: _Tally, state: StateStore, sides: _Sides, event: Event
) -> bool:
    """Report ``event`` once; True when the ERP has it (now or from before)."""
    owner, flow = tally.owner, tally.flow
    entry = state.get_ledger(owner, flow.value, event.event_id)
    if entry is not None and entry.status == "done":
        tally.unchanged += 1
    else:
        reference = None
        if entry is not None:  # pending: a report may have reached the ERP before a crash
            reference = await sides.erp.lookup_report(sides.erp_ctx, flow, event)
            if reference is not None:
                sides.erp_ctx.log.info("%s %s was reported before a restart (ERP reference %s)",
                             flow.value, event.business_key(), reference)
        if reference is None:
            state.put_ledger(_entry(owner, flow, event, "pending"))
            try:
                reference = await spec.report(sides.erp, sides.erp_ctx, event)
            except RecordRejected as error:
                state.delete_ledger(owner, flow.value, event.event_id)
                tally.dead_lettered += 1
                _dead_letter(state, owner, flow, event, error)
                return False
            except TransientError as error:
                if not error.maybe_sent:
                    state.delete_ledger(owner, flow.value, event.event_id)
                raise
            tally.written += 1
        state.put_ledger(_entry(owner, flow, event, "done", reference))
    await sides.wms.mark_reported(sides.wms_ctx, flow, event)
    state.clear_dead_letter(owner, flow.value, event.key())
    return True


def _entry(
    owner: str, flow: Flow, event: Event, status: str, reference: str | None = None
) -> LedgerEntry:
    return LedgerEntry(
        goods_owner=owner, flow=flow.value, event_id=event.event_id, key=event.business_key(),
        status=status, erp_ref=reference, updated_at=_now(),
    )


async def _stock(tally: _Tally, state: StateStore, sides: _Sides, options: FlowOptions) -> None:
    batch: list[tuple[StockBalance, str]] = []
    async for balance in sides.wms.fetch_stock_balances(sides.wms_ctx):
        if _stopping(options):
            tally.stopped = True
            break
        tally.read += 1
        fingerprint = balance.fingerprint()
        if state.get_fingerprint(tally.owner, tally.flow.value, balance.key()) == fingerprint:
            tally.unchanged += 1
        elif options.dry_run:
            tally.written += 1
        else:
            batch.append((balance, fingerprint))
            if len(batch) >= STOCK_BATCH:
                await _push_stock(tally, state, sides, batch)
                batch = []
    if batch:
        await _push_stock(tally, state, sides, batch)


async def _push_stock(
    tally: _Tally, state: StateStore, sides: _Sides, batch: list[tuple[StockBalance, str]]
) -> None:
    owner, flow = tally.owner, tally.flow
    balances = [b for b, _ in batch]
    rejections = {r.key: r.message for r in await sides.erp.push_stock(sides.erp_ctx, balances)}
    for balance, fingerprint in batch:
        key = balance.key()
        if key in rejections:
            tally.dead_lettered += 1
            _dead_letter(state, owner, flow, balance,
                         RecordRejected("the ERP refused the stock balance", key=key,
                                        vendor_message=rejections[key]))
        else:
            state.set_fingerprint(owner, flow.value, key, fingerprint)
            state.clear_dead_letter(owner, flow.value, key)
            tally.written += 1


# --- dead letters ---------------------------------------------------------------------------------


async def retry_dead_letter(
    letter: DeadLetter, state: StateStore, erp: Erp, wms: Wms, ctx: RunContext
) -> bool:
    """Send one dead letter again. True when it went through (and was cleared).

    An event is sent as the WMS has it *now*, never from the stored copy: an event the WMS no
    longer returns as unreported was superseded (a later delivery covers the same goods) or
    handled, and is only cleared, so that nothing is reported twice. A refused record stays in
    the dead letters with the new message; other errors propagate.
    """
    flow = Flow(letter.flow)
    if letter.record_type == Unreadable.__name__:
        ctx.log.warning("%s %s could not be read from the source: fix it there; the next run "
                        "reads it again", flow.value, letter.business_key)
        return False
    model = RECORD_TYPES.get(letter.record_type)
    if model is None:
        raise StateError(f"dead letter {letter.key}: unknown record type {letter.record_type!r}")
    record = model.model_validate(letter.payload)
    tally = _Tally(flow, letter.goods_owner)
    sides = _Sides(erp, ctx.for_plugin(erp.name), wms, ctx.for_plugin(wms.name))
    if flow in INBOUND:
        return await _write_one(INBOUND[flow], tally, state, sides, record, record.fingerprint())
    if flow in EVENTS and isinstance(record, Event):
        spec = EVENTS[flow]
        async for current in spec.read(sides.wms, sides.wms_ctx, None):
            if current.event_id == record.event_id:
                return await _report_one(spec, tally, state, sides, current)
        sides.wms_ctx.log.info("%s %s is no longer pending in the WMS: dead letter cleared",
                               flow.value, record.business_key())
        state.clear_dead_letter(letter.goods_owner, flow.value, letter.key)
        return True
    if flow is Flow.STOCK and isinstance(record, StockBalance):
        await _push_stock(tally, state, sides, [(record, record.fingerprint())])
        return tally.dead_lettered == 0
    raise StateError(f"dead letter {letter.key}: a {letter.record_type} does not belong to "
                     f"flow {flow.value}")

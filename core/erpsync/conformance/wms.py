"""The WMS plugin conformance suite: the warehouse side of the hook contract.

A WMS plugin's tests subclass :class:`WmsConformance` the same way an ERP plugin's subclass
:class:`~erpsync.conformance.ErpConformance`::

    class TestMyWms(WmsConformance):
        plugin_name = "mywms"
        def make_sandbox(self):
            return MyWmsSandbox()

The suite writes canonical records through the plugin into its simulator, plays the warehouse
through the simulator's control surface (:class:`WmsSandbox`: ship, receive, adjust, count
stock) and reads the warehouse's events back through the plugin. Checked, per offered flow:

- upserts are idempotent (the same record twice, or changed, is still one record) and a
  record the warehouse has started on is skipped with a reason, not changed;
- deliveries and receipts: a partial shipment (receipt) is one event, returned with the same
  event id until it is marked reported, never after; the rest comes later as a second event;
- adjustments: each is returned, signed, until marked reported; a future ``since`` returns none;
- stock: every article's balance once, across the plugin's pages;
- for every plugin: refused credentials raise ``AuthenticationLost``, an unavailable vendor
  raises ``TransientError``, and no secret reaches a log line or an error.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from erpsync.conformance.suite import (
    _capture_logs,
    _describe,
    _for_flows,
    _raised,
    _secret_values,
    _Suite,
    _unavailable,
)
from erpsync.errors import AuthenticationLost, TransientError
from erpsync.flows import INBOUND, RunContext
from erpsync.hookspecs import WriteResult
from erpsync.http import ASGIApp, mount
from erpsync.models import (
    Address,
    Article,
    Customer,
    Event,
    Flow,
    Order,
    OrderLine,
    OrderTextLine,
    PurchaseOrder,
    PurchaseOrderRow,
    Supplier,
)
from erpsync.plugins import PluginRegistry, Wms, discover
from erpsync.state import DiskState

__all__ = ["WmsConformance", "WmsSandbox"]

T = TypeVar("T")
OWNER = "conformance"
_serial = itertools.count(1)


class WmsSandbox(Protocol):
    """The control surface the WMS suite drives; the plugin's simulator implements it."""

    base_url: str
    app: ASGIApp
    page_size: int
    """Records per page of the plugin's list reads (the suite reads across a page break)."""

    def settings(self) -> dict[str, Any]:
        """Working settings for the plugin; secrets as :class:`pydantic.SecretStr`."""
        ...

    def bad_settings(self) -> dict[str, Any]:
        """Settings whose credentials the simulator refuses."""
        ...

    def count(self, flow: Flow) -> int:
        """How many records of ``flow`` (articles, suppliers, orders, purchase orders) it holds."""
        ...

    def start_work(self, flow: Flow, key: str) -> None:
        """The warehouse starts on order / purchase order ``key``: no more changes allowed."""
        ...

    def ship(self, order_key: str, quantities: dict[str, Decimal] | None = None) -> None:
        """Pick and ship order ``key``: ``quantities`` by the ERP's line key, None for all."""
        ...

    def receive(self, po_key: str, quantities: dict[str, Decimal], complete: bool) -> None:
        """Receive goods against a purchase order by the ERP's row key; ``complete`` closes it."""
        ...

    def adjust(self, article_key: str, delta: Decimal) -> None:
        """An inventory adjustment of ``delta`` (signed) on an article."""
        ...

    def set_stock(self, article_key: str, quantity: Decimal) -> None:
        """Set the stock the warehouse holds of an article."""
        ...


def _number(prefix: str) -> str:
    return f"{prefix}{next(_serial):05d}"


def _article(number: str | None = None, name: str = "Kahvi 500 g") -> Article:
    number = number or _number("CA")
    return Article(article_number=number, erp_key=f"erp-{number}", name=name)


def _order(articles: list[str], number: str | None = None, comment: str = "") -> Order:
    number = number or _number("CO")
    lines = tuple(OrderLine(external_line_key=f"L{n}", article_number=a, quantity=Decimal(4))
                  for n, a in enumerate(articles, 1))
    return Order(order_number=number, erp_key=f"erp-{number}", comment=comment or None,
                 customer=Customer(name="Testi Oy", address=Address(
                     name="Testi Oy", address1="Katu 1", post_code="00100", city="Helsinki",
                     country_code="FI")),
                 lines=lines, text_lines=(OrderTextLine(external_line_key="T1", text="Hauras"),))


def _purchase_order(articles: list[str], number: str | None = None,
                    comment: str = "") -> PurchaseOrder:
    number = number or _number("CP")
    rows = tuple(PurchaseOrderRow(row_key=f"R{n}", row_number=n, article_number=a,
                                  quantity=Decimal(10)) for n, a in enumerate(articles, 1))
    return PurchaseOrder(order_number=number, erp_key=f"erp-{number}", comment=comment or None,
                         supplier=Supplier(supplier_number="S1", erp_key="s1", name="Tukku Oy"),
                         rows=rows)


class _Harness:
    def __init__(self, plugin_name: str, sandbox: WmsSandbox, state_dir: Path) -> None:
        self.sandbox = sandbox
        self.registry: PluginRegistry = discover(select={plugin_name})
        failure = next((f for f in self.registry.failures if f.name == plugin_name), None)
        assert failure is None, f"the plugin {plugin_name!r} does not load: {failure.error}"
        assert plugin_name in self.registry.plugins, (
            f"no plugin {plugin_name!r} in the 'erpsync' entry-point group: register it in "
            "pyproject.toml under [project.entry-points.erpsync] and install the distribution"
        )
        self.plugin = self.registry.get(plugin_name)
        self.state = DiskState(state_dir)
        self.settings = self.plugin.validate_settings(sandbox.settings())

    def wms(self, settings: dict[str, Any] | None = None) -> Wms:
        chosen = self.settings if settings is None else self.plugin.validate_settings(settings)
        return self.registry.wms(self.plugin.name, chosen)

    def run(self, body: Callable[[Wms, RunContext], Awaitable[T]],
            wms: Wms | None = None, app: ASGIApp | None = None) -> T:
        bound = wms or self.wms()

        async def main() -> T:
            ctx = RunContext(OWNER, self.state)
            try:
                return await body(bound, ctx.for_plugin(bound.name))
            finally:
                await ctx.aclose()

        with mount(self.sandbox.base_url, app or self.sandbox.app):
            return asyncio.run(main())

    def upsert(self, flow: Flow, record: Any) -> WriteResult:
        write = INBOUND[flow].write
        return self.run(lambda wms, ctx: write(wms, ctx, record))

    def events(self, flow: Flow, since: datetime | None = None) -> list[Event]:
        reads: dict[Flow, Callable[[Wms, RunContext, datetime | None], AsyncIterator[Event]]] = {
            Flow.DELIVERIES: Wms.fetch_deliveries, Flow.RECEIPTS: Wms.fetch_receipts,
            Flow.ADJUSTMENTS: Wms.fetch_inventory_adjustments}
        read = reads[flow]

        async def body(wms: Wms, ctx: RunContext) -> list[Event]:
            return [e async for e in read(wms, ctx, since)]

        return self.run(body)

    def mark(self, flow: Flow, event: Event) -> None:
        self.run(lambda wms, ctx: wms.mark_reported(ctx, flow, event))

    def close(self) -> None:
        self.state.close()


UPSERT_FLOWS = (Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS, Flow.PURCHASE_ORDERS)


class WmsConformance(_Suite):
    """Subclass with ``plugin_name`` (and :meth:`make_sandbox` unless the plugin implements
    the ``sandbox`` hook); pytest collects the rest."""

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
        assert harness.plugin.info.role == "wms", "a WMS plugin's describe() says role 'wms'"
        assert harness.plugin.flows, "the plugin offers no flow: implement upsert_article, ..."

    def test_refused_credentials_raise_authentication_lost(self, harness: _Harness) -> None:
        bad = harness.wms(harness.sandbox.bad_settings())
        error = _raised(lambda: harness.run(lambda wms, ctx: _first_call(wms, ctx), wms=bad))
        assert isinstance(error, AuthenticationLost), (
            f"refused credentials gave {_describe(error)}; raise erpsync.errors."
            "AuthenticationLost so the goods owner stops with a clear status"
        )

    def test_an_unavailable_vendor_raises_transient_error(self, harness: _Harness) -> None:
        error = _raised(lambda: harness.run(lambda wms, ctx: _first_call(wms, ctx),
                                            app=_unavailable))
        assert isinstance(error, TransientError), (
            f"a WMS answering 503 to everything gave {_describe(error)}; let erpsync.errors."
            "TransientError from the HTTP client through"
        )

    def test_no_secret_leaks(self, harness: _Harness) -> None:
        bad = harness.plugin.validate_settings(harness.sandbox.bad_settings())
        secrets = [v.get_secret_value() for v in
                   (*_secret_values(harness.settings), *_secret_values(bad))]
        assert secrets, "the settings hold no secret: declare credentials as Secret"
        texts: list[str] = []
        with _capture_logs() as logs:
            article = _article()
            if Flow.ARTICLES in self.checked(harness):
                harness.upsert(Flow.ARTICLES, article)
            for flow in (Flow.DELIVERIES, Flow.RECEIPTS, Flow.ADJUSTMENTS):
                if flow in self.checked(harness):
                    harness.events(flow)
            wms = harness.registry.wms(harness.plugin.name, bad)
            error = _raised(lambda: harness.run(lambda w, ctx: _first_call(w, ctx), wms=wms))
            texts.append(str(error))
        texts += logs.texts
        for secret in secrets:
            leaked = [t for t in texts if secret in t]
            assert not leaked, (
                f"a secret of the settings appeared in {len(leaked)} log line(s) or error(s), "
                f"e.g.: {leaked[0].replace(secret, '<SECRET>')!r}"
            )

    # --- writes ------------------------------------------------------------------------------

    @_for_flows(*UPSERT_FLOWS)
    def check_upserts_are_idempotent(self, harness: _Harness, flow: Flow) -> None:
        record, changed = _record_pair(harness, flow)
        before = harness.sandbox.count(flow)
        assert harness.upsert(flow, record) .outcome == "written"
        assert harness.upsert(flow, record) .outcome == "written"
        assert harness.upsert(flow, changed) .outcome == "written"
        after = harness.sandbox.count(flow)
        assert after == before + 1, (
            f"writing one {flow.value} record three times (twice the same, once changed) left "
            f"{after - before} records in the WMS: upsert by the business key"
        )

    @_for_flows(Flow.ORDERS, Flow.PURCHASE_ORDERS)
    def check_a_record_the_warehouse_started_on_is_skipped(
        self, harness: _Harness, flow: Flow
    ) -> None:
        record, changed = _record_pair(harness, flow)
        assert harness.upsert(flow, record) .outcome == "written"
        harness.sandbox.start_work(flow, record.key())
        result = harness.upsert(flow, changed)
        assert result.outcome == "skipped", (
            f"a {flow.value} record the warehouse has started on was {result.outcome}; read its "
            "status first and return WriteResult(outcome='skipped', reason=...)"
        )
        assert result.reason, "say why the record was skipped (reason=...)"

    # --- events --------------------------------------------------------------------------------

    @_for_flows(Flow.DELIVERIES)
    def check_a_partial_then_full_delivery_is_two_events(
        self, harness: _Harness, flow: Flow
    ) -> None:
        article = _seed_article(harness)
        order = _order([article])
        assert harness.upsert(Flow.ORDERS, order) .outcome == "written"
        harness.sandbox.ship(order.order_number, {"L1": Decimal(1)})
        first = [e for e in harness.events(flow) if e.business_key() == order.order_number]
        assert len(first) == 1, f"a partial shipment gave {len(first)} delivery events, not 1"
        again = [e for e in harness.events(flow) if e.business_key() == order.order_number]
        assert [e.event_id for e in again] == [first[0].event_id], (
            "an unreported delivery must come back with the same event_id until marked"
        )
        (line,) = first[0].lines  # type: ignore[attr-defined]
        assert (line.external_line_key, line.delivered_quantity) == ("L1", Decimal(1))
        harness.mark(flow, first[0])
        assert not [e for e in harness.events(flow) if e.business_key() == order.order_number], (
            "a delivery marked reported was returned again"
        )
        harness.sandbox.ship(order.order_number)
        second = [e for e in harness.events(flow) if e.business_key() == order.order_number]
        assert len(second) == 1, "shipping the rest must give one new delivery event"
        assert second[0].event_id != first[0].event_id, "the second delivery needs a new event_id"
        (rest,) = second[0].lines  # type: ignore[attr-defined]
        assert (rest.delivered_quantity, rest.total_delivered_quantity) == (Decimal(3),
                                                                           Decimal(4))
        harness.mark(flow, second[0])
        assert not [e for e in harness.events(flow) if e.business_key() == order.order_number]

    @_for_flows(Flow.RECEIPTS)
    def check_a_partial_then_complete_receipt_is_two_events(
        self, harness: _Harness, flow: Flow
    ) -> None:
        article = _seed_article(harness)
        po = _purchase_order([article])
        assert harness.upsert(Flow.PURCHASE_ORDERS, po) .outcome == "written"
        harness.sandbox.receive(po.order_number, {"R1": Decimal(6)}, complete=False)
        first = [e for e in harness.events(flow) if e.business_key() == po.order_number]
        assert len(first) == 1, f"a partial receipt gave {len(first)} events, not 1"
        assert not first[0].complete  # type: ignore[attr-defined]
        assert [e.event_id for e in harness.events(flow)
                if e.business_key() == po.order_number] == [first[0].event_id]
        harness.mark(flow, first[0])
        assert not [e for e in harness.events(flow) if e.business_key() == po.order_number]
        harness.sandbox.receive(po.order_number, {"R1": Decimal(3)}, complete=True)
        second = [e for e in harness.events(flow) if e.business_key() == po.order_number]
        assert len(second) == 1, "the rest, received, must be one new receipt event"
        assert second[0].complete, (  # type: ignore[attr-defined]
            "a receipt on a purchase order the warehouse closed must say complete=True"
        )
        (row,) = second[0].rows  # type: ignore[attr-defined]
        assert (row.row_key, row.received_quantity, row.total_received_quantity) == (
            "R1", Decimal(3), Decimal(9))

    @_for_flows(Flow.ADJUSTMENTS)
    def check_adjustments_until_marked(self, harness: _Harness, flow: Flow) -> None:
        article = _seed_article(harness)
        harness.sandbox.adjust(article, Decimal(3))
        harness.sandbox.adjust(article, Decimal(-1))
        mine = [e for e in harness.events(flow) if e.business_key() == article]
        quantities = sorted(e.quantity for e in mine)  # type: ignore[attr-defined]
        assert quantities == [Decimal(-1), Decimal(3)], (
            f"two adjustments (+3, -1) were read as {quantities}: signed, one event each"
        )
        harness.mark(flow, mine[0])
        left = [e.event_id for e in harness.events(flow) if e.business_key() == article]
        assert left == [mine[1].event_id], "an adjustment marked reported was returned again"
        future = harness.events(flow, datetime.now(UTC) + timedelta(days=1))
        assert future == [], "adjustments since tomorrow must be none"

    @_for_flows(Flow.STOCK)
    def check_every_balance_once_across_pages(self, harness: _Harness, flow: Flow) -> None:
        articles = [_seed_article(harness) for _ in range(harness.sandbox.page_size + 1)]
        for n, article in enumerate(articles):
            harness.sandbox.set_stock(article, Decimal(n))

        async def body(wms: Wms, ctx: RunContext) -> list[tuple[str, Decimal]]:
            return [(b.article_number, b.quantity) async for b in wms.fetch_stock_balances(ctx)]

        got = harness.run(body)
        keys = [k for k, _ in got]
        assert len(keys) == len(set(keys)), "an article's balance was yielded more than once"
        found = dict(got)
        for n, article in enumerate(articles):
            assert found.get(article) == Decimal(n), (
                f"the balance of {article} read as {found.get(article)}, expected {n} "
                "(page until the vendor's last page)"
            )


# --- helpers ------------------------------------------------------------------------------------


async def _first_call(wms: Wms, ctx: RunContext) -> None:
    if "check_connection" in wms.plugin.hooks:
        await wms.check_connection(ctx)
    else:
        await wms.upsert_article(ctx, _article())


def _seed_article(harness: _Harness) -> str:
    article = _article()
    assert harness.upsert(Flow.ARTICLES, article) .outcome == "written"
    return article.article_number


def _record_pair(harness: _Harness, flow: Flow) -> tuple[Any, Any]:
    """A record of ``flow`` and the same record changed."""
    if flow is Flow.ARTICLES:
        first = _article()
        return first, _article(first.article_number, name="Kahvi 1 kg")
    if flow is Flow.SUPPLIERS:
        number = _number("CS")
        return (Supplier(supplier_number=number, erp_key=number, name="Tukku Oy"),
                Supplier(supplier_number=number, erp_key=number, name="Tukku Ab"))
    article = _seed_article(harness)
    if flow is Flow.ORDERS:
        order = _order([article])
        return order, _order([article], order.order_number, comment="changed")
    po = _purchase_order([article])
    return po, _purchase_order([article], po.order_number, comment="changed")

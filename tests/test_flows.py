"""Every flow end to end: a real config file, discovery, the runner and the disk state, against
the fake ERP sandbox and the fake warehouse."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from erpsync_fake_wms.sandbox import WmsArticle, WmsOrderLine, WmsRow, WmsSupplier

from erpsync.errors import TransientError
from erpsync.flows import FlowOptions, RunContext, retry_dead_letter
from erpsync.http import HttpClient
from erpsync.models import Flow
from erpsync.state import Cursor, LedgerEntry

from .helpers import T0, Harness, Site, seed

INBOUND = (Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS, Flow.PURCHASE_ORDERS)
ATTEMPTS: int = HttpClient.__init__.__kwdefaults__["max_attempts"]  # type: ignore[index]
"""How often the HTTP layer tries a call before it gives up."""
NO_WAIT = {"Retry-After": "0"}


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened


@pytest.fixture
def acme(harness: Harness) -> Site:
    """One goods owner with the standard catalogue, its config loaded."""
    site = harness.add("acme")
    seed(site)
    harness.load()
    return site


def counts(runs: dict[Flow, Any], *fields: str) -> dict[Flow, tuple[int, ...]]:
    return {flow: tuple(getattr(run, f) for f in fields) for flow, run in runs.items()}


# --- inbound: ERP -> WMS ---------------------------------------------------------------------


async def test_a_first_run_brings_everything_into_the_warehouse(harness: Harness) -> None:
    site = harness.add("acme")
    erp_records = seed(site)
    harness.load()
    runs = await harness.run()

    assert list(runs) == list(Flow)
    assert {run.outcome for run in runs.values()} == {"ok"}
    assert counts(runs, "read", "written", "unchanged", "dead_lettered") == {
        Flow.ARTICLES: (3, 3, 0, 0), Flow.SUPPLIERS: (2, 2, 0, 0), Flow.ORDERS: (2, 2, 0, 0),
        Flow.PURCHASE_ORDERS: (1, 1, 0, 0), Flow.DELIVERIES: (0, 0, 0, 0),
        Flow.RECEIPTS: (0, 0, 0, 0), Flow.STOCK: (3, 3, 0, 0), Flow.ADJUSTMENTS: (0, 0, 0, 0),
    }
    for flow in (*INBOUND, Flow.STOCK):
        assert runs[flow].requests > 0, flow

    warehouse = site.warehouse
    assert warehouse.article("A1") == WmsArticle(
        number="A1", name="Widget", barcode="6400000000017", unit="pcs", active=True,
        supplier_number="S1", weight_kg=Decimal("0.25"))
    a3 = warehouse.article("A3")
    assert a3 is not None
    assert not a3.active
    assert warehouse.supplier("S2") == WmsSupplier(number="S2", name="Supplier Two",
                                                   city="Oslo", country="NO")
    order = warehouse.order("O1")
    assert order is not None
    assert (order.erp_key, order.consignee, order.status) == (erp_records["O1"]["id"],
                                                              "Buyer Oy", "open")
    assert order.lines == {"1": WmsOrderLine("1", "A1", Decimal(3)),
                           "2": WmsOrderLine("2", "A2", Decimal(1))}
    assert order.texts == {"3": "Fragile: handle with care"}
    purchase_order = warehouse.purchase_order("P1")
    assert purchase_order is not None
    assert purchase_order.supplier_number == "S1"
    assert purchase_order.erp_key == erp_records["P1"]["id"]
    assert purchase_order.rows == {"r1": WmsRow("r1", "A1", Decimal(10)),
                                   "r2": WmsRow("r2", "A2", Decimal(5))}
    # The warehouse knew no stock: every article's zero went to the ERP.
    assert [site.erp.stock_level(a) for a in ("A1", "A2", "A3")] == [Decimal(0)] * 3

    state = harness.state
    assert state.get_cursor("acme", "articles") == Cursor(at=T0, key="A3")
    assert state.get_cursor("acme", "orders") == Cursor(at=T0, key="O2")
    assert state.runs("acme", "articles") == [runs[Flow.ARTICLES]]
    assert state.dead_letters() == []


async def test_a_second_run_writes_exactly_what_changed(harness: Harness, acme: Site) -> None:
    await harness.run()
    writes = acme.warehouse.writes
    changed_at = acme.erp.tick(3600)
    acme.erp.change_product("A2", name="Gadget Mk II")
    acme.erp.change_order("O1", lines=[("1", "A1", 5, "9.90"), ("2", "A2", 1, "20.00")])

    runs = await harness.run(flows=INBOUND)
    assert counts(runs, "read", "written", "unchanged") == {
        # The overlap window reads the others again; their fingerprints say "unchanged".
        Flow.ARTICLES: (3, 1, 2), Flow.SUPPLIERS: (2, 0, 2), Flow.ORDERS: (2, 1, 1),
        Flow.PURCHASE_ORDERS: (1, 0, 1),
    }
    assert acme.warehouse.writes == writes + 2
    article = acme.warehouse.article("A2")
    assert article is not None
    assert article.name == "Gadget Mk II"
    order = acme.warehouse.order("O1")
    assert order is not None
    assert order.lines["1"].ordered == Decimal(5)
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=changed_at, key="A2")
    assert harness.state.get_cursor("acme", "orders") == Cursor(at=changed_at, key="O1")
    assert harness.state.get_cursor("acme", "suppliers") == Cursor(at=T0, key="S2")


async def test_records_sharing_the_cursor_time_across_a_page_break_are_all_written(
    harness: Harness,
) -> None:
    site = harness.add("acme", page_size=3, flows=[Flow.ARTICLES])
    for n in range(1, 8):  # seven articles, one timestamp, pages of three
        site.erp.add_product(f"A{n}", f"Article {n}")
    harness.load(overlap_seconds=0)  # no overlap: only `>=` on the cursor keeps them

    runs = await harness.run()
    assert counts(runs, "read", "written") == {Flow.ARTICLES: (7, 7)}
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=T0, key="A7")

    # Two more at the cursor's very time, one sorting before the cursor's key, one after.
    site.erp.add_product("A0", "Article 0")
    site.erp.add_product("A8", "Article 8")
    runs = await harness.run()
    assert counts(runs, "read", "written", "unchanged") == {Flow.ARTICLES: (9, 2, 7)}
    assert all(site.warehouse.article(f"A{n}") is not None for n in range(9))
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=T0, key="A8")


async def test_a_run_with_nothing_changed_writes_nothing(harness: Harness, acme: Site) -> None:
    await harness.run()
    writes, calls = acme.warehouse.writes, acme.warehouse.calls
    cursors = {f: harness.state.get_cursor("acme", f.value) for f in Flow}

    runs = await harness.run()
    assert {run.outcome for run in runs.values()} == {"ok"}
    for flow, run in runs.items():
        assert run.written == 0, flow
        assert run.unchanged == run.read, flow
    for flow in (*INBOUND, Flow.STOCK):
        assert runs[flow].read > 0, flow  # the overlap window read them all again
    assert acme.warehouse.writes == writes
    assert acme.warehouse.calls - calls == 4  # the four event/stock reads, no upsert
    assert {f: harness.state.get_cursor("acme", f.value) for f in Flow} == cursors


async def test_a_change_stamped_inside_the_overlap_window_is_picked_up(
    harness: Harness, acme: Site
) -> None:
    await harness.run(flows=[Flow.ARTICLES])
    cursor_time = acme.erp.tick(3600)
    acme.erp.add_product("A4", "Later")
    await harness.run(flows=[Flow.ARTICLES])
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=cursor_time, key="A4")

    # A change that reaches the ERP late, stamped a minute before the saved cursor.
    acme.erp.now = cursor_time - timedelta(seconds=60)
    acme.erp.change_product("A1", name="Widget, late edit")

    without_overlap = FlowOptions(overlap=timedelta(0))
    runs = await harness.run(flows=[Flow.ARTICLES], options=without_overlap)
    assert runs[Flow.ARTICLES].written == 0  # the control: a bare cursor misses it

    runs = await harness.run(flows=[Flow.ARTICLES])  # the configured 300 s overlap
    assert counts(runs, "written") == {Flow.ARTICLES: (1,)}
    article = acme.warehouse.article("A1")
    assert article is not None
    assert article.name == "Widget, late edit"
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=cursor_time, key="A4")


async def test_an_order_the_warehouse_started_on_is_skipped_with_a_reason(
    harness: Harness, acme: Site, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.run(flows=[Flow.ORDERS])
    acme.warehouse.start_picking("O1")
    writes = acme.warehouse.writes
    acme.erp.tick(3600)
    acme.erp.change_order("O1", lines=[("1", "A1", 9, "9.90"), ("2", "A2", 1, "20.00")])

    caplog.set_level(logging.INFO, logger="erpsync")
    runs = await harness.run(flows=[Flow.ORDERS])
    run = runs[Flow.ORDERS]
    assert (run.outcome, run.read, run.written, run.skipped) == ("ok", 2, 0, 1)
    assert acme.warehouse.writes == writes
    order = acme.warehouse.order("O1")
    assert order is not None
    assert order.lines["1"].ordered == Decimal(3)
    assert "O1 skipped: order is picking in the warehouse" in caplog.text
    assert harness.state.dead_letters() == []


# --- dead letters ----------------------------------------------------------------------------


async def test_a_rejected_record_is_dead_lettered_and_the_rest_written(
    harness: Harness, acme: Site
) -> None:
    acme.warehouse.reject_next(1, "article name [too long] for the label")
    runs = await harness.run()
    run = runs[Flow.ARTICLES]
    assert (run.outcome, run.read, run.written, run.dead_lettered) == ("partial", 3, 2, 1)
    assert {r.outcome for f, r in runs.items() if f is not Flow.ARTICLES} == {"ok"}
    assert acme.warehouse.article("A1") is None
    assert acme.warehouse.article("A2") is not None
    assert acme.warehouse.order("O1") is not None

    (letter,) = harness.state.dead_letters("acme")
    assert (letter.flow, letter.key, letter.business_key, letter.record_type) == (
        "articles", "A1", "A1", "Article")
    assert letter.vendor_message == "article name [too long] for the label"
    assert "article name [too long] for the label" in letter.message

    # Retried while the warehouse still refuses: kept, with the attempt counted.
    erp, wms = harness.bound()
    acme.warehouse.reject_next(1, "still too long")
    ctx = RunContext("acme", harness.state)
    try:
        assert not await retry_dead_letter(letter, harness.state, erp, wms, ctx)
        (again,) = harness.state.dead_letters("acme")
        assert (again.attempts, again.vendor_message) == (2, "still too long")
        assert await retry_dead_letter(again, harness.state, erp, wms, ctx)
    finally:
        await ctx.aclose()
    assert harness.state.dead_letters() == []
    article = acme.warehouse.article("A1")
    assert article is not None
    assert article.name == "Widget"
    # Written through the retry: the next run sees nothing new to write.
    runs = await harness.run(flows=[Flow.ARTICLES])
    assert runs[Flow.ARTICLES].written == 0


async def test_a_later_successful_write_clears_the_dead_letter(
    harness: Harness, acme: Site
) -> None:
    await harness.run(flows=[Flow.ARTICLES])
    acme.erp.tick(3600)
    acme.erp.change_product("A2", name="Gadget with a name the warehouse refuses")
    acme.warehouse.reject_next(1, "name too long")
    runs = await harness.run(flows=[Flow.ARTICLES])
    assert runs[Flow.ARTICLES].outcome == "partial"
    assert [d.key for d in harness.state.dead_letters("acme")] == ["A2"]

    acme.erp.tick(3600)
    acme.erp.change_product("A2", name="Gadget 2")
    runs = await harness.run(flows=[Flow.ARTICLES])
    assert (runs[Flow.ARTICLES].outcome, runs[Flow.ARTICLES].written) == ("ok", 1)
    assert harness.state.dead_letters() == []
    article = acme.warehouse.article("A2")
    assert article is not None
    assert article.name == "Gadget 2"


async def test_a_delivery_the_erp_refuses_is_dead_lettered_then_retried(
    harness: Harness, acme: Site
) -> None:
    await harness.run()
    acme.warehouse.ship("O1")
    acme.erp.fail_next(1, 422, {"error": "order O1 is locked for editing"})
    runs = await harness.run(flows=[Flow.DELIVERIES])
    assert (runs[Flow.DELIVERIES].outcome, runs[Flow.DELIVERIES].dead_lettered) == ("partial", 1)
    assert acme.erp.deliveries_reported("O1") == []
    (letter,) = harness.state.dead_letters("acme")
    assert (letter.business_key, letter.record_type) == ("O1", "Delivery")
    assert letter.vendor_message == "order O1 is locked for editing"
    assert harness.state.get_ledger("acme", "deliveries", letter.key) is None

    erp, wms = harness.bound()
    ctx = RunContext("acme", harness.state)
    try:
        assert await retry_dead_letter(letter, harness.state, erp, wms, ctx)
    finally:
        await ctx.aclose()
    assert harness.state.dead_letters() == []
    (report,) = acme.erp.deliveries_reported("O1")
    entry = harness.state.get_ledger("acme", "deliveries", letter.key)
    assert entry is not None
    assert (entry.status, entry.erp_ref) == ("done", report["id"])
    runs = await harness.run(flows=[Flow.DELIVERIES])  # marked reported: nothing more
    assert runs[Flow.DELIVERIES].read == 0
    assert len(acme.erp.deliveries_reported("O1")) == 1


async def test_a_refused_delivery_superseded_by_a_later_one_is_cleared_not_resent(
    harness: Harness, acme: Site
) -> None:
    await harness.run()
    acme.warehouse.ship("O1", {"1": Decimal(1)})
    acme.erp.fail_next(1, 422, {"error": "order O1 is locked for editing"})
    await harness.run(flows=[Flow.DELIVERIES])
    (letter,) = harness.state.dead_letters("acme")
    acme.warehouse.ship("O1")  # the rest: the next delivery covers everything shipped
    runs = await harness.run(flows=[Flow.DELIVERIES])
    assert runs[Flow.DELIVERIES].written == 1
    before = acme.erp.deliveries_reported("O1")

    erp, wms = harness.bound()
    ctx = RunContext("acme", harness.state)
    try:
        assert await retry_dead_letter(letter, harness.state, erp, wms, ctx)
    finally:
        await ctx.aclose()
    assert acme.erp.deliveries_reported("O1") == before, "the stale event was sent again"
    assert harness.state.dead_letters() == []


async def test_a_stock_balance_the_erp_refuses_is_dead_lettered(
    harness: Harness, acme: Site
) -> None:
    acme.warehouse.set_stock("GHOST", 4)  # an article the ERP does not know
    runs = await harness.run()
    assert (runs[Flow.STOCK].outcome, runs[Flow.STOCK].written,
            runs[Flow.STOCK].dead_lettered) == ("partial", 3, 1)
    (letter,) = harness.state.dead_letters("acme")
    assert (letter.flow, letter.business_key) == ("stock", "GHOST")
    assert letter.vendor_message == "article GHOST not found"

    acme.erp.add_product("GHOST", "Found at last")
    erp, wms = harness.bound()
    ctx = RunContext("acme", harness.state)
    try:
        assert await retry_dead_letter(letter, harness.state, erp, wms, ctx)
    finally:
        await ctx.aclose()
    assert acme.erp.stock_level("GHOST") == Decimal(4)
    assert harness.state.dead_letters() == []


# --- transient errors ------------------------------------------------------------------------


async def test_a_transient_error_is_retried_within_the_run(harness: Harness, acme: Site) -> None:
    acme.erp.fail_next(1, 503, headers=NO_WAIT)
    runs = await harness.run()
    assert {run.outcome for run in runs.values()} == {"ok"}
    assert runs[Flow.ARTICLES].written == 3
    assert runs[Flow.ARTICLES].requests == 2  # the refused attempt counts too


async def test_a_persistent_error_keeps_the_cursor_and_the_next_run_catches_up(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = harness.add("acme", page_size=2, flows=[Flow.ARTICLES])
    site.erp.add_product("A0", "First")
    harness.load()
    await harness.run()
    cursor = harness.state.get_cursor("acme", "articles")
    assert cursor == Cursor(at=T0, key="A0")
    site.erp.tick(3600)
    for n in range(1, 6):
        site.erp.add_product(f"A{n}", f"Article {n}")

    # The ERP goes down after the first page was read: every attempt at the next one fails.
    real_put = site.warehouse.api_put_article
    armed: list[str] = []

    def put_then_fail(password: str, article: WmsArticle) -> Any:
        if not armed:
            armed.append(article.number)
            site.erp.fail_next(ATTEMPTS, 503, headers=NO_WAIT)
        return real_put(password, article)

    monkeypatch.setattr(site.warehouse, "api_put_article", put_then_fail)
    runs = await harness.run()
    run = runs[Flow.ARTICLES]
    assert run.outcome == "failed"
    assert 0 < run.written < 5
    assert run.message is not None
    assert "503" in run.message
    assert "will try again next run" in run.message
    assert harness.state.get_cursor("acme", "articles") == cursor

    runs = await harness.run()  # the ERP is back
    run = runs[Flow.ARTICLES]
    assert (run.outcome, run.read, run.written + run.unchanged) == ("ok", 6, 6)
    assert all(site.warehouse.article(f"A{n}") is not None for n in range(6))
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=T0 + timedelta(hours=1),
                                                                  key="A5")


# --- events: WMS -> ERP ----------------------------------------------------------------------


async def test_deliveries_are_reported_once_each(harness: Harness, acme: Site) -> None:
    await harness.run()
    acme.warehouse.ship("O1", {"1": 1})
    runs = await harness.run(flows=[Flow.DELIVERIES])
    assert counts(runs, "read", "written") == {Flow.DELIVERIES: (1, 1)}
    (first,) = acme.erp.deliveries_reported("O1")
    assert first["lines"] == [{"line_id": "1", "quantity": Decimal(1)}]
    order = acme.warehouse.order("O1")
    assert order is not None
    assert order.lines["1"].reported == Decimal(1)

    acme.warehouse.tick(60)
    acme.warehouse.ship("O1")  # the rest
    runs = await harness.run(flows=[Flow.DELIVERIES])
    assert counts(runs, "read", "written") == {Flow.DELIVERIES: (1, 1)}
    first_again, second = acme.erp.deliveries_reported("O1")
    assert first_again == first
    assert second["lines"] == [{"line_id": "1", "quantity": Decimal(2)},
                               {"line_id": "2", "quantity": Decimal(1)}]
    ledger = harness.state.get_ledger("acme", "deliveries", second["event_id"])
    assert ledger is not None
    assert (ledger.status, ledger.erp_ref, ledger.key) == ("done", second["id"], "O1")

    runs = await harness.run()
    assert runs[Flow.DELIVERIES].read == 0
    assert len(acme.erp.deliveries_reported("O1")) == 2


async def test_receipts_are_reported_once_each(harness: Harness, acme: Site) -> None:
    await harness.run()
    acme.warehouse.receive("P1", {"r1": 4})
    runs = await harness.run(flows=[Flow.RECEIPTS])
    assert counts(runs, "read", "written") == {Flow.RECEIPTS: (1, 1)}
    (first,) = acme.erp.receipts_reported("P1")
    assert (first["complete"], first["rows"]) == (False, [{"row_id": "r1",
                                                           "quantity": Decimal(4)}])

    acme.warehouse.receive("P1", {"r1": 6, "r2": 5}, complete=True)
    runs = await harness.run(flows=[Flow.RECEIPTS])
    assert counts(runs, "read", "written") == {Flow.RECEIPTS: (1, 1)}
    _, second = acme.erp.receipts_reported("P1")
    assert second["complete"] is True
    assert second["rows"] == [{"row_id": "r1", "quantity": Decimal(6)},
                              {"row_id": "r2", "quantity": Decimal(5)}]

    runs = await harness.run()
    assert runs[Flow.RECEIPTS].read == 0
    assert len(acme.erp.receipts_reported("P1")) == 2


async def test_adjustments_are_reported_once_each(harness: Harness, acme: Site) -> None:
    await harness.run()
    acme.warehouse.adjust("A1", -2, "damaged")
    acme.warehouse.adjust("A2", 5, "found")
    runs = await harness.run(flows=[Flow.ADJUSTMENTS])
    assert counts(runs, "read", "written") == {Flow.ADJUSTMENTS: (2, 2)}
    assert [(t["article"], t["quantity"], t["cause"]) for t in acme.erp.stock_transactions()] == [
        ("A1", Decimal(-2), "damaged"), ("A2", Decimal(5), "found")]
    assert all(a.reported for a in acme.warehouse.adjustments())

    runs = await harness.run(flows=[Flow.ADJUSTMENTS])
    assert runs[Flow.ADJUSTMENTS].read == 0
    acme.warehouse.adjust("A1", 1, "recount")
    await harness.run(flows=[Flow.ADJUSTMENTS])
    await harness.run(flows=[Flow.ADJUSTMENTS])
    assert [t["quantity"] for t in acme.erp.stock_transactions()] == [
        Decimal(-2), Decimal(5), Decimal(1)]


async def test_stock_sends_only_balances_that_changed(harness: Harness, acme: Site) -> None:
    await harness.run(flows=[Flow.ARTICLES])
    acme.warehouse.set_stock("A1", 10)
    acme.warehouse.set_stock("A2", "2.5")
    runs = await harness.run(flows=[Flow.STOCK])
    assert counts(runs, "read", "written") == {Flow.STOCK: (3, 3)}
    assert [acme.erp.stock_level(a) for a in ("A1", "A2", "A3")] == [
        Decimal(10), Decimal("2.5"), Decimal(0)]

    requests = acme.erp.request_count
    runs = await harness.run(flows=[Flow.STOCK])
    assert counts(runs, "read", "written", "unchanged") == {Flow.STOCK: (3, 0, 3)}
    assert acme.erp.request_count == requests

    acme.warehouse.set_stock("A2", 7)
    runs = await harness.run(flows=[Flow.STOCK])
    assert counts(runs, "read", "written", "unchanged") == {Flow.STOCK: (3, 1, 2)}
    assert acme.erp.request_count == requests + 1
    assert acme.erp.stock_level("A2") == Decimal(7)


async def test_a_report_the_wms_could_not_mark_is_marked_next_time_not_resent(
    harness: Harness, acme: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.run(flows=INBOUND)
    acme.warehouse.ship("O1")
    real_mark = acme.warehouse.api_mark_order_reported

    def unreachable(*args: Any) -> None:
        raise TransientError("fake-wms: the warehouse did not answer")

    monkeypatch.setattr(acme.warehouse, "api_mark_order_reported", unreachable)
    runs = await harness.run(flows=[Flow.DELIVERIES])
    assert (runs[Flow.DELIVERIES].outcome, runs[Flow.DELIVERIES].written) == ("failed", 1)
    (report,) = acme.erp.deliveries_reported("O1")
    entry = harness.state.get_ledger("acme", "deliveries", report["event_id"])
    assert entry is not None
    assert entry.status == "done"

    monkeypatch.setattr(acme.warehouse, "api_mark_order_reported", real_mark)
    runs = await harness.run(flows=[Flow.DELIVERIES])
    run = runs[Flow.DELIVERIES]
    assert (run.outcome, run.read, run.written, run.unchanged) == ("ok", 1, 0, 1)
    assert acme.erp.deliveries_reported("O1") == [report]
    order = acme.warehouse.order("O1")
    assert order is not None
    assert order.lines["1"].reported == Decimal(3)
    assert (await harness.run(flows=[Flow.DELIVERIES]))[Flow.DELIVERIES].read == 0


# --- a report that may have half-happened ----------------------------------------------------


class ProcessDied(BaseException):
    """The process was killed: no ``except Exception`` handler sees it."""


def _event_setup(flow: Flow, site: Site) -> tuple[Callable[[], list[dict[str, Any]]],
                                                  Callable[[], bool]]:
    """Make one event of ``flow`` happen; return (the ERP's reports, is it marked reported)."""
    if flow is Flow.DELIVERIES:
        site.warehouse.ship("O1")

        def marked() -> bool:
            order = site.warehouse.order("O1")
            assert order is not None
            return all(line.reported == line.ordered for line in order.lines.values())

        return (lambda: site.erp.deliveries_reported("O1")), marked
    site.warehouse.adjust("A1", -1, "damaged")
    return site.erp.stock_transactions, lambda: site.warehouse.adjustments()[0].reported


@pytest.mark.parametrize("flow", [Flow.DELIVERIES, Flow.ADJUSTMENTS])
async def test_a_report_whose_answer_was_lost_is_looked_up_not_resent(
    harness: Harness, acme: Site, flow: Flow
) -> None:
    await harness.run(flows=INBOUND)
    reports, marked = _event_setup(flow, acme)
    acme.erp.fail_next(1, 502, after_applying=True)  # the ERP wrote it; the answer was lost

    runs = await harness.run(flows=[flow])
    assert runs[flow].outcome == "failed"
    message = runs[flow].message
    assert message is not None
    assert "502" in message
    (report,) = reports()
    entry = harness.state.get_ledger("acme", flow.value, report["event_id"])
    assert entry is not None
    assert entry.status == "pending"
    assert not marked()

    runs = await harness.run(flows=[flow])
    assert (runs[flow].outcome, runs[flow].read) == ("ok", 1)
    assert reports() == [report]  # found by the lookup, not sent again
    entry = harness.state.get_ledger("acme", flow.value, report["event_id"])
    assert entry is not None
    assert (entry.status, entry.erp_ref) == ("done", report["id"])
    assert marked()
    runs = await harness.run(flows=[flow])
    assert runs[flow].read == 0
    assert reports() == [report]


@pytest.mark.parametrize("flow", [Flow.DELIVERIES, Flow.ADJUSTMENTS])
async def test_a_crash_between_the_erps_answer_and_the_ledger_reports_once(
    harness: Harness, acme: Site, flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.run(flows=INBOUND)
    reports, marked = _event_setup(flow, acme)
    state = harness.state
    put_ledger = state.put_ledger

    def die_on_done(entry: LedgerEntry) -> None:
        if entry.status == "done":
            raise ProcessDied
        put_ledger(entry)

    monkeypatch.setattr(state, "put_ledger", die_on_done)
    with pytest.raises(ProcessDied):
        await harness.runner.run_owner(harness.owner(), flows=[flow])
    (report,) = reports()
    assert not marked()
    entry = state.get_ledger("acme", flow.value, report["event_id"])
    assert entry is not None
    assert entry.status == "pending"

    state = harness.reopen_state()  # a new process: new state handle, new runner
    runs = await harness.run(flows=[flow])
    assert runs[flow].outcome == "ok"
    assert reports() == [report]
    assert marked()
    entry = state.get_ledger("acme", flow.value, report["event_id"])
    assert entry is not None
    assert (entry.status, entry.erp_ref) == ("done", report["id"])


# --- credentials -----------------------------------------------------------------------------


async def test_a_refused_api_key_stops_the_owner_until_run_by_hand(harness: Harness) -> None:
    site = harness.add("acme")
    seed(site)
    harness.set_env(site.key_env, "acme-wrong-key-0b7e44")
    runner = harness.load()

    runs = await harness.run()
    assert list(runs) == [Flow.ARTICLES]  # nothing else is tried against a dead credential
    run = runs[Flow.ARTICLES]
    assert run.outcome == "needs_reauthorisation"
    assert run.message is not None
    assert (run.refused_by, run.action) == ("erp", "issue a new API key and set it in the config")
    assert "acme-wrong-key-0b7e44" not in run.message
    status = harness.state.get_owner_status("acme")
    assert status is not None
    assert status.state == "needs_reauthorisation"
    assert status.action == ("issue a new API key and set it in the config; then run: "
                             "erpsync run --once --goods-owner acme")

    requests, calls = site.erp.request_count, site.warehouse.calls
    assert await runner.run_owner(harness.owner(), scheduled=True) == []
    assert (site.erp.request_count, site.warehouse.calls) == (requests, calls)
    assert len(harness.state.runs("acme", "articles")) == 1

    harness.set_env(site.key_env, site.api_key)  # the operator fixes the key
    runner = harness.load()
    runs = await harness.run()
    assert {run.outcome for run in runs.values()} == {"ok"}
    assert harness.state.get_owner_status("acme") is None
    assert len(await runner.run_owner(harness.owner(), scheduled=True)) == len(Flow)


async def test_a_refused_warehouse_password_stops_the_owner_too(harness: Harness) -> None:
    site = harness.add("acme")
    seed(site)
    harness.set_env(site.password_env, "acme-wrong-wms-pass-9e9e")
    runner = harness.load()
    runs = await harness.run()
    assert [(f, r.outcome) for f, r in runs.items()] == [
        (Flow.ARTICLES, "needs_reauthorisation")]
    run = runs[Flow.ARTICLES]
    assert run.message is not None and "fake-wms refused the password" in run.message
    assert (run.refused_by, run.action) == (
        "wms", "set the warehouse's current password in the config")
    assert harness.state.get_cursor("acme", "articles") is None
    status = harness.state.get_owner_status("acme")
    assert status is not None
    assert status.action == ("set the warehouse's current password in the config; then run: "
                             "erpsync run --once --goods-owner acme")
    calls = site.warehouse.calls
    assert await runner.run_owner(harness.owner(), scheduled=True) == []
    assert site.warehouse.calls == calls


# --- dry run and backfill --------------------------------------------------------------------


async def test_a_dry_run_writes_nothing_and_counts_what_would_be_written(
    harness: Harness, acme: Site
) -> None:
    await harness.run()
    acme.erp.tick(3600)
    acme.erp.change_product("A1", name="Widget Mk II")
    acme.erp.add_product("A4", "Newcomer")
    acme.warehouse.ship("O1", {"1": 1})
    acme.warehouse.adjust("A2", 4, "found")
    state = harness.state
    writes, transactions = acme.warehouse.writes, acme.erp.stock_transactions()
    cursors = {f: state.get_cursor("acme", f.value) for f in Flow}
    history = {f: state.runs("acme", f.value) for f in Flow}

    dry = await harness.run(options=FlowOptions(dry_run=True))
    assert counts(dry, "read", "written") == {
        Flow.ARTICLES: (4, 2), Flow.SUPPLIERS: (2, 0), Flow.ORDERS: (2, 0),
        Flow.PURCHASE_ORDERS: (1, 0), Flow.DELIVERIES: (1, 1), Flow.RECEIPTS: (0, 0),
        Flow.STOCK: (3, 2), Flow.ADJUSTMENTS: (1, 1),
    }
    assert acme.warehouse.writes == writes
    assert acme.warehouse.article("A4") is None
    article = acme.warehouse.article("A1")
    assert article is not None
    assert article.name == "Widget"
    assert acme.erp.deliveries_reported("O1") == []
    assert acme.erp.stock_transactions() == transactions
    assert acme.erp.stock_level("A2") == Decimal(0)
    order = acme.warehouse.order("O1")
    assert order is not None
    assert order.lines["1"].reported == Decimal(0)
    assert not acme.warehouse.adjustments()[0].reported
    assert {f: state.get_cursor("acme", f.value) for f in Flow} == cursors
    assert {f: state.runs("acme", f.value) for f in Flow} == history

    real = await harness.run()  # and a real run writes what the dry run said it would,
    written = counts(real, "written")
    assert written.pop(Flow.STOCK) == (3,)  # (plus the new article's stock: A4 is in the WMS now)
    assert written == {f: w for f, w in counts(dry, "written").items() if f is not Flow.STOCK}


async def test_a_backfill_reads_again_from_the_given_time(harness: Harness) -> None:
    site = harness.add("acme", flows=[Flow.ARTICLES])
    site.erp.add_product("A1", "One")
    site.erp.tick(3600)
    site.erp.add_product("A2", "Two")
    last = site.erp.tick(3600)
    site.erp.add_product("A3", "Three")
    harness.load()
    await harness.run()
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=last, key="A3")

    # A change that reached the ERP stamped long before the cursor (an import, a clock fix).
    site.erp.now = T0 + timedelta(minutes=10)
    site.erp.change_product("A1", name="One, corrected")
    runs = await harness.run()
    assert counts(runs, "read", "written") == {Flow.ARTICLES: (1, 0)}  # only the overlap

    backfill = FlowOptions(overlap=timedelta(seconds=300), since=T0)
    run = await harness.run_flow(Flow.ARTICLES, options=backfill)
    assert (run.outcome, run.read, run.written, run.unchanged) == ("ok", 3, 1, 2)
    article = site.warehouse.article("A1")
    assert article is not None
    assert article.name == "One, corrected"
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=last, key="A3")
    assert harness.state.runs("acme", "articles")[0] == run


async def test_a_failed_flow_keeps_the_vendors_words(harness: Harness, acme: Site) -> None:
    acme.erp.fail_next(10, 503, {"error": "database is being upgraded"},
                       headers={"Retry-After": "0"})
    runs = await harness.run(flows=[Flow.ARTICLES])
    run = runs[Flow.ARTICLES]
    assert run.outcome == "failed"
    assert "database is being upgraded" in (run.message or "")

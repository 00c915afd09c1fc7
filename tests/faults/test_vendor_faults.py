"""The simulators answer 429 with Retry-After, 5xx, time out, drop the link mid-answer or send
truncated or malformed XML and JSON: retried within the bounds, then the flow fails cleanly
(or the record is dead-lettered) with the vendor's words, the rest of the cycle goes on, and a
later cycle (or ``erpsync retry``) gets everything across once the fault is gone, with
nothing written twice.

The runner runs in this process against the simulators served over real HTTP on loopback;
waits between retries are recorded instead of slept.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from erpsync.models import Flow
from tests.faults.conftest import ERPS, Tally
from tests.faults.world import PRODUCTS, InProcess, ServedWorld, World, cli, make_world
from tests.faults.world_fortnox import FxWorld, make_fx_world
from tests.faults.world_poweroffice import PoWorld, make_po_world


def _outcomes(runs: dict[Flow, Any]) -> dict[Flow, str]:
    return {flow: run.outcome for flow, run in runs.items()}


async def _full(inproc: InProcess[Any], tally: Tally, *flows: Flow) -> dict[Flow, Any]:
    runs = await inproc.run(*flows)
    tally.count_runs(runs)
    return runs


def _complete(world: ServedWorld) -> None:
    """Everything arrived in Ongoing, each once."""
    for flow, count in world.inbound().items():
        assert world.wms.count(flow) == count, flow
    assert len(world.snapshot()["wms_articles"]) == world.inbound()[Flow.ARTICLES]


@pytest.mark.parametrize("erp_world", ERPS, indirect=True)
async def test_429_with_retry_after_is_waited_out_and_nothing_is_written_twice(
    erp_world: ServedWorld, erp_inproc: InProcess[ServedWorld], tally: Tally,
) -> None:
    world, inproc = erp_world, erp_inproc
    articles = world.inbound()[Flow.ARTICLES]
    world.wms.fail_next(2, 429, {"message": "Too many requests"}, {"Retry-After": "3"},
                        method="PUT", path="/articles")
    tally.faults += 2
    runs = await _full(inproc, tally, Flow.ARTICLES)
    assert (runs[Flow.ARTICLES].outcome, runs[Flow.ARTICLES].written) == ("ok", articles)
    assert inproc.waits.count(3.0) == 2, f"Retry-After honoured: {inproc.waits}"
    assert world.wms.request_count("PUT", "/articles") == articles + 2
    assert world.wms.count(Flow.ARTICLES) == articles


@pytest.mark.parametrize("status", [502, 504])
async def test_a_passing_gateway_error_is_retried(
    status: int, world: World, inproc: InProcess[World], tally: Tally,
) -> None:
    world.wms.fail_next(2, status, method="PUT", path="/articles")
    world.nv.fail_next(2, status, resource="productlist.nv")
    tally.faults += 4
    runs = await _full(inproc, tally)
    assert set(_outcomes(runs).values()) == {"ok"}, runs
    assert len(inproc.waits) == 4
    _complete(world)
    assert world.wms.request_count("PUT", "/articles") == len(PRODUCTS) + 2


async def test_an_outage_beyond_the_retries_fails_the_flow_and_the_next_cycle_catches_up(
    world: World, inproc: InProcess[World], tally: Tally,
) -> None:
    world.nv.fail_next(50, 503, "Palvelu on tilapäisesti poissa käytöstä",
                       resource="purchaseorderlist.nv")
    tally.faults += 1
    runs = await _full(inproc, tally)
    assert runs[Flow.PURCHASE_ORDERS].outcome == "failed"
    assert "will try again next run" in (runs[Flow.PURCHASE_ORDERS].message or "")
    assert 2 <= len(inproc.waits) <= 10, "retried, within the bounds"
    assert world.nv.request_count("purchaseorderlist.nv") <= 5
    for flow in (Flow.ARTICLES, Flow.ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
                 Flow.ADJUSTMENTS):
        assert runs[flow].outcome == "ok", "the rest of the cycle goes on"
    assert world.wms.count(Flow.PURCHASE_ORDERS) == 0
    assert inproc.state.get_cursor("kahvila", Flow.PURCHASE_ORDERS.value) is None

    world.nv.clear_faults()
    again = await _full(inproc, tally)
    assert set(_outcomes(again).values()) == {"ok"}
    assert again[Flow.PURCHASE_ORDERS].written == len(world.purchase_orders)
    assert again[Flow.ARTICLES].written == 0, "no re-sync of what was already there"
    _complete(world)


async def test_a_500_on_a_report_fails_the_flow_and_the_next_cycle_reports_once(
    world: World, inproc: InProcess[World], tally: Tally,
) -> None:
    await _full(inproc, tally)
    world.play_the_warehouse()
    world.nv.fail_next(1, 500, "Sisäinen virhe: tietokanta lukittu",
                       resource="salesorderinvoicing.nv")
    tally.faults += 1
    runs = await _full(inproc, tally)
    deliveries = runs[Flow.DELIVERIES]
    assert deliveries.outcome in ("failed", "partial"), deliveries
    assert "salesorderinvoicing.nv" in (deliveries.message or "")
    assert "HTTP 500" in (deliveries.message or "")
    assert runs[Flow.RECEIPTS].outcome == "ok" and runs[Flow.ADJUSTMENTS].outcome == "ok"
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 1, "a 500 is not retried"

    again = await _full(inproc, tally)
    assert set(_outcomes(again).values()) == {"ok"}, again
    if inproc.state.dead_letters():
        result = await cli(world, "retry")
        assert result.exit_code == 0, result.output
    assert inproc.state.dead_letters() == []
    assert world.nv.deliveries(world.orders[0]) and len(world.nv.deliveries(world.orders[0])) == 2
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 3, "2 deliveries + 1 failed"


# The WMS side is the same plugin whatever the ERP; Fortnox's world is left out here because
# its plugin's pace (24 calls per 5 s) makes each of its cycles slow (its own faults: below).
@pytest.mark.parametrize("erp_world", [erp for erp in ERPS if erp != "fortnox"], indirect=True)
@pytest.mark.parametrize("kind", ["drop", "truncate", "garbage"])
async def test_a_broken_answer_from_ongoing(
    kind: str, erp_world: ServedWorld, erp_inproc: InProcess[ServedWorld], tally: Tally,
) -> None:
    world, inproc = erp_world, erp_inproc
    world.wms_chaos.arm(kind, method="PUT", path="/articles", count=1)
    world.wms_chaos.arm(kind, method="GET", path=world.wms_list, count=1)
    tally.faults += 2
    runs = await _full(inproc, tally)
    assert world.wms_chaos.injected == 2
    assert all(run.outcome in ("ok", "failed", "partial") for run in runs.values())
    if runs[Flow.ARTICLES].outcome == "failed":
        assert runs[Flow.ARTICLES].message
    again = await _full(inproc, tally)
    assert set(_outcomes(again).values()) == {"ok"}, again
    _complete(world)
    assert inproc.state.dead_letters() == []


async def test_broken_answers_from_netvisor(
    world: World, inproc: InProcess[World], tally: Tally,
) -> None:
    """A dropped link on a read, a truncated answer to a delivery report (served: the report
    reached Netvisor), garbage answering a receipt (served too)."""
    await _full(inproc, tally)
    world.play_the_warehouse()
    world.nv_chaos.arm("drop", path="productlist.nv", count=1)
    world.nv_chaos.arm("truncate", method="POST", path="salesorderinvoicing.nv", count=1)
    world.nv_chaos.arm("garbage", method="POST", path="purchaseorder.nv", count=1)
    tally.faults += 3
    runs = await _full(inproc, tally)
    assert world.nv_chaos.injected == 3
    assert runs[Flow.DELIVERIES].outcome in ("failed", "partial"), runs[Flow.DELIVERIES]
    assert runs[Flow.ADJUSTMENTS].outcome == "ok", "the rest of the cycle goes on"
    again = await _full(inproc, tally)
    assert set(_outcomes(again).values()) == {"ok"}, (runs, again)
    assert inproc.state.dead_letters() == []
    # The calls whose answers broke had been served: they must not be sent twice.
    assert len(world.nv.deliveries(world.orders[0])) == 2
    assert len(world.nv.deliveries(world.orders[1])) == 1
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2
    assert world.nv.request_count("purchaseorder.nv", "POST") == 1
    assert world.snapshot()["nv_received"][world.purchase_orders[0]] == ["5.0", "9.0"]


@pytest.fixture
def slow_world(tmp_path: Path) -> Iterator[World]:
    served = make_world(tmp_path, extra_nv="timeout_seconds = 0.2\n")
    try:
        yield served
    finally:
        served.close()


async def test_netvisor_timing_out_fails_the_flow_and_the_next_cycle_catches_up(
    slow_world: World, monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    inproc = InProcess(slow_world, monkeypatch)
    try:
        slow_world.nv.latency = 0.4
        tally.faults += 1
        runs = await _full(inproc, tally, Flow.ARTICLES)
        assert runs[Flow.ARTICLES].outcome == "failed"
        assert "time" in (runs[Flow.ARTICLES].message or "").lower()
        assert slow_world.wms.count(Flow.ARTICLES) == 0
        slow_world.nv.latency = 0
        await asyncio.sleep(0.5)  # the timed-out calls finish inside the simulator
        again = await _full(inproc, tally)
        assert set(_outcomes(again).values()) == {"ok"}, again
        _complete(slow_world)
    finally:
        inproc.close()


# --- PowerOffice Go: faults on a share of its calls ------------------------------------------

STATUSES = ["429", "500", "502", "503", "504"]
BROKEN = ["drop", "truncate", "garbage"]


async def _until_ok(inproc: InProcess[Any], tally: Tally, cycles: int = 6) -> int:
    """Cycles until one ends ``ok`` in every flow; how many it took."""
    for n in range(1, cycles + 1):
        runs = await _full(inproc, tally)
        if set(_outcomes(runs).values()) == {"ok"}:
            return n
        for run in runs.values():
            if run.outcome != "ok":
                assert run.message, "a failed flow says why"
    raise AssertionError(f"still failing after {cycles} cycles: {runs}")


@pytest.mark.parametrize(("kinds", "seed"), [
    pytest.param(STATUSES, 1, id="429-and-5xx"),
    pytest.param(BROKEN, 2, id="dropped-truncated-malformed"),
])
async def test_faults_on_a_share_of_poweroffice_calls_end_as_a_clean_run(
    kinds: list[str], seed: int, po_world: PoWorld, monkeypatch: pytest.MonkeyPatch,
    tally: Tally, clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    """A third of PowerOffice Go's answers broken (at most 14): the cycles go on, a failed flow
    is caught up by the next cycle, and both simulators end as after the same steps without a
    fault: no product, order or stock write lost, none written twice."""
    world = po_world
    inproc = InProcess(world, monkeypatch)
    try:
        world.fail_share(0.33, kinds, seed=seed, limit=14)
        await _until_ok(inproc, tally)
        world.play_the_warehouse()
        await _until_ok(inproc, tally)
        drawn = world.erp_chaos.log
        tally.faults += len(drawn)
        assert len(drawn) >= 8, f"faults were injected: {drawn}"
        assert world.erp_chaos.injected == len(drawn)
        statuses = [int(kind) for kind, _, _ in drawn if kind.isdigit()]
        throttled = world.po.throttled(world.po.subscription_key["demo"])
        answered = Counter(r.status for r in world.po.requests
                           if r.status in (429, 500, 502, 503, 504))
        assert Counter(statuses) + Counter({429: throttled}) == answered, \
            "every status was answered by the simulator itself (and its own rate limit)"
        if 429 in statuses:
            assert 2.0 in inproc.waits, f"Retry-After honoured: {inproc.waits}"
        world.erp_chaos.disarm()
        quiet = await _full(inproc, tally)
        assert {run.written for run in quiet.values()} == {0}, quiet
        assert inproc.state.dead_letters() == []
        clean = clean_end_state("poweroffice")
        snapshot = world.snapshot()
        tally.compare(clean, snapshot)
        assert snapshot == clean
    finally:
        inproc.close()


async def test_an_invoice_outage_beyond_the_retries_fails_only_the_orders_flow(
    po_world: PoWorld, monkeypatch: pytest.MonkeyPatch, tally: Tally,
) -> None:
    world = po_world
    inproc = InProcess(world, monkeypatch)
    try:
        world.po.fail_next(50, 503, path="/Demo/v2/OutgoingInvoices")
        tally.faults += 1
        runs = await _full(inproc, tally)
        orders = runs[Flow.ORDERS]
        assert orders.outcome == "failed"
        assert "HTTP 503" in (orders.message or "") and "will try again next run" in (
            orders.message or "")
        assert 2 <= len(inproc.waits) <= 10, "retried, within the bounds"
        assert world.po.request_count("/v2/OutgoingInvoices") <= 5
        assert (runs[Flow.ARTICLES].outcome, runs[Flow.STOCK].outcome) == ("ok", "ok"), \
            "the rest of the cycle goes on"
        assert world.wms.count(Flow.ORDERS) == 0
        assert inproc.state.get_cursor("kahvila", Flow.ORDERS.value) is None

        world.po.clear_faults()
        again = await _full(inproc, tally)
        assert set(_outcomes(again).values()) == {"ok"}
        assert again[Flow.ORDERS].written == len(world.orders)
        assert again[Flow.ARTICLES].written == 0, "no re-sync of what was already there"
        _complete(world)
    finally:
        inproc.close()


async def test_a_refused_stock_patch_is_a_dead_letter_and_erpsync_retry_sends_it(
    po_world: PoWorld, monkeypatch: pytest.MonkeyPatch, tally: Tally,
    clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    """PowerOffice Go refuses one product's StockOnHand (a ProblemDetails 400): a dead letter
    with Go's words, the other balances written; once the fault is gone ``erpsync retry``
    writes it, once."""
    world = po_world
    inproc = InProcess(world, monkeypatch)
    try:
        await _full(inproc, tally)
        world.play_the_warehouse()
        code, other = PRODUCTS[0][0], PRODUCTS[1][0]
        product_id = world.po.product(code)["Id"]
        writes = world.po.stock_writes(code)
        clean = clean_end_state("poweroffice")["po_stock"]
        refusal = "StockOnHand cannot be changed while a stock count is open"
        world.po.fail_next(1, 400, {"type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                                    "title": "One or more validation errors occurred.",
                                    "status": 400, "detail": refusal},
                           path=f"/Demo/v2/Products/{product_id}")
        tally.faults += 1
        runs = await _full(inproc, tally, Flow.STOCK)
        stock = runs[Flow.STOCK]
        assert (stock.outcome, stock.dead_lettered) == ("partial", 1), stock
        (letter,) = inproc.state.dead_letters()
        assert (letter.flow, letter.business_key) == ("stock", code)
        assert refusal in (letter.vendor_message or "")
        assert world.po.stock_writes(code) == writes
        assert str(world.po.stock_on_hand(other)) == clean[other], "the others were written"

        result = await cli(world, "retry")
        assert result.exit_code == 0, result.output
        assert inproc.state.dead_letters() == []
        assert str(world.po.stock_on_hand(code)) == clean[code]
        assert world.po.stock_writes(code) == writes + 1
        again = await _full(inproc, tally, Flow.STOCK)
        assert again[Flow.STOCK].written == 0, "nothing written twice"
    finally:
        inproc.close()


async def test_poweroffice_timing_out_on_a_share_of_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally: Tally,
    clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    """A few of Go's answers come after the plugin's timeout: retried (reads and the
    idempotent PATCH), or the flow fails and the next cycle catches up; nothing twice."""
    world = make_po_world(tmp_path, extra_erp="timeout_seconds = 0.25\n")
    inproc = InProcess(world, monkeypatch)
    try:
        world.fail_share(0.3, ["slow"], seed=4, limit=4, delay=0.6)
        await _until_ok(inproc, tally)
        world.play_the_warehouse()
        await _until_ok(inproc, tally)
        tally.faults += len(world.erp_chaos.log)
        assert len(world.erp_chaos.log) == 4, "every slow answer was drawn"
        assert len(inproc.waits) >= 1, "a timed-out call was retried"
        await asyncio.sleep(0.7)  # the late answers finish inside the simulator
        _complete(world)
        clean = clean_end_state("poweroffice")
        snapshot = world.snapshot()
        tally.compare(clean, snapshot)
        assert snapshot == clean
    finally:
        inproc.close()
        world.close()


# --- Fortnox: faults on a share of its calls -------------------------------------------------

FORTNOX_FAULTS = ["429", "500", "503", "drop", "truncate", "garbage", "slow"]


async def test_faults_on_a_share_of_fortnox_calls_end_as_a_clean_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally: Tally,
    clean_end_state: Callable[[str], dict[str, Any]],
) -> None:
    """A third of Fortnox's API answers broken, at most 10 (429 with Retry-After, 5xx with an
    ErrorInformation, a link dropped mid-answer, a truncated or malformed body, an answer after
    the plugin's timeout), reads and writes alike: the cycles go on, a failed flow is caught up
    by the next cycle (a write whose answer was lost is looked up in Fortnox, not sent again),
    and both simulators end as after the same steps without a fault: no invoice, incoming
    goods or custom document made twice, nothing lost."""
    world: FxWorld = make_fx_world(tmp_path, extra_erp="timeout_seconds = 0.5\n")
    inproc = InProcess(world, monkeypatch)
    try:
        world.fail_share(0.33, FORTNOX_FAULTS, seed=5, limit=10, delay=0.8)
        await _until_ok(inproc, tally)
        world.play_the_warehouse()
        await _until_ok(inproc, tally)
        drawn = world.erp_chaos.log
        tally.faults += len(drawn)
        assert len(drawn) >= 8, f"faults were injected: {drawn}"
        assert any(method != "GET" for _, method, _ in drawn), f"writes were hit too: {drawn}"
        assert world.erp_chaos.injected == len(drawn)
        statuses = Counter(int(kind) for kind, _, _ in drawn if kind.isdigit())
        answered = Counter(r.status for r in world.fx.requests if r.status in (429, 500, 503))
        assert statuses == answered, "every status was answered by the simulator itself"
        assert world.fx.throttled() == 0, "the plugin kept to Fortnox's rate limit"
        if 429 in statuses:
            assert 2.0 in inproc.waits, f"Retry-After honoured: {inproc.waits}"
        world.erp_chaos.disarm()
        await asyncio.sleep(0.9)  # the late answers finish inside the simulator
        quiet = await _full(inproc, tally)
        assert {run.written for run in quiet.values()} == {0}, quiet
        assert inproc.state.dead_letters() == []
        clean = clean_end_state("fortnox")
        snapshot = world.snapshot()
        tally.compare(clean, snapshot)
        assert snapshot == clean
    finally:
        inproc.close()
        world.close()

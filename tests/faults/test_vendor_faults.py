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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erpsync.models import Flow
from tests.faults.conftest import Tally
from tests.faults.world import PRODUCTS, InProcess, World, cli, make_world

ARTICLES = len(PRODUCTS)


def _outcomes(runs: dict[Flow, Any]) -> dict[Flow, str]:
    return {flow: run.outcome for flow, run in runs.items()}


async def _full(inproc: InProcess, tally: Tally, *flows: Flow) -> dict[Flow, Any]:
    runs = await inproc.run(*flows)
    tally.count_runs(runs)
    return runs


def _complete(world: World) -> None:
    """Everything arrived in Ongoing, each once."""
    assert world.wms.count(Flow.ARTICLES) == ARTICLES
    assert world.wms.count(Flow.ORDERS) == len(world.orders)
    assert world.wms.count(Flow.PURCHASE_ORDERS) == len(world.purchase_orders)
    assert {code for code, _ in PRODUCTS} == set(world.snapshot()["wms_articles"])


async def test_429_with_retry_after_is_waited_out_and_nothing_is_written_twice(
    world: World, inproc: InProcess, tally: Tally,
) -> None:
    world.wms.fail_next(2, 429, {"message": "Too many requests"}, {"Retry-After": "3"},
                        method="PUT", path="/articles")
    tally.faults += 2
    runs = await _full(inproc, tally, Flow.ARTICLES)
    assert (runs[Flow.ARTICLES].outcome, runs[Flow.ARTICLES].written) == ("ok", ARTICLES)
    assert inproc.waits.count(3.0) == 2, f"Retry-After honoured: {inproc.waits}"
    assert world.wms.request_count("PUT", "/articles") == ARTICLES + 2
    assert world.wms.count(Flow.ARTICLES) == ARTICLES


@pytest.mark.parametrize("status", [502, 504])
async def test_a_passing_gateway_error_is_retried(
    status: int, world: World, inproc: InProcess, tally: Tally,
) -> None:
    world.wms.fail_next(2, status, method="PUT", path="/articles")
    world.nv.fail_next(2, status, resource="productlist.nv")
    tally.faults += 4
    runs = await _full(inproc, tally)
    assert set(_outcomes(runs).values()) == {"ok"}, runs
    assert len(inproc.waits) == 4
    _complete(world)
    assert world.wms.request_count("PUT", "/articles") == ARTICLES + 2


async def test_an_outage_beyond_the_retries_fails_the_flow_and_the_next_cycle_catches_up(
    world: World, inproc: InProcess, tally: Tally,
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
    world: World, inproc: InProcess, tally: Tally,
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


@pytest.mark.parametrize("kind", ["drop", "truncate", "garbage"])
async def test_a_broken_answer_from_ongoing(
    kind: str, world: World, inproc: InProcess, tally: Tally,
) -> None:
    world.wms_chaos.arm(kind, method="PUT", path="/articles", count=1)
    world.wms_chaos.arm(kind, method="GET", path="/orders", count=1)
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
    world: World, inproc: InProcess, tally: Tally,
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

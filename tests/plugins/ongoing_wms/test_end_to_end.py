"""Ongoing WMS end to end through the core runner, with the fake ERP on the other side.

A real config file, real plugin discovery, the real runner and state; the Ongoing simulator
and the fake ERP served in-process. The warehouse's part is played through the simulator's
control surface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from erpsync_fake_erp.sandbox import FakeErp
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync import http
from erpsync.config import load_config
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.runner import Runner
from erpsync.state import DiskState, RunRecord

ERP_URL = "https://fake-erp.test"

CONFIG = """
state_dir = "state"

[[goods_owners]]
id = "acme"

[goods_owners.erp]
plugin = "fake_erp"
settings = {{ base_url = "{erp_url}", api_key = {{ env = "E2E_ERP_KEY" }} }}

[goods_owners.wms]
plugin = "ongoing_wms"
[goods_owners.wms.settings]
base_url = "{wms_url}"
username = "{username}"
password = {{ env = "E2E_WMS_PASSWORD" }}
goods_owner_id = {goods_owner_id}
"""


@dataclass
class World:
    erp: FakeErp
    wms: OngoingSandbox
    runner: Runner
    state: DiskState

    async def run(self, *flows: Flow) -> dict[Flow, RunRecord]:
        results = await self.runner.run_once(flows=flows or None)
        return {Flow(r.flow): r for r in results["acme"]}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    erp = FakeErp()
    wms = OngoingSandbox()
    erp.add_product("P1", "Kahvi 500 g", weight_kg="0.5")
    erp.add_product("P2", "Tee 100 g")
    erp.add_order("O1", lines=[("1", "P1", 3, "9.90"), ("2", "P2", 2, "4.50")],
                  text_lines=[("3", "Ovikoodi 1234")], customer="Kahvila Oy")
    erp.add_order("O2", lines=[("1", "P2", 1, "4.50")])
    erp.add_purchase_order("PO1", rows=[("1", "P1", 10)])
    settings = wms.settings()
    monkeypatch.setenv("E2E_ERP_KEY", erp.api_key)
    monkeypatch.setenv("E2E_WMS_PASSWORD", settings["password"].get_secret_value())
    config_path = tmp_path / "erpsync.toml"
    config_path.write_text(CONFIG.format(erp_url=ERP_URL, wms_url=wms.base_url,
                                         username=settings["username"],
                                         goods_owner_id=settings["goods_owner_id"]))
    config = load_config(config_path, discover(select={"fake_erp", "ongoing_wms"}))
    state = DiskState(config.state_dir)
    with http.mount(ERP_URL, erp.app), http.mount(wms.base_url, wms.app):
        yield World(erp, wms, Runner(config, state, discover(select={"fake_erp",
                                                                       "ongoing_wms"})), state)
    state.close()


async def test_master_data_and_orders_arrive_in_ongoing(world: World) -> None:
    runs = await world.run(Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
    assert {f: r.outcome for f, r in runs.items()} == dict.fromkeys(runs, "ok")
    assert (runs[Flow.ARTICLES].written, runs[Flow.ORDERS].written,
            runs[Flow.PURCHASE_ORDERS].written) == (2, 2, 1)
    article = world.wms.article("P1")
    assert article["articleName"] == "Kahvi 500 g"
    order = world.wms.order("O1")
    assert [line["externalId"] for line in order["orderLines"]] == ["1", "2"]
    assert order["consignee"]["name"] == "Kahvila Oy"
    assert [t["comment"] for t in order["advanced"]["orderTextLines"]] == ["Ovikoodi 1234"]
    assert world.wms.purchase_order("PO1")["purchaseOrderInfo"]["purchaseOrderNumber"] == "PO1"

    again = await world.run(Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
    assert sum(r.written for r in again.values()) == 0, "an unchanged second run writes nothing"


async def test_an_order_the_warehouse_started_on_is_not_changed(world: World) -> None:
    await world.run(Flow.ARTICLES, Flow.ORDERS)
    world.wms.start_work(Flow.ORDERS, "O2")
    before = world.wms.order("O2")
    world.erp.tick(60)
    world.erp.change_order("O2", comment="please hurry")
    run = (await world.run(Flow.ORDERS))[Flow.ORDERS]
    assert (run.outcome, run.written, run.skipped) == ("ok", 0, 1)
    assert world.wms.order("O2") == before


async def test_a_partial_then_full_delivery_is_reported_twice_and_never_again(
    world: World,
) -> None:
    await world.run(Flow.ARTICLES, Flow.ORDERS)
    world.wms.ship("O1", {"1": Decimal(1)})
    first = (await world.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (first.outcome, first.written) == ("ok", 1)
    (report,) = world.erp.deliveries_reported("O1")
    assert {line["line_id"]: line["quantity"] for line in report["lines"]} == {"1": Decimal(1)}

    world.wms.ship("O1")
    await world.run(Flow.DELIVERIES)
    reports = world.erp.deliveries_reported("O1")
    assert len(reports) == 2
    assert {line["line_id"]: line["quantity"] for line in reports[1]["lines"]} == {
        "1": Decimal(2), "2": Decimal(2)}
    third = (await world.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert third.written == 0
    assert len(world.erp.deliveries_reported("O1")) == 2


async def test_receipts_stock_and_adjustments_flow_back(world: World) -> None:
    await world.run(Flow.ARTICLES, Flow.PURCHASE_ORDERS)
    world.wms.receive("PO1", {"1": Decimal(8)}, complete=True)
    receipts = (await world.run(Flow.RECEIPTS))[Flow.RECEIPTS]
    assert (receipts.outcome, receipts.written) == ("ok", 1)
    (receipt,) = world.erp.receipts_reported("PO1")
    assert receipt["complete"] is True
    assert [row["quantity"] for row in receipt["rows"]] == [Decimal(8)]

    world.wms.set_stock("P2", Decimal(5))
    stock = (await world.run(Flow.STOCK))[Flow.STOCK]
    assert stock.outcome == "ok"
    assert world.erp.stock_level("P2") == Decimal(5)
    assert world.erp.stock_level("P1") == Decimal(8), "received goods are in stock"
    assert (await world.run(Flow.STOCK))[Flow.STOCK].written == 0

    world.wms.adjust("P1", Decimal(-2), "damaged")
    adjustments = (await world.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS]
    assert (adjustments.outcome, adjustments.written) == ("ok", 1)
    assert [t["quantity"] for t in world.erp.stock_transactions()] == [Decimal(-2)]
    assert (await world.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS].written == 0
    assert len(world.erp.stock_transactions()) == 1


async def test_a_wrong_password_stops_the_goods_owner_with_a_clear_status(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_WMS_PASSWORD", "a-password-ongoing-refuses")
    registry = discover(select={"fake_erp", "ongoing_wms"})
    world.runner = Runner(load_config(world.runner.config.path, registry), world.state, registry)
    runs = await world.run(Flow.ARTICLES)
    assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
    assert world.wms.count(Flow.ARTICLES) == 0
    status = world.state.get_owner_status("acme")
    assert status is not None
    assert "password" in (status.message + (status.action or "")).lower()

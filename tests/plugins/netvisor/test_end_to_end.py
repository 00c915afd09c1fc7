"""Netvisor -> Ongoing WMS and back, end to end through the core runner (issue 5, "Tests").

A real config file (secrets by environment reference), real plugin discovery, the real runner
and disk state; the Netvisor and Ongoing WMS simulators served in-process with
:func:`erpsync.http.mount`. The Netvisor user's part is played through
:class:`NetvisorSandbox`'s control surface, the warehouse's through :class:`OngoingSandbox`'s.

The Netvisor simulator serves its undocumented warehouse-event read here
(``warehouse_event_report=True``, its choice C20): the plugin's adjustment lookup relies on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from erpsync_netvisor.client import Credentials, NetvisorAuth, NetvisorClient
from erpsync_netvisor.sandbox import (
    CommentLine,
    DeliveryAddress,
    NetvisorSandbox,
    ProductLine,
    PurchaseLine,
)
from erpsync_ongoing_wms.mapping import adjustment_event_id
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync import http
from erpsync.config import load_config
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.runner import Runner
from erpsync.state import DiskState, RunRecord
from tests.helpers import no_sleep, settings_toml_env

PLUGINS = frozenset({"netvisor", "ongoing_wms"})
OWNER = "kahvila"

COFFEE = "KAHVI-500"
COFFEE_NAME = "Kahvi Säätiö Öljypuu Å 500 g"
TEA = "TEE-100"
CUSTOMER = "ASIAKAS-1"
VENDOR = "Tukku Äijälä Oy"


@dataclass
class World:
    nv: NetvisorSandbox
    wms: OngoingSandbox
    runner: Runner
    state: DiskState
    order: str
    """The Netvisor order number (also the Ongoing order number)."""
    purchase_order: str

    async def run(self, *flows: Flow) -> dict[Flow, RunRecord]:
        results = await self.runner.run_once(flows=flows or None)
        return {Flow(r.flow): r for r in results[OWNER]}

    def line_keys(self) -> list[str]:
        """The order's product line keys in Netvisor, in order."""
        return [line["key"] for line in self.nv.order(self.order)["lines"]]

    def row_keys(self) -> list[str]:
        """The purchase order's product row keys in Netvisor, in order."""
        return [row["key"] for row in self.nv.purchase_order_rows(self.purchase_order)]

    def writes(self) -> tuple[int, int]:
        """Write calls so far: (Netvisor POSTs, Ongoing PUTs, PATCHes and DELETEs)."""
        return (self.nv.request_count(method="POST"),
                sum(self.wms.request_count(method=m) for m in ("PUT", "PATCH", "DELETE")))


def _seed(nv: NetvisorSandbox) -> tuple[str, str]:
    """A small Finnish company: two products, a customer, an order, a purchase order."""
    nv.add_product(COFFEE, COFFEE_NAME, unit_price=Decimal("9.90"), ean="6412345678903",
                   net_weight=Decimal("0.5"), gross_weight=Decimal("0.55"),
                   country_of_origin="FI", tariff_heading="09012100", group="Kahvit")
    nv.add_product(TEA, "Tee Mökkiläinen 100 g", unit_price=Decimal("4.50"))
    nv.add_customer(CUSTOMER, "Kahvila Höyry Oy", street="Kauppakatu 1", post_code="00100",
                    city="Helsinki", phone="+358401234567", email="tilaukset@hoyry.example")
    order = nv.add_order(
        CUSTOMER,
        [ProductLine(COFFEE, 3), CommentLine("Ovikoodi 1234, soita ennen"),
         ProductLine(TEA, 2), CommentLine("Kiitos tilauksesta!")],
        delivery_address=DeliveryAddress(name="Mökkikylä Oy", name_extension="Varasto B",
                                         line="Rantatie 5", post_code="13100",
                                         town="Hämeenlinna"),
        text_before="Toimitus aamulla", our_reference="Myyjä Åsa")
    purchase_order = nv.add_purchase_order(VENDOR, [PurchaseLine(COFFEE, 10),
                                                    PurchaseLine(TEA, 5)])
    return order, purchase_order


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(http, "_retry_sleep", no_sleep)
    nv = NetvisorSandbox(warehouse_event_report=True)
    wms = OngoingSandbox()
    order, purchase_order = _seed(nv)
    config_path = tmp_path / "erpsync.toml"
    config_path.write_text(
        'state_dir = "state"\n\n'
        f'[[goods_owners]]\nid = "{OWNER}"\n\n'
        '[goods_owners.erp]\nplugin = "netvisor"\n'
        + settings_toml_env("goods_owners.erp.settings", nv.settings(), "E2E_NV", monkeypatch)
        + '\n[goods_owners.wms]\nplugin = "ongoing_wms"\n'
        + settings_toml_env("goods_owners.wms.settings", wms.settings(), "E2E_WMS", monkeypatch),
        encoding="utf-8")
    registry = discover(select=PLUGINS)
    config = load_config(config_path, registry)
    state = DiskState(config.state_dir)
    with http.mount(nv.base_url, nv.app), http.mount(wms.base_url, wms.app):
        yield World(nv, wms, Runner(config, state, registry), state, order, purchase_order)
    state.close()


async def test_articles_orders_and_purchase_orders_arrive_in_ongoing(world: World) -> None:
    runs = await world.run(Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
    assert {flow: run.outcome for flow, run in runs.items()} == {
        Flow.ARTICLES: "ok", Flow.ORDERS: "ok", Flow.PURCHASE_ORDERS: "ok"}
    assert [runs[f].written for f in (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)] == [
        2, 1, 1]

    article = world.wms.article(COFFEE)
    assert article["articleName"] == COFFEE_NAME, "ä, ö and å arrive unchanged"
    assert article["barCodeInfo"]["barCode"] == "6412345678903"
    sent_article = world.wms.sent(Flow.ARTICLES, COFFEE)
    assert sent_article["productCode"] == world.nv.product(COFFEE)["key"]
    assert sent_article["netWeight"] == Decimal("0.5")
    assert sent_article["countryOfOriginCode"] == "FI"
    assert sent_article["statisticsNumber"] == "09012100"
    assert sent_article["articleGroup"]["name"] == "Kahvit"

    order = world.wms.order(world.order)
    sent_order = world.wms.sent(Flow.ORDERS, world.order)
    assert [(line["externalId"], line["articleNumber"], Decimal(line["numberOfItems"]))
            for line in sent_order["orderLines"]] == [
        (world.line_keys()[0], COFFEE, Decimal(3)), (world.line_keys()[1], TEA, Decimal(2))]
    assert [text["comment"] for text in order["advanced"]["orderTextLines"]] == [
        "Ovikoodi 1234, soita ennen", "Kiitos tilauksesta!"]
    consignee = order["consignee"]
    assert (consignee["name"], consignee["address1"], consignee["address2"],
            consignee["postCode"], consignee["city"], consignee["countryCode"]) == (
        "Mökkikylä Oy", "Rantatie 5", "Varasto B", "13100", "Hämeenlinna", "FI")
    assert consignee["customerNumber"] == CUSTOMER
    assert order["orderInfo"]["orderRemark"] == "Toimitus aamulla"
    assert order["orderInfo"]["referenceNumber"] == "Myyjä Åsa"
    assert order["orderInfo"]["goodsOwnerOrderId"] == world.nv.order(world.order)["key"]

    sent_po = world.wms.sent(Flow.PURCHASE_ORDERS, world.purchase_order)
    assert [(row["externalOrderLineId"], row["articleNumber"], Decimal(row["numberOfItems"]))
            for row in sent_po["purchaseOrderLines"]] == [
        (world.row_keys()[0], COFFEE, Decimal(10)), (world.row_keys()[1], TEA, Decimal(5))]
    assert sent_po["supplierInfo"]["supplierName"] == VENDOR


async def test_a_partial_then_full_delivery_is_reported_twice_never_a_third_time(
    world: World,
) -> None:
    await world.run(Flow.ARTICLES, Flow.ORDERS)
    coffee_line, tea_line = world.line_keys()
    world.wms.ship(world.order, {coffee_line: Decimal(1)})

    first = (await world.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (first.outcome, first.written) == ("ok", 1)
    assert world.nv.delivered(world.order) == {coffee_line: Decimal(1), tea_line: Decimal(0)}
    assert world.nv.order(world.order)["status"] == "undelivered", "a partial delivery"

    world.wms.ship(world.order)  # the rest
    second = (await world.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (second.outcome, second.written) == ("ok", 1)
    assert world.nv.delivered(world.order) == {coffee_line: Decimal(3), tea_line: Decimal(2)}
    assert world.nv.order(world.order)["status"] == "delivered"
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2
    recorded = world.nv.deliveries(world.order)

    third = (await world.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (third.outcome, third.written) == ("ok", 0)
    assert world.nv.delivered(world.order) == {coffee_line: Decimal(3), tea_line: Decimal(2)}
    assert world.nv.deliveries(world.order) == recorded
    assert world.nv.request_count("salesorderinvoicing.nv", "POST") == 2, "never a third time"


async def _delivery_status(world: World, number: str) -> str | None:
    """``OrderStatus@deliverystatus`` of a purchase order, read through the plugin's client."""
    settings = world.nv.settings()
    client = NetvisorClient(
        settings["base_url"],
        NetvisorAuth(Credentials(
            sender=settings["sender"], customer_id=settings["customer_id"],
            partner_id=settings["partner_id"], organisation_id=settings["organisation_id"],
            language=settings["language"],
            customer_key=settings["private_key"].get_secret_value(),
            partner_key=settings["partner_key"].get_secret_value())),
        zone=ZoneInfo("Europe/Helsinki"), rate_limit=http.RateLimit(requests=100, per=1.0))
    try:
        key = await client.find_purchase_order_key(number)
        assert key is not None
        po = await client.purchase_order(key)
    finally:
        await client.aclose()
    assert po is not None
    status = po.find("OrderStatus")
    return None if status is None else status.get("deliverystatus")


async def test_a_receipt_with_a_shortfall_shows_in_netvisor(world: World) -> None:
    await world.run(Flow.ARTICLES, Flow.PURCHASE_ORDERS)
    coffee_row, tea_row = world.row_keys()
    assert await _delivery_status(world, world.purchase_order) == "undelivered"
    world.wms.receive(world.purchase_order, {coffee_row: Decimal(8), tea_row: Decimal(5)},
                      complete=True)

    run = (await world.run(Flow.RECEIPTS))[Flow.RECEIPTS]
    assert (run.outcome, run.written) == ("ok", 1)
    assert world.nv.received(world.purchase_order) == {coffee_row: Decimal(8),
                                                       tea_row: Decimal(5)}
    rows = {row["key"]: row for row in world.nv.purchase_order_rows(world.purchase_order)}
    assert (rows[coffee_row]["ordered"], rows[coffee_row]["delivered"]) == (Decimal(10),
                                                                             Decimal(8))
    assert rows[coffee_row]["confirmed"], "the shortfall is confirmed: nothing more is to come"
    assert not rows[tea_row]["confirmed"], "a row received in full needs no confirmation"
    assert await _delivery_status(world, world.purchase_order) == "fullydelivered"
    assert world.nv.request_count("purchaseorder.nv", "POST") == 1

    again = (await world.run(Flow.RECEIPTS))[Flow.RECEIPTS]
    assert (again.outcome, again.written) == ("ok", 0)
    assert world.nv.request_count("purchaseorder.nv", "POST") == 1
    assert world.nv.received(world.purchase_order) == {coffee_row: Decimal(8),
                                                       tea_row: Decimal(5)}


async def test_an_adjustment_is_reported_once(world: World) -> None:
    await world.run(Flow.ARTICLES)
    world.wms.set_stock(COFFEE, 10)
    world.wms.adjust(COFFEE, Decimal(-2), "Rikkoutunut")
    (adjustment,) = world.wms.adjustments(COFFEE)
    event_id = adjustment_event_id(adjustment["inventoryId"], adjustment["articleSystemId"])

    run = (await world.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS]
    assert (run.outcome, run.written) == ("ok", 1)
    (event,) = world.nv.warehouse_events()
    assert event["reference"] == event_id
    assert [(line["event_type"], line["product"], line["quantity"])
            for line in event["lines"]] == [
        (world.nv.settings()["inventory_event_type"], COFFEE, Decimal(-2))]
    assert world.nv.product(COFFEE)["inventory"] == Decimal(-2)
    assert world.state.get_ledger(OWNER, Flow.ADJUSTMENTS.value, event_id) is not None

    again = (await world.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS]
    assert (again.outcome, again.written) == ("ok", 0)
    assert len(world.nv.warehouse_events()) == 1
    assert world.nv.request_count("warehouseevent.nv", "POST") == 1


async def test_a_blocked_resource_stops_the_goods_owner_and_says_where_to_allow_it(
    world: World,
) -> None:
    world.nv.block("productlist.nv")
    run = (await world.run(Flow.ARTICLES))[Flow.ARTICLES]
    assert run.outcome == "needs_reauthorisation"
    assert run.written == 0
    assert world.wms.count(Flow.ARTICLES) == 0
    status = world.state.get_owner_status(OWNER)
    assert status is not None
    told = status.message + " " + (status.action or "")
    assert "productlist.nv" in told
    assert "Rights of interface resources" in told, "where in Netvisor to allow it"
    assert world.state.get_cursor(OWNER, Flow.ARTICLES.value) is None

    world.nv.unblock("productlist.nv")
    after = (await world.run(Flow.ARTICLES))[Flow.ARTICLES]
    assert (after.outcome, after.written) == ("ok", 2)
    assert world.state.get_owner_status(OWNER) is None


async def test_an_unchanged_second_cycle_writes_nothing_on_either_side(world: World) -> None:
    first = await world.run()
    assert first, "the cycle ran flows"
    assert {flow: run.outcome for flow, run in first.items()} == dict.fromkeys(first, "ok")
    assert {Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
            Flow.ADJUSTMENTS} <= set(first)
    assert sum(run.written for run in first.values()) == 4  # 2 articles, 1 order, 1 PO

    coffee_line, _ = world.line_keys()
    coffee_row, _ = world.row_keys()
    world.wms.ship(world.order, {coffee_line: 2})
    world.wms.receive(world.purchase_order, {coffee_row: 10})
    world.wms.adjust(COFFEE, 3, "Inventaario")
    busy = await world.run()
    assert {flow: run.outcome for flow, run in busy.items()} == dict.fromkeys(busy, "ok")
    assert {flow: run.written for flow, run in busy.items()
            if flow in (Flow.DELIVERIES, Flow.RECEIPTS, Flow.ADJUSTMENTS)} == {
        Flow.DELIVERIES: 1, Flow.RECEIPTS: 1, Flow.ADJUSTMENTS: 1}

    writes = world.writes()
    delivered = world.nv.delivered(world.order)
    received = world.nv.received(world.purchase_order)
    quiet = await world.run()
    assert {flow: run.outcome for flow, run in quiet.items()} == dict.fromkeys(quiet, "ok")
    assert {flow: run.written for flow, run in quiet.items()} == dict.fromkeys(quiet, 0)
    assert world.writes() == writes, "no write call on either side"
    assert world.nv.delivered(world.order) == delivered
    assert world.nv.received(world.purchase_order) == received
    assert len(world.nv.warehouse_events()) == 1

"""PowerOffice Go -> Ongoing WMS and back, end to end through the core runner (issue 9, "Tests").

A real config file (secrets by environment reference), real plugin discovery, the real runner
and disk state; the PowerOffice Go and Ongoing WMS simulators served in-process with
:func:`erpsync.http.mount`. The Go user's part is played through
:class:`PowerOfficeSandbox`'s control surface, the warehouse's through :class:`OngoingSandbox`'s.

The PowerOffice simulator keeps its rate limit of 10 calls per sliding second per subscription
key (C3), so every test also runs under the plugin's pacer; the two-goods-owner test checks the
simulator's own counters for that key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from erpsync_ongoing_wms.sandbox import OngoingSandbox
from erpsync_poweroffice.sandbox import PowerOfficeSandbox, ProductLine, TextLine
from pydantic import SecretStr

from erpsync import http
from erpsync.config import load_config
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.runner import Runner
from erpsync.state import DiskState, RunRecord
from tests.helpers import no_sleep, settings_toml_env

PLUGINS = frozenset({"poweroffice", "ongoing_wms"})
OWNER = "kaffebrenneriet"
PAGE_SIZE = 100
"""The plugin's PageSize: few pages, so that the paced tests stay quick."""

COFFEE = "KAFFE-250"
COFFEE_NAME = "Kaffe Ærlig Øko 250 g"
TEA = "TE-100"
GROUP_NAME = "Kaffe og te"
GTIN = "7038010000011"

MAIL = {"AddressLine1": "Postboks 123", "AddressLine2": "Avd. Innkjøp", "ZipCode": "0150",
        "City": "Oslo", "CountryCode": "NO"}
STREET_A = {"AddressLine1": "Storgata 1", "AddressLine2": None, "ZipCode": "0155",
            "City": "Oslo", "CountryCode": "NO"}
STREET_B = {"AddressLine1": "Bryggen 7", "AddressLine2": "Bakgården", "ZipCode": "5003",
            "City": "Bergen", "CountryCode": "NO"}


def _config(path: Path, owners: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
            monkeypatch: pytest.MonkeyPatch, *, concurrency: int = 1) -> Path:
    """A config file of goods owners ``(id, PowerOffice settings, Ongoing settings)``."""
    text = f'state_dir = "state"\nconcurrency = {concurrency}\n'
    for n, (owner, erp, wms) in enumerate(owners):
        text += (f'\n[[goods_owners]]\nid = "{owner}"\n\n'
                 '[goods_owners.erp]\nplugin = "poweroffice"\n'
                 + settings_toml_env("goods_owners.erp.settings", erp, f"E2E_PO{n}", monkeypatch)
                 + '\n[goods_owners.wms]\nplugin = "ongoing_wms"\n'
                 + settings_toml_env("goods_owners.wms.settings", wms, f"E2E_WMS{n}",
                                  monkeypatch))
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class World:
    po: PowerOfficeSandbox
    wms: OngoingSandbox
    runner: Runner
    state: DiskState

    async def run(self, *flows: Flow, owner: str = OWNER) -> dict[Flow, RunRecord]:
        results = await self.runner.run_once(flows=flows or None)
        return {Flow(r.flow): r for r in results[owner]}

    def order_no(self, invoice_no: int) -> str:
        """The Go order number of an invoice: the Ongoing order number."""
        return str(self.po.invoice(invoice_no)["OrderNo"])

    def line_ids(self, invoice_no: int) -> list[str]:
        return [str(line["Id"]) for line in self.po.invoice(invoice_no)["Lines"]]

    def order_puts(self) -> int:
        return self.wms.request_count("PUT", "/orders")

    def stock_patches(self) -> int:
        return self.po.request_count("/v2/Products", "PATCH")


@dataclass(frozen=True)
class Company:
    """What :func:`_seed` made in one Go client."""

    mail_customer: int
    street_customer: int


def _seed(po: PowerOfficeSandbox, client: str | None = None) -> Company:
    """A small Norwegian coffee roaster: a group, two stock products, two customers (one with a
    mail address, one with only a delivery address)."""
    po.add_product_group("KAFFE", GROUP_NAME, client=client)
    po.add_product(COFFEE, COFFEE_NAME, group="KAFFE", unit_price=Decimal("59.90"),
                   unit_cost=Decimal("21.50"), gtin=GTIN, description="Lysbrent, økologisk",
                   unit="EA", stock_item=True, stock_on_hand=12, client=client)
    po.add_product(TEA, "Te fra Østlandet 100 g", unit_price=Decimal("39"), stock_item=True,
                   client=client)
    mail_customer = po.add_customer("Kafé Ærlig", legal_name="Kafé Ærlig AS",
                                    email="ordre@aerlig.example", phone="+47 900 00 001",
                                    mail_address=MAIL, delivery_address=STREET_A,
                                    client=client)
    street_customer = po.add_customer("Bakeriet på Bryggen", delivery_address=STREET_B,
                                      client=client)
    return Company(mail_customer, street_customer)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(http, "_retry_sleep", no_sleep)
    po = PowerOfficeSandbox(seed=9)
    wms = OngoingSandbox()
    config_path = _config(tmp_path / "erpsync.toml",
                          [(OWNER, po.settings() | {"page_size": PAGE_SIZE}, wms.settings())],
                          monkeypatch)
    registry = discover(select=PLUGINS)
    config = load_config(config_path, registry)
    state = DiskState(config.state_dir)
    with http.mount(po.base_url, po.app), http.mount(wms.base_url, wms.app):
        yield World(po, wms, Runner(config, state, registry), state)
    state.close()


async def test_products_arrive_as_articles_with_group_gtin_and_prices(world: World) -> None:
    _seed(world.po)
    run = (await world.run(Flow.ARTICLES))[Flow.ARTICLES]
    assert (run.outcome, run.written) == ("ok", 2)

    article = world.wms.article(COFFEE)
    assert article["articleName"] == COFFEE_NAME, "æ, ø and å arrive unchanged"
    assert article["barCodeInfo"]["barCode"] == GTIN
    sent = world.wms.sent(Flow.ARTICLES, COFFEE)
    assert sent["articleGroup"] == {"code": "KAFFE", "name": GROUP_NAME}, \
        "the group's name comes from the product groups resource"
    assert Decimal(sent["customerPrice"]) == Decimal("59.90")
    assert Decimal(sent["purchasePrice"]) == Decimal("21.50")
    assert sent["description"] == "Lysbrent, økologisk"
    assert sent["productCode"] == str(world.po.product(COFFEE)["Id"])
    tea = world.wms.sent(Flow.ARTICLES, TEA)
    assert tea["articleGroup"]["code"] == "1", "a product without a group is in Go's default"
    assert tea.get("purchasePrice") is None, "no cost price in Go: none guessed"

    again = (await world.run(Flow.ARTICLES))[Flow.ARTICLES]
    assert (again.outcome, again.written) == ("ok", 0)


async def test_an_invoice_is_synced_once_when_paid_never_while_unpaid_or_credited(
    world: World,
) -> None:
    company = _seed(world.po)
    mail_invoice = world.po.send_invoice(
        company.mail_customer,
        [ProductLine(COFFEE, 3, discount_percent=10), TextLine("Leveres bakdøren, takk!"),
         ProductLine(TEA, 2), TextLine("Ring før levering")],
        customer_reference="Kari Nordmann", delivery_term="FCA")
    street_invoice = world.po.send_invoice(company.street_customer, [ProductLine(TEA, 5)])
    credited_invoice = world.po.send_invoice(company.street_customer, [ProductLine(COFFEE, 1)])
    await world.run(Flow.ARTICLES)

    unpaid = (await world.run(Flow.ORDERS))[Flow.ORDERS]
    assert (unpaid.outcome, unpaid.written) == ("ok", 0), "no invoice is paid yet"
    assert world.wms.count(Flow.ORDERS) == 0

    world.po.register_payment(mail_invoice)
    world.po.register_payment(street_invoice)
    world.po.send_credit_note(credited_invoice)  # balance 0 too, but not paid
    paid = (await world.run(Flow.ORDERS))[Flow.ORDERS]
    assert (paid.outcome, paid.written) == ("ok", 2)
    assert world.wms.count(Flow.ORDERS) == 2, "the credited invoice is no order"
    with pytest.raises(KeyError):
        world.wms.order(world.order_no(credited_invoice))

    number = world.order_no(mail_invoice)
    coffee_id, _, tea_id, _ = world.line_ids(mail_invoice)
    order = world.wms.order(number)
    sent = world.wms.sent(Flow.ORDERS, number)
    assert [(line["externalId"], line["articleNumber"], Decimal(line["numberOfItems"]))
            for line in sent["orderLines"]] == [
        (coffee_id, COFFEE, Decimal(3)), (tea_id, TEA, Decimal(2))]
    coffee_prices = sent["orderLines"][0]["prices"]
    assert Decimal(coffee_prices["linePrice"]) == Decimal("179.70"), "3 x 59.90, before discount"
    assert Decimal(coffee_prices["discountPercentage"]) == Decimal(10), \
        "v2's Allowance is a percent"
    assert coffee_prices["currencyCode"] == "NOK"
    assert Decimal(coffee_prices["customerLinePrice"]) == Decimal("161.73")
    texts = order["advanced"]["orderTextLines"]
    assert [(text["comment"], Decimal(text["numberOfItems"])) for text in texts] == [
        ("Leveres bakdøren, takk!", Decimal(1)), ("Ring før levering", Decimal(1))]
    consignee = order["consignee"]
    assert (consignee["name"], consignee["address1"], consignee["address2"],
            consignee["postCode"], consignee["city"], consignee["countryCode"]) == (
        "Kafé Ærlig AS Kafé Ærlig", "Postboks 123", "Avd. Innkjøp", "0150", "Oslo", "NO"), \
        "the mail address, whole, when the customer has one"
    assert consignee["customerNumber"] == str(company.mail_customer)
    assert order["orderInfo"]["goodsOwnerOrderId"] == world.po.invoice(mail_invoice)["Id"]
    assert sent["productionCode"] == str(mail_invoice)

    street = world.wms.order(world.order_no(street_invoice))["consignee"]
    assert (street["name"], street["address1"], street["address2"], street["postCode"],
            street["city"], street["countryCode"]) == (
        "Bakeriet på Bryggen", "Bryggen 7", "Bakgården", "5003", "Bergen", "NO"), \
        "no mail address: the street/delivery address"

    puts = world.order_puts()
    later = (await world.run(Flow.ORDERS))[Flow.ORDERS]
    assert (later.outcome, later.written) == ("ok", 0), "a paid invoice is synced once"
    assert world.order_puts() == puts
    assert world.wms.count(Flow.ORDERS) == 2


async def test_stock_is_pushed_only_when_it_changed(world: World) -> None:
    _seed(world.po)
    world.po.add_product("TJENESTE", "Kaffekurs", product_type="Service")
    await world.run(Flow.ARTICLES)
    world.wms.set_stock(COFFEE, 12)  # what Go already holds
    world.wms.set_stock(TEA, 5)

    first = (await world.run(Flow.STOCK))[Flow.STOCK]
    assert first.outcome == "ok"
    assert world.stock_patches() == 1, "only the tea differed from Go"
    assert world.po.stock_on_hand(TEA) == Decimal(5)
    assert world.po.stock_writes(COFFEE) == 0
    assert world.po.stock_on_hand(COFFEE) == Decimal(12)

    second = (await world.run(Flow.STOCK))[Flow.STOCK]
    assert (second.outcome, second.written) == ("ok", 0)
    assert world.stock_patches() == 1, "nothing changed: no PATCH"

    world.wms.set_stock(COFFEE, 7)
    third = (await world.run(Flow.STOCK))[Flow.STOCK]
    assert third.outcome == "ok"
    assert world.stock_patches() == 2, "exactly one PATCH for the one changed balance"
    assert world.po.stock_on_hand(COFFEE) == Decimal(7)
    assert world.po.stock_writes(COFFEE) == 1
    assert world.po.stock_on_hand(TEA) == Decimal(5)
    assert world.po.product(COFFEE)["StockOnHand"] == 7


async def test_two_goods_owners_on_one_subscription_key_share_its_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http, "_retry_sleep", no_sleep)
    po = PowerOfficeSandbox(seed=9)
    assert po.rate_limit == 10, "the simulator throttles at the vendor's limit"
    wms = OngoingSandbox()
    wms.add_user("lager-to", "passord-to", 160, goods_owner_name="Bakeriet")
    second_client = po.add_client("demo", name="Bakeriet AS")
    owners = {OWNER: None, "bakeriet": second_client}
    settings = po.settings() | {"page_size": PAGE_SIZE}
    for client in owners.values():
        company = _seed(po, client)
        for customer in 2 * (company.mail_customer, company.street_customer):
            invoice = po.send_invoice(customer, [ProductLine(COFFEE, 2), TextLine("Takk!")],
                                      client=client)
            po.register_payment(invoice, client=client)
    wms_two = wms.settings() | {"username": "lager-to", "password": SecretStr("passord-to"),
                                "goods_owner_id": 160}
    config_path = _config(tmp_path / "erpsync.toml", [
        (OWNER, settings, wms.settings()),
        ("bakeriet", settings | {"client_key": SecretStr(second_client)}, wms_two),
    ], monkeypatch, concurrency=2)
    registry = discover(select=PLUGINS)
    config = load_config(config_path, registry)
    assert config.concurrency == 2
    state = DiskState(config.state_dir)
    try:
        with http.mount(po.base_url, po.app), http.mount(wms.base_url, wms.app):
            results = await Runner(config, state, registry).run_once()
    finally:
        state.close()

    assert set(results) == set(owners)
    for owner, runs in results.items():
        by_flow = {Flow(run.flow): run for run in runs}
        assert {flow: run.outcome for flow, run in by_flow.items()} == dict.fromkeys(
            by_flow, "ok"), owner
        assert (by_flow[Flow.ARTICLES].written, by_flow[Flow.ORDERS].written) == (2, 4), owner
    assert wms.count(Flow.ORDERS) == 4
    assert wms.count(Flow.ORDERS, goods_owner_id=160) == 4
    assert wms.article(COFFEE, goods_owner_id=160)["articleName"] == COFFEE_NAME

    key = po.subscription_key["demo"]
    assert po.request_count() > 2 * po.rate_limit, \
        "the cycle needed more calls than one second allows"
    assert po.throttled(key) == 0, "no 429 drawn"
    assert po.request_count(status=429) == 0
    assert 0 < po.peak_rate(key) <= 10

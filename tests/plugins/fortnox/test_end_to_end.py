"""Fortnox -> Ongoing WMS and back, end to end through the core runner (issue 8, "Tests").

A real config file (secrets by environment reference), real plugin discovery, the real runner
and disk state; the Fortnox and Ongoing WMS simulators served in-process with
:func:`erpsync.http.mount`. The Fortnox user's part is played through
:class:`FortnoxSandbox`'s control surface, the warehouse's through :class:`OngoingSandbox`'s.

Two tenants: a classic one (stock balance on the article; the authorisation code flow, its
pair seeded as ``erpsync authorize`` leaves it, so a refresh rotates it) and one with the
warehouse module (client credentials: warehouse-ready, custom documents, purchase orders with
incoming goods). The Fortnox simulator keeps its rate limit of 25 calls per 5 seconds, so every
test also runs under the plugin's pacer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from erpsync_fortnox.sandbox import FortnoxSandbox, OrderRow
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync import http
from erpsync.config import load_config
from erpsync.errors import ConfigError
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.runner import Runner
from erpsync.state import DiskState, OwnerStatus, RunRecord
from tests.helpers import no_sleep, settings_toml_env

PLUGINS = frozenset({"fortnox", "ongoing_wms"})
OWNER = "kafferosteriet"

COFFEE = "KAFFE-500"
COFFEE_NAME = "Kaffe Mörkrost Ärlig 500 g"
TEA = "TE-100"
CLASSIC_FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.DELIVERIES, Flow.STOCK)
MODULE_FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
                Flow.ADJUSTMENTS)
"""A goods owner's default flows: those both plugins offer and switch on (the Ongoing WMS
plugin keeps no supplier register; the Fortnox plugin's processes follow the module)."""


@dataclass
class World:
    fx: FortnoxSandbox
    wms: OngoingSandbox
    runner: Runner
    state: DiskState

    async def run(self, *flows: Flow) -> dict[Flow, RunRecord]:
        results = await self.runner.run_once(flows=flows or None)
        return {Flow(r.flow): r for r in results[OWNER]}

    def outcomes(self, runs: Mapping[Flow, RunRecord]) -> dict[Flow, str]:
        return {flow: f"{run.outcome}: {run.message}" if run.message else run.outcome
                for flow, run in runs.items()}


def _seed(fx: FortnoxSandbox, *, stock: bool = False) -> str:
    """A small Swedish coffee roaster: a supplier, two articles, a company customer."""
    supplier = fx.add_supplier("Rosteriet i Göteborg AB", address1="Hamngatan 4",
                               zip_code="41106", city="Göteborg", country="Sverige")
    fx.add_article(COFFEE, COFFEE_NAME, ean="7310000000017", width=Decimal(120),
                   height=Decimal(200), depth=Decimal(80), weight=Decimal(510),
                   purchase_price=Decimal("41.50"), unit="st", note="Ekologiskt",
                   supplier_number=supplier, quantity=Decimal(40))
    fx.add_article(TEA, "Te Grönt 100 g", quantity=Decimal(40))
    if stock:
        fx.set_warehouse_stock(COFFEE, Decimal(40))
        fx.set_warehouse_stock(TEA, Decimal(40))
    return fx.add_customer("Kafé Ängen AB", kind="COMPANY", city="Östersund",
                           country="Sverige")


def _config(path: Path, fx: FortnoxSandbox, wms: OngoingSandbox,
            monkeypatch: pytest.MonkeyPatch, flows: Sequence[str] | None = None) -> Path:
    """A config of one goods owner; its flows the default unless ``flows`` names them."""
    listed = "" if flows is None else f"flows = {json.dumps(list(flows))}\n"
    path.write_text(
        'state_dir = "state"\n\n'
        f'[[goods_owners]]\nid = "{OWNER}"\n{listed}\n'
        '[goods_owners.erp]\nplugin = "fortnox"\n'
        + settings_toml_env("goods_owners.erp.settings", fx.settings(), "E2E_FX", monkeypatch)
        + '\n[goods_owners.wms]\nplugin = "ongoing_wms"\n'
        + settings_toml_env("goods_owners.wms.settings", wms.settings(), "E2E_WMS", monkeypatch),
        encoding="utf-8")
    return path


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fx: FortnoxSandbox,
           flows: Sequence[Flow]) -> Iterator[World]:
    monkeypatch.setattr(http, "_retry_sleep", no_sleep)
    wms = OngoingSandbox()
    registry = discover(select=PLUGINS)
    config = load_config(_config(tmp_path / "erpsync.toml", fx, wms, monkeypatch), registry)
    assert config.owner(OWNER).flows == flows, "the default flows follow the module"
    state = DiskState(config.state_dir)
    if fx.auth_mode == "authorization_code":
        # What `erpsync authorize` leaves in the store: the pair of a consent.
        state.save_credentials(OWNER, "fortnox:oauth", dict(fx.issue_tokens()))
    with http.mount(fx.base_url, fx.app), http.mount(wms.base_url, wms.app):
        yield World(fx, wms, Runner(config, state, registry), state)
    state.close()


@pytest.fixture
def classic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _world(tmp_path, monkeypatch, FortnoxSandbox(auth_mode="authorization_code"),
                      CLASSIC_FLOWS)


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _world(tmp_path, monkeypatch, FortnoxSandbox(warehouse_module=True),
                      MODULE_FLOWS)


# --- classic ------------------------------------------------------------------------------------


async def test_registries_and_an_order_arrive_in_ongoing(classic: World) -> None:
    customer = _seed(classic.fx)
    number = classic.fx.add_order(customer, [OrderRow(COFFEE, 3), OrderRow(TEA, 2)],
                                  remarks="Lämnas vid porten", YourOrderNumber="PO-77")
    runs = await classic.run(Flow.ARTICLES, Flow.ORDERS)
    assert classic.outcomes(runs) == dict.fromkeys(runs, "ok")
    assert [runs[f].written for f in (Flow.ARTICLES, Flow.ORDERS)] == [2, 1]

    article = classic.wms.article(COFFEE)
    assert article["articleName"] == COFFEE_NAME, "Description is the name; å, ä, ö arrive"
    sent = classic.wms.sent(Flow.ARTICLES, COFFEE)
    assert sent["description"] == "Ekologiskt", "Note is the description"
    assert (Decimal(sent["width"]), Decimal(sent["height"]), Decimal(sent["length"])) == (
        Decimal("0.12"), Decimal("0.2"), Decimal("0.08")), "millimetres become metres"
    assert Decimal(sent["weight"]) == Decimal("0.51"), "grams become kilograms"
    assert sent["isStockArticle"] is True
    assert Decimal(sent["purchasePrice"]) == Decimal("41.50")

    order = classic.wms.order(str(number))
    consignee = order["consignee"]
    assert (consignee["name"], consignee["city"], consignee["countryCode"]) == (
        "Kafé Ängen AB", "Östersund", "SE"), "Sverige becomes SE"
    assert order["orderInfo"]["orderRemark"] == "Lämnas vid porten"
    lines = classic.wms.sent(Flow.ORDERS, str(number))["orderLines"]
    assert [(line["externalId"], line["articleNumber"], Decimal(line["numberOfItems"]))
            for line in lines] == [("1", COFFEE, Decimal(3)), ("2", TEA, Decimal(2))]

    again = await classic.run(Flow.ARTICLES, Flow.ORDERS)
    assert {flow: run.written for flow, run in again.items()} == dict.fromkeys(again, 0)


async def test_full_and_partial_fulfilment_one_invoice_each_and_a_back_order(
    classic: World,
) -> None:
    customer = _seed(classic.fx)
    full = classic.fx.add_order(customer, [OrderRow(COFFEE, 2)])
    partial = classic.fx.add_order(customer, [OrderRow(COFFEE, 3), OrderRow(TEA, 2)])
    await classic.run(Flow.ARTICLES, Flow.ORDERS)
    classic.wms.ship(str(full))
    classic.wms.ship(str(partial), {"1": Decimal(1), "2": Decimal(2)})

    runs = await classic.run(Flow.DELIVERIES)
    assert classic.outcomes(runs) == {Flow.DELIVERIES: "ok"}
    assert runs[Flow.DELIVERIES].written == 2
    assert [len(classic.fx.invoices_of(n)) for n in (full, partial)] == [1, 1]
    rows = classic.fx.order(partial)["OrderRows"]
    assert [(r["ArticleNumber"], Decimal(r["DeliveredQuantity"])) for r in rows] == [
        (COFFEE, Decimal(1)), (TEA, Decimal(2))]
    (back_order,) = classic.fx.back_orders(partial)
    assert classic.fx.back_orders(full) == []
    back_rows = classic.fx.order(back_order)["OrderRows"]
    assert [(r["ArticleNumber"], Decimal(r["OrderedQuantity"])) for r in back_rows] == [
        (COFFEE, Decimal(2))], "the undelivered rest"

    later = await classic.run(Flow.ORDERS, Flow.DELIVERIES)
    assert classic.outcomes(later) == dict.fromkeys(later, "ok")
    assert later[Flow.ORDERS].written == 1, "the back order reaches the warehouse"
    assert classic.wms.order(str(back_order))["orderLines"][0]["orderedNumberOfItems"] == 2
    assert later[Flow.DELIVERIES].written == 0
    assert [len(classic.fx.invoices_of(n)) for n in (full, partial)] == [1, 1], \
        "never a second invoice"


async def test_a_cancelled_order_is_cancelled_in_the_warehouse(classic: World) -> None:
    customer = _seed(classic.fx)
    number = classic.fx.add_order(customer, [OrderRow(COFFEE, 1)])
    await classic.run(Flow.ARTICLES, Flow.ORDERS)
    classic.fx.cancel_order(number)
    run = (await classic.run(Flow.ORDERS))[Flow.ORDERS]
    assert (run.outcome, run.written) == ("ok", 1)
    assert classic.wms.order(str(number))["orderInfo"]["orderStatus"]["number"] == 1000, \
        "1000 Cancelled"


async def test_stock_is_written_on_the_article_after_a_token_refresh(classic: World) -> None:
    _seed(classic.fx)
    await classic.run(Flow.ARTICLES)
    before = classic.state.load_credentials(OWNER, "fortnox:oauth")
    assert before is not None
    classic.fx.expire_access_tokens()  # Fortnox answers 401 to the stored access token
    classic.wms.set_stock(COFFEE, 17)
    classic.wms.set_stock(TEA, 40)  # what Fortnox holds already
    run = (await classic.run(Flow.STOCK))[Flow.STOCK]
    assert run.outcome == "ok", run.message
    assert classic.fx.stock_level(COFFEE) == Decimal(17)
    after = classic.state.load_credentials(OWNER, "fortnox:oauth")
    assert after is not None and after["refresh_token"] != before["refresh_token"], \
        "the refresh rotated the pair and the new one is stored"
    assert classic.fx.refresh_tokens_alive() == 1, "one chain"
    writes = classic.fx.stock_writes(COFFEE)
    again = (await classic.run(Flow.STOCK))[Flow.STOCK]
    assert (again.outcome, again.written) == ("ok", 0)
    assert classic.fx.stock_writes(COFFEE) == writes


class _Notices:
    """The runner's notifier, recording what it would send (the webhook and e-mail themselves
    are tested with the core)."""

    def __init__(self) -> None:
        self.sent: list[OwnerStatus] = []

    async def send(self, status: OwnerStatus) -> None:
        self.sent.append(status)


async def test_a_revoked_integration_stops_at_once_notifies_once_and_is_reauthorised(
    classic: World,
) -> None:
    notices = _Notices()
    classic.runner.notifier = notices  # type: ignore[assignment]
    _seed(classic.fx)
    assert {r.outcome for r in (await classic.run()).values()} == {"ok"}
    classic.fx.revoke_integration()  # "the integration stopped working" (seed 002)

    runs = await classic.run()
    assert list(runs) == [Flow.ARTICLES], "no other flow is tried against a dead token"
    assert runs[Flow.ARTICLES].outcome == "needs_reauthorisation"
    status = classic.state.get_owner_status(OWNER)
    assert status is not None and status.action == f"erpsync authorize {OWNER}"
    calls = classic.fx.request_count()
    owner = classic.runner.config.owner(OWNER)
    assert await classic.runner.run_owner(owner, scheduled=True) == []
    assert classic.fx.request_count() == calls, "the schedule makes no call for it"
    await classic.run()  # run by hand before re-authorising: refused again, no second notice
    assert [n.goods_owner for n in notices.sent] == [OWNER]

    # Reactivation: the Fortnox user consents again (what `erpsync authorize` drives).
    erp = classic.runner.registry.erp(owner.erp_plugin, owner.erp_settings)
    url = erp.authorization_url(classic.fx.redirect_uri, "again")
    assert url is not None
    scopes = dict(parse_qsl(urlsplit(url).query))["scope"].split()
    code = classic.fx.authorize_code(classic.fx.client_id, classic.fx.redirect_uri, scopes,
                                     "again")
    assert await classic.runner.complete_authorization(owner, code, classic.fx.redirect_uri)
    assert classic.state.get_owner_status(OWNER) is None
    assert {r.outcome for r in (await classic.run()).values()} == {"ok"}
    assert len(notices.sent) == 1


def test_a_config_naming_a_module_flow_for_a_classic_tenant_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path / "erpsync.toml", FortnoxSandbox(), OngoingSandbox(), monkeypatch,
                   flows=["articles", "adjustments"])
    with pytest.raises(ConfigError, match="adjustments"):
        load_config(path, discover(select=PLUGINS))


# --- the warehouse module ---------------------------------------------------------------------


async def test_module_fulfilment_sets_warehouse_ready_and_invoices(module: World) -> None:
    customer = _seed(module.fx, stock=True)
    full = module.fx.add_order(customer, [OrderRow(COFFEE, 2)])
    partial = module.fx.add_order(customer, [OrderRow(COFFEE, 4), OrderRow(TEA, 1)])
    await module.run(Flow.ARTICLES, Flow.ORDERS)
    module.wms.ship(str(full))
    module.wms.ship(str(partial), {"1": Decimal(3), "2": Decimal(1)})
    runs = await module.run(Flow.DELIVERIES)
    assert module.outcomes(runs) == {Flow.DELIVERIES: "ok"}
    for number in (full, partial):
        order = module.fx.order(number)
        assert order["WarehouseReady"] is True
        assert len(module.fx.invoices_of(number)) == 1
    (back_order,) = module.fx.back_orders(partial)
    assert [(r["ArticleNumber"], Decimal(r["OrderedQuantity"]))
            for r in module.fx.order(back_order)["OrderRows"]] == [(COFFEE, Decimal(1))]
    assert module.fx.stock_level(COFFEE) == Decimal(35), "40 - 2 - 3 left the warehouse"
    again = (await module.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (again.outcome, again.written) == ("ok", 0)


async def test_adjustments_become_custom_documents_once_each(module: World) -> None:
    _seed(module.fx, stock=True)
    await module.run(Flow.ARTICLES)
    module.wms.set_stock(COFFEE, 20)
    module.wms.adjust(COFFEE, 3, "Inventering")
    module.wms.adjust(COFFEE, -2, "Trasig")
    module.wms.adjust(TEA, 1, "Retur order 12")
    run = (await module.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS]
    assert (run.outcome, run.written) == ("ok", 3), run.message
    documents = module.fx.custom_documents()
    kinds = sorted((d.get("type") or d.get("referenceType"), d["rows"][0]["itemId"],
                    Decimal(str(d["rows"][0]["quantity"])), d["warehouseReady"])
                   for d in documents)
    assert kinds == [
        ("ONGOINGINBOUNDINVENTORY", COFFEE, Decimal(3), True),
        ("ONGOINGINBOUNDRETURN", TEA, Decimal(1), True),
        ("ONGOINGOUTBOUNDINVENTORY", COFFEE, Decimal(2), True),
    ]
    assert module.fx.stock_level(COFFEE) == Decimal(41), "40 + 3 - 2"
    again = (await module.run(Flow.ADJUSTMENTS))[Flow.ADJUSTMENTS]
    assert (again.outcome, again.written) == ("ok", 0)
    assert len(module.fx.custom_documents()) == 3


async def test_a_purchase_order_received_in_two_parts_then_completed(module: World) -> None:
    _seed(module.fx, stock=True)
    supplier = module.fx.add_supplier("Grossisten AB", country="Sverige")
    po = module.fx.add_purchase_order(supplier, [(COFFEE, Decimal(10)), (TEA, Decimal(5))],
                                      note="Leverans till port 3")
    runs = await module.run(Flow.ARTICLES, Flow.PURCHASE_ORDERS)
    assert module.outcomes(runs) == dict.fromkeys(runs, "ok")
    sent = module.wms.sent(Flow.PURCHASE_ORDERS, str(po))
    assert [(row["articleNumber"], Decimal(row["numberOfItems"]))
            for row in sent["purchaseOrderLines"]] == [(COFFEE, Decimal(10)), (TEA, Decimal(5))]

    module.wms.receive(str(po), {"1": Decimal(4)})
    first = (await module.run(Flow.RECEIPTS))[Flow.RECEIPTS]
    assert (first.outcome, first.written) == ("ok", 1), first.message
    (goods,) = module.fx.incoming_goods(po)
    assert goods["released"] and goods["completed"]
    assert module.fx.purchase_order(po)["purchaseOrderState"] == "SENT", "not complete yet"

    module.wms.receive(str(po), {"1": Decimal(5), "2": Decimal(5)}, complete=True)
    second = (await module.run(Flow.RECEIPTS))[Flow.RECEIPTS]
    assert (second.outcome, second.written) == ("ok", 1), second.message
    documents = module.fx.incoming_goods(po)
    assert len(documents) == 2, "each partial receipt has incoming goods of its own"
    assert all(d["released"] and d["completed"] for d in documents)
    received = module.fx.purchase_order(po)
    assert [(r["itemId"], Decimal(str(r["receivedQuantity"]))) for r in received["rows"]] == [
        (COFFEE, Decimal(9)), (TEA, Decimal(5))]
    assert received["manuallyCompleted"] is True, \
        "the warehouse closed it short (Deflection): completed"
    assert module.fx.stock_level(COFFEE) == Decimal(49)

    again = (await module.run(Flow.RECEIPTS, Flow.PURCHASE_ORDERS))
    assert {flow: run.written for flow, run in again.items()} == dict.fromkeys(again, 0)
    assert len(module.fx.incoming_goods(po)) == 2


async def test_a_delivery_fortnox_lager_cannot_cover_stops_before_warehouse_ready(
    module: World,
) -> None:
    customer = _seed(module.fx, stock=True)
    module.fx.set_warehouse_stock(TEA, Decimal(1))
    number = module.fx.add_order(customer, [OrderRow(TEA, 3)])
    await module.run(Flow.ARTICLES, Flow.ORDERS)
    module.wms.set_stock(TEA, 10)
    module.wms.ship(str(number))
    run = (await module.run(Flow.DELIVERIES))[Flow.DELIVERIES]
    assert (run.outcome, run.dead_lettered) == ("partial", 1)
    (letter,) = module.state.dead_letters()
    assert letter.business_key == str(number)
    assert "did not keep the delivered quantities" in letter.message
    order = module.fx.order(number)
    assert order["WarehouseReady"] is False, "not locked with nothing delivered"
    assert module.fx.invoices_of(number) == []

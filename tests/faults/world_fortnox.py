"""One goods owner's Fortnox world for the fault suite, with the same interface as the Netvisor
world (:class:`tests.faults.world.World`): the Fortnox and Ongoing WMS simulators served by
uvicorn on loopback ports behind :class:`Chaos` (or mounted in-process), a real config file
with the client secret referenced from the environment, the token pair of a consent in the
state store (as ``erpsync authorize`` leaves it), and an end-state snapshot of both simulators.

The tenant has the warehouse module (Fortnox Lager), so every way back of seed 002 is here:
fulfilment (delivered quantities, warehouse-ready, one invoice), receipts (incoming goods,
released and completed; the purchase order completed) and inventory changes (custom
documents); the authorisation is the code flow with its single-use rotating refresh token.

Fortnox allows 25 calls per 5 seconds per client id and tenant and the plugin paces itself to
24 (https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api), so
every Fortnox call costs about 0.2 s of wall time: the world is small (three articles, two
orders, one purchase order, one adjustment) and made the day before, so that a cycle after a
finished inbound flow lists nothing new (``lastmodified``). The simulator keeps the vendor's
limit; nothing here changes the plugin's pace.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from erpsync_fortnox.sandbox import FortnoxSandbox, OrderRow
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync.demo import LoopbackServer, _local, owner_toml
from erpsync.models import Flow
from erpsync.state import DiskState
from tests.faults.world import OWNER, Chaos, ServedWorld, _settings_toml

PLUGINS = frozenset({"fortnox", "ongoing_wms"})
CREDENTIALS = "fortnox:oauth"
"""The plugin's token pair in the state store (``ctx.credentials("oauth")``)."""
ARTICLES = [  # number, description: Swedish, Norwegian and Danish letters
    ("KAFFE-500", "Kaffe Mörkrost Ärlig 500 g"),
    ("TE-100", "Te Grönt Åsa 100 g"),
    ("BRUNOST-1", "Brunost Ørsta Æblegård"),
]
IN_STOCK = Decimal(40)
"""Each article's stock in Fortnox Lager before the warehouse's work."""
MADE = timedelta(days=1)
"""The seed is made this long before the run: outside the runner's overlap window."""
GATEWAY_429 = {"message": "API rate limit exceeded"}
"""Fortnox's answer over the rate limit, with ``Retry-After``
(https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api)."""


@dataclass(kw_only=True)
class FxWorld(ServedWorld):
    """The Fortnox world: three articles of one supplier, a company customer with two orders
    (two rows and one row), a purchase order of two rows."""

    erp_name: ClassVar[str] = "fortnox"
    plugins: ClassVar[frozenset[str]] = PLUGINS
    reports_events: ClassVar[bool] = True
    wms_list: ClassVar[str] = "/orders"
    fx: FortnoxSandbox
    purchase_orders: list[str] = field(default_factory=list)

    @property
    def erp(self) -> FortnoxSandbox:
        return self.fx

    @property
    def erp_base_url(self) -> str:
        return self.fx.base_url

    def inbound(self) -> dict[Flow, int]:
        return {Flow.ARTICLES: len(ARTICLES), Flow.ORDERS: len(self.orders),
                Flow.PURCHASE_ORDERS: len(self.purchase_orders)}

    def play_the_warehouse(self) -> None:
        """Ship both orders in full; receive the purchase order one short per row and close it
        (Deflection: the plugin completes it in Fortnox); count one more of the first article
        (an inventory adjustment)."""
        for number in self.orders:
            self.wms.ship(number)
        self.wms.receive(self.purchase_orders[0], {"1": Decimal(9), "2": Decimal(5)},
                         complete=True)
        self.wms.adjust(ARTICLES[0][0], Decimal(3), "Inventering")

    def tokens(self) -> dict[str, str]:
        """Every access and refresh token the simulator holds now (to look for leaks)."""
        fx = self.fx
        return {f"token {n}": token
                for n, token in enumerate(sorted({*fx._access, *fx._refresh}))}

    def fail_share(self, share: float, kinds: Sequence[str], *, seed: int, limit: int,
                   delay: float = 0.0) -> None:
        """A share of Fortnox's API answers broken (see :meth:`Chaos.arm_share`); statuses are
        the simulator's own :meth:`~FortnoxSandbox.fail_next` answers (a 429 with the
        gateway's body and ``Retry-After``, 5xx with an ErrorInformation). The OAuth server
        is left alone: a refresh answer lost on the way is the one window no client can close
        (core/erpsync/oauth.py), and no token is due in these runs."""

        def status(code: int, path: str) -> None:
            if code == 429:
                self.fx.fail_next(1, 429, GATEWAY_429, path=path, headers={"Retry-After": "2"})
            else:
                self.fx.fail_next(1, code, path=path)

        self.erp_chaos.arm_share(share, kinds, rng=random.Random(seed), limit=limit,
                                 status=status, delay=delay)

    def snapshot(self) -> dict[str, Any]:
        """What a person would check on both sides, without ids or times."""
        fx, wms = self.fx, self.wms
        articles = {}
        for number, _ in ARTICLES:
            try:
                articles[number] = (wms.article(number)["articleName"],)
            except KeyError:
                continue
        orders = {}
        for number in self.orders:
            try:
                order = wms.order(number)
            except KeyError:
                continue
            orders[number] = [(line["article"]["articleNumber"],
                               str(line["orderedNumberOfItems"]),
                               str(line.get("reportedNumberOfItems")))
                              for line in order["orderLines"]]
        pos = {}
        for number in self.purchase_orders:
            try:
                po = wms.purchase_order(number)
            except KeyError:
                continue
            pos[number] = [(line["article"]["articleNumber"], str(line["advisedNumberOfItems"]),
                            str(line.get("reportedNumberOfItems")))
                           for line in po["purchaseOrderLines"]]
        documents = Counter(
            f"{d.get('type') or d.get('referenceType')} {d['rows'][0]['itemId']} "
            f"{Decimal(str(d['rows'][0]['quantity']))} ready={d['warehouseReady']}"
            for d in fx.custom_documents())
        return {
            "wms_articles": articles,
            "wms_orders": orders,
            "wms_purchase_orders": pos,
            "wms_order_count": wms.count("orders"),
            "wms_adjustments": sorted((a["articleNumber"], str(a["numberOfItems"]),
                                       a["reported"]) for a in wms.adjustments()),
            "fx_delivered": {n: [(row["ArticleNumber"], str(Decimal(row["DeliveredQuantity"])))
                                 for row in fx.order(int(n))["OrderRows"]]
                             for n in self.orders},
            "fx_warehouse_ready": {n: fx.order(int(n))["WarehouseReady"] for n in self.orders},
            "fx_invoices": {n: len(fx.invoices_of(int(n))) for n in self.orders},
            "fx_back_orders": {n: len(fx.back_orders(int(n))) for n in self.orders},
            "fx_received": {n: [(row["itemId"], str(Decimal(str(row["receivedQuantity"]))))
                                for row in fx.purchase_order(int(n))["rows"]]
                            for n in self.purchase_orders},
            "fx_purchase_order_done": {n: fx.purchase_order(int(n))["manuallyCompleted"]
                                       for n in self.purchase_orders},
            "fx_incoming_goods": {n: len(fx.incoming_goods(int(n)))
                                  for n in self.purchase_orders},
            "fx_incoming_booked": sorted((bool(g["released"]), bool(g["completed"]))
                                         for g in fx.incoming_goods()),
            "fx_custom_documents": dict(documents),
            "fx_stock": {number: str(fx.stock_level(number)) for number, _ in ARTICLES},
        }


def seed(fx: FortnoxSandbox) -> tuple[list[str], list[str]]:
    """Three articles, a company customer, two orders, a purchase order, all made
    :data:`MADE` ago; the order numbers and the purchase order's id."""
    at = datetime.now(UTC) - MADE
    supplier = fx.add_supplier("Grossisten Åhlén & Søn AB", address1="Hamngatan 4",
                               zip_code="41106", city="Göteborg", country="Sverige", at=at)
    for n, (number, name) in enumerate(ARTICLES):
        fx.add_article(number, name, at=at, ean=f"731000000001{n}", weight=Decimal(510),
                       purchase_price=Decimal("41.50"), supplier_number=supplier,
                       quantity=IN_STOCK)
    customer = fx.add_customer("Kafé Ängen AB", city="Östersund", country="Sverige", at=at)
    orders = [
        fx.add_order(customer, [OrderRow(ARTICLES[0][0], 3), OrderRow(ARTICLES[1][0], 2)],
                     at=at, remarks="Lämnas vid porten, fråga efter Åsa"),
        fx.add_order(customer, [OrderRow(ARTICLES[2][0], 4)], at=at),
    ]
    po = fx.add_purchase_order(supplier, [(ARTICLES[0][0], Decimal(10)),
                                          (ARTICLES[2][0], Decimal(6))], at=at)
    return [str(n) for n in orders], [str(po)]


def make_fx_world(folder: Path, *, extra_erp: str = "", seeded: bool = True,
                  serve: bool = True, fx: FortnoxSandbox | None = None,
                  wms: OngoingSandbox | None = None) -> FxWorld:
    """``serve=False``: no servers; the caller mounts the apps (see conftest's ``mounted``).
    The simulator keeps the vendor's 25 calls per 5 seconds."""
    fx = fx or FortnoxSandbox(warehouse_module=True, auth_mode="authorization_code")
    wms = wms or OngoingSandbox()
    orders, pos = seed(fx) if seeded else ([], [])
    chaos = Chaos(fx.app), Chaos(wms.app)
    servers = [LoopbackServer(chaos[0]), LoopbackServer(chaos[1])] if serve else []
    for server in servers:
        server.start()
    ports = [server.port for server in servers] if serve else [None, None]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    settings = fx.settings()
    if ports[0] is not None:  # the API and the OAuth server: one origin (the simulator's C1)
        settings |= {"base_url": _local(fx.base_url, ports[0]),
                     "auth_url": _local(fx.base_url, ports[0])}
    erp = _settings_toml(settings, None, "FAULT_FX", env, secrets)
    wms_settings = _settings_toml(wms.settings(), ports[1], "FAULT_WMS", env, secrets)
    config = folder / "erpsync.toml"
    config.write_text(
        f'state_dir = "{folder / "state"}"\n'
        + owner_toml(OWNER, "fortnox", f"{erp}\n{extra_erp}", "ongoing_wms", wms_settings),
        encoding="utf-8")
    state = DiskState(folder / "state")
    try:  # what `erpsync authorize` leaves in the store
        state.save_credentials(OWNER, CREDENTIALS, dict(fx.issue_tokens()))
    finally:
        state.close()
    world = FxWorld(folder=folder, fx=fx, wms=wms, servers=servers, config=config, env=env,
                    secrets=secrets, orders=orders, purchase_orders=pos)
    world.erp_chaos, world.wms_chaos = chaos
    return world

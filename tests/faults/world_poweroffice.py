"""One goods owner's PowerOffice Go world for the fault suite, with the same interface as the
Netvisor world (:class:`tests.faults.world.World`): the PowerOffice Go and Ongoing WMS
simulators served by uvicorn on loopback ports behind :class:`Chaos`, a real config file with
the three keys referenced from the environment, and an end-state snapshot of both simulators.

PowerOffice Go's flows (seed 001) are articles (products), orders (paid outgoing invoices) and
stock (the warehouse's stock on hand written back with JSON Patch); it takes no deliveries,
receipts or adjustments, so the warehouse's part here is to count its stock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from erpsync_ongoing_wms.sandbox import OngoingSandbox
from erpsync_poweroffice.sandbox import PowerOfficeSandbox, ProductLine, TextLine

from erpsync.demo import LoopbackServer, owner_toml
from erpsync.models import Flow
from tests.faults.world import OWNER, PRODUCTS, Chaos, ServedWorld, _settings_toml

PLUGINS = frozenset({"poweroffice", "ongoing_wms"})
GROUP = ("KAFFE", "Kaffe, te og kakao Æøå")
STOCK_IN_GO = 0
"""Every product's StockOnHand in Go before the warehouse counts: what a new WMS article has,
so that the first cycle writes no stock."""
COUNTED = {PRODUCTS[0][0]: 12, PRODUCTS[1][0]: 3, PRODUCTS[2][0]: STOCK_IN_GO,
           PRODUCTS[4][0]: 40, PRODUCTS[6][0]: 7}
"""What the warehouse counts (:meth:`PoWorld.play_the_warehouse`): four differ from Go, one
(the third product) does not and must never be patched."""
MAIL = {"AddressLine1": "Postboks 12", "AddressLine2": "Avd. Innkjøp", "ZipCode": "9008",
        "City": "Tromsø", "CountryCode": "NO"}
STREET = {"AddressLine1": "Bryggen 7", "AddressLine2": "Bakgården", "ZipCode": "5003",
          "City": "Bergen", "CountryCode": "NO"}
GATEWAY_429 = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 2 seconds."}
"""Azure API Management's rate-limit answer, the body PowerOffice Go's gateway sends
(https://learn.microsoft.com/en-us/azure/api-management/rate-limit-policy; the limit itself:
https://developer.poweroffice.net/documentation/requests)."""


@dataclass(kw_only=True)
class PoWorld(ServedWorld):
    """The PowerOffice Go world: seven stock products in one group, two customers (one with a
    mail address), three paid invoices with product and text lines and one unpaid."""

    erp_name: ClassVar[str] = "poweroffice"
    plugins: ClassVar[frozenset[str]] = PLUGINS
    reports_events: ClassVar[bool] = False
    wms_list: ClassVar[str] = "/articles"
    po: PowerOfficeSandbox
    unpaid: list[int] = field(default_factory=list)
    """Invoice numbers that must not become orders."""

    @property
    def erp(self) -> PowerOfficeSandbox:
        return self.po

    @property
    def erp_base_url(self) -> str:
        return self.po.base_url

    def inbound(self) -> dict[Flow, int]:
        return {Flow.ARTICLES: len(PRODUCTS), Flow.ORDERS: len(self.orders)}

    def play_the_warehouse(self) -> None:
        """The warehouse counts its stock: :data:`COUNTED`."""
        for code, quantity in COUNTED.items():
            self.wms.set_stock(code, quantity)

    def fail_share(self, share: float, kinds: Sequence[str], *, seed: int, limit: int,
                   delay: float = 0.0) -> None:
        """A share of PowerOffice's answers broken (see :meth:`Chaos.arm_share`): statuses are
        the simulator's own :meth:`~PowerOfficeSandbox.fail_next` answers (a 429 with the
        gateway's body and ``Retry-After``, 5xx with a ProblemDetails)."""

        def status(code: int, path: str) -> None:
            if code == 429:
                self.po.fail_next(1, 429, GATEWAY_429, {"Retry-After": "2"}, path=path)
            else:
                self.po.fail_next(1, code, path=path)

        self.erp_chaos.arm_share(share, kinds, rng=random.Random(seed), limit=limit,
                                 status=status, delay=delay)

    def snapshot(self) -> dict[str, Any]:
        """What a person would check on both sides, without ids or times."""
        po, wms = self.po, self.wms
        articles = {}
        for code, _ in PRODUCTS:
            try:
                article = wms.article(code)
            except KeyError:
                continue
            articles[code] = (article["articleName"],)
        orders = {}
        for number in self.orders:
            try:
                order = wms.order(number)
            except KeyError:
                continue
            orders[number] = (
                [(line["article"]["articleNumber"], str(line["orderedNumberOfItems"]))
                 for line in order["orderLines"]],
                [text["comment"] for text in order["advanced"]["orderTextLines"]],
                order["consignee"]["name"])
        return {
            "wms_articles": articles,
            "wms_orders": orders,
            "wms_order_count": wms.count("orders"),
            "po_stock": {code: str(po.stock_on_hand(code)) for code, _ in PRODUCTS},
            "po_stock_writes": {code: po.stock_writes(code) for code, _ in PRODUCTS},
        }


def seed(po: PowerOfficeSandbox) -> tuple[list[str], list[int]]:
    """Seven stock products, two customers, three paid invoices and an unpaid one; the order
    numbers of the paid ones and the invoice number of the unpaid one."""
    po.add_product_group(*GROUP)
    for n, (code, name) in enumerate(PRODUCTS):
        po.add_product(code, name, group=GROUP[0], unit_price=Decimal("45.50") + n,
                       unit_cost=Decimal("20"), unit="EA", stock_item=True,
                       stock_on_hand=STOCK_IN_GO)
    mail = po.add_customer("Kafé Ærlig", legal_name="Kafé Ærlig AS", email="ordre@aerlig.example",
                           phone="+47 900 00 001", mail_address=MAIL, delivery_address=STREET)
    street = po.add_customer("Bakeriet på Bryggen", delivery_address=STREET)
    invoices = [
        po.send_invoice(mail, [ProductLine(PRODUCTS[0][0], 3, discount_percent=10),
                               TextLine("Leveres bakdøren, takk!"),
                               ProductLine(PRODUCTS[1][0], 2)], customer_reference="Åse"),
        po.send_invoice(street, [ProductLine(PRODUCTS[2][0], 4), ProductLine(PRODUCTS[3][0], 1)]),
        po.send_invoice(mail, [ProductLine(PRODUCTS[4][0], 5), TextLine("Ring før levering")]),
    ]
    for invoice in invoices:
        po.register_payment(invoice)
    unpaid = po.send_invoice(street, [ProductLine(PRODUCTS[5][0], 1)])
    return [str(po.invoice(n)["OrderNo"]) for n in invoices], [unpaid]


def make_po_world(folder: Path, *, extra_erp: str = "", seeded: bool = True,
                  serve: bool = True, po: PowerOfficeSandbox | None = None,
                  wms: OngoingSandbox | None = None) -> PoWorld:
    """``serve=False``: no servers; the caller mounts the apps (see conftest's ``mounted``).
    The simulator keeps the vendor's 10 calls per second per subscription key."""
    po = po or PowerOfficeSandbox(seed=6)
    wms = wms or OngoingSandbox()
    orders, unpaid = seed(po) if seeded else ([], [])
    chaos = Chaos(po.app), Chaos(wms.app)
    servers = [LoopbackServer(chaos[0]), LoopbackServer(chaos[1])] if serve else []
    for server in servers:
        server.start()
    ports = [server.port for server in servers] if serve else [None, None]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    erp = _settings_toml(po.settings() | {"page_size": 50}, ports[0], "FAULT_PO", env, secrets)
    wms_settings = _settings_toml(wms.settings(), ports[1], "FAULT_WMS", env, secrets)
    config = folder / "erpsync.toml"
    config.write_text(
        f'state_dir = "{folder / "state"}"\n'
        + owner_toml(OWNER, "poweroffice", f"{erp}\n{extra_erp}", "ongoing_wms", wms_settings),
        encoding="utf-8")
    world = PoWorld(folder=folder, po=po, wms=wms, servers=servers, config=config, env=env,
                    secrets=secrets, orders=orders, unpaid=unpaid)
    world.erp_chaos, world.wms_chaos = chaos
    return world

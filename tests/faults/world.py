"""One goods owner's world for the fault suite: the Netvisor and Ongoing WMS simulators served
by uvicorn on loopback ports (so that they outlive a killed child process), a real config file
with the secrets referenced from the environment, and an end-state snapshot of both simulators
to compare a faulty run with a clean one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from erpsync_netvisor.sandbox import (
    CommentLine,
    DeliveryAddress,
    NetvisorSandbox,
    ProductLine,
    PurchaseLine,
)
from erpsync_ongoing_wms.sandbox import OngoingSandbox
from pydantic import SecretStr

from erpsync.demo import LoopbackServer, _local, _toml_value, owner_toml
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry, discover

PLUGINS = frozenset({"netvisor", "ongoing_wms"})
OWNER = "kahvila"
CHILD = Path(__file__).with_name("child.py")
ROOT = Path(__file__).resolve().parents[2]

PRODUCTS = [  # code, name: Finnish, Swedish and Norwegian letters
    ("KAHVI-500", "Kahvi Säätiö Öljypuu Å 500 g"),
    ("TEE-100", "Tee Mökkiläinen 100 g"),
    ("KAKAO-250", "Kakao Ärrä 250 g"),
    ("SOCKER-1", "Strösocker Åkerö 1 kg"),
    ("BRUNOST-1", "Brunost Ørsta Æblegård"),
    ("PULLA-6", "Korvapuusti Pöllö 6 kpl"),
    ("HUNAJA-1", "Hunaja Kärkölä"),
]
CUSTOMER = "ASIAKAS-1"


def registry() -> PluginRegistry:
    return discover(select=PLUGINS)


@dataclass
class _Rule:
    kind: str
    method: str | None
    path: str | None
    count: int
    old: bytes = b""
    new: bytes = b""


@dataclass
class _Share:
    share: float
    kinds: tuple[str, ...]
    rng: random.Random
    limit: int
    status: Callable[[int, str], None] | None
    delay: float


class Chaos:
    """ASGI middleware around a simulator for what its own ``fail_next`` cannot do: a link
    dropped in the middle of an answer and a truncated answer (the call is served first, so a
    write happened), garbage with status 200, an answer that comes too late; and faults on a
    random share of the calls (:meth:`arm_share`)."""

    KINDS = ("drop", "truncate", "garbage", "replace", "refuse", "slow")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[_Rule] = []
        self.injected = 0
        self.log: list[tuple[str, str, str]] = []
        """(kind, method, path) of every fault injected by a share."""
        self._share: _Share | None = None

    def arm(self, kind: str, *, method: str | None = None, path: str | None = None,
            count: int = 1, old: bytes = b"", new: bytes = b"") -> None:
        """``replace``: the answer with ``old`` replaced by ``new`` (bad data from the vendor;
        not counted as an injected fault unless ``old`` was found)."""
        assert kind in self.KINDS
        self.rules.append(_Rule(kind, method, path, count, old, new))

    def arm_share(self, share: float, kinds: Sequence[str], *, rng: random.Random, limit: int,
                  status: Callable[[int, str], None] | None = None,
                  delay: float = 0.0) -> None:
        """Break each call with probability ``share``, at most ``limit`` calls in all, with a
        kind drawn from ``kinds``: ``drop``, ``truncate``, ``garbage``, ``slow`` (served
        ``delay`` seconds late), or an HTTP status as digits, which ``status(code, path)`` arms
        in the simulator itself for this call."""
        for kind in kinds:
            assert kind in ("drop", "truncate", "garbage", "slow") or (
                kind.isdigit() and status is not None), kind
        self._share = _Share(share, tuple(kinds), rng, limit, status, delay)

    def disarm(self) -> None:
        self.rules.clear()
        self._share = None

    def _take(self, scope: dict[str, Any], body: bytes = b"") -> _Rule | None:
        for rule in self.rules:
            if ((rule.method is None or rule.method == scope["method"])
                    and (rule.path is None or rule.path in scope["path"].lower())
                    and (rule.kind != "refuse" or rule.old in body)):
                rule.count -= 1
                if rule.count == 0:
                    self.rules.remove(rule)
                return rule
        return None

    def _draw(self, scope: dict[str, Any]) -> _Rule | None:
        share = self._share
        if share is None or share.limit <= 0 or share.rng.random() >= share.share:
            return None
        share.limit -= 1
        kind = share.rng.choice(share.kinds)
        self.log.append((kind, scope["method"], scope["path"]))
        if kind.isdigit():
            assert share.status is not None
            share.status(int(kind), scope["path"])  # the simulator answers it: counted there
            self.injected += 1
            return None
        return _Rule(kind, None, None, 1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        if any(rule.kind == "refuse" for rule in self.rules):
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
        rule = self._take(scope, body) or self._draw(scope)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "refuse":  # the WMS refuses the record: 400 with its words
            self.injected += 1
            answer = json.dumps({"message": rule.new.decode()}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"content-length", str(len(answer)).encode())]})
            await send({"type": "http.response.body", "body": answer})
            return
        if rule.kind != "replace":
            self.injected += 1
        if rule.kind == "slow":  # served, but after the client gave up
            assert self._share is not None
            await asyncio.sleep(self._share.delay)
            await self.app(scope, receive, send)
            return
        if rule.kind == "garbage":
            body = b"<html><body>502 Bad Gateway</body>"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        messages: list[dict[str, Any]] = []

        async def capture(message: Any) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if rule.kind == "replace":
            if rule.old in body:
                self.injected += 1
            body = body.replace(rule.old, rule.new)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({"type": "http.response.start", "status": start["status"],
                        "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        half = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        length = len(body) if rule.kind == "drop" else len(half)
        await send({"type": "http.response.start", "status": start["status"],
                    "headers": [*headers, (b"content-length", str(length).encode())]})
        await send({"type": "http.response.body", "body": half,
                    "more_body": rule.kind == "drop"})
        if rule.kind == "drop":
            raise ConnectionAbortedError("chaos: the link dropped mid-answer")


@dataclass(kw_only=True)
class ServedWorld:
    """What every ERP's world has: the Ongoing WMS simulator and the ERP's simulator behind
    :class:`Chaos`, served on loopback (or mounted), and a config for one goods owner."""

    erp_name: ClassVar[str]
    plugins: ClassVar[frozenset[str]]
    reports_events: ClassVar[bool]
    """Whether the ERP takes deliveries, receipts or adjustments (a ledger of reports)."""
    wms_list: ClassVar[str]
    """A WMS list (GET) every cycle of this ERP's flows reads."""
    folder: Path
    wms: OngoingSandbox
    servers: list[LoopbackServer]
    config: Path
    env: dict[str, str]
    secrets: dict[str, str]
    orders: list[str] = field(default_factory=list)
    """The ERP's keys of the orders it seeded (the WMS order numbers)."""
    erp_chaos: Chaos = field(init=False)
    wms_chaos: Chaos = field(init=False)

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def erp(self) -> Any:
        """The ERP's simulator."""
        raise NotImplementedError

    @property
    def erp_base_url(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        for server in self.servers:
            server.stop()

    def run_child(self, point: str | None = None,
                  timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``child.py`` in a new process: one cycle of every flow, SIGKILLed at ``point``."""
        env = {**os.environ, **self.env, "ERPSYNC_FAULT_LOCK_TTL": "0.5",
               "ERPSYNC_FAULT_PLUGINS": ",".join(sorted(self.plugins))}
        env.pop("ERPSYNC_FAULT_POINT", None)
        if point:
            env["ERPSYNC_FAULT_POINT"] = point
        return subprocess.run([sys.executable, str(CHILD), str(self.config)], env=env,
                              cwd=self.folder, capture_output=True, text=True, timeout=timeout)

    def inbound(self) -> dict[Flow, int]:
        """How many records of each inbound flow the seeded ERP holds for the WMS."""
        raise NotImplementedError

    def play_the_warehouse(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(kw_only=True)
class World(ServedWorld):
    """The Netvisor world."""

    erp_name: ClassVar[str] = "netvisor"
    plugins: ClassVar[frozenset[str]] = PLUGINS
    reports_events: ClassVar[bool] = True
    wms_list: ClassVar[str] = "/orders"
    nv: NetvisorSandbox
    purchase_orders: list[str] = field(default_factory=list)

    @property
    def erp(self) -> NetvisorSandbox:
        return self.nv

    @property
    def erp_base_url(self) -> str:
        return self.nv.base_url

    @property
    def nv_chaos(self) -> Chaos:
        return self.erp_chaos

    def inbound(self) -> dict[Flow, int]:
        return {Flow.ARTICLES: len(PRODUCTS), Flow.ORDERS: len(self.orders),
                Flow.PURCHASE_ORDERS: len(self.purchase_orders)}

    def play_the_warehouse(self) -> None:
        """Ship the first order in full, the second in part; receive the first purchase order
        one short per row and close it; adjust two articles."""
        first, second = self.orders[0], self.orders[1]
        self.wms.ship(first)
        line = self.nv.order(second)["lines"][0]["key"]
        self.wms.ship(second, {line: Decimal(1)})
        po = self.purchase_orders[0]
        rows = {row["key"]: row["ordered"] - 1 for row in self.nv.purchase_order_rows(po)}
        self.wms.receive(po, rows, complete=True)
        self.wms.set_stock(PRODUCTS[0][0], 10)
        self.wms.adjust(PRODUCTS[0][0], Decimal(-2), "Rikkoutunut")
        self.wms.adjust(PRODUCTS[1][0], Decimal(3), "Inventaario")

    def snapshot(self) -> dict[str, Any]:
        """What a person would check on both sides, without ids or times."""
        nv, wms = self.nv, self.wms
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
        return {
            "wms_articles": articles,
            "wms_orders": orders,
            "wms_purchase_orders": pos,
            "wms_adjustments": sorted((a["articleNumber"], str(a["numberOfItems"]),
                                       a["reported"]) for a in wms.adjustments()),
            "nv_delivered": {n: sorted(map(str, nv.delivered(n).values())) for n in self.orders},
            "nv_deliveries": {n: len(nv.deliveries(n)) for n in self.orders},
            "nv_received": {n: sorted(map(str, nv.received(n).values()))
                            for n in self.purchase_orders},
            "nv_warehouse_events": sorted(
                (e["reference"], tuple((line["product"], str(line["quantity"]))
                                       for line in e["lines"]))
                for e in nv.warehouse_events()),
            "nv_inventory": {code: str(nv.product(code)["inventory"]) for code, _ in PRODUCTS},
            "nv_report_posts": {r: nv.request_count(r, "POST") for r in (
                "salesorderinvoicing.nv", "purchaseorder.nv", "warehouseevent.nv")},
        }


def seed(nv: NetvisorSandbox) -> tuple[list[str], list[str]]:
    """Seven products, a customer, three orders, two purchase orders."""
    for n, (code, name) in enumerate(PRODUCTS):
        nv.add_product(code, name, unit_price=Decimal("4.50") + n, ean=None,
                       group="Kahvit ja teet")
    nv.add_customer(CUSTOMER, "Kahvila Höyry Oy", street="Kauppakatu 1", post_code="00100",
                    city="Helsinki")
    orders = [
        nv.add_order(CUSTOMER, [ProductLine(PRODUCTS[0][0], 3), CommentLine("Ovikoodi 1234"),
                                ProductLine(PRODUCTS[1][0], 2)],
                     delivery_address=DeliveryAddress(name="Mökkikylä Oy", line="Rantatie 5",
                                                      post_code="13100", town="Hämeenlinna")),
        nv.add_order(CUSTOMER, [ProductLine(PRODUCTS[2][0], 4), ProductLine(PRODUCTS[3][0], 1)]),
        nv.add_order(CUSTOMER, [ProductLine(PRODUCTS[4][0], 5)]),
    ]
    pos = [
        nv.add_purchase_order("Tukku Äijälä Oy", [PurchaseLine(PRODUCTS[0][0], 10),
                                                  PurchaseLine(PRODUCTS[5][0], 6)]),
        nv.add_purchase_order("Grossist Østlandet AS", [PurchaseLine(PRODUCTS[6][0], 8)]),
    ]
    return orders, pos


def _settings_toml(settings: dict[str, Any], port: int | None, prefix: str,
                   env: dict[str, str], secrets: dict[str, str]) -> str:
    lines = []
    for key, value in settings.items():
        if key == "base_url" and port is not None:
            value = _local(str(value), port)
        if isinstance(value, SecretStr):
            variable = f"{prefix}_{key.upper()}"
            env[variable] = value.get_secret_value()
            secrets[f"{prefix}.{key}"] = value.get_secret_value()
            lines.append(f'{key} = {{ env = "{variable}" }}')
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines)


def make_world(folder: Path, *, extra_nv: str = "", extra_wms: str = "",
               nv: NetvisorSandbox | None = None, wms: OngoingSandbox | None = None,
               seeded: bool = True, serve: bool = True) -> World:
    """``serve=False``: no servers; the caller mounts the apps with :func:`erpsync.http.mount`
    at the simulators' own base URLs (faster; no real socket)."""
    nv = nv or NetvisorSandbox(warehouse_event_report=True)
    wms = wms or OngoingSandbox()
    orders, pos = seed(nv) if seeded else ([], [])
    chaos = Chaos(nv.app), Chaos(wms.app)
    servers = [LoopbackServer(chaos[0]), LoopbackServer(chaos[1])] if serve else []
    for server in servers:
        server.start()
    ports = [server.port for server in servers] if serve else [None, None]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    erp = _settings_toml(nv.settings(), ports[0], "FAULT_NV", env, secrets)
    wms_settings = _settings_toml(wms.settings(), ports[1], "FAULT_WMS", env, secrets)
    config = folder / "erpsync.toml"
    config.write_text(
        f'state_dir = "{folder / "state"}"\n'
        + owner_toml(OWNER, "netvisor", f"{erp}\n{extra_nv}", "ongoing_wms",
                     f"{wms_settings}\n{extra_wms}"),
        encoding="utf-8")
    world = World(folder=folder, nv=nv, wms=wms, servers=servers, config=config, env=env,
                  secrets=secrets, orders=orders, purchase_orders=pos)
    world.erp_chaos, world.wms_chaos = chaos
    return world


def child_runs(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The child's printed outcome per flow."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the child printed no result: rc={result.returncode}\n{result.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(lines[-1])
    return data


ALL_FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
             Flow.ADJUSTMENTS)


W = TypeVar("W", bound=ServedWorld)


class InProcess(Generic[W]):
    """The real runner in this process against the served simulators (faster than a child
    when nothing is killed). Waits between retries are recorded, not slept."""

    def __init__(self, world: W, monkeypatch: Any) -> None:
        from erpsync import http
        from erpsync.config import load_config
        from erpsync.runner import Runner
        from erpsync.state import DiskState

        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        self.waits: list[float] = []

        async def record(seconds: float) -> None:
            self.waits.append(seconds)

        monkeypatch.setattr(http, "_retry_sleep", record)
        self.world = world
        self.registry = discover(select=world.plugins)
        self.config = load_config(world.config, self.registry)
        self.state = DiskState(self.config.state_dir)
        self.runner = Runner(self.config, self.state, self.registry)

    async def run(self, *flows: Flow) -> dict[Flow, Any]:
        results = await self.runner.run_once(flows=flows or None)
        return {Flow(r.flow): r for r in results[OWNER]}

    def close(self) -> None:
        self.state.close()


async def cli(world: ServedWorld, *args: str) -> Any:
    """``erpsync --config CONFIG ARGS`` through the real CLI (in a worker thread: the CLI runs
    its own event loop)."""
    import asyncio

    from typer.testing import CliRunner

    from erpsync.cli import app

    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, ["--config", str(world.config), *args])

"""Fortnox in the benchmarks (issue 8): the Fortnox plugin and the Ongoing WMS plugin through the
core runner against both simulators served by uvicorn on loopback, measured cycle by cycle in a
child process as in :mod:`benchmarks.run`.

Two tenants, each a part of its own: a **classic** one (the stock balance written on the
article; flows articles, orders, deliveries, stock) and one with the **warehouse module**
(Fortnox Lager; flows articles, orders, purchase orders, deliveries, receipts, adjustments). The
Ongoing WMS plugin has no supplier register, so a goods owner's default flows leave the
suppliers flow out (as tests/plugins/fortnox/test_end_to_end.py finds).

- **Initial sync**: every flow of the tenant's mode, one cycle each, the warehouse's work
  (shipments, some short; receipts; stock counts or adjustments) done between the inbound and
  the return flows; requests per record per flow on each side.
- **Nothing changed**: the same flows again, after one unmeasured orders cycle that takes the
  back orders of the short deliveries to the warehouse.
- **Pacing**: the simulator keeps the vendor's limit, "300 requests per minute per client-id
  and tenant ... a sliding window algorithm with a period of 5 seconds, so the actual limit is
  25 requests per 5 seconds"
  (https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api), and
  answers 429 over it; this module notes when every API call arrived and counts the most calls
  in any 5-second sliding window of each cycle, next to the simulator's own peak and 429s.
- **Authorisation**: the authorisation-code flow. The token pair of a consent is put in the
  state store as ``erpsync authorize`` leaves it (``FortnoxSandbox.issue_tokens()``, as the
  end-to-end tests seed it); between two cycles of the initial sync the simulator's clock moves
  on past the access token's hour, so that cycle's first call is refused (401) and the plugin
  refreshes the rotating pair. Token calls are counted on the simulator's side.

The plugin's pacer (24 request starts per 5 s per client id and tenant, evenly spaced,
``erpsync_fortnox.client.rate_limit_for``) is part of what is measured: it has no setting to
raise, so every Fortnox figure here runs at the vendor's pace, about 4.8 requests a second.
``python -m benchmarks.fortnox [--quick]`` prints the section alone.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from erpsync_fortnox.sandbox import RATE_LIMIT, RATE_WINDOW, FortnoxSandbox, OrderRow
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from benchmarks.run import (
    BACKDATE,
    PAGE_SIZE,
    TARGET,
    UNPACED,
    Cycle,
    _classify,
    _per,
    _resources,
    measure,
)
from erpsync.demo import owner_toml, served, settings_toml
from erpsync.models import Flow

ERP_PLUGIN = "fortnox"
WMS_PLUGIN = "ongoing_wms"
OWNER = "bench"
CREDENTIALS = "fortnox:oauth"
"""Where the Fortnox plugin's token pair lives in the state store (``ctx.credentials``)."""
CLASSIC = (Flow.ARTICLES, Flow.ORDERS, Flow.DELIVERIES, Flow.STOCK)
MODULE = (Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS, Flow.DELIVERIES, Flow.RECEIPTS,
          Flow.ADJUSTMENTS)
INBOUND = frozenset({Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS})
PACER = RATE_LIMIT - 1
"""Request starts per window the plugin allows itself (``rate_limit_for``: one under the
vendor's limit, evenly spaced)."""
CATCH_UP = {False: (Flow.ORDERS, Flow.STOCK), True: (Flow.ORDERS,)}
"""The unmeasured cycle between the initial sync and the nothing-changed run: the back orders
of the short deliveries reach the warehouse, and (classic) the stock their reservations
change in the WMS reaches Fortnox."""
REFRESH_BEFORE = Flow.ORDERS
"""The initial-sync cycle before which the simulator's clock passes the access token's hour."""
PAST_THE_HOUR = timedelta(hours=1, minutes=1)
SHORT_EVERY = 5
"""Every SHORT_EVERY-th shipped order leaves one item of its second row behind: Fortnox makes a
back order of the rest (https://support.fortnox.se/hc/sv/articles/208331265-Skapa-restorder)."""
IN_STOCK = Decimal(50)
"""Each article's stock in Fortnox (and in Fortnox Lager): the deliveries never run it out."""


@dataclass(frozen=True)
class FxSizes:
    articles: int
    orders: int
    """Orders of two article rows each."""
    shipped: int
    """Orders the warehouse ships (every :data:`SHORT_EVERY`-th one item short)."""
    purchase_orders: int
    """Purchase orders of two rows each (module), all received in full and closed."""
    adjustments: int
    """Inventory adjustments in the warehouse (module), half up and half down."""
    latency: float = 0.020


FULL = FxSizes(articles=80, orders=40, shipped=20, purchase_orders=8, adjustments=10)
QUICK = FxSizes(articles=16, orders=8, shipped=5, purchase_orders=2, adjustments=2)


# --- the simulators --------------------------------------------------------------------------


class ApiArrivals:
    """ASGI middleware that notes when each API call arrives (the OAuth server's calls are not
    counted against the rate limit, https://www.fortnox.se/developer/guides-and-good-to-know/
    rate-limits-for-fortnox-api counts requests to the API)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/oauth-v1/"):
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


def sliding_peak(times: Sequence[float], window: float = RATE_WINDOW) -> int:
    """The most arrivals within any ``window`` seconds, counted as the simulator counts them
    (a call at ``t`` sees the calls after ``t - window``)."""
    peak = start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


@dataclass
class FxVendors:
    """A Fortnox tenant (classic or with the warehouse module) and the Ongoing WMS, with a fixed
    latency per request."""

    module: bool
    latency: float
    fx: FortnoxSandbox = field(init=False)
    wms: OngoingSandbox = field(init=False)
    arrivals: ApiArrivals = field(init=False)
    articles: list[str] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    purchase_orders: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fx = FortnoxSandbox(warehouse_module=self.module, auth_mode="authorization_code",
                                 page_size=PAGE_SIZE, latency=self.latency)
        self.wms = OngoingSandbox(page_size=PAGE_SIZE, latency=self.latency)
        self.arrivals = ApiArrivals(self.fx.app)

    def populate(self, sizes: FxSizes) -> None:
        """A supplier, articles with every field seed 002 maps, a company and a private
        customer, orders of two rows and (module) purchase orders of two rows, all made the day
        before the run."""
        at = datetime.now(UTC) - BACKDATE
        fx = self.fx
        supplier = fx.add_supplier("Rosteriet i Göteborg AB", address1="Hamngatan 4",
                                   zip_code="41106", city="Göteborg", country="Sverige", at=at)
        for n in range(sizes.articles):
            self.articles.append(fx.add_article(
                f"FX-{n:06d}", f"Kaffe Mörkrost Ärlig {n} 500 g", at=at, ean=f"731{n:010d}",
                width=Decimal(120), height=Decimal(200), depth=Decimal(80),
                weight=Decimal(510), purchase_price=Decimal("41.50"),
                sales_price=Decimal("89.00"), note="Ekologiskt", supplier_number=supplier,
                quantity=IN_STOCK))
        customers = [fx.add_customer("Kafé Ängen AB", city="Östersund", country="Sverige",
                                     at=at),
                     fx.add_customer("Åsa Öberg", kind="PRIVATE", city="Malmö",
                                     country="Sverige", at=at)]
        count = len(self.articles)
        for n in range(sizes.orders):
            self.orders.append(fx.add_order(
                customers[n % 2], [OrderRow(self.articles[(2 * n) % count], 1 + n % 3),
                                   OrderRow(self.articles[(2 * n + 1) % count], 2)],
                at=at, remarks="Lämnas vid porten", YourOrderNumber=f"PO-{n}"))
        for n in range(sizes.purchase_orders if self.module else 0):
            self.purchase_orders.append(fx.add_purchase_order(
                supplier, [(self.articles[(3 * n) % count], Decimal(12)),
                           (self.articles[(3 * n + 1) % count], Decimal(6))],
                at=at, note="Leverans till port 3"))

    def play_the_warehouse(self, sizes: FxSizes) -> dict[str, int]:
        """Ship ``sizes.shipped`` orders (every :data:`SHORT_EVERY`-th one item short on its
        second row); module: receive every purchase order in full and close it, and adjust
        ``sizes.adjustments`` articles; classic: the warehouse counts every article's stock.
        What was done, by kind."""
        done: Counter[str] = Counter()
        for n, number in enumerate(self.orders[: sizes.shipped]):
            if n % SHORT_EVERY == SHORT_EVERY - 1:  # the second row's 2 items: one shipped
                first = self.fx.order(number)["OrderRows"][0]
                self.wms.ship(str(number), {"1": Decimal(first["OrderedQuantity"]),
                                            "2": Decimal(1)})
                done["short"] += 1
            else:
                self.wms.ship(str(number))
            done["shipped"] += 1
        if self.module:
            for number in self.purchase_orders:
                self.wms.receive(str(number), {"1": Decimal(12), "2": Decimal(6)},
                                 complete=True)
                done["received"] += 1
            for n in range(sizes.adjustments):
                self.wms.set_stock(self.articles[n], IN_STOCK)  # counted, no adjustment yet
                self.wms.adjust(self.articles[n], Decimal(3) if n % 2 == 0 else Decimal(-1),
                                "Inventering")
                done["adjusted"] += 1
        else:
            for n, code in enumerate(self.articles):
                self.wms.set_stock(code, n % 40)
                done["counted"] += 1
        return dict(done)

    def counts(self) -> tuple[int, int]:
        return len(self.fx.requests), len(self.wms.requests)

    def classify(self, erp_from: int, wms_from: int) -> tuple[Counter[str], Counter[str]]:
        return (_classify_fx(self.fx.requests[erp_from:]),
                _classify(self.wms.requests[wms_from:], erp=False))


_ID = re.compile(r"/(\d+|[0-9a-fA-F-]{36})(?=/|$)")
_ONE = re.compile(r"^(/3/[a-z]+)/[^/]+")
_CUSTOM = re.compile(r"(/custom/(?:inbound|outbound)-v1/[^/]+)/[^/]+")
_COLLECTIONS = frozenset({"/3/articles", "/3/suppliers", "/3/orders", "/3/invoices",
                          "/api/warehouse/purchaseorders-v1", "/api/warehouse/incominggoods-v1"})


def resource(path: str) -> str:
    """``/3/orders/17/createinvoice`` -> ``/3/orders/{id}/createinvoice``."""
    if path.startswith("/3/"):
        return _ONE.sub(r"\1/{id}", path)
    return _ID.sub("/{id}", _CUSTOM.sub(r"\1/{id}", path))


def _classify_fx(requests: Sequence[Any]) -> Counter[str]:
    """Fortnox requests by kind (``token``: the OAuth server; ``list``: a collection read;
    ``read``: one record; ``write``: PUT or POST), by answer (``401``, ``429``) and by
    ``METHOD resource``."""
    counts: Counter[str] = Counter()
    for request in requests:
        name = resource(request.path)
        counts["total"] += 1
        if name.startswith("/oauth-v1/"):
            kind = "token"
        elif request.method != "GET":
            kind = "write"
        elif name.rstrip("/") in _COLLECTIONS:
            kind = "list"
        else:
            kind = "read"
        counts[kind] += 1
        counts[f"{request.method} {name}"] += 1
        if request.status in (401, 429):
            counts[str(request.status)] += 1
    return counts


def write_config(folder: Path, vendors: FxVendors, erp_port: int, wms_port: int) -> Path:
    """An ordinary erpsync.toml for one goods owner (secrets in files), and the token pair of
    a consent in its state store."""
    from erpsync.config import load_config
    from erpsync.plugins import discover
    from erpsync.state import DiskState

    erp = settings_toml(folder, "erp", vendors.fx.settings(), erp_port)
    wms = settings_toml(folder, "wms", vendors.wms.settings() | {
        "page_size": PAGE_SIZE, "requests_per_minute": UNPACED}, wms_port)
    path = folder / "erpsync.toml"
    path.write_text('# Written by benchmarks/fortnox.py\nstate_dir = "state"\n'
                    + owner_toml(OWNER, ERP_PLUGIN, erp, WMS_PLUGIN, wms), encoding="utf-8")
    state = DiskState(load_config(path, discover()).state_dir)
    try:  # what `erpsync authorize` leaves in the store
        state.save_credentials(OWNER, CREDENTIALS, dict(vendors.fx.issue_tokens()))
    finally:
        state.close()
    return path


@contextlib.contextmanager
def serving(vendors: FxVendors) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="erpsync-bench-fx-") as tmp, \
            served(vendors.arrivals, vendors.wms.app) as (erp_server, wms_server):
        yield write_config(Path(tmp), vendors, erp_server.port, wms_server.port)


# --- the scenarios ---------------------------------------------------------------------------


@dataclass
class Measured:
    cycle: Cycle
    peak: int
    """The most API calls in any 5-second sliding window of this cycle."""


@dataclass
class Part:
    """One tenant's figures: classic or warehouse module."""

    module: bool
    flows: tuple[Flow, ...]
    records: dict[Flow, int]
    warehouse: dict[str, int]
    initial: dict[Flow, Measured]
    catch_up: Measured
    again: dict[Flow, Measured]
    simulator_peak: int
    """``FortnoxSandbox.peak_rate()``: the simulator's own count over the whole part."""
    throttled: int
    """``FortnoxSandbox.throttled()``: 429s over the whole part."""
    elapsed: float

    @property
    def name(self) -> str:
        return "warehouse module" if self.module else "classic"

    def cycles(self) -> list[Measured]:
        return [*self.initial.values(), self.catch_up, *self.again.values()]


@dataclass
class FxResults:
    sizes: FxSizes
    classic: Part
    module: Part
    elapsed: float


def _measure(vendors: FxVendors, config: Path, *flows: Flow) -> Measured:
    before = len(vendors.arrivals.times)
    cycle = measure(vendors, config, flows)
    return Measured(cycle, sliding_peak(vendors.arrivals.times[before:]))


def _records(vendors: FxVendors, flow: Flow, sizes: FxSizes, done: dict[str, int]) -> int:
    return {Flow.ARTICLES: len(vendors.articles), Flow.ORDERS: len(vendors.orders),
            Flow.PURCHASE_ORDERS: len(vendors.purchase_orders), Flow.DELIVERIES: sizes.shipped,
            Flow.RECEIPTS: done.get("received", 0), Flow.ADJUSTMENTS: sizes.adjustments,
            Flow.STOCK: len(vendors.articles)}[flow]


def part_benchmark(sizes: FxSizes, module: bool, say: Any) -> Part:
    started = time.monotonic()
    vendors = FxVendors(module, sizes.latency)
    vendors.populate(sizes)
    flows = MODULE if module else CLASSIC
    label = "fortnox " + ("module" if module else "classic")
    initial: dict[Flow, Measured] = {}
    again: dict[Flow, Measured] = {}
    done: dict[str, int] = {}
    with serving(vendors) as config:
        for flow in flows:
            if flow not in INBOUND and not done:
                done = vendors.play_the_warehouse(sizes)
            if flow is REFRESH_BEFORE:
                vendors.fx.advance(PAST_THE_HOUR)  # the stored access token has expired
            initial[flow] = _measure(vendors, config, flow)
            if flow is REFRESH_BEFORE:
                vendors.fx.set_time(None)
            c = initial[flow].cycle
            say(f"{label} initial {flow.value}: {c.wall:.1f} s, {c.erp['total']} Fortnox "
                f"requests, peak {initial[flow].peak} per 5 s")
        catch_up = _measure(vendors, config, *CATCH_UP[module])
        say(f"{label} catch-up: {catch_up.cycle.runs_sum('written')} written")
        for flow in flows:
            again[flow] = _measure(vendors, config, flow)
            say(f"{label} again {flow.value}: {again[flow].cycle.erp['total']} Fortnox "
                "requests")
    records = {flow: _records(vendors, flow, sizes, done) for flow in flows}
    return Part(module, flows, records, done, initial, catch_up, again,
                vendors.fx.peak_rate(), vendors.fx.throttled(), time.monotonic() - started)


def run_all(quick: bool, say: Any) -> FxResults:
    sizes = QUICK if quick else FULL
    started = time.monotonic()
    classic = part_benchmark(sizes, False, say)
    module = part_benchmark(sizes, True, say)
    return FxResults(sizes, classic, module, time.monotonic() - started)


# --- the report ------------------------------------------------------------------------------


def _pace_bound(requests: int) -> float:
    """The least wall time the plugin's pacer allows for ``requests`` calls (one start every
    5 s / 24)."""
    return max(0, requests - 1) * RATE_WINDOW / PACER


def _initial_table(p: Part) -> list[str]:
    out = ["| flow | records | read | written | Fortnox requests (token / list / read / write) "
           "| Fortnox req. per record | WMS requests (read / write) | WMS req. per record | "
           "wall s | pacer bound s | peak per 5 s |",
           "|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|"]
    for flow in p.flows:
        m = p.initial[flow]
        c, e, n = m.cycle, m.cycle.erp, p.records[flow]
        out.append(
            f"| {flow.value} | {n:,} | {c.runs_sum('read'):,} | {c.runs_sum('written'):,} | "
            f"{e['total']} ({e['token']} / {e['list']} / {e['read']} / {e['write']}) | "
            f"{_per(e['total'] - e['token'], n)} | {c.wms['total']} ({c.wms['read']} / "
            f"{c.wms['write']}) | {_per(c.wms['total'], n)} | {c.wall:.1f} | "
            f"{_pace_bound(e['total'] - e['token']):.1f} | {m.peak} |")
    return out


def _again_table(p: Part) -> list[str]:
    out = ["| flow | read | written | Fortnox token | list | read | write | WMS read | "
           "WMS write | wall s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for flow in p.flows:
        c = p.again[flow].cycle
        e = c.erp
        out.append(f"| {flow.value} | {c.runs_sum('read'):,} | {c.runs_sum('written'):,} | "
                   f"{e['token']} | {e['list']} | {e['read']} | {e['write']} | "
                   f"{c.wms['read']} | {c.wms['write']} | {c.wall:.1f} |")
    return out


def _per_record(p: Part) -> dict[Flow, float]:
    return {flow: (p.initial[flow].cycle.erp["total"] - p.initial[flow].cycle.erp["token"])
            / max(1, p.records[flow]) for flow in p.flows}


def section(r: FxResults) -> str:
    s = r.sizes
    out: list[str] = []
    w = out.append
    w("\n## 7. Fortnox\n")
    w(f"The `fortnox` and `ongoing_wms` plugins through `Runner.run_once` against "
      f"`FortnoxSandbox` and `OngoingSandbox`, each served by uvicorn on loopback, every "
      f"measured cycle in a child process as above, one flow per cycle; latency "
      f"{s.latency * 1000:.0f} ms per request on both simulators; the plugin's page size 500 "
      f"(its default, Fortnox's most). Requests are counted on the simulators' side. Fortnox "
      f"allows {RATE_LIMIT} requests per {RATE_WINDOW:g} seconds per client id and tenant in a "
      f"sliding window (https://www.fortnox.se/developer/guides-and-good-to-know/"
      f"rate-limits-for-fortnox-api); the simulator keeps that limit and answers 429 over it. "
      f"The plugin's pacer starts at most {PACER} requests per {RATE_WINDOW:g} s, evenly "
      f"spaced (`rate_limit_for` in plugins/fortnox/erpsync_fortnox/client.py), and cannot be "
      f"raised: every Fortnox wall time here is the vendor's pace, about "
      f"{PACER / RATE_WINDOW:.1f} requests a second, not erpsync's. Took "
      f"{r.elapsed / 60:.1f} minutes.\n")
    w(f"Each tenant holds **{s.articles:,} articles** (every field seed 002 maps), "
      f"**{s.orders:,} orders** of two article rows (a company and a private customer) and, "
      f"with the warehouse module, **{s.purchase_orders:,} purchase orders** of two rows, all "
      f"made the day before the run. Between the inbound and the return flows the warehouse "
      f"ships {s.shipped} orders (every {SHORT_EVERY}th one item short: Fortnox makes a back "
      f"order of the rest) and, in the classic tenant, counts every article's stock; in the "
      f"module tenant it receives every purchase order in full and closes it and makes "
      f"{s.adjustments} inventory adjustments. *records* is what the flow had to carry; "
      f"*Fortnox req. per record* leaves the token calls out; *pacer bound* is the least wall "
      f"time the pacer allows for those requests; *peak per 5 s* is the most API calls in any "
      f"5-second sliding window of the cycle, counted from their arrival at the simulator.\n")
    for p in (r.classic, r.module):
        w(f"### Initial sync, {p.name}\n")
        w("\n".join(_initial_table(p)))
        w("\nRequests by resource:\n")
        for flow in p.flows:
            c = p.initial[flow].cycle
            w(f"- {flow.value}: Fortnox {_resources(c.erp)}; WMS {_resources(c.wms)}")
        failures = [f for m in p.cycles() for f in m.cycle.failures()]
        if failures:
            w(f"\nRuns that did not end `ok`: {len(failures)}, e.g. `{failures[0]}`.")
        w("")
    w("What each record costs on the Fortnox side, by design of the API:\n")
    w("- **Articles, orders**: the list (`lastmodified`, 500 a page) does not carry every "
      "field seed 002 maps (dimensions, unit, supplier; order rows and delivery address), so "
      "each listed record is read once more: about one request per record, plus one list "
      "page per 500 (orders: two lists, the orders not yet invoiced and the cancelled ones, "
      "one filter per request).")
    w("- **Deliveries**: the order read (its row ids change on every update), one PUT of all "
      "rows with the delivered quantities, then `createinvoice` (classic: 3 per delivery); "
      "with the module also `warehouseready` between them (4), and one `tenants-v4` per cycle "
      "that checks the module matches the setting before the first write.")
    w("- **Receipts** (module): the purchase order read, the incoming goods looked up by their "
      "delivery note (so that a restart never makes them twice), created, released, "
      "completed, and the purchase order completed when the warehouse closed it.")
    w("- **Adjustments** (module): the custom document looked up by its id, saved, released.")
    w("- **Stock** (classic): one article PUT per balance that changed in the WMS since the "
      "last run; the first run writes every article's balance, equal to Fortnox's or not.")
    w("")
    for p in (r.classic, r.module):
        w(f"### The same sync again, nothing changed, {p.name}\n")
        back = p.catch_up.cycle
        flows = " and ".join(f.value for f in CATCH_UP[p.module])
        also = ("" if p.module else
                " and the stock their reservations changed in the WMS to Fortnox")
        w(f"Before it, one cycle of {flows}, not in the table, takes the "
          f"{p.warehouse.get('short', 0)} back orders of the short deliveries to the "
          f"warehouse{also}: "
          f"{back.runs_sum('written')} written, {back.erp['total']} Fortnox requests. "
          "Target: at most one list request per flow (plus paging) and no writes to either "
          "side.\n")
        w("\n".join(_again_table(p)))
        writes = sum(p.again[f].cycle.erp["write"] + p.again[f].cycle.wms["write"]
                     for f in p.flows)
        reads = {f: p.again[f].cycle.erp["read"] for f in p.flows if p.again[f].cycle.erp["read"]}
        lists = {f: p.again[f].cycle.erp["list"] for f in p.flows}
        over = {f.value: n for f, n in lists.items() if n > 1}
        met = writes == 0 and not reads and not over
        w(f"\nWrites: **{writes}** (target 0). Target **{'met' if met else 'missed'}**"
          + ("" if met else ": " + "; ".join(
              [f"{name} lists {n} times" for name, n in over.items()]
              + [f"{f.value} reads {n} record{'s' if n != 1 else ''}"
                 for f, n in reads.items()])) + ".")
        for flow in p.flows:
            c = p.again[flow].cycle
            w(f"- {flow.value}: Fortnox {_resources(c.erp)}; WMS {_resources(c.wms)}")
        w("")
    stock_writes = r.classic.initial[Flow.STOCK].cycle.erp["write"]
    reread = r.classic.again[Flow.ARTICLES].cycle.erp["read"]
    w("Why the nothing-changed run is not free, by design:\n")
    w("- The orders flow lists twice (the orders not yet invoiced, then the cancelled ones: "
      "Fortnox takes one filter per request, https://www.fortnox.se/developer/"
      "guides-and-good-to-know/parameters), and reads again the back orders the deliveries "
      "made, because they changed within the runner's 5-minute overlap before the cursor "
      "(core/erpsync/flows.py reads such records again rather than miss one); nothing is "
      "written.")
    w(f"- Classic: the stock run wrote QuantityInStock on {stock_writes} articles, which "
      f"changes each article's `lastmodified`, so the next articles cycle lists them as "
      f"changed and reads {reread} articles again (one GET each), writing none (the "
      "fingerprints match). A tenant whose stock moves every cycle pays one article read per "
      "stock write. Reading the list's fields first and skipping the GET when nothing mapped "
      "changed is not possible: the list lacks most of them (above).")
    w("- Module: the purchase-order list has no change filter (apidocs, "
      "warehouse_PurchaseOrder), so the purchase orders flow lists the open ones every cycle "
      "(one `tenants-v4` check with it) and the fingerprints keep them from being written "
      "again.\n")
    # -- pacing
    w("### Requests per 5-second window at the peak\n")
    w(f"Target: at most {RATE_LIMIT} Fortnox API calls in any 5-second window per client id "
      f"and tenant, and no 429.\n")
    w("| tenant | cycles | Fortnox requests | peak in one cycle (sliding 5 s) | simulator's "
      "own peak over the part | 429s drawn | wall s |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    drawn = 0
    worst = 0
    for p in (r.classic, r.module):
        cycles = p.cycles()
        total = sum(m.cycle.erp["total"] - m.cycle.erp["token"] for m in cycles)
        peak = max(m.peak for m in cycles)
        worst = max(worst, peak, p.simulator_peak)
        drawn += p.throttled
        w(f"| {p.name} | {len(cycles)} | {total:,} | {peak} | {p.simulator_peak} | "
          f"**{p.throttled}** | {p.elapsed:.0f} |")
    w(f"\nPeak **{worst}** per 5 s and **{drawn}** 429s: target "
      f"**{'met' if worst <= RATE_LIMIT and drawn == 0 else 'missed'}**. The simulator's own "
      "peak is its sliding window per client id and tenant over every cycle of the part, "
      "child processes one after the other included: the pacer lives in one process, and a "
      "new process's first call came more than 5 s / 24 after the last one of the process "
      "before, so the evenly spaced starts of two processes did not add up to more than the "
      "limit. (Two erpsync processes on one Fortnox client id and tenant *at the same time* "
      "would each pace to 24 and together exceed it; `erpsync serve` runs all goods owners "
      "in one process.)")
    # -- authorisation
    w("\n### Authorisation\n")
    for p in (r.classic, r.module):
        tokens = sum(m.cycle.erp["token"] for m in p.cycles())
        refused = sum(m.cycle.erp["401"] for m in p.cycles())
        at = p.initial[REFRESH_BEFORE].cycle.erp
        w(f"- {p.name}: **{tokens} token call{'s' if tokens != 1 else ''}** in "
          f"{len(p.cycles())} cycles ({at['token']} in the {REFRESH_BEFORE.value} cycle, "
          f"the first after the simulator's clock passed the access token's hour), "
          f"{refused} API call{'s' if refused != 1 else ''} refused with 401.")
    w("\nThe pair of a consent was in the state store before the first cycle, as `erpsync "
      "authorize` leaves it (the code exchange itself is not counted). Each child process "
      "uses the stored access token until Fortnox refuses it: the expiry the store holds is "
      "the real clock's, the simulator's clock had moved an hour on, so the first call of the "
      f"{REFRESH_BEFORE.value} cycle got 401, the plugin refreshed once (a single-use refresh "
      "token rotated, the new pair stored before use) and repeated the call. No cycle asked "
      "for a token otherwise: a valid access token is reused across cycles and processes.")
    # -- extrapolation
    per = {flow: max(_per_record(r.classic).get(flow, 0), _per_record(r.module).get(flow, 0))
           for flow in (*CLASSIC, *MODULE)}
    articles = per[Flow.ARTICLES] * TARGET.products
    orders = per[Flow.ORDERS] * TARGET.orders
    pos = per[Flow.PURCHASE_ORDERS] * TARGET.purchase_orders
    deliveries = per[Flow.DELIVERIES] * TARGET.orders
    receipts = per[Flow.RECEIPTS] * TARGET.purchase_orders
    stock = per[Flow.STOCK] * TARGET.products
    inbound = articles + orders + pos
    rate = PACER / RATE_WINDOW
    w("\n### At the issue's sizes (extrapolated, not measured)\n")
    w(f"*Extrapolated (not measured)*, with the most requests per record of the two tenants "
      f"above and the pacer's {rate:.1f} requests a second: an initial sync of "
      f"{TARGET.products:,} articles, {TARGET.orders:,} orders and "
      f"{TARGET.purchase_orders:,} purchase orders is about {inbound:,.0f} Fortnox requests, "
      f"**{inbound / rate / 60:.0f} minutes** (articles {articles / rate / 60:.0f}, orders "
      f"{orders / rate / 60:.0f}, purchase orders {pos / rate / 60:.1f}); delivering every "
      f"one of those orders {deliveries / rate / 60:.0f} minutes more, receiving every "
      f"purchase order {receipts / rate / 60:.0f}, and a first classic stock run "
      f"{stock / rate / 60:.0f}. Fortnox's rate limit, not erpsync, sets these times: the "
      f"initial sync of such a goods owner spans many 15-minute intervals (the runner's lock "
      f"keeps the next cycle from starting meanwhile), and a steady day's changes fit easily "
      f"(a cycle with 100 changed orders and 100 deliveries is about "
      f"{(100 * per[Flow.ORDERS] + 100 * per[Flow.DELIVERIES]) / rate / 60:.1f} minutes).")
    w(f"\nSizes: {s.articles} articles / {s.orders} orders / {s.purchase_orders} purchase "
      f"orders per tenant (issue: {TARGET.products:,} / {TARGET.orders:,} / "
      f"{TARGET.purchase_orders:,}), so that this section takes under three minutes on this "
      "machine at the vendor's pace; figures at the issue's sizes are extrapolations and are "
      "marked so.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fortnox")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    print(section(run_all(args.quick, say)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

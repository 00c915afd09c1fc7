"""PowerOffice Go in the benchmarks (issue 9): the PowerOffice Go plugin and the Ongoing WMS
plugin through the core runner against both simulators served by uvicorn on loopback, measured
cycle by cycle in a child process as in :mod:`benchmarks.run`.

- **Initial sync**: products, paid invoices -> orders, the warehouse's stock back to Go; HTTP
  requests per record per flow on each side.
- **Nothing changed**: the same flows again.
- **Many goods owners on one subscription key**: every goods owner its own Go client (client
  key) under one application key and ONE subscription key, in one ``Runner.run_once`` with the
  config's concurrency; the simulator keeps the vendor's limit of 10 calls in any second per
  subscription key (https://developer.poweroffice.net/documentation/requests) and counts what
  arrives per second on that key and the 429s it answers.

The plugin's pacer (9 requests per second per subscription key with evenly spaced starts, one
under the vendor's limit, shared by every goods owner on the key,
``erpsync_poweroffice.client.rate_limit_for``) is part of what is measured: it has no setting to
raise, so the PowerOffice side of every figure runs at the vendor's pace.
``python -m benchmarks.poweroffice [--quick]`` prints the section alone.
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

from erpsync_ongoing_wms.sandbox import OngoingSandbox
from erpsync_poweroffice.client import rate_limit_for
from erpsync_poweroffice.sandbox import PowerOfficeSandbox, ProductLine, TextLine
from pydantic import SecretStr

from benchmarks.run import (
    BACKDATE,
    PAGE_SIZE,
    UNPACED,
    Cycle,
    _classify,
    _per,
    _resources,
    measure,
)
from erpsync.demo import owner_toml, served, settings_toml
from erpsync.models import Flow

ERP_PLUGIN = "poweroffice"
WMS_PLUGIN = "ongoing_wms"
FLOWS = (Flow.ARTICLES, Flow.ORDERS, Flow.STOCK)
RATE_LIMIT = 10
"""Calls per second per subscription key, the vendor's limit and the simulator's."""
PACED = rate_limit_for("bench", "production").requests
"""The plugin's own pace: request starts per second on one subscription key."""
TARGET_OWNERS = 1_000
"""The issue's number of goods owners on one subscription key."""
PRODUCT_EVERY = timedelta(minutes=1)
INVOICE_EVERY = timedelta(minutes=5, seconds=1)
"""Change times spread as in a real company: only the newest record is inside the runner's
5-minute overlap window when the same sync runs again."""
POPULAR = 20
"""The invoices sell the first POPULAR products (what the orders reserve moves their WMS
balance)."""
STOCK_CHANGED = 10
"""Every STOCK_CHANGED-th product's warehouse count differs from Go's StockOnHand."""


@dataclass(frozen=True)
class PoSizes:
    products: int
    invoices: int
    """Paid invoices (each two product lines and a text line), plus one unpaid."""
    owners: int
    owner_products: int = 2
    owner_invoices: int = 1
    latency: float = 0.020
    concurrency: int = 8
    page_size: int = 1000
    """The plugin's PageSize (its default)."""


FULL = PoSizes(products=1000, invoices=200, owners=100)
QUICK = PoSizes(products=100, invoices=30, owners=12)


# --- the simulators --------------------------------------------------------------------------


class Arrivals:
    """ASGI middleware that notes when each call arrives (the simulator side's clock), to count
    the calls per fixed one-second window."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)

    def per_window(self, since: int = 0) -> Counter[int]:
        """Calls per fixed one-second window (whole seconds from the first call)."""
        times = self.times[since:]
        return Counter(int(t - times[0]) for t in times) if times else Counter()


@dataclass
class PoOwner:
    id: str
    client_key: str
    username: str
    password: str
    wms_goods_owner: int


@dataclass
class PoVendors:
    """The PowerOffice Go and Ongoing WMS simulators with a fixed latency per request."""

    latency: float
    rate_limit: int | None
    po: PowerOfficeSandbox = field(init=False)
    wms: OngoingSandbox = field(init=False)
    arrivals: Arrivals = field(init=False)
    owners: list[PoOwner] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.po = PowerOfficeSandbox(page_size=PAGE_SIZE, latency=self.latency,
                                     rate_limit=self.rate_limit, seed=11)
        self.wms = OngoingSandbox(page_size=PAGE_SIZE, latency=self.latency)
        self.arrivals = Arrivals(self.po.app)
        default = self.wms.settings()
        self.owners.append(PoOwner("bench", self.po.client_key["demo"], str(default["username"]),
                                   default["password"].get_secret_value(),
                                   int(default["goods_owner_id"])))

    @property
    def subscription_key(self) -> str:
        return self.po.subscription_key["demo"]

    def add_owner(self, n: int) -> PoOwner:
        """Another goods owner: a Go client under the same application and subscription key,
        a WMS user of its own."""
        owner = PoOwner(f"owner{n:04d}", self.po.add_client("demo", name=f"Kunde {n} AS"),
                        f"bench{n}", f"secret-{n}-pw", 1000 + n)
        self.wms.add_user(owner.username, owner.password, owner.wms_goods_owner)
        self.owners.append(owner)
        return owner

    def populate(self, owner: PoOwner, products: int, invoices: int,
                 tag: str = "V") -> list[str]:
        """Stock products in two groups and paid invoices (two product lines and a text line
        each, of the :data:`POPULAR` first products) in ``owner``'s Go client, made over the
        two days before the run (a product a minute, an invoice sent and paid every
        :data:`INVOICE_EVERY`); one more invoice left unpaid. Go's StockOnHand of product n is
        n % 40. The product codes."""
        start = datetime.now(UTC) - 2 * BACKDATE
        at = start
        po, client = self.po, owner.client_key
        groups = [po.add_product_group(f"{tag}G{g}", f"Varegruppe {g} æøå", at=at,
                                       client=client) for g in range(2)]
        codes = [po.add_product(f"{tag}-{n:06d}", f"Vare {n} Ærlig øl", group=groups[n % 2],
                                unit_price=Decimal("49.90"), unit_cost=Decimal("20.10"),
                                gtin=f"70{n:011d}", unit="EA", stock_item=True,
                                stock_on_hand=n % 40, at=start + n * PRODUCT_EVERY,
                                client=client)
                 for n in range(products)]
        customer = po.add_customer("Kafé Ærlig", legal_name="Kafé Ærlig AS",
                                   delivery_address={"AddressLine1": "Storgata 1",
                                                     "ZipCode": "0155", "City": "Oslo",
                                                     "CountryCode": "NO"},
                                   at=at, client=client)
        popular = min(products, POPULAR)
        for n in range(invoices + 1):
            sent = start + n * INVOICE_EVERY
            invoice = po.send_invoice(customer, [
                ProductLine(codes[(n * 2) % popular], 1 + n % 3),
                ProductLine(codes[(n * 2 + 1) % popular], 2, discount_percent=10),
                TextLine("Leveres bakdøren, takk!")], customer_reference="Kari", at=sent,
                client=client)
            if n < invoices:
                po.register_payment(invoice, at=sent, client=client)
        return codes

    def count_stock(self, owner: PoOwner, codes: Sequence[str]) -> int:
        """The warehouse counts: as Go has it, but every :data:`STOCK_CHANGED`-th product one
        more. How many differ."""
        changed = 0
        for n, code in enumerate(codes):
            differs = n % STOCK_CHANGED == 0
            self.wms.set_stock(code, n % 40 + (1 if differs else 0),
                               goods_owner_id=owner.wms_goods_owner)
            changed += differs
        return changed

    def counts(self) -> tuple[int, int]:
        return len(self.po.requests), len(self.wms.requests)

    def classify(self, erp_from: int, wms_from: int) -> tuple[Counter[str], Counter[str]]:
        return (_classify_po(self.po.requests[erp_from:]),
                _classify(self.wms.requests[wms_from:], erp=False))


_ID = re.compile(r"/(\d+|[0-9a-fA-F-]{36})(?=/|$)")


def _classify_po(requests: Sequence[Any]) -> Counter[str]:
    """PowerOffice requests by kind (``token``, ``list``: a collection read, ``read``: one
    invoice's lines, ``write``: a PATCH) and by ``METHOD /v2/Resource``."""
    counts: Counter[str] = Counter()
    for request in requests:
        path = _ID.sub("/{id}", request.path.removeprefix("/Demo"))
        counts["total"] += 1
        if path.endswith("/OAuth/Token"):
            kind = "token"
        elif request.method != "GET":
            kind = "write"
        elif "{id}" in path:
            kind = "read"
        else:
            kind = "list"
        counts[kind] += 1
        counts[f"{request.method} {path}"] += 1
        if request.status == 429:
            counts["429"] += 1
    return counts


def write_config(folder: Path, vendors: PoVendors, erp_port: int, wms_port: int,
                 sizes: PoSizes) -> Path:
    """An ordinary erpsync.toml for every goods owner (secrets in files), all on one
    application key and one subscription key."""
    erp_base = vendors.po.settings() | {"page_size": sizes.page_size}
    wms_base = vendors.wms.settings() | {"page_size": PAGE_SIZE, "requests_per_minute": UNPACED}
    blocks = []
    for owner in vendors.owners:
        erp = settings_toml(folder, f"erp_{owner.id}",
                            erp_base | {"client_key": SecretStr(owner.client_key)}, erp_port)
        wms = settings_toml(folder, f"wms_{owner.id}", wms_base | {
            "username": owner.username, "password": SecretStr(owner.password),
            "goods_owner_id": owner.wms_goods_owner}, wms_port)
        blocks.append(owner_toml(owner.id, ERP_PLUGIN, erp, WMS_PLUGIN, wms))
    path = folder / "erpsync.toml"
    path.write_text(f'# Written by benchmarks/poweroffice.py\nstate_dir = "state"\n'
                    f"concurrency = {sizes.concurrency}\n" + "".join(blocks), encoding="utf-8")
    return path


@contextlib.contextmanager
def serving(vendors: PoVendors, sizes: PoSizes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="erpsync-bench-po-") as tmp, \
            served(vendors.arrivals, vendors.wms.app) as (erp_server, wms_server):
        yield write_config(Path(tmp), vendors, erp_server.port, wms_server.port, sizes)


# --- the scenarios ---------------------------------------------------------------------------


@dataclass
class OwnersCycle:
    cycle: Cycle
    sliding_peak: int
    """The most calls on the key within any one second, as the simulator counted them."""
    window_peak: int
    """The most calls on the key in one fixed one-second window (from the first call)."""
    seconds: int
    throttled: int
    """429s the simulator answered on the key in this cycle."""


@dataclass
class PoResults:
    sizes: PoSizes
    records: dict[Flow, int]
    stock_changed: int
    initial: dict[Flow, Cycle]
    again: dict[Flow, Cycle]
    owners: int
    first: OwnersCycle
    second: OwnersCycle
    elapsed: float


def sync_benchmark(sizes: PoSizes, say: Any) -> tuple[dict[Flow, int], int, dict[Flow, Cycle],
                                                      dict[Flow, Cycle]]:
    """Initial sync and the nothing-changed run of one goods owner. The simulator's own rate
    limit stays off here (the plugin's pacer keeps to 10/s anyway); it is on for the owners."""
    vendors = PoVendors(sizes.latency, None)
    owner = vendors.owners[0]
    codes = vendors.populate(owner, sizes.products, sizes.invoices)
    initial, again = {}, {}
    changed = 0
    with serving(vendors, sizes) as config:
        for flow in FLOWS:
            if flow is Flow.STOCK:
                changed = vendors.count_stock(owner, codes)
            initial[flow] = measure(vendors, config, [flow])
            say(f"poweroffice initial {flow.value}: {initial[flow].wall:.1f} s, "
                f"{initial[flow].requests} requests")
        for flow in FLOWS:
            again[flow] = measure(vendors, config, [flow])
            say(f"poweroffice again {flow.value}: {again[flow].requests} requests")
    records = {Flow.ARTICLES: sizes.products, Flow.ORDERS: sizes.invoices,
               Flow.STOCK: sizes.products}
    return records, changed, initial, again


def _owners_cycle(vendors: PoVendors, config: Path) -> OwnersCycle:
    key = vendors.subscription_key
    throttled_before = vendors.po.throttled(key)
    arrived_before = len(vendors.arrivals.times)
    # The simulator's own peak (``peak_rate``) is kept since its start; this cycle's peaks
    # come from this cycle's arrival times.
    cycle = measure(vendors, config)
    windows = vendors.arrivals.per_window(arrived_before)
    times = vendors.arrivals.times[arrived_before:]
    sliding = _sliding_peak(times)
    return OwnersCycle(cycle, sliding, max(windows.values(), default=0), len(windows),
                       vendors.po.throttled(key) - throttled_before)


def _sliding_peak(times: Sequence[float]) -> int:
    """The most arrivals within any one second (a sliding window, as the simulator counts)."""
    peak = start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def owners_benchmark(sizes: PoSizes, say: Any) -> tuple[OwnersCycle, OwnersCycle]:
    vendors = PoVendors(sizes.latency, RATE_LIMIT)
    vendors.owners.clear()
    for n in range(sizes.owners):
        owner = vendors.add_owner(n)
        vendors.populate(owner, sizes.owner_products, sizes.owner_invoices, tag=f"O{n}")
    with serving(vendors, sizes) as config:
        first = _owners_cycle(vendors, config)
        say(f"poweroffice {sizes.owners} owners, first cycle: {first.cycle.wall:.1f} s, "
            f"{first.cycle.erp['total']} PowerOffice requests, peak {first.sliding_peak}/s, "
            f"429s {first.throttled}")
        second = _owners_cycle(vendors, config)
        say(f"poweroffice {sizes.owners} owners, second cycle: {second.cycle.wall:.1f} s, "
            f"{second.cycle.erp['total']} PowerOffice requests, peak {second.sliding_peak}/s, "
            f"429s {second.throttled}")
    return first, second


def run_all(quick: bool, say: Any) -> PoResults:
    sizes = QUICK if quick else FULL
    started = time.monotonic()
    records, changed, initial, again = sync_benchmark(sizes, say)
    first, second = owners_benchmark(sizes, say)
    return PoResults(sizes, records, changed, initial, again, sizes.owners, first, second,
                     time.monotonic() - started)


# --- the report ------------------------------------------------------------------------------


def section(r: PoResults) -> str:
    s = r.sizes
    out: list[str] = []
    w = out.append
    w("\n## 6. PowerOffice Go\n")
    w(f"The `poweroffice` and `ongoing_wms` plugins through `Runner.run_once` against "
      f"`PowerOfficeSandbox` and `OngoingSandbox`, each served by uvicorn on loopback, every "
      f"measured cycle in a child process as above; latency {s.latency * 1000:.0f} ms per "
      f"request on both simulators; the plugin's PageSize {s.page_size:,} (its default). "
      f"Requests are counted on the simulators' side. The plugin paces every goods owner on a "
      f"subscription key to {PACED} request starts per second together, evenly spaced: one "
      f"under the vendor's limit of {RATE_LIMIT} "
      f"(https://developer.poweroffice.net/documentation/requests), so that network jitter "
      f"never puts an extra call in the gateway's second; that pacer cannot be raised, so the "
      f"PowerOffice side of every wall time here is the vendor's pace, not erpsync's. Took "
      f"{r.elapsed / 60:.1f} minutes.\n")
    w("### Initial sync\n")
    w(f"**{s.products:,} stock products** in two groups, **{s.invoices:,} paid invoices** (two "
      f"product lines and a text line each, of {POPULAR} popular products; one more unpaid, "
      f"not synced), made over the two days before the run; the stock flow after the "
      f"warehouse counted: **{r.stock_changed}** counts differ from Go's StockOnHand, and "
      f"the WMS balance the Ongoing plugin reports (its default, `sellableNumberOfItems`) "
      f"also excludes what the orders just synced reserve; "
      f"only balances that differ from Go's are written. The flows run one after the "
      f"other.\n")
    w("| flow | records read | written | PowerOffice requests (token / list / read / write) "
      "| PowerOffice req. per record | WMS requests (read / write) | WMS req. per record | "
      "wall s | pacer bound s |")
    w("|---|---:|---:|---|---:|---|---:|---:|---:|")
    for flow in FLOWS:
        c = r.initial[flow]
        n = c.runs_sum("read")
        e = c.erp
        w(f"| {flow.value} | {n:,} | {c.runs_sum('written'):,} | {e['total']} ({e['token']} / "
          f"{e['list']} / {e['read']} / {e['write']}) | {_per(e['total'], n)} | "
          f"{c.wms['total']} ({c.wms['read']} / {c.wms['write']}) | {_per(c.wms['total'], n)} "
          f"| {c.wall:.2f} | {e['total'] / PACED:.1f} |")
    w(f"\n*pacer bound*: PowerOffice requests / {PACED} per second, the least wall time the "
      "plugin's pacer allows.\n")
    w("Requests by resource:\n")
    for flow in FLOWS:
        c = r.initial[flow]
        w(f"- {flow.value}: PowerOffice {_resources(c.erp)}; WMS {_resources(c.wms)}")
    orders = r.initial[Flow.ORDERS]
    lines = orders.erp["GET /v2/OutgoingInvoices/{id}/Lines"]
    w(f"\nThe orders flow reads the invoice list twice (once for the credit notes, whose "
      f"invoices are no orders, then for the paid invoices), the customers of each page in one "
      f"`customerNos` read, and **one `/Lines` read per paid invoice** ({lines} here): the v2 "
      f"invoice list does not carry its lines, so about one PowerOffice request per order is "
      f"the floor, and at {PACED} per second {s.invoices:,} new orders take at least "
      f"{s.invoices / PACED:.0f} s. The stock flow reads Go's products 100 codes at a "
      f"time (`codes` filter) and PATCHes only the "
      f"{r.initial[Flow.STOCK].erp['write']} that differ.")
    w("\n### The same sync again, nothing changed\n")
    w("Target: at most one list request per flow (plus paging) and no writes to either side.\n")
    w("| flow | records read | written | PowerOffice token | list | read | write | WMS read | "
      "WMS write |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for flow in FLOWS:
        c = r.again[flow]
        e = c.erp
        w(f"| {flow.value} | {c.runs_sum('read'):,} | {c.runs_sum('written'):,} | {e['token']} "
          f"| {e['list']} | {e['read']} | {e['write']} | {c.wms['read']} | {c.wms['write']} |")
    writes = sum(r.again[f].erp["write"] + r.again[f].wms["write"] for f in FLOWS)
    lists = {f: r.again[f].erp["list"] for f in FLOWS}
    reads = sum(r.again[f].erp["read"] for f in FLOWS)
    # Orders: one list of invoices per pass, two passes by design (see above).
    met = writes == 0 and reads == 0 and lists[Flow.ARTICLES] <= 1 and lists[Flow.STOCK] <= 1
    w(f"\nWrites: **{writes}** (target 0). PowerOffice list requests: articles "
      f"{lists[Flow.ARTICLES]}, orders {lists[Flow.ORDERS]}, stock {lists[Flow.STOCK]}. "
      f"Target **{'met' if met and lists[Flow.ORDERS] <= 1 else 'missed'}**"
      + ("" if lists[Flow.ORDERS] <= 1 else
         f" for orders only: the flow lists the invoices twice ({lists[Flow.ORDERS]} requests, "
         f"each answered 204 when nothing changed), by design, to find credit notes first "
         f"(plugins/poweroffice/erpsync_poweroffice/plugin.py `fetch_orders`); one pass that "
         f"keeps the page's credit notes and looks back for their invoices would make it one")
      + ". The records read again are those inside the runner's 5-minute overlap before the "
      "cursor, which is the newest change read (the catalogue's changes are a minute apart, "
      "the invoices' five): the newest product and the newest paid invoice are read on every "
      "cycle by design (core/erpsync/flows.py: \"records that share the cursor's time are read "
      "again rather than missed\"), and a paid invoice read again costs its `/Lines` read and "
      "a customers read, though nothing is written. Each run also fetches an access token: "
      "erpsync builds each goods owner's clients anew every cycle (`Runner.run_owner` closes "
      "them), so the 20-minute token is not reused across cycles; one token request per goods "
      "owner and cycle (here each flow ran as a cycle of its own).\n")
    for flow in FLOWS:
        c = r.again[flow]
        w(f"- {flow.value}: PowerOffice {_resources(c.erp)}; WMS {_resources(c.wms)}")
    w(f"\n### {r.owners} goods owners on one subscription key\n")
    w(f"**{r.owners} goods owners**, each its own Go client (client key) with "
      f"{s.owner_products} stock products and {s.owner_invoices} paid invoice, all under one "
      f"application key and **one subscription key**, each its own WMS goods owner; one "
      f"`Runner.run_once` over all of them with `concurrency = {s.concurrency}` and every "
      f"flow. The simulator enforces the vendor's {RATE_LIMIT} calls per second on the key "
      f"(sliding window) and answers 429 over it. Target: no 429.\n")
    w("| cycle | wall s | PowerOffice requests | per owner | peak per second (sliding) | "
      "peak per fixed 1-s window | mean per second | 429s drawn | WMS requests | "
      "erpsync CPU s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for title, o in (("first (initial sync)", r.first), ("second (nothing changed)", r.second)):
        c = o.cycle
        total = c.erp["total"]
        w(f"| {title} | {c.wall:.1f} | {total:,} | {total / r.owners:.1f} | "
          f"{o.sliding_peak} | {o.window_peak} | {total / max(1, o.seconds):.1f} | "
          f"**{o.throttled}** | {c.wms['total']:,} | {c.cpu:.1f} |")
    failures = r.first.cycle.failures() + r.second.cycle.failures()
    if failures:
        w(f"\nRuns that did not end `ok`: {len(failures)}, e.g. `{failures[0]}`.")
    steady_resources = Counter({k: v for k, v in r.second.cycle.erp.items() if " " in k})
    w("\nPowerOffice requests per goods owner in the steady cycle (429 retries included): "
      + ", ".join(f"{name} {n / r.owners:g}" for name, n in sorted(steady_resources.items()))
      + ".")
    drawn = r.first.throttled + r.second.throttled
    w(f"\n429s drawn: **{drawn}** (target 0: **{'met' if drawn == 0 else 'missed'}**). "
      "Peaks are counted on the simulator's side from the arrival times of the calls; "
      "the sliding peak is the most calls within any one second, as the vendor's gateway "
      "counts them.")
    if drawn:
        w(f"\n**Why 429s are drawn.** The plugin's pacer starts at most {PACED} calls in any "
          f"second on its own clock, evenly spaced (`rate_limit_for` in plugins/poweroffice/"
          f"erpsync_poweroffice/client.py), while the gateway counts arrivals on its clock: "
          f"more jitter between the two than the margin of one call a second absorbs. Each 429 "
          f"costs that goods owner the Retry-After wait and a retry; nothing is lost.")
    per_owner = r.first.cycle.erp["total"] / r.owners
    steady = r.second.cycle.erp["total"] / r.owners
    bound = steady * TARGET_OWNERS / RATE_LIMIT
    w(f"\n*Extrapolated (not measured)* to {TARGET_OWNERS:,} goods owners on one key: at "
      f"{per_owner:.1f} PowerOffice requests per goods owner for a first cycle and "
      f"{steady:.1f} for a steady one, the key's {RATE_LIMIT} per second allow at best "
      f"{per_owner * TARGET_OWNERS / RATE_LIMIT / 60:.1f} minutes for the first cycle and "
      f"**{bound / 60:.1f} minutes for a steady cycle**, whatever the concurrency "
      f"({'inside' if bound < 900 else 'outside'} the 15-minute interval): the key's limit, "
      "not erpsync, bounds such a cycle, and 429s (above) lengthen it. For more goods owners "
      "per key, the steady requests per goods owner must fall: the token every cycle, the "
      "second invoice list and the newest invoice read again (above) are half of them.")
    w(f"\nSizes: {s.products:,} products / {s.invoices:,} invoices for the sync and "
      f"{r.owners} goods owners (issue: {TARGET_OWNERS:,}: at 10 requests per second its "
      f"two cycles alone would take half an hour), so that this part takes about four "
      f"minutes on this machine; figures at {TARGET_OWNERS:,} are extrapolations and "
      "are marked so.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.poweroffice")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    print(section(run_all(args.quick, say)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

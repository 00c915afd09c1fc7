"""The HTTP surface of ``erpsync serve`` in the benchmarks (issue 10): what one Prometheus
scrape of ``/metrics`` and one status page cost with 1,000 goods owners (and 100, for scale).

The parent process (:func:`run_all`) writes an ordinary config of N goods owners (the
``netvisor`` ERP and ``ongoing_wms`` WMS plugins, every flow both offer, secrets in files, the
vendors' URLs on a loopback port where nothing listens: no cycle runs) and fills a state
directory as a day of work would leave it (:func:`fill_state`): one run record per goods owner
and flow, mostly ``ok``, a few ``partial`` with dead letters, a few ``failed``; 1 % of the goods
owners needing re-authorisation, 1 % paused.

A child process (``python -m benchmarks.service --serve CONFIG``) holds only what
``erpsync serve`` holds: it builds the :class:`~erpsync.service.Service` on that config and
state, gives its metrics the counters a day of runs leaves in a serving process (the observer
hook the runner calls), and serves its HTTP surface twice: on the socket
:meth:`Service._listen` binds (as ``erpsync serve`` does) and, the same app, on a loopback
socket with TCP_NODELAY (the cost of the work without the kernel's delayed ACK). Its scheduler
does not run (``/healthz`` says so): nothing but the measured requests uses its CPU.

The parent asks each path in turn over one kept-alive connection, as Prometheus does, and reads
the child's CPU time from ``/proc/PID/stat`` around the measured requests, so the CPU per
request is the server's alone (uvicorn, starlette, the state store reads, the rendering).

``python -m benchmarks.service [--quick]`` prints the section alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ERP_PLUGIN = "netvisor"
WMS_PLUGIN = "ongoing_wms"
NOWHERE = 9
"""The vendors' port in the config: nothing listens on it (no cycle runs here anyway)."""
SIZES = (100, 1_000)
QUICK_SIZES = (100, 300)
REQUESTS = 40
"""Measured requests per path on the TCP_NODELAY socket (after WARM_UP unmeasured ones), and
half as many on the service's own socket."""
QUICK_REQUESTS = 8
WARM_UP = 3
ROOT = Path(__file__).resolve().parent.parent


# --- the config and the state ----------------------------------------------------------------


def owner_id(n: int) -> str:
    return f"owner{n:04d}"


def write_config(folder: Path, owners: int) -> Path:
    """An ordinary erpsync.toml of ``owners`` goods owners, each its own Netvisor company and
    WMS user, secrets in files; no ``[service]`` table (the child listens itself)."""
    from erpsync_netvisor.sandbox import NetvisorSandbox
    from erpsync_ongoing_wms.sandbox import OngoingSandbox
    from pydantic import SecretStr

    from erpsync.demo import owner_toml, settings_toml

    erp_base = NetvisorSandbox().settings()
    wms_base = OngoingSandbox().settings()
    blocks = []
    for n in range(owners):
        oid = owner_id(n)
        erp = settings_toml(folder, f"erp_{oid}", erp_base | {
            "organisation_id": f"{2_000_000 + n:07d}-{n % 10}",
            "private_key": SecretStr(f"private-{n}"), "partner_key": SecretStr(f"partner-{n}")},
            NOWHERE)
        wms = settings_toml(folder, f"wms_{oid}", wms_base | {
            "username": f"wms{n}", "password": SecretStr(f"secret-{n}-pw"),
            "goods_owner_id": 1000 + n}, NOWHERE)
        blocks.append(owner_toml(oid, ERP_PLUGIN, erp, WMS_PLUGIN, wms))
    path = folder / "erpsync.toml"
    path.write_text('# Written by benchmarks/service.py\nstate_dir = "state"\n'
                    + "".join(blocks), encoding="utf-8")
    return path


@dataclass
class Filled:
    """What :func:`fill_state` put in the state directory."""

    owners: int
    flows: int
    runs: int = 0
    partial: int = 0
    failed: int = 0
    reauthorisation: int = 0
    paused: int = 0
    dead_letters: int = 0
    seconds: float = 0.0


def _needs_reauthorisation(n: int) -> bool:
    return n % 100 == 7


def _paused(n: int) -> bool:
    return n % 100 == 42


def _with_letters(n: int) -> bool:
    return n % 25 == 3


def _failed(n: int) -> bool:
    return n % 50 == 11


def fill_state(config_path: Path) -> Filled:
    """The state directory after a day of work: every goods owner's flows ran within the last
    15 minutes (one run record each); 4 % have 5 dead letters in one flow (that run ended
    ``partial``), 2 % had one flow fail, 1 % need re-authorisation (their cycle stopped at the
    first flow, the others' last runs are older), 1 % are paused (since the morning)."""
    from erpsync.config import load_config
    from erpsync.plugins import discover
    from erpsync.state import DeadLetter, DiskState, OwnerStatus, Pause, RunRecord

    started = time.monotonic()
    config = load_config(config_path, discover())
    now = datetime.now(UTC)
    flows = [f.value for f in config.goods_owners[0].flows]
    filled = Filled(len(config.goods_owners), len(flows))
    state = DiskState(config.state_dir)
    try:
        for n, owner in enumerate(config.goods_owners):
            oid = owner.id
            cycle = now - timedelta(seconds=(n * 37) % 900)  # the cycles spread over 15 min
            if _paused(n):
                cycle = now - timedelta(hours=6)
            letters_flow = flows[n % len(flows)] if _with_letters(n) else None
            failed_flow = flows[(n + 3) % len(flows)] if _failed(n) else None
            for i, flow in enumerate(flows):
                end = cycle + timedelta(seconds=2 * i + 1)
                record: dict[str, Any] = {
                    "goods_owner": oid, "flow": flow, "run_id": f"{oid}-{n}-{i}",
                    "started_at": end - timedelta(seconds=1), "finished_at": end,
                    "outcome": "ok", "read": (n + i) % 7, "written": (n + i) % 3,
                    "unchanged": 2,
                    "requests": 2 + (n + i) % 4}
                if _needs_reauthorisation(n) and i == 0:
                    record.update(
                        started_at=now - timedelta(hours=2, seconds=1),
                        finished_at=now - timedelta(hours=2), outcome="needs_reauthorisation",
                        read=0, written=0, unchanged=0, refused_by="erp",
                        message="Netvisor refused the credentials: AUTHENTICATION_FAILED "
                                "(INVALID_CUSTOMER_ID_OR_KEY)",
                        action=f"fix the Netvisor keys in the config, then run `erpsync run "
                               f"--once --goods-owner {oid}`")
                elif _needs_reauthorisation(n):
                    record.update(started_at=now - timedelta(hours=2, minutes=16),
                                  finished_at=now - timedelta(hours=2, minutes=15))
                elif flow == letters_flow:
                    record.update(outcome="partial", read=12, written=7, dead_lettered=5,
                                  message="5 record(s) refused by the WMS; see erpsync "
                                          "dead-letters")
                    filled.partial += 1
                elif flow == failed_flow:
                    record.update(outcome="failed", read=0, written=0, unchanged=0,
                                  message="Ongoing WMS answered 503 Service Unavailable after 4 "
                                          "attempts (GET /orders): the warehouse's API is down "
                                          "for maintenance, try again later")
                    filled.failed += 1
                state.add_run(RunRecord.model_validate(record))
                filled.runs += 1
            if letters_flow is not None:
                for k in range(5):
                    key = f"{oid}-{letters_flow}-{k:03d}"
                    seen = cycle + timedelta(seconds=k)
                    state.put_dead_letter(DeadLetter(
                        goods_owner=oid, flow=letters_flow, key=key, business_key=key,
                        message="the WMS refused the record: 400 Bad Request",
                        vendor_message="ArticleNumber: an article with this number is "
                                       "missing in the warehouse; create it first",
                        record_type="order",
                        payload={"number": key, "lines": [
                            {"article": f"A-{n}-{line}", "quantity": line + 1,
                             "description": "Tuote äöå"} for line in range(3)],
                            "delivery": {"name": "Kahvila Äijälä Oy",
                                         "street": "Kauppakatu 1", "post_code": "00100",
                                         "city": "Helsinki"}},
                        first_seen=seen - timedelta(hours=3), last_seen=seen))
                    filled.dead_letters += 1
            if _needs_reauthorisation(n):
                state.set_owner_status(oid, OwnerStatus(
                    goods_owner=oid, state="needs_reauthorisation",
                    message="Netvisor refused the credentials: AUTHENTICATION_FAILED "
                            "(INVALID_CUSTOMER_ID_OR_KEY)",
                    action=f"fix the Netvisor keys in the config, then run `erpsync run "
                           f"--once --goods-owner {oid}`",
                    since=now - timedelta(hours=2)))
                filled.reauthorisation += 1
            if _paused(n):
                state.set_pause(oid, Pause(goods_owner=oid, since=now - timedelta(hours=5),
                                           reason="warehouse moving to a new site"))
                filled.paused += 1
    finally:
        state.close()
    filled.seconds = time.monotonic() - started
    return filled


# --- the child: the service, served ----------------------------------------------------------


def serve(config_path: Path) -> None:
    """Serve the service's HTTP surface until SIGTERM; print its two ports on stdout first.

    One port is the socket ``erpsync serve`` listens on (``Service._listen`` binds it, with a
    ``[service]`` of port 0 on loopback), the other the same app on a socket with
    TCP_NODELAY, which shows the cost of the work without the kernel's delayed ACK."""
    from erpsync.config import ServiceSettings, load_config
    from erpsync.plugins import discover
    from erpsync.service import Service
    from erpsync.state import DiskState

    registry = discover()
    config = load_config(config_path, registry)
    state = DiskState(config.state_dir)
    service = Service(config, state, registry, ServiceSettings(port=0, host="127.0.0.1"))
    _a_day_of_counters(service)
    now = datetime.now(UTC)
    for n, owner in enumerate(config.goods_owners):  # as a serving schedule shows them
        service.runner.next_run[owner.id] = now + timedelta(seconds=(n * 37) % 900)
    try:
        asyncio.run(_serve_both(service))
    finally:
        state.close()


async def _serve_both(service: Any) -> None:
    import uvicorn

    from erpsync.service.web import create_app

    server, serving = await service._listen()  # exactly as `erpsync serve` listens
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited when accepted
    quick = uvicorn.Server(uvicorn.Config(create_app(service), log_config=None,
                                          access_log=False, lifespan="off",
                                          server_header=False))

    async def until_stopped() -> None:
        await quick.serve(sockets=[sock])  # it handles SIGTERM (the service's one does not)
        server.should_exit = True

    both = asyncio.gather(serving, until_stopped())
    while not quick.started:
        await asyncio.sleep(0.01)
    print(f"ports {service.address[1]} {sock.getsockname()[1]}", flush=True)
    await both


def _a_day_of_counters(service: Any) -> None:
    """The counters a process that served the day would hold: every (goods owner, flow) has
    run ``ok`` before, and its last outcome if that was another; cycles in the histogram."""
    from erpsync.state import RunRecord

    metrics, state = service.metrics, service.runner.state
    for owner in service.runner.config.goods_owners:
        for summary in state.summary(owner.id, [f.value for f in owner.flows]).values():
            last: RunRecord = summary.last
            if last.outcome != "ok":
                metrics.run_finished(owner, last.model_copy(update={"outcome": "ok"}))
            metrics.run_finished(owner, last)
        for seconds in (1.2, 0.8, 3.5):
            metrics.cycle_finished(owner, seconds)


# --- the parent: the requests ----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """The process's user + system CPU seconds, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int, name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


@dataclass
class Timing:
    label: str
    path: str
    requests: int
    median_ms: float
    p95_ms: float
    cpu_ms: float
    """The server's CPU per request, averaged over the measured requests."""
    bytes: int
    status: int
    serve_median_ms: float = 0.0
    """The median on the socket `erpsync serve` listens on (``Service._listen``)."""
    serve_p95_ms: float = 0.0


@dataclass
class Scale:
    filled: Filled
    timings: list[Timing] = field(default_factory=list)
    series: int = 0
    """Samples in one /metrics answer (lines that are not comments)."""
    series_by_family: dict[str, int] = field(default_factory=dict)
    zero_records: int = 0
    """``erpsync_records`` series whose value is 0 (a result that never happened)."""
    rss_kib: int = 0
    start_seconds: float = 0.0
    """From the child's start to its port: imports, config load, the day's counters."""
    load: float = 0.0
    """The machine's 1-minute load average before the requests (other work on it)."""


@dataclass
class ServiceResults:
    scales: list[Scale]
    requests: int
    elapsed: float


def _paths(owners: int) -> list[tuple[str, str]]:
    one = owner_id(owners // 2 + 1)
    return [("`/healthz` (floor: no state read)", "/healthz"),
            ("`/metrics`", "/metrics"),
            ("`/` (first page)", "/"),
            (f"`/?owner={one}`", f"/?owner={one}"),
            ("`/?problems=1`", "/?problems=1")]


def measure_scale(owners: int, requests: int, say: Any) -> Scale:
    import httpx

    with tempfile.TemporaryDirectory(prefix="erpsync-bench-service-") as tmp:
        config = write_config(Path(tmp), owners)
        filled = fill_state(config)
        say(f"service {owners} owners: state filled in {filled.seconds:.1f} s "
            f"({filled.runs} runs, {filled.dead_letters} dead letters)")
        scale = Scale(filled)
        started = time.monotonic()
        child = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "benchmarks.service", "--serve", str(config)], cwd=ROOT,
            stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("ports "):
                raise RuntimeError(f"the service child did not start ({child.wait()})")
            scale.start_seconds = time.monotonic() - started
            scale.load = os.getloadavg()[0]
            own, quick = (int(port) for port in line.split()[1:])
            with httpx.Client(base_url=f"http://127.0.0.1:{quick}", timeout=60) as client, \
                    httpx.Client(base_url=f"http://127.0.0.1:{own}", timeout=60) as served:
                for label, path in _paths(owners):
                    t = _measure_path(client, child.pid, label, path, requests)
                    also = _measure_path(served, child.pid, label, path, max(4, requests // 2))
                    t.serve_median_ms, t.serve_p95_ms = also.median_ms, also.p95_ms
                    scale.timings.append(t)
                    say(f"service {owners} owners {path}: median {t.median_ms:.1f} ms "
                        f"({t.serve_median_ms:.1f} ms on the service's socket), p95 "
                        f"{t.p95_ms:.1f} ms, CPU {t.cpu_ms:.1f} ms, {t.bytes:,} bytes")
                body = client.get("/metrics").text
            samples = [x for x in body.splitlines() if x and not x.startswith("#")]
            scale.series = len(samples)
            scale.zero_records = sum(1 for x in samples if x.startswith("erpsync_records")
                                     and x.endswith(" 0.0"))
            for sample in samples:
                name = sample.split("{", 1)[0].split(" ", 1)[0]
                for suffix in ("_total", "_bucket", "_count", "_sum"):
                    name = name.removesuffix(suffix)
                scale.series_by_family[name] = scale.series_by_family.get(name, 0) + 1
            scale.rss_kib = _rss_kib(child.pid, "VmHWM")
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return scale


def _measure_path(client: Any, pid: int, label: str, path: str, requests: int) -> Timing:
    for _ in range(WARM_UP):
        client.get(path)
    walls = []
    size = status = 0
    cpu_before = _cpu_seconds(pid)
    for _ in range(requests):
        began = time.perf_counter()
        answer = client.get(path)
        walls.append(time.perf_counter() - began)
        size, status = len(answer.content), answer.status_code
    cpu = _cpu_seconds(pid) - cpu_before
    if status != (503 if path == "/healthz" else 200):  # healthz: the scheduler is not running
        raise RuntimeError(f"{path} answered {status}: {answer.text[:2000]}")
    p95 = statistics.quantiles(walls, n=20, method="inclusive")[18]
    return Timing(label, path, requests, statistics.median(walls) * 1000, p95 * 1000,
                  cpu / requests * 1000, size, status)


def run_all(quick: bool, say: Any) -> ServiceResults:
    started = time.monotonic()
    requests = QUICK_REQUESTS if quick else REQUESTS
    scales = [measure_scale(owners, requests, say)
              for owners in (QUICK_SIZES if quick else SIZES)]
    return ServiceResults(scales, requests, time.monotonic() - started)


# --- the report ------------------------------------------------------------------------------


def section(r: ServiceResults) -> str:
    from erpsync.service.web import PAGE_SIZE

    out: list[str] = []
    w = out.append
    small, big = r.scales[0], r.scales[-1]
    f = big.filled
    sizes = " and ".join(f"{s.filled.owners:,}" for s in r.scales)
    w("\n## 8. The HTTP surface of `erpsync serve`\n")
    w(f"What one Prometheus scrape of `/metrics` and one status page cost with {sizes} goods "
      f"owners. An ordinary config (`{ERP_PLUGIN}` + `{WMS_PLUGIN}`, the {f.flows} flows both "
      f"offer, secrets in files, vendor URLs where nothing listens) and a state directory as a "
      f"day of work leaves it: one run record per goods owner and flow, 4 % of the goods "
      f"owners with 5 dead letters in one flow (that run `partial`), 2 % with one flow "
      f"`failed`, 1 % needing re-authorisation, 1 % paused (at {f.owners:,}: {f.runs:,} run "
      f"records, {f.dead_letters} dead letters, {f.reauthorisation} re-authorisations, "
      f"{f.paused} paused). A child process (`python -m benchmarks.service --serve`) builds "
      f"the `Service` on them, gives its metrics the counters a day of runs leaves in a "
      f"serving process (every flow ran `ok`, and its last outcome if another; through the "
      f"runner's observer hook) and serves `create_app(service)` with uvicorn on the socket "
      f"`Service._listen` binds, and on a second loopback socket with TCP_NODELAY; its "
      f"scheduler does not run (so `/healthz` answers 503), nothing but the measured requests "
      f"uses its CPU. The parent asks each path over one kept-alive connection, one request at "
      f"a time, after {WARM_UP} unmeasured ones: {r.requests} times on the TCP_NODELAY socket "
      f"(*median*, *p95*, *server CPU*: the child's user + system time from `/proc/PID/stat` "
      f"over those requests, divided by their number), {max(4, r.requests // 2)} times on "
      f"the service's own socket. Took {r.elapsed / 60:.1f} minutes; the machine's load "
      f"average before the requests was "
      f"{' and '.join(f'{s.load:.1f}' for s in r.scales)}.\n")
    w("| goods owners | request | server CPU ms per request | median ms | p95 ms | "
      "median ms on `erpsync serve`'s socket | response bytes |")
    w("|---:|---|---:|---:|---:|---:|---:|")
    for s in r.scales:
        for t in s.timings:
            w(f"| {s.filled.owners:,} | {t.label} | {t.cpu_ms:.1f} | {t.median_ms:.1f} | "
              f"{t.p95_ms:.1f} | {t.serve_median_ms:.1f} | {t.bytes:,} |")
    w("")
    for s in r.scales:
        large = sorted(((n, name) for name, n in s.series_by_family.items() if n >= 10),
                       reverse=True)
        families = ", ".join(f"`{name}` {n:,}" for n, name in large)
        rest = s.series - sum(n for n, _ in large)
        w(f"- {s.filled.owners:,} goods owners: **{s.series:,} series** in one scrape "
          f"({families}, the rest {rest}); the child's peak RSS {s.rss_kib / 1024:.0f} MiB.")
    ratio = big.filled.owners / small.filled.owners
    scrape, page = _timing(big, "/metrics"), _timing(big, "/")
    one = next(t for t in big.timings if t.path.startswith("/?owner="))
    records = big.series_by_family.get("erpsync_records", 0)
    w(f"\nFrom {small.filled.owners:,} to {big.filled.owners:,} goods owners (× {ratio:g}) the "
      f"scrape's server CPU grows × "
      f"{scrape.cpu_ms / _timing(small, '/metrics').cpu_ms:.1f} and the first page's "
      f"× {page.cpu_ms / _timing(small, '/').cpu_ms:.1f}: every request reads each goods "
      f"owner's run summary, pause and status from the state store (`status.snapshot`), the "
      f"page filtered to one goods owner too ({one.cpu_ms:.0f} ms at {big.filled.owners:,}), "
      f"while the page renders at most {PAGE_SIZE} goods owners. At {big.filled.owners:,} goods "
      f"owners a scrape costs {scrape.cpu_ms:.0f} ms of CPU ({scrape.cpu_ms / 150:.1f} % of "
      f"one core at a 15-second scrape interval) and {scrape.bytes / 1e6:.1f} MB. "
      f"`erpsync_records` is counted by flow and result ({records:,} series, "
      f"{big.zero_records:,} of them 0): by goods owner too, as first built, it was 30,000 "
      f"series at 1,000 goods owners and two thirds of a scrape's CPU (542 ms then).")
    floor = _timing(big, "/healthz")
    if floor.serve_median_ms - floor.median_ms > 20:
        w(f"\nOn the socket `erpsync serve` listens on, a small answer takes "
          f"{floor.serve_median_ms:.0f} ms instead of {floor.median_ms:.1f} ms: "
          f"`Service._listen` binds it with `socket.create_server`, whose sockets have "
          f"protocol 0, and asyncio sets TCP_NODELAY on accepted connections only when it is "
          f"`IPPROTO_TCP`, so Nagle's algorithm holds uvicorn's second write of an answer "
          f"until the client acknowledges the first, which Linux delays by up to 40 ms "
          f"(`erpsync.demo.LoopbackServer` sets TCP_NODELAY for that reason). It costs no CPU, "
          f"only latency, and not every answer: large ones fill the window anyway.")
    w("\nThese requests come after unmeasured ones, as a steady scrape does: the state store "
      "parses a goods owner's run summary again only when it changed (a run since), so with "
      "cycles every 15 minutes and scrapes every 15 seconds nearly every summary is already "
      "parsed; the first request after every goods owner ran parses them all.")
    return "\n".join(out) + "\n"


def _timing(scale: Scale, path: str) -> Timing:
    return next(t for t in scale.timings if t.path == path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=Path, metavar="CONFIG",
                        help="(the child) serve the HTTP surface of CONFIG's service")
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    print(section(run_all(args.quick, say)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`erpsync serve`'s HTTP surface and operations, over real HTTP against a served process and
the Netvisor and Ongoing simulators on loopback ports (tests/served.py)."""

from __future__ import annotations

import base64
import itertools
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from erpsync.state import DiskState, RunRecord

from .served import ServedErpsync, served_erpsync

TOKEN = "service-token-5f1c0e2a9b7d4e36"
VENDOR_MESSAGE = "Article name is too long for the label printer"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(world: ServedErpsync, **options: object) -> Samples:
    """/metrics, parsed by Prometheus's own text parser."""
    answer = world.get("/metrics", **options)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def runs(world: ServedErpsync, owner: str, flow: str) -> list[RunRecord]:
    state = DiskState(world.state_dir)
    try:
        return state.runs(owner, flow)
    finally:
        state.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ServedErpsync]:
    with served_erpsync(tmp_path) as opened:
        yield opened


def test_endpoints_say_what_the_runs_did(world: ServedErpsync) -> None:
    world.interval_minutes = 60  # one cycle each: the figures hold still while they are read
    world.wms.fail_next(1, 400, {"message": VENDOR_MESSAGE}, method="PUT", path="/articles")
    world.write_config()
    world.start()
    world.wait_for(lambda: runs(world, "acme", "adjustments") and runs(world, "beta", "articles"))

    assert world.get("/healthz").json() == {"status": "ok"}
    ready = world.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["schedule"] == "2 of 2 goods owner(s) scheduled"

    samples = scrape(world)
    flows = ("articles", "orders", "purchase_orders", "deliveries", "receipts", "adjustments")
    acme = {flow: runs(world, "acme", flow) for flow in flows}
    assert all(len(history) == 1 for history in acme.values())
    (articles,) = acme["articles"]
    assert (articles.outcome, articles.dead_lettered) == ("partial", 1)
    for flow, (run,) in acme.items():
        assert sample(samples, "erpsync_runs_total", goods_owner="acme", flow=flow,
                      outcome=run.outcome) == 1
        for result in ("read", "written", "unchanged", "skipped", "dead_lettered"):
            assert sample(samples, "erpsync_records_total", flow=flow,
                          result=result) == getattr(run, result), (flow, result)
    state = DiskState(world.state_dir)
    letters = state.dead_letters("acme")
    state.close()
    assert any(d.vendor_message and VENDOR_MESSAGE in d.vendor_message for d in letters)
    assert sample(samples, "erpsync_dead_letters", goods_owner="acme") == len(letters)
    assert sample(samples, "erpsync_needs_reauthorisation", goods_owner="beta") == 1
    assert sample(samples, "erpsync_needs_reauthorisation", goods_owner="acme") == 0
    assert sample(samples, "erpsync_runs_total", goods_owner="beta", flow="articles",
                  outcome="needs_reauthorisation") == 1
    success = sample(samples, "erpsync_last_success_timestamp_seconds", goods_owner="acme",
                     flow="articles")
    assert success == articles.finished_at.timestamp()
    (beta_articles,) = runs(world, "beta", "articles")
    vendors = [sample(samples, "erpsync_http_requests_total", vendor=v) or 0
               for v in ("netvisor", "ongoing-wms")]
    assert all(vendors)
    assert sum(vendors) == sum(r.requests for (r,) in acme.values()) + beta_articles.requests
    assert sample(samples, "erpsync_cycle_duration_seconds_count") == 2
    assert sample(samples, "erpsync_goods_owners", state="needs_reauthorisation") == 1
    assert sample(samples, "erpsync_scheduler_halted") == 0
    # Label values come from the config and the plugins only: no order or article numbers.
    owners = {v for (_, labels) in samples for k, v in labels if k == "goods_owner"}
    assert owners == {"acme", "beta"}

    page = world.get("/")
    assert page.status_code == 200
    assert "needs re-authorisation" in page.text and VENDOR_MESSAGE in page.text
    assert world.get("/?owner=beta").text.count('class="owner-row"') == 1


def test_health_and_readiness_flip_while_the_state_store_is_unreachable(
    world: ServedErpsync,
) -> None:
    world.write_config(["acme"])
    world.start()
    world.wait_for(lambda: runs(world, "acme", "adjustments"))
    assert world.get("/healthz").status_code == 200

    away = world.state_dir.with_name("state-unmounted")
    world.state_dir.rename(away)  # the volume is gone: SQLite would write on, unseen
    try:
        health = world.wait_for(lambda: (h := world.get("/healthz")).status_code == 503 and h)
        assert "state directory" in health.json()["reason"]
        ready = world.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["state"].startswith(f"state directory {world.state_dir}")
        assert "scheduler_halted 1.0" in world.get("/metrics").text
    finally:
        away.rename(world.state_dir)
    world.wait_for(lambda: world.get("/healthz").status_code == 200)
    assert world.get("/readyz").status_code == 200
    assert "the state store answers again" in world.log()
    count = len(runs(world, "acme", "articles"))
    world.wait_for(lambda: len(runs(world, "acme", "articles")) > count)  # cycles go on


def test_off_loopback_every_endpoint_but_healthz_needs_the_token(world: ServedErpsync) -> None:
    world.service = 'port = 0\nhost = "0.0.0.0"\ntoken = { env = "ERPSYNC_TEST_TOKEN" }'
    world.env["ERPSYNC_TEST_TOKEN"] = TOKEN
    world.write_config(["acme"])
    world.start()

    assert world.get("/healthz").status_code == 200
    for path in ("/readyz", "/metrics", "/", "/?owner=acme"):
        refused = world.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert world.get(path, headers={"Authorization": "Bearer wrong-token-000000"}
                         ).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert world.get("/readyz", headers=bearer).status_code == 200
    scrape(world, headers=bearer)
    basic = base64.b64encode(f"operator:{TOKEN}".encode()).decode()
    assert world.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    world.wait_for(lambda: "401 for GET /metrics from 127.0.0.1: wrong token" in world.log())
    assert "401 for GET /metrics from 127.0.0.1: no token" in world.log()
    assert "wrong-token-000000" not in world.log()


def test_a_token_is_required_to_listen_off_loopback(world: ServedErpsync) -> None:
    world.service = 'port = 0\nhost = "0.0.0.0"'
    world.write_config(["acme"])
    checked = world.cli("check")
    assert checked.returncode == 1
    assert "host '0.0.0.0' is not loopback: give token" in checked.stderr
    assert "errors.pydantic.dev" not in checked.stderr
    world.service = "port = 0"
    world.write_config(["acme"])
    overridden = world.cli("serve", "--host", "0.0.0.0")  # noqa: S104
    assert overridden.returncode == 1
    assert "is not loopback: give token" in overridden.stderr


def test_reload_starts_added_stops_removed_and_refuses_a_broken_config(
    world: ServedErpsync,
) -> None:
    world.write_config(["acme"])
    world.start()
    world.wait_for(lambda: runs(world, "acme", "articles"))

    world.write_config(["acme", "gamma"])  # added
    world.signal(signal.SIGHUP)
    world.wait_for(lambda: runs(world, "gamma", "adjustments"))
    assert "config reloaded: goods owner gamma added" in world.log()
    assert world.get("/readyz").json()["checks"]["schedule"] == "2 of 2 goods owner(s) scheduled"

    world.write_config(["gamma"])  # acme removed
    reloaded = world.cli("reload")
    assert reloaded.returncode == 0, reloaded.stderr
    world.wait_for(lambda: "goods owner acme removed" in world.log())
    time.sleep(0.3)  # a cycle of acme under way when it left ends with its current record
    count = len(runs(world, "acme", "articles"))
    time.sleep(2.5)  # two intervals
    assert len(runs(world, "acme", "articles")) == count
    assert 'goods_owner="acme"' not in world.get("/metrics").text
    assert 'id="owner-acme"' not in world.get("/").text

    good = world.config.read_text(encoding="utf-8")
    world.config.write_text(good.replace('plugin = "netvisor"', 'plugin = "netvisr"'),
                            encoding="utf-8")
    refused = world.cli("reload")  # checked before the service is signalled
    assert refused.returncode == 1
    assert "netvisr" in refused.stderr and "erpsync plugins" in refused.stderr
    world.signal(signal.SIGHUP)  # and by the service itself
    world.wait_for(lambda: "reload refused: 1 problem(s)" in world.log())
    assert "no erp plugin 'netvisr'" in world.log().lower() or "netvisr" in world.log()
    assert "erpsync_config_last_reload_successful 0.0" in world.get("/metrics").text
    assert 'id="reload-refused"' in world.get("/").text
    count = len(runs(world, "gamma", "articles"))
    world.wait_for(lambda: len(runs(world, "gamma", "articles")) > count)  # still serving
    assert world.get("/healthz").status_code == 200

    world.config.write_text(good, encoding="utf-8")
    world.signal(signal.SIGHUP)
    world.wait_for(lambda: world.log().count("config reloaded") == 3)
    assert "erpsync_config_last_reload_successful 1.0" in world.get("/metrics").text
    assert world.stop() == 0


def test_pause_skips_a_goods_owner_until_resumed(world: ServedErpsync) -> None:
    world.write_config(["acme"])
    world.start()
    world.wait_for(lambda: runs(world, "acme", "adjustments"))

    paused = world.cli("pause", "acme", "--reason", "ERP migration")
    assert paused.returncode == 0, paused.stderr
    time.sleep(0.5)  # a cycle under way finishes
    count = len(runs(world, "acme", "articles"))
    time.sleep(2.5)  # two intervals
    assert len(runs(world, "acme", "articles")) == count
    page = world.get("/?owner=acme").text
    assert "ERP migration" in page and 'class="paused"' in page
    assert "erpsync_paused{goods_owner=\"acme\"} 1.0" in world.get("/metrics").text
    status = world.cli("status")
    assert "acme is paused" in status.stderr and "ERP migration" in status.stderr

    resumed = world.cli("resume", "acme")
    assert resumed.returncode == 0, resumed.stderr
    world.wait_for(lambda: len(runs(world, "acme", "articles")) > count)


def test_run_once_beside_the_service_never_overlaps_one_of_its_cycles(
    world: ServedErpsync,
) -> None:
    world.interval_minutes = 0.005  # a cycle every 0.3 s: run --once lands inside one
    world.write_config(["acme"])
    world.start()
    world.wait_for(lambda: runs(world, "acme", "adjustments"))
    for _ in range(3):
        by_hand = world.cli("run", "--once", "--goods-owner", "acme")
        assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    history = sorted((r for flow in ("articles", "orders", "purchase_orders", "deliveries",
                                     "receipts", "adjustments") for r in runs(world, "acme", flow)),
                     key=lambda r: r.started_at)
    assert len(history) >= 6 * 4
    for before, after in itertools.pairwise(history):
        assert after.started_at >= before.finished_at, (before, after)


def test_json_logs_carry_goods_owner_flow_and_run_id(world: ServedErpsync) -> None:
    world.write_config(["acme"])
    world.start("--log-format", "json")
    world.wait_for(lambda: runs(world, "acme", "adjustments"))
    lines = [json.loads(line) for line in world.stderr if line.startswith("{")]
    assert len(lines) == len(world.stderr)  # every line is JSON
    (articles,) = [line for line in lines if line["flow"] == "articles"
                   and "acme articles" in line["message"]][:1]
    assert articles["goods_owner"] == "acme"
    assert articles["run_id"] == runs(world, "acme", "articles")[-1].run_id
    assert {"time", "level", "logger", "message"} <= set(articles)

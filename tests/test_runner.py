"""The schedule: several goods owners, isolation, filters, concurrency, serve, stop and locks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from erpsync_fake_wms.sandbox import WmsArticle

from erpsync import flows
from erpsync import runner as runner_module
from erpsync.config import load_config
from erpsync.errors import ConfigError, StateError
from erpsync.flows import FlowOptions
from erpsync.models import Flow
from erpsync.runner import Runner
from erpsync.state import Cursor, DiskState, OwnerStatus, Pause

from .helpers import T0, Harness, Site, seed


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with Harness.open(tmp_path, monkeypatch) as opened:
        yield opened


class FlowWatch:
    """Wraps ``run_flow`` as the runner calls it, and records which flows were in flight."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pause: float = 0.005) -> None:
        self.active: list[str] = []
        """The goods owner of every flow in flight now."""
        self.peak_owners = 0
        """The most distinct goods owners ever in flight at once."""
        self.peak_flows: dict[str, int] = {}
        """Per goods owner, the most of its flows ever in flight at once."""
        real = flows.run_flow

        async def watched(flow: Flow, owner: str, *args: Any, **kwargs: Any) -> Any:
            self.active.append(owner)
            self.peak_owners = max(self.peak_owners, len(set(self.active)))
            self.peak_flows[owner] = max(self.peak_flows.get(owner, 0),
                                         self.active.count(owner))
            try:
                await asyncio.sleep(pause)  # widen the window in which an overlap would show
                return await real(flow, owner, *args, **kwargs)
            finally:
                self.active.remove(owner)

        monkeypatch.setattr(runner_module, "run_flow", watched)


async def test_one_owners_failure_never_stops_another(harness: Harness) -> None:
    acme, beta, gamma = harness.add("acme"), harness.add("beta"), harness.add("gamma")
    for site in (acme, beta, gamma):
        seed(site)
    beta.erp.fail_next(10_000, 500)  # beta's ERP is broken
    harness.set_env(gamma.key_env, "gamma-wrong-key-31c9aa")  # gamma's key was revoked
    runner = harness.load()

    results = await runner.run_once()
    assert list(results) == ["acme", "beta", "gamma"]
    assert [(r.flow, r.outcome) for r in results["acme"]] == [(f.value, "ok") for f in Flow]
    assert acme.warehouse.order("O1") is not None
    assert acme.erp.stock_level("A1") is not None

    beta_outcomes = {r.flow: r.outcome for r in results["beta"]}
    assert {beta_outcomes[f.value] for f in (Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS,
                                             Flow.PURCHASE_ORDERS)} == {"failed"}
    beta_articles = results["beta"][0]
    assert beta_articles.message is not None
    assert "HTTP 500" in beta_articles.message
    assert beta.warehouse.article("A1") is None
    assert harness.state.get_cursor("beta", "articles") is None

    assert [(r.flow, r.outcome) for r in results["gamma"]] == [
        ("articles", "needs_reauthorisation")]
    assert harness.state.get_owner_status("gamma") is not None
    assert harness.state.get_owner_status("beta") is None

    for owner, runs in results.items():  # every outcome is recorded
        for run in runs:
            assert harness.state.runs(owner, run.flow)[0] == run


async def test_run_once_runs_only_the_owners_and_flows_asked_for(harness: Harness) -> None:
    acme, beta = harness.add("acme"), harness.add("beta")
    resting = harness.add("resting", enabled=False)
    for site in (acme, beta, resting):
        seed(site)
    runner = harness.load()

    results = await runner.run_once(owner_ids=["beta"], flows=[Flow.ORDERS, Flow.ARTICLES])
    assert list(results) == ["beta"]
    assert [r.flow for r in results["beta"]] == ["articles", "orders"]  # in cycle order
    assert (acme.erp.request_count, acme.warehouse.calls) == (0, 0)
    assert harness.state.runs("acme", "articles") == []
    assert beta.warehouse.article("A1") is not None
    assert beta.warehouse.order("O1") is not None
    assert beta.warehouse.supplier("S1") is None
    assert beta.warehouse.purchase_order("P1") is None

    results = await runner.run_once()  # every enabled goods owner
    assert list(results) == ["acme", "beta"]
    assert resting.erp.request_count == 0
    results = await runner.run_once(owner_ids=["resting"])  # a disabled one by its id
    assert [r.outcome for r in results["resting"]] == ["ok"] * len(Flow)

    with pytest.raises(ConfigError, match="no goods owner 'nobody'"):
        await runner.run_once(owner_ids=["nobody"])


@pytest.mark.parametrize("concurrency", [1, 2, 3])
async def test_at_most_concurrency_owners_are_in_flight(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    for owner_id in ("acme", "beta", "gamma"):
        seed(harness.add(owner_id))
    runner = harness.load(concurrency=concurrency)
    watch = FlowWatch(monkeypatch)
    results = await runner.run_once()
    assert all(r.outcome == "ok" for runs in results.values() for r in runs)
    if concurrency == 1:
        assert watch.peak_owners == 1
    else:  # the control: when more may run at once, the watch does see them
        assert 1 < watch.peak_owners <= concurrency


async def test_serve_runs_each_owner_on_its_interval_and_stops_promptly(
    harness: Harness,
) -> None:
    interval = 0.003  # minutes: 0.18 s
    acme = harness.add("acme", interval_minutes=interval)
    beta = harness.add("beta", interval_minutes=interval)
    held = harness.add("held", interval_minutes=interval)
    for site in (acme, beta, held):
        seed(site)
    runner = harness.load()
    harness.state.set_owner_status("held", OwnerStatus(
        goods_owner="held", state="needs_reauthorisation", message="key refused",
        since=datetime.now(UTC)))

    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(stop))
    deadline = time.monotonic() + 5
    while any(len(harness.state.runs(o, "adjustments")) < 2 for o in ("acme", "beta")):
        assert time.monotonic() < deadline, "serve did not run two cycles of each owner"
        assert not serving.done()
        await asyncio.sleep(0.01)
    stopped_at = time.monotonic()
    stop.set()
    await asyncio.wait_for(serving, 2)
    assert time.monotonic() - stopped_at < 1

    for owner_id in ("acme", "beta"):
        starts = sorted(r.started_at for r in harness.state.runs(owner_id, "articles"))
        assert len(starts) >= 2
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= interval * 60 * 0.6  # rescheduled by the interval, not at once
        assert runner.next_run[owner_id] > starts[-1]
    assert (held.erp.request_count, held.warehouse.calls) == (0, 0)  # held for a person
    assert harness.state.runs("held", "articles") == []
    assert acme.warehouse.order("O1") is not None

    state = harness.reopen_state()  # what serve saved is on disk
    assert state.get_cursor("acme", "articles") == Cursor(at=T0, key="A3")
    assert state.get_cursor("beta", "orders") == Cursor(at=T0, key="O2")


async def test_serve_returns_at_once_when_stopped_between_cycles(harness: Harness) -> None:
    seed(harness.add("acme", interval_minutes=60))
    runner = harness.load()
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(stop))
    while len(harness.state.runs("acme", "adjustments")) < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # now waiting an hour for the next cycle
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(serving, 2)
    assert time.monotonic() - started < 0.5
    assert len(harness.state.runs("acme", "articles")) == 1


def _stop_after_first_put(site: Site, stop: asyncio.Event, monkeypatch: pytest.MonkeyPatch
                          ) -> None:
    real_put = site.warehouse.api_put_article

    def put_then_stop(password: str, article: WmsArticle) -> Any:
        result = real_put(password, article)
        stop.set()
        return result

    monkeypatch.setattr(site.warehouse, "api_put_article", put_then_stop)


async def test_a_stop_mid_flow_keeps_the_cursor(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = harness.add("acme")
    site.erp.add_product("A0", "First")
    runner = harness.load()
    await harness.run()
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=T0, key="A0")
    site.erp.tick(3600)
    for n in range(1, 5):
        site.erp.add_product(f"A{n}", f"Article {n}")

    stop = asyncio.Event()
    _stop_after_first_put(site, stop, monkeypatch)
    runs = await runner.run_owner(harness.owner(), options=FlowOptions(stop=stop))
    assert [(r.flow, r.outcome) for r in runs] == [("articles", "stopped")]  # no later flow
    assert runs[0].written == 1
    assert harness.state.runs("acme", "articles")[0].outcome == "stopped"
    assert harness.state.get_cursor("acme", "articles") == Cursor(at=T0, key="A0")
    assert [site.warehouse.article(f"A{n}") is not None for n in range(1, 5)] == [
        True, False, False, False]

    runs = await runner.run_owner(harness.owner())  # resumed: nothing lost
    assert runs[0].outcome == "ok"
    assert all(site.warehouse.article(f"A{n}") is not None for n in range(5))
    assert harness.state.get_cursor("acme", "articles") == Cursor(
        at=T0 + timedelta(hours=1), key="A4")


async def test_serve_stopped_mid_flow_returns_with_the_cursor_kept(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = harness.add("acme")
    for n in range(1, 5):
        site.erp.add_product(f"A{n}", f"Article {n}")
    runner = harness.load()
    stop = asyncio.Event()
    _stop_after_first_put(site, stop, monkeypatch)
    await asyncio.wait_for(runner.serve(stop), 2)
    (run,) = harness.state.runs("acme", "articles")
    assert (run.outcome, run.written) == ("stopped", 1)
    assert harness.state.get_cursor("acme", "articles") is None
    assert harness.state.runs("acme", "orders") == []


@contextlib.asynccontextmanager
async def _no_lock(name: str, ttl: float = 60.0) -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize("locked", [True, False])
async def test_two_cycles_of_one_owner_never_overlap(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, locked: bool
) -> None:
    seed(harness.add("acme"))
    runner = harness.load()
    # A second runner on its own state handle over the same directory: another process.
    other_state = DiskState(harness.state_dir)
    try:
        other = Runner(harness.config, other_state, harness.registry)
        if not locked:  # the control: without the lock the watch does see the overlap
            monkeypatch.setattr(harness.state, "lock", _no_lock)
            monkeypatch.setattr(other_state, "lock", _no_lock)
        watch = FlowWatch(monkeypatch)
        first, second = await asyncio.gather(runner.run_owner(harness.owner()),
                                             other.run_owner(harness.owner()))
    finally:
        other_state.close()
    assert watch.peak_flows["acme"] == (1 if locked else 2)
    assert len(first) == len(second) == len(Flow)
    assert len(harness.state.runs("acme", "articles")) == 2


async def test_a_state_error_ends_run_once_with_that_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(harness.add("acme"))
    seed(harness.add("beta"))
    runner = harness.load()

    def disk_full(*args: Any) -> None:
        raise StateError("state directory /srv/state: cannot write runs: database or disk is full")

    monkeypatch.setattr(harness.state, "add_run", disk_full)
    with pytest.raises(StateError, match="disk is full"):
        await runner.run_once()


async def test_a_failed_state_store_halts_serve_until_it_answers_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(harness.add("acme", interval_minutes=0.002))
    runner = harness.load()
    runner.probe_interval = 0.05
    real_add_run, real_check = harness.state.add_run, harness.state.check
    broken = True
    started: list[float] = []

    def add_run(run: Any) -> None:
        started.append(time.monotonic())
        if broken:
            raise StateError("state directory /srv/state: cannot write runs: disk is full")
        real_add_run(run)

    def check() -> None:
        if broken:
            raise StateError("state directory /srv/state: disk is full")
        real_check()

    monkeypatch.setattr(harness.state, "add_run", add_run)
    monkeypatch.setattr(harness.state, "check", check)
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(stop))
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if runner.halted is not None:
                break
        assert runner.halted is not None and "disk is full" in runner.halted.message
        attempts = len(started)
        await asyncio.sleep(0.4)  # three intervals: no cycle starts while halted
        assert len(started) == attempts
        assert not serving.done()

        broken = False
        for _ in range(300):
            await asyncio.sleep(0.01)
            if harness.state.runs("acme", "articles"):
                break
        assert runner.halted is None
        assert harness.state.runs("acme", "articles")[0].outcome == "ok"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 5)


async def test_a_reload_changes_flows_and_intervals_of_a_serving_runner(
    harness: Harness,
) -> None:
    acme = harness.add("acme", interval_minutes=0.002)
    seed(acme)
    beta = harness.add("beta", interval_minutes=60)
    seed(beta)
    runner = harness.load()
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(stop))

    async def until(check: Any, timeout: float = 10) -> None:
        for _ in range(int(timeout / 0.01)):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    try:
        await until(lambda: len(harness.state.runs("beta", "articles")) == 1
                    and len(harness.state.runs("acme", "stock")) >= 1)
        acme.flows = (Flow.ARTICLES,)  # acme's settings change: one flow
        beta.interval_minutes = 0.002  # beta's interval shrinks: it runs again soon
        gamma = harness.add("gamma", interval_minutes=60)
        seed(gamma)
        harness.write_config()
        changes = runner.reload(load_config(harness.config_path, harness.registry))
        assert sorted(changes) == ["goods owner acme changed", "goods owner beta changed",
                                   "goods owner gamma added"]
        stock = len(harness.state.runs("acme", "stock"))
        articles = len(harness.state.runs("acme", "articles"))
        await until(lambda: len(harness.state.runs("acme", "articles")) >= articles + 2
                    and len(harness.state.runs("beta", "articles")) >= 2
                    and harness.state.runs("gamma", "articles"))
        assert len(harness.state.runs("acme", "stock")) <= stock + 1  # one cycle was under way
        assert runner.scheduled() == {"acme": True, "beta": True, "gamma": True}

        with pytest.raises(ValueError, match="state_dir changed"):
            runner.reload(replace(runner.config, state_dir=harness.state_dir / "elsewhere"))
        assert runner.config.state_dir == harness.state_dir
    finally:
        stop.set()
        await asyncio.wait_for(serving, 5)


async def test_a_paused_goods_owner_is_skipped_by_the_schedule_and_run_once(
    harness: Harness,
) -> None:
    seed(harness.add("acme"))
    seed(harness.add("beta"))
    runner = harness.load()
    harness.state.set_pause("acme", Pause(goods_owner="acme", since=T0, reason="migration"))
    assert await runner.run_owner(harness.owner("acme"), scheduled=True) == []
    results = await runner.run_once()
    assert list(results) == ["beta"]
    named = await runner.run_once(["acme"])  # by name: a person asked for it
    assert [r.outcome for r in named["acme"]] == ["ok"] * len(Flow)

"""A vendor budget holds however many Temporal workers run: goods owners on one PowerOffice Go
subscription key (10 calls in any second for all of them, answered with 429 above it) run
their cycles on two ``erpsync worker`` processes at once; the budget is claimed through the
PostgreSQL state they share. Measured at the simulator's side: the calls' rate over the run,
its sliding one-second peak on the key and the 429s it answered. (tests/test_shared_budget.py
shows the control: processes that do not share a store exceed such a limit.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.poweroffice import PoSizes, PoVendors, write_config

from erpsync.demo import served

from .temporal import temporal_toml

OWNERS = 6
LIMIT = 10
"""PowerOffice Go's limit per subscription key, as its simulator enforces it."""


def test_goods_owners_on_one_key_stay_under_its_limit_on_two_workers(
    tmp_path: Path, temporal_address: str, pg_database_url: str
) -> None:
    vendors = PoVendors(latency=0.0, rate_limit=LIMIT)
    for n in range(1, OWNERS):
        vendors.add_owner(n)
    for owner in vendors.owners:
        vendors.populate(owner, products=40, invoices=3)
    # Three goods owners at once per worker (its max_concurrent_activities): both must work.
    sizes = PoSizes(products=40, invoices=3, owners=OWNERS, page_size=5, concurrency=3)
    key = vendors.subscription_key
    with served(vendors.arrivals, vendors.wms.app) as (erp_server, wms_server):
        config = write_config(tmp_path, vendors, erp_server.port, wms_server.port, sizes)
        text = config.read_text(encoding="utf-8")
        engine = f'state_url = "{pg_database_url}"\n' + temporal_toml(
            temporal_address, heartbeat_seconds=5, jitter_seconds=0)
        config.write_text(text.replace("\n[[goods_owners]]", engine + "\n[[goods_owners]]", 1),
                          encoding="utf-8")

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        env.pop("ERPSYNC_CONFIG", None)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "erpsync.cli", "--config", str(config),
                                   *args], env=env, capture_output=True, text=True,
                                  timeout=180, check=False)

        assert cli("state", "migrate").returncode == 0
        assert cli("schedules", "sync").returncode == 0
        logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
        workers = [subprocess.Popen([sys.executable, "-m", "erpsync.cli", "--config",
                                     str(config), "worker"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=log.open("w"))
                   for log in logs]
        try:
            before = len(vendors.arrivals.times)
            ran = cli("run", "--once", "--flow", "articles")
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count(" ok ") == OWNERS, ran.stdout
    for log in logs:
        assert "articles ok" in log.read_text(encoding="utf-8"), "both workers ran goods owners"
    arrived = vendors.arrivals.times[before:]
    assert len(arrived) > 4 * LIMIT, "enough calls on the key to press against its limit"
    # Each worker alone paces the key at the plugin's budget, one under the limit: two that
    # did not share it would call at about twice the limit. Shared, the calls keep to one
    # budget over the whole run...
    rate = (len(arrived) - 1) / (arrived[-1] - arrived[0])
    assert rate <= LIMIT, f"{rate:.1f} calls a second on the key"
    # ... and in every second: a call granted on time may still arrive a little late on a
    # busy machine, bunching two arrivals (so a peak of one over the limit, and the vendor's
    # 429 for it, which the plugin waits out and retries: every flow above ended ok), never
    # the doubling of unshared budgets.
    assert vendors.po.peak_rate(key) <= LIMIT + 1
    assert vendors.po.throttled(key) <= 1

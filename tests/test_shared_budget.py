"""A vendor budget shared by goods owners holds across processes when the state is in
PostgreSQL: measured at the vendor's side, with a control that shows the processes exceed it
without."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from erpsync.pgstate import PgState

LIMIT, PER, CALLS = 5, 1.0, 12
"""The vendor's limit: 5 calls in any second. The clients' budget is one under it, as the
plugins set theirs: a call granted at the window's edge arrives a few milliseconds later."""
BUDGET = LIMIT - 1

CHILD = textwrap.dedent("""
    import asyncio, json, sys, time
    from erpsync.http import HttpClient, RateLimit, mount
    from erpsync.state import open_state

    url, out, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if url:
        open_state(out + ".state", url)  # a PostgreSQL store: its budgets are shared
    arrivals = []

    async def vendor(scope, receive, send):  # the vendor's side: when each call arrives
        arrivals.append(time.time())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        with mount("https://vendor.test", vendor):
            limit = RateLimit({limit}, {per}, key="subscription-key-of-the-integrator")
            async with HttpClient("https://vendor.test", vendor="budget", rate_limit=limit) as c:
                await asyncio.sleep(max(0.0, start_at - time.time()))
                await asyncio.gather(*(c.get("/x") for _ in range({calls})))

    asyncio.run(main())
    with open(out, "w") as sink:
        json.dump(arrivals, sink)
""").replace("{limit}", str(BUDGET)).replace("{per}", str(PER)).replace("{calls}", str(CALLS))


def busiest_window(arrivals: list[float]) -> int:
    """The most arrivals in any window of PER seconds."""
    ordered = sorted(arrivals)
    return max(sum(1 for t in ordered[i:] if t < start + PER)
               for i, start in enumerate(ordered))


def two_processes(tmp_path: Path, url: str) -> list[float]:
    start_at = time.time() + 2.0  # both begin together, after their start-up
    outs = [tmp_path / f"arrivals-{n}.json" for n in range(2)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(out), str(start_at)])
                for out in outs]
    for child in children:
        assert child.wait(timeout=60) == 0
    return [t for out in outs for t in json.loads(out.read_text(encoding="utf-8"))]


def test_two_processes_on_one_key_stay_under_its_limit_together(
    tmp_path: Path, pg_database_url: str
) -> None:
    (tmp_path / "alone").mkdir()
    alone = two_processes(tmp_path / "alone", "")
    assert len(alone) == 2 * CALLS
    assert busiest_window(alone) > LIMIT  # the control: each process keeps only its own count

    PgState(pg_database_url, migrating=True).migrate()
    (tmp_path / "shared").mkdir()
    shared = two_processes(tmp_path / "shared", pg_database_url)
    assert len(shared) == 2 * CALLS
    assert busiest_window(shared) <= LIMIT
    assert max(shared) - min(shared) >= (2 * CALLS / BUDGET - 1) * PER * 0.9  # one budget

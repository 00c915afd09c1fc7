"""A vendor budget shared by goods owners holds across processes, through the state store
they share (the embedded one on one host, PostgreSQL across hosts): measured at the vendor's
side, with a control that shows the processes exceed it without."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from erpsync.pgstate import PgState

LIMIT, PER, CALLS = 5, 1.0, 12
"""The vendor's limit: 5 calls in any second. The clients' budget is one under it and evenly
spaced, as the plugins set theirs (PowerOffice, Fortnox): a call granted at one moment
arrives a little later, the later the busier the machine."""
BUDGET = LIMIT - 1

CHILD = textwrap.dedent("""
    import asyncio, json, sys, time
    from erpsync.http import HttpClient, RateLimit, mount
    from erpsync.state import open_state

    where, out, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if where.startswith("postgresql://"):
        open_state(out + ".state", where)  # the stores share their budgets
    elif where:
        open_state(where)
    arrivals = []

    async def vendor(scope, receive, send):  # the vendor's side: when each call arrives
        arrivals.append(time.time())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        with mount("https://vendor.test", vendor):
            limit = RateLimit({limit}, {per}, key="subscription-key-of-the-integrator",
                              even=True)
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


def two_processes(tmp_path: Path, where: str) -> list[float]:
    start_at = time.time() + 2.0  # both begin together, after their start-up
    outs = [tmp_path / f"arrivals-{n}.json" for n in range(2)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, where, str(out), str(start_at)])
                for out in outs]
    for child in children:
        assert child.wait(timeout=60) == 0
    return [t for out in outs for t in json.loads(out.read_text(encoding="utf-8"))]


def test_without_a_shared_store_two_processes_exceed_the_vendors_limit(tmp_path: Path) -> None:
    alone = two_processes(tmp_path, "")  # the control: each process keeps its own count only
    assert len(alone) == 2 * CALLS
    assert busiest_window(alone) > LIMIT


@pytest.mark.parametrize("store", ["disk", "postgres"])
def test_two_processes_on_one_key_stay_under_its_limit_together(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    if store == "postgres":
        where = request.getfixturevalue("pg_database_url")
        PgState(where, migrating=True).migrate()
    else:
        where = str(tmp_path / "state")
    shared = two_processes(tmp_path, where)
    assert len(shared) == 2 * CALLS
    assert busiest_window(shared) <= LIMIT
    assert max(shared) - min(shared) >= (2 * CALLS / BUDGET - 1) * PER * 0.9  # one budget

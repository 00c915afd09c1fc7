"""A child process for the kill tests: one ``run_once`` cycle of the config given as argv[1].

``ERPSYNC_FAULT_POINT`` names where the process kills itself with a real SIGKILL (no cleanup,
no ``finally``, no flush), as ``kind:name:n`` (the n-th time the point is reached):

- ``before:HOOK:n`` / ``after:HOOK:n``: before / after the n-th call of plugin hook HOOK
  (``upsert_article``, ``upsert_order``, ``mark_reported``, ``report_delivery`` ...);
- ``state:WHAT:n``: just before the n-th durable write of WHAT (``cursor-FLOW``,
  ``ledger-done-FLOW``, ``ledger-pending-FLOW``; and the steps of a token refresh in the
  credential store, core/erpsync/oauth.py: ``credentials-marker`` "a refresh may be in
  flight", ``credentials-answer`` the vendor's raw answer, ``credentials-pair`` the new pair);
- ``txn:WHAT:n``: inside the n-th write of WHAT, after the row went to SQLite and before its
  transaction committed (a kill *during* a state write);
- ``http:METHOD:n``: as soon as the answer to the n-th METHOD request (any vendor) is in,
  before the plugin sees it (between two writes inside one hook call, such as PowerOffice's
  stock PATCHes).

``ERPSYNC_FAULT_LOCK_TTL`` shortens the goods-owner lock's time to live, so that a restart
finds the killed process's lock expired after that many seconds rather than the default 60.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _state_match(what: str, cache: str, key: str, value: Any) -> bool:
    if what.startswith("cursor-"):
        return cache == "cursors" and value is not None and key.endswith("\x1f" + what[7:])
    if what.startswith("credentials-"):
        if cache != "credentials" or not isinstance(value, dict):
            return False
        step = what.removeprefix("credentials-")
        if step == "marker":
            return "refresh_sent_at" in value and "answer" not in value
        if step == "answer":
            return "answer" in value
        return step == "pair" and "refresh_sent_at" not in value and "answer" not in value
    if what.startswith("ledger-"):
        _, status, flow = what.split("-", 2)
        return (cache == "ledger" and isinstance(value, dict) and value.get("status") == status
                and value.get("flow") == flow)
    return False


def install(point: str) -> None:
    from erpsync.plugins import _Bound
    from erpsync.state import DiskState

    kind, name, nth_text = point.split(":")
    nth = int(nth_text)
    seen = 0

    def hit() -> bool:
        nonlocal seen
        seen += 1
        return seen == nth

    if kind in ("before", "after"):
        original = _Bound._await

        async def _await(self: Any, hook: str, ctx: Any, **kwargs: Any) -> Any:
            if hook == name and kind == "before" and hit():
                _die()
            result = await original(self, hook, ctx, **kwargs)
            if hook == name and kind == "after" and hit():
                _die()
            return result

        _Bound._await = _await  # type: ignore[method-assign]
    elif kind in ("state", "txn"):
        original_set = DiskState._set

        def _set(self: DiskState, cache: str, key: str, value: Any) -> None:
            if _state_match(name, cache, key, value) and hit():
                if kind == "state":
                    _die()
                with self._caches[cache].transact():
                    original_set(self, cache, key, value)
                    _die()
            original_set(self, cache, key, value)

        DiskState._set = _set  # type: ignore[method-assign]
    elif kind == "http":
        from erpsync.http import HttpClient

        request = HttpClient.request

        async def request_then_die(self: HttpClient, method: str, url: str,
                                   **options: Any) -> Any:
            response = await request(self, method, url, **options)
            if method.upper() == name and hit():
                _die()
            return response

        HttpClient.request = request_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown fault point {point!r}")


def main() -> None:
    from erpsync.config import load_config
    from erpsync.plugins import discover
    from erpsync.runner import Runner
    from erpsync.state import DiskState

    ttl = os.environ.get("ERPSYNC_FAULT_LOCK_TTL")
    if ttl:  # a killed child's locks (its goods owner's, its token's) free soon for the next
        lock, short = DiskState.lock, float(ttl)

        def short_lock(self: DiskState, name: str, ttl: float = short) -> Any:
            return lock(self, name, min(ttl, short))

        DiskState.lock = short_lock  # type: ignore[method-assign, assignment]
    point = os.environ.get("ERPSYNC_FAULT_POINT")
    if point:
        install(point)
    plugins = os.environ.get("ERPSYNC_FAULT_PLUGINS", "netvisor,ongoing_wms")
    registry = discover(select=set(plugins.split(",")))
    config = load_config(Path(sys.argv[1]), registry)
    state = DiskState(config.state_dir)
    try:
        results = asyncio.run(Runner(config, state, registry).run_once())
    finally:
        state.close()
    print(json.dumps({owner: {run.flow: [run.outcome, run.read, run.written, run.dead_lettered,
                                         run.message] for run in runs}
                      for owner, runs in results.items()}))


if __name__ == "__main__":
    main()

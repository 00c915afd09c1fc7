"""One measured cycle in a process of its own: ``python -m benchmarks.child CONFIG [options]``.

The benchmark's parent process holds the simulators (uvicorn threads) and their control
surfaces; this child holds only what ``erpsync serve`` holds (the plugins, the core runner, the
state store), so that its CPU time and its peak RSS are erpsync's alone. It prints one JSON
object on stdout: the wall time and CPU time of ``Runner.run_once``, the RSS before it and the
peak RSS (``resource.getrusage``), and every run record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from erpsync.config import load_config
from erpsync.models import Flow
from erpsync.plugins import discover
from erpsync.runner import Runner
from erpsync.state import DiskState


def _rss_now_kib() -> int:
    """The resident set size now, in KiB (Linux: /proc/self/status; elsewhere 0)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(config_path: Path, owners: list[str] | None,
            flows: list[Flow] | None) -> dict[str, Any]:
    registry = discover()
    config = load_config(config_path, registry)
    state = DiskState(config.state_dir)
    try:
        runner = Runner(config, state, registry)
        rss_before = _rss_now_kib()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        results = asyncio.run(runner.run_once(owners, flows))
        wall = time.perf_counter() - started
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        state.close()
    cpu = ((usage_after.ru_utime - usage_before.ru_utime)
           + (usage_after.ru_stime - usage_before.ru_stime))
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_before_kib": rss_before,
        "peak_rss_kib": usage_after.ru_maxrss,  # KiB on Linux
        "runs": [run.model_dump(mode="json") for runs in results.values() for run in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("config", type=Path)
    parser.add_argument("--owner", action="append", dest="owners")
    parser.add_argument("--flow", action="append", dest="flows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    flows = [Flow(f) for f in args.flows] if args.flows else None
    result = measure(args.config, args.owners, flows)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

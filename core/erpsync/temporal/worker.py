"""``erpsync worker``: runs the cycles of any goods owner Temporal hands it.

Start as many as you like on as many hosts as you like, each with the same config (the same
goods owners, the same ``state_url``). SIGTERM and SIGINT stop it cleanly: every running flow
stops after its current record with its cursor safe, then the worker leaves; a worker killed
outright loses nothing either, its flows run again on another worker once its heartbeat is
missed. A changed config file is read again before the next flow (SIGHUP: at once).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from erpsync.config import Config
from erpsync.plugins import PluginRegistry
from erpsync.state import StateStore
from erpsync.temporal.activities import Activities
from erpsync.temporal.schedules import connect
from erpsync.temporal.workflow import Cycle

__all__ = ["run_worker"]

log = logging.getLogger("erpsync.temporal")


async def run_worker(config: Config, state: StateStore, registry: PluginRegistry,
                     stop: asyncio.Event) -> None:
    """Serve the task queue until ``stop`` is set or SIGTERM/SIGINT arrives."""
    settings = config.temporal
    assert settings is not None
    client = await connect(settings)
    activities = Activities(config, state, registry, client)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: activities.fresh_config(force=True))
    worker = Worker(
        client, task_queue=settings.task_queue, workflows=[Cycle],
        activities=[activities.flow, activities.hold, activities.release],
        max_concurrent_activities=config.concurrency,
        # Long enough for a flow to finish its current record after the stop (a busy vendor
        # may take a while); past it the flow is cancelled and runs again elsewhere.
        graceful_shutdown_timeout=timedelta(seconds=max(30.0, settings.heartbeat_seconds)),
        # A cycle whose worker died goes on elsewhere this soon (not after the default 10 s).
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=min(10.0, settings.heartbeat_seconds)))
    try:
        async with worker:
            log.info("worker on task queue %s of %s (namespace %s), %d flows at once",
                     settings.task_queue, settings.address, settings.namespace,
                     config.concurrency)
            await stop.wait()
            log.info("stopping: running flows stop after their current record")
            activities.stopping.set()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    log.info("stopped")


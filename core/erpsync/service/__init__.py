"""``erpsync serve``: the runner's schedule plus what an operator needs around it.

- the HTTP surface (:mod:`erpsync.service.web`: /healthz, /readyz, /metrics, the status page)
  when the config's ``[service]`` gives a port; uvicorn serves it in the runner's own event
  loop, so the page always shows the schedule as it is;
- SIGTERM and SIGINT stop it cleanly (every running flow finishes its current record);
- SIGHUP (``erpsync reload``) reads the config again: a valid one is served from then on
  (:meth:`erpsync.runner.Runner.reload`), an invalid one is refused with the same messages as
  ``erpsync check`` and the service goes on with the config it had;
- its process id in ``<state_dir>/erpsync-serve.pid``, for ``erpsync reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from erpsync.config import Config, ServiceSettings, load_config
from erpsync.errors import ConfigError, ConfigProblem, ErpsyncError
from erpsync.plugins import PluginRegistry
from erpsync.runner import Runner
from erpsync.service.metrics import Metrics
from erpsync.service.web import create_app
from erpsync.state import StateStore

__all__ = ["PID_FILE", "ReloadRefused", "Service", "listen_settings", "read_pid"]

log = logging.getLogger("erpsync.service")

PID_FILE = "erpsync-serve.pid"
"""In the state directory: the process ``erpsync reload`` signals."""


@dataclass(frozen=True)
class ReloadRefused:
    at: datetime
    problems: list[str] = field(default_factory=list)


def listen_settings(config: Config, host: str | None, port: int | None) -> ServiceSettings | None:
    """The config's ``[service]`` with the command line's ``--host``/``--port`` over it;
    ``None`` when no port is given anywhere (no HTTP surface). Raises :class:`ConfigError`
    for a combination the config would refuse (an address off loopback without a token)."""
    base = config.service
    if base is None and port is None:
        if host is not None:
            raise ConfigError([ConfigProblem(
                "--host", "a host without a port", "give --port too, or [service] port")])
        return None
    values = {**(base.model_dump() if base else {}),
              "port": port if port is not None else base.port if base else 0,
              "host": host or (base.host if base else "127.0.0.1")}
    try:
        return ServiceSettings.model_validate(values)
    except ValidationError as error:
        raise ConfigError([ConfigProblem(
            f"{config.path}: [service]", str(item["msg"]).removeprefix("Value error, "),
            "give [service] token, or bind to 127.0.0.1")
            for item in error.errors(include_input=False, include_url=False)]) from None


class _Server(uvicorn.Server):
    """uvicorn inside erpsync's event loop: the service handles the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


class Service:
    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry,
                 settings: ServiceSettings | None = None, runner: Runner | None = None) -> None:
        """``runner``: the schedule to serve (default: the embedded one; with engine =
        "temporal" the :class:`~erpsync.temporal.schedules.TemporalScheduler`)."""
        self.registry = registry
        self.settings = settings
        self.runner = runner or Runner(config, state, registry)
        self.metrics = Metrics(self.runner)
        self.runner.observer = self.metrics
        if settings is not None:
            self.runner.probe_interval = settings.state_check_seconds
        self.reload_refused: ReloadRefused | None = None
        self.address: tuple[str, int] | None = None
        """Where the HTTP surface listens, once it does."""
        self._reloading: set[asyncio.Task[bool]] = set()

    @property
    def token(self) -> str | None:
        """What a request must carry (any configured token is asked for, on loopback too)."""
        if self.settings is None or self.settings.token is None:
            return None
        return self.settings.token.get_secret_value()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set or SIGTERM/SIGINT arrives."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        server, serving = await self._listen()
        pid_file = self.runner.config.state_dir / PID_FILE
        pid_file.parent.mkdir(parents=True, exist_ok=True)  # with state_url it may be new
        pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
        try:
            await self.runner.serve(stop)
        finally:
            if server is not None and serving is not None:
                server.should_exit = True
                await serving
            with contextlib.suppress(OSError, ValueError):
                if int(pid_file.read_text(encoding="ascii")) == os.getpid():
                    pid_file.unlink()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _listen(self) -> tuple[_Server | None, asyncio.Task[None] | None]:
        if self.settings is None:
            return None, None
        host, port = self.settings.host, self.settings.port
        try:
            sock = socket.create_server(
                (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        except OSError as error:
            raise ErpsyncError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                               "give another [service] port or --port") from None
        # Accepted connections inherit it: without it every small answer waits ~40 ms for the
        # client's delayed ACK (asyncio sets it itself only on sockets it made).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.address = sock.getsockname()[:2]
        server = _Server(uvicorn.Config(create_app(self), log_config=None, access_log=False,
                                        lifespan="off", server_header=False))
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="erpsync http")
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()
        shown = f"[{self.address[0]}]" if ":" in self.address[0] else self.address[0]
        log.info("listening on http://%s:%d (/healthz, /readyz, /metrics, /)", shown,
                 self.address[1])
        return server, serving

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloading.add(task)
        task.add_done_callback(self._reloading.discard)

    async def reload(self) -> bool:
        """Read the config again and serve it; False (and the old config kept) if refused."""
        path = self.runner.config.path
        log.info("reloading %s", path)
        try:
            config = await asyncio.to_thread(load_config, path, self.registry)
            before = {o.id for o in self.runner.config.goods_owners}
            changes = self.runner.reload(config)
        except ConfigError as error:
            return self._refused([str(problem) for problem in error.problems])
        except ValueError as error:
            return self._refused([str(error)])
        for owner_id in before - {o.id for o in config.goods_owners}:
            self.metrics.forget(owner_id)
        self._new_service_settings(config.service)
        self.reload_refused = None
        self.metrics.reloads.labels("taken").inc()
        self.metrics.reload_ok.set(1)
        log.info("config reloaded: %s", "; ".join(changes) or "nothing changed")
        return True

    def _refused(self, problems: list[str]) -> bool:
        for problem in problems:
            log.error("reload refused: %s", problem)
        log.error("reload refused: %d problem(s); still running on the config loaded before",
                  len(problems))
        self.reload_refused = ReloadRefused(datetime.now(UTC), problems)
        self.metrics.reloads.labels("refused").inc()
        self.metrics.reload_ok.set(0)
        return False

    def _new_service_settings(self, new: ServiceSettings | None) -> None:
        """A new token applies at once; a new address only after a restart."""
        if self.settings is None:
            if new is not None:
                log.warning("[service] added: restart erpsync serve to listen on port %d",
                            new.port)
            return
        if new is None or (new.host, new.port) != (self.settings.host, self.settings.port):
            log.warning("[service] address changed or removed: it takes effect when erpsync "
                        "serve restarts; still listening as before")
        if new is not None and new.token != self.settings.token:
            if new.token is None and not self.settings.loopback:
                log.warning("[service] token removed while listening off loopback: the old "
                            "token stays in force until a restart")
                return
            self.settings = self.settings.model_copy(update={"token": new.token})
            log.info("[service] token replaced")


def read_pid(state_dir: Path) -> int | None:
    """The process id ``erpsync serve`` left in ``state_dir``, if it still runs."""
    try:
        pid = int((state_dir / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # it runs, as another user
    return pid

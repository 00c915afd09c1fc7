"""`erpsync serve` as a real process, with its HTTP surface, against the Netvisor and Ongoing
simulators served by uvicorn on loopback ports (as `erpsync demo` serves them).

Two goods owners by default: ``acme`` with working credentials and ``beta`` whose Netvisor key
the simulator refuses (it needs re-authorisation after its first cycle).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from erpsync.demo import owner_toml, served, settings_toml
from erpsync.plugins import discover

LISTENING = re.compile(r"listening on http://([^ ]+):(\d+) ")


def goods_owner(folder: Path, owner_id: str, erp: dict[str, Any], erp_port: int,
                wms: dict[str, Any], wms_port: int, interval_minutes: float) -> str:
    """A Netvisor and Ongoing goods owner, its secrets in files of its own."""
    secrets = folder / owner_id
    secrets.mkdir(exist_ok=True)
    return owner_toml(owner_id, "netvisor", settings_toml(secrets, "erp", erp, erp_port),
                      "ongoing_wms", settings_toml(secrets, "wms", wms, wms_port),
                      interval_minutes=interval_minutes)


@dataclass
class ServedErpsync:
    folder: Path
    erp: Any
    """The Netvisor simulator."""
    wms: Any
    """The Ongoing WMS simulator."""
    ports: tuple[int, int]
    interval_minutes: float = 0.02
    service: str = 'port = 0\nstate_check_seconds = 0.2'
    """The body of the config's [service] table."""
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    stderr: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.folder / "erpsync.toml"

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    def owner(self, owner_id: str, *, refused: bool = False) -> str:
        erp = self.erp.bad_settings() if refused else self.erp.settings()
        return goods_owner(self.folder, owner_id, erp, self.ports[0], self.wms.settings(),
                           self.ports[1], self.interval_minutes)

    def write_config(self, owners: list[str] | None = None, *, extra: str = "") -> None:
        """The config with these goods owners (``"beta!"``: beta with a refused key)."""
        owners = ["acme", "beta!"] if owners is None else owners
        body = "".join(self.owner(o.rstrip("!"), refused=o.endswith("!")) for o in owners)
        self.config.write_text(f'state_dir = "state"\n{extra}\n[service]\n{self.service}\n'
                               f"{body}", encoding="utf-8")

    def start(self, *args: str) -> None:
        """Start `erpsync serve` and wait until its HTTP surface listens."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("ERPSYNC_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "erpsync.cli", "--config", str(self.config), *args,
             "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        found = self.wait_for(lambda: next((m for line in self.stderr
                                            if (m := LISTENING.search(line))), None), 20)
        host = found.group(1)
        wildcard = host in ("0.0.0.0", "[::]")  # noqa: S104 (what the service may listen on)
        self.url = f"http://{'127.0.0.1' if wildcard else host}:{found.group(2)}"

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.stderr.append(line)

    def wait_for(self, check: Callable[[], Any], timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"erpsync serve ended ({self.proc.returncode}):\n"
                                     + "".join(self.stderr))
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting; erpsync serve said:\n{''.join(self.stderr)}")

    def get(self, path: str, **options: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **options)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another `erpsync` command beside the service, on the same config."""
        env = {**os.environ, **self.env}
        env.pop("ERPSYNC_CONFIG", None)
        return subprocess.run([sys.executable, "-m", "erpsync.cli", "--config",
                               str(self.config), *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    def log(self) -> str:
        return "".join(self.stderr)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def served_erpsync(folder: Path, **options: Any) -> Iterator[ServedErpsync]:
    """The simulators on loopback ports and a world to start `erpsync serve` in (not yet
    started: write the config, then ``start()``)."""
    registry = discover()
    erp, wms = registry.sandbox("netvisor"), registry.sandbox("ongoing_wms")
    erp.populate_demo(12)
    with served(erp.app, wms.app) as (erp_server, wms_server):
        world = ServedErpsync(folder, erp, wms, (erp_server.port, wms_server.port), **options)
        try:
            yield world
        finally:
            world.stop()

"""Shared set-up of the flow, runner and CLI tests: fake goods owners behind a real config file.

A :class:`Harness` gives every goods owner it adds (:meth:`Harness.add`) its own Fake ERP
sandbox, mounted in-process at its own base URL, and its own registered fake warehouse. It
writes a real TOML config that refers to the secrets by environment variable, loads it
through the real plugin discovery, and runs it with a :class:`~erpsync.runner.Runner` over a
:class:`~erpsync.state.DiskState` in the test's ``tmp_path`` (the config's ``state_dir``).

Each test module makes its own small ``harness`` fixture with :meth:`Harness.open`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from erpsync_fake_erp.sandbox import FakeErp
from erpsync_fake_wms.sandbox import WAREHOUSES, FakeWarehouse
from pydantic import SecretStr

from erpsync import http
from erpsync.config import Config, GoodsOwner, load_config
from erpsync.flows import FlowOptions, RunContext, run_flow
from erpsync.models import Flow
from erpsync.plugins import Erp, PluginRegistry, Wms, discover
from erpsync.runner import Runner
from erpsync.state import DiskState, RunRecord

__all__ = ["PLUGINS", "T0", "Harness", "Site", "seed"]

PLUGINS = frozenset({"fake_erp", "fake_wms"})
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
"""Where the sandboxes' clocks start."""


@dataclass
class Site:
    """One goods owner: its ERP sandbox, its warehouse, and what its config says."""

    id: str
    erp: FakeErp
    warehouse: FakeWarehouse
    base_url: str
    warehouse_name: str
    key_env: str
    password_env: str
    page_size: int = 50
    interval_minutes: float = 15
    flows: tuple[Flow, ...] | None = None
    enabled: bool = True
    client_id: str | None = None
    """Set: the ERP is reached with OAuth (``erpsync authorize``), not the API key."""
    client_secret_env: str = ""

    @property
    def api_key(self) -> str:
        """The key the ERP accepts."""
        return self.erp.api_key

    @property
    def password(self) -> str:
        """The password the warehouse accepts."""
        return self.warehouse.password


async def _no_sleep(seconds: float) -> None:
    """Retries in these tests wait for nothing (the sandboxes answer at once)."""


class Harness:
    """Goods owners, their config file, the state and the runner (see the module docstring)."""

    def __init__(
        self, root: Path, monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack
    ) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self._stack = stack
        self.sites: dict[str, Site] = {}
        self.config_path = root / "erpsync.toml"
        self.state_dir = root / "state"
        self.secrets: set[str] = set()
        """Every secret value put in the environment (none may ever be printed)."""
        self._state: DiskState | None = None
        self._config: Config | None = None
        self._registry: PluginRegistry | None = None
        self._runner: Runner | None = None
        self.extra_toml: list[str] = []
        """Lines written at the end of the config (a ``[notify]`` table)."""
        monkeypatch.setattr(http, "_retry_sleep", _no_sleep)

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
        """A harness whose mounts, warehouses and state are removed again afterwards."""
        with contextlib.ExitStack() as stack:
            harness = cls(root, monkeypatch, stack)
            stack.callback(harness.close)
            yield harness

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    # --- goods owners ------------------------------------------------------------------------

    def add(
        self,
        owner_id: str,
        *,
        page_size: int = 50,
        interval_minutes: float = 15,
        flows: Collection[Flow] | None = None,
        enabled: bool = True,
        oauth: bool = False,
    ) -> Site:
        """A new goods owner with an empty ERP sandbox and an empty warehouse; with ``oauth``
        the ERP is reached through its OAuth server (no tokens stored yet)."""
        erp = FakeErp(api_key=f"{owner_id}-erp-key-5e1f0c2a")
        base_url = f"https://{owner_id}-erp.test"
        self._stack.enter_context(http.mount(base_url, erp.app))
        name = f"{owner_id}-warehouse"
        warehouse = FakeWarehouse.register(name, password=f"{owner_id}-wms-pass-77c1d9")
        self._stack.callback(WAREHOUSES.pop, name, None)
        prefix = f"ERPSYNC_TEST_{owner_id.upper()}"
        site = Site(owner_id, erp, warehouse, base_url, name, f"{prefix}_ERP_KEY",
                    f"{prefix}_WMS_PASSWORD", page_size, interval_minutes,
                    None if flows is None else tuple(flows), enabled)
        self.set_env(site.key_env, site.api_key)
        self.set_env(site.password_env, site.password)
        if oauth:
            site.client_id = f"{owner_id}-client"
            site.client_secret_env = f"{prefix}_ERP_CLIENT_SECRET"
            erp.oauth.clients = {site.client_id: f"{owner_id}-client-secret-3d9a71"}
            self.set_env(site.client_secret_env, erp.oauth.clients[site.client_id])
        self.sites[owner_id] = site
        return site

    def set_env(self, name: str, value: str) -> None:
        """Set an environment variable holding a secret (remembered for leak checks)."""
        self.secrets.add(value)
        self.monkeypatch.setenv(name, value)

    # --- config, state, runner ---------------------------------------------------------------

    def write_config(self, *, concurrency: int = 4, overlap_seconds: float = 300) -> Path:
        """Write the TOML config of every added goods owner; return its path."""
        lines = ['state_dir = "state"', f"concurrency = {concurrency}",
                 f"overlap_seconds = {overlap_seconds}", ""]
        for site in self.sites.values():
            lines += ["[[goods_owners]]", f'id = "{site.id}"',
                      f"interval_minutes = {site.interval_minutes}",
                      f"enabled = {'true' if site.enabled else 'false'}"]
            if site.flows is not None:
                lines.append("flows = [" + ", ".join(f'"{f.value}"' for f in site.flows) + "]")
            lines += ["[goods_owners.erp]", 'plugin = "fake_erp"',
                      "[goods_owners.erp.settings]", f'base_url = "{site.base_url}"',
                      (f'api_key = {{ env = "{site.key_env}" }}' if site.client_id is None
                       else f'client_id = "{site.client_id}"\n'
                            f'client_secret = {{ env = "{site.client_secret_env}" }}'),
                      f"page_size = {site.page_size}",
                      "[goods_owners.wms]", 'plugin = "fake_wms"',
                      "[goods_owners.wms.settings]", f'warehouse = "{site.warehouse_name}"',
                      f'password = {{ env = "{site.password_env}" }}', ""]
        self.config_path.write_text("\n".join([*lines, *self.extra_toml, ""]), encoding="utf-8")
        return self.config_path

    def load(self, *, concurrency: int = 4, overlap_seconds: float = 300) -> Runner:
        """Write the config, load it as the CLI would, and make a new runner over the state."""
        self.write_config(concurrency=concurrency, overlap_seconds=overlap_seconds)
        self._registry = discover(select=PLUGINS)
        assert self._registry.failures == []
        self._config = load_config(self.config_path, self._registry)
        assert self._config.state_dir == self.state_dir
        self._runner = Runner(self._config, self.state, self._registry)
        return self._runner

    @property
    def state(self) -> DiskState:
        if self._state is None:
            self._state = DiskState(self.state_dir)
        return self._state

    def reopen_state(self) -> DiskState:
        """Close the state and open it again with a new runner, as a restarted process does."""
        self.close()
        if self._config is not None and self._registry is not None:
            self._runner = Runner(self._config, self.state, self._registry)
        return self.state

    @property
    def config(self) -> Config:
        assert self._config is not None, "call load() first"
        return self._config

    @property
    def registry(self) -> PluginRegistry:
        assert self._registry is not None, "call load() first"
        return self._registry

    @property
    def runner(self) -> Runner:
        assert self._runner is not None, "call load() first"
        return self._runner

    def owner(self, owner_id: str = "acme") -> GoodsOwner:
        return self.config.owner(owner_id)

    def bound(self, owner_id: str = "acme") -> tuple[Erp, Wms]:
        """The goods owner's two plugins bound to its settings."""
        owner = self.owner(owner_id)
        return (self.registry.erp(owner.erp_plugin, owner.erp_settings),
                self.registry.wms(owner.wms_plugin, owner.wms_settings))

    # --- running -----------------------------------------------------------------------------

    async def run(
        self,
        owner_id: str = "acme",
        *,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
    ) -> dict[Flow, RunRecord]:
        """One cycle of one goods owner through ``Runner.run_once``; its runs by flow."""
        results = await self.runner.run_once([owner_id], flows, options)
        assert list(results) == [owner_id]
        return {Flow(run.flow): run for run in results[owner_id]}

    async def run_flow(
        self, flow: Flow, owner_id: str = "acme", options: FlowOptions | None = None
    ) -> RunRecord:
        """One flow through ``erpsync.flows.run_flow`` directly, as a workflow engine would."""
        erp, wms = self.bound(owner_id)
        ctx = RunContext(owner_id, self.state)
        try:
            return await run_flow(flow, owner_id, self.state, erp, wms, ctx, options)
        finally:
            await ctx.aclose()


def seed(site: Site) -> dict[str, dict[str, Any]]:
    """The standard catalogue: 2 suppliers, 3 articles, 2 orders (one with a text line) and a
    purchase order, all stamped with the ERP's current time. Returns the ERP's records."""
    erp = site.erp
    return {
        "S1": erp.add_supplier("S1", "Supplier One", city="Turku", country="FI"),
        "S2": erp.add_supplier("S2", "Supplier Two", city="Oslo", country="NO"),
        "A1": erp.add_product("A1", "Widget", barcode="6400000000017", unit="pcs",
                              weight_kg="0.25", supplier_number="S1"),
        "A2": erp.add_product("A2", "Gadget", supplier_number="S2"),
        "A3": erp.add_product("A3", "Gizmo", active=False),
        "O1": erp.add_order("O1", lines=[("1", "A1", 3, "9.90"), ("2", "A2", 1, "20.00")],
                            text_lines=[("3", "Fragile: handle with care")],
                            customer={"number": "C1", "name": "Buyer Oy", "city": "Helsinki",
                                      "country": "FI"}),
        "O2": erp.add_order("O2", lines=[("1", "A3", 2, None)], customer="Second Buyer"),
        "P1": erp.add_purchase_order("P1", rows=[("r1", "A1", 10), ("r2", "A2", 5)],
                                     supplier_number="S1"),
    }


# --- the plugins' end-to-end tests --------------------------------------------------------


async def no_sleep(seconds: float) -> None:
    """Retries wait for nothing: the simulators answer at once."""


def settings_toml_env(table: str, settings: Mapping[str, Any], env_prefix: str,
                   monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``[table]`` of plugin settings: secrets go to the environment and are referred to as
    ``{ env = "..." }``, everything else is written inline."""
    lines = [f"[{table}]"]
    for name, value in settings.items():
        if isinstance(value, SecretStr):
            variable = f"{env_prefix}_{name.upper()}"
            monkeypatch.setenv(variable, value.get_secret_value())
            lines.append(f'{name} = {{ env = "{variable}" }}')
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | str):
            lines.append(f"{name} = {json.dumps(value)}")  # a TOML basic string or integer
        else:
            raise TypeError(f"{table}.{name}: no TOML for {value!r}")
    return "\n".join(lines) + "\n"

"""``erpsync demo``: a whole integration against the plugins' own simulators, in a minute.

The demo knows no vendor. It asks the chosen ERP and WMS plugins for their simulators (the
``sandbox`` hook), serves each on a free loopback port with uvicorn, fills the ERP with a
small company (``populate_demo()``), writes an ordinary config for one goods owner into a
temporary folder (secrets by environment reference, as in production), and runs the same
runner ``erpsync serve`` runs:

0. when the ERP plugin's settings need a person's consent (OAuth), the demo gives it at the
   simulator's consent page, as ``erpsync authorize`` would;
1. articles, orders and purchase orders flow into the warehouse;
2. the demo plays the warehouse through the WMS simulator's control surface (an hour passes on
   the ERP simulator's clock): it ships some orders fully and some partly, receives the
   purchase orders with a shortfall, adjusts stock;
3. the return flows report back to the ERP;
4. the whole cycle runs again, and only what changed since is written (nothing, unless the
   ERP made something of the reports, such as a back order for a short delivery).

Each step ends with a table per flow (read, written, skipped, dead-lettered, requests). The
servers are stopped at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import SecretStr

from erpsync.config import GoodsOwner, load_config
from erpsync.errors import ErpsyncError, PluginError
from erpsync.flows import FlowOptions
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry
from erpsync.runner import Runner
from erpsync.sandbox import DemoCompany
from erpsync.secrets import RedactingFilter
from erpsync.state import DiskState, RunRecord

__all__ = ["DemoResult", "LoopbackServer", "choose", "owner_toml", "run_demo", "served",
           "settings_toml"]

OWNER = "demo"
INBOUND = (Flow.ARTICLES, Flow.SUPPLIERS, Flow.ORDERS, Flow.PURCHASE_ORDERS)
RETURN = (Flow.DELIVERIES, Flow.RECEIPTS, Flow.STOCK, Flow.ADJUSTMENTS)
WAREHOUSE_HOURS = timedelta(hours=1)
"""How long the warehouse works between steps 1 and 2, on the ERP simulator's clock (when it
has one, ``advance(delta)``): longer than a vendor access token lives, so step 2 refreshes."""


@dataclass
class DemoResult:
    folder: Path
    steps: list[tuple[str, list[RunRecord]]] = field(default_factory=list)


def choose(registry: PluginRegistry, role: str, name: str | None) -> str:
    """The plugin to demonstrate: ``name``, else the only (or first) one with a simulator."""
    if name is not None:
        registry.get(name, role)
        return name
    candidates = sorted(p.name for p in registry.plugins.values()
                        if p.role == role and "sandbox" in p.hooks)
    if not candidates:
        raise PluginError(f"no installed {role.upper()} plugin ships a simulator for the demo")
    return candidates[0]


class LoopbackServer:
    """One ASGI app served by uvicorn on a free loopback port, in a thread of its own."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted connections: without it every answer (headers and body
        # written apart) waits ~40 ms for the client's delayed ACK.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"sandbox:{self.port}",
                                        daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("a simulator failed to start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@contextlib.contextmanager
def served(*apps: Any) -> Iterator[list[LoopbackServer]]:
    servers = [LoopbackServer(app) for app in apps]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _local(url: str, port: int) -> str:
    """``url`` with its scheme and host replaced by the loopback server's."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{port}", parts.path, "", "")).rstrip("/")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def settings_toml(folder: Path, role: str, settings: dict[str, Any], port: int) -> str:
    """The plugin's settings as TOML, pointing at the loopback server; each secret goes to a
    file only the user can read, referenced as production configs reference them."""
    lines = []
    for key, value in settings.items():
        if key == "base_url" or key.endswith("_url"):  # the API, an OAuth server: one origin
            value = _local(str(value), port)
        if isinstance(value, SecretStr):
            secret = folder / "secrets" / f"{role}_{key}"
            secret.parent.mkdir(mode=0o700, exist_ok=True)
            secret.touch(mode=0o600)
            secret.write_text(value.get_secret_value(), encoding="utf-8")
            lines.append(f"{key} = {{ file = {_toml_value(str(secret))} }}")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines)


def owner_toml(owner_id: str, erp: str, erp_settings: str, wms: str, wms_settings: str,
               **fields: Any) -> str:
    """One ``[[goods_owners]]`` table of a config: ``fields`` (``interval_minutes`` ...), then
    the two plugins with their settings (TOML lines, as :func:`settings_toml` writes them).
    The demo, the benchmarks and the tests write their configs with it."""
    head = "".join(f"{key} = {_toml_value(value)}\n" for key, value in fields.items())
    return f"""
[[goods_owners]]
id = "{owner_id}"
{head}
[goods_owners.erp]
plugin = "{erp}"
[goods_owners.erp.settings]
{erp_settings}

[goods_owners.wms]
plugin = "{wms}"
[goods_owners.wms.settings]
{wms_settings}
"""


def _write_config(folder: Path, erp: str, wms: str, erp_settings: str, wms_settings: str) -> Path:
    path = folder / "erpsync.toml"
    path.write_text("# Written by `erpsync demo`: one goods owner against the simulators.\n"
                    'state_dir = "state"\n' + owner_toml(OWNER, erp, erp_settings, wms,
                                                          wms_settings), encoding="utf-8")
    return path


def _play_the_warehouse(wms_sandbox: Any, company: DemoCompany, offered: set[Flow]) -> list[str]:
    """Ship, receive and adjust as a warehouse would; return what was done, in words."""
    done = []
    if Flow.DELIVERIES in offered:
        for n, (order, lines) in enumerate(sorted(company.orders.items())):
            if n % 3 == 2:
                continue  # still waiting in the warehouse
            if n % 3 == 0:
                wms_sandbox.ship(order)
                done.append(f"shipped order {order} in full")
            else:
                first, quantity = next(iter(lines.items()))
                part = max(Decimal(1), (quantity / 2).to_integral_value())
                wms_sandbox.ship(order, {first: min(part, quantity)})
                done.append(f"shipped order {order} in part ({min(part, quantity)} of line "
                            f"{first})")
    if Flow.RECEIPTS in offered:
        for po, rows in sorted(company.purchase_orders.items()):
            received = {row: max(Decimal(0), quantity - 1) for row, quantity in rows.items()}
            wms_sandbox.receive(po, received, complete=True)
            done.append(f"received purchase order {po} one short per row, and closed it")
    if Flow.ADJUSTMENTS in offered or Flow.STOCK in offered:
        for n, article in enumerate(company.articles[:3]):
            for delta in (Decimal(5), Decimal(-2))[: 1 + n % 2]:
                wms_sandbox.adjust(article, delta)
                done.append(f"adjusted the stock of {article} by {delta}")
    return done


def _authorise(runner: Runner, owner: GoodsOwner, erp_sandbox: Any, note: Callable[[str], None]
               ) -> None:
    """Give the consent a person gives once per goods owner (``erpsync authorize``), playing
    the browser against the ERP simulator's consent page; nothing when the settings need none.
    The simulator's registered redirect URI (its ``redirect_uri``) is used if it has one."""
    erp = runner.registry.erp(owner.erp_plugin, owner.erp_settings)
    redirect_uri = str(getattr(erp_sandbox, "redirect_uri", "http://127.0.0.1:8765/callback"))
    state = secrets.token_urlsafe(16)
    url = erp.authorization_url(redirect_uri, state)
    if url is None:
        return
    answer = httpx.get(url, follow_redirects=False, timeout=30)
    location = answer.headers.get("location", "")
    query = dict(parse_qsl(urlsplit(location).query))
    if not location.startswith(redirect_uri) or query.get("state") != state or "code" not in query:
        raise ErpsyncError(f"the demo's consent at the ERP simulator failed: HTTP "
                           f"{answer.status_code} {query.get('error', '')}".rstrip())
    asyncio.run(runner.complete_authorization(owner, query["code"], redirect_uri))
    note(f"Consent given at the {erp.name} simulator's consent page, as `erpsync authorize "
         f"{owner.id}` would: its tokens are in the state store.")


def run_demo(
    registry: PluginRegistry,
    erp: str,
    wms: str,
    *,
    folder: Path | None = None,
    size: int = 200,
    on_step: Callable[[str, list[RunRecord]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo (see the module docstring); ``on_step`` sees each step's runs."""
    note = on_note or (lambda text: None)
    folder = folder or Path(tempfile.mkdtemp(prefix="erpsync-demo-"))
    erp_sandbox = registry.sandbox(erp)
    wms_sandbox = registry.sandbox(wms)
    company: DemoCompany = erp_sandbox.populate_demo(size)
    note(f"The ERP simulator holds {len(company.articles)} articles, {len(company.orders)} "
         f"orders and {len(company.purchase_orders)} purchase orders.")
    result = DemoResult(folder)
    # The run's log goes to a file in the demo's folder, as a service's would; the terminal
    # shows the tables.
    logger = logging.getLogger("erpsync")
    handler = logging.FileHandler(folder / "erpsync.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with served(erp_sandbox.app, wms_sandbox.app) as (erp_server, wms_server):
            path = _write_config(
                folder, erp, wms,
                settings_toml(folder, "erp", erp_sandbox.settings(), erp_server.port),
                settings_toml(folder, "wms", wms_sandbox.settings(), wms_server.port))
            config = load_config(path, registry)
            state = DiskState(config.state_dir)
            try:
                runner = Runner(config, state, registry)
                owner = config.owner(OWNER)
                offered = set(owner.flows)
                _authorise(runner, owner, erp_sandbox, note)

                def step(title: str, flows: tuple[Flow, ...]) -> None:
                    chosen = [f for f in flows if f in offered]
                    runs = asyncio.run(runner.run_once([OWNER], chosen, FlowOptions()))[OWNER]
                    result.steps.append((title, runs))
                    if on_step:
                        on_step(title, runs)

                step("1. Master data and orders from the ERP into the warehouse", INBOUND)
                failed = [r for r in result.steps[-1][1] if r.outcome not in ("ok", "partial")]
                if failed:
                    raise ErpsyncError(f"the demo's first step failed: {failed[0].flow}: "
                                       f"{failed[0].message}")
                if hasattr(erp_sandbox, "advance"):  # the warehouse's work takes its time
                    erp_sandbox.advance(WAREHOUSE_HOURS)
                    note(f"{WAREHOUSE_HOURS.seconds // 3600} hour later at the ERP: its "
                         "access tokens of step 1 have expired.")
                for line in _play_the_warehouse(wms_sandbox, company, offered):
                    note(line)
                step("2. What the warehouse did, reported back to the ERP", RETURN)
                step("3. The same cycle again: only what changed since is written",
                     INBOUND + RETURN)
            finally:
                state.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]
        handler.close()
    return result

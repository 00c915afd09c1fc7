"""The Fortnox plugin passes the ERP conformance suite against its own simulator, once per
mode of seed 002.

The plugin implements every hook, but which processes a goods owner can run depends on the
tenant: the classic stock balance exists only without the warehouse module, purchase orders,
receipts (incoming goods) and inventory documents only with it (seed 002; the plugin's
``enabled_flows``). Each class runs the suite on the flows of its mode and asserts for the
flows the mode has not that the plugin refuses them by configuration: no flow is left
untested.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from erpsync_fortnox import plugin
from erpsync_fortnox.plugin import FortnoxSettings
from erpsync_fortnox.sandbox import FortnoxSandbox

from erpsync import http
from erpsync.conformance import ErpConformance
from erpsync.errors import ConfigError
from erpsync.flows import RunContext
from erpsync.models import Flow, InventoryAdjustment, Receipt, StockBalance
from erpsync.state import DiskState

MODULE_ONLY = frozenset({Flow.PURCHASE_ORDERS, Flow.RECEIPTS, Flow.ADJUSTMENTS})
CLASSIC_ONLY = frozenset({Flow.STOCK})
CLASSIC = frozenset(Flow) - MODULE_ONLY
MODULE = frozenset(Flow) - CLASSIC_ONLY


class PagedSandbox(FortnoxSandbox):
    """The simulator, with the plugin reading pages of the simulator's page size (``limit``),
    so that the suite's records sharing one change time straddle real page breaks."""

    def settings(self) -> dict[str, Any]:
        return super().settings() | {"page_size": self.page_size}


def _drop(cls: type[ErpConformance], *names: str) -> None:
    """Remove generated tests ``names`` of ``cls`` (each replaced by a test in the class)."""
    for name in names:
        delattr(cls, name)


def _settings(sandbox: FortnoxSandbox) -> FortnoxSettings:
    return FortnoxSettings.model_validate(sandbox.settings())


def _run(sandbox: FortnoxSandbox, body: Any, state_dir: Path) -> Any:
    """``body(ctx)`` in a fresh event loop with ``sandbox`` mounted."""
    state = DiskState(state_dir)

    async def main() -> Any:
        ctx = RunContext("conformance", state).for_plugin("fortnox")
        try:
            return await body(ctx)
        finally:
            await ctx.aclose()

    try:
        with http.mount(sandbox.base_url, sandbox.app):
            return asyncio.run(main())
    finally:
        state.close()


class TestFortnoxClassic(ErpConformance):
    """Without the warehouse module: registries, orders, fulfilment, classic stock."""

    plugin_name = "fortnox"
    flows = CLASSIC

    def make_sandbox(self) -> FortnoxSandbox:
        return PagedSandbox()

    def test_purchase_orders_are_off_without_the_module(self) -> None:
        sandbox = FortnoxSandbox()
        settings = _settings(sandbox)
        assert not settings.on("purchase_orders")
        with pytest.raises(ValueError, match="warehouse_module = true"):
            FortnoxSettings.model_validate(sandbox.settings() | {"purchase_orders": True})

    def test_receipts_are_refused_by_configuration_without_the_module(
        self, tmp_path: Path
    ) -> None:
        module = FortnoxSandbox(warehouse_module=True)
        receipt = module.event(Flow.RECEIPTS)
        assert isinstance(receipt, Receipt)
        classic = FortnoxSandbox()

        async def report(ctx: Any) -> str:
            return await plugin.report_receipt(ctx, _settings(classic), receipt)

        with pytest.raises(ConfigError, match="purchase_orders"):
            _run(classic, report, tmp_path)
        assert classic.request_count() == 0, "refused before any call"

    def test_adjustments_are_refused_by_configuration_without_the_module(
        self, tmp_path: Path
    ) -> None:
        sandbox = FortnoxSandbox()
        adjustment = InventoryAdjustment(
            event_id="ongoing:inventory:1:article:2", occurred_at=datetime.now(UTC),
            article_number="1001", quantity=Decimal(3))

        async def report(ctx: Any) -> str:
            return await plugin.push_inventory_adjustment(ctx, _settings(sandbox), adjustment)

        with pytest.raises(ConfigError, match="inventory_changes"):
            _run(sandbox, report, tmp_path)
        assert sandbox.request_count() == 0, "the stock flow carries classic stock"


class TestFortnoxWarehouseModule(ErpConformance):
    """With the warehouse module: registries, orders, fulfilment (warehouse-ready), purchase
    orders, receipts as incoming goods, adjustments as custom documents."""

    plugin_name = "fortnox"
    flows = MODULE

    def make_sandbox(self) -> FortnoxSandbox:
        return PagedSandbox(warehouse_module=True)

    def test_classic_stock_is_refused_by_configuration(self, tmp_path: Path) -> None:
        sandbox = FortnoxSandbox(warehouse_module=True)
        article = sandbox.seed(Flow.STOCK, 1, datetime.now(UTC))[0]
        balance = StockBalance(article_number=article, quantity=Decimal(5),
                               as_of=datetime.now(UTC))

        async def push(ctx: Any) -> object:
            return await plugin.push_stock(ctx, _settings(sandbox), [balance])

        with pytest.raises(ConfigError, match="remove 'stock'"):
            _run(sandbox, push, tmp_path)
        assert sandbox.stock_writes(article) == 0
        assert sandbox.request_count() == 0

    def test_since_cannot_narrow_purchase_orders_which_have_no_change_time(
        self, tmp_path: Path
    ) -> None:
        """Replaces the suite's ``since_narrows_the_read`` for purchase orders: Fortnox's
        warehouse purchase orders carry no change time and their list no change filter
        (apidocs warehouse_PurchaseOrder; the simulator's C21), so a purchase order last
        changed before ``since`` cannot be told from one changed after it. The plugin returns
        every open one (the core's fingerprints keep unchanged ones from being written again)
        rather than narrow by ``orderDate`` and lose one entered with an earlier date."""
        sandbox = FortnoxSandbox(warehouse_module=True)
        then = datetime.now(UTC) - timedelta(days=2)
        old = sandbox.seed(Flow.PURCHASE_ORDERS, 2, then)
        new = sandbox.seed(Flow.PURCHASE_ORDERS, 2, then + timedelta(days=1))

        async def read(ctx: Any) -> list[str]:
            return [po.key() async for po in plugin.fetch_purchase_orders(
                ctx, _settings(sandbox), then + timedelta(days=1))]

        assert sorted(_run(sandbox, read, tmp_path)) == sorted(old + new)


_drop(TestFortnoxWarehouseModule, "test_since_narrows_the_read__purchase_orders")

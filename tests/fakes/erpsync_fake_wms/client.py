"""The Fake WMS's API as the plugin uses it: the warehouse by name, the password, async calls.

The warehouse lives in this process, so there is no HTTP; each call still yields to the event
loop once, as a network call would, and the warehouse raises the
:mod:`erpsync.errors` kinds itself (a wrong password, a rejected record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal

from erpsync.errors import TransientError

from .sandbox import (
    WAREHOUSES,
    FakeWarehouse,
    PutResult,
    WmsAdjustment,
    WmsArticle,
    WmsOrder,
    WmsPurchaseOrder,
    WmsSupplier,
)

__all__ = ["VENDOR", "FakeWmsClient"]

VENDOR = "fake-wms"


class FakeWmsClient:
    """A connection to the registered warehouse ``name``."""

    def __init__(self, name: str, password: str) -> None:
        self._name = name
        self._password = password

    async def _warehouse(self) -> FakeWarehouse:
        await asyncio.sleep(0)
        warehouse = WAREHOUSES.get(self._name)
        if warehouse is None:
            raise TransientError(f"{VENDOR}: no warehouse is registered as {self._name!r}")
        return warehouse

    async def ping(self) -> None:
        (await self._warehouse()).api_ping(self._password)

    async def put_article(self, article: WmsArticle) -> PutResult:
        return (await self._warehouse()).api_put_article(self._password, article)

    async def put_supplier(self, supplier: WmsSupplier) -> PutResult:
        return (await self._warehouse()).api_put_supplier(self._password, supplier)

    async def put_order(self, order: WmsOrder) -> PutResult:
        return (await self._warehouse()).api_put_order(self._password, order)

    async def put_purchase_order(self, purchase_order: WmsPurchaseOrder) -> PutResult:
        return (await self._warehouse()).api_put_purchase_order(self._password, purchase_order)

    async def status(self, kind: Literal["order", "purchase_order"], number: str) -> str | None:
        return (await self._warehouse()).api_status(self._password, kind, number)

    async def orders(self) -> list[WmsOrder]:
        return (await self._warehouse()).api_orders(self._password)

    async def purchase_orders(self) -> list[WmsPurchaseOrder]:
        return (await self._warehouse()).api_purchase_orders(self._password)

    async def unreported_adjustments(self) -> list[WmsAdjustment]:
        return (await self._warehouse()).api_adjustments(self._password)

    async def stock(self) -> tuple[datetime, dict[str, Decimal]]:
        return (await self._warehouse()).api_stock(self._password)

    async def mark_order(self, number: str, totals: Mapping[str, Decimal]) -> None:
        (await self._warehouse()).api_mark_order_reported(self._password, number, totals)

    async def mark_purchase_order(self, number: str, totals: Mapping[str, Decimal],
                                  complete: bool) -> None:
        warehouse = await self._warehouse()
        warehouse.api_mark_purchase_order_reported(self._password, number, totals, complete)

    async def mark_adjustment(self, adjustment_id: str) -> None:
        (await self._warehouse()).api_mark_adjustment_reported(self._password, adjustment_id)

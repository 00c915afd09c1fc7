"""The reference fake plugins, tested through their hooks against their sandboxes."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from erpsync_fake_erp import plugin as erp_plugin
from erpsync_fake_erp.plugin import FakeErpSettings
from erpsync_fake_erp.sandbox import DEFAULT_API_KEY, FakeErp
from erpsync_fake_wms import plugin as wms_plugin
from erpsync_fake_wms.plugin import FakeWmsSettings
from erpsync_fake_wms.sandbox import DEFAULT_PASSWORD, WAREHOUSES, FakeWarehouse
from pydantic import SecretStr

from erpsync.errors import AuthenticationLost, RecordRejected, TransientError
from erpsync.hookspecs import CredentialStore
from erpsync.http import mount
from erpsync.models import (
    Article,
    Customer,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
    Flow,
    InventoryAdjustment,
    Order,
    OrderLine,
    PurchaseOrder,
    PurchaseOrderRow,
    Receipt,
    ReceiptRow,
    StockBalance,
)
from erpsync.plugins import discover

BASE_URL = "https://fake-erp.test"
T = TypeVar("T")


class StubContext:
    """The smallest :class:`erpsync.hookspecs.Context`: resources cached in a dict."""

    def __init__(self, goods_owner: str = "acme") -> None:
        self._owner = goods_owner
        self._resources: dict[str, Any] = {}

    @property
    def goods_owner(self) -> str:
        return self._owner

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"test.{self._owner}")

    def credentials(self, name: str) -> CredentialStore:
        raise NotImplementedError

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        if name not in self._resources:
            self._resources[name] = await factory()
        resource: T = self._resources[name]
        return resource

    async def aclose(self) -> None:
        for resource in self._resources.values():
            await resource.aclose()
        self._resources.clear()


async def collect(records: AsyncIterator[T]) -> list[T]:
    return [record async for record in records]


@pytest.fixture
async def ctx() -> AsyncIterator[StubContext]:
    context = StubContext()
    yield context
    await context.aclose()


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    sandbox = FakeErp()
    with mount(BASE_URL, sandbox.app):
        yield sandbox


def erp_settings(page_size: int = 50, api_key: str = DEFAULT_API_KEY) -> FakeErpSettings:
    return FakeErpSettings(base_url=BASE_URL, api_key=SecretStr(api_key), page_size=page_size)


@pytest.fixture
def warehouse() -> Iterator[FakeWarehouse]:
    yield FakeWarehouse.register("test-warehouse")
    WAREHOUSES.pop("test-warehouse", None)


def wms_settings(password: str = DEFAULT_PASSWORD) -> FakeWmsSettings:
    return FakeWmsSettings(warehouse="test-warehouse", password=SecretStr(password))


# --- discovery -------------------------------------------------------------------------------


def test_both_fakes_are_found_through_the_entry_point_group() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="erpsync")}
    assert {"fake_erp", "fake_wms"} <= names
    registry = discover(select={"fake_erp", "fake_wms"})
    assert registry.failures == []
    assert registry.get("fake_erp").role == "erp"
    assert registry.get("fake_wms").role == "wms"
    assert set(registry.get("fake_erp").flows) == set(Flow)
    assert set(registry.get("fake_wms").flows) == set(Flow)


# --- the fake ERP: reads -------------------------------------------------------------------


async def test_paging_delivers_records_sharing_a_timestamp_across_page_breaks_once(
    erp: FakeErp, ctx: StubContext
) -> None:
    for n in range(1, 8):  # seven products, one timestamp, pages of three
        erp.add_product(f"A{n}", f"Article {n}")
    erp.tick()
    erp.add_product("B1", "Later")
    articles = await collect(erp_plugin.fetch_articles(ctx, erp_settings(page_size=3), None))
    numbers = [a.article_number for a in articles]
    assert sorted(numbers) == [*(f"A{n}" for n in range(1, 8)), "B1"]
    assert len(numbers) == len(set(numbers))


async def test_a_record_changed_during_the_read_shifts_no_other_record_out(
    erp: FakeErp, ctx: StubContext
) -> None:
    for n in range(1, 7):
        erp.add_product(f"A{n}", f"Article {n}")
        erp.tick()
    numbers = []
    async for article in erp_plugin.fetch_articles(ctx, erp_settings(page_size=2), None):
        if article.article_number == "A1":
            erp.change_product("A2", name="Edited")  # A2 moves to the end; A3 moves forward
        numbers.append(article.article_number)
    assert sorted(numbers) == [f"A{n}" for n in range(1, 7)]


async def test_modified_since_narrows_with_greater_or_equal(
    erp: FakeErp, ctx: StubContext
) -> None:
    erp.add_product("OLD", "Old")
    cutoff = erp.tick(60)
    erp.add_product("AT1", "At the cut-off")
    erp.add_product("AT2", "At the cut-off too")
    erp.tick()
    erp.change_product("OLD", name="Changed later")
    articles = await collect(erp_plugin.fetch_articles(ctx, erp_settings(), cutoff))
    assert [a.article_number for a in articles] == ["AT1", "AT2", "OLD"]
    assert all(a.modified_at is not None and a.modified_at >= cutoff for a in articles)


async def test_a_since_in_the_future_returns_nothing(erp: FakeErp, ctx: StubContext) -> None:
    erp.add_product("A1", "Article")
    erp.add_order("O1", lines=[("1", "A1", 1, "9.90")])
    future = erp.now + timedelta(days=1)
    settings = erp_settings()
    assert await collect(erp_plugin.fetch_articles(ctx, settings, future)) == []
    assert await collect(erp_plugin.fetch_orders(ctx, settings, future)) == []


async def test_orders_and_purchase_orders_map_onto_canonical_records(
    erp: FakeErp, ctx: StubContext
) -> None:
    erp.add_supplier("S1", "Supplier One", city="Turku", country="FI")
    erp.add_order("O1", lines=[("10", "A1", "2", "12.50")], text_lines=[("11", "Fragile")],
                  customer={"number": "C1", "name": "Buyer Oy", "country": "FI"})
    erp.add_purchase_order("P1", rows=[("r1", "A1", 5)], supplier_number="S1")
    settings = erp_settings()
    (order,) = await collect(erp_plugin.fetch_orders(ctx, settings, None))
    assert order.lines[0].external_line_key == "10"
    assert order.lines[0].line_price == Decimal("25.00")
    assert order.text_lines[0].text == "Fragile"
    assert order.customer.address.country_code == "FI"
    assert order.modified_at == erp.now
    (purchase_order,) = await collect(erp_plugin.fetch_purchase_orders(ctx, settings, None))
    assert purchase_order.rows[0].row_key == "r1"
    assert purchase_order.rows[0].quantity == Decimal(5)
    assert purchase_order.supplier is not None
    assert purchase_order.supplier.supplier_number == "S1"


async def test_a_wrong_api_key_is_authentication_lost_without_the_key(
    erp: FakeErp, ctx: StubContext
) -> None:
    settings = erp_settings(api_key="wrong-key-1234")
    with pytest.raises(AuthenticationLost) as caught:
        await erp_plugin.check_connection(ctx, settings)
    assert caught.value.action == "issue a new API key and set it in the config"
    assert "wrong-key-1234" not in str(caught.value)
    with pytest.raises(AuthenticationLost):
        await collect(erp_plugin.fetch_articles(StubContext(), settings, None))


async def test_the_sandbox_refuses_malformed_list_requests(erp: FakeErp) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    transport = httpx.ASGITransport(app=erp.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        for params in ({"modified_since": "2024-01-01T00:00:00"},  # naive
                       {"modified_since": "yesterday"}, {"page_size": "101"},
                       {"modifiedSince": "2024-01-01T00:00:00+00:00"}):
            response = await client.get("/products", params=params, headers=headers)
            assert response.status_code == 400, params
            assert "error" in response.json()
        response = await client.get("/products")
        assert response.status_code == 401
        assert response.json() == {"error": "invalid api key"}


# --- the fake ERP: write-back ----------------------------------------------------------------


def delivery(order_number: str, event_id: str = "ev-1") -> Delivery:
    return Delivery(
        event_id=event_id, occurred_at=datetime(2024, 1, 2, tzinfo=UTC),
        order_number=order_number, status=DeliveryStatus.SENT,
        lines=(DeliveryLine(external_line_key="1", article_number="A1",
                            delivered_quantity=Decimal(2), total_delivered_quantity=Decimal(2)),),
    )


async def test_a_report_is_recorded_and_found_again_by_lookup(
    erp: FakeErp, ctx: StubContext
) -> None:
    erp.add_product("A1", "Article")
    erp.add_order("O1", lines=[("1", "A1", 3, "1.00")])
    erp.add_purchase_order("P1", rows=[("r1", "A1", 5)])
    settings = erp_settings()

    reference = await erp_plugin.report_delivery(ctx, settings, delivery("O1"))
    (recorded,) = erp.deliveries_reported("O1")
    assert recorded["id"] == reference
    assert recorded["lines"] == [{"line_id": "1", "quantity": Decimal(2)}]
    assert await erp_plugin.lookup_report(ctx, settings, Flow.DELIVERIES, delivery("O1")) == (
        reference
    )
    unknown = delivery("O1", event_id="never-sent")
    assert await erp_plugin.lookup_report(ctx, settings, Flow.DELIVERIES, unknown) is None

    receipt = Receipt(
        event_id="rc-1", occurred_at=erp.now, purchase_order_number="P1", complete=True,
        rows=(ReceiptRow(row_key="r1", article_number="A1", received_quantity=Decimal(5),
                         total_received_quantity=Decimal(5)),),
    )
    reference = await erp_plugin.report_receipt(ctx, settings, receipt)
    assert erp.receipts_reported("P1")[0]["complete"] is True
    assert await erp_plugin.lookup_report(ctx, settings, Flow.RECEIPTS, receipt) == reference

    adjustment = InventoryAdjustment(event_id="adj-1", occurred_at=erp.now, article_number="A1",
                                     quantity=Decimal("-1.5"), cause="damaged")
    reference = await erp_plugin.push_inventory_adjustment(ctx, settings, adjustment)
    assert [t["quantity"] for t in erp.stock_transactions()] == [Decimal("-1.5")]
    assert await erp_plugin.lookup_report(ctx, settings, Flow.ADJUSTMENTS, adjustment) == (
        reference
    )


async def test_a_report_whose_answer_was_lost_is_found_by_lookup(
    erp: FakeErp, ctx: StubContext
) -> None:
    erp.add_order("O1", lines=[("1", "A1", 3, None)])
    erp.fail_next(1, 500, after_applying=True)
    with pytest.raises(TransientError) as caught:
        await erp_plugin.report_delivery(ctx, erp_settings(), delivery("O1"))
    assert caught.value.maybe_sent
    (recorded,) = erp.deliveries_reported("O1")
    found = await erp_plugin.lookup_report(ctx, erp_settings(), Flow.DELIVERIES, delivery("O1"))
    assert found == recorded["id"]


async def test_a_refused_report_is_record_rejected_with_the_vendor_message(
    erp: FakeErp, ctx: StubContext
) -> None:
    with pytest.raises(RecordRejected) as caught:
        await erp_plugin.report_delivery(ctx, erp_settings(), delivery("NOPE"))
    assert caught.value.vendor_message == "order NOPE not found"
    assert caught.value.key == "NOPE"
    assert erp.deliveries_reported("NOPE") == []


async def test_push_stock_sets_levels_and_returns_the_refused_ones(
    erp: FakeErp, ctx: StubContext
) -> None:
    erp.add_product("A/1", "Slash in the number")
    balances = [StockBalance(article_number=n, quantity=Decimal(q), as_of=erp.now)
                for n, q in (("A/1", "12"), ("GHOST", "3"))]
    rejections = await erp_plugin.push_stock(ctx, erp_settings(), balances)
    assert erp.stock_level("A/1") == Decimal(12)
    assert [(r.key, r.message) for r in rejections] == [("GHOST", "article GHOST not found")]


# --- the fake WMS ----------------------------------------------------------------------------


def order(number: str = "O1", quantity: int = 3) -> Order:
    return Order(
        order_number=number, erp_key=f"erp-{number}", customer=Customer(name="Buyer"),
        lines=(OrderLine(external_line_key="1", article_number="A1", quantity=Decimal(quantity)),
               OrderLine(external_line_key="2", article_number="A2", quantity=Decimal(1))),
    )


async def test_an_order_is_editable_only_while_open(
    warehouse: FakeWarehouse, ctx: StubContext
) -> None:
    settings = wms_settings()
    assert (await wms_plugin.upsert_order(ctx, settings, order())).outcome == "written"
    assert (await wms_plugin.upsert_order(ctx, settings, order())).outcome == "written"
    assert warehouse.writes == 1  # the repeat changed nothing
    warehouse.start_picking("O1")
    result = await wms_plugin.upsert_order(ctx, settings, order(quantity=5))
    assert result.outcome == "skipped"
    assert result.reason == "order is picking in the warehouse"
    stored = warehouse.order("O1")
    assert stored is not None
    assert stored.lines["1"].ordered == Decimal(3)
    assert warehouse.writes == 1


async def test_partial_then_full_shipment_gives_two_deliveries_then_none(
    warehouse: FakeWarehouse, ctx: StubContext
) -> None:
    settings = wms_settings()
    await wms_plugin.upsert_order(ctx, settings, order())
    warehouse.ship("O1", {"1": 1})

    (first,) = await collect(wms_plugin.fetch_deliveries(ctx, settings, None))
    (again,) = await collect(wms_plugin.fetch_deliveries(ctx, settings, None))
    assert again.event_id == first.event_id  # stable until marked
    assert not first.complete
    assert [(x.delivered_quantity, x.total_delivered_quantity) for x in first.lines] == [
        (Decimal(1), Decimal(1))
    ]
    await wms_plugin.mark_reported(ctx, settings, Flow.DELIVERIES, first)
    assert await collect(wms_plugin.fetch_deliveries(ctx, settings, None)) == []

    warehouse.tick()
    warehouse.ship("O1")  # the rest
    (second,) = await collect(wms_plugin.fetch_deliveries(ctx, settings, None))
    assert second.event_id != first.event_id
    assert second.complete
    assert {x.external_line_key: (x.delivered_quantity, x.total_delivered_quantity)
            for x in second.lines} == {"1": (Decimal(2), Decimal(3)), "2": (Decimal(1),
                                                                           Decimal(1))}
    await wms_plugin.mark_reported(ctx, settings, Flow.DELIVERIES, second)
    await wms_plugin.mark_reported(ctx, settings, Flow.DELIVERIES, first)  # late, harmless
    assert await collect(wms_plugin.fetch_deliveries(ctx, settings, None)) == []


async def test_receipts_adjustments_and_stock(warehouse: FakeWarehouse, ctx: StubContext) -> None:
    settings = wms_settings()
    purchase_order = PurchaseOrder(order_number="P1", erp_key="p1", rows=(
        PurchaseOrderRow(row_key="r1", article_number="A1", quantity=Decimal(10)),))
    await wms_plugin.upsert_purchase_order(ctx, settings, purchase_order)
    warehouse.receive("P1", {"r1": 4})
    (receipt,) = await collect(wms_plugin.fetch_receipts(ctx, settings, None))
    assert (receipt.complete, receipt.rows[0].received_quantity) == (False, Decimal(4))
    await wms_plugin.mark_reported(ctx, settings, Flow.RECEIPTS, receipt)
    warehouse.receive("P1", {}, complete=True)  # closed short
    (closing,) = await collect(wms_plugin.fetch_receipts(ctx, settings, None))
    assert closing.complete
    assert closing.event_id != receipt.event_id
    await wms_plugin.mark_reported(ctx, settings, Flow.RECEIPTS, closing)
    assert await collect(wms_plugin.fetch_receipts(ctx, settings, None)) == []

    adjustment_id = warehouse.adjust("A1", -1, "broken")
    (adjustment,) = await collect(wms_plugin.fetch_inventory_adjustments(ctx, settings, None))
    assert (adjustment.event_id, adjustment.quantity) == (adjustment_id, Decimal(-1))
    await wms_plugin.mark_reported(ctx, settings, Flow.ADJUSTMENTS, adjustment)
    assert await collect(wms_plugin.fetch_inventory_adjustments(ctx, settings, None)) == []

    balances = await collect(wms_plugin.fetch_stock_balances(ctx, settings))
    assert [(b.article_number, b.quantity) for b in balances] == [("A1", Decimal(3))]


async def test_the_warehouse_refuses_a_wrong_password_and_rejects_on_demand(
    warehouse: FakeWarehouse, ctx: StubContext
) -> None:
    with pytest.raises(AuthenticationLost):
        await wms_plugin.check_connection(ctx, wms_settings(password="not-the-password"))
    warehouse.reject_next(1, "article number too long")
    article = Article(article_number="A1", erp_key="1", name="Article")
    with pytest.raises(RecordRejected) as caught:
        await wms_plugin.upsert_article(ctx, wms_settings(), article)
    assert (caught.value.key, caught.value.vendor_message) == ("A1", "article number too long")
    assert (await wms_plugin.upsert_article(ctx, wms_settings(), article)).outcome == "written"
    assert warehouse.calls == 3

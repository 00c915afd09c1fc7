"""The Ongoing WMS plugin's hooks against the simulator (``OngoingSandbox``), over HTTP.

The hooks are called directly with a small context; the simulator is reached through
:func:`erpsync.http.mount`, so every call goes through the plugin's real HTTP client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from erpsync_ongoing_wms import plugin
from erpsync_ongoing_wms.plugin import OngoingSettings
from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync import http
from erpsync.errors import AuthenticationLost, RecordRejected, TransientError
from erpsync.hookspecs import CredentialStore
from erpsync.models import (
    Address,
    Article,
    Customer,
    Delivery,
    Dimensions,
    Event,
    Flow,
    InventoryAdjustment,
    Length,
    LengthUnit,
    Order,
    OrderLine,
    OrderTextLine,
    PurchaseOrder,
    PurchaseOrderRow,
    Receipt,
    Supplier,
    Weight,
    WeightUnit,
)

T = TypeVar("T")


class StubContext:
    """The smallest :class:`erpsync.hookspecs.Context`: resources cached in a dict."""

    def __init__(self) -> None:
        self._resources: dict[str, Any] = {}

    @property
    def goods_owner(self) -> str:
        return "acme"

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("test.ongoing")

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


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def wms(monkeypatch: pytest.MonkeyPatch) -> Iterator[OngoingSandbox]:
    monkeypatch.setattr(http, "_retry_sleep", _no_sleep)
    sandbox = OngoingSandbox()
    with http.mount(sandbox.base_url, sandbox.app):
        yield sandbox


@pytest.fixture
async def ctx() -> AsyncIterator[StubContext]:
    context = StubContext()
    yield context
    await context.aclose()


def settings_of(sandbox: OngoingSandbox, **changes: Any) -> OngoingSettings:
    return OngoingSettings(**(sandbox.settings() | changes))


async def collect(records: AsyncIterator[T]) -> list[T]:
    return [record async for record in records]


def _article(number: str = "A-1", name: str = "Kahvi") -> Article:
    return Article(article_number=number, erp_key=f"erp-{number}", name=name)


def _order(number: str = "SO-1", comment: str | None = None, cancelled: bool = False,
           quantity: int = 4) -> Order:
    return Order(
        order_number=number, erp_key=f"erp-{number}", comment=comment, cancelled=cancelled,
        customer=Customer(name="Testi Oy", customer_number="C1", email="a@b.fi",
                          address=Address(name="Testi Oy", address1="Katu 1",
                                          post_code="00100", city="Helsinki",
                                          country_code="FI")),
        lines=(OrderLine(external_line_key="L1", article_number="A-1",
                         quantity=Decimal(quantity), line_price=Decimal("9.90"),
                         currency="EUR"),),
        text_lines=(OrderTextLine(external_line_key="T1", text="Hauras"),),
    )


def _purchase_order(number: str = "PO-1", comment: str | None = None) -> PurchaseOrder:
    return PurchaseOrder(
        order_number=number, erp_key=f"erp-{number}", comment=comment,
        supplier=Supplier(supplier_number="S1", erp_key="s1", name="Tukku Oy"),
        rows=(PurchaseOrderRow(row_key="R1", row_number=1, article_number="A-1",
                               quantity=Decimal(10)),),
    )


async def _seed(wms: OngoingSandbox, ctx: StubContext, *numbers: str) -> OngoingSettings:
    settings = settings_of(wms)
    for number in numbers or ("A-1",):
        assert (await plugin.upsert_article(ctx, settings, _article(number))).outcome == "written"
    return settings


# --- connection ------------------------------------------------------------------------------


async def test_check_connection(wms: OngoingSandbox, ctx: StubContext) -> None:
    await plugin.check_connection(ctx, settings_of(wms))


async def test_a_wrong_password_is_authentication_lost_without_the_password(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    bad = OngoingSettings(**wms.bad_settings())
    with pytest.raises(AuthenticationLost) as caught:
        await plugin.check_connection(ctx, bad)
    assert caught.value.action and "username and password" in caught.value.action
    assert bad.password.get_secret_value() not in str(caught.value)


async def test_an_unavailable_wms_is_a_transient_error(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    wms.fail_next(10, 503)
    with pytest.raises(TransientError):
        await plugin.check_connection(ctx, settings_of(wms))


# --- writes ----------------------------------------------------------------------------------


async def test_articles_are_upserted_by_number(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = settings_of(wms)
    article = Article(
        article_number="A-1", erp_key="77", name="Kahvi", barcode="6417700050015",
        dimensions=Dimensions(length=Length(value=Decimal(250), unit=LengthUnit.MILLIMETRE)),
        gross_weight=Weight(value=Decimal(520), unit=WeightUnit.GRAM),
        purchase_price=Decimal("4.10"))
    first = await plugin.upsert_article(ctx, settings, article)
    again = await plugin.upsert_article(ctx, settings, article)
    renamed = await plugin.upsert_article(ctx, settings, _article("A-1", "Kahvi 1 kg"))
    assert first.outcome == again.outcome == renamed.outcome == "written"
    assert first.wms_key is not None and first.wms_key == renamed.wms_key
    assert wms.count(Flow.ARTICLES) == 1
    stored = wms.article("A-1")
    assert stored["articleName"] == "Kahvi 1 kg"
    assert (stored["length"], stored["weight"], stored["purchasePrice"]) == (
        Decimal("0.25"), Decimal("0.52"), Decimal("4.10"))


async def test_orders_are_upserted_and_skipped_once_started(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    assert (await plugin.upsert_order(ctx, settings, _order())).outcome == "written"
    assert (await plugin.upsert_order(ctx, settings, _order(comment="changed"))).outcome == (
        "written")
    assert wms.count(Flow.ORDERS) == 1
    sent = wms.sent(Flow.ORDERS, "SO-1")
    assert sent["orderRemark"] == "changed"
    assert sent["advanced"]["orderTextLines"] == [
        {"rowNumber": "T1", "comment": "Hauras", "numberOfItems": Decimal(1)}]
    wms.start_work(Flow.ORDERS, "SO-1")
    result = await plugin.upsert_order(ctx, settings, _order(comment="too late"))
    assert result.outcome == "skipped"
    assert result.reason and "status 300" in result.reason
    assert wms.sent(Flow.ORDERS, "SO-1")["orderRemark"] == "changed"


async def test_a_written_order_or_purchase_order_costs_one_request(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    before = len(wms.requests)
    await plugin.upsert_order(ctx, settings, _order())
    await plugin.upsert_order(ctx, settings, _order(comment="changed"))
    await plugin.upsert_purchase_order(ctx, settings, _purchase_order())
    assert [(r.method, r.path) for r in wms.requests[before:]] == [
        ("PUT", "/orders"), ("PUT", "/orders"), ("PUT", "/purchaseOrders")]


async def test_a_cancelled_order_is_cancelled_while_open(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    await plugin.upsert_order(ctx, settings, _order())
    assert (await plugin.upsert_order(ctx, settings, _order(cancelled=True))).outcome == (
        "written")
    assert wms.order("SO-1")["orderInfo"]["orderStatus"]["number"] == 1000
    assert (await plugin.upsert_order(ctx, settings, _order(cancelled=True))).outcome == (
        "written")
    never_sent = await plugin.upsert_order(ctx, settings, _order("SO-2", cancelled=True))
    assert never_sent.outcome == "written"
    assert wms.count(Flow.ORDERS) == 1


async def test_a_refused_order_is_rejected_with_the_vendors_message_and_its_number(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = settings_of(wms)  # no article A-1 in the warehouse
    with pytest.raises(RecordRejected) as caught:
        await plugin.upsert_order(ctx, settings, _order("SO-9"))
    assert caught.value.key == "SO-9"
    assert caught.value.status == 400 and caught.value.vendor_message
    assert "A-1" in caught.value.vendor_message


async def test_purchase_orders_are_upserted_and_skipped_once_started(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    assert (await plugin.upsert_purchase_order(ctx, settings, _purchase_order())).outcome == (
        "written")
    assert (await plugin.upsert_purchase_order(
        ctx, settings, _purchase_order(comment="changed"))).outcome == "written"
    assert wms.count(Flow.PURCHASE_ORDERS) == 1
    wms.start_work(Flow.PURCHASE_ORDERS, "PO-1")
    result = await plugin.upsert_purchase_order(ctx, settings, _purchase_order(comment="late"))
    assert result.outcome == "skipped" and result.reason


# --- events ----------------------------------------------------------------------------------


async def _deliveries(ctx: StubContext, settings: OngoingSettings) -> list[Delivery]:
    return await collect(plugin.fetch_deliveries(ctx, settings, None))


async def test_a_partial_then_full_delivery_is_two_events(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    await plugin.upsert_order(ctx, settings, _order())
    assert await _deliveries(ctx, settings) == []
    wms.ship("SO-1", {"L1": Decimal(1)})
    (first,) = await _deliveries(ctx, settings)
    assert [d.event_id for d in await _deliveries(ctx, settings)] == [first.event_id]
    (line,) = first.lines
    assert (line.external_line_key, line.delivered_quantity, first.complete) == (
        "L1", Decimal(1), False)
    assert first.erp_key == "erp-SO-1"
    await plugin.mark_reported(ctx, settings, Flow.DELIVERIES, first)
    await plugin.mark_reported(ctx, settings, Flow.DELIVERIES, first)  # idempotent
    assert await _deliveries(ctx, settings) == []
    wms.ship("SO-1")
    (second,) = await _deliveries(ctx, settings)
    assert second.event_id != first.event_id and second.complete
    (rest,) = second.lines
    assert (rest.delivered_quantity, rest.total_delivered_quantity) == (Decimal(3), Decimal(4))
    await plugin.mark_reported(ctx, settings, Flow.DELIVERIES, second)
    assert await _deliveries(ctx, settings) == []
    await plugin.mark_reported(ctx, settings, Flow.DELIVERIES, first)  # never lowers
    assert wms.order("SO-1")["orderLines"][0]["reportedNumberOfItems"] == Decimal(4)


async def test_deliveries_page_through_many_orders(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = await _seed(wms, ctx)
    numbers = [f"SO-{n}" for n in range(1, wms.page_size * 2 + 2)]
    for number in numbers:
        await plugin.upsert_order(ctx, settings, _order(number))
        wms.ship(number)
    assert sorted(d.order_number for d in await _deliveries(ctx, settings)) == sorted(numbers)


async def _receipts(ctx: StubContext, settings: OngoingSettings,
                    since: datetime | None = None) -> list[Receipt]:
    return await collect(plugin.fetch_receipts(ctx, settings, since))


async def test_a_partial_then_complete_receipt_is_two_events(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    await plugin.upsert_purchase_order(ctx, settings, _purchase_order())
    wms.receive("PO-1", {"R1": Decimal(6)})
    (first,) = await _receipts(ctx, settings)
    assert not first.complete
    assert [r.event_id for r in await _receipts(ctx, settings)] == [first.event_id]
    await plugin.mark_reported(ctx, settings, Flow.RECEIPTS, first)
    assert await _receipts(ctx, settings) == []
    wms.receive("PO-1", {"R1": Decimal(3)}, complete=True)
    (second,) = await _receipts(ctx, settings)
    assert second.complete and second.event_id != first.event_id
    (row,) = second.rows
    assert (row.row_key, row.received_quantity, row.total_received_quantity) == (
        "R1", Decimal(3), Decimal(9))
    await plugin.mark_reported(ctx, settings, Flow.RECEIPTS, second)
    # Closed and reported: the completion pass finds it again with the same id (the ledger
    # knows it), never with a new one.
    assert [r.event_id for r in await _receipts(ctx, settings)] in ([], [second.event_id])


async def test_a_purchase_order_closed_without_new_goods_is_reported_complete(
    wms: OngoingSandbox, ctx: StubContext
) -> None:
    settings = await _seed(wms, ctx)
    await plugin.upsert_purchase_order(ctx, settings, _purchase_order())
    wms.receive("PO-1", {"R1": Decimal(6)})
    (partial,) = await _receipts(ctx, settings)
    await plugin.mark_reported(ctx, settings, Flow.RECEIPTS, partial)
    wms.set_status(Flow.PURCHASE_ORDERS, "PO-1", 400)  # Deflection: nothing more will come
    (closing,) = await _receipts(ctx, settings)
    assert closing.complete and closing.event_id != partial.event_id
    assert [(r.row_key, r.received_quantity, r.total_received_quantity)
            for r in closing.rows] == [("R1", Decimal(0), Decimal(6))]


async def _adjustments(ctx: StubContext, settings: OngoingSettings,
                       since: datetime | None = None) -> list[InventoryAdjustment]:
    return await collect(plugin.fetch_inventory_adjustments(ctx, settings, since))


async def test_adjustments_until_marked(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = await _seed(wms, ctx)
    wms.adjust("A-1", Decimal(3), cause="FOUND")
    wms.adjust("A-1", Decimal(-1))
    first, second = await _adjustments(ctx, settings)
    assert [(a.article_number, a.quantity) for a in (first, second)] == [
        ("A-1", Decimal(3)), ("A-1", Decimal(-1))]
    assert (first.cause, first.warehouse) == ("FOUND", "W1")
    await plugin.mark_reported(ctx, settings, Flow.ADJUSTMENTS, first)
    await plugin.mark_reported(ctx, settings, Flow.ADJUSTMENTS, first)
    assert [a.event_id for a in await _adjustments(ctx, settings)] == [second.event_id]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert await _adjustments(ctx, settings, tomorrow) == []
    assert [a.event_id for a in await _adjustments(ctx, settings, first.occurred_at)] == [
        second.event_id]


async def test_stock_balances_across_pages(wms: OngoingSandbox, ctx: StubContext) -> None:
    numbers = [f"A-{n}" for n in range(1, wms.page_size * 2 + 2)]
    settings = await _seed(wms, ctx, *numbers)
    for n, number in enumerate(numbers):
        wms.set_stock(number, Decimal(n))
    balances = await collect(plugin.fetch_stock_balances(ctx, settings))
    assert sorted((b.article_number, b.quantity) for b in balances) == sorted(
        (number, Decimal(n)) for n, number in enumerate(numbers))


async def test_stock_sellable_or_physical(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = await _seed(wms, ctx)
    wms.set_stock("A-1", Decimal(10))
    await plugin.upsert_order(ctx, settings, _order(quantity=4))
    (sellable,) = await collect(plugin.fetch_stock_balances(ctx, settings))
    physical_settings = settings_of(wms, stock_quantity="physical")
    (physical,) = await collect(plugin.fetch_stock_balances(StubContext(), physical_settings))
    assert (sellable.quantity, physical.quantity) == (Decimal(6), Decimal(10))


async def test_calls_are_made_one_at_a_time(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = await _seed(wms, ctx, "A-1", "A-2", "A-3")
    await collect(plugin.fetch_stock_balances(ctx, settings))
    assert wms.peak_in_flight() == 1


async def test_marking_a_foreign_event_is_refused(wms: OngoingSandbox, ctx: StubContext) -> None:
    settings = settings_of(wms)
    event = Event(event_id="delivery:1:abc", occurred_at=datetime.now(UTC))
    with pytest.raises(ValueError, match="not an Ongoing WMS event id"):
        await plugin.mark_reported(ctx, settings, Flow.DELIVERIES, event)

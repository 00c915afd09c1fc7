"""Canonical models: exact numbers, aware times, units converted in one place, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from erpsync.models import (
    Article,
    Customer,
    Delivery,
    DeliveryLine,
    InventoryAdjustment,
    Length,
    LengthUnit,
    Order,
    OrderLine,
    OrderTextLine,
    StockBalance,
    Weight,
    WeightUnit,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def article(**fields: object) -> Article:
    return Article.model_validate({"article_number": "A-1", "erp_key": "1", "name": "Kahvi",
                                   **fields})


def test_money_is_exact_and_floats_are_refused_naming_the_field() -> None:
    assert article(sales_price="0.10").sales_price == Decimal("0.10")
    with pytest.raises(ValidationError) as caught:
        article(sales_price=0.1)
    assert caught.value.errors()[0]["loc"] == ("sales_price",)
    assert "not a float" in str(caught.value)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="modified_at"):
        article(modified_at=datetime(2026, 1, 1))


def test_invalid_codes_name_the_field() -> None:
    with pytest.raises(ValidationError, match="country_of_origin"):
        article(country_of_origin="Finland")
    with pytest.raises(ValidationError, match="currency"):
        article(currency="euro")


def test_units_convert_exactly() -> None:
    assert Length(value=Decimal("1234"), unit=LengthUnit.MILLIMETRE).to(LengthUnit.METRE) \
        == Length(value=Decimal("1.234"), unit=LengthUnit.METRE)
    assert Weight(value=Decimal("250"), unit=WeightUnit.GRAM).to(WeightUnit.KILOGRAM).value \
        == Decimal("0.25")
    assert Weight(value=Decimal("0"), unit=WeightUnit.GRAM).to(WeightUnit.KILOGRAM).value == 0
    assert Length(value=Decimal("0.333"), unit=LengthUnit.METRE).to(LengthUnit.CENTIMETRE).value \
        == Decimal("33.3")


def test_fingerprint_ignores_modified_at_but_not_content() -> None:
    a = article(modified_at=NOW)
    assert a.fingerprint() == article(modified_at=datetime(2020, 1, 1, tzinfo=UTC)).fingerprint()
    assert a.fingerprint() != article(modified_at=NOW, name="Tee").fingerprint()


def test_order_line_keys_must_be_unique_across_product_and_text_lines() -> None:
    with pytest.raises(ValidationError, match="external_line_key repeats within the order: 7"):
        Order(order_number="1", erp_key="1", customer=Customer(name="Oy Ab"),
              lines=(OrderLine(external_line_key="7", article_number="A", quantity=Decimal(1)),),
              text_lines=(OrderTextLine(external_line_key="7", text="Fragile"),))


def test_quantities_and_discounts_are_bounded() -> None:
    with pytest.raises(ValidationError, match="quantity"):
        OrderLine(external_line_key="1", article_number="A", quantity=Decimal(0))
    with pytest.raises(ValidationError, match="discount_percent"):
        OrderLine(external_line_key="1", article_number="A", quantity=Decimal(1),
                  discount_percent=Decimal(150))
    with pytest.raises(ValidationError, match="adjustment of zero"):
        InventoryAdjustment(event_id="e", occurred_at=NOW, article_number="A", quantity=0)
    with pytest.raises(ValidationError, match="total_delivered_quantity is less"):
        DeliveryLine(external_line_key="1", article_number="A", delivered_quantity=Decimal(3),
                     total_delivered_quantity=Decimal(2))


def test_events_are_keyed_by_event_id_and_show_their_business_key() -> None:
    delivery = Delivery(event_id="o-1:3", occurred_at=NOW, order_number="1001", status="sent",
                        lines=(DeliveryLine(external_line_key="1", article_number="A",
                                            delivered_quantity=Decimal(3),
                                            total_delivered_quantity=Decimal(3)),))
    assert delivery.key() == "o-1:3"
    assert delivery.business_key() == "1001"


def test_stock_fingerprint_follows_the_quantity_only() -> None:
    one = StockBalance(article_number="A", quantity=Decimal("5.0"), as_of=NOW)
    assert one.fingerprint() == StockBalance(article_number="A", quantity=Decimal("5"),
                                             as_of=datetime(2027, 1, 1, tzinfo=UTC)).fingerprint()
    assert one.fingerprint() != StockBalance(article_number="A", quantity=Decimal("4"),
                                             as_of=NOW).fingerprint()


def test_records_are_immutable() -> None:
    with pytest.raises(ValidationError):
        article().name = "x"  # type: ignore[misc]

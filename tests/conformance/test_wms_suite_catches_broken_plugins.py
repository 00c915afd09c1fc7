"""The WMS conformance suite is tested too: each broken WMS plugin fails the right test.

Every broken plugin is the Ongoing WMS plugin with one bug, installed under its own
entry-point name, and checked in a pytester session as its author would.
"""

from __future__ import annotations

import erpsync_ongoing_wms.plugin
import erpsync_ongoing_wms.sandbox
import pytest

import erpsync.conformance.wms
import erpsync.plugins
from tests.conftest import MakeDist

# Imported here, once: pytester's in-process runs forget modules first imported inside them,
# and a second copy of erpsync's classes would not be the first copy's.
_KEEP = (erpsync_ongoing_wms.plugin, erpsync_ongoing_wms.sandbox, erpsync.conformance.wms,
         erpsync.plugins)

BASE = """
from erpsync.hookspecs import PluginInfo, hookimpl
from erpsync_ongoing_wms import plugin as good
from erpsync_ongoing_wms.plugin import (
    OngoingSettings, check_connection, fetch_deliveries, fetch_inventory_adjustments,
    fetch_receipts, fetch_stock_balances, mark_reported, upsert_article, upsert_order,
    upsert_purchase_order,
)

@hookimpl
def describe():
    return PluginInfo(name=NAME, version="0.0.1", role="wms", settings_model=OngoingSettings)
"""

BUGS = {
    "none": "",
    "unstable_event_ids": """
import itertools
_n = itertools.count()

@hookimpl
async def fetch_deliveries(ctx, settings, since):
    async for delivery in good.fetch_deliveries(ctx, settings, since):
        yield delivery.model_copy(update={"event_id": f"{delivery.event_id}-{next(_n)}"})
""",
    "forgets_to_mark": """
@hookimpl
async def mark_reported(ctx, settings, flow, event):
    return None
""",
    "ignores_warehouse_status": """
from erpsync.hookspecs import WriteResult

@hookimpl
async def upsert_order(ctx, settings, order):
    result = await good.upsert_order(ctx, settings, order)
    return WriteResult(outcome="written") if result.outcome == "skipped" else result
""",
    "loses_the_last_page": """
@hookimpl
async def fetch_stock_balances(ctx, settings):
    n = 0
    async for balance in good.fetch_stock_balances(ctx, settings):
        if n < settings.page_size:
            yield balance
        n += 1
""",
}

TEST_MODULE = """
from erpsync.conformance import WmsConformance
from erpsync_ongoing_wms.sandbox import OngoingSandbox

class TestBroken(WmsConformance):
    plugin_name = {name!r}

    def make_sandbox(self):
        return OngoingSandbox()
"""


@pytest.fixture
def run_suite(make_dist: MakeDist, pytester: pytest.Pytester):  # type: ignore[no-untyped-def]
    def run(bug: str) -> tuple[pytest.RunResult, set[str]]:
        name = f"broken_wms_{bug}"
        make_dist(f"broken-wms-{bug}", {name: BASE.replace("NAME", repr(name)) + BUGS[bug]},
                  {name: name})
        pytester.makepyfile(**{f"test_{name}": TEST_MODULE.format(name=name)})
        result = pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", "-q", "-o", "asyncio_default_fixture_loop_scope=function"
        )
        reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        return result, {r.nodeid.rsplit("::", 1)[-1] for r in reports if r.failed}

    return run


@pytest.mark.parametrize(
    ("bug", "failing_test", "message"),
    [
        ("unstable_event_ids", "test_a_partial_then_full_delivery_is_two_events__deliveries",
         "same event_id until marked"),
        ("forgets_to_mark", "test_a_partial_then_full_delivery_is_two_events__deliveries",
         "a delivery marked reported was returned again"),
        ("ignores_warehouse_status", "test_a_record_the_warehouse_started_on_is_skipped__orders",
         "read its status first"),
        ("loses_the_last_page", "test_every_balance_once_across_pages__stock",
         "page until the vendor's last page"),
    ],
)
def test_the_wms_suite_fails_a_broken_plugin_where_it_is_broken(
    run_suite,  # type: ignore[no-untyped-def]
    bug: str, failing_test: str, message: str,
) -> None:
    result, failed = run_suite(bug)
    assert failing_test in failed, f"{bug}: expected {failing_test} to fail; failed: {failed}"
    assert message in result.stdout.str()
    assert result.parseoutcomes().get("skipped", 0) == 0


def test_the_same_plugin_without_a_bug_passes_everything(run_suite) -> None:  # type: ignore[no-untyped-def]
    result, failed = run_suite("none")
    assert failed == set()
    assert result.parseoutcomes()["passed"] >= 13

"""The conformance suite itself is tested: each deliberately broken plugin fails the right test.

Every broken plugin is the well-behaved fake ERP with one bug, installed under its own
entry-point name; the suite runs on it in a pytester session exactly as a plugin author would
run it, and must fail the check that names the bug, with a message that says what to fix.
"""

from __future__ import annotations

import erpsync_fake_erp.plugin
import erpsync_fake_erp.sandbox
import pytest

import erpsync.conformance.suite
import erpsync.plugins
from tests.conftest import MakeDist

# Imported here, once: pytester's in-process runs forget modules first imported inside them,
# and a second copy of erpsync's classes would not be the first copy's.
_KEEP = (erpsync_fake_erp.plugin, erpsync_fake_erp.sandbox, erpsync.conformance.suite,
         erpsync.plugins)

BASE = """
from erpsync.hookspecs import PluginInfo, hookimpl
from erpsync_fake_erp.plugin import (
    FakeErpSettings, check_connection, fetch_articles, fetch_orders, fetch_purchase_orders,
    fetch_suppliers, lookup_report, push_inventory_adjustment, push_stock, report_delivery,
    report_receipt,
)
from erpsync_fake_erp import plugin as good

@hookimpl
def describe():
    return PluginInfo(name=NAME, version="0.0.1", role="erp", settings_model=FakeErpSettings)
"""

BUGS = {
    "none": "",
    "duplicate_keys": """
@hookimpl
async def fetch_articles(ctx, settings, since):
    first = None
    async for article in good.fetch_articles(ctx, settings, since):
        first = first or article
        yield article
    if first is not None:
        yield first
""",
    "lost_at_page_break": """
@hookimpl
async def fetch_articles(ctx, settings, since):
    n = 0
    async for article in good.fetch_articles(ctx, settings, since):
        if n == 0 or n % settings.page_size:
            yield article
        n += 1
""",
    "switches_a_flow_off": """
@hookimpl
def enabled_flows(settings):
    return {f for f in good.enabled_flows(settings) if f.value != "suppliers"}
""",
    "double_report": """
@hookimpl
async def lookup_report(ctx, settings, flow, event):
    return None
""",
    "leaked_secret": """
@hookimpl
async def check_connection(ctx, settings):
    ctx.log.debug("connecting with key %s", settings.api_key.get_secret_value())
    await good.check_connection(ctx, settings)
""",
    "ignores_since": """
@hookimpl
async def fetch_articles(ctx, settings, since):
    async for article in good.fetch_articles(ctx, settings, None):
        yield article
""",
    "swallows_auth_errors": """
from erpsync.errors import AuthenticationLost, TransientError

@hookimpl
async def check_connection(ctx, settings):
    try:
        await good.check_connection(ctx, settings)
    except AuthenticationLost as error:
        raise TransientError(error.message) from None
""",
}

TEST_MODULE = """
from erpsync.conformance import ErpConformance
from erpsync_fake_erp.sandbox import ConformanceSandbox

class TestBroken(ErpConformance):
    plugin_name = {name!r}

    def make_sandbox(self):
        return ConformanceSandbox()
"""


@pytest.fixture
def run_suite(make_dist: MakeDist, pytester: pytest.Pytester):  # type: ignore[no-untyped-def]
    def run(bug: str) -> tuple[pytest.RunResult, set[str]]:
        name = f"broken_{bug}"
        code = BASE.replace("NAME", repr(name)) + BUGS[bug]
        make_dist(f"broken-{bug}", {name: code}, {name: name})
        pytester.makepyfile(**{f"test_{name}": TEST_MODULE.format(name=name)})
        result = pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", "-q", "-o", "asyncio_default_fixture_loop_scope=function"
        )
        failed = {r.nodeid.rsplit("::", 1)[-1] for r in result.reprec.getreports(  # type: ignore[attr-defined]
            "pytest_runtest_logreport") if r.failed}
        return result, failed

    return run


@pytest.mark.parametrize(
    ("bug", "failing_test", "message"),
    [
        ("duplicate_keys", "test_full_read_delivers_every_record_once__articles",
         "yielded 1 key(s) more than once"),
        ("lost_at_page_break", "test_full_read_delivers_every_record_once__articles",
         "were not delivered"),
        ("double_report", "test_a_report_reaches_the_erp_once_even_after_a_crash__deliveries",
         "lookup_report must find the earlier report"),
        ("leaked_secret", "test_no_secret_leaks", "a secret of the settings appeared in"),
        ("ignores_since", "test_since_narrows_the_read__articles",
         "pass 'since' to the vendor's change filter"),
        ("swallows_auth_errors", "test_refused_credentials_raise_authentication_lost",
         "refused credentials gave TransientError"),
        ("switches_a_flow_off", "test_the_settings_switch_on_the_flows_checked",
         "a flow switched off would pass unchecked"),
    ],
)
def test_the_suite_fails_a_broken_plugin_where_it_is_broken(
    run_suite,  # type: ignore[no-untyped-def]
    bug: str, failing_test: str, message: str,
) -> None:
    result, failed = run_suite(bug)
    assert failing_test in failed, f"{bug}: expected {failing_test} to fail; failed: {failed}"
    assert message in result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) == 0
    assert outcomes.get("passed", 0) > 20, "the rest of the suite still runs and passes"


def test_the_same_plugin_without_a_bug_passes_everything(run_suite) -> None:  # type: ignore[no-untyped-def]
    result, failed = run_suite("none")
    assert failed == set()
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 34
    assert outcomes.get("skipped", 0) == 0

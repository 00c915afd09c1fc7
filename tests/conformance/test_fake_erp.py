"""The reference ERP plugin passes the conformance suite (as a plugin author would run it)."""

from __future__ import annotations

from erpsync_fake_erp.sandbox import ConformanceSandbox

from erpsync.conformance import ErpConformance


class TestFakeErp(ErpConformance):
    plugin_name = "fake_erp"

    def make_sandbox(self) -> ConformanceSandbox:
        return ConformanceSandbox()

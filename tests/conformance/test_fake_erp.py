"""The reference ERP plugin passes the conformance suite (as a plugin author would run it)."""

from __future__ import annotations

from typing import Any

import pytest
from erpsync_fake_erp.sandbox import ConformanceSandbox

from erpsync.conformance import ErpConformance
from erpsync.models import Flow


class TestFakeErp(ErpConformance):
    plugin_name = "fake_erp"

    def make_sandbox(self) -> ConformanceSandbox:
        return ConformanceSandbox()


class _NoSuppliersSandbox(ConformanceSandbox):
    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "suppliers": False}


class TestFakeErpWithoutSuppliers(ErpConformance):
    """A mode whose settings switch a flow off is checked on exactly the flows it runs."""

    plugin_name = "fake_erp"
    flows = frozenset(Flow) - {Flow.SUPPLIERS}

    def make_sandbox(self) -> ConformanceSandbox:
        return _NoSuppliersSandbox()


def test_a_mode_generates_tests_only_for_its_flows() -> None:
    names = set(dir(TestFakeErpWithoutSuppliers))
    assert "test_full_read_delivers_every_record_once__articles" in names
    assert "test_full_read_delivers_every_record_once__suppliers" in dir(TestFakeErp)
    assert not any(name.endswith("__suppliers") for name in names)


def test_a_mode_may_not_name_a_flow_the_plugin_does_not_offer() -> None:
    with pytest.raises(TypeError, match="names suppliers, which plugin 'ongoing_wms' does not"):
        type("TestWrong", (ErpConformance,), {"plugin_name": "ongoing_wms",
                                              "flows": {Flow.ARTICLES, Flow.SUPPLIERS}})

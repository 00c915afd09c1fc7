"""The PowerOffice Go plugin passes the ERP conformance suite against its own simulator."""

from __future__ import annotations

from erpsync.conformance import ErpConformance


class TestPowerOffice(ErpConformance):
    plugin_name = "poweroffice"

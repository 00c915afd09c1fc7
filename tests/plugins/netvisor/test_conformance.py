"""The Netvisor plugin passes the ERP conformance suite against its simulator.

The simulator serves ``warehousereport.nv?report=warehouseevents`` here: no documented Netvisor
resource reads warehouse events back, and the plugin's ``lookup_report`` for adjustments relies
on that reading (see erpsync_netvisor.client). Without it the lookup raises instead of
answering "absent", so an adjustment is never sent twice either way.
"""

from __future__ import annotations

from erpsync_netvisor.sandbox import NetvisorSandbox

from erpsync.conformance import ErpConformance


class TestNetvisor(ErpConformance):
    plugin_name = "netvisor"

    def make_sandbox(self) -> NetvisorSandbox:
        return NetvisorSandbox(warehouse_event_report=True)

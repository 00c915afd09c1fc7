"""The Ongoing WMS plugin passes the WMS conformance suite against its simulator."""

from __future__ import annotations

from erpsync_ongoing_wms.sandbox import OngoingSandbox

from erpsync.conformance import WmsConformance


class TestOngoingWms(WmsConformance):
    plugin_name = "ongoing_wms"

    def make_sandbox(self) -> OngoingSandbox:
        return OngoingSandbox()

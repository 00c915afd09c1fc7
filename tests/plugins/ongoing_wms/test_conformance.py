"""The Ongoing WMS plugin passes the WMS conformance suite against its own simulator (the one
its sandbox hook returns: nothing but the plugin's name is needed)."""

from __future__ import annotations

from erpsync.conformance import WmsConformance


class TestOngoingWms(WmsConformance):
    plugin_name = "ongoing_wms"

"""erpsync's WMS plugin for Ongoing WMS, through the Goods Owner REST API v1.

The plugin (:mod:`erpsync_ongoing_wms.plugin`) is found through the ``erpsync`` entry point
``ongoing_wms``; :mod:`~erpsync_ongoing_wms.client` speaks the API and
:mod:`~erpsync_ongoing_wms.mapping` turns canonical records into request bodies and the
warehouse's answers into canonical events. The simulator of the API lives in
``erpsync_ongoing_wms.sandbox`` (extra ``sandbox``); the plugin itself never imports it.

API reference: https://developer.ongoingwarehouse.com/REST/v1/index.html and the vendor's
example requests, https://github.com/OngoingWarehouse/Ongoing-Warehouse-REST-API-Example-Requests
"""

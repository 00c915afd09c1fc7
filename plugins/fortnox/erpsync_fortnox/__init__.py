"""The Fortnox plugin of erpsync: Fortnox's REST API (``/3/...``) and warehouse module
(``/api/warehouse/...``), authorised with OAuth 2.0 (seed 002).

The plugin (:mod:`erpsync_fortnox.plugin`) is found through the ``erpsync`` entry point
``fortnox``; :mod:`erpsync_fortnox.client` speaks the API (tokens through :mod:`erpsync.oauth`,
pacing, paging, ErrorInformation) and :mod:`erpsync_fortnox.mapping` maps its JSON to canonical
records and back. The simulator, :mod:`erpsync_fortnox.sandbox`, is imported only from the
plugin's ``sandbox`` hook (it needs the ``sandbox`` extra).
"""

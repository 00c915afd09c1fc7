"""The PowerOffice Go plugin of erpsync: PowerOffice Go's API v2 (seed 001).

The plugin (:mod:`erpsync_poweroffice.plugin`) is found through the ``erpsync`` entry point
``poweroffice``; :mod:`erpsync_poweroffice.client` speaks the API (client-credentials tokens,
the subscription key, paging, ProblemDetails errors) and :mod:`erpsync_poweroffice.mapping`
maps its JSON to canonical records and back. The simulator, :mod:`erpsync_poweroffice.sandbox`,
is imported only from the plugin's ``sandbox`` hook (it needs the ``sandbox`` extra), so that
loading the plugin does not need starlette.
"""

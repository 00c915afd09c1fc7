"""The Netvisor plugin of erpsync: Visma Netvisor's XML API (seed 000).

The plugin (:mod:`erpsync_netvisor.plugin`) is found through the ``erpsync`` entry point
``netvisor``; :mod:`erpsync_netvisor.client` speaks the API (MAC authentication, envelope,
resources) and :mod:`erpsync_netvisor.mapping` maps its XML to canonical records and back.
The simulator, :mod:`erpsync_netvisor.sandbox`, is imported from there (it needs the
``sandbox`` extra), so that loading the plugin does not need starlette.
"""

"""The Fake ERP: a reference ERP plugin and the JSON API simulator it talks to (tests only).

The plugin (:mod:`erpsync_fake_erp.plugin`) is found through the ``erpsync`` entry point
``fake_erp``; :class:`erpsync_fake_erp.sandbox.FakeErp` is the simulator and its control
surface (imported from there, so that loading the plugin does not need starlette).
"""

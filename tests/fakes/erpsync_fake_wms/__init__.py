"""The Fake WMS: a reference WMS plugin and the in-memory warehouse it talks to (tests only).

The plugin (:mod:`erpsync_fake_wms.plugin`) is found through the ``erpsync`` entry point
``fake_wms``; :class:`erpsync_fake_wms.sandbox.FakeWarehouse` is the warehouse and its control
surface.
"""

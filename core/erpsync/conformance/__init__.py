"""The plugin conformance suite (see :mod:`erpsync.conformance.suite`)."""

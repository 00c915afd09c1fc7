"""erpsync: keeps an ERP and a warehouse management system in step, for many goods owners.

The public surface for plugin authors lives in :mod:`erpsync.hookspecs` (the contract),
:mod:`erpsync.models` (the canonical records), :mod:`erpsync.errors`, :mod:`erpsync.http` and
:mod:`erpsync.secrets`.
"""

__version__ = "0.1.0"

"""The flows on Temporal, past one host: ``engine = "temporal"``, ``erpsync[temporal]``.

- :mod:`~erpsync.temporal.workflow`: one cycle of one goods owner, a thin deterministic
  workflow; each flow is an activity;
- :mod:`~erpsync.temporal.activities`: the activities, which call the embedded runner's own
  ``run_owner`` (the lock, the ledger, the cursors, the run records: all as at home);
- :mod:`~erpsync.temporal.schedules`: one Schedule per goods owner, reconciled with the
  config; pause, resume, run now and status through Schedule operations;
- :mod:`~erpsync.temporal.worker`: ``erpsync worker``, as many as you like on as many hosts.

Nothing of the embedded default imports this package, and this file imports nothing: Temporal's
sandbox imports it again with every workflow run.
"""

"""Where a prepared run executes, and what molexp learns back about it.

Owns the scheduler interface that backends implement (``interface``: ``Scheduler``,
``Submission``, ``JobState``, ``SubmissionFailed``) and reconciliation of recorded
runs with their scheduler's view (``reconcile``).  The backends themselves (local,
Slurm) are plugins in ``molexp_plugins``.  It may import runs, config, the plugin
host and ``molexp_core.errors``; never the CLI.
"""

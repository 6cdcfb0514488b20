"""Run directories and what happens inside them.

Owns the run store (``store``: ``run.json``, atomic writes, locks, run ids), the
per-profile run index (``index``), the run log (``log``), preparing new and resumed
runs (``prepare``, producing a ``prepared.PreparedRun``), the executor that runs a
run's tasks and records each outcome (``executor``) and the workflow API scripts use
(``workflow``: ``Task``, ``TaskContext``, ``Workflow``, script loading).  It may
import config, the plugin host and ``molexp_core.errors``; never scheduling or the CLI.
"""

"""Refreshing runs from their schedulers for a command, and saying when one is silent.

Every command that shows a queued run's state (``runs``, ``status``, ``sweeps``,
``--wait``, ``cancel``) refreshes through :func:`refresh`: one call per
scheduler (``scheduling.reconcile``), and one line on stderr when a scheduler did
not answer, since the states shown are then what ``run.json`` said, possibly stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import click

_warned: Set[Tuple[str, str]] = set()  # once per process and message (--watch, --wait)


def refresh(pairs: List[Tuple[Path, Dict[str, Any]]],
            schedulers: Optional[Dict[str, Any]] = None) -> Any:
    """Reconcile ``pairs`` (changed in place); warn about schedulers that did not
    answer.  Returns the ``Refresh`` (None when no run needed a scheduler)."""
    from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

    if not any(needs_scheduler(record) for _, record in pairs):
        return None
    if schedulers is None:
        from molexp_core.plugin_host.manager import get_plugin_host

        schedulers = get_plugin_host().schedulers()
    result = reconcile(pairs, schedulers)
    warn_unanswered(result)
    return result


def warn_unanswered(result: Any) -> None:
    for name, why in sorted(result.unanswered.items()):
        if (name, why) in _warned:
            continue
        _warned.add((name, why))
        click.echo(f"warning: scheduler {name} did not answer ({why}); the states shown "
                   "are what the runs last recorded and may be stale", err=True)

"""Which stored results a new attempt reuses: ``--resume``, and sweeps' reuse of points.

A task's result is reused when it succeeded earlier, its fingerprint
(``runs/fingerprint.py``) is unchanged and seeable, and no earlier task of this
attempt ran; once one task runs, every later one runs too (it may read the results
that changed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.runs.fingerprint import Fingerprint, task_fingerprint


class ReusePlan:
    """Decides, task by task in order, whether a stored result is reused."""

    def __init__(self, stored: Dict[str, Any]) -> None:
        self.stored = stored
        self.first_run: Optional[str] = None  # the first task this attempt runs

    def decide(self, name: str, fingerprint: Fingerprint) -> Tuple[bool, str]:
        """``(reuse, why)``; ``why`` is empty for a task that simply has not run yet."""
        previous = self.stored.get(name) or {}
        status = previous.get("status")
        if status in ("failed", "cancelled", "running"):
            return False, f"it was {'interrupted' if status == 'running' else status} before"
        if status != "succeeded":
            return False, "it has not run yet"
        if self.first_run is not None:
            return False, f"an earlier task ran again ({self.first_run})"
        if fingerprint.digest is None:
            return False, f"not reusable: {fingerprint.unseen}"
        recorded = previous.get("fingerprint")
        if recorded is None:
            if previous.get("fingerprint_unseen"):
                return False, f"its result was not fingerprinted ({previous['fingerprint_unseen']})"
            return False, "its result carries no code fingerprint"
        if recorded != fingerprint.digest:
            return False, "its code changed"
        return True, "code unchanged"

    def ran(self, name: str) -> None:
        if self.first_run is None:
            self.first_run = name


def results_reusable(record: Dict[str, Any], workflow: Any = None,
                     script_sha256: Optional[str] = None,
                     run_dir: Optional[Path] = None) -> Tuple[bool, str]:
    """Would every recorded result of this run be reused under the current code?

    ``(reusable, reason)``, the reason one line (``task Train: its code changed``).
    ``workflow``: the current script as ``load_script`` returned it; each task must be
    reused by the rule of ``--resume`` (:class:`ReusePlan`).  Without it,
    ``script_sha256``: every task's result must come from exactly these bytes (for a
    caller that only compiled the script: stricter, never stale).  Neither: False.
    ``run_dir``: each stored result must also still load.  Status and config are the
    caller's to check.
    """
    tasks = record.get("tasks") or {}
    if workflow is not None:
        named = workflow.named_tasks()
        names = [name for name, _ in named]
        gone = [name for name in tasks if name not in names]
        if gone:
            return False, f"task {gone[0]} is no longer in the script"
        plan = ReusePlan(tasks)
        for name, task in named:
            reuse, why = plan.decide(name, task_fingerprint(task, workflow))
            if not reuse:
                return False, f"task {name}: {why}"
            if run_dir is not None and not _loads(run_dir, name, tasks[name]):
                return False, f"task {name}: its stored result is missing or damaged"
        return True, "code unchanged"
    if script_sha256:
        if not tasks:
            return False, "it has no task results"
        for name, task in tasks.items():
            if (task or {}).get("status") != "succeeded":
                return False, f"task {name} has not succeeded"
            came = (task or {}).get("script_sha256")
            if came != script_sha256:
                return False, (f"task {name}: its result came from other code (sha256 "
                               f"{str(came)[:12]}, the script is {script_sha256[:12]} now)")
            if run_dir is not None and not _loads(run_dir, name, task):
                return False, f"task {name}: its stored result is missing or damaged"
        return True, "every result came from this script"
    return False, "the current code is unknown"


def _loads(run_dir: Path, name: str, task: Dict[str, Any]) -> bool:
    from molexp_core.runs.result_files import ResultUnavailable, load_result

    try:
        load_result(Path(run_dir), name, task)
    except ResultUnavailable:
        return False
    return True


def drop_vanished(run_dir: Any, record: Dict[str, Any], stored: Dict[str, Any],
                  names: List[str], log: Any) -> Optional[Dict[str, Any]]:
    """Tasks the script no longer has leave ``tasks``; their records move to this
    attempt's ``history`` entry (``dropped_tasks``).  Returns the new record, or
    None when nothing was dropped.  ``stored`` loses them too."""
    from molexp_core.runs import store as runstore

    gone = [name for name in stored if name not in names]
    if not gone:
        return None
    for name in gone:
        log.notice(f"task {name} no longer exists; its record moves to history")
        stored.pop(name, None)

    def mark(rec: Dict[str, Any]) -> None:
        tasks = rec.get("tasks") or {}
        dropped = {name: tasks.pop(name) for name in gone if name in tasks}
        if rec.get("history"):
            rec["history"][-1]["dropped_tasks"] = dropped

    return runstore.update_run(run_dir, mark, durable=False)

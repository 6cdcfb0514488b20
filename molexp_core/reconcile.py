"""Bring runs that wait on a scheduler up to date: one ``states`` call per scheduler.

Only runs whose ``run.json`` is not final are asked about; what a job recorded
itself (succeeded, failed, cancelled) always wins over the scheduler's word.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

from molexp_core import runstore
from molexp_core.errors import MolexpError

FINAL = ("succeeded", "failed", "cancelled")


def reconcile(runs: List[Tuple[Path, Dict[str, Any]]], schedulers: Dict[str, Any]) -> int:
    """Update ``runs`` (pairs of run dir and record, changed in place); return calls made."""
    waiting: Dict[str, List[Tuple[Path, Dict[str, Any]]]] = defaultdict(list)
    for run_dir, record in runs:
        info = record.get("scheduler") or {}
        if record.get("status") in ("submitted", "running") and info.get("job_id"):
            if info.get("name") in schedulers and info.get("name") != "local":
                waiting[info["name"]].append((run_dir, record))
    calls = 0
    for name, items in waiting.items():
        scheduler = schedulers[name]
        job_ids = sorted({str(rec["scheduler"]["job_id"]) for _, rec in items})
        try:
            states = scheduler.states(job_ids)
        except MolexpError:
            continue  # scheduler unreachable: show what run.json says
        calls += 1
        for run_dir, record in items:
            state = states.get(str(record["scheduler"]["job_id"]))
            if state is not None:
                _apply(run_dir, record, state)
    return calls


def _apply(run_dir: Path, record: Dict[str, Any], state: Any) -> None:
    status = state.status
    if status == "running" and record.get("status") == "submitted":
        record["status"] = "running"  # shown; the job records its own start
        return
    if status not in FINAL:
        return

    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") in FINAL:
            return  # the run recorded its own outcome meanwhile
        final = status
        if final == "succeeded" and any(
            t.get("status") != "succeeded" for t in rec.get("tasks", {}).values()
        ):
            final = "failed"  # the job ended without the run recording success
        rec["status"] = final
        rec["finished_at"] = rec.get("finished_at") or runstore.now_iso()
        info = rec.setdefault("scheduler", {})
        info["state"] = state.native
        if state.reason:
            info["reason"] = state.reason
        if final != "succeeded" and not rec.get("error"):
            rec["error"] = f"{info.get('name', 'scheduler')} job {info.get('job_id')} " \
                           f"ended {state.native}" + (f" ({state.reason})" if state.reason else "")
        for task in rec.get("tasks", {}).values():
            if task.get("status") == "running":
                task["status"] = final

    try:
        fresh = runstore.update_run(run_dir, mark)
    except MolexpError:
        return
    record.clear()
    record.update(fresh)

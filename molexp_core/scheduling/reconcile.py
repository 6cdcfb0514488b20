"""Bring runs that wait on a scheduler up to date: one ``states`` call per scheduler.

Only runs whose ``run.json`` is not final are asked about; what a job recorded
itself (succeeded, failed, cancelled) always wins over the scheduler's word.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

from molexp_core.runs import store as runstore
from molexp_core.errors import MolexpError

FINAL = ("succeeded", "failed", "cancelled")
TERMINATED = "terminated (SIGTERM)"
REQUEUE_WINDOW = 3600.0  # seconds after a SIGTERM in which a requeue is looked for


def needs_scheduler(record: Dict[str, Any]) -> bool:
    """Whether a refresh should ask the run's scheduler about it."""
    info = record.get("scheduler") or {}
    if not info.get("job_id") or info.get("name") in (None, "local"):
        return False
    return record.get("status") in ("submitted", "running") or _maybe_requeued(record)


def _maybe_requeued(record: Dict[str, Any]) -> bool:
    """Cancelled by a SIGTERM a short while ago: Slurm may have requeued the job
    (preemption, `scontrol requeue`), in which case it will run again."""
    if record.get("status") != "cancelled" or record.get("error") != TERMINATED:
        return False
    finished = record.get("finished_at")
    if not finished:
        return False
    from datetime import datetime

    try:
        when = datetime.fromisoformat(finished.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    import time

    return time.time() - when < REQUEUE_WINDOW


def reconcile(runs: List[Tuple[Path, Dict[str, Any]]], schedulers: Dict[str, Any]) -> int:
    """Update ``runs`` (pairs of run dir and record, changed in place); return calls made."""
    waiting: Dict[str, List[Tuple[Path, Dict[str, Any]]]] = defaultdict(list)
    for run_dir, record in runs:
        info = record.get("scheduler") or {}
        if needs_scheduler(record):
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
    if status == "unknown":
        if record.get("status") in ("submitted", "running"):
            # shown as `lost`, never written: the job may belong to another cluster
            record.setdefault("scheduler", {})["state"] = runstore.LOST_STATE
        return
    if record.get("status") == "cancelled":
        if status == "submitted":  # pending again: requeued (preemption, scontrol)
            _requeued(run_dir, record, state)
        elif status in ("failed", "cancelled") and record.get("error") == TERMINATED:
            _ended_after_sigterm(run_dir, record, state)
        return
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
            rec["error"] = _ended_text(info, state)
        for task in rec.get("tasks", {}).values():
            if task.get("status") == "running":
                task["status"] = final

    _update(run_dir, record, mark)


def _ended_after_sigterm(run_dir: Path, record: Dict[str, Any], state: Any) -> None:
    """The job recorded only that a SIGTERM arrived; the scheduler says why
    (TIMEOUT is a failure, CANCELLED or PREEMPTED a cancellation)."""
    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") != "cancelled" or rec.get("error") != TERMINATED:
            return
        info = rec.setdefault("scheduler", {})
        info["state"] = state.native
        if state.reason:
            info["reason"] = state.reason
        rec["status"] = state.status
        rec["error"] = _ended_text(info, state)
        for task in rec.get("tasks", {}).values():
            if task.get("status") == "cancelled" and state.status == "failed":
                task["status"] = "failed"

    _update(run_dir, record, mark)


def _ended_text(info: Dict[str, Any], state: Any) -> str:
    return (f"{info.get('name', 'scheduler')} job {info.get('job_id')} ended "
            f"{state.native}" + (f" ({state.reason})" if state.reason else ""))


def _requeued(run_dir: Path, record: Dict[str, Any], state: Any) -> None:
    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") != "cancelled":
            return  # the job already started again and recorded it
        rec["status"] = "submitted"
        rec["error"] = None
        rec["finished_at"] = None
        info = rec.setdefault("scheduler", {})
        info["state"] = state.native
        info["requeued"] = int(info.get("requeued") or 0) + 1

    _update(run_dir, record, mark)


def _update(run_dir: Path, record: Dict[str, Any], mark: Any) -> None:
    try:
        fresh = runstore.update_run(run_dir, mark)
    except MolexpError:
        return
    record.clear()
    record.update(fresh)

"""Bring runs that wait on a scheduler up to date: one ``states`` call per scheduler.

Only runs whose ``run.json`` is not final are asked about; what a job recorded
itself (succeeded, failed, cancelled) always wins over the scheduler's word, and
the scheduler's word is believed only about the job the run submitted: a job
whose name, submission token or submit time differ from what was recorded (a
controller restarted from an older state, job id wrap-around, another cluster's
job in a shared runs root) is not the run's, and the run is shown ``lost`` with
the reason.  A run is never written ``succeeded`` unless its tasks recorded it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from molexp_core.errors import MolexpError
from molexp_core.runs import processes
from molexp_core.runs import store as runstore
from molexp_core.runs.records import RunBusy
from molexp_core.scheduling import submissions
from molexp_core.scheduling.interface import identity_mismatch
from molexp_core.scheduling.submissions import write_back

FINAL = ("succeeded", "failed", "cancelled")
TERMINATED = "terminated (SIGTERM)"
REQUEUE_WINDOW = 3600.0  # seconds after a SIGTERM in which a requeue is looked for
SEEN = runstore.SEEN  # scheduler.seen, in memory only: the scheduler's status of the job


class Refresh:
    """What one refresh did: ``calls`` made, and the schedulers that did not
    answer (name -> why): their runs show what run.json says, possibly stale."""

    def __init__(self) -> None:
        self.calls = 0
        self.unanswered: Dict[str, str] = {}


def needs_scheduler(record: Dict[str, Any]) -> bool:
    """Whether a refresh should ask the run's scheduler about it."""
    info = record.get("scheduler") or {}
    if info.get("name") in (None, "local"):
        return False
    if submissions.unresolved(record):
        return True
    if not info.get("job_id"):
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


def reconcile(runs: List[Tuple[Path, Dict[str, Any]]], schedulers: Dict[str, Any]) -> Refresh:
    """Update ``runs`` (pairs of run dir and record, changed in place)."""
    waiting: Dict[str, List[Tuple[Path, Dict[str, Any]]]] = defaultdict(list)
    for run_dir, record in runs:
        name = (record.get("scheduler") or {}).get("name")
        if needs_scheduler(record) and name in schedulers and name != "local":
            waiting[name].append((run_dir, record))
    refresh = Refresh()
    for name, items in waiting.items():
        scheduler = schedulers[name]
        lost = [(d, r) for d, r in items if submissions.unresolved(r)]
        known = [(d, r) for d, r in items if not submissions.unresolved(r)]
        try:
            found = scheduler.lookup(sorted({submissions.name_of(r) for _, r in lost})) \
                if lost else {}
            refresh.calls += bool(lost)
            job_ids = sorted({str(rec["scheduler"]["job_id"]) for _, rec in known})
            states = scheduler.states(job_ids) if job_ids else {}
            refresh.calls += bool(job_ids)
        except MolexpError as exc:  # scheduler unreachable: show what run.json says
            refresh.unanswered[name] = exc.format_message()
            continue
        for run_dir, record in lost:
            state = submissions.resolve(run_dir, record,
                                        found.get(submissions.name_of(record)) or [])
            if state is not None:
                _apply(run_dir, record, state, name)
        for run_dir, record in known:
            state = states.get(str(record["scheduler"]["job_id"]))
            if state is not None:
                _apply(run_dir, record, state, name)
    return refresh


def _apply(run_dir: Path, record: Dict[str, Any], state: Any, scheduler: str) -> None:
    info = record.setdefault("scheduler", {})
    job = f"{scheduler} job {state.job_id}"
    if state.status == "unknown":
        if record.get("status") in ("submitted", "running"):
            # shown as `lost`, never written: the job may belong to another cluster
            _lost(record, f"{job} is not known to the scheduler any more "
                          "(purged, or another cluster's job)")
        return
    mismatch = identity_mismatch(info.get("identity"), state)
    if mismatch:
        if record.get("status") in ("submitted", "running"):
            _lost(record, f"{job} is not this run's job: {mismatch} (the job id was "
                          "reused: a controller restarted from an older state, job ids "
                          "that wrapped around, or another cluster's job)")
        return
    if _believe(run_dir, record, state, job):
        record.setdefault("scheduler", {})[SEEN] = state.status  # after any write


def _believe(run_dir: Path, record: Dict[str, Any], state: Any, job: str) -> bool:
    """Bring ``record`` up to date with the state of its own job; False when the
    job turns out not to be the run's after all."""
    status = state.status
    if record.get("status") == "cancelled":
        if status == "submitted":  # pending again: requeued (preemption, scontrol)
            _requeued(run_dir, record, state, "cancelled")
        elif status in ("failed", "cancelled") and record.get("error") == TERMINATED:
            _ended_after_sigterm(run_dir, record, state)
        return True
    if status == "submitted" and record.get("status") == "running":
        _requeued(run_dir, record, state, "running")  # killed, then requeued: no SIGTERM
        return True
    if status == "running" and record.get("status") == "submitted":
        record["status"] = "running"  # shown; the job records its own start
        return True
    if status not in FINAL:
        return True
    if status == "succeeded" and not _started_under(run_dir, state.job_id):
        if record.get("status") in ("submitted", "running"):
            _lost(record, f"{job} ended {state.native}, but this run never started "
                          "under it: the job is not this run's (a reused job id)")
        return False

    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") in FINAL:
            return  # the run recorded its own outcome meanwhile
        final = status
        tasks = (rec.get("tasks") or {}).values()
        if final == "succeeded" and (not tasks or any(
                t.get("status") != "succeeded" for t in tasks)):
            final = "failed"  # the job ended without the run recording success
        rec["status"] = final
        rec["finished_at"] = rec.get("finished_at") or runstore.now_iso()
        current = rec.setdefault("scheduler", {})
        current["state"] = state.native
        if state.reason:
            current["reason"] = state.reason
        if final != "succeeded" and not rec.get("error"):
            rec["error"] = _ended_text(current, state)
            if status == "succeeded":
                rec["error"] += " without the run recording the success of every task"
        for task in tasks:
            if task.get("status") == "running":
                task["status"] = final

    write_back(run_dir, record, mark)
    return True


def _lost(record: Dict[str, Any], why: str) -> None:
    """Shown as ``lost`` with ``why``, in memory only (never written)."""
    info = record.setdefault("scheduler", {})
    info["state"] = runstore.LOST_STATE
    info["lost_reason"] = why


def _started_under(run_dir: Path, job_id: str) -> bool:
    """Whether an attempt of the run started under ``job_id`` (its history says so)."""
    try:
        record = runstore.read_run(run_dir)
    except MolexpError:
        return True  # nothing to go on: keep the rules that follow
    history = record.get("history") or []
    if not history:
        return int(record.get("attempts") or 0) > 0
    return any(isinstance(h, dict) and str(h.get("job_id")) == str(job_id) for h in history)


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

    write_back(run_dir, record, mark)


def _ended_text(info: Dict[str, Any], state: Any) -> str:
    return (f"{info.get('name', 'scheduler')} job {info.get('job_id')} ended "
            f"{state.native}" + (f" ({state.reason})" if state.reason else ""))


def _requeued(run_dir: Path, record: Dict[str, Any], state: Any, was: str) -> None:
    """The job is pending again: the scheduler will run it again (a requeue after a
    SIGTERM, recorded ``cancelled``; or after a SIGKILL or a node failure, which
    left the record ``running``)."""
    def mark(rec: Dict[str, Any]) -> None:
        if rec.get("status") != was:
            return  # the job already started again and recorded it
        if was == "running" and rec.get("host") == runstore.hostname() and \
                processes.same_process(rec.get("pid"), rec.get("pid_start")):
            return  # its process still ends (a SIGTERM): it records that itself
        now = runstore.now_iso()
        rec["status"] = "submitted"
        rec["error"] = None
        rec["finished_at"] = None
        info = rec.setdefault("scheduler", {})
        info["state"] = state.native
        attempt = int(rec.get("attempts") or 0)
        if info.get("requeued_attempt") != attempt:  # once per attempt, however seen
            info["requeued"] = int(info.get("requeued") or 0) + 1
            info["requeued_attempt"] = attempt
        for task in (rec.get("tasks") or {}).values():
            if task.get("status") == "running":  # killed with its job
                task.update(status="cancelled", finished_at=now)
        history = rec.get("history") or []
        if history and isinstance(history[-1], dict) and not history[-1].get("finished_at"):
            history[-1].update(status="requeued", finished_at=now)

    write_back(run_dir, record, mark)


def refuse_if_queued(runs: List[Tuple[Path, Dict[str, Any]]],
                     schedulers: Dict[str, Any]) -> None:
    """Before a resume: refuse runs whose job is still queued or running, whose
    submission is not resolved, or whose scheduler does not answer; ONE refresh
    for all of them (a sweep's points included)."""
    refresh = reconcile(runs, schedulers)
    for run_dir, record in runs:
        info = record.get("scheduler") or {}
        run_id = record.get("run_id") or run_dir.name
        if not needs_scheduler(record) and info.get(SEEN) is None:
            continue
        name = info.get("name")
        if name in refresh.unanswered:
            raise RunBusy(f"run {run_id}: scheduler {name} did not answer "
                          f"({refresh.unanswered[name]}), so molexp cannot tell whether "
                          f"its job is still queued; it will not be resumed now")
        if submissions.unresolved(record):
            raise RunBusy(f"run {run_id}: its submission is not resolved yet (no job named "
                          f"{submissions.name_of(record)} found so far); molexp will not "
                          "submit it a second time: wait, or `molexp cancel "
                          f"{run_id}` first")
        if info.get("state") == runstore.LOST_STATE:
            continue
        if info.get(SEEN) in ("submitted", "running") and record.get("status") not in FINAL:
            raise RunBusy(f"run {run_id} is still {_native(record)} as {name} job "
                          f"{info.get('job_id')}; it will not be resumed a second time")


def _native(record: Dict[str, Any]) -> str:
    info = record.get("scheduler") or {}
    return "running" if info.get(SEEN) == "running" else "pending"


def seen_status(record: Dict[str, Any]) -> Optional[str]:
    """The scheduler's status of the run's job at the last refresh (in memory)."""
    return (record.get("scheduler") or {}).get(SEEN)

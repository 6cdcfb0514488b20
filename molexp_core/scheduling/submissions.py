"""Submissions whose answer was lost: looked up by the job's unique name.

A backend that cannot tell whether the scheduler took a job (sbatch timed out
after sending it) reports a ``Submission`` with status ``unknown``; the run is
recorded ``submitted`` with ``scheduler.submission: unknown`` and no job id.
A run whose process died while submitting keeps ``scheduler.submission:
pending``.  Each refresh looks such jobs up by name (``Scheduler.lookup``, one
call for all of them): a job found is recorded as the run's; an unknown
submission with no job by its deadline is recorded as failed.  A job that turns
up even later still executes the run (its submission token is the run's), so
the record then catches up with what happened; a resubmission changes the token,
and the earlier job ends without touching the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import store as runstore
from molexp_core.scheduling.interface import identity_mismatch

UNRESOLVED = ("pending", "unknown")
PENDING_LOOKUP = 3600.0  # seconds a submission whose process died is looked up for


def unresolved(record: Dict[str, Any]) -> bool:
    """A submission that may have reached the scheduler, with no job id recorded."""
    info = record.get("scheduler") or {}
    return (info.get("submission") in UNRESOLVED and not info.get("job_id")
            and bool((info.get("identity") or {}).get("name"))
            and record.get("status") in ("created", "submitted"))


def name_of(record: Dict[str, Any]) -> str:
    return str(((record.get("scheduler") or {}).get("identity") or {}).get("name"))


def resolve(run_dir: Path, record: Dict[str, Any], candidates: List[Any]) -> Optional[Any]:
    """Record the job among ``candidates`` (jobs with the run's name) that is the
    run's, and return its state; or give an unknown submission up as failed once
    its deadline has passed; None when no job is the run's."""
    info = record.get("scheduler") or {}
    identity = info.get("identity") or {}
    ours = [s for s in candidates if identity_mismatch(identity, s) is None]
    if ours:
        state = ours[-1]

        def found(rec: Dict[str, Any]) -> None:
            current = rec.setdefault("scheduler", {})
            if current.get("job_id") or current.get("identity") != identity:
                return  # resolved meanwhile (the job itself, or another refresh)
            current["job_id"] = state.job_id
            current["submission"] = None
            current["submission_note"] = (f"job {state.job_id} found by its name "
                                          f"{identity.get('name')} after "
                                          f"{current.get('submission_error') or 'a lost answer'}")
            pattern = current.pop("log_pattern", None)
            if isinstance(pattern, str) and Path(pattern).parent == Path(run_dir):
                current["log"] = str(Path(run_dir) / Path(pattern).name.replace(
                    "{job_id}", str(state.job_id)))
            if rec.get("status") in ("created", "submitted"):
                rec["status"] = "submitted"
                rec["error"] = None

        write_back(run_dir, record, found)
        return state
    if info.get("submission") == "pending" and _past(identity.get("after"), PENDING_LOOKUP):
        def forget(rec: Dict[str, Any]) -> None:  # its process died before it knew
            current = rec.setdefault("scheduler", {})
            if not current.get("job_id") and current.get("submission") == "pending":
                current["submission"] = None

        write_back(run_dir, record, forget)
    if info.get("submission") == "unknown" and _past(info.get("submission_deadline")):
        def give_up(rec: Dict[str, Any]) -> None:
            current = rec.setdefault("scheduler", {})
            if current.get("job_id") or current.get("submission") != "unknown":
                return
            current["submission"] = None
            rec["status"] = "failed"
            rec["finished_at"] = runstore.now_iso()
            rec["error"] = (f"{current.get('name', 'scheduler')} submission failed: "
                            f"{current.get('submission_error') or 'no answer'}; no job "
                            f"named {identity.get('name')} appeared by "
                            f"{current.get('submission_deadline')}")

        write_back(run_dir, record, give_up)
    return None


def _past(deadline: Any, plus: float = 0.0) -> bool:
    if not deadline:
        return False
    import time
    from datetime import datetime

    try:
        when = datetime.fromisoformat(str(deadline).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return time.time() > when + plus


def unknown_text(scheduler: str, message: str, name: str) -> str:
    """The ``error`` of a run whose submission is unknown (until it is resolved)."""
    return (f"submission unknown: {message}; the {scheduler} job may be queued: molexp "
            f"looks it up by its name {name} at each refresh")


def write_back(run_dir: Path, record: Dict[str, Any], mark: Any) -> None:
    """``update_run(run_dir, mark)``, then ``record`` (shown by the caller) is the
    record as written; a run that cannot be written keeps what it showed."""
    try:
        fresh = runstore.update_run(run_dir, mark)
    except MolexpError:
        return
    record.clear()
    record.update(fresh)

"""Which scheduler job may execute a run: ``molexp execute --job-id ID --submission TOKEN``.

A batch script tells ``molexp execute`` its own job id and the token of the
submission it belongs to (recorded in ``run.json`` as ``scheduler.identity.token``
before the scheduler was asked).  A job whose token is not the run's (an earlier
submission whose answer was lost, since resubmitted or cancelled), or that finds
the run executing under another job, ends at once without touching the record.
A relaunch of the same job (a requeue) whose first launch is still stopping waits
for it to let go of the execution lock instead of failing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.runs import store as runstore
from molexp_core.runs.records import RunBusy, RunStoreError

RELAUNCH_WAIT = 60.0  # seconds a requeued job waits for its first launch to end


class NotThisJob(RunBusy):
    """This job must not execute the run; nothing was written."""


def acquire(run_dir: Path, job_id: Optional[str],
            submission: Optional[str]) -> runstore.ExecutionLock:
    """The execution lock; for a job whose own earlier launch still holds it (a
    requeue while the first launch stops), after waiting for it.  A job that must
    not execute the run (see :func:`check`) gets :class:`NotThisJob`, and the lock
    is not held."""
    deadline: Optional[float] = None
    while True:
        try:
            lock = runstore.ExecutionLock(run_dir).acquire()
        except RunBusy as busy:
            if job_id is None:
                raise
            if _last_job(run_dir) != job_id:
                raise NotThisJob(f"{busy.format_message().split('; wait')[0]}; job "
                                 f"{job_id} ends without touching it") from None
            deadline = deadline or time.monotonic() + RELAUNCH_WAIT
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)
            continue
        try:
            check(runstore.read_run(run_dir), job_id, submission)
        except BaseException:
            lock.release()
            raise
        return lock


def check(record: Dict[str, Any], job_id: Optional[str], submission: Optional[str]) -> None:
    """Raise :class:`NotThisJob` when this job must not execute the run."""
    run_id = record.get("run_id")
    if submission is not None:
        token = ((record.get("scheduler") or {}).get("identity") or {}).get("token")
        if token != submission:
            raise NotThisJob(
                f"run {run_id}: job {job_id or '?'} belongs to submission {submission}, "
                f"which is not the run's ({token or 'none: cancelled or resubmitted'}); "
                "it ends without touching the run")
    if job_id is None or record.get("status") != "running":
        return
    last = (record.get("history") or [{}])[-1]
    other = last.get("job_id") if isinstance(last, dict) else None
    if other not in (None, job_id) and not last.get("finished_at") and \
            last.get("host") != runstore.hostname():
        raise NotThisJob(f"run {run_id} is being executed by job {other} on host "
                         f"{last.get('host')}; job {job_id} ends without touching it")


def _last_job(run_dir: Path) -> Optional[str]:
    try:
        history = runstore.read_run(run_dir).get("history") or []
    except RunStoreError:
        return None
    last = history[-1] if history else {}
    value = last.get("job_id") if isinstance(last, dict) else None
    return None if value is None else str(value)

"""The schema of ``run.json``: the type of every field molexp uses.

A record read from disk is checked against :data:`FIELDS` before anything uses
it; a record that fails is *corrupt* (``molexp runs`` lists it as such, ``show``
gives the reason, nothing executes it).  Fields not listed here are kept and
ignored, so a newer molexp's (or a plugin's) extra fields never make a record
corrupt.  To add a field, add one line to :data:`FIELDS` (and a row to
``docs/runs.md``); a nested mapping gets its own dict of fields, as ``tasks``,
``scheduler`` and ``history`` entries have.

Each field is ``Field(check, required=False)``, where ``check(value)`` returns
None when the value is fine, else a short reason (``"must be a string"``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, Optional

from molexp_core.config.values import MAX_DEPTH as CONFIG_DEPTH
from molexp_core.runs.ids import RUN_ID

Check = Callable[[Any], Optional[str]]

STATUSES = ("created", "submitted", "running", "succeeded", "failed", "cancelled")
TASK_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DEPTH = CONFIG_DEPTH  # nesting of the stored config: whatever molcfg and -o accept


class Field:
    __slots__ = ("check", "required")

    def __init__(self, check: Check, required: bool = False) -> None:
        self.check = check
        self.required = required


# -- checks ---------------------------------------------------------------
def string(value: Any) -> Optional[str]:
    return None if isinstance(value, str) else "must be a string"


def line(value: Any) -> Optional[str]:
    """A string that may reach a command line or a batch script: no control characters."""
    if not isinstance(value, str):
        return "must be a string"
    return "holds a control character" if CONTROL.search(value) else None


def boolean(value: Any) -> Optional[str]:
    return None if isinstance(value, bool) else "must be true or false"


def integer(value: Any) -> Optional[str]:
    return None if type(value) is int else "must be an integer"


def count(value: Any) -> Optional[str]:
    return None if type(value) is int and value >= 0 else "must be a whole number >= 0"


def pid(value: Any) -> Optional[str]:
    return None if type(value) is int and value > 0 else "must be a positive integer"


_fromisoformat: Optional[Callable[[str], Any]] = None


def timestamp(value: Any) -> Optional[str]:
    global _fromisoformat
    if not isinstance(value, str):
        return "must be an ISO 8601 time (a string)"
    if _fromisoformat is None:  # imported once, on first use (an import per call costs
        from datetime import datetime  # more than the parse: 10,000 index entries)

        _fromisoformat = datetime.fromisoformat
    try:
        _fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"{value[:40]!r} is not an ISO 8601 time"
    return None


def job_id(value: Any) -> Optional[str]:
    if type(value) is int and value > 0:
        return None
    if isinstance(value, str) and value and not CONTROL.search(value):
        return None
    return "must be a job id (a string without control characters)"


def one_of(*choices: str) -> Check:
    def check(value: Any) -> Optional[str]:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def nullable(check: Check) -> Check:
    def inner(value: Any) -> Optional[str]:
        return None if value is None else check(value)
    return inner


def list_of(check: Check) -> Check:
    def inner(value: Any) -> Optional[str]:
        if not isinstance(value, list):
            return "must be a list"
        for i, item in enumerate(value):
            reason = check(item)
            if reason:
                return f"item {i} {reason}"
        return None
    return inner


def mapping(value: Any) -> Optional[str]:
    return None if isinstance(value, dict) else "must be a mapping"


def record_of(fields: Dict[str, Field]) -> Check:
    """A mapping whose listed keys are checked (others kept, ignored)."""
    def inner(value: Any) -> Optional[str]:
        if not isinstance(value, dict):
            return "must be a mapping"
        return check_fields(value, fields)
    return inner


def mapping_of(check: Check) -> Check:
    def inner(value: Any) -> Optional[str]:
        if not isinstance(value, dict):
            return "must be a mapping"
        for key, item in value.items():
            reason = check(item)
            if reason:
                return f"{key!r} {reason}"
        return None
    return inner


def json_data(value: Any, depth: int = 0) -> Optional[str]:
    """Plain JSON data with finite numbers (what config_hash can hash)."""
    if depth > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds a non-finite number ({value})"
    if isinstance(value, dict):
        for key, item in value.items():
            reason = json_data(item, depth + 1)
            if reason:
                return f"{key!r} {reason}" if depth else f"key {key!r} {reason}"
    elif isinstance(value, list):
        for item in value:
            reason = json_data(item, depth + 1)
            if reason:
                return reason
    return None


def config(value: Any) -> Optional[str]:
    return mapping(value) or json_data(value)


def sha256(value: Any) -> Optional[str]:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        return None
    return "must be a SHA-256 hex digest"


def run_id(value: Any) -> Optional[str]:
    if isinstance(value, str) and RUN_ID.match(value):
        return None
    return "must be a run id like 20261125-004301-412263-1c2e"


# -- the schema -----------------------------------------------------------
ARTIFACT_FIELDS: Dict[str, Field] = {  # a task's artifacts summary (runs/artifacts.py)
    "dir": Field(nullable(string)),
    "files": Field(nullable(count)),
    "bytes": Field(nullable(count)),
    "skipped": Field(nullable(count)),
    "complete": Field(nullable(boolean)),
    "error": Field(nullable(string)),
}

TASK_FIELDS: Dict[str, Field] = {
    "status": Field(one_of(*TASK_STATUSES), required=True),
    "started_at": Field(nullable(timestamp)),
    "finished_at": Field(nullable(timestamp)),
    "error": Field(nullable(string)),
    "result_file": Field(nullable(string)),
    "fingerprint": Field(nullable(sha256)),  # the task's code (runs/fingerprint.py)
    "fingerprint_unseen": Field(nullable(string)),  # why there is no fingerprint
    "script_sha256": Field(nullable(sha256)),  # the script the result came from
    "attempt": Field(nullable(count)),  # the attempt that produced the result
    "artifacts": Field(nullable(record_of(ARTIFACT_FIELDS))),
}

GIT_FIELDS: Dict[str, Field] = {  # runs/provenance.py
    "commit": Field(nullable(string)),
    "branch": Field(nullable(string)),
    "dirty": Field(nullable(boolean)),
    "diff_file": Field(nullable(string)),
    "diff_truncated": Field(nullable(boolean)),
    "root": Field(nullable(string)),
    "error": Field(nullable(string)),
    "unavailable": Field(nullable(string)),  # what could not be learnt, and why
}

SNAPSHOT_FIELDS: Dict[str, Field] = {  # runs/snapshot.py
    "file": Field(string, required=True),
    "taken_at": Field(nullable(timestamp)),
    "origin": Field(nullable(string)),
    "source": Field(nullable(string)),
    "git": Field(nullable(record_of(GIT_FIELDS))),
}

IDENTITY_FIELDS: Dict[str, Field] = {  # what the job was submitted as (reconcile checks)
    "name": Field(nullable(line)),
    "token": Field(nullable(line)),
    "after": Field(nullable(timestamp)),
}

SCHEDULER_FIELDS: Dict[str, Field] = {
    "name": Field(line, required=True),
    "options": Field(nullable(mapping)),
    "job_id": Field(nullable(job_id)),
    "pid_start": Field(nullable(integer)),
    "submitted_at": Field(nullable(timestamp)),
    "log": Field(nullable(string)),
    "batch_script": Field(nullable(string)),
    "state": Field(nullable(string)),
    "reason": Field(nullable(string)),
    "requeued": Field(nullable(count)),
    "requeued_attempt": Field(nullable(count)),  # the attempt last counted as requeued
    "identity": Field(nullable(record_of(IDENTITY_FIELDS))),
    # a submission whose answer was lost (scheduling/submissions.py)
    "submission": Field(nullable(one_of("pending", "unknown"))),
    "submission_deadline": Field(nullable(timestamp)),
    "submission_error": Field(nullable(string)),
    "submission_note": Field(nullable(string)),
    "log_pattern": Field(nullable(string)),
}

HISTORY_FIELDS: Dict[str, Field] = {
    "attempt": Field(nullable(count)),
    "started_at": Field(nullable(timestamp)),
    "finished_at": Field(nullable(timestamp)),
    "status": Field(nullable(string)),
    "host": Field(nullable(string)),
    "pid": Field(nullable(pid)),
    "execution": Field(nullable(one_of("fork", "spawn", "in-process"))),  # runs/supervisor.py
    "job_id": Field(nullable(job_id)),
    "script_sha256": Field(nullable(sha256)),  # the code this attempt executed
    "script_file": Field(nullable(string)),
    "script_origin": Field(nullable(string)),
    "environment_sha256": Field(nullable(sha256)),
    "dropped_tasks": Field(nullable(mapping)),
}

FIELDS: Dict[str, Field] = {
    "run_id": Field(run_id, required=True),
    "script": Field(line, required=True),
    "script_sha256": Field(nullable(sha256)),
    "profile": Field(nullable(line)),
    "config": Field(nullable(config)),
    "config_hash": Field(nullable(sha256)),
    "overrides": Field(nullable(list_of(string))),
    "config_file": Field(nullable(string)),
    "cwd": Field(nullable(line)),
    "status": Field(one_of(*STATUSES), required=True),
    "created_at": Field(nullable(timestamp)),
    "started_at": Field(nullable(timestamp)),
    "finished_at": Field(nullable(timestamp)),
    "attempts": Field(nullable(count)),
    "tasks": Field(mapping_of(record_of(TASK_FIELDS))),  # molexp always writes a mapping
    "scheduler": Field(nullable(record_of(SCHEDULER_FIELDS))),
    "host": Field(nullable(line)),
    "pid": Field(nullable(pid)),
    "pid_start": Field(nullable(integer)),
    "python": Field(nullable(string)),
    "python_executable": Field(nullable(line)),
    "molexp_version": Field(nullable(string)),
    "error": Field(nullable(string)),
    "history": Field(list_of(record_of(HISTORY_FIELDS))),
    "parent_run": Field(nullable(string)),
    "sweep": Field(nullable(mapping)),  # a point of a sweep (docs/sweeps.md)
    # the code of record (docs/runs.md, Provenance)
    "next_script_sha256": Field(nullable(sha256)),
    "snapshots": Field(mapping_of(record_of(SNAPSHOT_FIELDS))),  # absent in older records
    "git": Field(nullable(record_of(GIT_FIELDS))),
    "platform": Field(nullable(string)),
    "environment_sha256": Field(nullable(sha256)),
    "environment_file": Field(nullable(string)),
    "warnings": Field(nullable(list_of(string))),  # config warnings at creation
}


def check_fields(record: Dict[str, Any], fields: Dict[str, Field]) -> Optional[str]:
    for name, field in fields.items():
        if name not in record:
            if field.required:
                return f"no {name!r}"
            continue
        reason = field.check(record[name])
        if reason:
            return f"{name!r} {reason}"
    return None


def check_record(record: Any) -> Optional[str]:
    """None when ``record`` is a usable run record, else why it is not."""
    if not isinstance(record, dict):
        return "the top level must be a mapping"
    missing = [name for name, field in FIELDS.items() if field.required and name not in record]
    if missing:
        return f"it is not a molexp run record (no {', '.join(missing)})"
    return check_fields(record, FIELDS)


SUMMARY_FIELDS: Dict[str, Field] = {
    "run_id": Field(nullable(string), required=True),
    "script": Field(nullable(string), required=True),
    "profile": Field(nullable(string), required=True),
    "status": Field(string, required=True),
    "config_hash": Field(nullable(string)),
    "created_at": Field(nullable(timestamp)),
    "started_at": Field(nullable(timestamp)),
    "finished_at": Field(nullable(timestamp)),
    "host": Field(nullable(string)),
    "pid": Field(nullable(pid)),
    "pid_start": Field(nullable(integer)),
    "error": Field(nullable(string)),
    "scheduler": Field(mapping),
    "tasks": Field(mapping_of(mapping)),
}


def valid_summary(summary: Any) -> bool:
    """Whether a cached index summary has the shape listings rely on: exactly
    ``check_fields(summary, SUMMARY_FIELDS) is None``, written out (an index of
    10,000 runs checks 10,000 summaries; tests/test_run_index.py holds the two to
    the same answer)."""
    if not isinstance(summary, dict):
        return False
    get = summary.get
    for key in ("run_id", "script", "profile"):  # required, text or null
        if key not in summary:
            return False
        value = summary[key]
        if value is not None and not isinstance(value, str):
            return False
    if not isinstance(get("status", 0), str):
        return False
    for key in ("config_hash", "host", "error"):
        value = get(key)
        if value is not None and not isinstance(value, str):
            return False
    for key in ("created_at", "started_at", "finished_at"):
        value = get(key)
        if value is not None and timestamp(value) is not None:
            return False
    value = get("pid")
    if value is not None and not (type(value) is int and value > 0):
        return False
    value = get("pid_start")
    if value is not None and type(value) is not int:
        return False
    if "scheduler" in summary and not isinstance(summary["scheduler"], dict):
        return False
    if "tasks" in summary:
        tasks = summary["tasks"]
        if not isinstance(tasks, dict):
            return False
        for task in tasks.values():
            if not isinstance(task, dict):
                return False
    return True

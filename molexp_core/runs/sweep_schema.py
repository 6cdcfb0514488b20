"""The schema of ``sweep.json``: the type of every field molexp reads from it.

A sweep record is input like any ``run.json``: shared, copied, edited by hand.
It is checked against :data:`FIELDS` when read; a record that fails is refused
with the field and the reason (``points[3].run_dir must be a string``), never
half-used.  Fields not listed are kept and ignored.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from molexp_core.runs.schema import (Field, boolean, check_fields, count, integer, job_id,
                                     line, list_of, mapping, nullable, pid, record_of, sha256,
                                     string, timestamp)


def _point_value(value: Any) -> Optional[str]:
    if not isinstance(value, dict):
        return "must be a mapping of swept keys to values"
    for key in value:
        if not isinstance(key, str) or not key:
            return "must have dotted config keys"
    return None


SCHEDULER_FIELDS: Dict[str, Field] = {
    "name": Field(nullable(line)),
    "options": Field(nullable(mapping)),
}

POINT_FIELDS: Dict[str, Field] = {
    "index": Field(count, required=True),
    "point": Field(_point_value, required=True),
    "run_id": Field(nullable(string)),
    "run_dir": Field(nullable(line)),
    "config_hash": Field(nullable(sha256)),
    "job_id": Field(nullable(job_id)),
    "reused": Field(nullable(boolean)),
    "replaced": Field(nullable(list_of(string))),
}

ARRAY_FIELDS: Dict[str, Field] = {
    "job_id": Field(nullable(job_id)),
    "points": Field(nullable(list_of(count))),
    "size": Field(nullable(count)),
    "manifest": Field(nullable(line)),
    "submitted_at": Field(nullable(timestamp)),
    "max_parallel": Field(nullable(count)),
}

RESUME_FIELDS: Dict[str, Field] = {
    "at": Field(nullable(timestamp)),
    "points": Field(nullable(list_of(count))),
    "scheduler": Field(nullable(string)),
}

FIELDS: Dict[str, Field] = {
    "sweep_id": Field(string, required=True),
    "name": Field(nullable(string)),
    "script": Field(line, required=True),
    "profile": Field(nullable(line)),
    "config_file": Field(nullable(string)),
    "overrides": Field(nullable(list_of(string))),
    "inline": Field(nullable(list_of(string))),
    "definition": Field(nullable(mapping)),
    "definition_hash": Field(nullable(sha256)),
    "size": Field(nullable(count)),
    "created_at": Field(nullable(timestamp)),
    "scheduler": Field(nullable(record_of(SCHEDULER_FIELDS))),
    "points": Field(list_of(record_of(POINT_FIELDS)), required=True),
    "arrays": Field(nullable(list_of(record_of(ARRAY_FIELDS)))),
    "resumes": Field(nullable(list_of(record_of(RESUME_FIELDS)))),
    "pid": Field(nullable(pid)),
    "pid_start": Field(nullable(integer)),
    "host": Field(nullable(line)),
    "warnings": Field(nullable(list_of(string))),
}


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _point_ok(point: Any) -> bool:
    """``record_of(POINT_FIELDS)(point) is None``, written out: a sweep of 10,000
    points checks 10,000 of them on every read (tests/test_index_summaries.py holds
    the two to the same answer)."""
    if type(point) is not dict:
        return False
    index = point.get("index")
    if type(index) is not int or index < 0 or _point_value(point.get("point", 0)) is not None:
        return False
    get = point.get
    value = get("run_id")
    if value is not None and not isinstance(value, str):
        return False
    value = get("run_dir")
    if value is not None and line(value) is not None:
        return False
    value = get("config_hash")
    if value is not None and not (isinstance(value, str) and _HEX64.fullmatch(value)):
        return False
    value = get("job_id")
    if value is not None and job_id(value) is not None:
        return False
    value = get("reused")
    if value is not None and not isinstance(value, bool):
        return False
    value = get("replaced")
    if value is not None and not (isinstance(value, list)
                                  and all(isinstance(v, str) for v in value)):
        return False
    return True


_OTHER_FIELDS = {name: field for name, field in FIELDS.items() if name != "points"}


def check_sweep(record: Any, directory_name: str) -> Optional[str]:
    """None when ``record`` is a usable sweep record in a directory of that name,
    else why it is not (one line naming the field)."""
    if not isinstance(record, dict):
        return "the top level must be a mapping"
    points = record.get("points")
    if isinstance(points, list) and all(_point_ok(p) for p in points):
        reason = check_fields(record, _OTHER_FIELDS)  # the points are fine
    else:
        reason = check_fields(record, FIELDS)  # says which point, and why
    if reason:
        return reason
    if record["sweep_id"] != directory_name:
        return (f"it says sweep_id {record['sweep_id'][:60]!r}, but its directory is "
                f"{directory_name!r} (copied or edited)")
    for position, point in enumerate(record["points"]):
        if point["index"] != position:
            return f"'points' item {position} has index {point['index']}, not {position}"
    return None

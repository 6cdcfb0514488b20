"""The run panel's data: the full record's fields, task results and errors, the
tail of ``run.log`` and ``job.out``, learning curves from ``metrics.jsonl``, and
the artifact index.

Every file is read through the run store's rules (regular files only, never
through a link, bounded).  A page holds the details of at most ``limit`` runs
(``molexp view --details N``): the runs that did not succeed first, then the
others in the page's order; a run without details says how to see them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from molexp_core.runs import safe_files
from molexp_core.runs.result_summaries import RESULT_READ_CAP
from molexp_core.runs.safe_files import MiB
from molexp_core.view.columns import cut
from molexp_core.view.configs import jsonable

DEFAULT_LIMIT = 100
TAIL_BYTES = 8 * 1024        # of run.log and job.out
RESULT_CHARS = 20_000        # of one task's result, as JSON text
CURVE_POINTS = 500           # per metric series, evenly thinned
MAX_SERIES = 50              # metrics per run
MAX_ARTIFACTS = 200          # files listed per task
TEXT_CHARS = 20_000          # of an error text, or any other text of the record
LIST_ITEMS = 50              # of a list in the record (warnings, overrides)
RECORD_KEYS = ("run_id", "script", "profile", "status", "config_file", "overrides",
               "config_hash", "script_sha256", "created_at", "started_at", "finished_at",
               "attempts", "host", "python", "platform", "molexp_version", "parent_run",
               "environment_sha256", "environment_file", "error", "warnings")


def chosen(rows: List[Any], limit: int) -> List[Any]:
    """The rows whose details go in the page: all of them when they fit; else the
    runs that did not succeed (their error text, their logs) for up to half, and
    succeeded ones (their curves) for the rest, each in the page's order."""
    live = [r for r in rows if r.directory is not None]
    if len(live) <= limit:
        return live
    failed = [r for r in live if (r.summary or {}).get("_shown") != "succeeded"]
    done = [r for r in live if (r.summary or {}).get("_shown") == "succeeded"]
    take = max(limit // 2, limit - len(done))
    return failed[:take] + done[:limit - min(take, len(failed))]


def bounded(value: Any, chars: int = TEXT_CHARS) -> Any:
    """``value`` as JSON data for the page, each text at most ``chars`` characters and
    each list at most :data:`LIST_ITEMS` items (a run.json edited by hand may hold
    megabytes; a page holds the details of hundreds of runs)."""
    value = jsonable(value)
    if isinstance(value, str):
        return cut(value, chars)
    if isinstance(value, list):
        items = [bounded(v, chars) for v in value[:LIST_ITEMS]]
        return items + ([f"... ({len(value) - LIST_ITEMS:,} more)"] if len(value) > LIST_ITEMS
                        else [])
    if isinstance(value, dict):
        return {cut(k, 200): bounded(v, chars) for k, v in list(value.items())[:LIST_ITEMS]}
    return value


def details(row: Any) -> Dict[str, Any]:
    record = row.read() or {}
    run_dir: Path = row.run_dir
    out: Dict[str, Any] = {k: bounded(record.get(k)) for k in RECORD_KEYS
                           if record.get(k) not in (None, "", [])}
    scheduler = record.get("scheduler") if isinstance(record.get("scheduler"), dict) else {}
    out["scheduler"] = {k: bounded(scheduler.get(k), 500)
                        for k in ("name", "job_id", "state", "log")
                        if scheduler.get(k) is not None}
    git = record.get("git") if isinstance(record.get("git"), dict) else None
    out["git"] = ({k: bounded(git.get(k), 500) for k in ("commit", "branch", "dirty",
                                                          "diff_file", "error")}
                  if git else None)
    out["sweep"] = (bounded(record.get("sweep"), 500) if isinstance(record.get("sweep"), dict)
                    else None)
    out["tasks"] = _tasks(run_dir, record)
    out["logs"] = {name: text for name in ("run.log", "job.out")
                   if (text := tail(run_dir / name)) is not None}
    out["metrics"], notes = _metrics(run_dir)
    out["artifacts"] = _artifacts(run_dir, record)
    if notes:
        out["notes"] = notes
    return out


def _tasks(run_dir: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    from molexp_core.runs.result_files import ResultUnavailable, load_result

    tasks = record.get("tasks") if isinstance(record.get("tasks"), dict) else {}
    out = {}
    for name, task in tasks.items():
        task = task if isinstance(task, dict) else {}
        entry = {k: bounded(task.get(k)) for k in ("status", "started_at", "finished_at",
                                                   "error", "attempt")
                 if task.get(k) is not None}
        size = _size(run_dir, task.get("result_file"))
        if size > RESULT_READ_CAP:
            entry["result_error"] = (f"{size / MiB:.0f} MiB: too large for the page "
                                     "(molexp show RUN shows it)")
        elif task.get("result_file"):
            try:
                text = json.dumps(jsonable(load_result(run_dir, name, task)), indent=1,
                                  ensure_ascii=False, default=str)
                entry["result"] = (text if len(text) <= RESULT_CHARS else
                                   text[:RESULT_CHARS] + f"\n... ({len(text):,} characters)")
            except ResultUnavailable as exc:
                entry["result_error"] = str(exc)
        out[cut(str(name), 200)] = entry
    return out


def _size(run_dir: Path, result_file: Any) -> int:
    """The size of a task's result file (lstat: a link is not followed), 0 if unknown."""
    if not isinstance(result_file, str):
        return 0
    try:
        return os.lstat(run_dir / result_file).st_size
    except (OSError, ValueError):
        return 0


def tail(path: Path, size: int = TAIL_BYTES) -> Optional[str]:
    """The last ``size`` bytes of a regular file as text ('' if empty); None when it is
    missing, a link or not a regular file."""
    try:
        fd = safe_files.open_regular(path, os.O_RDONLY)
    except (OSError, safe_files.RunStoreError):
        return None
    try:
        end = os.fstat(fd).st_size
        start = max(0, end - size)
        os.lseek(fd, start, os.SEEK_SET)
        data = os.read(fd, end - start)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace")
    if start > 0:
        text = f"... ({start:,} earlier bytes)\n" + text.split("\n", 1)[-1]
    return text


def _metrics(run_dir: Path):
    from molexp_core.runs.metrics import read_curves

    try:
        curves, skipped, notes = read_curves(run_dir)
    except safe_files.RunStoreError as exc:
        return {}, [exc.format_message()]
    series: Dict[str, Any] = {}
    for name in list(curves)[:MAX_SERIES]:
        all_steps, all_values = curves[name]
        finite = [v for v in all_values if v == v]  # NaN left out of min and max
        steps, values = thin(all_steps, all_values)
        series[str(name)] = {"steps": steps, "values": _numbers(values),
                             "count": len(all_values), "last": jsonable(all_values[-1]),
                             "min": jsonable(min(finite)) if finite else None,
                             "max": jsonable(max(finite)) if finite else None}
    notes = list(notes)
    if skipped:
        notes.insert(0, f"metrics.jsonl: {skipped} line(s) skipped")
    if len(curves) > MAX_SERIES:
        notes.append(f"{len(curves) - MAX_SERIES} more metric(s) not shown")
    return series, notes


def _numbers(values: List[Any]) -> List[Any]:
    """Finite numbers as they are, NaN and infinities encoded (``jsonable``)."""
    return [v if type(v) is int or v - v == 0 else jsonable(v) for v in values]


def thin(steps: List[Any], values: List[Any], most: int = CURVE_POINTS):
    """At most ``most`` points, evenly spread, the first and the last kept."""
    count = len(steps)
    if count <= most:
        return steps, values
    picks = sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})
    return [steps[i] for i in picks], [values[i] for i in picks]


def _artifacts(run_dir: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    try:
        from molexp_core.runs.artifacts import read_artifacts
    except ImportError:  # pragma: no cover - a molexp without the artifact index
        return {}
    try:
        found = read_artifacts(run_dir, record)
    except safe_files.RunStoreError as exc:
        return {"": {"files": [], "error": exc.format_message()}}
    out = {}
    for task, entry in (found or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        files = entry.get("files") if isinstance(entry.get("files"), list) else []
        out[str(task)] = {
            "dir": jsonable(entry.get("dir")),
            "files": [{k: jsonable(f.get(k)) for k in ("path", "size", "sha256")}
                      for f in files[:MAX_ARTIFACTS] if isinstance(f, dict)],
            "more": max(0, len(files) - MAX_ARTIFACTS),
            "count": jsonable(entry.get("count")), "bytes": jsonable(entry.get("bytes")),
            "skipped": len(entry.get("skipped") or []),
            "error": jsonable(entry.get("error")),
        }
    return out


def all_details(rows: List[Any], limit: int) -> Dict[str, Any]:
    """The row's position in the page (as text) -> its details, for the chosen rows."""
    position = {id(row): str(i) for i, row in enumerate(rows)}
    return {position[id(row)]: details(row) for row in chosen(rows, limit)}

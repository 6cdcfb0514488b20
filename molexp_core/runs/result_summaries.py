"""Each run's scalar result fields and metric summaries, cached per profile directory.

``molexp view`` shows, for every run of a sweep, its scalar result fields
(``Train.loss``) and the last value of each metric.  Reading them costs a few
opens and a parse per run; a 10,000-point page needs them all, every time.
``<profile dir>/.index-results.json`` keeps what was read together with a stamp
of where it came from: the ``results`` folder (inode, mtime), each succeeded
task's result file and ``metrics.jsonl`` (inode, size, mtime; ``lstat``, never
through a link).  An entry is used only while its stamp still matches, so a
result rewritten, edited in place, deleted or replaced by a link is read afresh,
through the rules of ``load_result`` (capped, never through a link, the task's
own file).  Deleting the cache loses nothing.  It is input like everything on
disk: capped, and every entry whose shape is not what molexp writes is dropped.

Bounded: a text field keeps :data:`TEXT_CHARS` characters, a run at most
:data:`MAX_FIELDS` fields and :data:`MAX_METRICS` metrics; a ``metrics.jsonl``
over :data:`METRICS_READ_CAP` is not summarised here (the run panel reads it).
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from molexp_core.runs import safe_files

CACHE_FILE = ".index-results.json"
VERSION = 1
FIELD_DEPTH = 4          # how deep a result is walked for fields (Train.a.b.c.d)
MAX_FIELDS = 200         # fields kept per run
TEXT_CHARS = 200         # of a text field (the run panel shows the whole result)
MAX_METRICS = 50         # metrics summarised per run
METRICS_READ_CAP = 4 * safe_files.MiB  # a larger metrics.jsonl: only in the run panel
PER_RUN = 16 * 1024      # bytes of cache a run may take (a few hundred, typically)
SAVE_AFTER = 16          # changed entries (or 1%) before the cache is rewritten

Fields = Dict[str, Any]              # "Task.path" -> str | int | float | bool | None
Metrics = Dict[str, List[Any]]       # name -> [last, min, max, count]


def scalar_fields(result: Any, task: str) -> Iterator[Tuple[str, Any]]:
    """``(Task.path, value)`` for each scalar in a task's result, ``depth`` levels
    down; a result that is itself a scalar is ``Task.result``."""
    if not isinstance(result, dict):
        if _scalar(result):
            yield f"{task}.result", result
        return
    stack = [(f"{task}.{key}", item, 1) for key, item in result.items()]
    stack.reverse()
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict) and depth < FIELD_DEPTH:
            stack.extend(reversed([(f"{path}.{k}", v, depth + 1) for k, v in value.items()]))
        elif _scalar(value):
            yield path, value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TEXT_CHARS:
        return value[:TEXT_CHARS - 1] + "\u2026"
    return value


def _stat(path: str) -> List[int]:
    """(inode, size, mtime) of a regular file, ``[0, -1, 0]`` when there is none
    (missing, a link, not a regular file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return [0, -1, 0]
    if not stat.S_ISREG(st.st_mode):
        return [0, -2, 0]
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def stamp(run_dir: str, tasks: Sequence[str]) -> List[int]:
    """Where a run's fields and metrics come from, as numbers that change with it: the
    ``results`` folder (a link or anything but a folder there: no file is stamped
    through it) and each result file, and ``metrics.jsonl``."""
    try:
        st = os.lstat(f"{run_dir}/results")
        where = [st.st_ino, st.st_mtime_ns] if stat.S_ISDIR(st.st_mode) else [0, -2]
    except OSError:
        where = [0, -1]
    if where[0]:
        for task in tasks:
            name = _NAMES.get(task)
            if name is None:
                from molexp_core.runs.result_files import result_name

                name = _NAMES[task] = result_name(task)
            where += _stat(f"{run_dir}/results/{name}")
    return where + _stat(f"{run_dir}/metrics.jsonl")


_NAMES: Dict[str, str] = {}  # task name -> its result file's name


class _ResultReader:
    """Task results as ``load_result`` reads them (``results/<name>`` of the run,
    capped, no link followed on the way, naming that task), through one open
    descriptor of the profile directory instead of a path walk per result."""

    def __init__(self, parent: str) -> None:
        self.parent = parent
        try:
            self.parent_fd: Optional[int] = safe_files.open_dir(parent, follow=False)
        except (OSError, safe_files.RunStoreError):
            self.parent_fd = None

    def results(self, name: str, tasks: Sequence[str]) -> Iterator[Tuple[str, Any]]:
        """``(task, result)`` for each task whose result can be used."""
        from molexp_core.runs.result_files import RESULTS_DIR, result_name

        if self.parent_fd is None or not tasks:
            return
        directory = f"{self.parent}/{name}"
        run_fd = results_fd = None
        try:
            run_fd = safe_files.open_subdir(self.parent_fd, name, directory)
            results_fd = safe_files.open_subdir(run_fd, RESULTS_DIR, directory)
        except (OSError, safe_files.RunStoreError):
            for fd in (run_fd, results_fd):
                if fd is not None:
                    os.close(fd)
            return
        try:
            for task in tasks:
                file_name = result_name(task)
                try:
                    stored = json.loads(safe_files.read_bytes(
                        f"{directory}/{RESULTS_DIR}/{file_name}", safe_files.RESULT_CAP,
                        "result file", dir_fd=results_fd, name=file_name))
                except (OSError, ValueError, RecursionError, safe_files.RunStoreError):
                    continue
                if isinstance(stored, dict) and stored.get("task") == task and "result" in stored:
                    yield task, stored["result"]
        finally:
            os.close(results_fd)
            os.close(run_fd)

    def close(self) -> None:
        if self.parent_fd is not None:
            os.close(self.parent_fd)


def _fields(reader: _ResultReader, name: str, tasks: Sequence[str]) -> Fields:
    fields: Fields = {}
    for task, result in reader.results(name, tasks):
        for path, value in scalar_fields(result, task):
            if len(fields) >= MAX_FIELDS:
                return fields
            fields[path] = _bounded(value)
    return fields


def _metrics(run_dir: str, size: int) -> Metrics:
    if not 0 < size <= METRICS_READ_CAP:
        return {}
    from pathlib import Path

    from molexp_core.runs.metrics import read_metrics

    try:
        log = read_metrics(Path(run_dir))
    except safe_files.RunStoreError:
        return {}
    return {name: [series.last, series.min, series.max, series.count]
            for name, series in list(log.items())[:MAX_METRICS] if series.count}


def summaries(parent: str, runs: Sequence[Tuple[str, Sequence[str]]]
              ) -> Dict[str, Tuple[Fields, Metrics]]:
    """run name -> (scalar result fields, metric summaries), for each
    ``(run name, its succeeded tasks)`` of the profile directory ``parent``."""
    cached = _load(parent, len(runs))
    out: Dict[str, Tuple[Fields, Metrics]] = {}
    fresh: Dict[str, list] = {}
    changed = 0
    reader: Optional[_ResultReader] = None
    try:
        for name, tasks in runs:
            tasks = list(tasks)
            run_dir = f"{parent}/{name}"
            now = stamp(run_dir, tasks)
            entry = cached.get(name)
            if entry is None or entry[0] != tasks or entry[1] != now:
                if reader is None:
                    reader = _ResultReader(parent)
                entry = [tasks, now, _fields(reader, name, tasks) if now[0] else {},
                         _metrics(run_dir, now[-2])]
                changed += 1
            fresh[name] = entry
            out[name] = (entry[2], entry[3])
    finally:
        if reader is not None:
            reader.close()
    if changed > max(SAVE_AFTER, len(cached) // 100) or (changed and len(fresh) < 1000):
        _save(parent, cached, fresh)
    return out


def _load(parent: str, runs: int) -> Dict[str, list]:
    """The cache's entries that have exactly the shape molexp writes."""
    try:
        data = json.loads(safe_files.read_bytes(
            f"{parent}/{CACHE_FILE}", max(safe_files.INDEX_MIN_CAP, runs * PER_RUN),
            "results index"))
    except (OSError, ValueError, RecursionError, safe_files.RunStoreError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or \
            not isinstance(data.get("runs"), dict):
        return {}
    return {name: entry for name, entry in data["runs"].items() if _valid(entry)}


_SCALARS = {type(None), int, float, bool, str}
_NUMBERS = {type(None), int, float}


def _valid(entry: Any) -> bool:
    if not (type(entry) is list and len(entry) == 4 and type(entry[0]) is list
            and type(entry[1]) is list and type(entry[2]) is dict and type(entry[3]) is dict
            and len(entry[2]) <= MAX_FIELDS and len(entry[3]) <= MAX_METRICS):
        return False
    if not set(map(type, entry[1])) <= {int} or not set(map(type, entry[0])) <= {str}:
        return False
    kinds = set(map(type, entry[2].values()))
    if not kinds <= _SCALARS or (str in kinds and any(
            type(v) is str and len(v) > TEXT_CHARS for v in entry[2].values())):
        return False
    for value in entry[3].values():
        if not (type(value) is list and len(value) == 4 and type(value[3]) is int
                and set(map(type, value[:3])) <= _NUMBERS):
            return False
    return True


def _save(parent: str, cached: Dict[str, list], fresh: Dict[str, list]) -> None:
    """Write the cache (entries of other runs that still exist are kept)."""
    merged = {k: v for k, v in cached.items()
              if k not in fresh and os.path.lexists(f"{parent}/{k}")}
    merged.update(fresh)
    try:
        text = json.dumps({"version": VERSION, "runs": merged}, separators=(",", ":"))
        safe_files.write_atomic(f"{parent}/{CACHE_FILE}", text.encode("utf-8"),
                                durable=False, sync=False)  # a damaged cache is rebuilt
    except (TypeError, ValueError, OSError, safe_files.RunStoreError):
        pass  # a read-only runs root, a link planted: the page is built all the same

"""Each run's scalar result fields and each metric's last value, cached per profile
directory.

``molexp view`` shows, for every run of a sweep, its scalar result fields
(``Train.loss``) and the last value of each metric.  Reading them costs a few
opens and a parse per run; a 10,000-point page needs them all, every time.
``<profile dir>/.index-results.json`` keeps what was read together with a stamp
of where it came from: the ``results`` folder (its inode; a link there is never
followed), each succeeded task's result file and ``metrics.jsonl`` (inode, size,
mtime, by ``lstat``).  An entry is used only while its stamp still
matches, so a result rewritten, edited in place or deleted is read afresh,
through the rules of ``load_result`` (capped, never through a link, the task's
own file); a run whose files are there but could not be used (a link on the way,
another task's result, a torn file) is never cached: it is read each time.
Deleting the cache loses nothing.  It is input like everything on disk: capped,
and every entry whose shape is not what molexp writes is dropped.

Bounded: a text field keeps :data:`TEXT_CHARS` characters, a run at most
:data:`MAX_FIELDS` fields and :data:`MAX_METRICS` metrics; a result file over
:data:`RESULT_READ_CAP` is not read and a ``metrics.jsonl`` over
:data:`METRICS_READ_CAP` not summarised (the run panel reads it).
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from molexp_core.runs import safe_files

CACHE_FILE = ".index-results.json"
VERSION = 3
FIELD_DEPTH = 4          # how deep a result is walked for fields (Train.a.b.c.d)
MAX_FIELDS = 200         # fields kept per run
TEXT_CHARS = 200         # of a text field (the run panel shows the whole result)
MAX_METRICS = 50         # metrics kept per run
METRICS_READ_CAP = 4 * safe_files.MiB  # a larger metrics.jsonl: only in the run panel
RESULT_READ_CAP = 8 * safe_files.MiB   # a larger result file: its fields are not read
CACHE_CAP = 64 * safe_files.MiB  # the cache file, read and written (about 300 bytes a run)
SAVE_AFTER = 16          # changed entries (or 1%) before the cache is rewritten

Fields = Dict[str, Any]              # "Task.path" -> str | int | float | bool | None
Metrics = Dict[str, Any]             # name -> its last value


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


def _stat(path: str) -> Tuple[str, int]:
    """``("inode.size.mtime", size)`` of a regular file (``lstat``: a link is not
    followed), ``("-", -1)`` when there is none, ``("x", -1)`` for anything else."""
    try:
        st = os.lstat(path)
    except OSError:
        return "-", -1
    if not stat.S_ISREG(st.st_mode):
        return "x", -1
    return f"{st.st_ino}.{st.st_size}.{st.st_mtime_ns}", st.st_size


def _folder(run_dir: str) -> str:
    """The ``results`` folder's inode as text; ``-`` when it is missing, ``x`` when it
    is a link or not a folder (then no result is read, nor stamped through it)."""
    try:
        st = os.lstat(f"{run_dir}/results")
    except OSError:
        return "-"
    return str(st.st_ino) if stat.S_ISDIR(st.st_mode) else "x"


def _marks(run_dir: str, tasks: Sequence[str]) -> Tuple[List[str], List[int], int]:
    """The stamp's parts (the folder, each result file, ``metrics.jsonl``), the result
    files' sizes (-1: none to read) and the size of ``metrics.jsonl``."""
    folder = _folder(run_dir)
    marks, sizes = [folder], []
    for task in tasks:
        mark, size = (_stat(f"{run_dir}/results/{_name(task)}") if folder not in ("-", "x")
                      else ("-", -1))
        marks.append(mark)
        sizes.append(size)
    mark, metrics_size = _stat(f"{run_dir}/metrics.jsonl")
    marks.append(mark)
    return marks, sizes, metrics_size


def _name(task: str) -> str:
    name = _NAMES.get(task)
    if name is None:
        from molexp_core.runs.result_files import result_name

        name = _NAMES[task] = result_name(task)
    return name


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


def _fields(reader: "_ResultReader", name: str, tasks: Sequence[str]
            ) -> Tuple[Fields, List[str]]:
    """The run's scalar result fields, and the tasks whose result could be used."""
    fields: Fields = {}
    used = []
    for task, result in reader.results(name, tasks):
        used.append(task)
        for path, value in scalar_fields(result, task):
            if len(fields) < MAX_FIELDS:
                fields[path] = _bounded(value)
    return fields, used


def _metrics(run_dir: str, size: int) -> Optional[Metrics]:
    """Each metric's last value (None: the file is there but cannot be read)."""
    if not 0 < size <= METRICS_READ_CAP:
        return {}
    from pathlib import Path

    from molexp_core.runs.metrics import last_values

    try:
        last = last_values(Path(run_dir))
    except (OSError, safe_files.RunStoreError):
        return None
    return dict(list(last.items())[:MAX_METRICS])


def _read(reader: "_ResultReader", parent: str, name: str, tasks: List[str]) -> list:
    """A fresh entry: ``[tasks, stamp, fields, metrics, results too big to read]``.  Its stamp is taken before
    the files are read, and is made never to match again when a file that is there
    could not be used (a link, a wrong task's result, torn): such a run is read anew
    each time, so nothing read while its files were being replaced is kept."""
    run_dir = f"{parent}/{name}"
    marks, sizes, metrics_size = _marks(run_dir, tasks)
    wanted = [t for t, size in zip(tasks, sizes) if 0 <= size <= RESULT_READ_CAP]
    fields, used = _fields(reader, name, wanted) if wanted else ({}, [])
    metrics = _metrics(run_dir, metrics_size)
    stamp = "/".join(marks)
    if metrics is None or any(task not in used for task in wanted):
        stamp += "/!"  # never matches: read again next time
    return [tasks, stamp, fields, metrics or {}, len(tasks) - len(wanted) - sizes.count(-1)]


def summaries(parent: str, runs: Sequence[Tuple[str, Sequence[str]]]
              ) -> Dict[str, Tuple[Fields, Metrics, int]]:
    """run name -> (scalar result fields, each metric's last value, how many of its
    results are over :data:`RESULT_READ_CAP`, not read), for each ``(run name, its
    succeeded tasks)`` of the profile directory ``parent``."""
    cached = _load(parent)
    out: Dict[str, Tuple[Fields, Metrics, int]] = {}
    fresh: Dict[str, list] = {}
    changed = 0
    reader: Optional[_ResultReader] = None
    try:
        for name, tasks in runs:
            tasks = list(tasks)
            entry = cached.get(name)
            if entry is not None and (entry[0] != tasks or
                                      entry[1] != "/".join(_marks(f"{parent}/{name}", tasks)[0])):
                entry = None
            if entry is None:
                if reader is None:
                    reader = _ResultReader(parent)
                entry = _read(reader, parent, name, tasks)
                changed += 1
            fresh[name] = entry
            out[name] = (entry[2], entry[3], entry[4])
    finally:
        if reader is not None:
            reader.close()
    if changed > max(SAVE_AFTER, len(cached) // 100) or (changed and len(fresh) < 1000):
        _save(parent, cached, fresh)
    return out


def _load(parent: str) -> Dict[str, list]:
    """The cache's entries that have exactly the shape molexp writes."""
    try:
        data = json.loads(safe_files.read_bytes(
            f"{parent}/{CACHE_FILE}", CACHE_CAP, "results index"))
    except (OSError, ValueError, RecursionError, safe_files.RunStoreError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or \
            not isinstance(data.get("runs"), dict):
        return {}
    return {name: entry for name, entry in data["runs"].items() if _valid(entry)}


def _valid(entry: Any) -> bool:
    if type(entry) is not list or len(entry) != 5 or type(entry[4]) is not int:
        return False
    tasks, mark, fields, metrics, _ = entry
    if (type(tasks) is not list or type(mark) is not str or type(fields) is not dict
            or type(metrics) is not dict or len(fields) > MAX_FIELDS
            or len(metrics) > MAX_METRICS):
        return False
    for task in tasks:
        if type(task) is not str:
            return False
    for value in fields.values():
        kind = type(value)
        if kind is str:
            if len(value) > TEXT_CHARS:
                return False
        elif kind is not float and kind is not int and kind is not bool and value is not None:
            return False
    for value in metrics.values():
        kind = type(value)
        if kind is not float and kind is not int and value is not None:
            return False
    return True


def _save(parent: str, cached: Dict[str, list], fresh: Dict[str, list]) -> None:
    """Write the cache (entries of other runs that still exist are kept)."""
    merged = {k: v for k, v in cached.items()
              if k not in fresh and os.path.lexists(f"{parent}/{k}")}
    merged.update(fresh)
    try:
        data = json.dumps({"version": VERSION, "runs": merged},
                          separators=(",", ":")).encode("utf-8")
        if len(data) > CACHE_CAP:
            return  # over what _load reads: never written (issue 17, every read limit)
        safe_files.write_atomic(f"{parent}/{CACHE_FILE}", data,
                                durable=False, sync=False)  # a damaged cache is rebuilt
    except (TypeError, ValueError, OSError, safe_files.RunStoreError):
        pass  # a read-only runs root, a link planted: the page is built all the same

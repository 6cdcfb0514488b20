"""Stored task results: their file names in ``results/``, reading and writing them.

A result file's name is a slug of the task name plus a hash of the exact name
(names that slug alike never share a file); a read is capped and checked (the file
must be the one the record names, inside ``results/``, holding that task's result);
a write never follows a link.  The executor writes them; ``show``, ``diff``, the
sweep tables and the Python API read them through :func:`load_result`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files

RESULTS_DIR = "results"


class ResultUnavailable(Exception):
    """A task's stored result cannot be used; the message says why."""


def load_result(run_dir: Path, name: str, task_record: Dict[str, Any]) -> Any:
    """The stored result of task ``name``, read from its own file inside the run
    directory (a regular file under the result cap, never through a link), which
    must name the same task.  Raises ResultUnavailable."""
    path = task_record.get("result_file") if isinstance(task_record, dict) else None
    if not path:
        raise ResultUnavailable("no result file recorded")
    file_name = _result_file_name(path)
    try:
        run_fd = safe_files.open_dir(run_dir)
        try:
            results_fd = safe_files.open_subdir(run_fd, RESULTS_DIR, Path(run_dir) / RESULTS_DIR)
            try:
                data = safe_files.read_bytes(Path(run_dir) / path, safe_files.RESULT_CAP,
                                             "result file", dir_fd=results_fd, name=file_name)
            finally:
                os.close(results_fd)
        finally:
            os.close(run_fd)
        stored = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ResultUnavailable(f"{path} is missing") from None
    except MolexpError as exc:
        raise ResultUnavailable(exc.format_message()) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ResultUnavailable(f"{path} cannot be read: {exc}") from None
    if not isinstance(stored, dict) or "result" not in stored:
        raise ResultUnavailable(f"{path} is not a molexp result file")
    if stored.get("task") != name:
        raise ResultUnavailable(f"{path} holds the result of task {stored.get('task')!r}, "
                                f"not of {name!r}")
    return stored["result"]


def _result_file_name(path: Any) -> str:
    """The file name in ``results/`` that a recorded ``result_file`` names; anything
    else (absolute, ``..``, another directory) is refused."""
    if not isinstance(path, str) or not _RESULT_PATH.match(path):
        raise ResultUnavailable(f"recorded result file {str(path)[:200]!r} is not a file "
                                f"in {RESULTS_DIR}/; ignored")
    return path[len(RESULTS_DIR) + 1:]


_RESULT_PATH = re.compile(r"^results/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,250}$")


def stored_result(run_dir: Path, task_record: Dict[str, Any], name: Optional[str] = None) -> Any:
    """A task's stored result, or ``None`` when there is none (or it is unusable)."""
    try:
        return load_result(Path(run_dir), name, task_record) if name is not None else None
    except ResultUnavailable:
        return None


def result_name(task_name: str) -> str:
    """A task's result file name: a readable slug plus a hash of the exact name, so
    names that slug alike (``prep data``, ``prep_data``) never share a file, and any
    length of name makes a file name well under the file system's limit."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", task_name).lstrip(".")[:64] or "task"
    digest = hashlib.sha256(task_name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slug}-{digest}.json"


class ResultRefused(MolexpError):
    """A result that :func:`load_result` could not read back: not stored."""


def store_result(run_dir: Path, name: str, data: Any) -> str:
    """Store task ``name``'s result (JSON data, ``runs/results.py``) in its file;
    return the ``result_file`` to record.  A result :func:`load_result` would
    refuse (over the cap once written as UTF-8, text that is not Unicode) is not
    written: :class:`ResultRefused` says why.  NaN and infinities are written as
    Python's json writes them; the file never through a link."""
    file_name = result_name(name)
    text = json.dumps({"task": name, "result": data}, indent=2, ensure_ascii=False,
                      allow_nan=True) + "\n"
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        from molexp_core.runs.results import unicode_problem

        raise ResultRefused(f"task {name}'s result cannot be stored: "
                            f"{unicode_problem(data) or 'it holds text that is not Unicode'}"
                            ) from None
    if len(encoded) > safe_files.RESULT_CAP:
        raise ResultRefused(
            f"task {name} returned a result of {safe_files.size_text(len(encoded))} as "
            f"stored (UTF-8 JSON), over the {safe_files.RESULT_CAP // safe_files.MiB} MiB "
            "molexp reads back as a result; save large data under ctx.run_dir and return "
            "its path")
    _write_bytes(run_dir, file_name, encoded)
    return f"{RESULTS_DIR}/{file_name}"


def _write_bytes(run_dir: Path, file_name: str, data: bytes) -> None:
    """results/<file>, created and replaced without following links."""
    run_fd = safe_files.open_dir(run_dir)
    try:
        results_fd = safe_files.open_subdir(run_fd, RESULTS_DIR, run_dir / RESULTS_DIR,
                                            create=True)
        try:  # not synced: an unreadable result makes the task run again
            safe_files.write_atomic(run_dir / RESULTS_DIR / file_name, data, durable=False,
                                    sync=False, dir_fd=results_fd)
        finally:
            os.close(results_fd)
    finally:
        os.close(run_fd)

"""``run.json`` itself: reading it (capped, schema-checked) and replacing it atomically.

The lowest part of the run store, shared by ``store`` and ``locks``.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files, schema
from molexp_core.runs.safe_files import RunStoreError

RUN_FILE = "run.json"


def hostname() -> str:
    """This machine's name (what socket.gethostname() says, without importing socket)."""
    return os.uname().nodename


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


_deferred = False  # set in a sweep's point processes: their parent syncs once at the end


def defer_sync() -> None:
    """From now on this process (and its children) skip fsyncs: a sweep's point
    processes, whose parent makes all their writes durable at once with
    :func:`sync_all`.  Writes stay atomic (temp file and rename)."""
    global _deferred
    _deferred = True


MAX_ERROR_CHARS = 4000  # an error text in run.json (the run's, a task's)
GROWTH_ROOM = 1 * safe_files.MiB  # what a new record leaves under the cap for its progress


class RecordTooLarge(RunStoreError):
    """A ``run.json`` molexp would write is larger than molexp reads: not written."""


def error_text(text: str, full_text_in: Optional[str] = None) -> str:
    """``text`` as an error field of ``run.json`` holds it: at most
    :data:`MAX_ERROR_CHARS` characters (cut with a note naming where the full text
    is, ``full_text_in``), and UTF-8 (a lone surrogate becomes ``?``)."""
    if len(text) > MAX_ERROR_CHARS:
        where = f"; the full text is in {full_text_in}" if full_text_in else ""
        note = f" [... cut at {MAX_ERROR_CHARS:,} of {len(text):,} characters{where}]"
        text = text[:MAX_ERROR_CHARS - len(note)] + note
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def write_record(path: Path, record: Dict[str, Any], durable: bool = True,
                 sync: bool = True) -> None:
    """Replace ``run.json`` at ``path`` atomically with ``record``, but never with
    something :func:`read_run` would refuse: error texts are cut to
    :data:`MAX_ERROR_CHARS` characters, and a record over the read cap is not
    written (:class:`RecordTooLarge`)."""
    _bound_errors(record)
    data = _encode(record)
    if len(data) > safe_files.RECORD_CAP:
        raise RecordTooLarge(
            f"{path}: the run record would be {safe_files.size_text(len(data))}, over the "
            f"{safe_files.RECORD_CAP // safe_files.MiB} MiB molexp reads; not written")
    if _deferred:
        durable = sync = False
    safe_files.write_atomic(path, data, durable=durable, sync=sync)


def new_record_problem(record: Dict[str, Any]) -> Optional[str]:
    """Why a new run's record cannot be stored (too large to leave room for the
    run's progress, or refused by the schema on reading), or None."""
    size = len(_encode(record))
    if size > safe_files.RECORD_CAP - GROWTH_ROOM:
        return (f"its run record (run.json) would be {safe_files.size_text(size)}, and molexp "
                f"reads records of at most {safe_files.RECORD_CAP // safe_files.MiB} MiB "
                f"(keeping {GROWTH_ROOM // safe_files.MiB} MiB for the run's progress); "
                "keep large data in files and put their paths in the config")
    return schema.check_record(record)


def _encode(record: Any) -> bytes:
    text = json.dumps(record, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _bound_errors(record: Dict[str, Any]) -> None:
    if isinstance(record.get("error"), str):
        record["error"] = error_text(record["error"])
    for task in (record.get("tasks") or {}).values():
        if isinstance(task, dict) and isinstance(task.get("error"), str):
            task["error"] = error_text(task["error"])


def write_json_atomic(path: Path, data: Any, durable: bool = True, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON: never a half-written file.

    ``sync`` fsyncs the file before the rename (after a power cut the file is
    the old or the new one, never empty); ``durable`` also fsyncs the directory,
    so the rename itself survives (progress updates between a run's first and
    last record skip that).  Only files that are re-created when found missing
    or unreadable (task results) may skip ``sync``.
    """
    if _deferred:
        durable = sync = False
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    safe_files.write_atomic(path, (text + "\n").encode("utf-8"), durable=durable, sync=sync)


def sync_all() -> None:
    """Make every write so far durable in one call (``sync``): many run directories
    written without their own fsyncs (a sweep's points) reach the disk together."""
    with contextlib.suppress(OSError, AttributeError):
        os.sync()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class CorruptRecord(RunStoreError):
    """A ``run.json`` that is no valid run record: listed as ``corrupt``, never executed."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{path}: corrupt run record: {reason} (molexp lists it as "
                         "corrupt and never executes it)")


CORRUPT = "corrupt"


def read_run(run_dir: Path) -> Dict[str, Any]:
    """The run's record, checked against the schema (``runs/schema.py``).

    A missing ``run.json`` is a RunStoreError; a link, a FIFO, a file over the
    cap, bad JSON or a record that fails the schema is a CorruptRecord.
    """
    path = Path(run_dir) / RUN_FILE
    try:
        data = safe_files.read_bytes(path, safe_files.RECORD_CAP, "run record")
    except FileNotFoundError:
        raise RunStoreError(f"{run_dir} is not a run directory (no {RUN_FILE})") from None
    except safe_files.UnsafeFile as exc:
        raise CorruptRecord(path, f"it is {exc.kind}, not a regular file") from None
    except RunStoreError as exc:
        raise CorruptRecord(path, exc.format_message()) from None
    record = _parse(path, data)
    reason = schema.check_record(record)
    if reason:
        raise CorruptRecord(path, reason)
    return record


def _parse(path: Path, data: bytes) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        raise CorruptRecord(path, "it starts with a byte-order mark (molexp writes none)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptRecord(path, f"not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise CorruptRecord(path, "nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
            reason = f"trailing data after the record (line {exc.lineno}, column {exc.colno})"
        else:
            reason = f"not valid JSON ({exc})"
        raise CorruptRecord(path, reason) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


class RunBusy(MolexpError):
    """Another process holds the run's execution lock."""


def _unwritable(run_dir: Path, exc: OSError) -> "RunStoreError":
    return RunStoreError(f"cannot write to run {Path(run_dir).name} in {Path(run_dir).parent}: "
                         f"{exc.strerror or exc}; nothing was changed")

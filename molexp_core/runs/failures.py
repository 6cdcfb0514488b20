"""What a failure leaves in a run directory, within the limits molexp reads with.

A failed task (or a script that cannot be imported where the run executes)
leaves its traceback in ``error.log`` (at most :data:`ERROR_LOG_CAP`, cut in the
middle past it; an earlier attempt's is renamed ``error.attempt-N.log`` when the
next one starts), one entry in ``run.log`` (at most :data:`LOG_ENTRY_CAP`), and a
one-line ``error`` in ``run.json`` (at most ``records.MAX_ERROR_CHARS``
characters, with a note saying where the whole text is).  Exceptions and values
from user code are turned into text safely: an ``__str__`` or ``__repr__`` that
raises, or an integer over Python's 4,300-digit limit, never crashes the record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Tuple

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files
from molexp_core.runs.records import MAX_ERROR_CHARS, error_text
from molexp_core.runs.results import NO_VALUE, safe_repr

ERROR_FILE = "error.log"
ERROR_LOG_CAP = 16 * safe_files.MiB  # error.log: a traceback, cut in the middle past this
LOG_ENTRY_CAP = 64 * 1024  # one failure entry in run.log (the whole text is in error.log)


def safe_str(value: object) -> str:
    """``str(value)``, or a placeholder when the value's ``__str__`` raises."""
    try:
        return str(value)
    except BaseException:  # noqa: BLE001 - the user's __str__ (or an int over 4,300 digits)
        return f"<{type(value).__name__} str() failed>"


def exception_text(exc: BaseException) -> str:
    """``TypeName: message`` for any exception, even one whose ``__str__`` raises
    (as ``traceback`` prints it: ``<exception str() failed>``)."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - the user's __str__
        message = "<exception str() failed>"
    return f"{name}: {message}" if message else name


def traceback_text(exc: BaseException) -> str:
    import traceback

    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - a hostile exception object
        return exception_text(exc) + "\n"


def log_text(text: str, cap: int) -> Tuple[bytes, bool]:
    """``text`` as UTF-8 of at most ``cap`` bytes (its middle cut, with a note),
    and whether it was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= cap:
        return data, False
    note = (f"\n[... cut here by molexp: the text was {len(data):,} bytes, over the "
            f"{safe_files.size_text(cap)} it keeps; its start and end are kept ...]\n").encode()
    half = (cap - len(note)) // 2
    head = data[:half].decode("utf-8", "ignore").encode("utf-8")
    tail = data[len(data) - half:].decode("utf-8", "ignore").encode("utf-8")
    return head + note + tail, True


def task_summary(name: str, exc: BaseException) -> str:
    """``task Train failed: KeyError: 'x'``, ``task Train called sys.exit(3)``."""
    if isinstance(exc, SystemExit):
        return f"task {name} called sys.exit({safe_str(exc.code)})"
    return f"task {name} failed: {exception_text(exc)}"


def record_task_failure(run_dir: Path, name: str, exc: Optional[BaseException],
                        summary: str, value: Any, log: Any) -> str:
    """Write ``error.log`` (the traceback, and what the task returned) and the
    ``run.log`` entry; return the summary as ``run.json`` keeps it."""
    text = summary + "\n" if exc is None else traceback_text(exc)
    kept = text
    if value is not NO_VALUE:  # the computation finished: keep what it returned
        kept += f"\ntask {name} returned (repr, cut at 1 MiB):\n{safe_repr(value)}\n"
    where = ERROR_FILE
    try:
        data, cut = log_text(kept, ERROR_LOG_CAP)
        safe_files.write_atomic(Path(run_dir) / ERROR_FILE, data, durable=False)
        if cut:
            where = f"{ERROR_FILE} (its start and end)"
    except MolexpError as refused:  # e.g. a link planted as error.log
        summary += f" ({ERROR_FILE} not written: {refused.format_message()})"
        where = "run.log"
    summary = error_text(summary, where)
    log.failure(log_text(f"{summary}\n{text.rstrip()}", LOG_ENTRY_CAP)[0].decode())
    return summary


def long_error(run_dir: Path, message: str) -> str:
    """``message`` as ``run.json`` keeps it; one too long for that goes whole into
    ``error.log`` (within its cap)."""
    if len(message) <= MAX_ERROR_CHARS:
        return message
    try:
        safe_files.write_atomic(Path(run_dir) / ERROR_FILE,
                                log_text(message, ERROR_LOG_CAP)[0], durable=False)
    except MolexpError:
        return error_text(message)
    return error_text(message, ERROR_FILE)


def retire_error_log(run_dir: Path, attempt: int) -> None:
    """A new attempt starts: an earlier attempt's ``error.log`` becomes
    ``error.attempt-N.log``, so ``error.log`` only ever speaks of the latest attempt
    (a run that succeeded on resume has none).  Only a regular file is moved: a link
    planted there stays, for the next write to refuse; renaming never follows one."""
    import stat

    path = Path(run_dir) / ERROR_FILE
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.rename(path, path.with_name(f"error.attempt-{max(attempt, 1)}.log"))
    except OSError:
        pass  # none (the usual case), or not ours to move

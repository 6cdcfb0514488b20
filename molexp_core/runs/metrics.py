"""Per-step metrics: ``ctx.log_metric`` appends to ``metrics.jsonl``; reading it back.

The file is one JSON object a line, one line per ``log_metric``/``log_metrics`` call::

    {"task": "Train", "attempt": 1, "step": 3, "time": 1733450000.123, "metrics": {"loss": 0.52}}

Each line is appended with one ``write()`` on an ``O_APPEND`` descriptor of a regular
file opened without following a link, so lines from several writers never interleave
and a process killed with ``kill -9`` loses at most the line it was writing.  A line
left torn (a full disk, a power cut) is skipped by the reader, and the next writer
starts a fresh line after it.  The file never grows past :data:`METRICS_CAP`: the call
that would pass it raises :class:`MetricsFull` and writes nothing.

A metric is a series identified by its name across the run; ``step=None`` means one
more than the highest step recorded for that name in this run (earlier attempts
included, so a resumed run continues its curves).  See docs/runs.md, "Metrics".

This module is imported only when a task logs a metric, or something reads them.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from molexp_core.errors import MolexpError
from molexp_core.runs import safe_files

METRICS_FILE = "metrics.jsonl"
METRICS_CAP = 64 * safe_files.MiB  # the writer never lets the file pass this
READ_CAP = METRICS_CAP + safe_files.MiB  # room for lines racing the writer's check
LINE_CAP = 64 * 1024  # one call's line
MAX_STEP = 2 ** 53  # a step a JavaScript number holds exactly (the page draws them)
MAX_NOTES = 5
NAME = re.compile(r"^\w[\w./-]{0,199}$")
NAME_RULE = ("1-200 characters: letters, digits and _, then also . - /"
             " (e.g. 'loss', 'val/acc', 'lr.group-0')")


class MetricsFull(MolexpError):
    """metrics.jsonl is at its cap: the value was not recorded."""


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a metric name must be a string, not {type(name).__name__} "
                        f"({name!r:.80})")
    if not NAME.match(name) or name.endswith("."):
        raise ValueError(f"metric name {name[:80]!r}: use {NAME_RULE}")
    return name


def check_value(name: str, value: Any) -> Any:
    """``value`` as the int or float to store; TypeError for anything else.

    bool is refused (``True`` in a curve is almost always a mistake: log ``int(flag)``);
    numbers of other types (numpy, torch, Fraction) are converted, without
    molexp importing them."""
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise TypeError(f"metric {name!r}: {value!r} is a bool; log a number "
                        "(int(flag) if you mean 0/1)")
    if isinstance(value, int):
        value = int(value)
        if abs(value) <= MAX_STEP:
            return value
        try:
            return float(value)  # a plot is all it feeds
        except OverflowError:
            raise ValueError(f"metric {name!r}: {value:.3g} is too large for a "
                             "float") from None
    if isinstance(value, float):
        return float(value)
    import numbers

    if isinstance(value, numbers.Integral):
        return check_value(name, int(value))
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # a 0-d numpy array, a one-element tensor
    if callable(item) and not isinstance(value, (str, bytes, type)):
        try:
            converted = item()
        except Exception:  # noqa: BLE001 - e.g. .item() of an array of several values
            converted = value
        if converted is not value and isinstance(converted, (int, float)):
            return check_value(name, converted)
    raise TypeError(f"metric {name!r}: a {type(value).__name__} is not a number "
                    f"({_short_repr(value)}); log an int or a float")


def check_step(step: Any) -> int:
    import numbers

    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be an int >= 0 or None, not {type(step).__name__}")
    step = int(step)
    if not 0 <= step < MAX_STEP:
        raise ValueError(f"step {step}: use an int from 0 to 2**53-1")
    return step


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__
        return "unprintable"
    return text if len(text) <= 60 else text[:57] + "..."


class MetricsWriter:
    """Appends a task's metrics to its run's ``metrics.jsonl`` (one per TaskContext).

    The highest step of each metric already in the file is read on the first call
    (bounded by the cap), so steps continue across tasks and attempts.  Safe to call
    from several threads of the task; from several processes, pass ``step``
    explicitly (each process counts on its own)."""

    def __init__(self, run_dir: Path, task: str, attempt: int) -> None:
        import threading

        self.path = Path(run_dir) / METRICS_FILE
        self.task = task
        self.attempt = attempt
        self._next: Optional[Dict[str, int]] = None
        self._lock = threading.Lock()

    def log(self, values: Any, step: Any = None) -> Optional[int]:
        """Record ``values`` (name -> number) at ``step``; return the step used
        (None when ``values`` is empty: nothing is written)."""
        if not isinstance(values, Mapping):
            raise TypeError(f"log_metrics takes a mapping of name -> number, not "
                            f"{type(values).__name__}")
        clean = {check_name(name): None for name in values}
        for name, value in values.items():
            clean[name] = check_value(name, value)
        if not clean:
            return None
        chosen = None if step is None else check_step(step)
        body = _body(clean)  # too long a line is refused before the file is touched
        with self._lock:
            fd = safe_files.open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
            try:
                size = os.fstat(fd).st_size
                if self._next is None:
                    self._next = _next_steps(fd, size, self.path)
                if chosen is None:
                    chosen = max(self._next.get(name, 0) for name in clean)
                    if chosen >= MAX_STEP:
                        raise ValueError(f"step {chosen}: past 2**53-1; pass step= yourself")
                data = self._line(chosen, body)
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a torn line before: end it, start afresh
                if size + len(data) > METRICS_CAP:
                    raise MetricsFull(
                        f"{self.path} has reached its {METRICS_CAP // safe_files.MiB} MiB "
                        f"cap; {', '.join(clean)} at step {chosen} not recorded (log less "
                        "often, or fewer metrics)")
                _write_all(fd, data, self.path)
            finally:
                os.close(fd)
            for name in clean:
                self._next[name] = max(self._next.get(name, 0), chosen + 1)
        return chosen

    def _line(self, step: int, body: bytes) -> bytes:
        head = json.dumps({"task": self.task, "attempt": self.attempt, "step": step,
                           "time": round(time.time(), 3)}, ensure_ascii=False)
        return head[:-1].encode("utf-8", "surrogatepass") + b', "metrics": ' + body + b"}\n"


def _body(values: Dict[str, Any]) -> bytes:
    """The line's ``metrics`` object; ValueError when the line would pass LINE_CAP."""
    data = json.dumps(values, ensure_ascii=False, allow_nan=True).encode("utf-8")
    if len(data) > LINE_CAP - 1024:  # the rest of the line takes well under 1 KiB
        raise ValueError(f"{len(values)} metrics in one call make a line of {len(data)}+ "
                         f"bytes, over the {LINE_CAP // 1024} KiB limit; log fewer at once")
    return data


def _write_all(fd: int, data: bytes, path: Path) -> None:
    try:
        written = os.write(fd, data)  # one write: an O_APPEND line lands whole
        while written < len(data):  # a short write (disk full): finish what we can
            written += os.write(fd, data[written:])
    except OSError as exc:
        raise safe_files.RunStoreError(
            f"cannot append to {path}: {exc.strerror or exc}") from exc


def _next_steps(fd: int, size: int, path: Path) -> Dict[str, int]:
    """Each metric's next step from what the file holds (read through ``fd``)."""
    if not size:
        return {}
    if size > READ_CAP:
        raise safe_files.too_big(path, size, READ_CAP, "metrics file")
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, safe_files.MiB), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    following: Dict[str, int] = {}
    for _, entry in _entries(b"".join(chunks)):
        if entry is None:
            continue
        step = entry["step"]
        for name in entry["metrics"]:
            if following.get(name, 0) <= step:
                following[name] = step + 1
    return following


# -- reading --------------------------------------------------------------
def _entries(data: bytes) -> Iterator[Tuple[int, Optional[Dict[str, Any]]]]:
    """``(line number, entry or None)`` for each non-blank line; None: not usable."""
    import io

    raw_decode = _DECODER.raw_decode
    for number, raw in enumerate(io.BytesIO(data), 1):  # no list of every line at once
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None
            continue
        text = text.strip()
        if not text:
            continue
        try:  # the parse json.loads makes, without its per-call checks (a file is
            entry, end = raw_decode(text)  # thousands of lines)
        except (ValueError, RecursionError):
            yield number, None
            continue
        yield number, entry if end == len(text) and _valid(entry) else None


_DECODER = json.JSONDecoder()


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    step, metrics = entry.get("step"), entry.get("metrics")
    if type(step) is not int or not 0 <= step < MAX_STEP:
        return False
    if not isinstance(metrics, dict) or not metrics:
        return False
    for name, value in metrics.items():
        if type(value) not in (int, float) or (name not in _NAMES_SEEN and not _good_name(name)):
            return False
    stamp, task, attempt = entry.get("time"), entry.get("task"), entry.get("attempt")
    return ((stamp is None or type(stamp) in (int, float))
            and (task is None or isinstance(task, str))
            and (attempt is None or type(attempt) is int))


_NAMES_SEEN: set = set()  # names already matched against NAME (a file repeats them)


def _good_name(name: Any) -> bool:
    if not isinstance(name, str) or not NAME.match(name):
        return False
    if len(_NAMES_SEEN) < 10_000:
        _NAMES_SEEN.add(name)
    return True


class Series:
    """One metric's values in the order written, with their steps, times, tasks and
    attempts (parallel lists)."""

    __slots__ = ("name", "steps", "values", "times", "tasks", "attempts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: List[int] = []
        self.values: List[Any] = []
        self.times: List[Optional[float]] = []
        self.tasks: List[Optional[str]] = []
        self.attempts: List[Optional[int]] = []

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def first(self) -> Any:
        return self.values[0] if self.values else None

    @property
    def last(self) -> Any:
        """The value written last (NaN included: a run that diverged shows it)."""
        return self.values[-1] if self.values else None

    @property
    def last_step(self) -> Optional[int]:
        return self.steps[-1] if self.steps else None

    @property
    def min(self) -> Any:
        finite = [v for v in self.values if not _is_nan(v)]
        return min(finite) if finite else None

    @property
    def max(self) -> Any:
        finite = [v for v in self.values if not _is_nan(v)]
        return max(finite) if finite else None

    def summary(self) -> Dict[str, Any]:
        return {"count": self.count, "first": self.first, "last": self.last,
                "min": self.min, "max": self.max, "last_step": self.last_step}

    def __repr__(self) -> str:
        return f"Series({self.name!r}, count={self.count}, last={self.last!r})"


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class MetricsLog(Mapping):
    """A run's metrics: name -> :class:`Series`, in order of first appearance.

    ``skipped`` counts the lines that could not be used (a line torn by a crash,
    hand edits); ``notes`` says which (the first few)."""

    def __init__(self) -> None:
        self._series: Dict[str, Series] = {}
        self.skipped = 0
        self.notes: List[str] = []

    def __getitem__(self, name: str) -> Series:
        return self._series[name]

    def __iter__(self):
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def summary(self) -> Dict[str, Dict[str, Any]]:
        """name -> ``{"count", "first", "last", "min", "max", "last_step"}``."""
        return {name: series.summary() for name, series in self._series.items()}

    def to_rows(self) -> List[Dict[str, Any]]:
        """One dict per value (``task, attempt, step, time, name, value``), for pandas."""
        rows = []
        for name, s in self._series.items():
            for step, value, stamp, task, attempt in zip(s.steps, s.values, s.times,
                                                         s.tasks, s.attempts):
                rows.append({"task": task, "attempt": attempt, "step": step,
                             "time": stamp, "name": name, "value": value})
        return rows

    def __repr__(self) -> str:
        return f"MetricsLog({list(self._series)!r}, skipped={self.skipped})"


def last_values(run_dir: Path) -> Dict[str, Any]:
    """name -> the value written last, for each metric of the run's ``metrics.jsonl``
    (the lines :func:`read_metrics` reads; cheaper when only the last values are
    wanted, as ``molexp view``'s table).  Raises as :func:`read_metrics` does."""
    try:
        data = safe_files.read_bytes(Path(run_dir) / METRICS_FILE, READ_CAP, "metrics file")
    except FileNotFoundError:
        return {}
    last: Dict[str, Any] = {}
    for _, entry in _entries(data):
        if entry is not None:
            last.update(entry["metrics"])
    return last


def read_curves(run_dir: Path) -> Tuple[Dict[str, Tuple[List[int], List[Any]]], int, List[str]]:
    """``({name: (steps, values)}, lines skipped, notes)``: the series of
    :func:`read_metrics` without their times, tasks and attempts (what a chart
    draws; a page reads hundreds of runs' files).  Raises as :func:`read_metrics`."""
    path = Path(run_dir) / METRICS_FILE
    try:
        data = safe_files.read_bytes(path, READ_CAP, "metrics file")
    except FileNotFoundError:
        return {}, 0, []
    curves: Dict[str, Tuple[List[int], List[Any]]] = {}
    skipped, notes = 0, []
    for number, entry in _entries(data):
        if entry is None:
            skipped += 1
            if len(notes) < MAX_NOTES:
                notes.append(f"{path.name} line {number}: not a metrics line "
                             "(torn by a crash, or edited); skipped")
            continue
        step = entry["step"]
        for name, value in entry["metrics"].items():
            curve = curves.get(name)
            if curve is None:
                curve = curves[name] = ([], [])
            curve[0].append(step)
            curve[1].append(value)
    return curves, skipped, notes


def read_metrics(run_dir: Path) -> MetricsLog:
    """The run's ``metrics.jsonl``: empty when there is none; unusable lines skipped
    and counted.  RunStoreError when it is a link, a FIFO, a directory or too big."""
    path = Path(run_dir) / METRICS_FILE
    log = MetricsLog()
    try:
        data = safe_files.read_bytes(path, READ_CAP, "metrics file")
    except FileNotFoundError:
        return log
    series = log._series
    for number, entry in _entries(data):
        if entry is None:
            log.skipped += 1
            if len(log.notes) < MAX_NOTES:
                log.notes.append(f"{path.name} line {number}: not a metrics line "
                                 "(torn by a crash, or edited); skipped")
            continue
        step, stamp = entry["step"], entry.get("time")
        task, attempt = entry.get("task"), entry.get("attempt")
        for name, value in entry["metrics"].items():
            s = series.get(name)
            if s is None:
                s = series[name] = Series(name)
            s.steps.append(step)
            s.values.append(value)
            s.times.append(stamp)
            s.tasks.append(task)
            s.attempts.append(attempt)
    return log

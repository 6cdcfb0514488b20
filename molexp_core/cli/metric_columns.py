"""Metric columns of ``molexp runs -c``: ``metrics.NAME.AGG``, read from ``metrics.jsonl``.

``AGG`` is one of :data:`AGGREGATES`: ``last`` (the value written last), ``min`` and
``max`` (NaN ignored), ``first``, ``count``, ``step`` (the step of the last value).
``metrics.NAME`` alone means ``metrics.NAME.last``.  A metric name may hold dots
(``metrics.val.acc.max``): the last part is read as the aggregate when it is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

PREFIX = "metrics."
AGGREGATES = ("last", "min", "max", "first", "count", "step")
_UNFINISHED = ("created", "submitted", "running")


def parse(field: str) -> Optional[Tuple[str, str]]:
    """``(metric name, aggregate)`` for a metric column, else None."""
    if not field.startswith(PREFIX) or len(field) == len(PREFIX):
        return None
    rest = field[len(PREFIX):]
    head, _, tail = rest.rpartition(".")
    if head and tail in AGGREGATES:
        return head, tail
    return rest, "last"


def _log(run_dir: Optional[Path], cache: Dict[Any, Any]) -> Any:
    """The run's MetricsLog (None without one), read once per table."""
    if run_dir is None:
        return None
    key = (str(run_dir), None)  # task names are strings: no clash with result entries
    if key not in cache:
        from molexp_core.errors import MolexpError
        from molexp_core.runs.metrics import read_metrics

        try:
            cache[key] = read_metrics(run_dir)
        except MolexpError:  # a link or an oversized file: shown as no value
            cache[key] = None
    return cache[key]


def value(run_dir: Optional[Path], field: str, cache: Dict[Any, Any], missing: Any) -> Any:
    """The column's value for one run, or ``missing`` when it has none."""
    name, aggregate = parse(field) or ("", "last")
    log = _log(run_dir, cache)
    series = log.get(name) if log is not None else None
    if series is None or not series.count:
        return missing
    return series.last_step if aggregate == "step" else getattr(series, aggregate)


def check(field: str, runs: Iterable[Tuple[Optional[Path], Optional[Dict[str, Any]]]],
          cache: Dict[Any, Any]) -> None:
    """Refuse a metric column no shown run has (a typo), naming the metrics there are;
    while runs are still going and none has logged any metric yet, nothing is judged."""
    runs = list(runs)
    names: List[str] = []
    for run_dir, _ in runs:
        log = _log(run_dir, cache)
        for name in log or ():
            if name not in names:
                names.append(name)
    name, aggregate = parse(field) or ("", "last")
    if name in names:
        return
    going = any((summary or {}).get("status") in _UNFINISHED for _, summary in runs)
    if not names and going:
        return
    from molexp_core.errors import MolexpUsageError, closest

    if not names:
        raise MolexpUsageError(f"-c {field!r}: no run shown has logged a metric "
                               "(ctx.log_metric); nothing to show")
    choices = [f"{PREFIX}{n}.{a}" for n in names for a in AGGREGATES]
    hint = closest(f"{PREFIX}{name}.{aggregate}", choices) or closest(field, choices)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise MolexpUsageError(f"-c {field!r}: no run shown has metric {name!r}"
                           + (f" (did you mean {hint!r}?)" if hint else "")
                           + f"; metrics: {shown} (as metrics.NAME.last|min|max|first|"
                           "count|step)")

"""A sweep's points as rows: their runs' statuses (reconciled), summaries, waiting."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from molexp_core.runs import sweep_store

FINAL = ("succeeded", "failed", "cancelled")
SUMMARY_ROWS = 50  # larger sweeps list only the points that did not succeed


def point_pairs(root: Path, record: Dict[str, Any], refresh: bool = True
                ) -> List[Tuple[Dict[str, Any], Optional[Path], Optional[Dict[str, Any]]]]:
    """(point, run dir, run summary) per point, each point's run decided by
    ``runs/sweep_members.py``; runs waiting on a scheduler are reconciled with ONE
    call per scheduler.  A point without a run of its own gets a summary that
    says so (``missing``, or ``interrupted``/``created`` when it was never
    prepared) with the reason as its error."""
    from molexp_core.runs import index as run_index
    from molexp_core.runs import store as runstore
    from molexp_core.runs import sweep_members

    pairs = []
    for member in sweep_members.members(root, record):
        summary = member.summary
        if summary is None:
            shown, error = sweep_members.placeholder(record, member)
            summary = run_index.summary_of({})
            summary.update(status=shown, _shown=shown, _synthetic=True, error=error,
                           run_id=member.run_dir.name if member.run_dir else None)
        pairs.append((member.point, member.run_dir, summary))
    if refresh:
        from molexp_core.cli.refresh import refresh as refresh_runs

        # ONE call per scheduler; a line on stderr if one does not answer
        refresh_runs([(d, s) for _, d, s in pairs
                      if d is not None and not s.get("_synthetic")])
    for point, run_dir, summary in pairs:
        if run_dir is not None and not summary.get("_synthetic"):
            summary["_shown"] = runstore.display_status(summary, run_dir)
    return pairs


def shown_status(summary: Optional[Dict[str, Any]]) -> str:
    if summary is None:
        return "missing"
    return summary.get("_shown") or summary.get("status") or "unknown"


def counts(pairs) -> Dict[str, int]:
    found: Dict[str, int] = {}
    for _, _, summary in pairs:
        status = shown_status(summary)
        found[status] = found.get(status, 0) + 1
    return found


def counts_text(found: Dict[str, int]) -> str:
    order = ("succeeded", "failed", "cancelled", "running", "submitted", "created",
             "interrupted", "lost", "corrupt", "missing")
    keys = sorted(found, key=lambda s: order.index(s) if s in order else len(order))
    return ", ".join(f"{found[k]} {k}" for k in keys) or "no points"


def swept_keys(record: Dict[str, Any]) -> List[str]:
    keys: List[str] = []
    for point in record.get("points") or []:
        for key in (point.get("point") or {}):
            if key not in keys:
                keys.append(key)
    return keys


def print_summary(root: Path, sweep_dir: Path, quiet: bool,
                  fields: Sequence[str] = ()) -> int:
    """The sweep's table (every point, or the unsuccessful ones of a large sweep),
    with the result ``fields`` (``-c``) after the swept keys; exit code 0 when
    every point succeeded, else 1."""
    record = sweep_store.read_sweep(sweep_dir)
    pairs = point_pairs(root, record, refresh=False)
    found = counts(pairs)
    total = len(pairs)
    ok = found.get("succeeded", 0) == total
    if not quiet:
        _summary_table(pairs, swept_keys(record), fields, total)
    line = f"sweep {record['sweep_id']}: {total} point(s): {counts_text(found)}"
    if ok:
        click.echo(line)
        return 0
    click.echo(f"Error: {line} (molexp runs --sweep {record['sweep_id']}; "
               "continue with --resume)", err=True)
    return 1


def _summary_table(pairs, keys: List[str], fields: Sequence[str], total: int) -> None:
    from molexp_core.cli.formatting import printable
    from molexp_core.cli.result_fields import MISSING, FieldReader
    from molexp_core.cli.table_text import cut, echo_table

    reader = FieldReader(pairs, keys)
    wanted = [f.strip() for text in fields for f in text.split(",")
              if f.strip() and f.strip() not in keys]
    for field in wanted:
        try:
            reader.check([field])
        except click.ClickException as exc:  # the sweep ran: say it, still show the table
            click.echo(f"warning: {exc.format_message()}", err=True)
    shown = [p for p in pairs if total <= SUMMARY_ROWS or shown_status(p[2]) != "succeeded"]
    if not shown:
        return
    rows = []
    for pair in shown:
        point, _, summary = pair
        status = shown_status(summary) + (" (reused)" if point.get("reused") else "")
        values = [reader.value(pair, f) for f in [*keys, *wanted]]
        rows.append([point.get("index"), point.get("run_id"), status,
                     *[None if v is MISSING else v for v in values],
                     cut(printable(str((summary or {}).get("error") or "")), 60)])
    headers = ("#", "RUN ID", "STATUS", *keys, *wanted, "ERROR")
    echo_table(headers, rows, raw=[False] * (len(headers) - 1) + [True])


def wait_sweep(root: Path, sweep_dir: Path, quiet: bool, fields: Sequence[str] = ()) -> int:
    """Poll (one scheduler call per refresh) until every point has ended."""
    import os
    import sys
    import time

    longest = float(os.environ.get("MOLEXP_POLL_MAX", "10"))
    delay, started, last = 0.25, time.time(), None
    tty = sys.stderr.isatty()
    try:
        while True:
            record = sweep_store.read_sweep(sweep_dir)
            pairs = point_pairs(root, record)
            found = counts(pairs)
            text = f"sweep {record['sweep_id']}: {counts_text(found)}"
            if not quiet and (tty or text != last):
                line = f"{text}, {time.time() - started:.0f}s"
                click.echo(("\r" + line.ljust(78)) if tty else line, err=True, nl=not tty)
            last = text
            if all(s in FINAL or s in ("interrupted", "lost", "missing", "corrupt")
                   for s in found):
                if tty and not quiet:
                    click.echo("", err=True)
                return print_summary(root, sweep_dir, quiet, fields)
            time.sleep(delay)
            delay = min(delay * 1.5, longest)
    except KeyboardInterrupt:
        click.echo(f"\nstopped waiting; sweep {sweep_dir.name} goes on (molexp status "
                   f"{sweep_dir.name}, molexp cancel {sweep_dir.name})", err=True)
        return 130

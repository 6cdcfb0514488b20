"""A sweep's points as rows: their runs' statuses (reconciled), summaries, waiting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from molexp_core.runs import sweep_store

FINAL = ("succeeded", "failed", "cancelled")
SUMMARY_ROWS = 50  # larger sweeps list only the points that did not succeed


def point_pairs(root: Path, record: Dict[str, Any], refresh: bool = True
                ) -> List[Tuple[Dict[str, Any], Optional[Path], Optional[Dict[str, Any]]]]:
    """(point, run dir, run summary) per point, from the per-profile run indexes;
    runs waiting on a scheduler are reconciled with ONE call per scheduler."""
    from molexp_core.runs import index as run_index
    from molexp_core.runs import store as runstore

    dirs = [sweep_store.run_dir_of(root, p) for p in record.get("points") or []]
    by_parent: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for run_dir in dirs:
        if run_dir is not None and str(run_dir.parent) not in by_parent:
            by_parent[str(run_dir.parent)] = dict(
                run_index.profile_summaries(run_dir.parent))
    pairs = []
    for point, run_dir in zip(record.get("points") or [], dirs):
        summary = None
        if run_dir is not None:
            summary = by_parent.get(str(run_dir.parent), {}).get(
                f"{run_dir.parent}/{run_dir.name}")
        pairs.append((point, run_dir, summary))
    if refresh:
        from molexp_core.scheduling.reconcile import needs_scheduler, reconcile

        live = [(d, s) for _, d, s in pairs if d is not None and s is not None]
        if any(needs_scheduler(s) for _, s in live):  # ONE call per scheduler
            from molexp_core.plugin_host.manager import get_plugin_host

            reconcile(live, get_plugin_host().schedulers())
    for index, (point, run_dir, summary) in enumerate(pairs):
        if summary is not None and run_dir is not None:
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
             "interrupted", "lost", "missing")
    keys = sorted(found, key=lambda s: order.index(s) if s in order else len(order))
    return ", ".join(f"{found[k]} {k}" for k in keys) or "no points"


def swept_keys(record: Dict[str, Any]) -> List[str]:
    keys: List[str] = []
    for point in record.get("points") or []:
        for key in (point.get("point") or {}):
            if key not in keys:
                keys.append(key)
    return keys


def value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)


def print_summary(root: Path, sweep_dir: Path, quiet: bool) -> int:
    """The sweep's table (every point, or the unsuccessful ones of a large sweep);
    exit code 0 when every point succeeded, else 1."""
    record = sweep_store.read_sweep(sweep_dir)
    pairs = point_pairs(root, record, refresh=False)
    found = counts(pairs)
    total = len(pairs)
    ok = found.get("succeeded", 0) == total
    if not quiet:
        keys = swept_keys(record)
        shown = [p for p in pairs if total <= SUMMARY_ROWS or shown_status(p[2]) != "succeeded"]
        if shown:
            header = ("#", "RUN ID", "STATUS", *keys, "ERROR")
            table = [header] + [
                (str(point.get("index")), point.get("run_id") or "-", shown_status(summary),
                 *[value_text((point.get("point") or {}).get(k)) for k in keys],
                 ((summary or {}).get("error") or "")[:60])
                for point, _, summary in shown]
            widths = [max(len(line[i]) for line in table) for i in range(len(header))]
            for line in table:
                click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    line = f"sweep {record['sweep_id']}: {total} point(s): {counts_text(found)}"
    if ok:
        click.echo(line)
        return 0
    click.echo(f"Error: {line} (molexp runs --sweep {record['sweep_id']}; "
               "continue with --resume)", err=True)
    return 1


def wait_sweep(root: Path, sweep_dir: Path, quiet: bool) -> int:
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
            if all(s in FINAL or s in ("interrupted", "lost", "missing") for s in found):
                if tty and not quiet:
                    click.echo("", err=True)
                return print_summary(root, sweep_dir, quiet)
            time.sleep(delay)
            delay = min(delay * 1.5, longest)
    except KeyboardInterrupt:
        click.echo(f"\nstopped waiting; sweep {sweep_dir.name} goes on (molexp status "
                   f"{sweep_dir.name}, molexp cancel {sweep_dir.name})", err=True)
        return 130

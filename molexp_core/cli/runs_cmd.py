"""``molexp runs``, ``molexp status RUN``, ``molexp cancel RUN``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from molexp_core.cli.completion import (complete_run_profiles, complete_runs_and_sweeps,
                                        complete_sweep_ids)
from molexp_core.cli.formatting import duration_text, printable, resume_hint
from molexp_core.cli.options import echo_json, json_option, runs_dir_option

STATUS_CHOICES = ("created", "submitted", "running", "succeeded", "failed",
                  "cancelled", "interrupted", "lost", "corrupt")


def load_runs(root: Path, profile: Optional[str] = None, status: Optional[str] = None,
              script: Optional[str] = None) -> List[Tuple[Path, Dict[str, Any]]]:
    """(run dir, summary) pairs, newest first (see ``runs.query.load_runs``)."""
    from molexp_core.runs.query import load_runs as query

    return query(root, profile, status, script)


def read_or_corrupt(run_dir: Path) -> Dict[str, Any]:
    """The run's record, or the summary of a corrupt one (status ``corrupt``)."""
    from molexp_core.runs import index as run_index
    from molexp_core.runs import store as runstore

    try:
        return runstore.read_run(run_dir)
    except runstore.CorruptRecord as exc:
        summary = run_index.corrupt_summary(run_dir, exc.reason)
        summary["error"] = exc.reason
        return summary


def _refresh(pairs) -> None:
    from molexp_core.cli.refresh import refresh

    refresh(pairs)


def summarize(run_dir: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    from molexp_core.runs import store as runstore

    status = runstore.display_status(record, run_dir)
    until = None
    if status == "interrupted":  # its clock stopped at the last write of run.json
        try:
            until = (run_dir / runstore.RUN_FILE).stat().st_mtime
        except OSError:
            pass
    tasks = record.get("tasks") or {}
    current = next((n for n, t in tasks.items() if t.get("status") == "running"), None)
    error = record.get("error")
    info = record.get("scheduler") or {}
    if status == "lost" and info.get("lost_reason"):
        error = info["lost_reason"]  # why the scheduler's word was not believed
    copied = record.get("run_id") not in (None, run_dir.name)
    if copied:  # copied or edited: say so
        error = (f"run.json says run_id {record.get('run_id')!r}; the directory is "
                 f"{run_dir.name!r} (copied or edited)")
    elif runstore.misplaced(run_dir, record):  # e.g. under another profile's folder
        copied, error = True, runstore.misplaced(run_dir, record)
    return {
        "current_task": current,
        "run_id": run_dir.name,
        "script": Path(record.get("script") or "?").name,
        "profile": record.get("profile"),
        "status": status,
        "config_hash": record.get("config_hash"),
        "created_at": record.get("created_at"),
        "duration": runstore.elapsed(record, until),
        "job_id": info.get("job_id"),
        "scheduler": info.get("name"),
        "submission": info.get("submission"),
        "tasks_done": sum(1 for t in tasks.values() if t.get("status") == "succeeded"),
        "tasks_total": len(tasks),
        "run_dir": str(run_dir),
        "error": error,
        "parent_run": record.get("parent_run"),
        "sweep": (record.get("sweep") or {}).get("id"),
        "copied": copied,  # not where its own record puts it: the error says why
    }


@click.command()
@click.option("--profile", "-p", default=None, help="Only runs of this profile.",
              shell_complete=complete_run_profiles)
@click.option("--script", "script", default=None, metavar="NAME",
              help="Only runs of this script (train.py, train, or a path to it).")
@click.option("--status", "-s", "status", type=click.Choice(STATUS_CHOICES), default=None,
              help="Only runs with this status.")
@click.option("--limit", "-n", type=click.IntRange(1), default=None,
              help="At most this many rows (a positive number).")
@click.option("--watch", "-w", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.option("--count", type=click.IntRange(1), default=None,
              help="With --watch: stop after this many refreshes.")
@click.option("--sweep", "sweep", default=None, metavar="SWEEP_ID",
              shell_complete=complete_sweep_ids,
              help="Only the points of this sweep, in point order.")
@click.option("--columns", "-c", "columns", multiple=True, is_flag=False, flag_value="",
              metavar="TASK.FIELD", help="Add these columns: result fields (-c Train.loss) "
              "or metrics (-c metrics.loss.last, .min, .max); repeatable or comma-separated. "
              "With --sweep: one row per point with the swept keys (-c alone: every scalar "
              "result field).")
@click.option("--sort", "sort", default=None, metavar="COLUMN",
              help="With --columns: sort by this column (a swept key, a result field, "
              "status or #).")
@click.option("--reverse", is_flag=True, help="With --sort: largest first.")
@click.option("--best", "best", default=None, metavar="FIELD",
              help="With --sweep: the point with the lowest FIELD (--max: highest), "
              "with its swept values, run id and result; NaN and missing never win.")
@click.option("--max", "largest", is_flag=True, help="With --best: highest wins.")
@click.option("--pivot", "pivot", default=None, metavar="KEY_A,KEY_B",
              help="With --sweep and one -c FIELD: a grid of FIELD, KEY_A down, KEY_B "
              "across.")
@click.option("--csv", "as_csv", is_flag=True, help="With --columns: print CSV.")
@json_option
@runs_dir_option
def runs(profile: Optional[str], script: Optional[str], status: Optional[str],
         limit: Optional[int], watch: bool, interval: float, count: Optional[int],
         sweep: Optional[str], columns: Tuple, sort: Optional[str], reverse: bool,
         best: Optional[str], largest: bool, pivot: Optional[str],
         as_csv: bool, as_json: bool,
         runs_dir: Optional[Path]) -> None:
    """List runs, newest first (--watch: a live monitor).

    -c adds columns: a task's result field (-c Train.loss) or a metric the tasks
    logged, as metrics.NAME.AGG with AGG one of last, min, max, first, count, step
    (-c metrics.loss.min; metrics.NAME alone means .last).

    With --sweep ID, list that sweep's points; add --columns for a comparison
    table of swept keys and results (--csv/--json load straight into pandas),
    --best FIELD for the point that won, --pivot KEY_A,KEY_B -c FIELD for a grid.
    """
    from molexp_core.runs import store as runstore

    root = runstore.runs_root(runs_dir)
    sweep_only = sort or as_csv or reverse or best or largest or pivot or columns == ("",)
    if sweep_only and not sweep:
        from molexp_core.errors import MolexpUsageError

        raise MolexpUsageError("--sort, --reverse, --csv, --best, --pivot and --columns "
                               "without a field compare the points of a sweep: add --sweep "
                               "SWEEP_ID (see `molexp sweeps`), or name the columns "
                               "(-c Train.loss)")
    if sweep and (columns or sweep_only) and not watch:
        _sweep_table(root, sweep, columns, sort, reverse, best, largest, pivot, status,
                     limit, as_csv, as_json)
        return

    extra: List[str] = []  # the -c columns, once rows() has read them

    def rows() -> List[Dict[str, Any]]:
        if sweep:
            return _sweep_rows(root, sweep, status, limit)
        pairs = load_runs(root, profile, status, script)
        _refresh(pairs)
        found = [(summarize(d, r), (d, r)) for d, r in pairs]
        if status:
            found = [pair for pair in found if pair[0]["status"] == status]
        found = found[:limit] if limit is not None else found
        if columns:  # result fields and metrics of each run shown (cli/sweep_table.py)
            from molexp_core.cli.sweep_table import run_columns

            extra[:], values = run_columns([pair for _, pair in found], columns)
            for (row, _), more in zip(found, values):
                row.update(more)
        return [row for row, _ in found]

    if watch:
        from molexp_core.cli.monitor import watch_runs

        watch_runs(rows, interval, count)
        return
    if as_json:
        echo_json(rows())
        return
    found = rows()
    print_table(found, extra)


def _sweep_table(root: Path, sweep: str, columns: Tuple, sort: Optional[str],
                 reverse: bool, best: Optional[str], largest: bool, pivot: Optional[str],
                 status: Optional[str], limit: Optional[int], as_csv: bool,
                 as_json: bool) -> None:
    from molexp_core.cli import sweep_table
    from molexp_core.errors import MolexpUsageError
    from molexp_core.runs import sweep_store

    if largest and not best:
        raise MolexpUsageError("--max goes with --best FIELD")
    if best and pivot:
        raise MolexpUsageError("--best and --pivot are two views: use one at a time")
    if as_csv and as_json:
        raise MolexpUsageError("--csv and --json: choose one")
    record = sweep_store.read_sweep(sweep_store.find_sweep(root, sweep))
    table = sweep_table.comparison(root, record, columns, best=best,
                                   terminal=not (as_csv or as_json or best or pivot))
    table.rows = [r for r in table.rows if status is None or r["status"] == status]
    if best:
        sweep_table.echo_best(table, best, largest, as_json, as_csv)
        return
    if pivot:
        sweep_table.echo_pivot(table, pivot, columns, as_json, as_csv)
        return
    sweep_table.sort_rows(table, sort, reverse)
    rows = table.rows[:limit]
    sweep_table.echo_rows(table, rows, "csv" if as_csv else "json" if as_json else "table")


def _sweep_rows(root: Path, sweep: str, status: Optional[str],
                limit: Optional[int]) -> List[Dict[str, Any]]:
    from molexp_core.cli.sweep_report import point_pairs
    from molexp_core.runs import sweep_store

    record = sweep_store.read_sweep(sweep_store.find_sweep(root, sweep))
    found = [dict(summarize(d, s), reused=bool(p.get("reused")))
             for p, d, s in point_pairs(root, record) if d is not None and s is not None]
    if status:
        found = [row for row in found if row["status"] == status]
    return found[:limit] if limit is not None else found


def print_table(rows: List[Dict[str, Any]], extra: Sequence[str] = ()) -> None:
    """The runs table; ``extra``: the ``-c`` columns after the usual ones."""
    if not rows:
        click.echo("no runs")
        return
    header = ("RUN ID", "SCRIPT", "PROFILE", "STATUS", "HASH", "CREATED", "DURATION", "JOB",
              *extra)
    table = [header] + [
        (
            row["run_id"], row["script"], row["profile"] or "-",
            row["status"] + (" (reused)" if row.get("reused") else "")
            + (" (copied)" if row.get("copied") else ""),
            (row["config_hash"] or "")[:8], (row["created_at"] or "")[:19].replace("T", " "),
            duration_text(row["duration"]),
            str(row["job_id"] or ("?" if row.get("submission") else "-")),
            *(_cell(row.get(column)) for column in extra),
        )
        for row in rows
    ]
    table = [tuple(printable(cell) for cell in line) for line in table]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())


def _cell(value: Any) -> str:
    from molexp_core.cli.table_text import cell

    return cell(value)


@click.command()
@click.argument("run", shell_complete=complete_runs_and_sweeps)
@json_option
@runs_dir_option
def status(run: str, as_json: bool, runs_dir: Optional[Path]) -> None:
    """Show one run's status (RUN: run directory or unique run-id prefix; or a
    sweep id, sw-...: its points' counts by status)."""
    from molexp_core.runs import store as runstore
    from molexp_core.runs.sweep_store import is_sweep_ref

    if is_sweep_ref(run):
        from molexp_core.cli.sweep_cmd import sweep_status

        sweep_status(runstore.runs_root(runs_dir), run, as_json)
        return

    run_dir = runstore.find_run(runstore.runs_root(runs_dir), run)
    pairs = [(run_dir, read_or_corrupt(run_dir))]
    _refresh(pairs)
    row = summarize(*pairs[0])
    row["resume_command"] = resume_hint(row["status"], *pairs[0])
    if as_json:
        echo_json(row)
        return
    for key in ("run_id", "script", "profile", "status", "scheduler", "job_id",
                "submission", "config_hash", "created_at", "run_dir", "error"):
        if row.get(key) is not None:
            click.echo(f"{key + ':':<13} {printable(row[key])}")
    click.echo(f"{'tasks:':<13} {row['tasks_done']}/{row['tasks_total']}")
    if row["resume_command"]:
        click.echo(f"{'resume:':<13} {row['resume_command']}")

"""``molexp sweeps``, and ``status``/``show``/``cancel`` of a sweep id (``sw-...``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from molexp_core.cli.formatting import printable
from molexp_core.cli.options import echo_json, json_option, runs_dir_option
from molexp_core.cli.sweep_report import (counts, counts_text, point_pairs, shown_status,
                                          swept_keys)
from molexp_core.runs import sweep_store


def sweep_summary(root: Path, directory: Path, refresh: bool = True) -> Dict[str, Any]:
    record = sweep_store.read_sweep(directory)
    pairs = point_pairs(root, record, refresh=refresh)
    return {
        "sweep_id": record["sweep_id"],
        "name": record.get("name"),
        "script": Path(str(record.get("script") or "?")).name,
        "profile": record.get("profile"),
        "size": len(record["points"]),
        "counts": counts(pairs),
        "keys": swept_keys(record),
        "scheduler": (record.get("scheduler") or {}).get("name"),
        "arrays": [a.get("job_id") for a in record.get("arrays") or []],
        "created_at": record.get("created_at"),
        "sweep_dir": str(directory),
    }


@click.command()
@click.option("--limit", "-n", type=click.IntRange(1), default=None,
              help="At most this many sweeps (newest first).")
@json_option
@runs_dir_option
def sweeps(limit: Optional[int], as_json: bool, runs_dir: Optional[Path]) -> None:
    """List sweeps, newest first: size and their points' counts by status."""
    from molexp_core.runs import store as runstore

    root = runstore.runs_root(runs_dir)
    rows = []
    for directory in sweep_store.list_sweeps(root)[:limit]:
        try:
            rows.append(sweep_summary(root, directory))
        except sweep_store.SweepStoreError as exc:
            click.echo(f"warning: {exc.format_message()}", err=True)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sweeps")
        return
    table = [("SWEEP ID", "NAME", "SCRIPT", "PROFILE", "SIZE", "POINTS", "CREATED")] + [
        (r["sweep_id"], r["name"] or "(inline)", r["script"], r["profile"] or "-",
         str(r["size"]), counts_text(r["counts"]),
         (r["created_at"] or "")[:19].replace("T", " "))
        for r in rows]
    table = [tuple(printable(c) for c in line) for line in table]  # escape codes shown
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def sweep_status(root: Path, ref: str, as_json: bool) -> None:
    row = sweep_summary(root, sweep_store.find_sweep(root, ref))
    if as_json:
        echo_json(row)
        return
    for key in ("sweep_id", "name", "script", "profile", "scheduler", "size", "created_at",
                "sweep_dir"):
        if row.get(key) is not None:
            click.echo(f"{key + ':':<13} {printable(row[key])}")
    if row["arrays"]:
        click.echo(f"{'arrays:':<13} {', '.join(str(a) for a in row['arrays'])}")
    click.echo(f"{'keys:':<13} {', '.join(row['keys'])}")
    click.echo(f"{'points:':<13} {counts_text(row['counts'])}")


def sweep_show(root: Path, ref: str, as_json: bool) -> None:
    directory = sweep_store.find_sweep(root, ref)
    record = sweep_store.read_sweep(directory)
    if as_json:
        echo_json(record)
        return
    sweep_status(root, ref, False)
    click.echo(f"{'definition:':<13} "
               + (" ".join(record.get("inline") or []) or "(from the config file)"))
    click.echo(f"{'overrides:':<13} {' '.join(record.get('overrides') or []) or '(none)'}")
    click.echo(f"{'record:':<13} {directory / sweep_store.SWEEP_FILE}")
    click.echo(f"(points: molexp runs --sweep {record['sweep_id']} --columns)")


def _still_running(run_dir: Path) -> bool:
    from molexp_core.runs import store as runstore

    try:
        return runstore.read_run(run_dir).get("status") == "running"
    except runstore.RunStoreError:
        return False


def sweep_cancel(root: Path, ref: str) -> None:
    """Every unfinished point: one cancel per array (one scancel), else per job or
    by signalling the local sweep's process."""
    import os
    import signal

    from molexp_core.errors import MolexpError
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.runs import store as runstore

    directory = sweep_store.find_sweep(root, ref)
    record = sweep_store.read_sweep(directory)
    pairs = point_pairs(root, record)
    open_points = [(p, d, s) for p, d, s in pairs
                   if d is not None and shown_status(s) in ("created", "submitted", "running")]
    if not open_points:
        raise MolexpError(f"sweep {record['sweep_id']}: no unfinished point "
                          f"({counts_text(counts(pairs))}); nothing to cancel")
    schedulers = get_plugin_host().schedulers()
    by_job: Dict[str, List[Any]] = {}
    for point, run_dir, summary in open_points:
        info = (summary or {}).get("scheduler") or {}
        job = info.get("job_id")
        if job and info.get("name") not in (None, "local"):
            by_job.setdefault(f"{info['name']}|{str(job).split('_')[0]}", []).append(run_dir)
    for key in by_job:
        name, job = key.split("|", 1)
        scheduler = schedulers.get(name)
        if scheduler is not None:
            scheduler.cancel(job)  # a whole array in one call
    running = [d for _, d, s in open_points if shown_status(s) == "running"]
    if by_job and running:  # let running points record their SIGTERM first (briefly)
        deadline = time.time() + 15
        while running and time.time() < deadline:
            time.sleep(0.5)
            running = [d for d in running if _still_running(d)]
    pid = record.get("pid")
    from molexp_core.runs import processes

    if (processes.same_process(pid, record.get("pid_start"))  # never a group, pid <= 1
            and record.get("host") == runstore.hostname()  # or a reused pid
            and (record.get("scheduler") or {}).get("name") == "local"):
        try:
            os.kill(pid, signal.SIGTERM)  # the sweep's process stops its points
        except ProcessLookupError:
            pass
        for _ in range(100):
            if not any(runstore.is_locked(d) for _, d, _ in open_points):
                break
            time.sleep(0.1)

    def mark(rec: Dict[str, Any]) -> None:
        from molexp_core.scheduling.reconcile import TERMINATED

        if rec.get("status") not in ("succeeded", "failed", "cancelled"):
            rec["status"] = "cancelled"
            rec["finished_at"] = runstore.now_iso()
            rec["error"] = rec.get("error") or "cancelled by user"
        if rec.get("status") == "cancelled" and rec.get("error") in (
                TERMINATED, "interrupted (Ctrl-C)"):
            rec["error"] = "cancelled by user"

    cancelled = 0
    for _, run_dir, _ in open_points:
        try:
            if runstore.update_run(run_dir, mark).get("status") == "cancelled":
                cancelled += 1
        except MolexpError:
            continue
    arrays = sorted({k.split("|", 1)[1] for k in by_job})
    click.echo(f"sweep {record['sweep_id']}: {cancelled} point(s) cancelled"
               + (f" (job array {', '.join(arrays)})" if arrays else ""))

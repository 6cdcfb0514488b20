"""``molexp sweeps``, and ``status``/``show``/``cancel`` of a sweep id (``sw-...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import click

from molexp_core.cli.formatting import printable
from molexp_core.cli.options import echo_json, json_option, runs_dir_option
from molexp_core.cli.sweep_report import counts, counts_text, point_pairs, swept_keys
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

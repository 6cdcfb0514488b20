"""The metrics and artifacts sections of ``molexp show`` (text and ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import click

SHOWN = 20  # metrics, and files per task, listed in text; --json has them all


def collect(run_dir: Path, record: Dict[str, Any]) -> Tuple[Any, Dict[str, Any], list]:
    """``(MetricsLog or None, artifacts by task, notes)``: what ``show`` prints; a file
    that cannot be used becomes a note, never an error."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs.artifacts import read_artifacts
    from molexp_core.runs.metrics import read_metrics

    notes = []
    try:
        metrics = read_metrics(run_dir)
        notes += metrics.notes
        if metrics.skipped > len(metrics.notes):
            notes.append(f"metrics.jsonl: {metrics.skipped} line(s) skipped in all")
    except MolexpError as exc:
        metrics = None
        notes.append(f"metrics not shown: {exc.format_message()}")
    try:
        artifacts = read_artifacts(run_dir, record)
    except MolexpError as exc:
        artifacts = {}
        notes.append(f"artifacts not shown: {exc.format_message()}")
    return metrics, artifacts, notes


def json_fields(run_dir: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    """``metrics`` (name -> summary), ``artifacts`` (task -> index), ``notes``."""
    metrics, artifacts, notes = collect(run_dir, record)
    return {"metrics": metrics.summary() if metrics is not None else {},
            "artifacts": artifacts, "data_notes": notes}


def echo_text(run_dir: Path, record: Dict[str, Any]) -> None:
    metrics, artifacts, notes = collect(run_dir, record)
    if metrics:
        values = sum(series.count for series in metrics.values())
        click.echo(f"metrics:       {len(metrics)} in metrics.jsonl ({values} values)")
        width = min(max(len(name) for name in metrics), 40)
        for index, (name, series) in enumerate(metrics.items()):
            if index == SHOWN:
                click.echo(f"  ... and {len(metrics) - SHOWN} more (--json lists them all)")
                break
            click.echo(f"  {_clip(name, 40):<{width}}  last {_number(series.last)} "
                       f"(step {series.last_step})  min {_number(series.min)}  "
                       f"max {_number(series.max)}  count {series.count}")
    if artifacts:
        click.echo("artifacts:")
        for task, index in artifacts.items():
            _echo_index(task, index)
    for note in notes:
        click.echo(f"note: {note}")


def _echo_index(task: str, index: Dict[str, Any]) -> None:
    if index.get("error"):
        click.echo(f"  {_clip(task, 60)}: {index['dir']}: {_clip(index['error'], 300)}")
        return
    skipped = index.get("skipped_count") or 0
    click.echo(f"  {_clip(task, 60)}: {index['count']} file(s), {_size(index['bytes'])} in "
               f"{index['dir']}/" + (f" ({skipped} skipped)" if skipped else "")
               + ("" if index.get("complete") else " (incomplete)"))
    files = index["files"]
    width = min(max((len(f["path"]) for f in files[:SHOWN]), default=0), 60)
    for item in files[:SHOWN]:
        digest = (item["sha256"] or "not hashed")[:16]
        click.echo(f"    {_clip(item['path'], 60):<{width}}  {_size(item['size']):>9}  "
                   f"{digest}")
    if len(files) > SHOWN:
        click.echo(f"    ... and {len(files) - SHOWN} more (--json lists them all)")
    for item in index.get("skipped") or []:
        click.echo(f"    skipped {_clip(item['path'], 60)}: {_clip(item['reason'], 200)}")
    for note in index.get("notes") or []:
        click.echo(f"    note: {_clip(note, 200)}")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _clip(text: str, width: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover

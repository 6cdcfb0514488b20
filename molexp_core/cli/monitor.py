"""``molexp runs --watch``: a live table of runs, refreshed in place on a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, List, Optional

import click

from molexp_core.cli.formatting import duration_text, printable

COLOURS = {"succeeded": "green", "failed": "red", "cancelled": "yellow",
           "interrupted": "magenta", "running": "cyan", "submitted": "blue"}
HEADER = ("RUN ID", "PROFILE", "STATUS", "JOB", "ELAPSED", "TASK", "PROGRESS", "PARENT")


def render(rows: List[Dict[str, Any]], colour: bool) -> List[str]:
    table = [HEADER] + [
        (
            row["run_id"], row["profile"] or "-", row["status"], str(row["job_id"] or "-"),
            duration_text(row["duration"]), row["current_task"] or "-",
            f"{row['tasks_done']}/{row['tasks_total']}", row.get("parent_run") or "-",
        )
        for row in rows
    ]
    table = [tuple(printable(cell) for cell in line) for line in table]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = []
    for index, line in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(line, widths)]
        if colour and index and line[2] in COLOURS:
            cells[2] = click.style(cells[2], fg=COLOURS[line[2]])
        lines.append("  ".join(cells).rstrip())
    return lines


def watch_runs(rows: Callable[[], List[Dict[str, Any]]], interval: float,
               count: Optional[int]) -> None:
    """Refresh until Ctrl-C (or ``count`` refreshes): in place on a terminal,
    one plain block per refresh when piped."""
    import os
    import shutil

    tty = sys.stdout.isatty()
    colour = tty and not os.environ.get("NO_COLOR")  # https://no-color.org
    done = 0
    try:
        while True:
            stamp = time.strftime("%H:%M:%S")
            lines = render(rows(), colour=colour)
            if tty:
                # newest first, cut to the screen: the header and newest rows stay put
                room = max(3, shutil.get_terminal_size().lines - 2)
                if len(lines) > room:
                    hidden = len(lines) - (room - 1)
                    lines = lines[:room - 1] + [f"... {hidden} older run(s) not shown"]
                click.echo("\x1b[H\x1b[2J", nl=False)  # home + clear
                click.echo(f"molexp runs --watch  {stamp}  (Ctrl-C to leave)")
            else:
                click.echo(f"# {stamp}")
            click.echo("\n".join(lines) if len(lines) > 1 else "no runs")
            done += 1
            if count is not None and done >= count:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("", err=True)

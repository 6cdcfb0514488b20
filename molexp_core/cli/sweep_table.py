"""``molexp runs --sweep ID --columns``: one row per point, swept keys and results;
``--best FIELD`` (which point won) and ``--pivot KEY_A,KEY_B`` (a 2-axis grid).

Columns: ``#`` (the point's index), ``run_id``, ``status``, the swept keys, then
result fields given as ``TASK.path.in.result`` (``-c Train.loss``; see
``result_fields``) and metrics as ``metrics.NAME.AGG`` (``-c metrics.loss.min``;
``metric_columns``).  Without ``-c``, every scalar field of every point's task
results is shown (the union, in order of first appearance; on a terminal at most
:data:`AUTO_COLUMNS`, the rest named on stderr; CSV and JSON hold them all).  A
``-c`` field that no point has is refused, like ``--sort bogus``.  Points reused
by ``--skip-succeeded`` say so (``succeeded (reused)``; a ``reused`` column in CSV
and JSON).  NaN, null and missing values sort last in both directions and never
win ``--best``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from molexp_core.cli import table_text
from molexp_core.cli.result_fields import MISSING, FieldReader, is_missing, is_number
from molexp_core.cli.sweep_report import point_pairs, shown_status, swept_keys
from molexp_core.errors import MolexpError, MolexpUsageError

AUTO_COLUMNS = 12
TITLES = {"run_id": "RUN ID", "status": "STATUS"}


class Comparison:
    """A sweep's points as rows of named columns."""

    def __init__(self, columns: List[str], rows: List[Dict[str, Any]],
                 reader: FieldReader) -> None:
        self.columns = columns
        self.rows = rows
        self.reader = reader

    @property
    def reused(self) -> bool:
        return any(row.get("reused") for row in self.rows)

    def data_columns(self) -> List[str]:
        return self.columns + (["reused"] if self.reused else [])


def run_columns(pairs: Sequence[Tuple[Path, Dict[str, Any]]], fields: Sequence[str]
                ) -> Tuple[List[str], List[Dict[str, Any]]]:
    """``molexp runs -c`` without ``--sweep``: the columns named in ``fields`` (result
    fields and metrics) and, for each ``(run dir, summary)``, their values (None when
    the run has none), checked as a sweep's columns are."""
    wanted = split_fields(fields)
    reader = FieldReader([({}, run_dir, summary) for run_dir, summary in pairs], [])
    reader.check(wanted)
    rows = []
    for pair in reader.pairs:
        values = {}
        for field in wanted:
            value = reader.value(pair, field)
            values[field] = None if value is MISSING else value
        rows.append(values)
    return wanted, rows


def split_fields(texts: Sequence[str]) -> List[str]:
    return [f.strip() for text in texts for f in text.split(",") if f.strip()]


def comparison(root: Path, record: Dict[str, Any], fields: Sequence[str],
               terminal: bool = True, best: Optional[str] = None) -> Comparison:
    """Rows for ``fields`` (``-c``), or every scalar result field when none are
    named (capped at AUTO_COLUMNS for a terminal table); ``best``: a field
    ``--best`` needs, shown after them."""
    pairs = point_pairs(root, record)
    keys = swept_keys(record)
    reader = FieldReader(pairs, keys)
    wanted = split_fields(fields)
    if wanted:
        reader.check(wanted)
    if best:
        reader.check([best], "--best")
        wanted.append(best)
    if not wanted:
        wanted = reader.known()[0]
        if terminal and len(wanted) > AUTO_COLUMNS:
            click.echo(f"note: {len(wanted) - AUTO_COLUMNS} more result field(s) not shown "
                       f"({', '.join(wanted[AUTO_COLUMNS:])}); name them with -c, or use "
                       "--csv/--json (every field)", err=True)
            wanted = wanted[:AUTO_COLUMNS]
    columns = ["#", "run_id", "status", *keys, *[f for f in wanted if f not in keys]]
    rows = []
    for pair in pairs:
        point, _, summary = pair
        row: Dict[str, Any] = {"#": point.get("index"), "run_id": point.get("run_id"),
                               "status": shown_status(summary),
                               "reused": bool(point.get("reused"))}
        for column in columns[3:]:
            value = reader.value(pair, column)
            row[column] = None if value is MISSING else value
        row["_pair"] = pair
        rows.append(row)
    return Comparison(columns, rows, reader)


def sort_rows(table: Comparison, sort: Optional[str], reverse: bool) -> None:
    """Sort by a column; rows with no value (missing, null, NaN) last either way."""
    if not sort:
        return
    if sort not in table.columns:
        raise MolexpUsageError(f"--sort {sort!r}: not a column; columns: "
                               f"{', '.join(table.columns)}")
    present = [r for r in table.rows if not is_missing(r.get(sort))]
    absent = [r for r in table.rows if is_missing(r.get(sort))]
    present.sort(key=lambda r: _sort_key(r[sort]), reverse=reverse)
    table.rows = present + absent


def _sort_key(value: Any) -> Tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, table_text.json_text(value, indent=None))


def best_row(table: Comparison, field: str, largest: bool) -> Dict[str, Any]:
    """The succeeded point with the lowest (``largest``: highest) number in
    ``field``; the first in point order on a tie.  NaN, null, missing and
    non-numbers never win."""
    done = [r for r in table.rows if r["status"] == "succeeded"]
    scored = [r for r in done if is_number(r.get(field))]
    if not scored:
        text = [r for r in done if isinstance(r.get(field), str)]
        raise MolexpError(
            f"--best {field}: no succeeded point has a number there "
            f"({len(done)} succeeded of {len(table.rows)}"
            + (f"; {field} holds text, e.g. {text[0][field]!r}" if text else "") + ")")
    pick = max if largest else min
    winner = pick(scored, key=lambda r: r[field])
    winner = dict(winner)
    winner["_ties"] = [r["#"] for r in scored
                       if r[field] == winner[field] and r["#"] != winner["#"]]
    winner["_scored"] = len(scored)
    winner["_unscored"] = [r["#"] for r in table.rows if not is_number(r.get(field))
                           or r["status"] != "succeeded"]
    return winner


def echo_best(table: Comparison, field: str, largest: bool, as_json: bool,
              as_csv: bool) -> None:
    winner = best_row(table, field, largest)
    keys = table.reader.keys
    if as_json:
        results = {c: winner.get(c) for c in table.columns[3 + len(keys):]}
        click.echo(table_text.json_text({
            "field": field, "goal": "max" if largest else "min", "value": winner[field],
            "index": winner["#"], "run_id": winner["run_id"], "status": winner["status"],
            "run_dir": str(winner["_pair"][1]) if winner["_pair"][1] else None,
            "point": {k: winner.get(k) for k in keys}, "results": results,
            "reused": winner["reused"], "ties": winner["_ties"],
            "compared": winner["_scored"], "not_compared": winner["_unscored"]}))
        return
    if as_csv:
        echo_rows(table, [winner], "csv")
        return
    goal = "highest" if largest else "lowest"
    others = winner["_unscored"]
    click.echo(f"best {field}: {table_text.cell(winner[field], width=60)} ({goal} of "
               f"{winner['_scored']} succeeded point(s)"
               + (f"; not compared: {_numbers(others)} (no number: NaN, missing, "
                  "or not succeeded)" if others else "")
               + (f"; tied with {_numbers(winner['_ties'])}" if winner["_ties"] else "")
               + ")")
    echo_rows(table, [winner], "table")


def _numbers(indexes: Sequence[Any]) -> str:
    shown = ", ".join(f"#{i}" for i in indexes[:10])
    return shown + (f" and {len(indexes) - 10} more" if len(indexes) > 10 else "")


def echo_pivot(table: Comparison, axes: str, fields: Sequence[str], as_json: bool,
               as_csv: bool) -> None:
    """KEY_A down, KEY_B across, one result field in the cells."""
    parts = [a.strip() for a in axes.split(",")]
    keys = table.reader.keys
    if len(parts) != 2 or len(set(parts)) != 2 or not all(parts):
        raise MolexpUsageError(f"--pivot {axes!r}: name two swept keys, KEY_A,KEY_B "
                               f"(this sweep's: {', '.join(keys)})")
    for part in parts:
        if part not in keys:
            from molexp_core.errors import closest

            hint = closest(part, keys)
            raise MolexpUsageError(f"--pivot: {part!r} is not a swept key of this sweep"
                                   + (f" (did you mean {hint!r}?)" if hint else "")
                                   + f"; swept keys: {', '.join(keys)}")
    wanted = split_fields(fields)
    if len(wanted) != 1:
        raise MolexpUsageError("--pivot shows one field in its cells: add exactly one "
                               "-c TASK.FIELD")
    down, across = parts
    field = wanted[0]
    cells: Dict[Tuple[str, str], Any] = {}
    rows_seen: Dict[str, Any] = {}
    cols_seen: Dict[str, Any] = {}
    for row in table.rows:
        a, b = _key_text(row.get(down)), _key_text(row.get(across))
        rows_seen.setdefault(a, row.get(down))
        cols_seen.setdefault(b, row.get(across))
        if (a, b) in cells:
            others = [k for k in keys if k not in parts]
            raise MolexpUsageError(
                f"--pivot {down},{across}: more than one point has {down}={a}, "
                f"{across}={b}" + (f" (they differ in {', '.join(others)}); filter with "
                                   "--status, or pivot a sweep of two axes" if others else ""))
        cells[(a, b)] = row.get(field)
    headers = [down] + [f"{across}={t}" for t in cols_seen]
    grid = [[rows_seen[a]] + [cells.get((a, b)) for b in cols_seen] for a in rows_seen]
    if as_json:
        table_text.echo_json_rows(headers, grid)
    elif as_csv:
        table_text.echo_csv(headers, grid)
    else:
        click.echo(f"{field} by {down} (rows) and {across} (columns):")
        _echo_grid(headers, grid)


def _key_text(value: Any) -> str:
    return table_text.json_text(value, indent=None) if not isinstance(value, str) else value


def _echo_grid(headers: List[str], grid: List[List[Any]]) -> None:
    """Every cell of the grid is one column's worth of floats: read alike."""
    floats = table_text.float_texts(v for row in grid for v in row[1:])
    texts = [[table_text.cell(row[0])] + [table_text.cell(v, floats) for v in row[1:]]
             for row in grid]
    table_text.echo_table(headers, texts, raw=[True] * len(headers))


def echo_rows(table: Comparison, rows: Sequence[Dict[str, Any]], how: str) -> None:
    """The rows as a terminal ``table``, ``csv`` or ``json``."""
    if how == "table":
        columns = table.columns
        data = [[_status_text(r) if c == "status" else r.get(c) for c in columns]
                for r in rows]
        table_text.echo_table([TITLES.get(c, c) for c in columns], data)
        return
    columns = table.data_columns()
    headers = ["index" if c == "#" else c for c in columns]
    data = [[r.get(c) for c in columns] for r in rows]
    if how == "csv":
        table_text.echo_csv(headers, data)
    else:
        table_text.echo_json_rows(headers, data)


def _status_text(row: Dict[str, Any]) -> str:
    return f"{row['status']} (reused)" if row.get("reused") else row["status"]

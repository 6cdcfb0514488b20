"""Tables of values on a terminal, as CSV and as JSON: one way for every table.

- On a terminal every value is made printable (``printable``: an escape code in a
  result shows as ``\\x1b[31m``, it does not recolour the screen), text longer than
  :data:`CELL_WIDTH` is cut and ends with ``…``, and a column's floats keep their
  type (``1.0``, never ``1``) with enough digits to tell its values apart: Python's
  shortest form (``1.493333``) up to :data:`FLOAT_DIGITS` significant digits, more
  where two values would otherwise read the same.
- CSV keeps values as they are (numbers as numbers, text raw; escaped only when
  written to a terminal); lists and mappings as JSON text.
- A table's JSON is strict JSON: NaN and infinities are written as ``null`` (as
  JavaScript's ``JSON.stringify`` does), so every parser reads it (records keep the
  ``NaN`` tokens of result files: ``options.echo_json``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, Iterable, Optional, Sequence

import click

from molexp_core.cli.formatting import printable

CELL_WIDTH = 40
FLOAT_DIGITS = 8
_INT_LIKE = re.compile(r"-?\d+")


def cut(text: str, width: int = CELL_WIDTH) -> str:
    """``text`` in at most ``width`` characters; a cut one ends with ``…``."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _significant(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.strip("0")) or 1


def _float_text(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = repr(value)
    if _significant(text) > digits:
        text = f"{value:.{digits}g}"
        if _INT_LIKE.fullmatch(text) and float(text) != value:
            text = f"{value:.{digits - 1}e}"
    if _INT_LIKE.fullmatch(text):
        text += ".0"  # a float stays a float: 1.0, not 1
    return text


def float_texts(values: Iterable[Any]) -> Dict[float, str]:
    """How each float of a column reads: the fewest digits (at least
    FLOAT_DIGITS) that keep distinct values distinct."""
    floats = sorted({v for v in values if isinstance(v, float) and math.isfinite(v)})
    texts: Dict[float, str] = {}
    for digits in range(FLOAT_DIGITS, 18):
        texts = {v: _float_text(v, digits) for v in floats}
        if len(set(texts.values())) == len(floats):
            break
    return texts


def cell(value: Any, floats: Optional[Dict[float, str]] = None, width: int = CELL_WIDTH
         ) -> str:
    """One value as a terminal cell (``-`` for none)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = (floats or {}).get(value) or _float_text(value, FLOAT_DIGITS)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(strict(value), ensure_ascii=False, default=str)
    return cut(printable(text), width)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
               raw: Sequence[bool] = ()) -> None:
    """An aligned table; ``raw[i]``: column i is already text (not cut again)."""
    columns = list(zip(*rows)) if rows else [() for _ in headers]
    floats = [float_texts(column) for column in columns]
    lines = [[printable(h) for h in headers]]
    for row in rows:
        lines.append([value if (i < len(raw) and raw[i]) else cell(value, floats[i])
                      for i, value in enumerate(row)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def echo_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    import csv
    import io

    terminal = click.get_text_stream("stdout").isatty()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_csv_value(v, terminal) for v in row])
    click.echo(buffer.getvalue(), nl=False)


def _csv_value(value: Any, terminal: bool) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(strict(value), ensure_ascii=False)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    return printable(value) if terminal and isinstance(value, str) else value


def strict(value: Any) -> Any:
    """``value`` with every NaN and infinity replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


_C1 = re.compile("[\u0080-\u009f]")


def json_text(data: Any, indent: Optional[int] = 2) -> str:
    """Strict JSON (no NaN tokens), C1 control characters escaped too."""
    text = json.dumps(strict(data), indent=indent, ensure_ascii=False, default=str)
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_json_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A JSON list of flat objects (``pandas.DataFrame(json.load(f))``)."""
    click.echo(json_text([dict(zip(headers, row)) for row in rows]))

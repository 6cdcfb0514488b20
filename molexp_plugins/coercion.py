"""The built-in override coercion rule: bool, then int, then float, else str."""

from __future__ import annotations

import math
import re

from molexp_core import hookimpl

# Plain ASCII decimal literals only: Python's int()/float() also accept "1_000",
# "2024_01_15" and non-ASCII digits, which must stay text (a date tag is no number).
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def coerce(raw: str):
    lowered = raw.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    text = raw.strip()
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        value = float(text)
        return value if math.isfinite(value) else raw  # 1e999 stays text
    return raw  # "nan", "inf" and everything else stay text


@hookimpl(trylast=True)
def molexp_coerce_override(key, raw):
    return coerce(raw)

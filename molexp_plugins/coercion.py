"""The built-in override coercion rule: bool, then int, then float, else str."""

from __future__ import annotations

import math

from molexp_core import hookimpl


def coerce(raw: str):
    lowered = raw.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw  # "nan"/"inf" stay text


@hookimpl(trylast=True)
def molexp_coerce_override(key, raw):
    return coerce(raw)

"""The JSON loader (``molcfg.json``): strict JSON, no NaN/Infinity, no duplicate keys."""

from __future__ import annotations

import json
from pathlib import Path

from molexp_core import ConfigError, check_file_size, hookimpl


class _Refused(ValueError):
    pass


@hookimpl  # after the YAML loader's (tryfirst) candidates: molcfg.yaml, .yml, .json
def molexp_config_candidates(directory):
    return [Path(directory) / "molcfg.json"]


@hookimpl
def molexp_load_config(path):
    path = Path(path)
    if path.suffix.lower() != ".json":
        return None
    check_file_size(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    if not text.strip():
        raise ConfigError("the file is empty; it must hold an object with \"version\": 1", path)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ConfigError(exc.msg, path, exc.lineno, exc.colno) from None
    except _Refused as exc:
        raise ConfigError(str(exc), path) from None
    except RecursionError:
        raise ConfigError("nesting too deep", path) from None


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"duplicate key {key!r} (each key may appear once per object)")
        result[key] = value
    return result


def _no_constants(name):
    raise _Refused(f"{name} is not allowed in a config (JSON numbers must be finite)")

"""A cache of parsed config files, so repeated runs skip the YAML parser.

An entry is keyed on the file's path, size, inode, modification time and
status-change time (ns; any write, rename or ``utime`` moves the latter, so a
file replaced by ``cp -p`` with the same size and mtime is still seen as new),
and on the set of loaded plugins (another
loader could read the file differently).  Line numbers (:class:`LineDict`)
survive the round trip.  ``MOLEXP_NO_CONFIG_CACHE=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

from molexp_core.config.documents import LineDict

_TAG = "__molexp_linedict__"


def _key(path: Path, plugins: Sequence[str]) -> Optional[str]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    text = f"{path.resolve()}|{st.st_size}|{st.st_ino}|{st.st_mtime_ns}|{st.st_ctime_ns}|{','.join(plugins)}"
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _file(key: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "molexp", "configs", f"{key}.json")


def enabled() -> bool:
    return os.environ.get("MOLEXP_NO_CONFIG_CACHE", "") in ("", "0")


def get(path: Path, plugins: Sequence[str]) -> Any:
    """The cached document, or ``None``."""
    key = _key(path, plugins)
    if key is None:
        return None
    try:
        with open(_file(key), encoding="utf-8") as handle:
            return json.load(handle, object_hook=_decode)
    except (OSError, ValueError):
        return None


def put(path: Path, plugins: Sequence[str], document: Any) -> None:
    key = _key(path, plugins)
    if key is None:
        return
    target = _file(key)
    try:
        text = json.dumps(_encode(document), allow_nan=False)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        pass  # not cacheable (or no writable cache): parse again next time


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        items = {str(k): _encode(v) for k, v in value.items()}
        if any(not isinstance(k, str) for k in value):
            raise TypeError("non-string keys are not cached")
        if isinstance(value, LineDict):
            return {_TAG: [value.line, value.key_lines], "items": items}
        if _TAG in value:
            raise TypeError("reserved key")
        return items
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(obj: dict) -> Any:
    if _TAG in obj:
        line, key_lines = obj[_TAG]
        result = LineDict(obj["items"])
        result.line = line
        result.key_lines = key_lines
        return result
    return obj

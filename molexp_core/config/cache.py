"""A cache of parsed config files, so repeated runs skip the YAML parser.

An entry is keyed on the file's state *before* it is parsed: its resolved path,
the SHA-256 of its bytes, and the set of loaded plugins (another loader could
read the file differently).  After the parse the state is read again; if the
file changed meanwhile (its bytes, or its inode, size or times, which also
catch a change and its undoing), the parse may have seen either version, so
nothing is stored and the file is parsed again (see :func:`parse_stable`).
A hit is therefore always the parse of exactly the bytes on disk, whatever the
timestamps' granularity.  Line numbers (:class:`LineDict`) survive the round
trip.  ``MOLEXP_NO_CONFIG_CACHE=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Tuple

from molexp_core.config.documents import MAX_CONFIG_BYTES, LineDict

_TAG = "__molexp_linedict__"
ATTEMPTS = 3  # parses of a file that keeps changing before giving up caching it

State = Tuple[Tuple[int, ...], str]


def state(path: Path) -> Optional[State]:
    """(inode, size, mtime, ctime) and the digest of the bytes; ``None``: uncacheable."""
    try:  # non-blocking: a FIFO put in the file's place must not hang molexp
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CONFIG_BYTES:
                return None  # the loader refuses it; nothing to cache
            data = handle.read(MAX_CONFIG_BYTES + 1)
            after = os.fstat(fd)
    except OSError:
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if stamp != (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns):
        return None  # written to while read
    return stamp, hashlib.sha256(data).hexdigest()


def _key(path: Path, digest: str, plugins: Sequence[str]) -> str:
    text = f"{path.resolve()}|{digest}|{','.join(plugins)}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def parse_stable(path: Path, plugins: Sequence[str], parse: Callable[[], Any]) -> Any:
    """``parse()``'s result for ``path``, from the cache when the bytes are known.

    The state is taken before each parse and compared after it: an unchanged
    file is stored under the state it had *before* the parse; a file that
    changed while parsed is parsed again (a few times, then used uncached).
    """
    before = state(path)
    if before is not None:
        cached = get(_key(path, before[1], plugins))
        if cached is not None:
            return cached
    for _ in range(ATTEMPTS):
        result = parse()
        after = state(path)
        if result is None or before is None or after is None:
            return result
        if after == before:
            put(_key(path, before[1], plugins), result)
            return result
        before = after  # changed while parsed: the parse may hold either version
    return result


def enabled() -> bool:
    return os.environ.get("MOLEXP_NO_CONFIG_CACHE", "") in ("", "0")


def get(key: str) -> Any:
    """The cached document, or ``None``."""
    try:
        with open(_file(key), encoding="utf-8") as handle:
            return json.load(handle, object_hook=_decode)
    except (OSError, ValueError, RecursionError):
        return None


def put(key: str, document: Any) -> None:
    target = _file(key)
    try:
        text = json.dumps(_encode(document), allow_nan=False)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError, RecursionError):
        pass  # not cacheable (or no writable cache): parse again next time


def _file(key: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "molexp", "configs", f"{key}.json")


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

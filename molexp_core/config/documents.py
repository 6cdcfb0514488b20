"""Values that pass between loaders, coercion hooks and the core."""

from __future__ import annotations

from typing import Any, Dict, Optional


class _Null:
    """The value a ``molexp_coerce_override`` hook returns to mean ``None``.

    pluggy reads a plain ``None`` from a ``firstresult`` hook as "declined", so a
    hook that wants the override to *be* null returns :data:`NULL` instead.
    """

    _instance: Optional["_Null"] = None

    def __new__(cls) -> "_Null":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "molexp_core.NULL"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self):
        return (_Null, ())


NULL = _Null()


class LineDict(dict):
    """A ``dict`` that also remembers where it and each of its keys stand.

    Loaders may return these (nested at any depth) so that molexp's errors about
    a document name lines: ``line`` is the 1-based line of the mapping itself,
    ``key_lines`` maps each key to the 1-based line it is written on.
    """

    __slots__ = ("line", "key_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: Optional[int] = None
        self.key_lines: Dict[Any, int] = {}


def line_of(mapping: Any, key: Any = None) -> Optional[int]:
    """The line of ``key`` in ``mapping`` (or of the mapping itself), if known."""
    if not isinstance(mapping, LineDict):
        return None
    if key is None:
        return mapping.line
    return mapping.key_lines.get(key, mapping.line)


MAX_CONFIG_BYTES = 16 * 1024 * 1024


def check_file_size(path: Any) -> None:
    """Loaders call this first: a config file has no business being huge."""
    import os

    from molexp_core.errors import ConfigError

    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is {size / 2**20:.0f} MiB, larger than the "
            f"{MAX_CONFIG_BYTES // 2**20} MiB molexp reads as a config file", path)

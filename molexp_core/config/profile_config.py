"""``ProfileConfig``: the read-only view of a run's merged config (``ctx.config``).

It is a ``dict`` subclass, so it works wherever a dict of JSON data is expected
(``json.dumps``, ``dict()``, ``isinstance(x, dict)``, ``**kwargs``), while every
way of changing it, at any depth, raises ``TypeError``: nested mappings are
``ProfileConfig`` too and nested lists are :class:`ReadOnlyList`.  Copies
(``.to_dict()``, ``copy.copy``, ``copy.deepcopy``, ``config | {...}``) are plain,
mutable dicts and lists all the way down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterable, Optional


def _readonly(name: str):
    def refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"ctx.config and ctx.results are read-only ({type(self).__name__}.{name}); "
            "use .to_dict() (or copy.deepcopy, or config | {...}) for a mutable copy"
        )

    refuse.__name__ = name
    return refuse


class ReadOnlyList(list):
    """A list inside ``ctx.config``: compares equal to lists, refuses mutation."""

    __slots__ = ()

    def __init__(self, items: Iterable[Any] = ()) -> None:
        list.__init__(self, map(_freeze, items))  # two frames a level: 200 levels fit

    for _name in (
        "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
        "__setitem__", "__delitem__", "__iadd__", "__imul__",
    ):
        locals()[_name] = _readonly(_name)
    del _name

    def to_list(self) -> list:
        """A deep, mutable copy."""
        return [_thaw(item) for item in list.__iter__(self)]

    def __copy__(self) -> list:
        return self.to_list()

    def __deepcopy__(self, memo: dict) -> list:
        return self.to_list()

    def __reduce__(self) -> tuple:
        return (ReadOnlyList, (self.to_list(),))

    def __repr__(self) -> str:
        return f"ReadOnlyList({self.to_list()!r})"


class ProfileConfig(dict):
    """The merged config a task sees as ``ctx.config``.

    A read-only ``dict``: ``.get``, ``[]``, ``in``, iteration, ``len``,
    ``json.dumps``, ``dict()``, ``isinstance(..., dict)`` work; nested mappings
    and lists are read-only too; any mutation raises ``TypeError``.
    ``.to_dict()`` returns a deep, mutable copy; so do ``copy.copy``,
    ``copy.deepcopy`` and ``config | {...}`` (the right side wins, as with dicts).
    """

    __slots__ = ()

    def __init__(self, data: Optional[Mapping[str, Any]] = None) -> None:
        data = data or {}
        dict.__init__(self, zip(data.keys(), map(_freeze, data.values())))

    def __repr__(self) -> str:
        return f"ProfileConfig({self.to_dict()!r})"

    def to_dict(self) -> Dict[str, Any]:
        """A deep, mutable copy of the config, made of plain dicts and lists."""
        return {key: _thaw(value) for key, value in dict.items(self)}

    # copies are plain and mutable all the way down (a shallow copy would share
    # nested read-only mappings); pickling keeps the read-only type, so
    # multiprocessing can hand ctx.config to workers.
    def __copy__(self) -> Dict[str, Any]:
        return self.to_dict()

    def __deepcopy__(self, memo: dict) -> Dict[str, Any]:
        return self.to_dict()

    def copy(self) -> Dict[str, Any]:  # dict.copy would give a plain dict of read-only parts
        return self.to_dict()

    def __reduce__(self) -> tuple:
        return (ProfileConfig, (self.to_dict(),))

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = self.to_dict()
        result.update(_thaw(dict(other)))
        return result

    def __ror__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = _thaw(dict(other))
        result.update(self.to_dict())
        return result

    __setitem__ = _readonly("__setitem__")
    __delitem__ = _readonly("__delitem__")
    __setattr__ = _readonly("__setattr__")
    __delattr__ = _readonly("__delattr__")
    __ior__ = _readonly("__ior__")
    pop = _readonly("pop")
    popitem = _readonly("popitem")
    clear = _readonly("clear")
    update = _readonly("update")
    setdefault = _readonly("setdefault")


def freeze(value: Any) -> Any:
    """JSON data made read-only all the way down (as ``ctx.config`` and ``ctx.results`` are)."""
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, (ProfileConfig, ReadOnlyList)):
        return value
    if isinstance(value, dict) or isinstance(value, Mapping):  # a dict: no ABC check
        return ProfileConfig(value)
    if isinstance(value, (list, tuple)):
        return ReadOnlyList(value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(item) for item in value]
    return value


def plain(value: Any) -> Any:
    """``json.dumps`` ``default=`` hook (kept for callers; ProfileConfig is a dict)."""
    if isinstance(value, ProfileConfig):
        return value.to_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

"""``ProfileConfig``: the read-only view of a run's merged config (``ctx.config``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Dict, Iterator, Optional


def _readonly(name: str):
    def refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"ctx.config is read-only ({type(self).__name__}.{name}); "
            "use .to_dict() for a mutable copy"
        )

    refuse.__name__ = name
    return refuse


class ReadOnlyList(list):
    """A list inside ``ctx.config``: compares equal to lists, refuses mutation."""

    __slots__ = ()

    for _name in (
        "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
        "__setitem__", "__delitem__", "__iadd__", "__imul__",
    ):
        locals()[_name] = _readonly(_name)
    del _name

    def __getitem__(self, index: Any) -> Any:
        return _freeze(list.__getitem__(self, index))

    def __iter__(self) -> Iterator[Any]:
        return (_freeze(item) for item in list.__iter__(self))

    def __copy__(self) -> list:
        return list(list.__iter__(self))

    def __deepcopy__(self, memo: dict) -> list:
        return copy.deepcopy(list(list.__iter__(self)), memo)

    def __reduce__(self) -> tuple:
        return (ReadOnlyList, (list(list.__iter__(self)),))


class ProfileConfig(Mapping):
    """The merged config a task sees as ``ctx.config``.

    Behaves like a read-only ``dict``: ``.get``, ``[]``, ``in``, iteration and
    ``len`` work; nested mappings and lists are read-only too; any mutation
    raises ``TypeError``.  ``.to_dict()`` returns a deep, mutable copy.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Optional[Mapping[str, Any]] = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: str) -> Any:
        return _freeze(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProfileConfig):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ProfileConfig({self._data!r})"

    def to_dict(self) -> Dict[str, Any]:
        """A deep, mutable copy of the config."""
        return copy.deepcopy(self._data)

    # copy.copy/copy.deepcopy give a mutable dict, as .to_dict() does (a shallow
    # copy would share nested dicts with the read-only original); pickling keeps
    # the read-only type, so multiprocessing can hand ctx.config to workers.
    def __copy__(self) -> Dict[str, Any]:
        return self.to_dict()

    def __deepcopy__(self, memo: dict) -> Dict[str, Any]:
        return copy.deepcopy(self._data, memo)

    def __reduce__(self) -> tuple:
        return (ProfileConfig, (self._data,))

    __setitem__ = _readonly("__setitem__")
    __delitem__ = _readonly("__delitem__")
    __setattr__ = _readonly("__setattr__")
    __delattr__ = _readonly("__delattr__")
    pop = _readonly("pop")
    popitem = _readonly("popitem")
    clear = _readonly("clear")
    update = _readonly("update")
    setdefault = _readonly("setdefault")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return ProfileConfig(value)
    if isinstance(value, list) and not isinstance(value, ReadOnlyList):
        return ReadOnlyList(value)
    return value


def plain(value: Any) -> Any:
    """``json.dumps`` ``default=`` hook: ProfileConfig values serialize as dicts."""
    if isinstance(value, ProfileConfig):
        return value.to_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

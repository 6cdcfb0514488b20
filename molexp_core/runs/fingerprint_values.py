"""Values a task fingerprint hashes: attributes, simple constants, compiled code.

A value is fed to the hash with its type, so ``1``, ``1.0``, ``"1"`` and ``True``
differ.  Seen by value: ``None``, bool, int (any size), float, complex, str, bytes,
``pathlib`` paths, enums, dataclass instances (their fields), named tuples, lists,
tuples, dicts, sets (order-free), ``datetime``/``decimal``/``fractions``/``uuid``
values, ranges, compiled regular expressions, and arrays with ``tolist()`` and a
``dtype`` (numpy, torch: their values), subclasses of the simple types (their value),
``functools.partial`` and bound methods (their function, arguments, object), and
instances of the script's own classes (``owned``: their class, followed, and state).
Functions and classes are handed back to the caller (``refer``), which follows those
of the script.  Anything else, a value that
contains itself, or more than :data:`MAX_ITEMS` items raise :class:`Unseen`.
"""

from __future__ import annotations

import hashlib
import sys
import types
from typing import Any, Callable, List, Optional

MAX_ITEMS = 200_000
MAX_DEPTH = 100
_SCALARS = {type(None): b"n", bool: b"b", float: b"f", complex: b"c"}
_BY_REPR = {("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
            ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"),
            ("fractions", "Fraction"), ("uuid", "UUID"), ("builtins", "range"),
            ("builtins", "slice"), ("builtins", "ellipsis"), ("builtins", "NotImplementedType")}


class Unseen(Exception):
    """Something a task depends on that its fingerprint cannot see (the message says
    what); the task then runs again rather than reusing a result."""


def type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module == "builtins" else f"{module}.{name}"


class Feed:
    """A SHA-256 fed with tagged, length-prefixed parts."""

    def __init__(self, owned: Optional[Callable[[type], bool]] = None) -> None:
        self.digest = hashlib.sha256()
        self.items = 0
        # classes whose instances are seen by their state (the script's own classes)
        self.owned = owned or (lambda kind: False)

    def part(self, tag: bytes, data: bytes) -> None:
        self.digest.update(tag + len(data).to_bytes(8, "big") + data)

    def text(self, tag: bytes, text: str) -> None:
        self.part(tag, text.encode("utf-8", "surrogatepass"))

    def value(self, value: Any, refer: Callable[[Any], Optional[str]], depth: int = 0,
              path: Optional[List[int]] = None) -> None:
        """Feed ``value``; ``refer(obj)`` names a function, class or module (and lets
        the caller follow it), or returns None for an object it cannot see."""
        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise Unseen(f"a value of more than {MAX_ITEMS} items or {MAX_DEPTH} levels")
        kind = type(value)
        tag = _SCALARS.get(kind)
        if tag is not None:
            self.text(tag, repr(value))
            return
        if kind is int:
            self.text(b"i", format(value, "x"))  # hex: no limit on digits
            return
        if kind is str:
            self.text(b"s", value)
            return
        if kind in (bytes, bytearray):
            self.part(b"y", bytes(value))
            return
        path = path if path is not None else []
        if id(value) in path:
            raise Unseen(f"a {type_name(value)} that contains itself")
        path.append(id(value))
        try:
            self._compound(value, kind, refer, depth, path)
        finally:
            path.pop()

    def _compound(self, value: Any, kind: type, refer: Callable[[Any], Optional[str]],
                  depth: int, path: List[int]) -> None:
        self.text(b"t", type_name(value))
        enum = sys.modules.get("enum")
        if enum is not None and isinstance(value, enum.Enum):
            self.text(b"e", value.name)
            self.value(value.value, refer, depth + 1, path)
            return
        pathlib = sys.modules.get("pathlib")
        if pathlib is not None and isinstance(value, pathlib.PurePath):
            self.text(b"p", str(value))
            return
        if isinstance(value, types.MethodType):  # a bound method: its function and object
            self.value(value.__func__, refer, depth + 1, path)
            self.value(value.__self__, refer, depth + 1, path)
            return
        owner = getattr(value, "__self__", None)
        if isinstance(value, types.BuiltinMethodType) and owner is not None and \
                not isinstance(owner, types.ModuleType):  # e.g. a lock's acquire
            self.text(b"r", value.__name__)
            self.value(owner, refer, depth + 1, path)
            return
        functools = sys.modules.get("functools")
        if functools is not None and isinstance(value, functools.partial):
            self.value(value.func, refer, depth + 1, path)
            self.value(value.args, refer, depth + 1, path)
            self.value(value.keywords, refer, depth + 1, path)
            return
        if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType,
                              types.ModuleType)) or callable(
                                  getattr(value, "__wrapped__", None)):
            named = refer(value)
            if named is None:
                raise Unseen(f"a {type_name(value)}")
            self.text(b"r", named)
            return
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                self.text(b"k", field.name)
                self.value(getattr(value, field.name), refer, depth + 1, path)
            return
        if isinstance(value, tuple) and hasattr(kind, "_fields"):  # a named tuple
            for name, item in zip(kind._fields, value):
                self.text(b"k", str(name))
                self.value(item, refer, depth + 1, path)
            return
        if isinstance(value, (list, tuple)):
            self.text(b"l", str(len(value)))
            for item in value:
                self.value(item, refer, depth + 1, path)
            return
        if isinstance(value, dict):
            self._unordered([(k, v) for k, v in value.items()], refer, depth, path, pairs=True)
            return
        if isinstance(value, (set, frozenset)):
            self._unordered(list(value), refer, depth, path, pairs=False)
            return
        for base, tag in ((bool, b"b"), (int, b"i"), (float, b"f"), (str, b"s"),
                          (bytes, b"y")):  # subclasses of simple types: their value
            if isinstance(value, base):
                data = base.__repr__(value) if base in (bool, float) else (
                    format(int(value), "x") if base is int else value)
                self.part(tag, data if isinstance(data, bytes) else
                          str.encode(data, "utf-8", "surrogatepass"))
                return
        module = getattr(kind, "__module__", "")
        if (module, kind.__name__) in _BY_REPR:
            self.text(b"v", repr(value))
            return
        if module == "re" and kind.__name__ == "Pattern":
            self.text(b"v", f"{value.pattern!r}/{value.flags}")
            return
        if callable(getattr(value, "tolist", None)) and hasattr(value, "dtype"):
            self.text(b"d", f"{value.dtype}")
            self.value(value.tolist(), refer, depth + 1, path)
            return
        if self.owned(kind):  # an instance of a class of the script: its code and state
            self.text(b"o", refer(kind) or "")
            for name, item in sorted(instance_state(value).items()):
                self.text(b"k", name)
                self.value(item, refer, depth + 1, path)
            return
        raise Unseen(f"a {type_name(value)}")

    def _unordered(self, items: list, refer: Callable[[Any], Optional[str]], depth: int,
                   path: List[int], pairs: bool) -> None:
        """A dict's items or a set's elements, order-free: each hashed on its own, the
        digests sorted."""
        digests = []
        for item in items:
            inner = Feed(self.owned)
            inner.items = self.items
            if pairs:
                inner.value(item[0], refer, depth + 1, path)
                inner.value(item[1], refer, depth + 1, path)
            else:
                inner.value(item, refer, depth + 1, path)
            self.items = inner.items
            digests.append(inner.digest.digest())
        self.text(b"u", str(len(digests)))
        for digest in sorted(digests):
            self.part(b"h", digest)


def feed_code(feed: Feed, code: types.CodeType) -> None:
    """Compiled code, without its file name and line numbers: what it does."""
    feed.text(b"C", code.co_name)
    feed.part(b"B", code.co_code)
    feed.text(b"N", "\0".join(code.co_names))
    feed.text(b"V", "\0".join(code.co_varnames + code.co_freevars + code.co_cellvars))
    feed.text(b"A", f"{code.co_argcount}/{code.co_posonlyargcount}/"
                    f"{code.co_kwonlyargcount}/{code.co_flags}")
    feed.part(b"X", getattr(code, "co_exceptiontable", b""))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            feed_code(feed, const)
        else:
            feed.value(const, lambda obj: None)


def instance_state(obj: Any) -> dict:
    """An instance's own state: ``vars(obj)`` and any slots."""
    try:
        found = dict(vars(obj))
    except TypeError:
        found = {}
    for cls in type(obj).__mro__:
        slots = vars(cls).get("__slots__", ())
        for slot in ([slots] if isinstance(slots, str) else slots):
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                found[slot] = getattr(obj, slot)
    return found

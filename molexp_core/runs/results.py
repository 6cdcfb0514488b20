"""Task results as researchers produce them: stored as JSON data, NaN included.

A task's return value is converted to JSON data before it is stored:
mappings (string keys; int, float and bool keys become strings, as ``json``
does), lists and tuples, strings, numbers, booleans, None; NaN and infinities
are kept (the results file uses the JSON extensions Python's ``json`` reads
and writes: ``NaN``, ``Infinity``, ``-Infinity``).  Objects with ``.tolist()``
or ``.item()`` (numpy arrays and scalars, torch tensors on the CPU) are converted
through them, without molexp importing numpy.  Anything else is refused with
the path of the key that holds it and its type, and so is what molexp could
store but not read back: an integer of more than 4,300 digits (Python's limit
for converting integers to and from text), text that is not Unicode.
"""

from __future__ import annotations

import json
import math
from typing import Any, List, Optional

from molexp_core.config.values import MAX_INT_DIGITS, int_too_long

MAX_DEPTH = 200
NO_VALUE = object()  # "the task returned nothing we kept" (executor's failure path)


def safe_repr(value: Any, limit: int = 1 << 20) -> str:
    """What error.log keeps of a value that could not be stored: its repr, capped."""
    try:
        return repr(value)[:limit]
    except BaseException as exc:  # noqa: BLE001 - a broken __repr__, an int over 4,300 digits
        return f"<repr failed: {type(exc).__name__}>"


class NotJSONData(ValueError):
    """A result holds something that is not JSON data (``where`` says which key)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where} {what}")
        self.where = where
        self.what = what


class Unreadable(NotJSONData):
    """JSON data molexp could write but not read back (a huge integer, a lone surrogate)."""


def unicode_problem(data: Any) -> Optional[str]:
    """Where ``data`` holds text that cannot be written as UTF-8, and why; else None."""
    from molexp_core.config.values import surrogate_problem

    stack: List[Any] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = surrogate_problem(value)
            if problem:
                return f"{_where(path)} holds text that is not Unicode: {problem}"
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = surrogate_problem(key)
                if problem:
                    return f"{_where(path)} has a key that is not Unicode: {problem}"
                stack.append((item, path + [repr(key)]))
        elif isinstance(value, list):
            stack.extend((item, path + [str(i)]) for i, item in enumerate(value))
    return None


def to_json_data(value: Any) -> Any:
    """``value`` as JSON data (see the module docstring); NotJSONData if it cannot be."""
    return _convert(value, [], 0)


def _convert(value: Any, path: List[str], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotJSONData(_where(path), f"nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return str(value) if isinstance(value, str) and type(value) is not str else value
    if isinstance(value, int):
        value = int(value)
        if int_too_long(value):
            raise Unreadable(_where(path), (
                f"is an integer of more than {MAX_INT_DIGITS:,} digits, which Python (and "
                "so molexp) cannot read back from text; return it as a string"))
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict) or _is_mapping(value):
        out = {}
        for key, item in value.items():
            if isinstance(key, (bool, int, float)) or key is None:
                key = json.dumps(key)  # what json.dumps does with such keys
            elif not isinstance(key, str):
                key = _scalar(key)
                if not isinstance(key, (str, int, float, bool)):
                    raise NotJSONData(_where(path), f"has a key of type {type(key).__name__}")
                key = key if isinstance(key, str) else json.dumps(key)
            out[str(key)] = _convert(item, path + [repr(str(key))], depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_convert(item, path + [str(i)], depth + 1) for i, item in enumerate(value)]
    for method in ("tolist", "item"):  # numpy / torch, without importing them
        convert = getattr(value, method, None)
        if callable(convert) and not isinstance(value, type):
            try:
                converted = convert()
            except Exception:  # e.g. .item() of an array with several elements
                continue
            if converted is not value:
                return _convert(converted, path, depth + 1)
    to_dict = getattr(value, "to_dict", None)  # ProfileConfig (ctx.config handed back)
    if type(value).__name__ == "ProfileConfig" and callable(to_dict):
        return _convert(to_dict(), path, depth + 1)
    from molexp_core.errors import a_or_an

    raise NotJSONData(_where(path), f"holds {a_or_an(_type_name(value))}, which is not "
                      "JSON data")


def _scalar(key: Any) -> Any:
    item = getattr(key, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            return key
    return key


def _is_mapping(value: Any) -> bool:
    from collections.abc import Mapping

    return isinstance(value, Mapping)


def _where(path: List[str]) -> str:
    return "the result" + "".join(f"[{p}]" for p in path)


def _type_name(value: Any) -> str:
    cls = type(value)
    module = getattr(cls, "__module__", "")
    return cls.__qualname__ if module in ("builtins", None, "") else f"{module}.{cls.__qualname__}"


def dumps(data: Any) -> str:
    """The results file's text: JSON, with NaN/Infinity where the data holds them."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=True)


def has_non_finite(data: Any) -> bool:
    if isinstance(data, float):
        return not math.isfinite(data)
    if isinstance(data, dict):
        return any(has_non_finite(v) for v in data.values())
    if isinstance(data, list):
        return any(has_non_finite(v) for v in data)
    return False


def show(value: Any, limit: Optional[int] = 120) -> str:
    """One line for ``molexp show``: NaN and infinities as Python's json writes them."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."

"""What a config value may be, wherever it comes from (a file or an override).

JSON data only (the config is hashed as JSON), and within limits that hold the
same for every loader and for overrides, so that nothing later (merging,
hashing, ``run.json``) can fail on it:

- nesting: at most :data:`MAX_DEPTH` levels, the config's top-level mapping
  (``defaults``, a profile's body) being level 1;
- integers: at most :data:`MAX_INT_DIGITS` decimal digits (Python refuses to
  convert longer ones to and from text);
- text: Unicode characters only, no lone UTF-16 surrogates (they cannot be
  written as UTF-8, so they could be neither hashed nor stored).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from molexp_core.config.documents import line_of
from molexp_core.errors import ConfigError, a_or_an

MAX_DEPTH = 200
MAX_INT_DIGITS = 4300  # Python's own default limit for int <-> str
_INF = float("inf")
_SURROGATE = re.compile("[\ud800-\udfff]")
# bit_length above which an int may have more than MAX_INT_DIGITS digits
_BITS = int(MAX_INT_DIGITS * 3.3219280948873626)


def int_too_long(value: int) -> bool:
    """More than :data:`MAX_INT_DIGITS` decimal digits (decided without ``str``)."""
    return value.bit_length() > _BITS and abs(value) >= 10 ** MAX_INT_DIGITS


def surrogate_problem(text: str) -> Optional[str]:
    """Why ``text`` is not Unicode text, or ``None`` when it is."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    at = found.start()
    pair = text[at:at + 2]
    if len(pair) == 2 and "\ud800" <= pair[0] <= "\udbff" and "\udc00" <= pair[1] <= "\udfff":
        point = 0x10000 + ((ord(pair[0]) - 0xD800) << 10) + (ord(pair[1]) - 0xDC00)
        return (f"'\\u{ord(pair[0]):04x}\\u{ord(pair[1]):04x}' is a UTF-16 surrogate pair, "
                f"not a character: write the character itself or '\\U{point:08X}'")
    return (f"'\\u{ord(text[at]):04x}' is a lone UTF-16 surrogate, not a character "
            "(it cannot be written as UTF-8)")


def check_mapping(mapping: Mapping[str, Any], path: Any, where: str, level: int = 1) -> None:
    """Keys must be strings and values JSON data within the limits above."""
    if level > MAX_DEPTH:
        raise ConfigError(f"{where}: nesting deeper than {MAX_DEPTH} levels", path,
                          line_of(mapping))
    for key, value in mapping.items():
        line = line_of(mapping, key)
        if not isinstance(key, str):
            raise ConfigError(f"{where}: key {key!r} must be a string (quote it)", path, line)
        problem = surrogate_problem(key)
        if problem:
            raise ConfigError(f"{where}: a key: {problem}", path, line)
        check_value(value, path, f"{where}: {key}", line, level)


def check_value(value: Any, path: Any, where: str, line: Optional[int], level: int) -> None:
    """``value`` sits in a container at ``level``; ``line`` is where it is written."""
    if isinstance(value, Mapping):
        check_mapping(value, path, where, level + 1)
    elif isinstance(value, list):
        if level + 1 > MAX_DEPTH:
            raise ConfigError(f"{where}: nesting deeper than {MAX_DEPTH} levels", path, line)
        for item in value:
            check_value(item, path, where, line, level + 1)
    elif isinstance(value, str):
        problem = surrogate_problem(value)
        if problem:
            raise ConfigError(f"{where}: {problem}", path, line)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if int_too_long(value):
            raise ConfigError(f"{where}: an integer of more than {MAX_INT_DIGITS} digits; "
                              f"molexp reads integers of at most {MAX_INT_DIGITS} digits",
                              path, line)
    elif isinstance(value, float):
        if value != value or value in (_INF, -_INF):
            raise ConfigError(f"{where}: NaN and infinities are not allowed", path, line)
    else:
        raise ConfigError(
            f"{where}: {a_or_an(type(value).__name__)} is not a config value "
            "(use strings, numbers, booleans, null, lists and mappings)",
            path,
            line,
        )


def depth(value: Any) -> int:
    """Container levels in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                break
        stack.extend((child, level) for child in children)
    return deepest

"""``--override KEY=VALUE``: parsing, coercion through the hooks, application."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence, Tuple

import click

from molexp_core.config.documents import NULL
from molexp_core.config.values import MAX_DEPTH, MAX_INT_DIGITS, check_value
from molexp_core.errors import ConfigError, MolexpUsageError

# what the built-in rule would read as an int (sign, ASCII digits, blanks around)
_INT_LITERAL = re.compile(r"\s*[+-]?([0-9]+)\s*\Z")


def _check_text(text: str) -> None:
    """Command-line text that was not UTF-8 arrives with lone surrogates in it
    (Python's ``surrogateescape``): refuse it here, before it can reach a hash."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = "".join(_escaped(char) for char in text)
        if len(shown) > 60:
            shown = shown[:60] + "..."
        raise MolexpUsageError(
            f"--override '{shown}': not valid UTF-8 text ({_escaped(text[exc.start])} "
            f"at character {exc.start + 1})"
        ) from None


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{ord(char) - 0xDC00:02x}"
    if "\ud800" <= char <= "\udfff":
        return f"\\u{ord(char):04x}"
    return char


def _short(text: str, limit: int = 60) -> str:
    """The override as typed, quoted, cut to a readable length."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Override:
    """One ``--override`` as typed: ``path`` is the dotted key split on dots."""

    __slots__ = ("text", "key", "path", "raw")

    def __init__(self, text: str) -> None:
        self.text = text
        _check_text(text)
        if "=" not in text:
            raise MolexpUsageError(
                f"--override {text!r}: expected KEY=VALUE (e.g. optimizer.lr=0.001)"
            )
        key, raw = text.split("=", 1)
        key = key.strip()
        path = key.split(".")
        if not key or any(not part for part in path):
            raise MolexpUsageError(
                f"--override {text!r}: empty key or key segment; write KEY=VALUE "
                "with dot-separated names (e.g. optimizer.lr=0.001)"
            )
        if len(path) > MAX_DEPTH:
            raise MolexpUsageError(
                f"--override {_short(text)}: the key has {len(path)} dotted segments; "
                f"nesting deeper than {MAX_DEPTH} levels is refused"
            )
        digits = _INT_LITERAL.match(raw)
        if digits and len(digits.group(1)) > MAX_INT_DIGITS:
            raise MolexpUsageError(
                f"--override {_short(text)}: an integer of {len(digits.group(1))} digits; "
                f"molexp reads integers of at most {MAX_INT_DIGITS} digits"
            )
        self.key, self.path, self.raw = key, path, raw

    def __repr__(self) -> str:
        return f"Override({self.text!r})"


class OverrideType(click.ParamType):
    """Click's home for parsing ``KEY=VALUE``: bad text is a usage error (exit 2)."""

    name = "KEY=VALUE"

    def convert(self, value: Any, param: Any, ctx: Any) -> Override:
        if isinstance(value, Override):
            return value
        return Override(value)  # a MolexpUsageError: one line naming the flag, exit 2


def coerce(host: Any, override: Override) -> Any:
    """The override's value: plugins first, the built-in rule last."""
    value = host.call_each(
        "molexp_coerce_override", firstresult=True, key=override.key, raw=override.raw
    )
    if value is None:  # no loader at all (MOLEXP_LOAD_PLUGINS cannot remove built-ins)
        value = override.raw
    return None if value is NULL else value


def apply_overrides(
    config: Dict[str, Any], overrides: Sequence[Override], host: Any
) -> Dict[str, Any]:
    """Apply ``overrides`` in order to ``config`` (in place) and return it."""
    for override in overrides:
        value = coerce(host, override)
        try:  # a coercion hook may build nested or odd values: the file's limits apply
            check_value(value, None, "the value", None, len(override.path))
        except ConfigError as exc:
            raise MolexpUsageError(
                f"--override {_short(override.text)}: {exc.message}") from None
        _check_json_value(override, value)
        set_path(config, override.path, value, f"--override {override.text!r}")
    return config


def set_path(config: Dict[str, Any], path: Sequence[str], value: Any, label: str) -> None:
    """Set the dotted ``path`` in ``config``, making missing mappings; crossing a
    non-mapping is an error naming ``label`` (never a silent replacement)."""
    node = config
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None and part not in node:
            child = node[part] = {}
        if not isinstance(child, dict):
            crossed = ".".join(path[: depth + 1])
            raise MolexpUsageError(
                f"{label}: {crossed!r} is "
                f"{_describe(child)}, not a mapping, so it has no key "
                f"{path[depth + 1]!r}; override {crossed!r} itself instead"
            )
        node = child
    node[path[-1]] = value


def parse_all(texts: Sequence[str]) -> List[Override]:
    return [text if isinstance(text, Override) else Override(text) for text in texts]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()
"""In :func:`diff_keys` rows: the key does not exist on that side (unlike ``None``)."""


def diff_keys(old: Any, new: Any, prefix: str = "") -> List[Tuple[str, Any, Any]]:
    """Dotted keys whose values differ between two configs, with both values
    (:data:`ABSENT` where a side lacks the key)."""
    rows = []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            a, b = old.get(key, ABSENT), new.get(key, ABSENT)
            dotted = f"{prefix}{key}"
            if isinstance(a, dict) and isinstance(b, dict):
                rows.extend(diff_keys(a, b, dotted + "."))
            elif a is ABSENT or b is ABSENT or not _same(a, b):
                rows.append((dotted, a, b))
    elif not _same(old, new):
        rows.append((prefix.rstrip("."), old, new))
    return rows


def show_value(value: Any) -> str:
    """A config value as the user would write it: JSON, or ``(absent)``."""
    import json

    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{value!r} ({type(value).__name__})"


def _check_json_value(override: Override, value: Any) -> None:
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MolexpUsageError(
            f"--override {override.text!r}: a coercion hook produced "
            f"{type(value).__name__} {value!r}, which is not JSON data ({exc})"
        )

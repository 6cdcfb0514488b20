"""Overrides that are probably typos: a key the config does not have, or a
mapping or list replaced by a scalar (other than null).  Each gives one warning line; ``--strict``
(``MOLEXP_STRICT=1``) makes the CLI refuse them."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Sequence

from molexp_core.errors import closest

_MISSING = object()


def override_warnings(before: Dict[str, Any], after: Dict[str, Any],
                      overrides: Sequence[Any]) -> List[str]:
    """One line for each override of ``overrides`` (``Override`` objects) that adds a
    key ``before`` (the resolved config) lacks, or puts a scalar where ``before``
    has a mapping or a list; ``after`` is the config with the overrides applied."""
    lines = []
    keys = None
    for override in overrides:
        old = _lookup(before, override.path)
        if old is _MISSING:
            if keys is None:
                keys = list(dotted_keys(before))
            hint = closest(override.key, keys) if keys else None
            lines.append(
                f"--override {override.text!r} adds {override.key!r}, a key the config "
                "does not have" + (f" (did you mean {hint}?)" if hint else "")
                + "; check the spelling, or add the key to the config file")
            continue
        new = _lookup(after, override.path)
        # null is a deliberate "unset", not a slip like `optimizer=adam`
        if isinstance(old, (dict, list)) and new is not None and not isinstance(new, (dict, list)):
            kind = "mapping" if isinstance(old, dict) else "list"
            inside = (f"; to change one key inside it, write {override.key}.KEY=VALUE"
                      if isinstance(old, dict) and old else "")
            lines.append(
                f"--override {override.text!r} replaces the {kind} {override.key!r} "
                f"({_short(old)}) with a single value" + inside)
    return lines


def dotted_keys(config: Any, prefix: str = "") -> Iterator[str]:
    """Every key of ``config`` as a dotted path, mappings and their keys alike."""
    if isinstance(config, dict):
        for key, value in config.items():
            dotted = f"{prefix}{key}"
            yield dotted
            yield from dotted_keys(value, dotted + ".")


def _lookup(config: Any, path: Sequence[str]) -> Any:
    node = config
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."

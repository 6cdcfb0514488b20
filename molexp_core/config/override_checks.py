"""Overrides that are probably typos: a key the config does not have, or a
mapping or list replaced by a scalar (other than null).  Each gives one warning line; ``--strict``
(``MOLEXP_STRICT=1``) makes the CLI refuse them."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from molexp_core.errors import closest

_MISSING = object()


def override_warnings(before: Dict[str, Any], after: Dict[str, Any],
                      overrides: Sequence[Any]) -> List[str]:
    """One line for each override of ``overrides`` (``Override`` objects) that adds a
    key ``before`` (the resolved config) lacks, or puts a scalar where ``before``
    has a mapping or a list; ``after`` is the config with the overrides applied."""
    checker = _KeyChecker(before)
    lines = []
    for override in overrides:
        line = checker.check(f"--override {override.text!r}", override.key, override.path,
                             [_lookup(after, override.path)])
        if line:
            lines.append(line)
    return lines


def sweep_key_warnings(before: Dict[str, Any], keys: Sequence[Tuple[str, str, Sequence[Any]]]
                       ) -> List[str]:
    """The same checks for swept keys: ``keys`` holds (how the key was given, e.g.
    ``--sweep 'optimzer.lr=1,2'`` or ``molcfg.yaml:12: sweep 'scan' key``, the dotted
    key, its values); ``before`` is the config every point starts from."""
    checker = _KeyChecker(before)
    lines = []
    for label, key, values in keys:
        line = checker.check(label, key, key.split("."), values)
        if line:
            lines.append(line)
    return lines


class _KeyChecker:
    def __init__(self, before: Dict[str, Any]) -> None:
        self.before = before
        self.keys: Optional[List[str]] = None

    def check(self, label: str, key: str, path: Sequence[str], values: Sequence[Any]
              ) -> Optional[str]:
        old = _lookup(self.before, path)
        if old is _MISSING:
            if self.keys is None:
                self.keys = list(dotted_keys(self.before))
            hint = closest(key, self.keys) if self.keys else None
            return (f"{label} adds {key!r}, a key the config does not have"
                    + (f" (did you mean {hint}?)" if hint else "")
                    + "; check the spelling, or add the key to the config file")
        # null is a deliberate "unset", not a slip like `optimizer=adam`
        if isinstance(old, (dict, list)) and any(
                new is not None and not isinstance(new, (dict, list)) for new in values):
            kind = "mapping" if isinstance(old, dict) else "list"
            inside = (f"; to change one key inside it, write {key}.KEY=VALUE"
                      if isinstance(old, dict) and old else "")
            return (f"{label} replaces the {kind} {key!r} ({_short(old)}) with a single "
                    "value" + inside)
        return None


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

"""Sweeps: many points of one config, from ``--sweep`` axes or a ``sweeps:`` section.

A sweep is data, like a profile.  In ``molcfg.yaml``::

    sweeps:
      lr-scan:
        profile: smoke              # optional; --profile on the command line wins
        grid:                       # cartesian product, last key varies fastest
          optimizer.lr: [0.0001, 0.001, 0.01]
          batch_size: [16, 32]
        points:                     # optional explicit points, after the grid
          - {optimizer.lr: 0.1, batch_size: 8}

On the command line, ``--sweep optimizer.lr=1e-4,1e-3`` adds an axis (values split
on commas; ``\\,`` is a literal comma and ``\\\\`` a backslash) whose values go
through the same coercion hooks as ``--override``; ``--sweep NAME`` (no ``=``)
names a sweep of the file.  A point is a mapping of dotted keys to values,
applied to the resolved config after the profile and the overrides.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from molexp_core.config.documents import line_of
from molexp_core.config.values import MAX_DEPTH, check_value
from molexp_core.errors import ConfigError, MolexpUsageError, closest

if TYPE_CHECKING:  # pragma: no cover
    from molexp_core.config.overrides import Override

SWEEP_KEYS = ("profile", "grid", "points")
MAX_POINTS = 100_000  # a sweep larger than this is a typo, not an experiment

Point = Dict[str, Any]  # dotted key -> value


class SweepDefinition:
    """One sweep of the file: its written name, optional profile, grid and points."""

    def __init__(self, name: str, profile: Optional[str], grid: Dict[str, List[Any]],
                 points: List[Point], line: Optional[int] = None, path: Any = None,
                 key_lines: Optional[Dict[str, Optional[int]]] = None,
                 warnings: Optional[List[str]] = None) -> None:
        self.name = name
        self.profile = profile
        self.grid = grid
        self.points = points
        self.line = line
        self.path = path
        self.key_lines = dict(key_lines or {})  # each swept key: the line it is written on
        self.warnings = list(warnings or [])  # e.g. a grid value listed twice (dropped)

    def where(self, key: str) -> str:
        """``molcfg.yaml:12: sweep 'scan'``: where ``key`` is swept, for messages."""
        line = self.key_lines.get(key, self.line)
        place = f"{self.path}:{line}: " if self.path is not None and line else (
            f"{self.path}: " if self.path is not None else "")
        return f"{place}sweep {self.name!r}"

    def expand(self) -> List[Point]:
        return grid_points(self.grid) + [dict(p) for p in self.points]

    @property
    def size(self) -> int:
        grid = 1
        for values in self.grid.values():
            grid *= len(values)
        return (grid if self.grid else 0) + len(self.points)


def grid_points(grid: Mapping[str, Sequence[Any]]) -> List[Point]:
    """The cartesian product of ``grid``'s axes, in order (last key fastest)."""
    if not grid:
        return []
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


# -- the file's section -------------------------------------------------------------------
def parse_section(section: Any, path: Any, profiles: Mapping[str, Any],
                  normalize) -> Dict[str, SweepDefinition]:
    """Validate ``sweeps:`` (None: absent); normalized name -> definition.

    ``profiles`` maps normalized profile names (a sweep's ``profile`` must be
    one of them); ``normalize`` is the profile-name rule, shared by sweep names.
    """
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"'sweeps' must be a mapping of sweep names, not "
                          f"{type(section).__name__}", path, line_of(section))
    sweeps: Dict[str, SweepDefinition] = {}
    for name, body in section.items():
        line = line_of(section, name)
        if not isinstance(name, str) or not _valid_name(name):
            raise ConfigError(f"invalid sweep name {name!r}: use letters, digits, '_', '-' "
                              "and '.' (not starting with '.' and without '..')", path, line)
        where = f"sweep {name!r}"
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where} must be a mapping with 'grid' and/or 'points', not "
                              f"{type(body).__name__}", path, line)
        unknown = [k for k in body if k not in SWEEP_KEYS]
        if unknown:
            hint = closest(str(unknown[0]), SWEEP_KEYS)
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}"
                              + (f" (did you mean {hint!r}?)" if hint else "")
                              + f"; allowed: {', '.join(SWEEP_KEYS)}",
                              path, line_of(body, unknown[0]))
        profile = body.get("profile")
        if profile is not None:
            if not isinstance(profile, str) or normalize(profile) not in profiles:
                known = ", ".join(written for written, _ in profiles.values()) or "none"
                raise ConfigError(f"{where}: unknown profile {profile!r}; known: {known}",
                                  path, line_of(body, "profile"))
            profile = normalize(profile)
        lines: Dict[str, Optional[int]] = {}
        notes: List[str] = []
        grid = _grid(body.get("grid"), path, where, line_of(body, "grid") or line, lines,
                     notes)
        points = _points(body.get("points"), path, where, line_of(body, "points") or line,
                         lines)
        definition = SweepDefinition(name, profile, grid, points, line, path, lines, notes)
        if definition.size == 0:
            raise ConfigError(f"{where} has no points: give a 'grid' and/or 'points'",
                              path, line)
        if definition.size > MAX_POINTS:
            raise ConfigError(f"{where} has {definition.size:,} points, more than the "
                              f"{MAX_POINTS:,} molexp runs as one sweep", path, line)
        normal = normalize(name)
        if normal in sweeps:
            raise ConfigError(f"sweeps {sweeps[normal].name!r} and {name!r} are the same sweep "
                              f"once dashes become underscores ({normal!r}); rename one",
                              path, line)
        sweeps[normal] = definition
    return sweeps


def _valid_name(name: str) -> bool:
    import re

    return bool(re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", name)) and ".." not in name


def _grid(grid: Any, path: Any, where: str, line: Optional[int],
          lines: Dict[str, Optional[int]], notes: List[str]) -> Dict[str, List[Any]]:
    if grid is None:
        return {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"{where}: 'grid' must map keys to lists of values, not "
                          f"{type(grid).__name__}", path, line)
    axes: Dict[str, List[Any]] = {}
    for key, values in grid.items():
        key_line = line_of(grid, key) or line
        _check_key(key, path, where, key_line)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: grid key {key!r} must have a non-empty list of "
                              f"values, e.g. {key}: [1, 2]", path, key_line)
        for value in values:
            _check_value(value, path, f"{where}: {key}", key_line, key)
        lines[key] = key_line
        axes[key], repeats = unique_values([_plain(v) for v in values])
        if repeats:
            notes.append(f"{path}:{key_line}: {where}: grid key {key!r} lists "
                         f"{_listed(repeats)} more than once; each point runs once (the "
                         "repeats are dropped)")
    _check_prefixes(list(axes), path, where, line)
    return axes


def _points(points: Any, path: Any, where: str, line: Optional[int],
            lines: Dict[str, Optional[int]]) -> List[Point]:
    if points is None:
        return []
    if not isinstance(points, list):
        raise ConfigError(f"{where}: 'points' must be a list of mappings, not "
                          f"{type(points).__name__}", path, line)
    result = []
    for number, point in enumerate(points, 1):
        point_line = line_of(point) or line
        if not isinstance(point, Mapping) or not point:
            raise ConfigError(f"{where}: point {number} must be a non-empty mapping of "
                              "keys to values", path, point_line)
        for key, value in point.items():
            _check_key(key, path, where, line_of(point, key) or point_line)
            lines.setdefault(key, line_of(point, key) or point_line)
            _check_value(value, path, f"{where}: point {number}: {key}", point_line, key)
        _check_prefixes(list(point), path, where, point_line)
        result.append({k: _plain(v) for k, v in point.items()})
    return result


def _check_key(key: Any, path: Any, where: str, line: Optional[int]) -> None:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{where}: key {key!r} must be a dotted config key such as "
                          "optimizer.lr", path, line)
    if len(key.split(".")) > MAX_DEPTH:
        raise ConfigError(f"{where}: key {key[:40]!r}... has {len(key.split('.'))} dotted "
                          f"segments; nesting deeper than {MAX_DEPTH} levels is refused",
                          path, line)


def _check_prefixes(keys: List[str], path: Any, where: str, line: Optional[int]) -> None:
    """``a`` and ``a.b`` in one point would overwrite each other: refused."""
    for key in keys:
        for other in keys:
            if other.startswith(key + "."):
                raise ConfigError(f"{where}: keys {key!r} and {other!r} overlap; sweep one "
                                  "or the other", path, line)


def _check_value(value: Any, path: Any, where: str, line: Optional[int], key: str) -> None:
    """The limits every config value meets (config/values.py), at the level ``key``'s
    segments put it."""
    check_value(value, path, where, line, len(key.split(".")))


def unique_values(values: Sequence[Any]) -> Tuple[List[Any], List[Any]]:
    """(the values without repeats, in order; the values that were repeated).  Two
    values are the same when they are the same JSON (``1`` and ``1.0`` differ, as
    their configs' hashes do)."""
    seen, kept, repeats = set(), [], []
    for value in values:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
        if text in seen:
            if value not in repeats:
                repeats.append(value)
            continue
        seen.add(text)
        kept.append(value)
    return kept, repeats


def _listed(values: Sequence[Any]) -> str:
    shown = ", ".join(json.dumps(v, ensure_ascii=False, default=repr)[:40] for v in values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- the command line ---------------------------------------------------------------------
class InlineAxis:
    """One ``--sweep KEY=V1,V2``: the key and the values as typed (not yet coerced)."""

    __slots__ = ("text", "key", "raw_values")

    def __init__(self, text: str, key: str, raw_values: List[str]) -> None:
        self.text, self.key, self.raw_values = text, key, raw_values


def split_values(text: str) -> List[str]:
    """Split on commas; ``\\,`` is a comma inside a value and ``\\\\`` a backslash."""
    values, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char if char in ",\\" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    values.append("".join(current))
    return values


def parse_arguments(texts: Sequence[str]) -> Tuple[Optional[str], List[InlineAxis]]:
    """``--sweep`` arguments: at most one sweep name, and inline axes."""
    name: Optional[str] = None
    axes: List[InlineAxis] = []
    for text in texts:
        if "=" not in text:
            if not _valid_name(text.strip()):
                raise MolexpUsageError(f"--sweep {text!r}: give a sweep name from molcfg.yaml "
                                       "or KEY=V1,V2,...")
            if name is not None:
                raise MolexpUsageError(f"--sweep {text!r}: one named sweep at a time "
                                       f"(already {name!r}); add axes as KEY=V1,V2")
            name = text.strip()
            continue
        key, raw = text.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise MolexpUsageError(f"--sweep {text!r}: empty key or key segment; write "
                                   "KEY=V1,V2 (e.g. optimizer.lr=1e-4,1e-3)")
        if any(axis.key == key for axis in axes):
            raise MolexpUsageError(f"--sweep {text!r}: key {key!r} is swept twice; give "
                                   "all its values in one --sweep")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise MolexpUsageError(f"--sweep {text!r}: an empty value (two commas, or a "
                                   "trailing comma); write \\, for a comma inside a value")
        axes.append(InlineAxis(text, key, values))
    keys = [a.key for a in axes]
    for key in keys:
        for other in keys:
            if other.startswith(key + "."):
                raise MolexpUsageError(f"--sweep: keys {key!r} and {other!r} overlap")
    return name, axes


def coerce_axes(axes: Sequence[InlineAxis], host: Any,
                warnings: Optional[List[str]] = None) -> Dict[str, List[Any]]:
    """Inline axes as a grid, each value through the override coercion hooks; a value
    given twice (``t=2,2,3``) is kept once, with a line in ``warnings``."""
    from molexp_core.config.overrides import Override, coerce

    grid: Dict[str, List[Any]] = {}
    for axis in axes:
        values = []
        for raw in axis.raw_values:
            value = coerce(host, Override(f"{axis.key}={raw}"))
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise MolexpUsageError(f"--sweep {axis.text!r}: value {raw!r} became "
                                       f"{value!r}, which is not JSON data") from None
            values.append(value)
        grid[axis.key], repeats = unique_values(values)
        if repeats and warnings is not None:
            warnings.append(f"--sweep {axis.text!r} gives {_listed(repeats)} more than "
                            "once; each point runs once (the repeats are dropped)")
    return grid


def combine(named: Optional[SweepDefinition], inline: Dict[str, List[Any]]) -> List[Point]:
    """The points: the named sweep's (or one empty point), times the inline grid.
    More than :data:`MAX_POINTS` is refused before any point is built."""
    size = named.size if named is not None else 1
    for values in inline.values():
        size *= len(values)
    if size > MAX_POINTS:
        axes = " x ".join(f"{key}({len(values)})" for key, values in inline.items())
        raise MolexpUsageError(
            f"the sweep has {size:,} points ("
            + (f"sweep {named.name!r}: {named.size:,}" + (" x " if axes else "")
               if named is not None else "") + axes
            + f"), more than the {MAX_POINTS:,} molexp runs as one sweep; split it into "
            "several sweeps")
    base = named.expand() if named is not None else [{}]
    extra = grid_points(inline) or [{}]
    points = []
    for point in base:
        for more in extra:
            clash = set(point) & set(more)
            if clash:
                raise MolexpUsageError(f"--sweep {sorted(clash)[0]}=...: the key is already "
                                       f"swept by sweep {named.name!r}")
            points.append({**point, **more})
    return points


def apply_point(config: Dict[str, Any], point: Mapping[str, Any],
                named: Optional[SweepDefinition] = None) -> Dict[str, Any]:
    """A copy of ``config`` with the point's dotted keys set (like ``--override``).
    A key that crosses a value which is no mapping is an error; for a key of the
    named sweep ``named`` it names the file and line the key is written on."""
    import copy

    from molexp_core.config.overrides import set_path

    result = copy.deepcopy(config)
    for key, value in point.items():
        try:
            set_path(result, key.split("."), copy.deepcopy(value), f"sweep key {key!r}")
        except MolexpUsageError as exc:
            if named is None or key not in named.key_lines:
                raise
            raise ConfigError(f"sweep {named.name!r}: {exc.format_message()}", named.path,
                              named.key_lines.get(key) or named.line) from None
    return result


def definition_hash(points: Sequence[Point]) -> str:
    """Identifies a sweep's points (keys, values, order) for ``--resume``."""
    text = json.dumps(list(points), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Profile resolution: validate a molcfg document, follow ``extends``, deep-merge.

``defaults`` is always the root.  A profile overlays the result of its parents
(``extends``: a name or a list of names, applied left to right).  Mappings
merge key by key; everything else (lists included) replaces.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from molexp_core.config.documents import line_of
from molexp_core.config.sweeps import SweepDefinition, parse_section
from molexp_core.errors import ConfigError, MolexpUsageError, closest

SUPPORTED_VERSION = 1
TOP_LEVEL_KEYS = ("version", "defaults", "profiles", "sweeps")
_INF = float("inf")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def normalize_profile_name(name: str) -> str:
    """Dashes become underscores: ``dry-run`` and ``dry_run`` are one profile."""
    return name.replace("-", "_")


def check_profile_name(name: str, path: Any = None, line: Optional[int] = None) -> None:
    """Refuse names that could not be a directory name under the runs root."""
    if not isinstance(name, str) or not PROFILE_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid profile name {name!r}: use letters, digits, '_', '-' and '.' "
            "(not starting with '.' and without '..')",
            path,
            line,
        )


class Document:
    """A validated molcfg document."""

    def __init__(self, raw: Any, path: Any) -> None:
        self.path = path
        self.raw = raw
        self.defaults: Dict[str, Any] = {}
        # normalized name -> (name as written, body)
        self.profiles: Dict[str, Tuple[str, Mapping[str, Any]]] = {}
        # normalized sweep name -> definition (the optional `sweeps:` section)
        self.sweeps: Dict[str, SweepDefinition] = {}
        self._validate()

    # -- validation --------------------------------------------------------
    def _validate(self) -> None:
        raw, path = self.raw, self.path
        if not isinstance(raw, Mapping):
            kind = "empty" if raw is None else f"a {type(raw).__name__}"
            raise ConfigError(
                f"the top level must be a mapping with 'version: 1', 'defaults' and "
                f"'profiles', but the file is {kind}",
                path,
            )
        unknown = [key for key in raw if key not in TOP_LEVEL_KEYS]
        if unknown:
            key = unknown[0]
            hint = closest(str(key), TOP_LEVEL_KEYS)
            raise ConfigError(
                f"unknown top-level key {key!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; allowed: {', '.join(TOP_LEVEL_KEYS)}",
                path,
                line_of(raw, key),
            )
        if "version" not in raw:
            raise ConfigError("missing 'version: 1' at the top level", path, line_of(raw))
        version = raw["version"]
        if type(version) is not int or version != SUPPORTED_VERSION:  # not 1.0, not true
            raise ConfigError(
                f"unsupported version {version!r}: this molexp reads version "
                f"{SUPPORTED_VERSION} (write 'version: 1')",
                path,
                line_of(raw, "version"),
            )
        defaults = raw.get("defaults")
        if defaults is None:
            defaults = {}
        if not isinstance(defaults, Mapping):
            raise ConfigError(
                f"'defaults' must be a mapping, not {type(defaults).__name__}",
                path,
                line_of(raw, "defaults"),
            )
        _check_keys(defaults, path, "defaults")
        self.defaults = defaults
        profiles = raw.get("profiles")
        if profiles is None:
            profiles = {}
        if not isinstance(profiles, Mapping):
            raise ConfigError(
                f"'profiles' must be a mapping of profile names, not "
                f"{type(profiles).__name__}",
                path,
                line_of(raw, "profiles"),
            )
        for name, body in profiles.items():
            line = line_of(profiles, name)
            if not isinstance(name, str):
                raise ConfigError(f"profile name {name!r} must be a string", path, line)
            check_profile_name(name, path, line)
            if body is None:
                body = {}
            if not isinstance(body, Mapping):
                raise ConfigError(
                    f"profile {name!r} must be a mapping, not {type(body).__name__}",
                    path,
                    line,
                )
            _check_keys(body, path, f"profile {name!r}")
            normal = normalize_profile_name(name)
            if normal in self.profiles:
                other = self.profiles[normal][0]
                raise ConfigError(
                    f"profiles {other!r} and {name!r} are the same profile once dashes "
                    f"become underscores ({normal!r}); rename one",
                    path,
                    line,
                )
            self.profiles[normal] = (name, body)
        for normal in self.profiles:
            self.parents(normal)  # unknown parents are reported up front
        for normal in self.profiles:
            self.chain(normal)  # and so are cycles
        self.sweeps = parse_section(raw.get("sweeps"), path, self.profiles,
                                    normalize_profile_name)

    def parents(self, normal: str) -> List[str]:
        name, body = self.profiles[normal]
        extends = body.get("extends")
        line = line_of(body, "extends")
        if extends is None:
            return []
        names = [extends] if isinstance(extends, str) else extends
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(
                f"profile {name!r}: 'extends' must be a profile name or a list of names",
                self.path,
                line,
            )
        result = []
        for parent in names:
            key = normalize_profile_name(parent)
            if key not in self.profiles:
                hint = closest(key, list(self.profiles))
                raise ConfigError(
                    f"profile {name!r} extends unknown profile {parent!r}"
                    + (f" (did you mean {self.profiles[hint][0]!r}?)" if hint else "")
                    + f"; known: {', '.join(self.names()) or 'none'}",
                    self.path,
                    line,
                )
            result.append(key)
        return result

    def chain(self, normal: str, _seen: Tuple[str, ...] = ()) -> List[str]:
        """The order overlays apply in: ancestors, then the profile itself.

        Parents apply left to right, each with its own ancestors; a profile
        reached twice applies at its last place, so in ``extends: [p2, p1]`` p1
        wins even when p2 itself extends p1 (as applying p2, then p1, would give).
        """
        if normal in _seen:
            cycle = " -> ".join(self.profiles[n][0] for n in _seen + (normal,))
            start = self.profiles[_seen[0]][1]
            raise ConfigError(
                f"'extends' cycle: {cycle}", self.path, line_of(start, "extends")
            )
        order: List[str] = []
        for parent in self.parents(normal):
            for item in self.chain(parent, _seen + (normal,)):
                if item in order:
                    order.remove(item)
                order.append(item)
        order.append(normal)
        return order

    def sweep(self, name: str) -> SweepDefinition:
        """The sweep called ``name`` (names normalize like profile names)."""
        normal = normalize_profile_name(name)
        if normal in self.sweeps:
            return self.sweeps[normal]
        known = [d.name for d in self.sweeps.values()]
        hint = closest(normal, list(self.sweeps))
        message = (f"unknown sweep {name!r} in {self.path}; defined: "
                   f"{', '.join(known) or 'none'}")
        if hint:
            message += f". Did you mean {self.sweeps[hint].name!r}?"
        raise MolexpUsageError(message)

    def names(self) -> List[str]:
        return [written for written, _ in self.profiles.values()]

    # -- resolution --------------------------------------------------------
    def resolve(self, profile: Optional[str]) -> Dict[str, Any]:
        """The merged config of ``profile`` (``None``: defaults only)."""
        merged = deep_merge({}, self.defaults)
        if profile is None:
            return merged
        for normal in self.chain(self.lookup(profile)):
            overlay = {k: v for k, v in self.profiles[normal][1].items() if k != "extends"}
            merged = deep_merge(merged, overlay)
        return merged

    def lookup(self, profile: str) -> str:
        normal = normalize_profile_name(profile)
        if normal in self.profiles:
            return normal
        hint = closest(normal, list(self.profiles))
        available = ", ".join(self.names()) or "none"
        message = f"unknown profile {profile!r} in {self.path}; available: {available}"
        if hint:
            message += f". Did you mean {self.profiles[hint][0]!r}?"
        raise MolexpUsageError(message)


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> Dict[str, Any]:
    """A new dict: ``overlay`` over ``base``; mappings merge, the rest replaces."""
    result = {key: _plain_copy(value) for key, value in base.items()}
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = _plain_copy(value)
    return result


def _plain_copy(value: Any) -> Any:
    """A copy made of plain dicts and lists (loaders may return subclasses)."""
    if isinstance(value, Mapping):
        return {key: _plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_copy(item) for item in value]
    return copy.copy(value) if not isinstance(value, (str, int, float, bool, type(None))) else value


def _check_keys(mapping: Mapping[str, Any], path: Any, where: str) -> None:
    """Keys must be strings and values JSON data: the config is hashed as JSON."""
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ConfigError(
                f"{where}: key {key!r} must be a string (quote it)",
                path,
                line_of(mapping, key),
            )
        _check_value(value, path, f"{where}: {key}", line_of(mapping, key))


def _check_value(value: Any, path: Any, where: str, line: Optional[int]) -> None:
    if isinstance(value, Mapping):
        _check_keys(value, path, where)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, path, where, line)
    elif isinstance(value, float) and (value != value or value in (_INF, -_INF)):
        raise ConfigError(f"{where}: NaN and infinities are not allowed", path, line)
    elif not isinstance(value, (str, int, float, bool, type(None))):
        raise ConfigError(
            f"{where}: a {type(value).__name__} is not a config value "
            "(use strings, numbers, booleans, null, lists and mappings)",
            path,
            line,
        )

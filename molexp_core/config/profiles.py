"""Profile resolution: validate a molcfg document, follow ``extends``, deep-merge.

``defaults`` is always the root.  A profile overlays the result of its parents
(``extends``: a name or a list of names, applied left to right).  Mappings
merge key by key; everything else (lists included) replaces.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from molexp_core.config.documents import line_of
from molexp_core.config.values import check_mapping
from molexp_core.errors import ConfigError, MolexpUsageError, a_or_an, closest

if TYPE_CHECKING:  # pragma: no cover
    from molexp_core.config.sweeps import SweepDefinition

SUPPORTED_VERSION = 1
DEFAULTS = "defaults"  # `extends: defaults` names them (unless a profile has that name)
TOP_LEVEL_KEYS = ("version", "defaults", "profiles", "sweeps")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def normalize_profile_name(name: str) -> str:
    """Dashes become underscores: ``dry-run`` and ``dry_run`` are one profile."""
    return name.replace("-", "_")


def check_profile_name(name: str, path: Any = None, line: Optional[int] = None) -> None:
    """Refuse names that could not be a directory name under the runs root, or
    that could not be typed after ``-p``."""
    if isinstance(name, str) and name.startswith("-"):
        raise ConfigError(
            f"invalid profile name {name!r}: a name cannot start with '-' (on a command "
            f"line it reads as an option); {normalize_profile_name(name)!r} is the same "
            "profile once dashes become underscores, and can be typed",
            path,
            line,
        )
    if not isinstance(name, str) or not PROFILE_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid profile name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_' and without '..'",
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
            kind = "empty" if raw is None else a_or_an(type(raw).__name__)
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
        check_mapping(defaults, path, "defaults")
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
            check_mapping(body, path, f"profile {name!r}")
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
        self._parents: Dict[str, List[str]] = {}
        self._orders: Dict[str, List[str]] = {}
        for normal in self.profiles:
            self._parents[normal] = self._read_parents(normal)  # unknown parents up front
        self._check_cycles()  # and cycles, in one pass over the whole graph
        if raw.get("sweeps") is not None:  # config/sweeps loads only for a `sweeps:`
            from molexp_core.config.sweeps import parse_section

            self.sweeps = parse_section(raw.get("sweeps"), path, self.profiles,
                                        normalize_profile_name)

    def parents(self, normal: str) -> List[str]:
        """The profiles ``normal`` extends directly, in the order it lists them."""
        return self._parents[normal]

    def _read_parents(self, normal: str) -> List[str]:
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
            if key == DEFAULTS and key not in self.profiles:
                continue  # `extends: defaults`: every profile starts from the defaults
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

    def _check_cycles(self) -> None:
        """One depth-first walk over every profile: linear in the file's size."""
        done: set = set()
        for start in self.profiles:
            if start in done:
                continue
            path = [start]
            on_path = {start}
            stack = [iter(self.parents(start))]
            while stack:
                for parent in stack[-1]:
                    if parent in done:
                        continue
                    if parent in on_path:
                        cycle = [self.profiles[n][0] for n in path[path.index(parent):]]
                        first = self.profiles[parent][1]
                        if len(cycle) > 12:  # one readable line, however long the loop
                            cycle[5:-5] = [f"({len(cycle) - 10} more)"]
                        raise ConfigError(
                            "'extends' cycle: " + " -> ".join(cycle + [cycle[0]]),
                            self.path,
                            line_of(first, "extends"),
                        )
                    path.append(parent)
                    on_path.add(parent)
                    stack.append(iter(self.parents(parent)))
                    break
                else:
                    stack.pop()
                    node = path.pop()
                    on_path.discard(node)
                    done.add(node)

    def chain(self, normal: str) -> List[str]:
        """The order in which profiles apply to select ``normal``; the last is ``normal``.

        The depth-first post-order of the ``extends`` graph from ``normal``,
        parents visited in the order their ``extends`` list names them, each
        profile kept at its first place (``../shared/spec/profile-order.md``):
        every profile applies once, after all the profiles it extends, and of
        two parents in one list the later wins.  Memoized; the walk is
        iterative, so a chain of any length is fine (cycles were refused when
        the document was read).
        """
        cached = self._orders.get(normal)
        if cached is not None:
            return list(cached)
        order: List[str] = []
        placed: set = set()
        stack = [(normal, iter(self.parents(normal)))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent not in placed:
                    stack.append((parent, iter(self.parents(parent))))
                    break
            else:
                stack.pop()
                if node not in placed:  # reached twice before being placed: keep the first
                    placed.add(node)
                    order.append(node)
        self._orders[normal] = order
        return list(order)

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
        merged = _plain_copy(self.defaults)
        if profile is None:
            return merged
        for normal in self.chain(self.lookup(profile)):
            merge_into(merged, self.profiles[normal][1], skip=("extends",))
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
    return merge_into(_plain_copy(base), overlay)


def merge_into(result: Dict[str, Any], overlay: Mapping[str, Any],
               skip: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """Merge ``overlay`` into ``result`` in place (copying what it takes from it).

    In place, so applying n profiles costs the size of the profiles, not n
    copies of the growing result.
    """
    for key, value in overlay.items():
        if key in skip:
            continue
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge_into(current, value)
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

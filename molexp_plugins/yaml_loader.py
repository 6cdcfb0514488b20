"""The YAML loader (``molcfg.yaml``, ``molcfg.yml``), with ruamel.yaml's safe loader.

Only plain data is constructed: any Python tag (``!!python/object/...``) is
refused, timestamps stay strings, duplicate keys are errors, and every mapping
comes back as a :class:`molexp_core.LineDict` so errors can name lines.

molexp reads YAML 1.2, where a bare ``yes``/``no``/``on``/``off``/``y``/``n`` is a
string (``use_gpu: no`` is the truthy ``"no"``); each such value gets a
:class:`molexp_core.ConfigWarning` naming its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from molexp_core import (MAX_CONFIG_DEPTH, MAX_INT_DIGITS, ConfigError, ConfigWarning,
                         LineDict, check_file_size, hookimpl)

SUFFIXES = (".yaml", ".yml")
MAX_DEPTH = MAX_CONFIG_DEPTH  # far beyond any real config; stops stack exhaustion early
# a config's levels sit under the document's top level and a profile's name
GUARD_DEPTH = MAX_DEPTH + 2
_DIRECTIVE = r"(?m)^%YAML[ \t]+([0-9]+)\.([0-9]+)"  # compiled when YAML is read
MAX_NODES = 1_000_000  # alias expansion ("billion laughs") is refused past this


@hookimpl(tryfirst=True)
def molexp_config_candidates(directory):
    return [Path(directory) / "molcfg.yaml", Path(directory) / "molcfg.yml"]


@hookimpl
def molexp_load_config(path):
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        return None
    check_file_size(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    if "\0" in text:
        raise ConfigError("not a text file (contains NUL bytes)", path)
    if not text.strip():
        raise ConfigError("the file is empty; start it with 'version: 1'", path)
    _check_directives(text, path)
    _check_depth(text, path)
    data = _parse(text, path)
    if data is None:
        raise ConfigError("the file holds no document; start it with 'version: 1'", path)
    _check_size(data, path)
    return data


def _parse(text: str, path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _constructor_class()
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
        _warn_yaml11_booleans(yaml.constructor, path)
        if data is not None and not isinstance(data, dict):  # where the document starts
            start = next((n for n, line in enumerate(text.splitlines(), 1)
                          if line.strip() and not line.lstrip().startswith(("#", "%", "---"))),
                         None)
            raise ConfigError("the top level must be a mapping with 'version: 1', "
                              "'defaults' and 'profiles', but the file is "
                              + {list: "a list", str: "a string", bool: "a boolean"}.get(
                                  type(data), "a number"), path, start)
        return data
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in str(exc).lower():
            problem = _duplicate_message(exc, text)
        elif "could not determine a constructor" in problem or "tag" in problem:
            problem = f"{problem}; only plain data tags are allowed"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ConfigError(problem, path, line, column) from None
    except RecursionError:
        raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", path) from None
    except YAMLError as exc:
        message = " ".join(str(exc).split())
        raise ConfigError(message, path) from None


def _duplicate_message(exc: Any, text: str) -> str:
    """``duplicate key 'smoke' (first at line 4; ...)``: ruamel's own message shows
    both values as ``{}`` when they are mappings, which says nothing."""
    import re

    found = re.search(r'found duplicate key "(.*)" with value', str(exc))
    if not found:
        return "duplicate key (each key may appear once per mapping)"
    key = found.group(1)
    first = None
    mark, start = exc.problem_mark, exc.context_mark
    if mark is not None:
        lines = text.splitlines()
        for number in range(start.line if start else 0, min(mark.line, len(lines))):
            head = lines[number][mark.column:]
            if lines[number][:mark.column].strip(" -") == "" and re.match(
                    r"""(["']?)%s\1\s*:""" % re.escape(key), head):
                first = number + 1
                break
    where = f"first at line {first}; " if first else ""
    return f"duplicate key {key!r} ({where}each key may appear once per mapping)"


# YAML 1.1 booleans that YAML 1.2 (what molexp reads) leaves as strings
YAML11_TRUE = {"yes", "y", "on"}
YAML11_FALSE = {"no", "n", "off"}


def _warn_yaml11_booleans(constructor: Any, path: Path) -> None:
    import warnings

    for line, key, value in getattr(constructor, "yaml11_booleans", ()):
        meant = "true" if value.lower() in YAML11_TRUE else "false"
        what = f"'{key}: {value}'" if key is not None else f"the list item '{value}'"
        warnings.warn(ConfigWarning(
            f"{what} is the string \"{value}\" (YAML 1.2), which is truthy; write "
            f"{meant} for a boolean, or quote it to keep the string", path, line),
            stacklevel=2)


def _yaml11_boolean(node: Any) -> bool:
    return (getattr(node, "style", "") is None and node.tag == "tag:yaml.org,2002:str"
            and isinstance(node.value, str)
            and node.value.lower() in YAML11_TRUE | YAML11_FALSE)


_CONSTRUCTOR = None


def _constructor_class():
    global _CONSTRUCTOR
    if _CONSTRUCTOR is not None:
        return _CONSTRUCTOR
    from ruamel.yaml.constructor import SafeConstructor

    class LineConstructor(SafeConstructor):
        """SafeConstructor that builds LineDicts and keeps timestamps as text."""

        def construct_yaml_map(self, node):
            data = LineDict()
            data.line = node.start_mark.line + 1
            yield data
            data.update(self.construct_mapping(node))
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    data.key_lines.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # unhashable key; construct_mapping reports it
                    pass
                if _yaml11_boolean(value_node):
                    self._note_boolean(value_node, key)

        def construct_yaml_seq(self, node):
            data = []
            yield data
            data.extend(self.construct_sequence(node))
            for item in node.value:
                if _yaml11_boolean(item):
                    self._note_boolean(item, None)

        def _note_boolean(self, node, key):
            if not hasattr(self, "yaml11_booleans"):
                self.yaml11_booleans = []
            self.yaml11_booleans.append((node.start_mark.line + 1, key, node.value))

        def construct_yaml_timestamp(self, node, values=None):
            return self.construct_scalar(node)

        def construct_yaml_int(self, node):
            text = str(node.value).replace("_", "").lstrip("+-")
            digits = sum(char.isdigit() for char in text)
            based = text[:2].lower() in ("0x", "0o", "0b")  # int() has no limit for these
            if digits > (MAX_INT_DIGITS * 4 if based else MAX_INT_DIGITS):
                from ruamel.yaml.constructor import ConstructorError

                raise ConstructorError(  # (the exact rule for 0x... is in the core)
                    None, None, f"an integer of {digits} digits; molexp reads integers "
                    f"of at most {MAX_INT_DIGITS} digits", node.start_mark)
            return super().construct_yaml_int(node)

    LineConstructor.add_constructor("tag:yaml.org,2002:map", LineConstructor.construct_yaml_map)
    LineConstructor.add_constructor("tag:yaml.org,2002:seq", LineConstructor.construct_yaml_seq)
    LineConstructor.add_constructor(
        "tag:yaml.org,2002:timestamp", LineConstructor.construct_yaml_timestamp
    )
    LineConstructor.add_constructor("tag:yaml.org,2002:int", LineConstructor.construct_yaml_int)
    _CONSTRUCTOR = LineConstructor
    return LineConstructor


def _check_directives(text: str, path: Path) -> None:
    """ruamel.yaml asserts on a ``%YAML`` version it does not know (1.0, 1.3):
    say which versions molexp reads instead, with the line."""
    for found in re.finditer(_DIRECTIVE, text):
        major, minor = (part.lstrip("0") or "0" for part in found.groups())
        if major != "1" or minor not in ("1", "2"):
            line = text.count("\n", 0, found.start()) + 1
            version = f"{major[:10]}.{minor[:10]}"
            raise ConfigError(f"%YAML {version}: molexp reads YAML 1.2 documents "
                              "(and 1.1); remove the directive or write '%YAML 1.2'",
                              path, line)


def _check_depth(text: str, path: Path) -> None:
    """Refuse pathological nesting before the recursive parser sees it."""
    depth = 0
    if text.count("[") + text.count("{") > GUARD_DEPTH:  # else it cannot be too deep
        for found in re.finditer(r"[\[\]{}]", text):
            depth += 1 if found.group() in "[{" else -1
            if depth > GUARD_DEPTH:
                line = text.count("\n", 0, found.start()) + 1
                raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", path, line)
    indents = re.findall(r"(?m)^ +", text)
    if max(map(len, indents), default=0) > MAX_DEPTH * 8:
        raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", path)


def _check_size(data: Any, path: Path) -> None:
    """Count nodes as a consumer would see them, aliases expanded."""
    count = 0
    stack = [(data, 0)]
    seen_depth: Optional[int] = None
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(
                f"the document expands to more than {MAX_NODES:,} values "
                "(an alias bomb?); refused",
                path,
            )
        if depth > GUARD_DEPTH:
            seen_depth = depth
            break
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    if seen_depth is not None:
        raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", path)

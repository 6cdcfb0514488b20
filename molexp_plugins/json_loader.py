"""The JSON loader (``molcfg.json``): strict JSON, no NaN/Infinity, no duplicate keys."""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from pathlib import Path

from molexp_core import (MAX_CONFIG_DEPTH, MAX_INT_DIGITS, ConfigError, LineDict,
                         check_file_size, hookimpl)

# patterns, compiled (and cached by re) the first time a JSON config is read: every
# molexp command imports this plugin, few read JSON
_STRING = r'"(?:[^"\\\n]|\\.)*"'
_BRACKET = r"[\[\]{}]"
# an integer literal (not a fraction or an exponent) longer than Python converts
_LONG_INT = r"(?<![0-9.eE+-])-?[0-9]{%d,}(?![0-9.eE])" % (MAX_INT_DIGITS + 1)
_SURROGATE_ESCAPE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"


class _Refused(ValueError):
    def __init__(self, message, line=None):
        super().__init__(message)
        self.line = line


@hookimpl  # after the YAML loader's (tryfirst) candidates: molcfg.yaml, .yml, .json
def molexp_config_candidates(directory):
    return [Path(directory) / "molcfg.json"]


@hookimpl
def molexp_load_config(path):
    path = Path(path)
    if path.suffix.lower() != ".json":
        return None
    check_file_size(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    if not text.strip():
        raise ConfigError("the file is empty; it must hold an object with \"version\": 1", path)
    _check_limits(text, path)
    try:
        data = _LineDecoder(text).decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(exc.msg, path, exc.lineno, exc.colno) from None
    except _Refused as exc:
        raise ConfigError(str(exc), path, exc.line or _constant_line(text)) from None
    except RecursionError:
        raise ConfigError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path) from None
    if not isinstance(data, dict):  # say where the document starts, as YAML's errors do
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(
            type(data), "null" if data is None else "a number")
        line = text[:len(text) - len(text.lstrip())].count("\n") + 1
        raise ConfigError("the top level must be a mapping (a JSON object) with "
                          "\"version\": 1, "
                          f"\"defaults\" and \"profiles\", but the file holds {kind}",
                          path, line)
    return data


class _LineDecoder(json.JSONDecoder):
    """The standard decoder, with every object a :class:`LineDict` that knows the
    line of each key, so molexp's errors about a JSON document name lines too.

    It runs json's pure-Python scanner (about 10 MB/s, far above YAML's speed),
    whose ``parse_object`` step can be replaced: each object records where its
    values start.
    """

    def __init__(self, text):
        super().__init__(parse_constant=_no_constants)
        self._newlines = [found.start() for found in re.finditer("\n", text)]
        self.parse_object = self._object
        self.scan_once = json.scanner.py_make_scanner(self)

    def _line(self, position):
        return bisect.bisect_left(self._newlines, position) + 1

    def _object(self, s_and_end, strict, scan_once, object_hook, object_pairs_hook,
                memo=None):
        starts = []

        def recording(string, index):
            starts.append(index)
            return scan_once(string, index)

        pairs, end = json.decoder.JSONObject(s_and_end, strict, recording, None,
                                             lambda pairs: pairs, memo)
        result = LineDict()
        result.line = self._line(s_and_end[1])
        for (key, value), start in zip(pairs, starts):
            if key in result:
                raise _Refused(f"duplicate key {key!r} (each key may appear once per object)",
                               self._line(start))
            result[key] = value
            result.key_lines[key] = self._line(start)
        return result, end


def _constant_line(text):
    """The line of the first NaN/Infinity outside strings (what _no_constants refused)."""
    skeleton = re.sub(_STRING, '""', text)
    found = re.search(r"(?<![\w.])-?(NaN|Infinity)(?!\w)", skeleton)
    return skeleton.count("\n", 0, found.start()) + 1 if found else None


def _no_constants(name):
    raise _Refused(f"{name} is not allowed in a config (JSON numbers must be finite)")


def _check_limits(text, path):
    """What would raise inside the parser (or after it) is refused first, with its line:
    nesting past molexp's limit (the document and ``profiles`` add two levels to a
    config's), integers longer than Python converts, lone surrogate escapes."""
    skeleton = re.sub(_STRING, '""', text)  # strings hold no brackets, digits, newlines
    depth = 0
    openers = skeleton.count("[") + skeleton.count("{")
    for found in re.finditer(_BRACKET, skeleton) if openers > MAX_CONFIG_DEPTH + 2 else ():
        depth += 1 if found.group() in "[{" else -1
        if depth > MAX_CONFIG_DEPTH + 2:
            line = skeleton.count("\n", 0, found.start()) + 1
            raise ConfigError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path, line)
    found = re.search(_LONG_INT, skeleton)
    if found:
        line = skeleton.count("\n", 0, found.start()) + 1
        digits = len(found.group().lstrip("-"))
        raise ConfigError(f"an integer of {digits} digits; molexp reads integers of at "
                          f"most {MAX_INT_DIGITS} digits", path, line)
    if re.search(_SURROGATE_ESCAPE, text):  # rare: find the string and say what is wrong
        for found in re.finditer(_STRING, text):
            try:
                value = json.loads(found.group())
            except ValueError:
                continue  # the parser will say
            if any("\ud800" <= char <= "\udfff" for char in value):
                line = text.count("\n", 0, found.start()) + 1
                raise ConfigError(f"{found.group()[:40]} holds a lone UTF-16 surrogate "
                                  "escape, which is not a character", path, line)

"""molexp-toml: ``molcfg.toml`` files and a richer override coercion rule."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from molexp_core import (MAX_CONFIG_DEPTH, MAX_INT_DIGITS, NULL, ConfigError,
                         MolexpUsageError, hookimpl)

__version__ = "0.1.0"

NULL_WORDS = {"null", "none", "~"}
SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
# compiled (and cached by re) on first use: every molexp command imports a plugin, and
# a 4,301-fold repeat takes longer to compile than the rest of this module to import
_POSITION = r"\(at line (\d+), column (\d+)\)"
_LONG_DIGITS = r"[0-9]{%d}" % (MAX_INT_DIGITS + 1)


@hookimpl
def molexp_config_candidates(directory):
    return [Path(directory) / "molcfg.toml"]


@hookimpl
def molexp_load_config(path):
    path = Path(path)
    if path.suffix.lower() != ".toml":
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on older Pythons only
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(_POSITION, message)
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        raise ConfigError(re.sub(_POSITION, "", message).strip(), path, line,
                          column) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except RecursionError:  # molexp's own limit is lower; say it in the same words
        raise ConfigError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path) from None
    except ValueError as exc:  # an integer longer than Python converts
        raise ConfigError(f"cannot be read: {exc}", path) from None


@hookimpl
def molexp_coerce_override(key, raw):
    text = raw.strip()
    if text.lower() in NULL_WORDS:
        return NULL
    if text[:1] in "[{" and text[-1:] in "]}":
        if re.search(_LONG_DIGITS, text):
            raise MolexpUsageError(f"--override {key}=...: an integer of more than "
                                   f"{MAX_INT_DIGITS} digits")
        try:
            return json.loads(text)
        except RecursionError:
            raise MolexpUsageError(f"--override {key}=...: nesting deeper than "
                                   f"{MAX_CONFIG_DEPTH} levels") from None
        except ValueError:
            return None  # not JSON after all: let the next rule decide
    if SCIENTIFIC.match(text):
        return float(text)
    return None

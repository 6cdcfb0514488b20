"""Finding and loading the config file, through the plugin hooks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

from molexp_core.errors import ConfigError, MolexpUsageError
from molexp_core.plugin_host.manager import PluginHost


def candidates(host: PluginHost, directory: Path) -> List[Path]:
    found: List[Path] = []
    # built-ins' candidates first (molcfg.yaml, .yml, .json), then third-party ones
    for group in host.call_each("molexp_config_candidates", builtins_first=True,
                                directory=directory):
        for item in group:
            path = Path(item)
            if path not in found:
                found.append(path)
    return found


def candidate_names(host: PluginHost) -> str:
    """The config file names discovery tries, for a "no config file" message:
    ``molcfg.yaml, molcfg.yml, molcfg.json`` and every installed plugin's."""
    names = list(dict.fromkeys(path.name for path in candidates(host, Path("."))))
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] \
        if names else "none: no loader plugin names a config file"


def discover(host: PluginHost, script: Optional[Path], directory: Optional[Path] = None,
             notes: Optional[List[str]] = None) -> Optional[Path]:
    """The config file to use when ``--config`` is not given, or ``None``.

    ``directory`` (default: the current working directory) is searched first (the
    documented rule); only when nothing is there, the script's own directory.
    ``notes`` collects one line for each ``molcfg.*`` file in a searched directory
    that no installed loader names, and for candidates that lost to the one used.
    """
    first = Path(directory).absolute() if directory is not None else Path.cwd()
    directories = [first]
    if script is not None:
        script_dir = script.resolve().parent
        if script_dir != first.resolve():
            directories.append(script_dir)
    for where in directories:
        claimed = candidates(host, where)
        # a FIFO or device counts as found: load() refuses it
        existing = [path for path in claimed
                    if path.exists() and not path.is_dir()]
        if notes is not None:
            notes.extend(_unclaimed_notes(where, claimed, existing[0] if existing else None))
            if len(existing) > 1:
                notes.append(
                    f"{len(existing)} config files in {where}: {existing[0].name} is used, "
                    f"{', '.join(p.name for p in existing[1:])} ignored (--config chooses)")
        if existing:
            return existing[0]
    return None


# a loader plugin that reads each suffix, for the note about a file nobody reads
KNOWN_LOADERS = {".toml": "molexp-toml (examples/plugins/molexp-toml)"}
_CONFIG_NAME = re.compile(r"^molcfg\.[A-Za-z0-9]+$")  # not molcfg.yaml.bak or molcfg.yaml~


def _unclaimed_notes(directory: Path, claimed: List[Path],
                     chosen: Optional[Path]) -> List[str]:
    """Lines for the ``molcfg.*`` files in ``directory`` no installed loader names."""
    import os

    try:
        names = sorted(n for n in os.listdir(directory) if _CONFIG_NAME.match(n))
    except OSError:
        return []
    known = {path.name for path in claimed}
    lines = []
    for name in names:
        if name in known or not (Path(directory) / name).is_file():
            continue
        suffix = Path(name).suffix.lower()
        plugin = KNOWN_LOADERS.get(suffix)
        reader = (f"the {plugin} plugin reads it" if plugin
                  else f"install a loader plugin for {suffix} files")
        used = f"{chosen.name} is used" if chosen is not None else "it is ignored"
        lines.append(f"{Path(directory) / name}: no installed loader reads {name} "
                     f"({reader}); {used}")
    return lines


def load(host: PluginHost, path: Path, notes: Optional[List[str]] = None,
         max_parse_bytes: Optional[int] = None) -> Any:
    """Parse ``path`` with the first loader that accepts it.

    ``max_parse_bytes``: a file larger than this is served from the parse cache
    or refused, never parsed (shell completion must answer at once).
    The :class:`ConfigWarning` warnings the loader issues are appended to ``notes``
    as text (and kept with the cached parse, so that they are given every time).
    """
    if not path.exists():
        raise MolexpUsageError(f"config file {path} does not exist")
    if path.is_dir():
        raise MolexpUsageError(f"config file {path} is a directory")
    if not path.is_file():  # a FIFO would hang the loader, a device never end
        raise ConfigError("not a regular file", path)
    from molexp_core.config import cache as config_cache

    # a cache entry holds the document and the loader's warnings (a key of its
    # own, so entries written before warnings were kept are never read as complete)
    def parse() -> Any:
        if max_parse_bytes is not None and path.stat().st_size > max_parse_bytes:
            raise ConfigError(f"larger than {max_parse_bytes} bytes and not parsed yet", path)
        document, warned = _call_loaders(host, path)
        return None if document is None else {"document": document, "warnings": warned}

    if config_cache.enabled():
        plugins = sorted(info.name for info in host.infos if not info.error) + ["+warnings"]
        wrapped = config_cache.parse_stable(path, plugins, parse)
    else:
        wrapped = parse()
    result = None
    if isinstance(wrapped, dict) and "document" in wrapped:
        result = wrapped["document"]
        if notes is not None:
            notes.extend(str(text) for text in wrapped.get("warnings") or [])
    if result is None:
        suffixes = sorted(
            {
                candidate.suffix
                for candidate in candidates(host, path.parent)
                if candidate.suffix
            }
        )
        raise ConfigError(
            f"no installed loader reads this file; installed loaders accept "
            f"{', '.join(suffixes) or 'nothing'} (install a loader plugin for "
            f"{path.suffix or 'this kind of file'})",
            path,
        )
    return result


def _call_loaders(host: PluginHost, path: Path) -> Tuple[Any, List[str]]:
    """The first loader's document, and the :class:`ConfigWarning` texts it issued."""
    import warnings

    from molexp_core.errors import ConfigWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        result = host.call_each("molexp_load_config", firstresult=True, path=path)
    texts = []
    for item in caught:
        if issubclass(item.category, ConfigWarning):
            texts.append(str(item.message))
        else:  # not ours: hand it on as it came
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return result, texts

"""Finding and loading the config file, through the plugin hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

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


def discover(host: PluginHost, script: Optional[Path]) -> Optional[Path]:
    """The config file to use when ``--config`` is not given, or ``None``.

    The current working directory is searched first (the documented rule); only
    when nothing is there, the script's own directory.
    """
    directories = [Path.cwd()]
    if script is not None:
        script_dir = script.resolve().parent
        if script_dir != directories[0].resolve():
            directories.append(script_dir)
    for directory in directories:
        for path in candidates(host, directory):
            if path.exists() and not path.is_dir():  # a FIFO or device: refused by load()
                return path
    return None


def load(host: PluginHost, path: Path, max_parse_bytes: Optional[int] = None) -> Any:
    """Parse ``path`` with the first loader that accepts it.

    ``max_parse_bytes``: a file larger than this is served from the parse cache
    or refused, never parsed (shell completion must answer at once).
    """
    if not path.exists():
        raise MolexpUsageError(f"config file {path} does not exist")
    if path.is_dir():
        raise MolexpUsageError(f"config file {path} is a directory")
    if not path.is_file():  # a FIFO would hang the loader, a device never end
        raise ConfigError("not a regular file", path)
    from molexp_core.config import cache as config_cache

    def parse() -> Any:
        if max_parse_bytes is not None and path.stat().st_size > max_parse_bytes:
            raise ConfigError(f"larger than {max_parse_bytes} bytes and not parsed yet", path)
        return host.call_each("molexp_load_config", firstresult=True, path=path)

    if config_cache.enabled():
        plugins = sorted(info.name for info in host.infos if not info.error)
        result = config_cache.parse_stable(path, plugins, parse)
    else:
        result = parse()
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

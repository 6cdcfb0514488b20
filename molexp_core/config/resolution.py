"""From command-line arguments to one merged config: the straight line

``--config``/discovery -> loader plugin -> profile resolution -> overrides -> hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from molexp_core.config import files as config_files
from molexp_core.errors import MolexpUsageError
from molexp_core.config.hashing import config_hash
from molexp_core.config.overrides import Override, apply_overrides
from molexp_core.plugin_host.manager import PluginHost
from molexp_core.config.profiles import Document


class ResolvedConfig:
    """The outcome of resolution: which file, which (normalized) profile, what config."""

    def __init__(self, config_file: Optional[Path], profile: Optional[str],
                 config: Dict[str, Any], overrides: Optional[List[str]] = None) -> None:
        self.config_file = config_file
        self.profile = profile
        self.config = config
        self.overrides = list(overrides or [])

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def load_document(
    host: PluginHost, config: Optional[Path], script: Optional[Path],
    max_parse_bytes: Optional[int] = None,
) -> Optional[Document]:
    path = config if config is not None else config_files.discover(host, script)
    if path is None:
        return None
    path = Path(path).absolute()
    return Document(config_files.load(host, path, max_parse_bytes), path)


def resolve(
    host: PluginHost,
    config: Optional[Path],
    profile: Optional[str],
    overrides: Sequence[Override] = (),
    script: Optional[Path] = None,
) -> ResolvedConfig:
    document = load_document(host, config, script)
    if document is None:
        if profile is not None:
            raise MolexpUsageError(
                f"--profile {profile} needs a config file, but none was given and no "
                "molcfg.yaml, molcfg.yml or molcfg.json was found in the current "
                "directory" + (" or the script's directory" if script else "")
                + "; pass --config FILE"
            )
        merged: Dict[str, Any] = {}
        normal = None
        path = None
    else:
        normal = document.lookup(profile) if profile is not None else None
        merged = document.resolve(normal)
        path = document.path
    apply_overrides(merged, overrides, host)
    return ResolvedConfig(path, normal, merged, [o.text for o in overrides])

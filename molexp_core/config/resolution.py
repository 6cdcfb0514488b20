"""From command-line arguments to one merged config: the straight line

``--config``/discovery -> loader plugin -> profile resolution -> overrides -> hash.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from molexp_core.config import files as config_files
from molexp_core.errors import MolexpUsageError
from molexp_core.config.hashing import config_hash
from molexp_core.config.override_checks import override_warnings
from molexp_core.config.overrides import Override, apply_overrides
from molexp_core.plugin_host.manager import PluginHost
from molexp_core.config.profiles import Document


class ResolvedConfig:
    """The outcome of resolution: which file, which (normalized) profile, what config."""

    def __init__(self, config_file: Optional[Path], profile: Optional[str],
                 config: Dict[str, Any], overrides: Optional[List[str]] = None,
                 warnings: Optional[List[str]] = None) -> None:
        self.config_file = config_file
        self.profile = profile
        self.config = config
        self.overrides = list(overrides or [])
        # probable mistakes, one line each: the loader's, discovery's, the overrides'
        self.warnings = list(warnings or [])

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def load_document(
    host: PluginHost, config: Optional[Path], script: Optional[Path],
    notes: Optional[List[str]] = None, directory: Optional[Path] = None,
    max_parse_bytes: Optional[int] = None,
) -> Optional[Document]:
    """The config document: ``config``, else the one discovery finds (``directory``:
    where to look first and what a relative ``config`` is relative to; default
    the current one).  ``notes`` collects the warnings of discovery and loading."""
    if config is not None:
        path: Optional[Path] = Path(config)
        if directory is not None and not path.is_absolute():
            path = Path(directory) / path
    else:
        path = config_files.discover(host, script, directory, notes)
    if path is None:
        return None
    path = Path(path).absolute()
    return Document(config_files.load(host, path, notes, max_parse_bytes), path)


def resolve(
    host: PluginHost,
    config: Optional[Path],
    profile: Optional[str],
    overrides: Sequence[Override] = (),
    script: Optional[Path] = None,
    directory: Optional[Path] = None,
) -> ResolvedConfig:
    notes: List[str] = []
    if profile is not None:
        profile = profile.strip()  # `-p " smoke"` from a script's quoting
    document = load_document(host, config, script, notes, directory)
    if document is None:
        if profile is not None:
            raise MolexpUsageError(
                f"--profile {profile} needs a config file, but none was given and no "
                f"{config_files.candidate_names(host)} was found in the current "
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
    before = copy.deepcopy(merged) if overrides else merged
    apply_overrides(merged, overrides, host)
    notes.extend(override_warnings(before, merged, overrides))
    return ResolvedConfig(path, normal, merged, [o.text for o in overrides], notes)

"""molexp's core, and the one import path for plugin authors.

Everything a plugin needs is a name of this module::

    from molexp_core import hookimpl, NULL, ConfigError, LineDict
    from molexp_core import Scheduler, Submission, JobState, PreparedRun

The layers below (``plugin_host``, ``config``, ``runs``, ``scheduling``, ``cli``;
see ``docs/architecture.md``) are molexp's own and may change between releases.
The names a loader needs are imported at once; the scheduling names load on first
use, so that ``import molexp_core`` stays cheap on the CLI's start-up path.
"""

from __future__ import annotations

from typing import Any

from molexp_core.config.documents import NULL, LineDict, check_file_size
from molexp_core.config.values import MAX_DEPTH as MAX_CONFIG_DEPTH
from molexp_core.config.values import MAX_INT_DIGITS
from molexp_core.errors import ConfigError, MolexpError, MolexpUsageError
from molexp_core.plugin_host.hookspecs import hookimpl
from molexp_core.version import __version__

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "Scheduler": "molexp_core.scheduling.interface",
    "Submission": "molexp_core.scheduling.interface",
    "SubmissionFailed": "molexp_core.scheduling.interface",
    "JobState": "molexp_core.scheduling.interface",
    "PreparedRun": "molexp_core.runs.prepared",
    "execute_run": "molexp_core.runs.executor",
    "RunOutcome": "molexp_core.runs.executor",
    "write_run_file": "molexp_core.runs.safe_files",
    "append_run_file": "molexp_core.runs.safe_files",
}

__all__ = [
    "MAX_CONFIG_DEPTH",
    "MAX_INT_DIGITS",
    "NULL",
    "ConfigError",
    "JobState",
    "LineDict",
    "MolexpError",
    "MolexpUsageError",
    "PreparedRun",
    "RunOutcome",
    "Scheduler",
    "Submission",
    "SubmissionFailed",
    "__version__",
    "append_run_file",
    "check_file_size",
    "execute_run",
    "hookimpl",
    "write_run_file",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'molexp_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))

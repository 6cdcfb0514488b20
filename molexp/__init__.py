"""molexp for script authors and notebooks.

Scripts: ``from molexp.workflow import Task, TaskContext, Workflow``.
Notebooks and tools: ``molexp.load_config``, ``molexp.config_hash``,
``molexp.runs``, ``molexp.get_run`` and ``molexp.Run`` (see docs/python-api.md).

The API is imported on first attribute access (PEP 562): ``import molexp`` and
``import molexp.workflow``, which every script does, stay cheap.
"""

from typing import TYPE_CHECKING, Any, List

from molexp_core.version import __version__

_API = (
    "ConfigError", "ConfigWarning", "MolexpError", "MolexpUsageError", "ProfileConfig",
    "Run", "RunResults", "config_hash", "get_run", "load_config", "runs",
)

__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from molexp.api import (ConfigError, ConfigWarning, MolexpError, MolexpUsageError,
                            ProfileConfig, Run, RunResults, config_hash, get_run,
                            load_config, runs)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'molexp' has no attribute {name!r}")
    from molexp import api

    value = getattr(api, name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_API))

"""molexp's core, and the one import path for plugin authors.

Everything a plugin needs is a name of this module::

    from molexp_core import hookimpl, NULL, ConfigError, LineDict
    from molexp_core import Scheduler, Submission, JobState, PreparedRun

The layers below (``plugin_host``, ``config``, ``runs``, ``scheduling``, ``cli``;
see ``docs/architecture.md``) are molexp's own and may change between releases.
Every name loads on first use, so that ``import molexp_core`` (and a script's
``import molexp.workflow``) stays cheap: no Click, no pluggy until asked for.
"""

from __future__ import annotations

import sys as _sys

# `python -m molexp_core` (a detached run, a Slurm job) and `python -c ...` (a
# spawned task process) put the current directory first on sys.path, and that is
# the run's directory of origin, where a user's `logging.py` or `asyncio.py` may
# live: molexp's own imports must never resolve there.  (Scripts are imported by
# path; their own directory goes on sys.path only once molexp has what it needs.)
if _sys.argv[:1] in (["-m"], ["-c"]) and _sys.path and _sys.path[0] in (
        "", __import__("os").getcwd()):
    del _sys.path[0]

from molexp_core import timings as _timings  # noqa: E402,F401  (its clock starts here)
from molexp_core.version import __version__  # noqa: E402

# name -> module that defines it; imported on first attribute access (PEP 562), so
# that `import molexp.workflow` (every script) loads neither Click nor pluggy
_LAZY = {
    "NULL": "molexp_core.config.documents",
    "LineDict": "molexp_core.config.documents",
    "check_file_size": "molexp_core.config.documents",
    "MAX_CONFIG_DEPTH": "molexp_core.config.values",
    "MAX_INT_DIGITS": "molexp_core.config.values",
    "ConfigError": "molexp_core.errors",
    "ConfigWarning": "molexp_core.errors",
    "MolexpError": "molexp_core.errors",
    "MolexpUsageError": "molexp_core.errors",
    "hookimpl": "molexp_core.plugin_host.hookspecs",
    "Scheduler": "molexp_core.scheduling.interface",
    "Submission": "molexp_core.scheduling.interface",
    "SubmissionFailed": "molexp_core.scheduling.interface",
    "JobState": "molexp_core.scheduling.interface",
    "identity_mismatch": "molexp_core.scheduling.interface",
    "PreparedRun": "molexp_core.runs.prepared",
    "execute_run": "molexp_core.runs.executor",
    "RunOutcome": "molexp_core.runs.executor",
    "write_run_file": "molexp_core.runs.safe_files",
    "append_run_file": "molexp_core.runs.safe_files",
    "make_run_subdir": "molexp_core.runs.safe_files",
    "process_start_time": "molexp_core.runs.processes",
}
#: names whose module calls them something else
_RENAMED = {"MAX_CONFIG_DEPTH": "MAX_DEPTH"}

__all__ = [
    "MAX_CONFIG_DEPTH",
    "MAX_INT_DIGITS",
    "NULL",
    "ConfigError",
    "ConfigWarning",
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
    "identity_mismatch",
    "make_run_subdir",
    "process_start_time",
    "write_run_file",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'molexp_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))

"""The user-facing package: ``from molexp.workflow import Task, TaskContext``."""

from molexp_core.version import __version__

__all__ = ["__version__"]

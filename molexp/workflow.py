"""The workflow API for experiment scripts."""

from molexp_core.config.profile_config import ProfileConfig
from molexp_core.runs.workflow import Task, TaskContext, Workflow

__all__ = ["ProfileConfig", "Task", "TaskContext", "Workflow"]

"""Deprecated: import these names from ``molexp_core`` itself.

``from molexp_core.schedulers import Scheduler`` was the documented path before the
core was grouped by layer; it keeps working for one release.
"""

import warnings

from molexp_core.runs.prepared import PreparedRun
from molexp_core.scheduling.interface import JobState, Scheduler, Submission, SubmissionFailed

warnings.warn(
    "molexp_core.schedulers is deprecated; import Scheduler, Submission, SubmissionFailed, "
    "JobState and PreparedRun from molexp_core",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["JobState", "PreparedRun", "Scheduler", "Submission", "SubmissionFailed"]

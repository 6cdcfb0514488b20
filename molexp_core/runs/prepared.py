"""A run directory ready to execute: what preparing a run hands to a scheduler.

It lives with the runs (which make it) rather than with the scheduler interface
(which receives it), so that preparing a run never imports the scheduling layer;
``molexp_core`` (the public API) re-exports it for backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:  # pragma: no cover
    from molexp_core.runs.workflow import Workflow


class PreparedRun:
    """A run directory ready to execute, as handed to :meth:`Scheduler.submit`.

    ``run_dir``, ``record`` (its run.json), ``workflow`` (already imported, for
    in-process backends, else None), ``quiet``, ``lock`` (the execution
    lock when the CLI already holds it, on resume), and ``in_process`` (True:
    ``--in-process``, run the tasks without a supervising parent; None: as
    ``$MOLEXP_IN_PROCESS`` says).
    """

    def __init__(self, run_dir: Path, record: Dict[str, Any],
                 workflow: Optional["Workflow"] = None, quiet: bool = False,
                 lock: Any = None) -> None:
        self.run_dir = run_dir
        self.record = record
        self.workflow = workflow
        self.quiet = quiet
        self.lock = lock
        self.in_process: Optional[bool] = None

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    def note_submission(self, identity: Dict[str, Any]) -> None:
        """Record what will identify the job (``run.json``'s ``scheduler.identity``)
        *before* the scheduler is asked: if the answer is lost (a timeout, or
        molexp killed meanwhile), the job can be looked up by it, and a job of
        an earlier submission (another token) never executes the run."""
        from molexp_core.runs import store as runstore

        def mark(rec: Dict[str, Any]) -> None:
            info = rec.setdefault("scheduler", {})
            info["identity"] = dict(identity)
            info["submission"] = "pending"

        self.record = runstore.update_run(self.run_dir, mark)

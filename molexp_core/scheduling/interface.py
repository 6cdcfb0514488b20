"""The scheduler interface: how a prepared run directory reaches a machine.

A backend is a small object registered through ``molexp_register_schedulers``.
molexp prepares the run directory (``run.json`` with status ``created``, a copy
of the script, the merged config) and hands it to ``submit``; whatever runs on
the other side runs ``molexp execute RUN_DIR``.  ``states`` answers for many
jobs in one call; ``cancel`` stops one job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from molexp_core.errors import MolexpError
from molexp_core.runs.prepared import PreparedRun

if TYPE_CHECKING:  # pragma: no cover
    import click


class Submission:
    """What :meth:`Scheduler.submit` reports.

    ``job_id`` is set when a job now exists elsewhere (status ``submitted``);
    a backend that ran the job to the end in-process leaves it ``None`` and
    sets ``status`` to the run's final status and ``exit_code`` to the CLI's.

    Status ``unknown`` (no ``job_id``): the scheduler may or may not have the
    job (its answer was lost: a timeout after the request was sent).  ``message``
    says what happened; ``details["identity"]`` must then hold the job's unique
    ``name`` (what :meth:`Scheduler.lookup` finds it by) and ``details`` may set
    ``submission_deadline`` (ISO time): a job not found by then was never accepted.
    The run is recorded ``submitted`` with ``scheduler.submission: unknown``, and
    each refresh looks the job up until it is found, or given up as failed.

    ``details["identity"]`` (any status): what identifies the job, recorded in
    ``run.json`` (``scheduler.identity``) and compared with each
    :class:`JobState`'s ``identity``: ``name``, ``token`` (the submission token
    that ``molexp execute --submission`` checks), ``after`` (ISO time before the
    request: the job cannot have been submitted earlier).
    """

    def __init__(self, status: str, job_id: Optional[str] = None,
                 log_path: Optional[Path] = None, message: str = "", exit_code: int = 0,
                 details: Optional[Dict[str, Any]] = None) -> None:
        self.status = status
        self.job_id = job_id
        self.log_path = log_path
        self.message = message
        self.exit_code = exit_code
        self.details = dict(details or {})

    def __repr__(self) -> str:
        return f"Submission(status={self.status!r}, job_id={self.job_id!r})"


class JobState:
    """One job's state as the scheduler sees it, mapped to a molexp status:
    ``native`` is the scheduler's own word (``COMPLETED``), ``status`` one of
    submitted / running / succeeded / failed / cancelled, or ``unknown`` for a
    job the scheduler no longer knows at all (shown as ``lost``, never written).

    ``identity`` (optional): what the scheduler says identifies the job, for
    molexp to compare with what it submitted (see :class:`Submission`): ``name``,
    ``token`` (None when the job carries none), ``submitted_at`` (epoch seconds).
    A key that is absent is not compared."""

    __slots__ = ("job_id", "native", "status", "reason", "identity")

    def __init__(self, job_id: str, native: str, status: str,
                 reason: Optional[str] = None,
                 identity: Optional[Dict[str, Any]] = None) -> None:
        self.job_id = job_id
        self.native = native
        self.status = status
        self.reason = reason
        self.identity = identity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobState) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"JobState({self.job_id!r}, {self.native!r}, {self.status!r}, {self.reason!r})"


CLOCK_SKEW = 300.0  # seconds between this host's clock and the scheduler's, tolerated


def identity_mismatch(submitted: Optional[Dict[str, Any]], state: JobState
                      ) -> Optional[str]:
    """Why ``state`` cannot be the job submitted as ``submitted`` (a
    ``Submission``'s ``details["identity"]``), or None when nothing tells them
    apart: another job with the same name, another token, or submitted before
    the request was made.  Keys either side does not know are not compared."""
    seen = state.identity or {}
    if not submitted or not seen:
        return None
    name, seen_name = _text(submitted.get("name")), _text(seen.get("name"))
    if name and seen_name is not None and seen_name != name:
        return f"its name is {seen_name!r}, not {name!r} as submitted"
    token, seen_token = submitted.get("token"), seen.get("token")
    if token and "token" in seen and seen_token != token:
        return (f"it carries submission token {seen_token!r}, not {token!r}"
                if seen_token else f"it carries no submission token ({token!r} submitted)")
    after, at = _epoch(submitted.get("after")), seen.get("submitted_at")
    if after is not None and isinstance(at, (int, float)) and at < after - CLOCK_SKEW:
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"it was submitted at {when}, before this run's submission"
    return None


def _text(value: Any) -> Optional[str]:
    """A name as a tool's leniently decoded output shows it (a byte that is not
    UTF-8 as U+FFFD on both sides)."""
    if not isinstance(value, str):
        return None
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _epoch(text: Any) -> Optional[float]:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SubmissionFailed(MolexpError):
    """The scheduler refused the job; the run is kept as ``failed``."""


class Scheduler:
    """Base class for scheduler backends.  Override what your backend supports."""

    #: the value of ``--scheduler``
    name: str = ""
    #: one line for ``molexp schedulers`` and the ``--help`` heading
    help: str = ""

    def options(self) -> List["click.Option"]:
        """Click options this backend adds to ``molexp run`` (shown under its heading)."""
        return []

    def runs_in_process(self, options: Dict[str, Any]) -> bool:
        """True when ``submit`` executes the run in this process (the script is
        then imported before the run directory is made; otherwise only compiled)."""
        return False

    def validate(self, options: Dict[str, Any]) -> None:
        """Reject bad option values before any run directory is created."""

    def submit(self, run: PreparedRun, options: Dict[str, Any]) -> Submission:
        """Start ``run`` (a prepared run directory) with this backend's ``options``."""
        raise NotImplementedError

    def submit_array(self, runs: Sequence[PreparedRun], options: Dict[str, Any],
                     manifest: Path, max_parallel: Optional[int] = None) -> List[Submission]:
        """Optional: submit many prepared runs (a sweep's points) as few jobs as possible.

        ``manifest`` is a JSON file listing the runs' directories in order; the
        job for position ``i`` runs ``python -m molexp_core execute --manifest
        MANIFEST --index i`` (never a command built from config values).
        ``max_parallel``: at most this many of them at a time (None: no limit).
        Return one :class:`Submission` per run, in order, each with its own
        ``job_id`` (Slurm: ``<array job>_<index>``).  Raise
        :class:`SubmissionFailed` if nothing was submitted.  A backend without
        arrays leaves this alone: molexp then calls :meth:`submit` once per run.
        """
        raise NotImplementedError

    def release_array(self, job_ids: Sequence[str]) -> None:
        """Optional, with :meth:`submit_array`: let jobs it submitted *held* start.

        molexp calls it once, with the array jobs' ids (the part of each job id
        before ``_``), after every run has recorded its job id: a backend that
        submits held can then trust that no job starts before its run.json
        says ``submitted``, and molexp records the ids without re-reading them."""

    def supports_arrays(self) -> bool:
        """True when this backend implements :meth:`submit_array`."""
        return type(self).submit_array is not Scheduler.submit_array

    def states(self, job_ids: Sequence[str]) -> Dict[str, JobState]:
        """Current states of many jobs, in as few calls as possible (ideally one).
        Raise :class:`MolexpError` when the scheduler does not answer."""
        return {}

    def lookup(self, names: Sequence[str]) -> Dict[str, List[JobState]]:
        """Optional: the jobs that have each of these names (the unique names of
        submissions whose answer was lost), in as few calls as possible; a name
        with no job is left out.  Raise :class:`MolexpError` when the scheduler
        does not answer (then nothing is concluded)."""
        return {}

    def cancel(self, job_id: str) -> None:
        """Stop one job."""
        raise MolexpError(f"scheduler {self.name!r} cannot cancel jobs")

    def preview(self, run: PreparedRun, options: Dict[str, Any]) -> Optional[str]:
        """For ``--dry-run``: the text that ``submit`` would hand over, if any."""
        return None

    def preview_array(self, runs: Sequence[PreparedRun], options: Dict[str, Any],
                      manifest: Path, max_parallel: Optional[int] = None) -> Optional[str]:
        """For ``--dry-run`` of a sweep: what :meth:`submit_array` would hand over."""
        return None

"""The ``slurm`` scheduler: ``sbatch`` a prepared run directory; ask ``squeue``/``sacct``.

States for many jobs come from ONE ``squeue`` call (finished jobs stay listed for
``MinJobAge``); jobs it no longer knows come from ONE ``sacct`` call when
accounting is on, and from the jobcomp file (``JobCompLoc``) when it is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import click

from molexp_core import (JobState, MolexpError, PreparedRun, Scheduler, Submission,
                         SubmissionFailed, hookimpl, write_run_file)
from molexp_plugins import slurm_batch

SUBMITTED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
             "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "SUSPENDED",
           "STOPPED"}
SUCCEEDED = {"COMPLETED"}
FAILED = {"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "OOM", "TIMEOUT", "BOOT_FAIL",
          "DEADLINE", "SPECIAL_EXIT"}
CANCELLED = {"CANCELLED", "PREEMPTED", "REVOKED"}
TIMEOUT = 60  # seconds for any one Slurm command


def molexp_status(native: str) -> str:
    word = native.split()[0].rstrip("+") if native else ""
    if word in SUCCEEDED:
        return "succeeded"
    if word in FAILED:
        return "failed"
    if word in CANCELLED:
        return "cancelled"
    if word in RUNNING:
        return "running"
    return "submitted"


def _run(argv: List[str], timeout: float = TIMEOUT) -> Any:
    import subprocess  # only when talking to Slurm: start-up stays lean

    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise MolexpError(f"{argv[0]} not found: is Slurm installed on this machine "
                          "(and on PATH)?") from None
    except subprocess.TimeoutExpired:
        raise MolexpError(f"{argv[0]} did not answer within {timeout:.0f} s") from None


def _first_error_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[:3]) or "no message"


class SlurmScheduler(Scheduler):
    name = "slurm"
    help = "Submit to a Slurm cluster with sbatch; the job runs `molexp execute RUN_DIR`."

    def __init__(self) -> None:
        self._accounting: Optional[bool] = None  # None: not known yet

    def _accounting_known_off(self, settings: Dict[str, str]) -> None:
        if self._accounting is None:
            storage = settings.get("accountingstoragetype")
            if storage is not None and storage.lower() == "accounting_storage/none":
                self._accounting = False  # no sacct call that can only say "disabled"

    def options(self) -> List[click.Option]:
        return slurm_batch.click_options()

    def validate(self, options: Dict[str, Any]) -> None:
        slurm_batch.check_values(options)

    def preview(self, run: PreparedRun, options: Dict[str, Any]) -> str:
        record = dict(run.record)
        record.setdefault("python_executable", _python())
        record.setdefault("cwd", os.getcwd())
        slurm_batch.check_paths(run.run_dir, record)  # never print a script that breaks
        return slurm_batch.render(run.run_dir, record, options)

    # -- submit ------------------------------------------------------------
    def submit(self, run: PreparedRun, options: Dict[str, Any]) -> Submission:
        try:
            slurm_batch.check_paths(run.run_dir, run.record)
        except click.ClickException as exc:  # the run is kept, failed, with the reason
            raise SubmissionFailed(exc.format_message()) from None
        script = run.run_dir / slurm_batch.BATCH_FILE
        try:
            write_run_file(script, slurm_batch.render(run.run_dir, run.record, options))
        except MolexpError as exc:  # e.g. a link planted as job.sbatch
            raise SubmissionFailed(exc.format_message()) from None
        argv = ["sbatch", "--parsable",
                *slurm_batch.sbatch_args(run.run_dir, run.record, options), str(script)]
        job_id = self._sbatch(argv)
        return Submission(
            status="submitted",
            job_id=job_id,
            log_path=run.run_dir / slurm_batch.LOG_PATTERN.replace("%j", job_id),
            details={"batch_script": str(script)},
        )

    # -- job arrays (sweeps) -------------------------------------------------
    def submit_array(self, runs: Sequence[PreparedRun], options: Dict[str, Any],
                     manifest: Path, max_parallel: Optional[int] = None) -> List[Submission]:
        """As few job arrays as ``MaxArraySize`` allows (one ``sbatch`` each, usually
        one in all); task ``i`` of an array executes the run at ``offset + i``."""
        if not runs:
            return []
        sweep_dir = Path(manifest).parent
        record = dict(runs[0].record)
        try:
            slurm_batch.check_paths(sweep_dir, record)
            for run in runs:
                slurm_batch.check_paths(run.run_dir, run.record)
        except click.ClickException as exc:
            raise SubmissionFailed(exc.format_message()) from None
        (sweep_dir / slurm_batch.ARRAY_LOG_DIR).mkdir(exist_ok=True)
        size = max_array_size()
        submissions: List[Submission] = []
        arrays: List[str] = []
        for number, offset in enumerate(range(0, len(runs), size)):
            chunk = runs[offset:offset + size]
            script = sweep_dir / f"{Path(manifest).stem}-array-{number}.sbatch"
            script.write_text(slurm_batch.render_array(
                sweep_dir, Path(manifest), offset, len(chunk), record, options,
                max_parallel), encoding="utf-8")
            try:  # held until molexp has recorded every job id (release_array)
                array_job = self._sbatch(["sbatch", "--parsable", "--hold", str(script)])
            except SubmissionFailed:
                for job in arrays:  # all or nothing: no half-submitted sweep
                    _run(["scancel", job])
                raise
            arrays.append(array_job)
            for index, run in enumerate(chunk):
                job_id = f"{array_job}_{index}"
                submissions.append(Submission(
                    status="submitted", job_id=job_id,
                    log_path=run.run_dir / f"slurm-{job_id}.out",
                    details={"batch_script": str(script), "array_job_id": array_job,
                             "array_index": index, "held": True}))
        return submissions

    def release_array(self, job_ids: Sequence[str]) -> None:
        """One `scontrol release` for every array of the sweep."""
        if not job_ids:
            return
        result = _run(["scontrol", "release", ",".join(str(j) for j in job_ids)])
        if result.returncode != 0:
            raise MolexpError(f"scontrol release {','.join(job_ids)} failed: "
                              f"{_first_error_line(result.stderr)}; the arrays are held: "
                              f"release them with `scontrol release` or cancel the sweep")

    def _sbatch(self, argv: List[str]) -> str:
        try:
            result = _run(argv)
        except MolexpError as exc:
            raise SubmissionFailed(exc.format_message()) from None
        if result.returncode != 0:
            raise SubmissionFailed(_first_error_line(result.stderr or result.stdout))
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise SubmissionFailed(f"sbatch printed no job id: {result.stdout.strip()!r}")
        return job_id

    # -- states ------------------------------------------------------------
    def states(self, job_ids: Sequence[str]) -> Dict[str, JobState]:
        """One ``squeue`` call; for jobs it no longer lists, one ``sacct`` call (when
        slurm.conf does not say accounting is off) and the jobcomp file.

        ``scontrol show job`` is not asked: it reads the same controller memory
        as ``squeue -t all`` and would cost one call per job for no new answer.
        A job that no source knows is reported as ``UNKNOWN`` (status
        ``unknown``): purged, or from another cluster.
        """
        wanted = [str(j) for j in job_ids]
        if not wanted:
            return {}
        found = self._squeue(wanted)
        missing = [j for j in wanted if j not in found]
        settings = _slurm_settings() if missing else {}  # read once per refresh
        if missing:
            self._accounting_known_off(settings)
        if missing and self._accounting is not False:
            found.update(self._sacct(missing))
            missing = [j for j in wanted if j not in found]
        if missing:
            found.update(self._jobcomp(missing, settings))
            missing = [j for j in wanted if j not in found]
        for job_id in missing:
            found[job_id] = JobState(job_id, "UNKNOWN", "unknown",
                                     "not known to squeue, sacct or the jobcomp file")
        return found

    def _squeue(self, job_ids: List[str]) -> Dict[str, JobState]:
        # array tasks (`123_4`) are asked for by their array job, one line per task (-r)
        query = sorted({j.split("_")[0] for j in job_ids}, key=lambda j: (len(j), j))
        result = _run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(query),
                       "-o", "%i|%T|%r"])
        if result.returncode != 0:
            if "invalid job id" in (result.stderr or "").lower():
                return {}  # every id is gone from squeue: ask the others
            raise MolexpError(f"squeue failed: {_first_error_line(result.stderr)}")
        return self._parse(result.stdout, 0, 1, 2)

    def _sacct(self, job_ids: List[str]) -> Dict[str, JobState]:
        query = sorted({j.split("_")[0] for j in job_ids}, key=lambda j: (len(j), j))
        result = _run(["sacct", "-n", "-P", "-X", "-j", ",".join(query),
                       "-o", "JobID,State,Reason"])
        if result.returncode != 0 or "accounting storage is disabled" in (
            result.stderr + result.stdout
        ).lower():
            self._accounting = False
            return {}
        self._accounting = True
        return self._parse(result.stdout, 0, 1, 2)

    def _parse(self, text: str, id_col: int, state_col: int, reason_col: int):
        states: Dict[str, JobState] = {}
        for line in text.splitlines():
            parts = line.strip().split("|")
            if len(parts) <= max(id_col, state_col):
                continue
            job_id = parts[id_col].strip()
            native = parts[state_col].strip().split()[0] if parts[state_col].strip() else ""
            reason = parts[reason_col].strip() if len(parts) > reason_col else None
            if reason in ("None", "", None):
                reason = None
            states[job_id] = JobState(job_id, native, molexp_status(native), reason)
        return states

    def _jobcomp(self, job_ids: List[str], settings: Dict[str, str]) -> Dict[str, JobState]:
        path = _jobcomp_path(settings)
        if path is None:
            return {}
        wanted = set(job_ids)
        states: Dict[str, JobState] = {}
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
                    job_id = fields.get("JobId")
                    task = fields.get("ArrayTaskId", "")
                    if fields.get("ArrayJobId") and task.isdigit() and int(task) < 2**31:
                        job_id = f"{fields['ArrayJobId']}_{task}"
                    if job_id in wanted and "JobState" in fields:
                        native = fields["JobState"]
                        states[job_id] = JobState(job_id, native, molexp_status(native))
        except OSError:
            return {}
        return states

    # -- cancel ------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        result = _run(["scancel", str(job_id)])
        if result.returncode != 0:
            raise MolexpError(f"scancel {job_id} failed: {_first_error_line(result.stderr)}")


def _python() -> str:
    import sys

    return sys.executable


DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default


def max_array_size() -> int:
    """How many tasks one array may have here (indices 0..MaxArraySize-1), from the
    controller (`scontrol show config`): the limit the controller enforces."""
    try:
        result = _run(["scontrol", "show", "config"])
    except MolexpError:
        return DEFAULT_MAX_ARRAY_SIZE
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "maxarraysize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return DEFAULT_MAX_ARRAY_SIZE


def _slurm_settings() -> Dict[str, str]:
    """slurm.conf's settings (keys lower-cased); empty when it cannot be read."""
    conf = os.environ.get("SLURM_CONF") or "/etc/slurm/slurm.conf"
    try:
        text = Path(conf).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line and " " not in line.split("=", 1)[0]:
            key, value = line.split("=", 1)
            settings[key.strip().lower()] = value.strip()
    return settings


def _jobcomp_path(settings: Dict[str, str]) -> Optional[Path]:
    """JobCompLoc from slurm.conf's settings, when jobcomp/filetxt is in use."""
    if settings.get("jobcomptype", "").lower() != "jobcomp/filetxt":
        return None
    loc = settings.get("jobcomploc")
    return Path(loc) if loc else None


@hookimpl
def molexp_register_schedulers(register):
    register(SlurmScheduler())

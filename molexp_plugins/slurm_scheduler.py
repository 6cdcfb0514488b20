"""The ``slurm`` scheduler: ``sbatch`` a prepared run directory; ask ``squeue``/``sacct``.

Each submission has a token (in its job name and comment) recorded in ``run.json``
before ``sbatch`` is called.  When sbatch's answer is lost after the controller
may have accepted the job ("Socket timed out on send/recv operation", or sbatch
not answering in time), the job is looked up by its unique name before anything
is concluded; the queries themselves live in ``slurm_queries``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import click

from molexp_core import (JobState, MolexpError, PreparedRun, Scheduler, Submission,
                         SubmissionFailed, hookimpl, identity_mismatch, make_run_subdir,
                         write_run_file)
from molexp_plugins import slurm_batch
from molexp_plugins import slurm_queries as q
from molexp_plugins.slurm_queries import molexp_status  # noqa: F401  (kept importable)

# sbatch said something that does not tell whether the controller took the job
_AMBIGUOUS = re.compile(r"timed out|zero bytes were transmitted|connection reset|"
                        r"broken pipe|unexpected message|slurm_receive_msg", re.I)
FIND_TRIES = 3  # name lookups right after an ambiguous sbatch, one second apart
# an unknown submission whose job no lookup has found this many timeouts after sbatch
# was called was never taken (a controller that took it lists it at once)
GIVE_UP_AFTER = 3


class _Ambiguous(Exception):
    """sbatch's answer was lost: the job may exist."""


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


class SlurmScheduler(Scheduler):
    name = "slurm"
    help = "Submit to a Slurm cluster with sbatch; the job runs `molexp execute RUN_DIR`."

    def __init__(self) -> None:
        self._accounting: Optional[bool] = None  # None: not known yet

    def options(self) -> List[click.Option]:
        return slurm_batch.click_options()

    def validate(self, options: Dict[str, Any]) -> None:
        slurm_batch.check_values(options)

    def preview(self, run: PreparedRun, options: Dict[str, Any]) -> str:
        record = _with_defaults(run.record)
        slurm_batch.check_paths(run.run_dir, record)  # never print a script that breaks
        return slurm_batch.render(run.run_dir, record, options, slurm_batch.new_token())

    def preview_array(self, runs: Sequence[PreparedRun], options: Dict[str, Any],
                      manifest: Path, max_parallel: Optional[int] = None) -> str:
        """The batch script(s) ``submit_array`` would write (sizes from slurm.conf's
        MaxArraySize, read from the file: a dry run asks the controller nothing)."""
        record = _with_defaults(runs[0].record) if runs else _with_defaults({})
        sweep_dir = Path(manifest).parent
        slurm_batch.check_paths(sweep_dir, record)
        size = _conf_max_array_size()
        texts = []
        for number, offset in enumerate(range(0, len(runs), size)):
            count = min(size, len(runs) - offset)
            texts.append(f"# array {number}: sbatch --hold "
                         f"--array={slurm_batch.array_range(count, max_parallel)}\n"
                         + slurm_batch.render_array(sweep_dir, Path(manifest), offset, count,
                                                    record, options, max_parallel,
                                                    slurm_batch.new_token()))
        return "\n".join(texts)

    # -- submit ------------------------------------------------------------
    def submit(self, run: PreparedRun, options: Dict[str, Any]) -> Submission:
        try:
            slurm_batch.check_paths(run.run_dir, run.record)
        except click.ClickException as exc:  # the run is kept, failed, with the reason
            raise SubmissionFailed(exc.format_message()) from None
        token = slurm_batch.new_token()
        name = slurm_batch.job_name(run.record, options, token)
        script = run.run_dir / slurm_batch.BATCH_FILE
        try:
            write_run_file(script, slurm_batch.render(run.run_dir, run.record, options,
                                                      token))
        except MolexpError as exc:  # e.g. a link planted as job.sbatch
            raise SubmissionFailed(exc.format_message()) from None
        started = time.time()
        identity = {"name": name, "token": token, "after": _iso(started)}
        run.note_submission(identity)  # before sbatch: a lost answer can be looked up
        argv = ["sbatch", "--parsable",
                *slurm_batch.sbatch_args(run.run_dir, run.record, options, token),
                str(script)]
        details: Dict[str, Any] = {"batch_script": str(script), "identity": identity}
        try:
            job_id = self._sbatch(argv)
        except _Ambiguous as lost:
            found = self._find_submitted(identity)
            if found is None:
                return Submission(
                    status="unknown", message=str(lost),
                    details={**details, "submission_deadline":
                             _iso(started + GIVE_UP_AFTER * q.timeout()),
                             "log_pattern": str(run.run_dir / slurm_batch.LOG_PATTERN
                                                .replace("%j", "{job_id}"))})
            job_id = found
            details["submission_note"] = f"{lost}; the job was found by its name {name}"
        return Submission(
            status="submitted",
            job_id=job_id,
            log_path=run.run_dir / slurm_batch.LOG_PATTERN.replace("%j", job_id),
            details=details,
        )

    def _sbatch(self, argv: List[str]) -> str:
        """sbatch's job id; SubmissionFailed when it refused; _Ambiguous when its
        answer was lost (the controller may have accepted the job)."""
        try:
            result = q.run_tool(argv)
        except q.ToolTimeout as exc:
            raise _Ambiguous(exc.format_message()) from None
        except MolexpError as exc:
            raise SubmissionFailed(exc.format_message()) from None
        said = q.first_error_line(result.stderr or result.stdout)
        if result.returncode != 0:
            if _AMBIGUOUS.search(result.stderr or ""):
                raise _Ambiguous(said if said.startswith("sbatch") else f"sbatch: {said}")
            raise SubmissionFailed(said)
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():  # it exited 0: the job was taken, the answer garbled
            raise _Ambiguous(f"sbatch printed no job id: {result.stdout.strip()[:200]!r}")
        return job_id

    def _find_submitted(self, identity: Dict[str, Any]) -> Optional[str]:
        """The job id of the job submitted as ``identity``, looked up by its name
        a few times; None when it cannot be told (not found yet, or no answer)."""
        for attempt in range(FIND_TRIES):
            if attempt:
                time.sleep(1.0)
            try:
                jobs = q.squeue(["-n", identity["name"]])
            except MolexpError:
                continue
            ours = [s for s in jobs if matches(identity, s)]
            if ours:  # an array's tasks are `<array job>_<i>`
                return ours[0].job_id.split("_")[0]
        return None

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
        try:  # never through a link planted in the sweep record
            make_run_subdir(sweep_dir / slurm_batch.ARRAY_LOG_DIR)
        except MolexpError as exc:
            raise SubmissionFailed(exc.format_message()) from None
        size = max_array_size()
        submissions: List[Submission] = []
        arrays: List[str] = []
        for number, offset in enumerate(range(0, len(runs), size)):
            chunk = runs[offset:offset + size]
            token = slurm_batch.new_token()
            identity = {"name": slurm_batch.job_name(record, options, token),
                        "token": token, "after": _iso(time.time())}
            script = sweep_dir / f"{Path(manifest).stem}-array-{number}.sbatch"
            try:  # atomically, never through a link planted at its name
                write_run_file(script, slurm_batch.render_array(
                    sweep_dir, Path(manifest), offset, len(chunk), record, options,
                    max_parallel, token))
            except MolexpError as exc:
                for job in arrays:  # all or nothing: no half-submitted sweep
                    q.run_tool(["scancel", job])
                raise SubmissionFailed(exc.format_message()) from None
            try:  # held until molexp has recorded every job id (release_array)
                array_job = self._sbatch_held(script, identity)
            except SubmissionFailed:
                for job in arrays:  # all or nothing: no half-submitted sweep
                    q.run_tool(["scancel", job])
                raise
            arrays.append(array_job)
            for index, run in enumerate(chunk):
                job_id = f"{array_job}_{index}"
                submissions.append(Submission(
                    status="submitted", job_id=job_id,
                    log_path=run.run_dir / f"slurm-{job_id}.out",
                    details={"batch_script": str(script), "array_job_id": array_job,
                             "array_index": index, "held": True, "identity": identity}))
        return submissions

    def _sbatch_held(self, script: Path, identity: Dict[str, Any]) -> str:
        """The array job id.  A lost answer is looked up by name; a held array that
        cannot be found is cancelled by its unique name, so it never runs."""
        try:
            return self._sbatch(["sbatch", "--parsable", "--hold", str(script)])
        except _Ambiguous as lost:
            found = self._find_submitted(identity)
            if found is not None:
                return found
            unique = identity["token"] in identity["name"]
            if unique:
                try:
                    q.run_tool(["scancel", f"--name={identity['name']}"])
                except MolexpError:
                    pass
            raise SubmissionFailed(
                f"{lost}; no job named {identity['name']} was found"
                + ("; such a job, if it exists, is held and was cancelled by name"
                   if unique else f"; if `squeue -n {identity['name']}` lists one, it "
                   "is held: scancel it")) from None

    def release_array(self, job_ids: Sequence[str]) -> None:
        """One `scontrol release` for every array of the sweep."""
        if not job_ids:
            return
        result = q.run_tool(["scontrol", "release", ",".join(str(j) for j in job_ids)])
        if result.returncode != 0:
            raise MolexpError(f"scontrol release {','.join(job_ids)} failed: "
                              f"{q.first_error_line(result.stderr)}; the arrays are held: "
                              f"release them with `scontrol release` or cancel the sweep")

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
        found = q.squeue_ids(wanted)
        missing = [j for j in wanted if j not in found]
        settings = q.slurm_settings() if missing else {}  # read once per refresh
        if missing and self._accounting is None and q.accounting_off(settings):
            self._accounting = False  # no sacct call that can only say "disabled"
        if missing and self._accounting is not False:
            known = q.sacct_ids(missing)
            self._accounting = known is not None
            found.update(known or {})
            missing = [j for j in wanted if j not in found]
        if missing:
            found.update(q.jobcomp_ids(missing, settings))
            missing = [j for j in wanted if j not in found]
        for job_id in missing:
            found[job_id] = JobState(job_id, "UNKNOWN", "unknown",
                                     "not known to squeue, sacct or the jobcomp file")
        return {j: found[j] for j in wanted}

    def lookup(self, names: Sequence[str]) -> Dict[str, List[JobState]]:
        """Jobs by name: one ``squeue -n``; names it does not list, from sacct or
        the jobcomp file."""
        wanted = sorted({str(n) for n in names})
        if not wanted:
            return {}
        found: Dict[str, List[JobState]] = {}
        for state in q.squeue(["-n", ",".join(wanted)]):
            found.setdefault((state.identity or {}).get("name") or "", []).append(state)
        missing = [n for n in wanted if n not in found]
        if missing:
            settings = q.slurm_settings()
            older = None if q.accounting_off(settings) else q.sacct(
                ["--name", ",".join(missing)])
            if older is None:
                older = q.jobcomp_names(missing, settings)
            for state in older:
                found.setdefault((state.identity or {}).get("name") or "", []).append(state)
        return {n: found[n] for n in wanted if n in found}

    # -- cancel ------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        result = q.run_tool(["scancel", str(job_id)])
        if result.returncode != 0:
            raise MolexpError(f"scancel {job_id} failed: "
                              f"{q.first_error_line(result.stderr)}")


def matches(identity: Dict[str, Any], state: JobState) -> bool:
    """Whether ``state`` can be the job submitted as ``identity``."""
    return (state.identity or {}).get("name") == identity.get("name") and \
        identity_mismatch(identity, state) is None


def _with_defaults(record: Dict[str, Any]) -> Dict[str, Any]:
    import sys

    record = dict(record)
    record.setdefault("python_executable", sys.executable)
    record.setdefault("cwd", os.getcwd())
    return record


DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default


def max_array_size() -> int:
    """How many tasks one array may have here (indices 0..MaxArraySize-1), from the
    controller (`scontrol show config`): the limit the controller enforces."""
    try:
        result = q.run_tool(["scontrol", "show", "config"])
    except MolexpError:
        return DEFAULT_MAX_ARRAY_SIZE
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "maxarraysize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return DEFAULT_MAX_ARRAY_SIZE


def _conf_max_array_size() -> int:
    value = q.slurm_settings().get("maxarraysize", "")
    return max(1, int(value)) if value.isdigit() else DEFAULT_MAX_ARRAY_SIZE


@hookimpl
def molexp_register_schedulers(register):
    register(SlurmScheduler())

"""``molexp execute RUN_DIR``: execute a prepared run with exactly its recorded config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import click

from molexp_core.cli.completion import complete_run_dirs
from molexp_core.cli.options import runs_dir_option
from molexp_core.errors import MolexpUsageError


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                required=False, shell_complete=complete_run_dirs)
@click.option("--quiet", "-q", is_flag=True, help="Print only the essentials.")
@click.option("--in-process", is_flag=True, help="Run the tasks in this process, "
              "unsupervised (for debuggers); also $MOLEXP_IN_PROCESS=1.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Instead of RUN_DIR: a sweep's manifest (what a job array task runs).")
@click.option("--index", type=click.IntRange(0), default=None,
              help="With --manifest: the position of the run to execute.")
@click.option("--output", "output", default=None, metavar="NAME",
              help="Send this process's output to NAME in the run directory.")
@click.option("--current-script", is_flag=True, help="Execute the file at the run's "
              "script path as it is now (recorded as such), not the stored snapshot.")
@click.option("--job-id", "job_id", default=None, metavar="ID",
              help="The scheduler job running this (a batch script passes its own); "
              "recorded in the attempt's history.")
@click.option("--submission", default=None, metavar="TOKEN",
              help="The submission this job belongs to: a job of another submission "
              "ends without touching the run.")
@runs_dir_option
@click.pass_context
def execute(ctx: click.Context, run_dir: Optional[Path], quiet: bool, in_process: bool,
            manifest: Optional[Path], index: Optional[int], output: Optional[str],
            current_script: bool, job_id: Optional[str], submission: Optional[str],
            runs_dir) -> None:
    """Execute RUN_DIR (prepared or unfinished) with its stored config and code.

    This is what a scheduler's job runs on the compute node.  It never reads a
    molcfg file: ctx.config is the run's recorded config, bit for bit, and the
    code is the script snapshot the run was prepared (or resumed) with, even if
    the file has been edited since.
    """
    from molexp_core.cli.submit import report_outcome
    from molexp_core.runs.executor import execute_run

    if (manifest is None) == (run_dir is None) or (manifest is None) != (index is None):
        raise MolexpUsageError("give RUN_DIR, or --manifest FILE with --index N")
    if manifest is not None:
        from molexp_core.runs.sweep_store import manifest_run

        run_dir = manifest_run(manifest, index)
    if output is not None:
        _redirect(run_dir, output)
    job_id = job_id or None  # "$SLURM_JOB_ID" outside a job: no id
    for value in (job_id, submission):
        if value is not None and (not value.strip() or any(c < " " for c in value)):
            raise MolexpUsageError(f"--job-id/--submission {value!r}: give a plain id")
    outcome = execute_run(run_dir, quiet=quiet, in_process=in_process or None,
                          current_script=current_script, job_id=job_id,
                          submission=submission)
    if outcome.status == "skipped":  # not this job's to execute: nothing was written
        click.echo(outcome.summary)
        ctx.exit(0)
    ctx.exit(report_outcome(outcome.run_dir, outcome.status, outcome.summary,
                            outcome.exit_code, quiet,
                            already_done=getattr(outcome, "already_done", False)))


def _redirect(run_dir: Path, name: str) -> None:
    """stdout and stderr to ``run_dir/name`` (a plain file name, made here): never
    through a link or into a FIFO planted at that name (the run is then not
    executed, and its record says why)."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs import safe_files

    if "/" in name or name.startswith(".") or not name or "\0" in name:
        raise MolexpUsageError(f"--output {name!r}: give a plain file name")
    path = Path(run_dir) / name
    try:
        fd = safe_files.open_append(path)
    except safe_files.RunStoreError as exc:
        reason = f"not executed: its output file was refused: {exc.format_message()}"
        _not_executed(run_dir, reason)
        raise MolexpError(f"run {Path(run_dir).name} {reason}") from None
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _not_executed(run_dir: Path, reason: str) -> None:
    """Record why a queued run was not executed (nothing else will)."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs import store as runstore

    def mark(rec):
        if rec.get("status") in ("created", "submitted"):
            rec.update(status="failed", error=reason, finished_at=runstore.now_iso())

    try:
        runstore.update_run(run_dir, mark)
    except MolexpError:
        pass

"""The ``local`` scheduler: in the foreground, in-process; or ``--detach``ed."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

import click

from molexp_core import (PreparedRun, Scheduler, Submission, append_run_file, hookimpl,
                         process_start_time)


class LocalScheduler(Scheduler):
    name = "local"
    help = "Run on this machine: in the foreground, or detached with --detach."

    def options(self) -> List[click.Option]:
        return [
            click.Option(
                ["--detach"],
                is_flag=True,
                default=False,
                help="Run in a background process that survives the terminal; "
                "return at once with the run id (not with --sweep).",
            )
        ]

    def runs_in_process(self, options: Dict[str, Any]) -> bool:
        return not options.get("detach")

    def submit(self, run: PreparedRun, options: Dict[str, Any]) -> Submission:
        if options.get("detach"):
            return self._detach(run)
        from molexp_core import execute_run

        outcome = execute_run(run.run_dir, run.workflow, quiet=run.quiet, lock=run.lock,
                              in_process=getattr(run, "in_process", None))
        return Submission(
            status=outcome.status,
            message=outcome.summary,
            exit_code=outcome.exit_code,
            log_path=run.run_dir / "run.log",
        )

    def _detach(self, run: PreparedRun) -> Submission:
        if run.lock is not None:
            run.lock.release()  # the background process takes it over
        import subprocess

        log = run.run_dir / "job.out"
        with append_run_file(log) as out, open(os.devnull, "rb") as devnull:
            process = subprocess.Popen(
                [sys.executable, "-m", "molexp_core", "execute", "--quiet", str(run.run_dir)]
                + (["--in-process"] if getattr(run, "in_process", None) else []),
                stdin=devnull,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=run.record.get("cwd") or os.getcwd(),
                start_new_session=True,  # survives the terminal (no SIGHUP)
                close_fds=True,
            )
        return Submission(
            status="submitted",
            job_id=str(process.pid),
            log_path=log,
            message=f"detached as pid {process.pid}",
            details={"pid_start": process_start_time(process.pid)},  # cancel checks it
        )


@hookimpl
def molexp_register_schedulers(register):
    register(LocalScheduler())

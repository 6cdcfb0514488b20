"""``molexp execute RUN_DIR``: execute a prepared run with exactly its recorded config."""

from __future__ import annotations

from pathlib import Path

import click

from molexp_core.cli.completion import complete_run_dirs
from molexp_core.cli.options import runs_dir_option


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                shell_complete=complete_run_dirs)
@click.option("--quiet", "-q", is_flag=True, help="Print only the essentials.")
@click.option("--in-process", is_flag=True, help="Run the tasks in this process, "
              "unsupervised (for debuggers); also $MOLEXP_IN_PROCESS=1.")
@runs_dir_option
@click.pass_context
def execute(ctx: click.Context, run_dir: Path, quiet: bool, in_process: bool,
            runs_dir) -> None:
    """Execute RUN_DIR (prepared or unfinished) with its stored config.

    This is what a scheduler's job runs on the compute node.  It never reads a
    molcfg file: ctx.config is the run's recorded config, bit for bit.
    """
    from molexp_core.cli.submit import report_outcome
    from molexp_core.runs.executor import execute_run

    outcome = execute_run(run_dir, quiet=quiet, in_process=in_process or None)
    ctx.exit(report_outcome(outcome.run_dir, outcome.status, outcome.summary,
                            outcome.exit_code, quiet))

"""``molexp run SCRIPT``: resolve a profile, prepare a run directory, hand it over."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from molexp_core.cli.options import (ShortOptionsFirst, completer, config_options,
                                     report_warnings, runs_dir_option)
from molexp_core import timings
from molexp_core.errors import MolexpError, MolexpUsageError


NEWEST = "(newest unfinished)"  # `--resume` without a value


class RunCommand(ShortOptionsFirst, click.Command):
    """``run``, with each installed scheduler's options under its own heading."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        # `--resume train.py ...`: the script, not a run to resume
        args = list(args)
        for i, arg in enumerate(args[:-1]):
            if arg == "--resume" and args[i + 1].endswith(".py") and Path(args[i + 1]).is_file():
                args[i] = f"--resume={NEWEST}"
        return super().parse_args(ctx, args)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._base_count = len(self.params)
        self._owners: Dict[str, List[str]] = {}  # option name -> schedulers
        self._loaded = False

    def _load_scheduler_options(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from molexp_core.plugin_host.manager import get_plugin_host

        taken = {p.name for p in self.params}
        for name, scheduler in get_plugin_host().schedulers().items():
            for option in scheduler.options():
                if option.name in taken and option.name not in self._owners:
                    continue  # never shadow a core option
                self._owners.setdefault(option.name, []).append(name)
                if option.name not in taken:
                    taken.add(option.name)
                    self.params.append(option)

    def get_params(self, ctx: click.Context) -> List[click.Parameter]:
        self._load_scheduler_options()
        return super().get_params(ctx)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._load_scheduler_options()
        params = self.get_params(ctx)
        core = [p for p in params if p.name not in self._owners
                and isinstance(p, click.Option)]  # arguments are in the usage line
        _section(formatter, "Options", core, ctx)
        from molexp_core.plugin_host.manager import get_plugin_host

        for name, scheduler in get_plugin_host().schedulers().items():
            own = [p for p in params if name in self._owners.get(p.name, ())]
            title = f"Scheduler '{name}' options (with --scheduler {name})"
            _section(formatter, title, own, ctx)

    def scheduler_values(self, ctx: click.Context, scheduler: str) -> Dict[str, Any]:
        """The chosen scheduler's option values; others' options are refused."""
        values = {}
        for name, owners in self._owners.items():
            given = ctx.get_parameter_source(name) not in (
                click.core.ParameterSource.DEFAULT,
                None,
            )
            if scheduler in owners:
                values[name] = ctx.params.get(name)
            elif given:
                flag = next(p.opts[0] for p in self.params if p.name == name)
                raise MolexpUsageError(
                    f"{flag} is an option of scheduler {', '.join(owners)}; "
                    f"add --scheduler {owners[0]}"
                )
        return values


def _section(formatter: click.HelpFormatter, title: str, params, ctx) -> None:
    rows = [r for r in (p.get_help_record(ctx) for p in params) if r]
    if rows:
        with formatter.section(title):
            formatter.write_dl(rows)


@click.command(cls=RunCommand)
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_options
@click.option("--resume", "resume", is_flag=False, flag_value=NEWEST, default=None,
              metavar="[RUN]", help="Continue the newest unfinished run of this script "
              "under the same profile, or the run RUN (run id, unique prefix or suffix, "
              "run directory, or latest).")
@click.option("--scheduler", "scheduler_name", default="local", show_default=True,
              shell_complete=completer("complete_schedulers"),
              help="Where the run executes (see `molexp schedulers`).")
@click.option("--dry-run", is_flag=True, help="Print the merged config, its hash and "
              "what would be submitted; create nothing.")
@click.option("--wait", is_flag=True, help="For schedulers that queue the run: block "
              "until it ends and exit with its outcome.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the essentials.")
@click.option("--sweep", "sweep", multiple=True, metavar="KEY=V1,V2|NAME",
              shell_complete=completer("complete_sweeps"),
              help="Run many points: an axis KEY=V1,V2,... (\\, is a comma inside a "
              "value; repeat for a grid) or a sweep NAME from molcfg.yaml.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None,
              help="With --sweep, locally: run this many points at a time (default 1).")
@click.option("--max-parallel", type=click.IntRange(1), default=None,
              help="With --sweep on a scheduler with job arrays: at most this many "
              "points at a time (Slurm: --array=...%P).")
@click.option("--skip-succeeded", is_flag=True, help="With --sweep: reuse a point's "
              "succeeded run of the same script content, profile and config.")
@click.option("--columns", "-c", "columns", multiple=True, metavar="TASK.FIELD",
              help="With --sweep: show these result fields (-c Train.loss; repeatable "
              "or comma-separated) in the summary table at the end.")
@click.option("--no-profile", is_flag=True, help="With --sweep NAME: run the sweep on "
              "the defaults alone, even when its definition names a profile.")
@click.option("--in-process", is_flag=True, help="Run the tasks in molexp's own process, "
              "unsupervised (for breakpoint(), pdb, profilers); also $MOLEXP_IN_PROCESS=1. "
              "Not with --sweep.")
@runs_dir_option
@click.pass_context
def run(ctx: click.Context, script: Path, config_path: Optional[Path],
        profile: Optional[str], overrides: Tuple, strict: bool, resume: Optional[str],
        scheduler_name: str, dry_run: bool, wait: bool, quiet: bool, sweep: Tuple[str, ...],
        jobs: Optional[int], max_parallel: Optional[int], skip_succeeded: bool,
        columns: Tuple[str, ...], no_profile: bool, in_process: bool,
        runs_dir: Optional[Path], **_: Any) -> None:
    """Run SCRIPT under a profile and record it as a run directory.

    With --sweep, run one point per value (or grid cell) of the sweep, each an
    ordinary run directory, grouped by a sweep record (see `molexp sweeps`).
    """
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import resolve

    scheduler, options = choose_scheduler(ctx, scheduler_name)
    script = script.resolve()
    if columns and not sweep:
        raise MolexpUsageError("--columns (-c) shows result fields in a sweep's summary: "
                               "add --sweep KEY=V1,V2 or --sweep NAME")
    if no_profile and profile is not None:
        raise MolexpUsageError(f"--no-profile and --profile {profile}: choose one")
    if sweep or jobs is not None or max_parallel is not None or skip_succeeded:
        from molexp_core.cli import sweep_run

        sweep_run.check_sweep_flags(sweep, jobs, max_parallel, skip_succeeded, scheduler,
                                    options, in_process)
        if resume not in (None, NEWEST):
            raise MolexpUsageError("--resume RUN names one run; a sweep resumes with "
                                   "--resume alone")
        plan = sweep_run.plan_sweep(script, config_path, profile, overrides, sweep,
                                    no_profile)
        report_warnings(plan.warnings, strict)
        if dry_run:
            ctx.exit(sweep_run.dry_run(plan, scheduler, options, max_parallel, runs_dir))
        ctx.exit(sweep_run.launch_sweep(
            plan, scheduler, options, jobs=jobs or 1, max_parallel=max_parallel,
            resume=resume, skip_succeeded=skip_succeeded, wait=wait, quiet=quiet,
            runs_dir=runs_dir, columns=columns))
    resolved = resolve(get_plugin_host(), config_path, profile, overrides, script)
    timings.mark("config")
    report_warnings(resolved.warnings, strict)
    ctx.exit(launch_run(script, resolved, scheduler, options, resume=resume,
                        dry_run=dry_run, wait=wait, quiet=quiet, runs_dir=runs_dir,
                        say_config=True, unsupervised=in_process or None))


def choose_scheduler(ctx: click.Context, name: str):
    """The scheduler named by --scheduler and the values of its options."""
    from molexp_core.plugin_host.manager import get_plugin_host

    schedulers = get_plugin_host().schedulers()
    scheduler = schedulers.get(name)
    if scheduler is None:
        raise MolexpUsageError(
            f"unknown scheduler {name!r}; installed: {', '.join(sorted(schedulers)) or 'none'}"
        )
    options = ctx.command.scheduler_values(ctx, name)
    scheduler.validate(options)
    return scheduler, options


def launch_run(script: Path, resolved, scheduler, options: Dict[str, Any], *,
               resume: Optional[str] = None, dry_run: bool = False, wait: bool = False,
               quiet: bool = False, runs_dir: Optional[Path] = None,
               extra: Optional[Dict[str, Any]] = None, say_config: bool = False,
               unsupervised: Optional[bool] = None,
               code: Optional[bytes] = None) -> int:
    """Prepare (or find, with resume) the run directory and hand it over.

    ``resume``: ``NEWEST`` (the newest unfinished run of the script and profile) or
    a reference to one run.
    ``say_config``: name the config file used (once the script has loaded, so
    that an error in the script stays the only line).
    """
    from molexp_core.runs import prepare as launch
    from molexp_core.runs import store as runstore
    from molexp_core.cli.submit import submit_and_report

    if dry_run:
        _dry_run(script, resolved, scheduler, options, runs_dir)
        return 0
    in_process = scheduler.runs_in_process(options)
    workflow = _load(script, in_process, code)
    if say_config and resolved.config_file and not quiet:
        click.echo(f"config: {resolved.config_file}", err=True)
    root = runstore.runs_root(runs_dir)
    record_scheduler = {"name": scheduler.name, "options": _jsonable(options)}
    prepared = None
    if resume:
        prepared = _prepare_resume(root, script, resolved, workflow, record_scheduler,
                                   quiet, NEWEST if resume is True else resume)
    if prepared is None:
        prepared = launch.prepare_new_run(root, script, resolved, workflow,
                                          record_scheduler, extra, code=code)
    prepared.quiet = quiet
    prepared.in_process = unsupervised
    if not in_process and prepared.lock is not None:
        prepared.lock.release()  # the job takes the lock where it runs
        prepared.lock = None
    timings.mark("prepare")
    return submit_and_report(scheduler, prepared, options, quiet, wait)


def _load(script: Path, in_process: bool, code: Optional[bytes] = None):
    from molexp_core.runs.workflow import check_syntax, load_script

    if in_process:
        workflow = load_script(script, code)
        for note in workflow.notes:  # Task classes the script imports are not run
            click.echo(f"note: {note}", err=True)
        return workflow
    check_syntax(script, code)  # the node imports it; catch what we can here, cheaply
    return None


def _prepare_resume(root, script, resolved, workflow, record_scheduler, quiet, ref):
    from molexp_core.runs import prepare as launch
    from molexp_core.runs import store as runstore
    from molexp_core.runs.prepared import PreparedRun

    if ref == NEWEST:
        run_dir = launch.find_resumable(root, script, resolved.profile)
        if run_dir is None:
            click.echo(
                f"no unfinished run of {script.name} under profile "
                f"{resolved.profile or '(none)'}; starting a new run", err=True)
            return None
        record = runstore.read_run(run_dir)
    else:
        run_dir = runstore.find_run(root, ref)
        record = runstore.read_run(run_dir)
        launch.check_named_resume(run_dir, record, script, resolved)
    from molexp_core.runs.integrity import check_run

    check_run(run_dir, record)  # an edited run.json is refused, not resumed
    launch.check_resume(run_dir, record, resolved)
    launch.check_not_alive(run_dir, record)
    scheduler = _scheduler_of(record)
    if scheduler is not None:  # its job still queued or running: not a second time
        from molexp_core.scheduling.reconcile import refuse_if_queued

        refuse_if_queued([(run_dir, record)], {scheduler.name: scheduler})
    lock = runstore.ExecutionLock(run_dir).acquire()
    try:
        record = runstore.read_run(run_dir)
        if record.get("status") == "succeeded":
            raise MolexpError(f"run {record['run_id']} was just completed by another "
                              "process; nothing to resume")

        from molexp_core.runs import code_of_record, snapshot

        # --resume runs the current script (the fix); the job runs this snapshot.  Its
        # git state is read first: git may take seconds, run.json's lock is not held
        data = workflow.source if workflow is not None else None
        data = snapshot.read_script(script) if data is None else data
        digest = snapshot.sha256(data)
        git = (None if digest in (record.get("snapshots") or {}) else
               code_of_record.snapshot_git(run_dir, record, script, digest))

        def mark(rec):
            rec["scheduler"] = dict(record_scheduler)
            code_of_record.prepare_snapshot(run_dir, rec, script, data, "resume", git)

        record = runstore.update_run(run_dir, mark)
    except BaseException:
        lock.release()
        raise
    if not quiet:
        click.echo(f"resuming run {record['run_id']} (attempt "
                   f"{int(record.get('attempts') or 0) + 1})", err=True)
    return PreparedRun(run_dir, record, workflow, lock=lock)


def _scheduler_of(record):
    from molexp_core.plugin_host.manager import get_plugin_host

    name = (record.get("scheduler") or {}).get("name")
    return get_plugin_host().schedulers().get(name) if name else None


def _dry_run(script, resolved, scheduler, options, runs_dir) -> None:
    from molexp_core.runs import store as runstore
    from molexp_core.cli.config_cmd import print_config
    from molexp_core.runs.prepared import PreparedRun

    click.echo(f"# script: {script}")
    click.echo(f"# profile: {resolved.profile or '(none)'}")
    print_config(resolved, as_json=False)
    root = runstore.runs_root(runs_dir)
    run_dir = (root / runstore.script_dir_name(script)
               / (resolved.profile or runstore.DEFAULT_PROFILE_DIR) / "<run id>")
    record = {"run_id": "<run id>", "script": str(script), "profile": resolved.profile,
              "config": resolved.config, "config_hash": resolved.config_hash}
    preview = scheduler.preview(PreparedRun(run_dir, record), options)
    if preview:
        click.echo(f"# what --scheduler {scheduler.name} would submit:")
        click.echo(preview.rstrip("\n"))
    click.echo("# dry run: nothing was created or submitted", err=True)


def _jsonable(options: Dict[str, Any]) -> Dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}

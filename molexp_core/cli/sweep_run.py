"""``molexp run SCRIPT --sweep ...``: expand the points, record the sweep, run them.

One sweep record in the runs root; one ordinary run directory per point.  The
points then run here (each in its own forked process, ``--jobs`` at a time), or
go to a scheduler as one job array (``submit_array``), or one job each.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from molexp_core.errors import MolexpError, MolexpUsageError


class SweepPlan:
    """Everything the points need: the base resolution and each point's config."""

    def __init__(self, script: Path, name: Optional[str], inline: List[str],
                 definition: Dict[str, Any], base: Any, points: List[Dict[str, Any]],
                 resolved: List[Any], warnings: Optional[List[str]] = None) -> None:
        self.script = script
        self.name = name
        self.inline = inline
        self.definition = definition
        self.base = base
        self.points = points
        self.resolved = resolved
        # the config's warnings and the sweep's own (typo'd keys, repeated values)
        self.warnings = list(warnings or [])

    @property
    def definition_hash(self) -> str:
        from molexp_core.config.sweeps import definition_hash

        return definition_hash(self.points)


def plan_sweep(script: Path, config_path: Optional[Path], profile: Optional[str],
               overrides: Sequence[Any], sweep_texts: Sequence[str],
               no_profile: bool = False) -> SweepPlan:
    """``no_profile``: the defaults only, whatever ``profile:`` the named sweep gives."""
    from molexp_core.config import sweeps
    from molexp_core.config.resolution import load_document, resolve
    from molexp_core.plugin_host.manager import get_plugin_host

    host = get_plugin_host()
    name, axes = sweeps.parse_arguments(sweep_texts)
    named = None
    if name is not None:
        document = load_document(host, config_path, script)
        if document is None:
            from molexp_core.config.files import candidate_names

            raise MolexpUsageError(f"--sweep {name}: no config file found to define it "
                                   f"({candidate_names(host)}); pass --config "
                                   "FILE, or give axes as KEY=V1,V2")
        named = document.sweep(name)
        if profile is None and not no_profile:
            profile = named.profile
    base = resolve(host, config_path, profile, overrides, script)
    warnings = list(base.warnings) + (named.warnings if named is not None else [])
    grid = sweeps.coerce_axes(axes, host, warnings)
    points = sweeps.combine(named, grid)
    warnings += _key_warnings(base.config, named, axes, grid)
    points, resolved = _resolve_points(base, points, named, warnings)
    definition = {"grid": named.grid if named else {}, "points": named.points if named else [],
                  "inline": grid}
    return SweepPlan(script, named.name if named else None, [a.text for a in axes],
                     definition, base, points, resolved, warnings)


def _key_warnings(config: Dict[str, Any], named: Any, axes: Sequence[Any],
                  grid: Dict[str, List[Any]]) -> List[str]:
    """A swept key the config does not have (a typo?) or that replaces a mapping:
    the checks ``-o`` gets (``config/override_checks.py``)."""
    from molexp_core.config.override_checks import sweep_key_warnings

    keys = []
    if named is not None:
        for key in named.key_lines:
            values = named.grid.get(key) or [p[key] for p in named.points if key in p]
            keys.append((f"{named.where(key)}: key", key, values))
    keys += [(f"--sweep {axis.text!r}", axis.key, grid[axis.key]) for axis in axes]
    return sweep_key_warnings(config, keys)


def _resolve_points(base: Any, points: List[Dict[str, Any]], named: Any,
                    warnings: List[str]) -> Tuple[List[Dict[str, Any]], List[Any]]:
    """Each point's resolved config; a point whose config equals an earlier point's
    is dropped (with a warning): the same config never runs twice in one sweep."""
    from molexp_core.config import sweeps
    from molexp_core.config.hashing import config_hash
    from molexp_core.config.resolution import ResolvedConfig

    kept, configs, seen = [], [], {}
    for number, point in enumerate(points):
        config = sweeps.apply_point(base.config, point, named)
        first = seen.setdefault(config_hash(config), number)
        if first != number:
            warnings.append(f"sweep point {_point_text(point)} has the same config as "
                            f"point {_point_text(points[first])}; it runs once")
            continue
        kept.append(point)
        configs.append(config)
    # every point records every warning of its sweep (run.json "warnings")
    return kept, [ResolvedConfig(base.config_file, base.profile, config, base.overrides,
                                 warnings) for config in configs]


def _point_text(point: Dict[str, Any]) -> str:
    import json

    return json.dumps(point, ensure_ascii=False, default=repr)[:80]


def dry_run(plan: SweepPlan, scheduler: Any = None, options: Optional[Dict[str, Any]] = None,
            max_parallel: Optional[int] = None, runs_dir: Optional[Path] = None) -> int:
    import json

    click.echo(f"# script: {plan.script}")
    click.echo(f"# profile: {plan.base.profile or '(none)'}")
    click.echo(f"# sweep: {plan.name or '(inline)'}, {len(plan.points)} point(s)")
    for index, (point, resolved) in enumerate(zip(plan.points, plan.resolved)):
        click.echo(f"{index:>5}  {resolved.config_hash}  "
                   f"{json.dumps(point, ensure_ascii=False, separators=(', ', ': '))}")
    if scheduler is not None and scheduler.supports_arrays():
        from molexp_core.cli.sweep_submit import array_preview

        preview = array_preview(plan, scheduler, options or {}, max_parallel, runs_dir)
        if preview:
            click.echo(f"# what --scheduler {scheduler.name} would submit (held, then "
                       "released once every point records its job id):")
            click.echo(preview.rstrip("\n"))
    click.echo("# dry run: nothing was created or submitted", err=True)
    return 0


def launch_sweep(plan: SweepPlan, scheduler: Any, options: Dict[str, Any], *,
                 jobs: int, max_parallel: Optional[int], resume: bool,
                 skip_succeeded: bool, wait: bool, quiet: bool,
                 runs_dir: Optional[Path], columns: Sequence[str] = ()) -> int:
    from molexp_core.runs import store as runstore
    from molexp_core.cli import sweep_prepare as prep

    in_process = scheduler.runs_in_process(options)
    workflow = _load(plan.script, in_process)
    if plan.base.config_file and not quiet:
        click.echo(f"config: {plan.base.config_file}", err=True)
    root = runstore.runs_root(runs_dir)
    record_scheduler = {"name": scheduler.name, "options": _jsonable(options)}
    todo: Optional[List[int]] = None
    sweep_dir = None
    prepared: Dict[int, Any] = {}
    if resume:
        from molexp_core.cli.sweep_resume import resume_points

        sweep_dir, todo = resume_points(root, plan, scheduler, record_scheduler, workflow,
                                        quiet, prepared)
        if sweep_dir is not None and not todo:
            click.echo(f"sweep {sweep_dir.name}: every point already succeeded (each "
                       "checked in its own run.json); nothing to resume")
            return 0
    if sweep_dir is None:
        sweep_dir, todo = prep.new_sweep(root, plan, workflow, record_scheduler,
                                         skip_succeeded, quiet, prepared)
    from molexp_core.runs import sweep_store

    record = sweep_store.read_sweep(sweep_dir)
    run_dirs = [sweep_store.run_dir_of(root, record["points"][i]) for i in todo]
    if not quiet:
        reused = sum(1 for p in record["points"] if p.get("reused"))
        click.echo(f"sweep {record['sweep_id']}: {len(record['points'])} point(s)"
                   + (f", {reused} reused" if reused else "")
                   + f", {len(todo)} to run on {scheduler.name}", err=True)
    if not todo:
        return _summary(root, sweep_dir, quiet, columns)
    if in_process:
        return _run_here(root, sweep_dir, todo, run_dirs, workflow, jobs, quiet, columns)
    from molexp_core.cli.sweep_submit import submit_points

    submit_points(root, sweep_dir, todo, run_dirs, scheduler, options, max_parallel, quiet,
                  prepared)
    if wait:
        from molexp_core.cli.sweep_report import wait_sweep

        return wait_sweep(root, sweep_dir, quiet, columns)
    return 0


def _run_here(root: Path, sweep_dir: Path, todo: List[int], run_dirs: List[Path],
              workflow: Any, jobs: int, quiet: bool, columns: Sequence[str] = ()) -> int:
    import time

    from molexp_core.runs.sweep_pool import Stopped, run_points
    from molexp_core.runs import sweep_store

    def note(rec: Dict[str, Any]) -> None:
        from molexp_core.runs import processes

        rec["pid"], rec["host"] = os.getpid(), _hostname()
        rec["pid_start"] = processes.own_start_time()  # cancel checks it is still us

    sweep_store.update_sweep(sweep_dir, note)  # `molexp cancel SWEEP` signals this process
    from molexp_core.runs.supervisor import IN_PROCESS_ENV, in_process

    if in_process() and not quiet:
        click.echo(f"note: ${IN_PROCESS_ENV} is ignored for a sweep: each point runs in a "
                   "fresh process of its own (debug one point alone with molexp run "
                   "SCRIPT -o KEY=VALUE --in-process)", err=True)
    tty = sys.stderr.isatty() and not quiet
    counts: Dict[str, int] = {}
    started = time.monotonic()

    def done(position: int, status: str) -> None:
        counts[status] = counts.get(status, 0) + 1
        finished = sum(counts.values())
        if tty:
            parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            line = (f"sweep {sweep_dir.name}: {finished}/{len(todo)} done ({parts}), "
                    f"{time.monotonic() - started:.1f}s")
            click.echo("\r" + line.ljust(78), err=True, nl=False)

    try:
        run_points(run_dirs, workflow, jobs, done)
    except (KeyboardInterrupt, Stopped) as exc:
        if tty:
            click.echo("", err=True)
        _summary(root, sweep_dir, quiet, columns)
        how = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped (SIGTERM)"
        click.echo(f"Error: sweep {sweep_dir.name} {how}; continue it with --resume",
                   err=True)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    if tty:
        click.echo("", err=True)
    return _summary(root, sweep_dir, quiet, columns)


def _summary(root: Path, sweep_dir: Path, quiet: bool, columns: Sequence[str] = ()) -> int:
    from molexp_core.cli.sweep_report import print_summary

    return print_summary(root, sweep_dir, quiet, columns)


def _load(script: Path, in_process: bool):
    from molexp_core.runs.workflow import check_syntax, load_script

    if in_process:
        workflow = load_script(script)
        for note in workflow.notes:  # Task classes the script imports are not run
            click.echo(f"note: {note}", err=True)
        return workflow
    check_syntax(script)
    return None


def _hostname() -> str:
    return os.uname().nodename


def _jsonable(options: Dict[str, Any]) -> Dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def check_sweep_flags(sweep: Tuple[str, ...], jobs: Optional[int],
                      max_parallel: Optional[int], skip_succeeded: bool,
                      scheduler: Any, options: Dict[str, Any],
                      in_process: bool = False) -> None:
    """Sweep-only flags without --sweep, --jobs/--max-parallel on the wrong backend,
    and what a sweep cannot do: --detach (every point at once), --in-process."""
    if not sweep:
        for flag, given in (("--jobs", jobs is not None),
                            ("--max-parallel", max_parallel is not None),
                            ("--skip-succeeded", skip_succeeded)):
            if given:
                raise MolexpUsageError(f"{flag} applies to sweeps: add --sweep KEY=V1,V2 "
                                       "or --sweep NAME")
        return
    if in_process:
        raise MolexpUsageError("--in-process runs one run in molexp's own process; a "
                               "sweep's points run in separate processes: debug a point "
                               "alone with molexp run SCRIPT -o KEY=VALUE --in-process")
    if scheduler.name == "local" and not scheduler.runs_in_process(options):
        raise MolexpUsageError("--detach with --sweep would start every point at once; "
                               "put the sweep itself in the background instead: nohup "
                               "molexp run SCRIPT --sweep ... -j N > sweep.log 2>&1 &")
    if jobs is not None and not scheduler.runs_in_process(options):
        raise MolexpUsageError(f"--jobs runs points on this machine; with --scheduler "
                               f"{scheduler.name} use --max-parallel")
    if max_parallel is not None and not scheduler.supports_arrays():
        raise MolexpUsageError(f"--max-parallel limits a job array, which scheduler "
                               f"{scheduler.name!r} does not submit"
                               + ("; use --jobs" if scheduler.runs_in_process(options) else ""))


def fail(message: str) -> None:
    raise MolexpError(message)

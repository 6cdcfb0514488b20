"""``molexp show``, ``molexp diff``, ``molexp rerun``: replay and compare stored runs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional, Tuple

import click

from molexp_core.cli.completion import (complete_run_ids, complete_runs_and_sweeps,
                                        complete_schedulers,
                                        complete_stored_overrides)
from molexp_core.cli.options import echo_json, json_option, runs_dir_option
from molexp_core.cli.formatting import printable, resume_hint
from molexp_core.errors import MolexpError
from molexp_core.cli.options import report_warnings, strict_option
from molexp_core.cli.run_cmd import RunCommand, choose_scheduler, launch_run
from molexp_core.config.overrides import OverrideType


def _find(run: str, runs_dir: Optional[Path], check: bool = False):
    """The run's directory and record; ``check``: refuse an edited or copied run."""
    from molexp_core.runs import store as runstore

    run_dir = runstore.find_run(runstore.runs_root(runs_dir), run)
    record = runstore.read_run(run_dir)
    if check:
        from molexp_core.runs.integrity import check_run

        check_run(run_dir, record)
    return run_dir, record


@click.command()
@click.argument("run", shell_complete=complete_runs_and_sweeps)
@json_option
@runs_dir_option
def show(run: str, as_json: bool, runs_dir: Optional[Path]) -> None:
    """Print a run's metadata, merged config, task results, metrics, artifacts and
    log path.

    RUN is a run directory or a unique run-id prefix (or a sweep id, sw-...).
    """
    from molexp_core.runs import store as runstore
    from molexp_core.runs.sweep_store import is_sweep_ref

    if is_sweep_ref(run):
        from molexp_core.cli.sweep_cmd import sweep_show

        sweep_show(runstore.runs_root(runs_dir), run, as_json)
        return
    from molexp_core.cli.config_cmd import dump_yaml
    from molexp_core.runs.executor import ResultUnavailable, load_result
    from molexp_core.runs.log import LOG_FILE

    from molexp_core.cli.runs_cmd import read_or_corrupt

    run_dir = runstore.find_run(runstore.runs_root(runs_dir), run)
    record = read_or_corrupt(run_dir)
    if record["status"] == runstore.CORRUPT:
        if as_json:
            echo_json({"run_id": record["run_id"], "status": record["status"],
                       "error": record["error"], "run_dir": str(run_dir)})
            raise click.exceptions.Exit(1)  # the JSON says why; a corrupt run is no success
        for key, value in (("run", record["run_id"]), ("status", record["status"]),
                           ("reason", record["error"]), ("run dir", str(run_dir))):
            click.echo(f"{key + ':':<15}{printable(value)}")
        raise MolexpError(f"run {run_dir.name} is corrupt: its record cannot be used "
                          "(see the reason above)")
    if record.get("run_id") != run_dir.name:
        click.echo(f"warning: {run_dir / runstore.RUN_FILE} says run_id "
                   f"{record.get('run_id')!r}; its directory is {run_dir.name!r} "
                   "(copied or edited)", err=True)
    results, unusable = {}, {}
    for name, task in (record.get("tasks") or {}).items():
        try:
            results[name] = load_result(run_dir, name, task)
        except ResultUnavailable as exc:
            results[name] = None
            if task.get("result_file"):
                unusable[name] = str(exc)
    status = runstore.display_status(record, run_dir)
    if as_json:
        from molexp_core.cli.show_data import json_fields

        echo_json(dict(record, status=status, results=results, run_dir=str(run_dir),
                       resume_command=resume_hint(status, run_dir, record),
                       **json_fields(run_dir, record)))
        return
    fields = [
        ("run", record.get("run_id")), ("status", status),
        ("profile", record.get("profile") or "(none)"), ("script", record.get("script")),
        ("script sha256", (record.get("script_sha256") or "")[:16]),
        ("config file", record.get("config_file") or "(none)"),
        ("overrides", " ".join(record.get("overrides") or []) or "(none)"),
        ("config hash", record.get("config_hash")),
        ("parent run", record.get("parent_run")),
        ("sweep", _sweep_text(record.get("sweep"))),
        ("scheduler", _scheduler_text(record)),
        ("created", record.get("created_at")), ("started", record.get("started_at")),
        ("finished", record.get("finished_at")), ("attempts", record.get("attempts")),
        ("error", record.get("error")), ("run dir", str(run_dir)),
        ("log", str(run_dir / LOG_FILE)),
        ("job log", (record.get("scheduler") or {}).get("log")),  # e.g. slurm-N.out
        ("resume", resume_hint(status, run_dir, record)),
    ]
    for key, value in fields:
        if value not in (None, ""):
            click.echo(f"{key + ':':<15}{printable(value)}")
    _attempt_lines(record)
    click.echo("config:")
    _indented_yaml(record.get("config") or {}, dump_yaml)
    click.echo("tasks:")
    for name, task in (record.get("tasks") or {}).items():
        text = "" if results.get(name) is None else f"  -> {_short(results[name])}"
        if name in unusable:
            text = f"  (result not shown: {unusable[name]})"
        made = f" (attempt {task['attempt']})" if task.get("attempt") else ""
        came = task.get("script_sha256")
        if task.get("result_file") and came and came != record.get("script_sha256"):
            made = made[:-1] + ", " if made else " ("
            made += f"script {came[:12]}, not the run's first script)"
        click.echo(printable(f"  {name}: {task.get('status')}{made}{text}"))
        if task.get("fingerprint_unseen") and task.get("status") == "succeeded":
            click.echo(printable(f"    not reusable by --resume: {task['fingerprint_unseen']}"))
    from molexp_core.cli.show_data import echo_text

    echo_text(run_dir, record)  # metrics.jsonl's summary, the artifact indexes


def _attempt_lines(record) -> None:
    """Which code (and environment) each attempt ran; a changed script stands out."""
    from molexp_core.runs.provenance import describe_git

    git = describe_git(record.get("git"))
    if git:
        click.echo(f"{'git:':<15}{git}")
    if record.get("environment_sha256"):
        click.echo(f"{'environment:':<15}{record.get('environment_file')} "
                   f"(sha256 {record['environment_sha256'][:16]})")
    history = record.get("history") or []
    if not history:
        return
    click.echo("history:")  # which code each attempt ran
    first = record.get("script_sha256")
    for entry in history:
        digest = entry.get("script_sha256")
        code = f"script {digest[:16]}" if digest else "script (not recorded)"
        if digest and first and digest != first:
            code += " (changed from the first attempt's)"
        if entry.get("script_origin") == "current-script":
            code += " (--current-script)"
        git = ((record.get("snapshots") or {}).get(digest) or {}).get("git") or {}
        if git.get("dirty") and git.get("diff_file"):
            code += f" (uncommitted changes: {git['diff_file']})"
        dropped = ", ".join(entry.get("dropped_tasks") or {})
        click.echo(f"  {entry.get('attempt')}: {entry.get('status') or 'running'}  {code}"
                   f"  {entry.get('started_at') or ''}"
                   + (f"  dropped tasks: {dropped}" if dropped else ""))


def _sweep_text(sweep: Any) -> Optional[str]:
    """``sw-... (lr-scan) point #3 of 7: optimizer.lr=0.001 batch_size=32``."""
    if not isinstance(sweep, dict) or not sweep.get("id"):
        return None
    import json

    point = sweep.get("point") if isinstance(sweep.get("point"), dict) else {}
    values = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in point.items())
    name = f" ({sweep['name']})" if sweep.get("name") else ""
    where = (f" point #{sweep.get('index')} of {sweep.get('size')}"
             if sweep.get("index") is not None else "")
    return f"{sweep['id']}{name}{where}" + (f": {values}" if values else "")


def _indented_yaml(data: Any, dump) -> None:
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        dump(data)
    for line in buffer.getvalue().splitlines():
        click.echo(f"  {printable(line)}")


def _short(value: Any) -> str:
    from molexp_core.runs.results import show

    return show(value)


def _scheduler_text(record) -> Optional[str]:
    info = record.get("scheduler") or {}
    if not info:
        return None
    text = info.get("name", "?")
    if info.get("job_id"):
        text += f" job {info['job_id']}"
    if info.get("state"):
        text += f" ({info['state']})"
    return text


@click.command()
@click.argument("run_a", shell_complete=complete_run_ids)
@click.argument("run_b", shell_complete=complete_run_ids)
@json_option
@runs_dir_option
def diff(run_a: str, run_b: str, as_json: bool, runs_dir: Optional[Path]) -> None:
    """Show the config keys that differ between two runs, and whether the code that
    produced their results does (per task: a resumed attempt may have run edited code).
    """
    from molexp_core.config.overrides import ABSENT, diff_keys, show_value

    dir_a, rec_a = _find(run_a, runs_dir, check=True)
    dir_b, rec_b = _find(run_b, runs_dir, check=True)
    rows = diff_keys(rec_a.get("config") or {}, rec_b.get("config") or {})
    code = _code_rows(rec_a, rec_b)
    scripts_differ = bool(code)
    environment = _environment_rows(dir_a, rec_a, dir_b, rec_b)
    if as_json:
        echo_json({
            "a": rec_a.get("run_id"), "b": rec_b.get("run_id"),
            "config": [{"key": k, **({"a": a} if a is not ABSENT else {}),
                        **({"b": b} if b is not ABSENT else {})} for k, a, b in rows],
            "profile": [rec_a.get("profile"), rec_b.get("profile")],
            "scripts_differ": scripts_differ,
            "code": [{"task": task, "a": a, "b": b, "a_attempt": at_a, "b_attempt": at_b}
                     for task, a, at_a, b, at_b in code],
            "environment": environment,
        })
        return
    click.echo(f"a: {rec_a.get('run_id')} (profile {rec_a.get('profile') or '(none)'})")
    click.echo(f"b: {rec_b.get('run_id')} (profile {rec_b.get('profile') or '(none)'})")
    if not rows:
        click.echo("config: identical")
    else:
        width = max(len(k) for k, _, _ in rows)
        click.echo("config:")
        for key, a, b in rows:
            click.echo(f"  {key:<{width}}  {show_value(a)}  ->  {show_value(b)}")
    if not code:
        click.echo(f"script: same (sha256 {(rec_a.get('script_sha256') or '')[:12]})")
    else:
        click.echo("script: differs")
        width = max(len(_code_label(task)) for task, *_ in code)
        for task, a, at_a, b, at_b in code:
            click.echo(f"  {_code_label(task):<{width}}  {_code_text(a, at_a)}  ->  "
                       f"{_code_text(b, at_b)}")
    if environment is None:
        click.echo("environment: not recorded for both runs")
    elif not environment:
        click.echo("environment: same")
    else:
        click.echo("environments differ: " + "; ".join(environment))


def _code_rows(rec_a, rec_b) -> list:
    """``(task, a, attempt a, b, attempt b)`` where the code differs: ``task`` None for
    the script each run was prepared with; then each task whose results in both runs
    came from different scripts (``tasks[name].script_sha256``)."""
    rows = []
    if rec_a.get("script_sha256") != rec_b.get("script_sha256"):
        rows.append((None, rec_a.get("script_sha256"), None, rec_b.get("script_sha256"), None))
    tasks_a, tasks_b = rec_a.get("tasks") or {}, rec_b.get("tasks") or {}
    for name, task_a in tasks_a.items():
        task_b = tasks_b.get(name) or {}
        a, b = (task_a or {}).get("script_sha256"), task_b.get("script_sha256")
        if a and b and a != b:
            rows.append((name, a, task_a.get("attempt"), b, task_b.get("attempt")))
    return rows


def _code_label(task) -> str:
    return "as prepared:" if task is None else f"task {task}:"


def _code_text(digest, attempt) -> str:
    return (digest or "(not recorded)")[:12] + (f" (attempt {attempt})" if attempt else "")


def _environment_rows(dir_a: Path, rec_a, dir_b: Path, rec_b):
    """``["numpy 1.26.4 -> 2.1.0", ...]``; [] when equal; None when not both recorded."""
    from molexp_core.runs.environment import differences, read_environment

    if rec_a.get("environment_sha256") and \
            rec_a.get("environment_sha256") == rec_b.get("environment_sha256"):
        return []
    text_a, text_b = read_environment(dir_a, rec_a), read_environment(dir_b, rec_b)
    if text_a is None or text_b is None:
        return None
    return differences(text_a, text_b)


@click.command(cls=RunCommand)
@click.argument("run", shell_complete=complete_run_ids)
@click.option("--override", "-o", "overrides", multiple=True, type=OverrideType(),
              shell_complete=complete_stored_overrides,
              help="KEY=VALUE applied over the stored config; repeatable.")
@click.option("--scheduler", "scheduler_name", default="local", show_default=True,
              shell_complete=complete_schedulers, help="Where the new run executes.")
@click.option("--dry-run", is_flag=True, help="Print what would run; create nothing.")
@click.option("--wait", is_flag=True, help="Block until a queued run ends.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the essentials.")
@click.option("--current-script", is_flag=True, help="Run the file at the stored script "
              "path even if it changed since the run (default: the run's own code).")
@strict_option
@runs_dir_option
@click.pass_context
def rerun(ctx: click.Context, run: str, overrides: Tuple, scheduler_name: str,
          dry_run: bool, wait: bool, quiet: bool, current_script: bool, strict: bool,
          runs_dir: Optional[Path], **_: Any) -> None:
    """Start a new run from a stored run's exact config (plus any overrides).

    The new run records `parent_run` and is filed under the original script's
    name; it never re-reads a molcfg file.  It runs the stored run's code: the
    script file when it still has the recorded hash, else the stored snapshot.
    """
    from molexp_core.config.override_checks import override_warnings
    from molexp_core.config.overrides import apply_overrides
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.resolution import ResolvedConfig

    run_dir, record = _find(run, runs_dir, check=True)
    scheduler, options = choose_scheduler(ctx, scheduler_name)
    script = Path(record.get("script") or "")
    code = _code_for_rerun(run_dir, record, script, current_script)
    stored = record.get("config") or {}
    config = apply_overrides(copy.deepcopy(stored), overrides, get_plugin_host())
    resolved = ResolvedConfig(
        Path(record["config_file"]) if record.get("config_file") else None,
        record.get("profile"), config,
        list(record.get("overrides") or []) + [o.text for o in overrides],
        override_warnings(stored, config, overrides),
    )
    report_warnings(resolved.warnings, strict)
    ctx.exit(launch_run(script, resolved, scheduler, options, dry_run=dry_run, wait=wait,
                        quiet=quiet, runs_dir=runs_dir,
                        extra={"parent_run": record.get("run_id")}, code=code))


def _code_for_rerun(run_dir: Path, record, script: Path, current: bool) -> Optional[bytes]:
    """None to run the file at ``script``; else the stored snapshot's bytes (said so)."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs import snapshot

    now = snapshot.current_hash(script)
    if current:
        if now is None:
            raise MolexpError(f"--current-script: {script} cannot be read; rerun without "
                              "it to run the stored snapshot")
        click.echo(f"running the current {script} (sha256 {now[:16]}; --current-script)",
                   err=True)
        return None
    data, digest, name = snapshot.stored_code(run_dir, record)
    if now == digest:
        click.echo(f"running {script} (sha256 {digest[:16]}, the code of run "
                   f"{record.get('run_id')})", err=True)
        return None
    state = "is gone" if now is None else "has changed since"
    click.echo(f"{script} {state}; running run {record.get('run_id')}'s stored snapshot "
               f"{run_dir / name} (sha256 {digest[:16]}); --current-script runs the "
               "file instead", err=True)
    return data

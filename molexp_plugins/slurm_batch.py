"""The Slurm backend's options and the batch script it writes (``job.sbatch``).

Valid option names come from one place, :data:`OPTIONS`.  Every value that
reaches the batch script is checked (no control characters) and shell-quoted;
the config itself never enters the script (the job reads it from run.json).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from molexp_core import MolexpUsageError

BATCH_FILE = "job.sbatch"
LOG_PATTERN = "slurm-%j.out"


class SlurmOption:
    """One option: molexp run's ``flag``, the matching ``sbatch`` option (None:
    handled specially), its help, Click type and whether it repeats."""

    __slots__ = ("flag", "sbatch", "help", "type", "multiple")

    def __init__(self, flag: str, sbatch: Optional[str], help: str, type: Any = str,
                 multiple: bool = False) -> None:
        self.flag, self.sbatch, self.help, self.type, self.multiple = (
            flag, sbatch, help, type, multiple)


OPTIONS = (
    SlurmOption("--partition", "--partition", "Slurm partition (sbatch -p)."),
    SlurmOption("--gpus", "--gpus", "GPUs for the job (sbatch --gpus).", click.IntRange(0)),
    SlurmOption("--cpus", "--cpus-per-task", "CPUs per task (sbatch -c).", click.IntRange(1)),
    SlurmOption("--mem", "--mem", "Memory per node, e.g. 4G (sbatch --mem)."),
    SlurmOption("--time", "--time", "Time limit, e.g. 30, 2:00:00, 1-0 (sbatch -t)."),
    SlurmOption("--nodes", "--nodes", "Number of nodes (sbatch -N).", click.IntRange(1)),
    SlurmOption("--account", "--account", "Account to charge (sbatch -A)."),
    SlurmOption("--qos", "--qos", "Quality of service (sbatch --qos)."),
    SlurmOption("--constraint", "--constraint", "Node features (sbatch -C)."),
    SlurmOption("--job-name", "--job-name",
                "Job name (default: <script stem>-<profile>-<token>, unique per "
                "submission)."),
    SlurmOption("--sbatch-arg", None,
                "Extra sbatch option, e.g. --sbatch-arg=--exclusive; repeatable.",
                multiple=True),
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def click_options() -> List[click.Option]:
    return [
        click.Option([o.flag], type=o.type, multiple=o.multiple, default=None,
                     help=o.help)
        for o in OPTIONS
    ]


def _param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def check_values(options: Dict[str, Any]) -> None:
    """Refuse values that could break out of a ``#SBATCH`` line."""
    for option in OPTIONS:
        value = options.get(_param_name(option.flag))
        for item in (value or ()) if option.multiple else ([value] if value is not None else []):
            if _CONTROL.search(str(item)):
                raise MolexpUsageError(
                    f"{option.flag} {str(item)!r}: control characters (newlines, tabs, "
                    "NUL) are not allowed in Slurm options"
                )
    for extra in options.get("sbatch_arg") or ():
        if not str(extra).startswith("-"):
            raise MolexpUsageError(
                f"--sbatch-arg {extra!r}: give a full sbatch option, e.g. "
                "--sbatch-arg=--exclusive or --sbatch-arg=--mail-type=END"
            )


def default_job_name(record: Dict[str, Any]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(record.get("script", "run")).stem)
    return f"{stem}-{record.get('profile') or 'default'}"


def new_token() -> str:
    """A fresh submission token: 8 hex digits, one per sbatch call."""
    import secrets

    return secrets.token_hex(4)


def job_name(record: Dict[str, Any], options: Dict[str, Any], token: str) -> str:
    """``--job-name`` as given, else ``<script stem>-<profile>-<token>``: unique per
    submission, so that molexp can find its job by name when sbatch's answer is
    lost, and tell it from another job that has (or had) the same job id."""
    return options.get("job_name") or f"{default_job_name(record)}-{token}"


def check_paths(run_dir: Path, record: Dict[str, Any]) -> None:
    """Refuse paths a batch script cannot carry: a control character would end
    its ``#SBATCH`` line, and a backslash turns off Slurm's ``%j`` in file names."""
    for what, path in (("run directory", run_dir), ("working directory", record.get("cwd"))):
        text = str(path or "")
        if _CONTROL.search(text) or "\\" in text:
            raise MolexpUsageError(
                f"the {what} {text!r} has a control character or a backslash, which a "
                "Slurm batch script cannot carry; use a --runs-dir (and a working "
                "directory) without them"
            )
    # what else of the record reaches the script: checked here, where it is used,
    # whatever run.json says (a resumed run's record is input)
    for key in ("run_id", "profile", "python_executable", "script"):
        text = str(record.get(key) or "")
        if _CONTROL.search(text):
            raise MolexpUsageError(
                f"the run's {key} {text!r} has a control character, which a Slurm batch "
                "script cannot carry; refused")


def slurm_file_name(path: Path) -> str:
    """``path`` for sbatch's --output, whose ``%`` patterns it must not expand."""
    return str(path).replace("%", "%%")


def sbatch_args(run_dir: Path, record: Dict[str, Any], options: Dict[str, Any],
                token: str) -> List[str]:
    """sbatch options as an argv list (never through a shell).  ``token``: this
    submission's (:func:`new_token`), in the job name and the comment."""
    args = [
        f"--job-name={job_name(record, options, token)}",
        f"--output={slurm_file_name(run_dir)}/{LOG_PATTERN}",
        f"--chdir={record.get('cwd') or run_dir}",
        f"--comment=molexp:{token}",
    ]
    for option in OPTIONS:
        if option.sbatch is None or option.flag == "--job-name":
            continue
        value = options.get(_param_name(option.flag))
        if value is not None:
            args.append(f"{option.sbatch}={value}")
    args.extend(str(extra) for extra in options.get("sbatch_arg") or ())
    return args


def render(run_dir: Path, record: Dict[str, Any], options: Dict[str, Any],
           token: Optional[str] = None) -> str:
    """The text of ``job.sbatch``: directives and one exec line, all quoted.  The
    job tells ``molexp execute`` its own job id and the submission it belongs to:
    a job of an earlier submission (sbatch's answer lost, then resubmitted) ends
    without touching the run."""
    check_paths(run_dir, record)
    token = token or new_token()
    python = record.get("python_executable") or "python3"
    lines = [
        "#!/bin/bash",
        f"# molexp run {record.get('run_id')} (profile {record.get('profile') or 'none'})",
        "# written by molexp; the config is read from run.json, never from this file",
    ]
    lines += [f"#SBATCH {shlex.quote(arg)}"
              for arg in sbatch_args(run_dir, record, options, token)]
    lines += [
        "",
        "set -e",
        f"exec {shlex.quote(python)} -m molexp_core execute "
        f'--job-id "$SLURM_JOB_ID" --submission {token} {shlex.quote(str(run_dir))}',
        "",
    ]
    return "\n".join(lines)


ARRAY_LOG_DIR = "logs"  # in the sweep record: what an array task prints before it knows its run


def array_range(count: int, max_parallel: Optional[int]) -> str:
    """sbatch's ``--array`` value for ``count`` tasks, at most ``max_parallel`` at once."""
    limit = f"%{int(max_parallel)}" if max_parallel else ""
    return f"0-{int(count) - 1}{limit}"


def render_array(sweep_dir: Path, manifest: Path, offset: int, count: int,
                 record: Dict[str, Any], options: Dict[str, Any],
                 max_parallel: Optional[int], token: str) -> str:
    """The batch script of one job array: task ``i`` executes the run at position
    ``offset + i`` of ``manifest``; its output goes to that run's directory as
    ``slurm-<array job>_<i>.out``.  Only integers and quoted paths, never config values."""
    python = record.get("python_executable") or "python3"
    args = sbatch_args(sweep_dir, record, options, token)
    args[1] = f"--output={slurm_file_name(sweep_dir / ARRAY_LOG_DIR)}/slurm-%A_%a.out"
    lines = [
        "#!/bin/bash",
        f"# molexp sweep {sweep_dir.name}: points {offset}..{offset + count - 1} of "
        f"{manifest.name}",
        "# written by molexp; each task reads its run directory from the manifest",
    ]
    lines += [f"#SBATCH {shlex.quote(arg)}" for arg in args]
    lines += [
        f"#SBATCH --array={array_range(count, max_parallel)}",
        "",
        "set -e",
        f"exec {shlex.quote(python)} -m molexp_core execute --quiet "
        '--job-id "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" '
        f"--submission {token} --manifest {shlex.quote(str(manifest))} "
        f'--index "$(( {int(offset)} + SLURM_ARRAY_TASK_ID ))" '
        '--output "slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.out"',
        "",
    ]
    return "\n".join(lines)

"""Generated inputs for bench/run.py: projects, plugins, configs, run stores."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

TRAIN = '''from molexp.workflow import Task, TaskContext


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        lr = ctx.config.get("optimizer", {}).get("lr", 1e-3)
        return {"epochs": ctx.config.get("epochs"), "lr": lr,
                "score": ctx.config.get("a", 0) + ctx.config.get("b", 0)}
'''

BARE = '''import asyncio
import json

CONFIG = {"dataset": "qm9", "epochs": 3, "batch_size": 8, "optimizer": {"lr": 0.001},
          "a": 1, "b": 2}


async def execute(config):
    lr = config.get("optimizer", {}).get("lr", 1e-3)
    return {"epochs": config.get("epochs"), "lr": lr,
            "score": config.get("a", 0) + config.get("b", 0)}


with open("bare-result.json", "w") as handle:
    json.dump(asyncio.run(execute(CONFIG)), handle)
'''

MOLCFG = """version: 1
defaults:
  dataset: qm9
  epochs: 100
  batch_size: 32
  optimizer:
    lr: 0.001
profiles:
  smoke:
    epochs: 3
    batch_size: 8
  dry-run:
    epochs: 1
    skip_heavy_compute: true
  large-batch:
    extends: smoke
    batch_size: 64
"""


def trivial_project(work: Path) -> None:
    (work / "train.py").write_text(TRAIN)
    (work / "bare.py").write_text(BARE)
    (work / "molcfg.yaml").write_text(MOLCFG)


def dirty_git_repo(work: Path, files: int) -> None:
    """``work`` as a git work tree: ``files`` tracked modules, committed, then the
    script edited (a dirty tree, as while developing)."""
    import subprocess

    src = work / "pkg"
    src.mkdir()
    for index in range(files):
        (src / f"mod_{index}.py").write_text(f"VALUE = {index}\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.org",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.org")
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *argv], cwd=work, env=env, check=True)
    (work / ".gitignore").write_text("runs/\n")
    with open(work / "train.py", "a") as handle:
        handle.write("\n# an uncommitted edit\n")


def noop_plugins(site: Path, count: int) -> None:
    site.mkdir(parents=True)
    for index in range(count):
        name = f"molexp_noop_{index}"
        info = site / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: molexp-noop-{index}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[molexp]\nnoop_{index} = {name}\n")
        (site / f"{name}.py").write_text(
            "from molexp_core import hookimpl\n\n\n@hookimpl\n"
            "def molexp_config_candidates(directory):\n    return []\n")


def big_config(path: Path, profiles: int, depth: int, keys: int) -> str:
    """A molcfg with ``profiles`` profiles in extends chains ``depth`` deep and
    ``keys`` keys in defaults (a fifth of them nested); returns the deepest name."""
    lines = ["version: 1", "defaults:"]
    flat = keys * 4 // 5
    lines += [f"  key_{i}: {i}" for i in range(flat)]
    groups = (keys - flat) // 10
    for g in range(groups):
        lines.append(f"  group_{g}:")
        lines += [f"    sub_{j}: {g * 10 + j}.5" for j in range(10)]
    lines.append("profiles:")
    deepest = "p0"
    for i in range(profiles):
        name = f"p{i}"
        lines.append(f"  {name}:")
        if i % depth:
            lines.append(f"    extends: p{i - 1}")
        lines.append(f"    key_{i % flat}: changed_{i}")
        lines.append(f"    group_{i % max(groups, 1)}: {{sub_{i % 10}: {i}}}")
        if i % depth == depth - 1:
            deepest = name
    path.write_text("\n".join(lines) + "\n")
    return deepest


def extends_chain(path: Path, count: int = 800) -> str:
    """``count`` profiles, each extending the one before (issue 11: 19 KB that did not
    resolve in two minutes); returns the last name."""
    lines = ["version: 1", "profiles:", "  p0: {x: 0}"]
    lines += [f"  p{i}: {{extends: p{i - 1}}}" for i in range(1, count)]
    path.write_text("\n".join(lines) + "\n")
    return f"p{count - 1}"


def extends_diamond(path: Path, count: int = 28) -> str:
    """``count`` profiles, each extending every earlier one: 2**(count-1) paths."""
    lines = ["version: 1", "profiles:", "  p0: {x: 0}"]
    lines += [f"  p{i}: {{extends: [{', '.join(f'p{j}' for j in range(i))}], x: {i}}}"
              for i in range(1, count)]
    path.write_text("\n".join(lines) + "\n")
    return f"p{count - 1}"


PROFILES = ("smoke", "default", "large_batch", "dry_run", "production")


def many_runs(root: Path, count: int) -> Path:
    """``count`` run directories under root/runs; returns the failed smoke run to resume.

    One real run makes the template record, so resume's config check passes.
    """
    env = dict(os.environ)
    env.pop("MOLEXP_RUNS_DIR", None)
    subprocess.run([str(Path(sys.executable).with_name("molexp")), "run", "train.py", "-p",
                    "smoke", "-o", "a=1", "-o", "b=2", "--quiet"], cwd=root, env=env,
                   check=True, capture_output=True)
    (template_dir,) = list((root / "runs" / "train" / "smoke").iterdir())
    template = json.loads((template_dir / "run.json").read_text())
    shutil.rmtree(template_dir)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    failed_at = count // 2  # an old failure: newer runs must not make the lookup slower
    target = None
    for index in range(count):
        profile = PROFILES[index % len(PROFILES)]
        when = start + timedelta(seconds=index)
        run_id = when.strftime("%Y%m%d-%H%M%S-%f") + f"-{index % 65536:04x}"
        run_dir = root / "runs" / "train" / profile / run_id
        run_dir.mkdir(parents=True)
        record = dict(template, run_id=run_id, profile=None if profile == "default" else profile,
                      status="succeeded", created_at=when.isoformat().replace("+00:00", "Z"))
        if profile == "smoke" and index == failed_at - failed_at % len(PROFILES):
            record["status"] = "failed"
            record["tasks"] = {"Train": {"status": "failed"}}
            target = run_dir
        elif profile != "smoke":
            record["config"] = dict(template["config"], epochs=index)
        with open(run_dir / "run.json", "w") as handle:
            json.dump(record, handle)
    assert target is not None
    return target


def mark_failed(run_dir: Path) -> None:
    record = json.loads((run_dir / "run.json").read_text())
    record["status"] = "failed"
    record["tasks"] = {"Train": {"status": "failed"}}
    with open(run_dir / "run.json", "w") as handle:
        json.dump(record, handle)


def count_slurm_calls(work: Path, env: dict, molexp: str) -> int:
    """squeue/sacct/scontrol calls made by one `molexp runs` refresh, via wrappers on PATH."""
    wrappers = work / "wrappers"
    wrappers.mkdir()
    log = work / "calls.log"
    for name in ("squeue", "sacct", "scontrol"):
        real = shutil.which(name)
        path = wrappers / name
        path.write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    wrapped = dict(env, PATH=f"{wrappers}:{env.get('PATH', os.environ['PATH'])}")
    subprocess.run([molexp, "runs", "--json"], cwd=work, env=wrapped, check=True,
                   capture_output=True)
    return len(log.read_text().split()) if log.exists() else 0


def wait_for_runs(work: Path, env: dict, molexp: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = json.loads(subprocess.run([molexp, "runs", "--json"], cwd=work, env=env,
                                         capture_output=True, text=True).stdout)
        if all(row["status"] not in ("created", "submitted", "running") for row in rows):
            return
        time.sleep(2)
    subprocess.run(["scancel", "--name", "train-smoke"], capture_output=True)

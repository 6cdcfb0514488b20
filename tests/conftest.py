"""Shared fixtures: real files in tmp dirs, the installed `molexp` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = REPO / "examples" / "operations" / "run_profiles"


def molexp_command() -> list:
    """The installed console script (next to this interpreter), as users run it."""
    exe = Path(sys.executable).with_name("molexp")
    found = str(exe) if exe.exists() else shutil.which("molexp")
    if not found:
        pytest.fail("the `molexp` command is not installed; run: pip install -e '.[test]'")
    return [found]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current directory; no inherited runs root."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOLEXP_RUNS_DIR", raising=False)
    monkeypatch.delenv("MOLEXP_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("MOLEXP_DEBUG", raising=False)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def spec_config(workdir):
    """The spec page's molcfg.yaml, verbatim, in the current directory."""
    return write(workdir / "molcfg.yaml", (EXAMPLE_DIR / "molcfg.yaml").read_text())


CONFIG_ECHO_SCRIPT = '''
from molexp.workflow import Task, TaskContext


class Echo(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        return {"config": ctx.config.to_dict(), "profile": ctx.profile}
'''


@pytest.fixture
def echo_script(workdir):
    """A script whose only task returns the config it saw."""
    return write(workdir / "echo.py", CONFIG_ECHO_SCRIPT)


def run_molexp(*args, cwd=None, env=None, timeout=120, input=None):
    """Run the installed `molexp` in a subprocess; returns CompletedProcess."""
    full_env = dict(os.environ)
    full_env.pop("MOLEXP_DEBUG", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        molexp_command() + [str(a) for a in args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        input=input,
    )


def run_dirs(root: Path) -> list:
    """All run directories under a runs root, oldest first."""
    return sorted(p.parent for p in Path(root).glob("*/*/*/run.json"))


def read_record(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def task_result(run_dir: Path, task: str) -> object:
    record = read_record(run_dir)
    path = Path(run_dir) / record["tasks"][task]["result_file"]
    return json.loads(path.read_text())["result"]

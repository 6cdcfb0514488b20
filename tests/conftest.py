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


def example_files(directory: Path) -> list:
    """The files of an example that belong to it, relative to it: those git tracks
    or would track (never a run store or cache left by following its docs, which
    .gitignore names); outside a git checkout, all but runs/ and caches."""
    directory = Path(directory)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard", "--", "."], cwd=directory,
                                capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    if listed is not None and listed.returncode == 0 and listed.stdout:
        names = [Path(n) for n in listed.stdout.decode().split("\0") if n]
        return sorted(n for n in names if (directory / n).is_file())
    skip = {"runs", "__pycache__", ".pytest_cache"}
    return sorted(p.relative_to(directory) for p in directory.rglob("*")
                  if p.is_file() and not skip & set(p.relative_to(directory).parts))


def copy_example(directory: Path, destination: Path) -> Path:
    """A copy of an example with only its own files (see ``example_files``)."""
    for name in example_files(directory):
        target = Path(destination) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(directory) / name, target)
    return Path(destination)


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
    """All run directories under a runs root, oldest first (not hidden staging dirs)."""
    return sorted(p.parent for p in Path(root).glob("*/*/*/run.json")
                  if not p.parent.name.startswith("."))


def read_record(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def wait_for_record(run_dir: Path, statuses=("succeeded",), timeout: float = 30) -> dict:
    """A detached run's record once its status is one of ``statuses``."""
    import time

    deadline = time.time() + timeout
    while True:
        record = read_record(run_dir)
        if record["status"] in statuses:
            return record
        assert time.time() < deadline, f"{run_dir.name} still {record['status']}"
        time.sleep(0.1)


def task_result(run_dir: Path, task: str) -> object:
    record = read_record(run_dir)
    path = Path(run_dir) / record["tasks"][task]["result_file"]
    return json.loads(path.read_text())["result"]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not: where the container's
    init never reaps, a killed daemon's zombie stays and ``kill -0`` still finds it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


# -- a real Slurm cluster ------------------------------------------------------
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"


def _slurm_answers(env: dict) -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(
        s in out.stdout for s in ("idle", "mixed", "allocated"))


def _unavailable(reason: str):
    if os.environ.get("MOLEXP_REQUIRE_SLURM") == "1":
        pytest.fail(f"MOLEXP_REQUIRE_SLURM=1 but no Slurm cluster answers: {reason}")
    pytest.skip(f"no Slurm cluster: {reason} (set MOLEXP_REQUIRE_SLURM=1 to make this fail)")


@pytest.fixture(scope="session")
def slurm_env(tmp_path_factory):
    """Environment for a Slurm cluster that answers: $SLURM_CONF's, or one we start.

    A cluster this fixture starts is stopped by the pids it recorded, whatever
    the tests did.
    """
    if os.environ.get("SLURM_CONF") and _slurm_answers(dict(os.environ)):
        yield {"SLURM_CONF": os.environ["SLURM_CONF"]}
        return
    if not shutil.which("sbatch") or not shutil.which("slurmctld"):
        _unavailable("sbatch/slurmctld not installed (tests/slurm/install-deps.sh)")
    import tempfile

    # not under pytest's 0700 tmp dirs: munged wants a world-traversable socket path
    directory = Path(tempfile.mkdtemp(prefix="molexp-slurm-", dir="/tmp"))
    directory.chmod(0o755)
    env = dict(os.environ)
    env.pop("CTLD_PORT", None)  # cluster.sh picks two free ports (recorded in slurm.conf):
    env.pop("SLURMD_PORT", None)  # two test runs on one machine never clash
    started = subprocess.run(["bash", str(CLUSTER_SH), "start", str(directory)], env=env,
                             capture_output=True, text=True, timeout=120)
    try:
        if started.returncode != 0:
            _unavailable(f"tests/slurm/cluster.sh start failed: {started.stderr.strip()}")
        yield {"SLURM_CONF": str(directory / "etc" / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(directory)], env=env,
                       capture_output=True, text=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)

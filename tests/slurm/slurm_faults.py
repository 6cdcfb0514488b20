"""Shared by the Slurm fault tests (tests/slurm/test_*_faults.py).

Faults are injected into a real cluster: wrapper scripts first on PATH around the
real sbatch/squeue (they log each call, and can time out, fail, or print odd
bytes while a switch file exists), a private cluster of the test's own
(tests/slurm/cluster.sh in its own directory, stopped by its recorded pids), and
its daemons and a job's processes killed by the pids this test can prove are its
own (the cluster directory in their cwd or SLURM_CONF).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from conftest import CLUSTER_SH, process_alive, read_record, run_molexp, write

LONG = """
import time
from pathlib import Path
from molexp.workflow import Task

class Long(Task):
    def execute(self, ctx):
        Path(f"long-started-{ctx.attempt}").touch()
        if ctx.attempt == 1:
            time.sleep(float(ctx.config.get("sleep", 120)))
        return f"attempt {ctx.attempt}"
"""

QUICK = """
from molexp.workflow import Task

class Quick(Task):
    def execute(self, ctx):
        return {"attempt": ctx.attempt}
"""


def wrappers(directory: Path, behaviours: Dict[str, str]) -> Path:
    """Scripts named like Slurm's tools, first on PATH: each logs its call to
    ``calls.log``, then runs ``behaviours[tool]`` (bash, with ``$REAL`` the real
    tool) or, by default, the real tool."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in ("sbatch", "squeue", "scancel", "scontrol", "sacct"):
        real = shutil.which(tool)
        assert real, f"{tool} not found"
        body = behaviours.get(tool, 'exec "$REAL" "$@"')
        write(directory / tool, f'#!/bin/bash\nREAL={real}\n'
                                f'echo "{tool} $*" >> "{directory}/calls.log"\n{body}\n'
              ).chmod(0o755)
    return directory


def calls(directory: Path, tool: str) -> List[str]:
    log = directory / "calls.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if line.split()[:1] == [tool]]


# what a wrapper does while its switch file exists
AMBIGUOUS_SBATCH = '''if [ -e "{switch}" ]; then
  "$REAL" "$@" > /dev/null 2>&1
  echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2
  exit 1
fi
exec "$REAL" "$@"'''

HANGING_SBATCH = '''if [ -e "{switch}" ]; then
  "$REAL" "$@" > /dev/null 2>&1
  exec sleep 600
fi
exec "$REAL" "$@"'''

SILENT_SQUEUE = '''if [ -e "{switch}" ]; then
  echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2
  exit 1
fi
exec "$REAL" "$@"'''


def molexp(workdir: Path, env: Dict[str, str], *args, timeout: float = 300):
    return run_molexp(*args, cwd=workdir, env=env, timeout=timeout)


def status_of(workdir: Path, env: Dict[str, str], run: str) -> dict:
    result = molexp(workdir, env, "status", run, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_until(what: str, check, timeout: float = 240, every: float = 0.5):
    """``check()`` until it returns something true; fail naming ``what``.  The
    deadline is only a backstop against a hang: tests wait on states."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"still waiting for {what} after {timeout:.0f}s"
        time.sleep(every)


def slurm(env: Dict[str, str], *argv: str, check: bool = True) -> str:
    """A real Slurm command against the cluster of ``env`` (never a wrapper)."""
    clean = dict(os.environ, SLURM_CONF=env["SLURM_CONF"])
    result = subprocess.run(list(argv), env=clean, capture_output=True, text=True,
                            errors="replace", timeout=60)
    assert not check or result.returncode == 0, (argv, result.stderr)
    return result.stdout


def job_state(env: Dict[str, str], job_id: str) -> str:
    return slurm(env, "squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T",
                 check=False).strip()


def record_when(run_dir: Path, test) -> dict:
    return wait_until(f"run.json of {run_dir.name} to change",
                      lambda: (lambda r: r if test(r) else None)(read_record(run_dir)))


# -- a private cluster -----------------------------------------------------------
class Cluster:
    """A cluster of this test's own under ``directory`` (cluster.sh), on free ports."""

    def __init__(self, directory: Path, **settings: str) -> None:
        self.directory = directory
        self.env = dict(os.environ, **settings)
        self.env.pop("CTLD_PORT", None)
        self.env.pop("SLURMD_PORT", None)
        self.conf = str(directory / "etc" / "slurm.conf")

    @property
    def slurm_env(self) -> Dict[str, str]:
        return {"SLURM_CONF": self.conf}

    def start(self) -> None:
        done = subprocess.run(["bash", str(CLUSTER_SH), "start", str(self.directory)],
                              env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(self.directory)],
                       env=self.env, capture_output=True, text=True, timeout=180)

    def pid(self, daemon: str) -> Optional[int]:
        path = self.directory / "run" / f"{daemon}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_daemon(self, daemon: str, signum: int) -> None:
        """Signal one daemon of this cluster by its pid file; wait until it is gone."""
        pid = self.pid(daemon)
        assert pid is not None, f"no pid file for {daemon}"
        os.kill(pid, signum)
        wait_until(f"{daemon} (pid {pid}) to end", lambda: not process_alive(pid), timeout=60,
                   every=0.1)

    def job_processes(self, job_id: str) -> List[int]:
        """The processes of job ``job_id`` of THIS cluster: its slurmstepd (working
        in this cluster's directory) and everything whose environment names this
        cluster's slurm.conf and the job id."""
        found = []
        for pid in _pids():
            cmdline = _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").strip()
            if cmdline.startswith(f"slurmstepd: [{job_id}.".encode()):
                try:
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                except OSError:
                    continue
                if cwd.startswith(str(self.directory)):
                    found.append(pid)
                continue
            environ = _read(f"/proc/{pid}/environ").split(b"\0")
            if (f"SLURM_CONF={self.conf}".encode() in environ
                    and f"SLURM_JOB_ID={job_id}".encode() in environ):
                found.append(pid)
        return found


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def private_cluster(prefix: str, **settings: str) -> Cluster:
    """A new cluster directory (not under pytest's 0700 tmp dirs: munged wants a
    world-traversable socket path); the caller starts and stops it."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    directory.chmod(0o755)
    return Cluster(directory, **settings)

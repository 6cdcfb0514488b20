"""Runs started at the same moment: distinct, valid run directories; one resume only."""

from __future__ import annotations

import json
import subprocess

from conftest import molexp_command, read_record, run_dirs, run_molexp, write

SCRIPT = """
import os, time
from pathlib import Path
from molexp.workflow import Task

class Work(Task):
    def execute(self, ctx):
        if Path("fail.flag").exists():
            raise RuntimeError("not yet")
        time.sleep(float(os.environ.get("WORK_SECONDS", "0")))
        return ctx.config.get("epochs")
"""


def start_all(n, args, cwd, env=None):
    import os

    full = dict(os.environ, **(env or {}))
    procs = [subprocess.Popen(molexp_command() + args, cwd=cwd, env=full,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    return [(p.wait(timeout=120), *p.communicate()) for p in procs]


def test_twenty_simultaneous_runs_get_twenty_valid_directories(workdir, spec_config):
    write(workdir / "work.py", SCRIPT)
    results = start_all(20, ["run", "work.py", "-p", "smoke", "--quiet"], workdir)
    assert [code for code, _, _ in results] == [0] * 20, [err for _, _, err in results]
    runs = run_dirs(workdir / "runs")
    assert len(runs) == 20 and len({d.name for d in runs}) == 20
    for run_dir in runs:
        record = read_record(run_dir)
        assert record["status"] == "succeeded" and record["run_id"] == run_dir.name
        assert record["config"]["epochs"] == 3


def test_ten_simultaneous_resumes_exactly_one_proceeds(workdir, spec_config):
    write(workdir / "work.py", SCRIPT)
    (workdir / "fail.flag").touch()
    assert run_molexp("run", "work.py", "-p", "smoke", cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    (workdir / "fail.flag").unlink()
    results = start_all(10, ["run", "work.py", "-p", "smoke", "--resume"], workdir,
                        env={"WORK_SECONDS": "3"})
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [1] * 9, [err for _, _, err in results]
    for code, _, err in results:
        if code == 1:
            assert "Traceback" not in err
            assert ("is being executed by pid" in err or "is still running (pid" in err
                    or "just completed by another process" in err), err
    import re

    holders = [err for code, _, err in results if code == 1 and re.search(r"pid \d+ on ", err)]
    assert holders, "no loser named the holder"
    assert run_dirs(workdir / "runs") == [run_dir]  # nobody started a new run
    record = read_record(run_dir)
    assert record["status"] == "succeeded" and record["attempts"] == 2
    rows = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert [r["status"] for r in rows] == ["succeeded"]

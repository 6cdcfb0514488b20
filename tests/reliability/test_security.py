"""Nothing from a config, profile, override or path is ever run by a shell, and
molexp never makes files wider than the user's umask allows."""

from __future__ import annotations

import json
import os
import stat
import time

from conftest import read_record, run_dirs, run_molexp, task_result, write

CANARY = "$(touch PWNED_A); `touch PWNED_B`; touch PWNED_C; ' \" \n | touch PWNED_D &"


def test_local_and_detached_runs_never_evaluate_text(workdir, echo_script):
    write(workdir / "canary.yaml", "version: 1\ndefaults:\n  evil: " + json.dumps(CANARY)
          + "\nprofiles:\n  plain: {}\n")
    runs = workdir / "runs $(touch PWNED_E) `touch PWNED_F`"
    for extra in ([], ["--detach"]):
        result = run_molexp("run", echo_script, "--config", "canary.yaml", "-p", "plain",
                            "-o", "also=$(touch PWNED_G);`touch PWNED_H`", "--runs-dir", runs,
                            *extra, cwd=workdir)
        assert result.returncode == 0, result.stderr
    deadline = time.time() + 20
    while any(read_record(d)["status"] != "succeeded" for d in run_dirs(runs)):
        assert time.time() < deadline
        time.sleep(0.1)
    for run_dir in run_dirs(runs):
        assert task_result(run_dir, "Echo")["config"]["evil"] == CANARY
    assert list(workdir.rglob("PWNED_*")) == []


def test_files_respect_the_umask(workdir, echo_script):
    old = os.umask(0o077)
    try:
        assert run_molexp("run", echo_script, cwd=workdir).returncode == 0
    finally:
        os.umask(old)
    (run_dir,) = run_dirs(workdir / "runs")
    for path in [run_dir, *run_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))

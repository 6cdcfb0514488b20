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


HOSTILE_REFS = ["..", "../..", "/", "", "2026/../..", "runs/../../etc", "*", "-", "\x00"]


def test_hostile_run_ids_reach_no_run_and_write_nothing(workdir, echo_script):
    assert run_molexp("run", echo_script, cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")}
    outside = set(os.listdir(workdir.parent))
    for ref in HOSTILE_REFS:
        if "\x00" in ref:
            continue  # no argv can carry NUL; covered by profile names in test_bad_input
        for command in (["execute"], ["show"], ["status"], ["cancel"], ["rerun"]):
            result = run_molexp(*command, ref, cwd=workdir)
            assert result.returncode in (1, 2), (command, ref, result.stdout)
            assert "Traceback" not in result.stderr
            assert any(m in result.stderr for m in
                       ("no run", "not a run directory", "does not exist")), \
                (command, ref, result.stderr)
    assert {p: p.stat().st_mtime_ns for p in workdir.rglob("*")} == before
    assert set(os.listdir(workdir.parent)) == outside
    assert read_record(run_dir)["status"] == "succeeded"


def test_runs_profile_cannot_name_a_directory_outside_the_root(workdir, echo_script):
    project = workdir / "a" / "b" / "project"  # room above the runs root to escape to
    project.mkdir(parents=True)
    assert run_molexp("run", echo_script, cwd=project).returncode == 0
    assert run_molexp("runs", cwd=project).returncode == 0  # the index of the real root
    for profile in ("../../..", "../default", "a/b", ".hidden", "../../../../a"):
        result = run_molexp("runs", "-p", profile, cwd=project)
        assert result.returncode == 2 and "cannot name a directory" in result.stderr
    indexes = list(workdir.rglob(".index*.json"))
    assert indexes and all(project / "runs" in p.parents for p in indexes), indexes

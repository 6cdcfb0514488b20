"""Sweeps on this machine: real files, the installed `molexp`, forked points."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, task_result, write

CONFIG = """
version: 1
defaults:
  batch_size: 32
  optimizer:
    lr: 0.001
profiles:
  smoke:
    epochs: 3
sweeps:
  lr-scan:
    profile: smoke
    grid:
      optimizer.lr: [0.0001, 0.001, 0.01]
      batch_size: [16, 32]
    points:
      - {optimizer.lr: 0.1, batch_size: 8}
"""

SCRIPT = '''
import os
from pathlib import Path
from molexp.workflow import Task

LEAKED = []


class Train(Task):
    def execute(self, ctx):
        LEAKED.append(ctx.run_id)  # a point's state must never reach another point
        bad = Path(os.environ.get("MOLEXP_TEST_CRASH_FILE", "/nonexistent"))
        if bad.is_file() and ctx.config["batch_size"] == int(bad.read_text()):
            os._exit(3)
        if ctx.config.get("sleep"):
            import time
            time.sleep(ctx.config["sleep"])
        return {"config": ctx.config.to_dict(), "seen": len(LEAKED),
                "loss": ctx.config["optimizer"]["lr"] * ctx.config["batch_size"]}
'''


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", CONFIG)
    write(workdir / "train.py", SCRIPT)
    return workdir


def sweep_records(root: Path) -> list:
    return sorted((root / ".sweeps").glob("sw-*/sweep.json"))


def the_sweep(root: Path) -> dict:
    (path,) = sweep_records(root)
    return json.loads(path.read_text())


def test_named_sweep_runs_grid_then_points_each_with_its_config(project):
    dry = run_molexp("run", "train.py", "--sweep", "lr-scan", "--dry-run", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert not (project / "runs").exists()  # a dry run creates nothing
    hashes = [line.split()[1] for line in dry.stdout.splitlines() if not line.startswith("#")]
    assert len(hashes) == 7

    result = run_molexp("run", "train.py", "--sweep", "lr-scan", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "7 point(s): 7 succeeded" in result.stdout
    sweep = the_sweep(project / "runs")
    assert sweep["name"] == "lr-scan" and sweep["profile"] == "smoke" and sweep["size"] == 7
    expected = [(lr, bs) for lr in (0.0001, 0.001, 0.01) for bs in (16, 32)] + [(0.1, 8)]
    for index, (point, (lr, bs)) in enumerate(zip(sweep["points"], expected)):
        assert point["point"] == {"optimizer.lr": lr, "batch_size": bs}
        assert point["config_hash"] == hashes[index]
        run_dir = project / "runs" / point["run_dir"]
        assert run_dir.parent.name == "smoke"
        record = read_record(run_dir)
        assert record["sweep"] == {"id": sweep["sweep_id"], "name": "lr-scan",
                                   "index": index, "size": 7, "point": point["point"]}
        assert record["config_hash"] == hashes[index]
        seen = task_result(run_dir, "Train")
        assert seen["config"] == {"batch_size": bs, "optimizer": {"lr": lr}, "epochs": 3}
        assert seen["seen"] == 1  # separate processes: no point saw another's state
    shown = run_molexp("show", point["run_id"], cwd=project).stdout
    assert (f"sweep:         {sweep['sweep_id']} (lr-scan) point #6 of 7: "
            "optimizer.lr=0.1 batch_size=8") in shown
    listed = run_molexp("config", "sweeps", cwd=project)
    assert "lr-scan  smoke    7     optimizer.lr(3) x batch_size(2) + 1 point(s)" in \
        listed.stdout


def test_inline_axes_coerce_escape_commas_and_win_over_overrides(project):
    result = run_molexp("run", "train.py", "-p", "smoke", "-o", "batch_size=1",
                        "-o", "tag=x", "--sweep", r"tag=a\,b,c", "--sweep",
                        "batch_size=2,3", "--sweep", "flag=true", cwd=project)
    assert result.returncode == 0, result.stderr
    sweep = the_sweep(project / "runs")
    assert sweep["name"] is None and sweep["size"] == 4
    points = [p["point"] for p in sweep["points"]]
    assert points == [{"tag": "a,b", "batch_size": 2, "flag": True},
                      {"tag": "a,b", "batch_size": 3, "flag": True},
                      {"tag": "c", "batch_size": 2, "flag": True},
                      {"tag": "c", "batch_size": 3, "flag": True}]
    for point in sweep["points"]:
        record = read_record(project / "runs" / point["run_dir"])
        assert record["config"]["batch_size"] == point["point"]["batch_size"]
        assert record["overrides"] == ["batch_size=1", "tag=x"]
        assert record["sweep"]["name"] is None


def test_a_point_that_calls_os_exit_fails_alone_and_resumes(project):
    crash = write(project / "crash", "32")
    env = {"MOLEXP_TEST_CRASH_FILE": str(crash)}
    result = run_molexp("run", "train.py", "--sweep", "lr-scan", "--jobs", "2", cwd=project,
                        env=env)
    assert result.returncode == 1
    assert "7 point(s): 4 succeeded, 3 failed" in result.stderr
    sweep = the_sweep(project / "runs")
    failed = []
    for point in sweep["points"]:
        record = read_record(project / "runs" / point["run_dir"])
        if point["point"]["batch_size"] == 32:
            assert record["status"] == "failed"
            # each point is supervised by the executor too: the task is named
            assert record["error"] == ("task Train: the process exited with code 3 before "
                                       "the task returned")
            assert record["tasks"]["Train"]["status"] == "failed"
            failed.append(point["run_id"])
        else:
            assert record["status"] == "succeeded"
    assert "failed" in result.stdout and failed[0] in result.stdout  # the summary table

    crash.unlink()
    resumed = run_molexp("run", "train.py", "--sweep", "lr-scan", "--resume", "-j", "2",
                         cwd=project, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 of 7 point(s) did not succeed" in resumed.stderr
    assert len(sweep_records(project / "runs")) == 1  # the same sweep, continued
    assert len(run_dirs(project / "runs")) == 7
    for point in the_sweep(project / "runs")["points"]:
        record = read_record(project / "runs" / point["run_dir"])
        assert record["status"] == "succeeded"
        assert record["attempts"] == (2 if point["run_id"] in failed else 1)
    again = run_molexp("run", "train.py", "--sweep", "lr-scan", "--resume", cwd=project)
    assert again.returncode == 0 and "every point already succeeded" in again.stdout


def test_skip_succeeded_points_at_existing_runs(project):
    first = run_molexp("run", "train.py", "-p", "smoke", "--sweep", "batch_size=1,2",
                       cwd=project)
    assert first.returncode == 0, first.stderr
    second = run_molexp("run", "train.py", "-p", "smoke", "--sweep", "batch_size=1,2,3",
                        "--skip-succeeded", cwd=project)
    assert second.returncode == 0, second.stderr
    assert len(run_dirs(project / "runs")) == 3  # only batch_size=3 ran
    newest = json.loads(sweep_records(project / "runs")[-1].read_text())
    reused = [p for p in newest["points"] if p.get("reused")]
    assert [p["point"]["batch_size"] for p in reused] == [1, 2]
    oldest = json.loads(sweep_records(project / "runs")[0].read_text())
    assert [p["run_id"] for p in reused] == [p["run_id"] for p in oldest["points"]]
    # fingerprints decide, as for --resume: a change outside the task reuses ...
    write(project / "train.py", SCRIPT + "\n# changed\n")
    third = run_molexp("run", "train.py", "-p", "smoke", "--sweep", "batch_size=1",
                       "--skip-succeeded", cwd=project)
    assert third.returncode == 0 and len(run_dirs(project / "runs")) == 3
    # ... a change of the task's code runs the point again
    write(project / "train.py", SCRIPT.replace('"seen": len(LEAKED)', '"seen": len(LEAKED) + 0'))
    fourth = run_molexp("run", "train.py", "-p", "smoke", "--sweep", "batch_size=1",
                        "--skip-succeeded", cwd=project)
    assert fourth.returncode == 0 and len(run_dirs(project / "runs")) == 4


def test_comparison_table_sort_csv_and_json(project):
    assert run_molexp("run", "train.py", "--sweep", "lr-scan", "-q",
                      cwd=project).returncode == 0
    sweep_id = the_sweep(project / "runs")["sweep_id"]
    table = run_molexp("runs", "--sweep", sweep_id[:12], "-c", "Train.loss",
                       "--sort", "Train.loss", "--reverse", cwd=project)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["#", "RUN", "ID", "STATUS", "optimizer.lr", "batch_size",
                                "Train.loss"]
    assert lines[1].split()[0] == "6" and lines[1].split()[-1] == "0.8"
    assert lines[-1].split()[0] == "0"
    out = run_molexp("runs", "--sweep", sweep_id, "--columns", "Train.loss,Train.seen",
                     "--csv", cwd=project).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["index"] for r in rows] == [str(i) for i in range(7)]
    assert rows[6] == {"index": "6", "run_id": rows[6]["run_id"], "status": "succeeded",
                       "optimizer.lr": "0.1", "batch_size": "8", "Train.loss": "0.8",
                       "Train.seen": "1"}
    data = json.loads(run_molexp("runs", "--sweep", sweep_id, "-c", "Train.loss", "--json",
                                 cwd=project).stdout)
    assert data[0] == {"index": 0, "run_id": data[0]["run_id"], "status": "succeeded",
                       "optimizer.lr": 0.0001, "batch_size": 16, "Train.loss": 0.0016}
    listed = json.loads(run_molexp("runs", "--sweep", sweep_id, "--json",
                                   cwd=project).stdout)
    assert [r["sweep"] for r in listed] == [sweep_id] * 7
    sweeps = json.loads(run_molexp("sweeps", "--json", cwd=project).stdout)
    assert sweeps[0]["counts"] == {"succeeded": 7} and sweeps[0]["size"] == 7
    status = run_molexp("status", sweep_id, cwd=project).stdout
    assert "points:       7 succeeded" in status and "keys:         optimizer.lr, batch_size" \
        in status
    shown = json.loads(run_molexp("show", sweep_id, "--json", cwd=project).stdout)
    assert shown["sweep_id"] == sweep_id and len(shown["points"]) == 7
    watched = run_molexp("runs", "--watch", "--sweep", sweep_id, "--count", "1",
                         cwd=project)
    assert watched.returncode == 0 and watched.stdout.count("succeeded") == 7


def test_cancel_a_running_local_sweep(project):
    process = subprocess.Popen(
        molexp_command() + ["run", "train.py", "-p", "smoke", "-o", "sleep=60",
                            "--sweep", "batch_size=1,2,3", "-j", "2"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            running = [d for d in run_dirs(project / "runs")
                       if read_record(d)["status"] == "running"]
            if len(running) == 2:
                break
            time.sleep(0.2)
        assert len(running) == 2
        sweep_id = the_sweep(project / "runs")["sweep_id"]
        cancelled = run_molexp("cancel", sweep_id, cwd=project)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "3 point(s) cancelled" in cancelled.stdout
        assert process.wait(timeout=60) == 143
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
    statuses = [read_record(d)["status"] for d in run_dirs(project / "runs")]
    assert statuses == ["cancelled"] * 3
    again = run_molexp("cancel", sweep_id, cwd=project)
    assert again.returncode == 1 and "nothing to cancel" in again.stderr


@pytest.mark.parametrize("args, message", [
    (["--jobs", "2"], "--jobs applies to sweeps"),
    (["--sweep", "batch_size=1", "--max-parallel", "2"], "use --jobs"),
    (["--sweep", "lr_scna"], "unknown sweep 'lr_scna'"),
    (["--sweep", "batch_size=1,,2"], "an empty value"),
    (["--sweep", "lr-scan", "--sweep", "lr-scan"], "one named sweep at a time"),
    (["--sweep", "lr-scan", "--sweep", "batch_size=1"], "already swept by sweep"),
    (["--sweep", "optimizer=1", "--sweep", "optimizer.lr=2"], "overlap"),
    (["--sweep", "epochs.x=1,2", "-p", "smoke"], "not a mapping"),
])
def test_sweep_usage_errors_are_one_line_exit_2(project, args, message):
    result = run_molexp("run", "train.py", *args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (project / "runs").exists() or not run_dirs(project / "runs")


@pytest.mark.parametrize("body, message, line", [
    ("  s:\n    grid:\n      lr: 3\n", "grid key 'lr' must have a non-empty list", 8),
    ("  s:\n    gird:\n      lr: [1]\n", "unknown key 'gird' (did you mean 'grid'?)", 7),
    ("  s:\n    profile: nope\n    grid: {lr: [1]}\n", "unknown profile 'nope'", 7),
    ("  s:\n    points:\n      - {}\n", "point 1 must be a non-empty mapping", 8),
    ("  s: {}\n", "has no points", 6),
])
def test_bad_sweep_definitions_name_file_and_line(workdir, body, message, line):
    write(workdir / "molcfg.yaml", "version: 1\nprofiles:\n  smoke: {}\ndefaults: {}\n"
          "sweeps:\n" + body)
    write(workdir / "train.py", SCRIPT)
    result = run_molexp("config", "sweeps", cwd=workdir)
    assert result.returncode == 2
    assert f"molcfg.yaml:{line}: " in result.stderr and message in result.stderr
    # the whole file is checked: a plain run refuses it too
    assert run_molexp("run", "train.py", cwd=workdir).returncode == 2


def test_the_sweeps_example_runs_as_documented(workdir):
    from conftest import REPO, copy_example

    # only the example's own files: not a runs/ left by following docs/sweeps.md there
    copy_example(REPO / "examples" / "operations" / "sweeps", workdir / "ex")
    result = run_molexp("run", "train.py", "--sweep", "lr-scan", "--jobs", "2",
                        cwd=workdir / "ex")
    assert result.returncode == 0, result.stderr
    sweep_id = the_sweep(workdir / "ex" / "runs")["sweep_id"]
    table = run_molexp("runs", "--sweep", sweep_id[:9], "--columns", "-c", "Train.loss",
                       "--sort", "Train.loss", cwd=workdir / "ex")
    best = table.stdout.splitlines()[1].split()
    assert best[0] == "2" and best[3:5] == ["0.001", "16"], table.stdout
    assert "molexp run train.py --sweep lr-scan --jobs 2" in (
        REPO / "docs" / "sweeps.md").read_text()

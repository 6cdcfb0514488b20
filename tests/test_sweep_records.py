"""Sweep records are input (issues 17 and 18): wrong types, a 240 MB record, a record
that would outgrow the cap, a grid of 10^9 points, and links or FIFOs planted on the
paths the sweep features write.  Real files, the installed `molexp`."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_molexp, write

SCRIPT = '''
import os
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        with open(os.environ.get("TASK_LOG", os.devnull), "a") as log:
            log.write(f"{ctx.config['t']}\\n")
        if os.environ.get("CRASH_T") == str(ctx.config["t"]):
            raise RuntimeError("crash")
        return {"t": ctx.config["t"]}
'''


@pytest.fixture
def project(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\n")
    write(workdir / "train.py", SCRIPT)
    return workdir


def sweep_file(project: Path) -> Path:
    (path,) = (project / "runs" / ".sweeps").glob("sw-*/sweep.json")
    return path


def one_sweep(project: Path) -> tuple:
    done = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project)
    assert done.returncode == 0, done.stderr
    path = sweep_file(project)
    return path, json.loads(path.read_text())


EDITS = {
    "point not a mapping": lambda r: r["points"][1].update(point="oops"),
    "a point is a number": lambda r: r["points"].__setitem__(0, 7),
    "index a string": lambda r: r["points"][0].update(index="0"),
    "run_dir a number": lambda r: r["points"][0].update(run_dir=5),
    "scheduler a string": lambda r: r.update(scheduler="slurm"),
    "array not a mapping": lambda r: r.update(arrays=["x"]),
    "array job id a list": lambda r: r.update(arrays=[{"job_id": [1], "points": [0]}]),
    "sweep_id a number": lambda r: r.update(sweep_id=5),
    "points a mapping": lambda r: r.update(points={"a": 1}),
    "resumes a string": lambda r: r.update(resumes="x"),
    "pid a string": lambda r: r.update(pid="1", pid_start="x"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_wrong_types_in_sweep_json_are_one_line_errors(project, edit):
    path, record = one_sweep(project)
    sweep_id = record["sweep_id"]
    EDITS[edit](record)
    path.write_text(json.dumps(record))
    for args in (["sweeps"], ["sweeps", "--json"], ["runs", "--sweep", sweep_id],
                 ["runs", "--sweep", sweep_id, "--columns"], ["status", sweep_id],
                 ["show", sweep_id], ["cancel", sweep_id]):
        result = run_molexp(*args, cwd=project)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        if args[0] == "sweeps":
            assert result.returncode == 0, (args, result.stderr)
            assert "sweep.json is not a usable molexp sweep record" in result.stderr
        else:
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            (line,) = result.stderr.splitlines()
            assert line.startswith("Error: ") and "sweep.json" in line, line
    resumed = run_molexp("run", "train.py", "--sweep", "t=1,2", "--resume", "-q",
                         cwd=project)
    assert resumed.returncode == 0, resumed.stderr  # that record is skipped, said once
    assert "not a usable molexp sweep record" in resumed.stderr


def test_a_240_mb_sweep_record_is_refused_clearly(project):
    path, record = one_sweep(project)
    with open(path, "w") as handle:  # valid JSON: the record, then 240 MB of spaces
        handle.write(json.dumps(record))
        block = " " * (1 << 20)
        for _ in range(240):
            handle.write(block)
    for args in (["status", record["sweep_id"]], ["runs", "--sweep", record["sweep_id"]],
                 ["show", record["sweep_id"], "--json"]):
        result = run_molexp(*args, cwd=project)
        assert result.returncode == 1, (args, result.stderr)
        assert "larger than the 64 MiB cap for a sweep record" in result.stderr
    listed = run_molexp("sweeps", cwd=project)
    assert listed.returncode == 0 and "64 MiB cap" in listed.stderr


def test_a_sweep_whose_record_would_outgrow_the_cap_is_refused_before_anything(project):
    big = "x" * (1 << 20)  # each point's record carries it: 100 points, 100 MB
    write(project / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\n  pad: ''\nsweeps:\n"
          f"  huge:\n    grid:\n      pad: ['{big}']\n      t: {list(range(100))}\n")
    result = run_molexp("run", "train.py", "--sweep", "huge", "-q", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "over the 64 MiB cap" in result.stderr and "fewer points" in result.stderr
    assert not (project / "runs").exists()  # nothing half-made


def _limited_memory():  # a test must never take the machine down
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_a_grid_of_a_billion_points_is_refused_before_it_is_built(project):
    values = ",".join(str(i) for i in range(1000))
    result = subprocess.run(
        molexp_command() + ["run", "train.py", "--sweep", f"a={values}", "--sweep",
                            f"b={values}", "--sweep", f"c={values}", "--dry-run"],
        cwd=project, capture_output=True, text=True, timeout=120,
        preexec_fn=_limited_memory)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "1,000,000,000 points" in result.stderr and "100,000" in result.stderr
    write(project / "molcfg.yaml", "version: 1\ndefaults:\n  t: 0\nsweeps:\n  big:\n"
          f"    grid:\n      a: {list(range(300))}\n      b: {list(range(300))}\n")
    result = subprocess.run(
        molexp_command() + ["run", "train.py", "--sweep", "big", "--sweep",
                            f"c={values}", "--dry-run"],
        cwd=project, capture_output=True, text=True, timeout=120,
        preexec_fn=_limited_memory)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "90,000,000 points" in result.stderr


def test_a_linked_sweeps_directory_is_refused(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project / "runs").mkdir()
    os.symlink(elsewhere, project / "runs" / ".sweeps")
    result = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project)
    assert result.returncode == 1, result.stderr
    assert ".sweeps is a symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    for args in (["sweeps"], ["runs", "--sweep", "sw-2"], ["status", "sw-2"]):
        listed = run_molexp(*args, cwd=project)
        assert listed.returncode == 1 and "symbolic link" in listed.stderr, (args, listed)


def test_a_linked_sweep_directory_or_record_is_refused(project, tmp_path_factory):
    path, record = one_sweep(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    target = elsewhere / "sweep.json"
    target.write_text(json.dumps(record))
    path.unlink()
    os.symlink(target, path)
    for args in (["status", record["sweep_id"]], ["cancel", record["sweep_id"]]):
        result = run_molexp(*args, cwd=project)
        assert result.returncode == 1 and "symbolic link" in result.stderr, result.stderr
    resumed = run_molexp("run", "train.py", "--sweep", "t=1,2", "--resume", "-q",
                         cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(target.read_text()) == record  # never written through the link


def test_a_fifo_at_an_array_tasks_output_file_never_blocks(project):
    """What a job array's task runs (`execute --manifest --index --output`), with a
    FIFO planted where its output goes: refused at once, the point not executed."""
    failed = run_molexp("run", "train.py", "--sweep", "t=1,2", "-q", cwd=project,
                        env={"CRASH_T": "1", "TASK_LOG": str(project / "tasks.log")})
    assert failed.returncode == 1
    record = json.loads(sweep_file(project).read_text())
    run_dir = project / "runs" / record["points"][0]["run_dir"]
    manifest = sweep_file(project).parent / "manifest-0.json"
    manifest.write_text(json.dumps({"sweep_id": record["sweep_id"],
                                    "runs": [str(run_dir)]}))
    os.mkfifo(run_dir / "slurm-7_0.out")
    result = run_molexp("execute", "--quiet", "--manifest", manifest, "--index", "0",
                        "--output", "slurm-7_0.out", cwd=project, timeout=60,
                        env={"TASK_LOG": str(project / "tasks.log")})
    assert result.returncode == 1, result.stderr
    assert "slurm-7_0.out is a FIFO" in result.stderr
    assert (project / "tasks.log").read_text().split() == ["1", "2"]  # not executed
    assert read_record(run_dir)["status"] == "failed"

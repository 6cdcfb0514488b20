"""The code of record: snapshots, resume after a code change, rerun of stored code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write

PIPELINE = '''
from pathlib import Path
from molexp.workflow import Task
from helper import SCALE


class Prepare(Task):
    def execute(self, ctx):
        return {"n": 10}


class Train(Task):
    def execute(self, ctx):
        if Path("fail-now").exists():
            raise RuntimeError("diverged")
        return {"loss": ctx.results["Prepare"]["n"] * SCALE, "file": __file__}


class Evaluate(Task):
    def execute(self, ctx):
        return {"score": ctx.results["Train"]["loss"] + 1}
'''


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def failed(workdir):
    """A 3-task run of project/pipeline.py (which imports a sibling) failed in Train."""
    project = workdir / "project"
    write(project / "helper.py", "SCALE = 2\n")
    script = write(project / "pipeline.py", PIPELINE)
    (workdir / "fail-now").write_text("")
    done = run_molexp("run", script, cwd=workdir)
    assert done.returncode == 1, done.stderr
    (workdir / "fail-now").unlink()
    (run_dir,) = run_dirs(workdir / "runs")
    return script, run_dir


def test_execute_runs_the_snapshot_not_the_edited_file(workdir, failed):
    script, run_dir = failed
    prepared = sha(script)
    record = read_record(run_dir)
    assert record["script_sha256"] == prepared == sha(run_dir / "script.py")
    assert record["snapshots"][prepared]["file"] == "script.py"
    assert record["history"][0]["script_sha256"] == prepared
    script.write_text(PIPELINE.replace("+ 1}", "+ 1000}"))  # edited while queued
    elsewhere = workdir / "elsewhere"  # sibling imports come from the script's directory
    elsewhere.mkdir()
    done = run_molexp("execute", run_dir, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    record = read_record(run_dir)
    assert task_result(run_dir, "Evaluate") == \
        {"score": 21}  # the snapshot's code
    train = task_result(run_dir, "Train")
    assert train["file"] == str(script)  # __file__ is the script's own path
    assert record["script_sha256"] == prepared  # never overwritten
    assert record["history"][1]["script_sha256"] == prepared
    assert record["history"][1]["script_origin"] == "snapshot"
    log = (run_dir / "run.log").read_text()
    assert (f"{script} has changed (sha256 {sha(script)[:16]}) since the run was prepared; "
            f"executing the stored snapshot script.py (sha256 {prepared[:16]})") in log
    assert log.count("has changed") == 1


def test_execute_current_script_runs_and_keeps_the_edited_file(workdir, failed):
    script, run_dir = failed
    prepared = sha(script)
    script.write_text(PIPELINE.replace("+ 1}", "+ 1000}"))
    edited = sha(script)
    done = run_molexp("execute", "--current-script", run_dir, cwd=workdir)
    assert done.returncode == 0, done.stderr
    record = read_record(run_dir)
    assert task_result(run_dir, "Evaluate") == \
        {"score": 1020}
    assert (run_dir / "snapshots" / f"{edited}.py").read_bytes() == script.read_bytes()
    assert record["snapshots"][edited]["origin"] == "current-script"
    assert record["history"][1]["script_sha256"] == edited
    assert record["history"][1]["script_origin"] == "current-script"
    assert record["script_sha256"] == prepared
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert f"2: succeeded  script {edited[:16]} (changed from the first attempt's) " \
        "(--current-script)" in shown


def test_a_tampered_snapshot_is_refused(workdir, failed):
    _, run_dir = failed
    (run_dir / "script.py").write_text("print('not what ran')\n")
    done = run_molexp("execute", run_dir, cwd=workdir)
    assert done.returncode == 1
    assert "is corrupt or was edited: its stored script" in done.stderr
    assert "Traceback" not in done.stderr


def test_resume_after_a_fix_reuses_unchanged_tasks_and_says_why(workdir, failed):
    script, run_dir = failed
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "[1/3] task Prepare: reused (succeeded in attempt 1; code unchanged)" in done.stderr
    assert "[2/3] task Train: runs (it was failed before)" in done.stderr
    record = read_record(run_dir)
    assert record["tasks"]["Prepare"]["attempt"] == 1
    assert record["tasks"]["Train"]["attempt"] == 2


def test_resume_after_an_earlier_task_changed_reruns_it_and_everything_after(workdir, failed):
    script, run_dir = failed
    # Train fails again, so that the change below lands on a resumable run
    script.write_text(PIPELINE.replace('return {"n": 10}', 'return {"n": 50}'))
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "task " in line]
    assert lines == [
        "[1/3] task Prepare: runs (its code changed)",
        "[2/3] task Train: runs (it was failed before)",
        "[3/3] task Evaluate: runs (it has not run yet)",
    ], done.stderr
    assert task_result(run_dir, "Evaluate") == \
        {"score": 101}
    record = read_record(run_dir)
    edited = sha(script)
    assert record["history"][1]["script_sha256"] == edited != record["script_sha256"]
    assert (run_dir / "snapshots" / f"{edited}.py").is_file()


def test_resume_drops_a_renamed_task_and_reruns_after_a_changed_one(workdir):
    script = write(workdir / "steps.py", '''
        from pathlib import Path
        from molexp.workflow import Task

        class Load(Task):
            def execute(self, ctx):
                return 1

        class Fit(Task):
            def execute(self, ctx):
                return ctx.results["Load"] + 1

        class Report(Task):
            def execute(self, ctx):
                if Path("fail-now").exists():
                    raise RuntimeError("no")
                return ctx.results["Fit"] * 10
    ''')
    (workdir / "fail-now").write_text("")
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (workdir / "fail-now").unlink()
    (run_dir,) = run_dirs(workdir / "runs")
    text = script.read_text().replace("class Fit(Task)", "class Fitting(Task)")
    text = text.replace('ctx.results["Fit"]', 'ctx.results["Fitting"]')
    script.write_text(text.replace("return 1\n", "return 2\n"))
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "task Fit no longer exists; its record moves to history" in done.stderr
    assert "[1/3] task Load: runs (its code changed)" in done.stderr
    assert "[2/3] task Fitting: runs (it has not run yet)" in done.stderr
    record = read_record(run_dir)
    assert list(record["tasks"]) == ["Load", "Fitting", "Report"]
    assert record["history"][1]["dropped_tasks"]["Fit"]["status"] == "succeeded"
    assert task_result(run_dir, "Report") == 30
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert "dropped tasks: Fit" in shown
    tasks_part = shown.split("tasks:")[-1]
    assert "Fit:" not in tasks_part
    assert "Fitting: succeeded (attempt 2, script " in tasks_part  # the edited script


def test_a_helper_function_change_counts_as_a_code_change(workdir):
    script = write(workdir / "helpers.py", '''
        from pathlib import Path
        from molexp.workflow import Task

        def scale(x):
            return x * 2

        class A(Task):
            def execute(self, ctx):
                return scale(1)

        class B(Task):
            def execute(self, ctx):
                if Path("fail-now").exists():
                    raise RuntimeError("no")
                return 0
    ''')
    (workdir / "fail-now").write_text("")
    assert run_molexp("run", script, cwd=workdir).returncode == 1
    (workdir / "fail-now").unlink()
    script.write_text(script.read_text().replace("x * 2", "x * 3"))
    done = run_molexp("run", script, "--resume", cwd=workdir)
    assert "[1/2] task A: runs (its code changed)" in done.stderr


def test_rerun_of_a_deleted_script_files_under_its_stem_and_runs_the_snapshot(workdir,
                                                                             failed):
    script, run_dir = failed
    assert run_molexp("run", script, "--resume", cwd=workdir).returncode == 0
    original = script.read_bytes()
    script.unlink()
    done = run_molexp("rerun", run_dir.name, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (f"{script} is gone; running run {run_dir.name}'s stored snapshot "
            f"{run_dir / 'script.py'}") in done.stderr
    new = [d for d in run_dirs(workdir / "runs") if d != run_dir]
    assert [d.parent.parent.name for d in new] == ["pipeline"]
    record = read_record(new[0])
    assert record["parent_run"] == run_dir.name and record["status"] == "succeeded"
    assert record["script"] == str(script)
    assert (new[0] / "script.py").read_bytes() == original


def test_rerun_of_a_changed_script_runs_the_stored_code_unless_asked(workdir, failed):
    script, run_dir = failed
    assert run_molexp("run", script, "--resume", cwd=workdir).returncode == 0
    script.write_text(PIPELINE.replace("+ 1}", "+ 1000}"))
    done = run_molexp("rerun", run_dir.name, cwd=workdir)
    assert done.returncode == 0 and "has changed since; running run" in done.stderr
    done = run_molexp("rerun", run_dir.name, "--current-script", cwd=workdir)
    assert done.returncode == 0 and "stored snapshot" not in done.stderr
    assert f"running the current {script} (sha256 {sha(script)[:16]}" in done.stderr
    scores = sorted(task_result(d, "Evaluate")["score"]
                    for d in run_dirs(workdir / "runs"))
    assert scores == [21, 21, 1020]


def test_a_queued_resume_runs_the_code_resume_snapshotted(workdir, failed):
    """--resume with a scheduler that runs elsewhere: the job executes the snapshot
    taken at resume time (here a detached process, the same `execute` path as Slurm)."""
    from conftest import wait_for_record

    script, run_dir = failed
    script.write_text(PIPELINE.replace("+ 1}", "+ 2}"))  # the fix
    fixed = sha(script)
    done = run_molexp("run", script, "--resume", "--detach", cwd=workdir)
    assert done.returncode == 0, done.stderr
    record = wait_for_record(run_dir, ("succeeded", "failed"))
    assert record["status"] == "succeeded", (run_dir / "run.log").read_text()
    assert record["next_script_sha256"] == fixed
    assert record["snapshots"][fixed]["origin"] == "resume"
    assert record["history"][1]["script_sha256"] == fixed
    assert record["history"][1]["script_origin"] == "snapshot"
    assert task_result(run_dir, "Evaluate") == \
        {"score": 22}

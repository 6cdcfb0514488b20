"""Per-step metrics (ctx.log_metric -> metrics.jsonl), through the installed `molexp`:
every start method, bad input, the cap, kill -9 and resume, sweeps, `runs -c`, `show`,
the API, Slurm."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import molexp_command, read_record, run_dirs, run_molexp, task_result, write

MODES = {"fork": ([], {"MOLEXP_START_METHOD": "fork"}),
         "spawn": ([], {"MOLEXP_START_METHOD": "spawn"}),
         "in-process": (["--in-process"], {})}

LOGGING = '''
import math
from molexp.workflow import Task


class Scalar:  # what numpy and torch scalars look like to molexp
    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value


class Train(Task):
    def execute(self, ctx):
        steps = [ctx.log_metric("loss", 1.0 / (i + 1)) for i in range(3)]
        steps.append(ctx.log_metrics({"loss": math.nan, "acc": math.inf}))
        steps.append(ctx.log_metric("lr", 0.1, step=10))
        steps.append(ctx.log_metric("lr", Scalar(0.05)))
        steps.append(ctx.log_metric("big", 2 ** 60))
        steps.append(ctx.log_metrics({}))
        return {"steps": steps}


class Eval(Task):
    def execute(self, ctx):
        return {"step": ctx.log_metric("loss", -1)}  # one series per name, across tasks
'''


def metric_lines(run_dir: Path) -> list:
    return (run_dir / "metrics.jsonl").read_text().splitlines()


@pytest.mark.parametrize("mode", MODES)
def test_one_line_per_call_with_steps_nan_and_numbers(workdir, mode):
    args, env = MODES[mode]
    write(workdir / "train.py", LOGGING)
    result = run_molexp("run", "train.py", *args, env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "Train") == {"steps": [0, 1, 2, 3, 10, 11, 0, None]}
    assert task_result(run_dir, "Eval") == {"step": 4}
    lines = metric_lines(run_dir)
    assert len(lines) == 8  # one per call that had something to log
    assert '"metrics": {"loss": NaN, "acc": Infinity}' in lines[3]
    entries = [json.loads(line) for line in lines]
    assert [e["task"] for e in entries] == ["Train"] * 7 + ["Eval"]
    assert {e["attempt"] for e in entries} == {1}
    assert all(abs(e["time"] - time.time()) < 120 for e in entries)
    assert entries[5]["metrics"] == {"lr": 0.05} and entries[6]["metrics"] == {"big": 2.0 ** 60}
    assert isinstance(entries[6]["metrics"]["big"], float)  # past 2**53: a float
    shown = run_molexp("show", run_dir.name, "--json", cwd=workdir)
    summary = json.loads(shown.stdout)["metrics"]
    assert list(summary) == ["loss", "acc", "lr", "big"]
    assert summary["loss"]["count"] == 5 and summary["loss"]["last"] == -1
    assert summary["loss"]["min"] == -1 and summary["loss"]["max"] == 1.0
    assert summary["acc"]["last"] == math.inf and summary["lr"]["last_step"] == 11


BAD_CALLS = [
    ('ctx.log_metric("flag", True)', "TypeError: metric 'flag': True is a bool"),
    ('ctx.log_metric("loss", "0.5")', "TypeError: metric 'loss': a str is not a number"),
    ('ctx.log_metric("loss", [1, 2])', "a list is not a number"),
    ('ctx.log_metric("my loss", 1)', "ValueError: metric name 'my loss': use 1-200"),
    ('ctx.log_metric("", 1)', "metric name ''"),
    ('ctx.log_metric("x" * 201, 1)', "use 1-200 characters"),
    ('ctx.log_metric(3, 1)', "TypeError: a metric name must be a string, not int"),
    ('ctx.log_metric("loss", 1, step=-1)', "ValueError: step -1: use an int from 0"),
    ('ctx.log_metric("loss", 1, step=1.5)', "TypeError: step must be an int >= 0 or None"),
    ('ctx.log_metric("loss", 1, step=True)', "step must be an int"),
    ('ctx.log_metrics([("loss", 1)])', "log_metrics takes a mapping"),
    ('ctx.log_metrics({"ok": 1, "bad": None})', "metric 'bad': a NoneType is not a number"),
    ('ctx.log_metrics({f"m{i:05d}": 1.5 for i in range(20000)})', "over the 64 KiB limit"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[c for c, _ in BAD_CALLS])
def test_bad_names_values_and_steps_fail_the_task_and_write_nothing(workdir, call, message):
    write(workdir / "bad.py", f'''
        from molexp.workflow import Task

        class Train(Task):
            def execute(self, ctx):
                {call}
    ''')
    result = run_molexp("run", "bad.py", cwd=workdir)
    assert result.returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    assert message in read_record(run_dir)["tasks"]["Train"]["error"]
    assert not (run_dir / "metrics.jsonl").exists()  # nothing half-written


CAP = 64 * 1024 * 1024
FILLING = '''
import json, os
from molexp.workflow import Task
from molexp_core.runs.metrics import MetricsFull


class Fill(Task):
    def execute(self, ctx):
        names = {f"pad{i:04d}": 0.5 for i in range(4000)}
        line = json.dumps({"task": "Fill", "attempt": 1, "step": 0, "time": 1.0,
                           "metrics": names}) + "\\n"
        with open(ctx.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(line * ((64 * 1024 * 1024 - 2000) // len(line)))
        size = os.path.getsize(ctx.run_dir / "metrics.jsonl")
        steps = []
        try:
            while True:
                steps.append(ctx.log_metric("loss", 0.25))
        except MetricsFull as exc:
            return {"steps": steps, "error": str(exc), "before": size}


class Over(Task):
    def execute(self, ctx):
        ctx.log_metric("loss", 0.125)
'''


def test_the_cap_is_a_clear_error_and_never_a_corrupt_file(workdir):
    write(workdir / "fill.py", FILLING)
    result = run_molexp("run", "fill.py", cwd=workdir, timeout=300)
    assert result.returncode == 1, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    filled = task_result(run_dir, "Fill")
    assert filled["before"] < CAP - 1000 and filled["steps"]
    assert filled["steps"] == list(range(len(filled["steps"])))
    assert "metrics.jsonl has reached its 64 MiB cap" in filled["error"]
    size = (run_dir / "metrics.jsonl").stat().st_size
    assert size <= CAP
    error = read_record(run_dir)["tasks"]["Over"]["error"]
    assert error.startswith("task Over failed: MetricsFull: ") and "64 MiB cap" in error
    assert "loss at step" in error
    data = (run_dir / "metrics.jsonl").read_bytes()
    assert data.endswith(b"\n") and b"0.125" not in data[-200:]
    last = json.loads(data.splitlines()[-1])
    assert last["metrics"] == {"loss": 0.25}  # every line whole
    shown = json.loads(run_molexp("show", run_dir.name, "--json", cwd=workdir).stdout)
    assert shown["metrics"]["loss"]["count"] == len(filled["steps"])
    assert shown["data_notes"] == []


SLOW = '''
import os, time
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        for _ in range(int(os.environ.get("EPOCHS", "1000"))):
            ctx.log_metrics({"loss": 1.0, "acc": 0.5})
            time.sleep(0.02)
        return {"attempt": ctx.attempt}
'''


def test_kill_9_loses_at_most_a_torn_line_and_resume_continues_the_steps(workdir):
    write(workdir / "slow.py", SLOW)
    process = subprocess.Popen(molexp_command() + ["run", "slow.py"], cwd=workdir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.time() + 60
        run_dir = None
        while time.time() < deadline:
            found = run_dirs(workdir / "runs")
            if found and (found[0] / "metrics.jsonl").exists() \
                    and len(metric_lines(found[0])) >= 10:
                run_dir = found[0]
                break
            time.sleep(0.05)
        assert run_dir is not None, "the task never logged"
        os.kill(process.pid, signal.SIGKILL)  # the supervisor; its child follows it
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    time.sleep(0.5)  # the child dies with its parent (PR_SET_PDEATHSIG)
    data = (run_dir / "metrics.jsonl").read_bytes()
    assert data.endswith(b"\n")  # one write per line: kill -9 tears nothing
    before = [json.loads(line) for line in data.splitlines()]
    assert [e["step"] for e in before] == list(range(len(before)))
    # what a power cut or a full disk leaves: a torn last line
    with open(run_dir / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"task": "Train", "attempt": 1, "step": 99999, "metr')
    shown = run_molexp("show", run_dir.name, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert f"count {len(before)}" in shown.stdout
    assert f"note: metrics.jsonl line {len(before) + 1}: not a metrics line" in shown.stdout

    resumed = run_molexp("run", "slow.py", "--resume", env={"EPOCHS": "5"}, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert task_result(run_dir, "Train") == {"attempt": 2}
    lines = metric_lines(run_dir)
    assert len(lines) == len(before) + 1 + 5
    assert lines[len(before)].endswith('"metr')  # the torn fragment, on a line of its own
    after = [json.loads(line) for line in lines[len(before) + 1:]]
    assert [e["step"] for e in after] == list(range(len(before), len(before) + 5))
    assert {e["attempt"] for e in after} == {2}
    summary = json.loads(run_molexp("show", run_dir.name, "--json", cwd=workdir).stdout)
    assert summary["metrics"]["acc"]["count"] == len(before) + 5
    assert summary["metrics"]["loss"]["last_step"] == len(before) + 4
    assert len(summary["data_notes"]) == 1


PLANTED = '''
import os
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        ctx.log_metric("loss", 1.0)
'''


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_a_planted_link_or_fifo_is_refused_never_followed_never_blocking(workdir, kind):
    write(workdir / "planted.py", PLANTED)
    assert run_molexp("run", "planted.py", cwd=workdir).returncode == 1
    (run_dir,) = run_dirs(workdir / "runs")
    target = workdir / "precious.txt"
    target.write_text("keep me\n")
    path = run_dir / "metrics.jsonl"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    result = run_molexp("run", "planted.py", "--resume", cwd=workdir, timeout=60)
    assert result.returncode == 1
    error = read_record(run_dir)["tasks"]["Train"]["error"]
    what = {"symlink": "a symbolic link", "fifo": "a FIFO", "directory": "a directory"}[kind]
    assert f"metrics.jsonl is {what}, not a file molexp wrote; refused" in error
    assert target.read_text() == "keep me\n"
    shown = run_molexp("show", run_dir.name, cwd=workdir, timeout=60)
    assert shown.returncode == 0 and f"note: metrics not shown: {path} is {what}" \
        in shown.stdout


SWEPT = '''
from molexp.workflow import Task


class Train(Task):
    def execute(self, ctx):
        lr = ctx.config["lr"]
        for epoch in range(4):
            ctx.log_metric("loss", lr * (4 - epoch) if epoch < 3 else lr * 2)
        return {"lr": lr}
'''


def test_sweep_points_log_their_own_metrics_and_tables_show_them(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {lr: 1.0}\n")
    write(workdir / "swept.py", SWEPT)
    result = run_molexp("run", "swept.py", "--sweep", "lr=1.0,2.0,0.5", "-j", "2", "-q",
                        cwd=workdir)
    assert result.returncode == 0, result.stderr
    (sweep,) = (workdir / "runs" / ".sweeps").glob("sw-*/sweep.json")
    sweep_id = json.loads(sweep.read_text())["sweep_id"]
    for run_dir in run_dirs(workdir / "runs"):
        lr = read_record(run_dir)["config"]["lr"]
        assert [json.loads(line)["metrics"]["loss"] for line in metric_lines(run_dir)] \
            == [lr * 4, lr * 3, lr * 2, lr * 2]
    table = run_molexp("runs", "--sweep", sweep_id, "-c", "metrics.loss.last,metrics.loss.min",
                       "-c", "metrics.loss.count", "--sort", "metrics.loss.min", "--json",
                       cwd=workdir)
    assert table.returncode == 0, table.stderr
    rows = json.loads(table.stdout)
    assert [(r["lr"], r["metrics.loss.last"], r["metrics.loss.min"], r["metrics.loss.count"])
            for r in rows] == [(0.5, 1.0, 1.0, 4), (1.0, 2.0, 2.0, 4), (2.0, 4.0, 4.0, 4)]
    text = run_molexp("runs", "--sweep", sweep_id, "-c", "metrics.loss.max", cwd=workdir)
    assert text.stdout.splitlines()[0].split()[-2:] == ["lr", "metrics.loss.max"]
    typo = run_molexp("runs", "--sweep", sweep_id, "-c", "metrics.lsos", cwd=workdir)
    assert typo.returncode == 2
    assert ("no run shown has metric 'lsos' (did you mean 'metrics.loss.last'?); "
            "metrics: loss") in typo.stderr


def test_runs_columns_show_a_metrics_last_and_best_for_any_runs(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {lr: 1.0}\nprofiles: {fast: {}}\n")
    write(workdir / "swept.py", SWEPT)
    for lr in ("1.0", "3.0"):
        assert run_molexp("run", "swept.py", "-o", f"lr={lr}", cwd=workdir).returncode == 0
    write(workdir / "plain.py", "from molexp.workflow import Task\n\nclass T(Task):\n"
          "    def execute(self, ctx):\n        return {'x': 1}\n")
    assert run_molexp("run", "plain.py", cwd=workdir).returncode == 0
    rows = json.loads(run_molexp("runs", "-c", "metrics.loss.last,metrics.loss.min",
                                 "-c", "metrics.loss.step,Train.lr", "--json",
                                 cwd=workdir).stdout)
    assert [(r["script"], r["metrics.loss.last"], r["metrics.loss.min"],
             r["metrics.loss.step"], r["Train.lr"]) for r in rows] == [
        ("plain.py", None, None, None, None), ("swept.py", 6.0, 6.0, 3, 3.0),
        ("swept.py", 2.0, 2.0, 3, 1.0)]
    text = run_molexp("runs", "--script", "swept.py", "-c", "metrics.loss", cwd=workdir)
    header, first, second = text.stdout.splitlines()
    assert header.split()[-1] == "metrics.loss" and float(first.split()[-1]) == 6.0
    assert float(second.split()[-1]) == 2.0
    for bad, message in ((["-c", "metrics.loss.lats"], "did you mean 'metrics.loss.last'?"),
                         (["--script", "plain.py", "-c", "metrics.loss"],
                          "no run shown has logged a metric")):
        refused = run_molexp("runs", *bad, cwd=workdir)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    alone = run_molexp("runs", "-c", cwd=workdir)
    assert alone.returncode == 2 and "name the columns" in alone.stderr


def test_the_api_reads_every_series(workdir):
    write(workdir / "train.py", LOGGING)
    assert run_molexp("run", "train.py", cwd=workdir).returncode == 0
    import molexp

    run = molexp.get_run("latest", root=workdir / "runs")
    metrics = run.metrics
    assert list(metrics) == ["loss", "acc", "lr", "big"] and metrics.skipped == 0
    loss = metrics["loss"]
    assert loss.steps == [0, 1, 2, 3, 4] and loss.tasks == ["Train"] * 4 + ["Eval"]
    assert loss.values[:3] == [1.0, 0.5, 1 / 3] and math.isnan(loss.values[3])
    assert (loss.first, loss.last, loss.min, loss.max) == (1.0, -1, -1, 1.0)
    assert loss.attempts == [1] * 5 and len(loss.times) == 5
    summary = run.to_dict(metrics=True)["metrics"]
    assert summary["loss"] == {"last": -1, "min": -1, "max": 1.0, "first": 1.0, "count": 5,
                               "step": 4}
    assert "metrics" not in run.to_dict()
    rows = metrics.to_rows()
    assert len(rows) == 9 and rows[-1]["name"] == "big"
    assert set(rows[0]) == {"task", "attempt", "step", "time", "name", "value"}


def test_a_script_that_logs_nothing_imports_nothing_of_it(workdir):
    write(workdir / "quiet.py", '''
        import sys
        from molexp.workflow import Task

        MODULES = ("molexp_core.runs.metrics", "molexp_core.runs.artifacts")


        class Quiet(Task):
            def execute(self, ctx):
                return [m for m in MODULES if m in sys.modules]


        class Loud(Task):
            def execute(self, ctx):
                ctx.log_metric("x", 1)
                ctx.artifact_dir
                return [m for m in MODULES if m in sys.modules]
    ''')
    for args in ([], ["--in-process"]):
        assert run_molexp("run", "quiet.py", *args, cwd=workdir).returncode == 0
        run_dir = run_dirs(workdir / "runs")[-1]
        assert task_result(run_dir, "Quiet") == []
        assert task_result(run_dir, "Loud") == ["molexp_core.runs.metrics",
                                                "molexp_core.runs.artifacts"]


def test_metrics_and_artifacts_of_a_slurm_job(workdir, slurm_env):
    from conftest import EXAMPLE_DIR

    write(workdir / "molcfg.yaml", (EXAMPLE_DIR / "molcfg.yaml").read_text())
    write(workdir / "train.py", (EXAMPLE_DIR / "train.py").read_text())
    result = run_molexp("run", "train.py", "-p", "smoke", "--scheduler", "slurm",
                        "--partition", "debug", "--wait", cwd=workdir,
                        env=dict(slurm_env, MOLEXP_POLL_MAX="1"), timeout=240)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["scheduler"]["job_id"]
    steps = [json.loads(line)["step"] for line in metric_lines(run_dir)]
    assert steps == [0, 1, 2]
    shown = run_molexp("show", run_dir.name, cwd=workdir).stdout
    assert "metrics:       1 in metrics.jsonl (3 values)" in shown
    assert "Train: 1 file(s), 27 B in artifacts/Train/" in shown

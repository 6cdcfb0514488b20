"""`molexp run`, `execute`, `runs`, resume: in-process (cli_runner) and end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (EXAMPLE_DIR, REPO, molexp_command, read_record, run_dirs,
                      run_molexp, task_result, wait_for_record, write)
from molexp_core.cli import cli


def test_spec_example_runs_from_repo_root():
    """The spec page's runnable example, verbatim, from the repo root."""
    import tempfile

    with tempfile.TemporaryDirectory() as runs:
        result = run_molexp("run", "examples/operations/run_profiles/train.py",
                            "--profile", "smoke", cwd=REPO, env={"MOLEXP_RUNS_DIR": runs})
        assert result.returncode == 0, result.stderr
        assert "succeeded (profile smoke" in result.stdout
        assert str(EXAMPLE_DIR / "molcfg.yaml") in result.stderr  # says which file was used
        (run_dir,) = run_dirs(Path(runs))
        record = read_record(run_dir)
        assert record["profile"] == "smoke"
        assert record["config"] == {"dataset": "qm9", "epochs": 3, "batch_size": 8,
                                    "optimizer": {"lr": 0.001}}
        assert task_result(run_dir, "Train")["epochs"] == 3


@pytest.mark.parametrize("args,profile,epochs", [
    ([], None, 100),
    (["--config", "molcfg.yaml", "--profile", "smoke"], "smoke", 3),
    (["--profile", "dry-run"], "dry_run", 1),
    (["--profile", "smoke", "--override", "optimizer.lr=0.0005"], "smoke", 3),
    (["--profile", "smoke", "--override", "epochs=5", "--override", "batch_size=16"],
     "smoke", 5),
])
def test_spec_cli_examples(workdir, spec_config, args, profile, epochs):
    write(workdir / "train.py", (EXAMPLE_DIR / "train.py").read_text())
    if not args:  # "molexp run train.py" with defaults only: keep it quick
        args = ["--override", "epochs=2"]
        epochs = 2
    result = run_molexp("run", "train.py", *args, cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    record = read_record(run_dir)
    assert record["profile"] == profile
    assert run_dir.parent.name == (profile or "default")
    assert record["config"]["epochs"] == epochs
    assert record["overrides"] == [a for a in args if "=" in a]
    out = task_result(run_dir, "Train")
    if profile == "dry_run":
        assert out == {"mode": "lightweight", "epochs": 1, "lr": 0.001}
    else:
        assert out["epochs"] == epochs


def test_run_without_config_has_empty_ctx_config(cli_runner, echo_script):
    result = cli_runner.invoke(cli, ["run", str(echo_script)])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(Path("runs"))
    assert task_result(run_dir, "Echo") == {"config": {}, "profile": None}
    assert read_record(run_dir)["config_hash"] == \
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # sha256("{}")


def test_run_json_fields(cli_runner, spec_config, echo_script):
    result = cli_runner.invoke(cli, ["run", str(echo_script), "-p", "smoke", "-o", "x=1"])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(Path("runs"))
    record = read_record(run_dir)
    for key in ("run_id", "script", "script_sha256", "profile", "config", "config_hash",
                "overrides", "config_file", "cwd", "status", "created_at", "started_at",
                "finished_at", "attempts", "tasks", "scheduler", "host", "pid", "python",
                "molexp_version"):
        assert key in record, key
    assert record["status"] == "succeeded" and record["attempts"] == 1
    assert record["script"] == str(echo_script.resolve())
    assert record["config_file"] == str(spec_config.resolve())
    assert record["overrides"] == ["x=1"] and record["config"]["x"] == 1
    assert record["tasks"]["Echo"]["status"] == "succeeded"
    assert record["scheduler"]["name"] == "local"
    assert record["run_id"] == run_dir.name
    assert record["created_at"].endswith("Z")
    assert (run_dir / "script.py").read_text() == echo_script.read_text()


def test_ctx_config_is_read_only_in_tasks(cli_runner, workdir, spec_config):
    script = write(workdir / "mutate.py", """
        from molexp.workflow import Task

        class Mutate(Task):
            def execute(self, ctx):
                errors = []
                for attempt in (lambda: ctx.config.__setitem__("epochs", 1),
                                lambda: ctx.config["optimizer"].__setitem__("lr", 1),
                                lambda: ctx.config.pop("epochs"),
                                lambda: ctx.config.to_dict()["optimizer"].update(lr=5)):
                    try:
                        attempt()
                        errors.append("allowed")
                    except TypeError:
                        errors.append("refused")
                return {"errors": errors, "lr": ctx.config["optimizer"]["lr"],
                        "len": len(ctx.config), "has": "epochs" in ctx.config,
                        "keys": sorted(ctx.config)}
    """)
    result = cli_runner.invoke(cli, ["run", str(script), "-p", "smoke"])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(Path("runs"))
    assert task_result(run_dir, "Mutate") == {
        "errors": ["refused", "refused", "refused", "allowed"], "lr": 0.001, "len": 4,
        "has": True, "keys": ["batch_size", "dataset", "epochs", "optimizer"]}


def test_tasks_in_definition_order_with_names_and_results(cli_runner, workdir):
    script = write(workdir / "flow.py", """
        from molexp.workflow import Task, Workflow

        class Step(Task):
            def __init__(self, n):
                self.n = n
            def execute(self, ctx):
                return {"n": self.n, "seen": sorted(ctx.results)}

        class Named(Task):
            name = "special"
            async def execute(self, ctx):
                return ctx.task_name

        workflow = Workflow([Step(1), Step(2), Named(), Step(3)])
    """)
    result = cli_runner.invoke(cli, ["run", str(script)])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(Path("runs"))
    assert list(read_record(run_dir)["tasks"]) == ["Step", "Step_2", "special", "Step_3"]
    assert task_result(run_dir, "Step_3") == {"n": 3, "seen": ["Step", "Step_2", "special"]}
    assert task_result(run_dir, "special") == "special"


def test_script_main_block_not_run_and_sibling_import(workdir):
    write(workdir / "proj" / "helper.py", "VALUE = 41\n")
    script = write(workdir / "proj" / "main.py", """
        import helper
        from molexp.workflow import Task

        class A(Task):
            def execute(self, ctx):
                return helper.VALUE + 1

        class B(Task):
            def execute(self, ctx):
                return __name__

        if __name__ == "__main__":
            open("MAIN_RAN", "w").close()
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert task_result(run_dir, "A") == 42
    assert task_result(run_dir, "B") != "__main__"
    assert not (workdir / "MAIN_RAN").exists()


def test_failing_task_marks_run_failed_and_exits_1(workdir):
    script = write(workdir / "boom.py", """
        from molexp.workflow import Task

        class First(Task):
            def execute(self, ctx):
                return 1

        class Boom(Task):
            def execute(self, ctx):
                raise ValueError("bad data")
    """)
    result = run_molexp("run", script, cwd=workdir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "task Boom failed: ValueError: bad data" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert str(run_dir / "run.log") in result.stderr
    record = read_record(run_dir)
    assert record["status"] == "failed"
    assert record["tasks"]["First"]["status"] == "succeeded"
    assert record["tasks"]["Boom"]["status"] == "failed"
    assert "ValueError: bad data" in (run_dir / "error.log").read_text()
    assert "Traceback" in (run_dir / "error.log").read_text()


FLAKY = """
import os
from pathlib import Path
from molexp.workflow import Task

COUNTS = Path(os.environ["COUNT_FILE"])

def bump(name):
    with open(COUNTS, "a") as handle:
        handle.write(name + "\\n")

class Prepare(Task):
    def execute(self, ctx):
        bump("Prepare")
        return {"prepared": ctx.config.get("epochs")}

class Train(Task):
    def execute(self, ctx):
        bump("Train")
        if Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("flaky")
        return {"from_prepare": ctx.results["Prepare"]["prepared"]}
"""


@pytest.fixture
def flaky(workdir, spec_config):
    script = write(workdir / "flaky.py", FLAKY)
    counts, flag = workdir / "counts.txt", workdir / "fail.flag"
    flag.touch()
    env = {"COUNT_FILE": str(counts), "FAIL_FLAG": str(flag)}
    return script, counts, flag, env


def test_resume_continues_failed_run_skipping_succeeded_tasks(workdir, flaky):
    script, counts, flag, env = flaky
    assert run_molexp("run", script, "-p", "smoke", cwd=workdir, env=env).returncode == 1
    # a failed run of another profile must never be picked up
    assert run_molexp("run", script, "-p", "dry-run", cwd=workdir, env=env).returncode == 1
    flag.unlink()
    result = run_molexp("run", script, "-p", "smoke", "--resume", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert "resuming run" in result.stderr
    smoke = [d for d in run_dirs(workdir / "runs") if d.parent.name == "smoke"]
    assert len(smoke) == 1
    record = read_record(smoke[0])
    assert record["status"] == "succeeded" and record["attempts"] == 2
    assert task_result(smoke[0], "Train") == {"from_prepare": 3}
    assert counts.read_text().split() == ["Prepare", "Train", "Prepare", "Train", "Train"]
    dry = [d for d in run_dirs(workdir / "runs") if d.parent.name == "dry_run"]
    assert read_record(dry[0])["status"] == "failed"


def test_resume_with_nothing_to_resume_starts_new_run(workdir, flaky):
    script, counts, flag, env = flaky
    flag.unlink()
    assert run_molexp("run", script, "-p", "smoke", cwd=workdir, env=env).returncode == 0
    result = run_molexp("run", script, "-p", "smoke", "--resume", cwd=workdir, env=env)
    assert result.returncode == 0
    assert "starting a new run" in result.stderr
    assert len(run_dirs(workdir / "runs")) == 2


def test_resume_refuses_changed_config(workdir, flaky):
    script, counts, flag, env = flaky
    assert run_molexp("run", script, "-p", "smoke", cwd=workdir, env=env).returncode == 1
    result = run_molexp("run", script, "-p", "smoke", "--resume", "-o", "epochs=7",
                        cwd=workdir, env=env)
    assert result.returncode == 2
    assert "epochs: 3 in the run, 7 now" in result.stderr
    assert "started without overrides: drop them" in result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["attempts"] == 1


def test_resume_refusal_names_the_original_overrides(workdir, flaky):
    script, counts, flag, env = flaky
    first = run_molexp("run", script, "-p", "smoke", "-o", "epochs=5", "-o", "note=a b",
                       cwd=workdir, env=env)
    assert first.returncode == 1
    bare = run_molexp("run", script, "-p", "smoke", "--resume", cwd=workdir, env=env)
    assert bare.returncode == 2
    # a key the run has and the new config lacks is (absent), not null
    assert 'epochs: 5 in the run, 3 now; note: "a b" in the run, (absent) now' in bare.stderr
    assert "started with -o epochs=5 -o 'note=a b': give the same overrides" in bare.stderr
    flag.unlink()
    again = run_molexp("run", script, "-p", "smoke", "--resume", "-o", "epochs=5",
                       "-o", "note=a b", cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["attempts"] == 2


def test_execute_uses_recorded_config_and_cwd(workdir, spec_config, echo_script):
    assert run_molexp("run", echo_script, "-p", "smoke", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    # prepare a second, fresh run directory by hand from the first one's record
    record = read_record(run_dir)
    fresh = run_dir.parent / "20000101-000000-000000-abcd"
    fresh.mkdir()
    (fresh / "script.py").write_bytes((run_dir / "script.py").read_bytes())  # its code
    record.update(run_id=fresh.name, status="created", attempts=0, tasks={})
    (fresh / "run.json").write_text(json.dumps(record))
    elsewhere = workdir / "elsewhere"
    write(elsewhere / "molcfg.yaml", "version: 1\ndefaults: {epochs: 999}\n")
    result = run_molexp("execute", fresh, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert task_result(fresh, "Echo")["config"] == record["config"]
    assert read_record(fresh)["status"] == "succeeded"


def test_execute_exits_1_when_run_fails(workdir, flaky):
    script, counts, flag, env = flaky
    run_molexp("run", script, "-p", "smoke", cwd=workdir, env=env)
    (run_dir,) = run_dirs(workdir / "runs")
    result = run_molexp("execute", run_dir, cwd=workdir, env=env)
    assert result.returncode == 1
    assert read_record(run_dir)["attempts"] == 2


def test_runs_lists_filters_and_shows_interrupted(workdir, spec_config, echo_script, flaky):
    script, counts, flag, env = flaky
    run_molexp("run", script, "-p", "smoke", cwd=workdir, env=env)
    run_molexp("run", echo_script, "-p", "dry-run", cwd=workdir)
    run_molexp("run", echo_script, cwd=workdir)
    # a run that says "running" but whose process is gone
    victim = [d for d in run_dirs(workdir / "runs") if d.parent.name == "default"][0]
    record = read_record(victim)
    record.update(status="running", pid=2 ** 22 + 1)
    (victim / "run.json").write_text(json.dumps(record))
    rows = json.loads(run_molexp("runs", "--json", cwd=workdir).stdout)
    assert [r["status"] for r in rows] == ["interrupted", "succeeded", "failed"]
    assert rows[0]["created_at"] >= rows[1]["created_at"] >= rows[2]["created_at"]
    failed = json.loads(run_molexp("runs", "--json", "--status", "failed",
                                   cwd=workdir).stdout)
    assert [r["profile"] for r in failed] == ["smoke"]
    dry = json.loads(run_molexp("runs", "--json", "-p", "dry-run", cwd=workdir).stdout)
    assert [r["profile"] for r in dry] == ["dry_run"]
    table = run_molexp("runs", cwd=workdir).stdout
    assert "interrupted" in table and "RUN ID" in table


def test_runs_dir_option_and_env(workdir, echo_script):
    assert run_molexp("run", echo_script, "--runs-dir", "custom", cwd=workdir).returncode == 0
    assert len(run_dirs(workdir / "custom")) == 1
    assert run_molexp("run", echo_script, cwd=workdir,
                      env={"MOLEXP_RUNS_DIR": str(workdir / "envruns")}).returncode == 0
    assert len(run_dirs(workdir / "envruns")) == 1
    assert not (workdir / "runs").exists()


def test_ctrl_c_cancels_and_resume_continues(workdir):
    script = write(workdir / "slow.py", """
        import os, time
        from pathlib import Path
        from molexp.workflow import Task

        class Slow(Task):
            def execute(self, ctx):
                Path("started").touch()
                if not Path("fast").exists():
                    time.sleep(30)
                return "done"
    """)
    # run in the background of a script (CI), molexp inherits SIGINT ignored: it takes
    # it back as Ctrl-C itself (tests/reliability/test_child_exit.py forces that case)
    proc = subprocess.Popen(molexp_command() + ["run", str(script)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not (workdir / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["status"] == "cancelled"
    (workdir / "fast").touch()
    result = run_molexp("run", script, "--resume", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert read_record(run_dir)["status"] == "succeeded"
    assert read_record(run_dir)["attempts"] == 2


def test_help_lists_scheduler_options_under_heading(cli_runner):
    result = cli_runner.invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "Scheduler 'local' options (with --scheduler local):" in result.output
    assert "--detach" in result.output


def test_unknown_scheduler_is_usage_error_listing_installed(cli_runner, echo_script):
    from molexp_core.plugin_host.manager import get_plugin_host

    result = cli_runner.invoke(cli, ["run", str(echo_script), "--scheduler", "nope"])
    assert result.exit_code == 2
    installed = sorted(get_plugin_host().schedulers())  # other plugins may add some
    assert {"local", "slurm"} <= set(installed)
    assert f"unknown scheduler 'nope'; installed: {', '.join(installed)}" in result.output
    assert not Path("runs").exists()


def test_option_of_other_scheduler_is_refused(cli_runner, echo_script):
    result = cli_runner.invoke(cli, ["run", str(echo_script), "--partition", "debug"])
    assert result.exit_code == 2
    assert "--partition is an option of scheduler slurm; add --scheduler slurm" \
        in result.output
    assert not Path("runs").exists()


def test_dry_run_creates_nothing(cli_runner, spec_config, echo_script):
    result = cli_runner.invoke(cli, ["run", str(echo_script), "-p", "smoke", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "epochs: 3" in result.output and "config_hash" in result.output
    assert not Path("runs").exists()


def test_detach_returns_at_once_and_run_completes(workdir, echo_script):
    result = run_molexp("run", echo_script, "--detach", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "submitted to local as job" in result.stdout
    (run_dir,) = run_dirs(workdir / "runs")
    assert wait_for_record(run_dir)["status"] == "succeeded"


def test_python_m_entry_point_matches(workdir, echo_script):
    result = subprocess.run([sys.executable, "-m", "molexp_core", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "molexp, version" in result.stdout
    # what a job script runs (`python -m molexp_core ...`) is the same CLI
    ran = subprocess.run([sys.executable, "-m", "molexp_core", "run", str(echo_script)],
                         cwd=workdir, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    assert read_record(run_dir)["status"] == "succeeded"

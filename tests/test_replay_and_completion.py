"""show, diff, rerun lineage, the monitor's piped output, and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (EXAMPLE_DIR, read_record, run_dirs, run_molexp, task_result,
                      wait_for_record, write)
from molexp_core.cli import cli


@pytest.fixture
def two_runs(cli_runner, spec_config, echo_script):
    assert cli_runner.invoke(cli, ["run", str(echo_script), "-p", "smoke"]).exit_code == 0
    first = run_dirs(Path("runs"))[0]
    result = cli_runner.invoke(cli, ["rerun", first.name[:20], "-o", "epochs=9",
                                     "-o", "optimizer.lr=0.5"])
    assert result.exit_code == 0, result.output
    second = [d for d in run_dirs(Path("runs")) if d != first][0]
    return first, second


def test_rerun_uses_stored_config_and_records_parent(two_runs, workdir):
    first, second = two_runs
    record = read_record(second)
    assert record["parent_run"] == first.name
    assert record["profile"] == "smoke"
    assert record["config"]["epochs"] == 9 and record["config"]["optimizer"]["lr"] == 0.5
    assert record["overrides"] == ["epochs=9", "optimizer.lr=0.5"]
    assert task_result(second, "Echo")["config"] == record["config"]


def test_rerun_ignores_an_edited_molcfg(cli_runner, two_runs, workdir):
    first, _ = two_runs
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {epochs: 1000}\nprofiles: {smoke: {}}\n")
    assert cli_runner.invoke(cli, ["rerun", first.name]).exit_code == 0
    newest = run_dirs(Path("runs"))[-1]
    assert read_record(newest)["config"] == read_record(first)["config"]


def test_show_prints_metadata_config_results_and_log(cli_runner, two_runs):
    first, second = two_runs
    result = cli_runner.invoke(cli, ["show", str(second)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"parent run:    {first.name}" in out
    assert "status:        succeeded" in out
    assert "  epochs: 9" in out
    assert f"log:           {second.absolute() / 'run.log'}" in out
    assert "Echo: succeeded (attempt 1)  -> {" in out
    data = json.loads(cli_runner.invoke(cli, ["show", second.name, "--json"]).output)
    assert data["results"]["Echo"]["config"]["epochs"] == 9


def test_show_ambiguous_and_unknown_prefix(cli_runner, two_runs):
    result = cli_runner.invoke(cli, ["show", "2"])
    assert result.exit_code == 1 and "ambiguous" in result.output
    result = cli_runner.invoke(cli, ["show", "1999"])
    assert result.exit_code == 1 and "no run '1999'" in result.output


def test_diff_shows_differing_keys_and_script_hash(cli_runner, two_runs, workdir):
    first, second = two_runs
    result = cli_runner.invoke(cli, ["diff", first.name, second.name])
    assert result.exit_code == 0, result.output
    assert "epochs        3  ->  9" in result.output
    assert "optimizer.lr  0.001  ->  0.5" in result.output
    assert "script: same" in result.output
    (workdir / "echo.py").write_text((workdir / "echo.py").read_text() + "\n# edited\n")
    cli_runner.invoke(cli, ["run", "echo.py", "-p", "smoke"])
    third = run_dirs(Path("runs"))[-1]
    data = json.loads(cli_runner.invoke(cli, ["diff", first.name, third.name, "--json"]).output)
    assert data["config"] == [] and data["scripts_differ"] is True


def test_watch_piped_output_is_plain(workdir, spec_config, echo_script):
    assert run_molexp("run", echo_script, "-p", "smoke", cwd=workdir).returncode == 0
    result = run_molexp("runs", "--watch", "--interval", "0.1", "--count", "2", cwd=workdir)
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout  # no colours or cursor movement when piped
    blocks = [b for b in result.stdout.split("# ") if b.strip()]
    assert len(blocks) == 2
    assert "RUN ID" in blocks[0] and "succeeded" in blocks[0] and "1/1" in blocks[0]


def in_terminal(args, cwd, env=None, rows=24, interrupt_after=None, timeout=30):
    """Run the installed molexp on a real pseudo-terminal; (exit code, screen text)."""
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios
    import time

    from conftest import molexp_command

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 120, 0, 0))
    proc = subprocess.Popen(molexp_command() + [str(a) for a in args], cwd=cwd,
                            env=dict(os.environ, **(env or {})), stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    chunks, started = [], time.time()
    while True:
        if interrupt_after is not None and time.time() - started > interrupt_after:
            os.killpg(proc.pid, signal.SIGINT)
            interrupt_after = None
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None or time.time() - started > timeout:
            break
    os.close(master)
    return proc.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")


def test_watch_on_a_terminal_colours_fits_the_screen_and_leaves_on_ctrl_c(workdir,
                                                                       spec_config,
                                                                       echo_script):
    for _ in range(12):
        assert run_molexp("run", echo_script, "-p", "smoke", cwd=workdir).returncode == 0
    newest = run_dirs(workdir / "runs")[-1].name
    code, screen = in_terminal(["runs", "--watch", "--interval", "0.2"], workdir, rows=10,
                               interrupt_after=1.5)
    assert code == 0 and "Traceback" not in screen
    assert "\x1b[32msucceeded" in screen  # green on a terminal
    assert "RUN ID" in screen and newest in screen  # header and newest row stay on screen
    assert "older run(s) not shown" in screen
    code, plain = in_terminal(["runs", "--watch", "--count", "1"], workdir, rows=40,
                              env={"NO_COLOR": "1"})
    assert code == 0 and "succeeded" in plain and "\x1b[32m" not in plain


def test_watch_rows_show_job_elapsed_progress_and_lineage(two_runs, workdir):
    first, second = two_runs
    result = run_molexp("runs", "--watch", "--count", "1", cwd=workdir)
    lines = result.stdout.splitlines()
    header = lines[1].split()
    assert header == ["RUN", "ID", "PROFILE", "STATUS", "JOB", "ELAPSED", "TASK",
                      "PROGRESS", "PARENT"]
    row = next(line.split() for line in lines if line.startswith(second.name))
    assert row[1:3] == ["smoke", "succeeded"] and row[3] == "-"  # local: no job id
    assert row[4].endswith("s") and row[-2:] == ["1/1", first.name]  # lineage shown


def test_local_progress_lines_on_a_terminal_only(workdir, spec_config):
    script = write(workdir / "steps.py", """
        from molexp.workflow import Task

        class One(Task):
            def execute(self, ctx):
                return 1

        class Two(Task):
            def execute(self, ctx):
                return 2
    """)
    code, screen = in_terminal(["run", script], workdir)
    assert code == 0
    assert "[1/2] task One: started" in screen and "[2/2] task Two: succeeded in" in screen
    code, quiet = in_terminal(["run", script, "--quiet"], workdir)
    assert code == 0 and "task One" not in quiet
    piped = run_molexp("run", script, cwd=workdir)
    assert piped.returncode == 0 and "task One" not in piped.stderr + piped.stdout


def test_progress_counts_every_task_from_the_first_one_on(workdir):
    """A run whose tasks were not known at submission (the node path) shows i/N."""
    script = write(workdir / "three.py", """
        import json, pathlib
        from molexp.workflow import Task

        class A(Task):
            def execute(self, ctx):
                record = json.loads((ctx.run_dir / "run.json").read_text())
                return {n: t["status"] for n, t in record["tasks"].items()}

        class B(Task):
            def execute(self, ctx):
                return 2

        class C(Task):
            def execute(self, ctx):
                return 3
    """)
    assert run_molexp("run", script, "--detach", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    wait_for_record(run_dir)
    assert task_result(run_dir, "A") == {"A": "running", "B": "pending", "C": "pending"}


def complete(args: str, cwd: Path, env=None) -> list:
    words = args.split(" ")
    full_env = dict(os.environ, COMP_WORDS=args, COMP_CWORD=str(len(words) - 1),
                    _MOLEXP_COMPLETE="bash_complete", **(env or {}))
    from conftest import molexp_command

    out = subprocess.run(molexp_command(), cwd=cwd, env=full_env, capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return [line.split(",", 1)[1] for line in out.stdout.splitlines() if "," in line]


def test_completion_of_profiles_schedulers_overrides(workdir, spec_config, echo_script):
    assert complete("molexp run echo.py --profile ", workdir) == \
        ["smoke", "dry-run", "large-batch"]
    assert complete("molexp run echo.py --profile l", workdir) == ["large-batch"]
    assert "local" in complete("molexp run echo.py --scheduler ", workdir)
    # two items, so that bash and zsh insert `optimizer.lr=` with no space after it
    assert complete("molexp run echo.py -p smoke --override optimizer", workdir) == \
        ["optimizer.lr=", "optimizer.lr=0.001"]
    assert complete("molexp run echo.py -p smoke --override epochs=", workdir) == \
        ["epochs=", "epochs=3"]
    assert complete("molexp run echo.py --override epochs=", workdir) == \
        ["epochs=", "epochs=100"]  # no profile typed: the defaults
    other = write(workdir / "sub" / "other.yaml", "version: 1\nprofiles: {alpha: {}}\n")
    assert complete(f"molexp run echo.py --config {other} --profile ", workdir) == ["alpha"]


def test_completion_finds_the_config_beside_a_script_elsewhere(workdir):
    """The README's own command, from the repo root: the config is in the script's dir."""
    script = EXAMPLE_DIR / "train.py"
    elsewhere = workdir / "empty"
    elsewhere.mkdir()
    assert complete(f"molexp run {script} --profile ", elsewhere) == \
        ["smoke", "dry-run", "large-batch"]
    assert complete(f"molexp run {script} -p large-batch --override batch", elsewhere) == \
        ["batch_size=", "batch_size=64"]


def test_completion_for_rerun_overrides_and_runs_profile(workdir, spec_config, echo_script):
    assert run_molexp("run", echo_script, "-p", "dry-run", cwd=workdir).returncode == 0
    (run_dir,) = run_dirs(workdir / "runs")
    assert complete(f"molexp rerun {run_dir.name[:12]} --override skip", workdir) == \
        ["skip_heavy_compute=", "skip_heavy_compute=true"]
    assert complete("molexp runs --profile ", workdir) == ["dry_run"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_in_zsh_and_fish(workdir, spec_config, echo_script, shell):
    # as Click's scripts call it: zsh passes the index of the word being completed,
    # fish passes that word itself (here empty)
    words = "molexp run echo.py --profile"
    env = dict(os.environ, COMP_WORDS=words, COMP_CWORD="4" if shell == "zsh" else "",
               _MOLEXP_COMPLETE=f"{shell}_complete")
    from conftest import molexp_command

    out = subprocess.run(molexp_command(), cwd=workdir, env=env, capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "smoke" in out.stdout and "large-batch" in out.stdout


def test_completion_imports_neither_scripts_nor_the_run_machinery(workdir, spec_config):
    script = write(workdir / "loud.py", "import pathlib; pathlib.Path('IMPORTED').touch()\n")
    env = dict(os.environ, COMP_WORDS=f"molexp run {script.name} -p smoke --override ",
               COMP_CWORD="6", _MOLEXP_COMPLETE="bash_complete")
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "molexp_core"],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "epochs=" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert not {"asyncio", "multiprocessing", "molexp_core.executor", "loud"} & imported
    assert not (workdir / "IMPORTED").exists()


def test_completion_of_run_ids_does_not_import_scripts(workdir, spec_config):
    script = write(workdir / "loud.py", """
        from pathlib import Path
        from molexp.workflow import Task
        Path("IMPORTED").write_text(str(int(Path("IMPORTED").exists()) + 1)
                                    if not Path("IMPORTED").exists() else "2")

        class T(Task):
            def execute(self, ctx):
                return 1
    """)
    assert run_molexp("run", script, cwd=workdir).returncode == 0
    (workdir / "IMPORTED").unlink()
    (run_dir,) = run_dirs(workdir / "runs")
    for command in ("show", "status", "cancel", "diff", "rerun"):
        assert complete(f"molexp {command} {run_dir.name[:8]}", workdir) == [run_dir.name]
    assert complete("molexp execute runs/", workdir) == [str(run_dir.relative_to(workdir))]
    assert complete("molexp run loud.py --profile ", workdir) == \
        ["smoke", "dry-run", "large-batch"]
    assert not (workdir / "IMPORTED").exists()

"""show, diff, rerun lineage, the monitor's piped output, and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE_DIR, read_record, run_dirs, run_molexp, task_result, write
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
    assert "Echo: succeeded  -> {" in out
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
    assert complete("molexp run echo.py -p smoke --override optimizer", workdir) == \
        ["optimizer.lr="]
    other = write(workdir / "sub" / "other.yaml", "version: 1\nprofiles: {alpha: {}}\n")
    assert complete(f"molexp run echo.py --config {other} --profile ", workdir) == ["alpha"]


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

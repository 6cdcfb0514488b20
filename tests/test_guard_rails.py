"""Guard rails against the mistakes researchers actually make (issue 13)."""

from __future__ import annotations

import json
import shlex

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write
from test_plugins import BROKEN, make_dist, molexp_with

CONFIG = """
version: 1
defaults:
  epochs: 100
  optimizer:
    lr: 0.001
  layers: [64, 64]
profiles:
  smoke:
    epochs: 3
"""

FAILING = '''
import os
from molexp.workflow import Task

class Prep(Task):
    def execute(self, ctx):
        return ctx.config.get("epochs")

class Train(Task):
    def execute(self, ctx):
        if os.path.exists("fail.flag"):
            raise RuntimeError("diverged")
        return ctx.config.to_dict()
'''


@pytest.fixture
def project(workdir, echo_script):
    write(workdir / "molcfg.yaml", CONFIG)
    return workdir


def warnings_of(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


# -- typos in overrides ---------------------------------------------------------------
def test_an_override_that_adds_a_key_warns_with_the_closest_key(project, echo_script):
    result = run_molexp("run", echo_script, "-p", "smoke", "-o", "optimzer.lr=0.5",
                        cwd=project)
    assert result.returncode == 0, result.stderr
    (line,) = warnings_of(result.stderr)
    assert "--override 'optimzer.lr=0.5' adds 'optimzer.lr'" in line
    assert "did you mean optimizer.lr?" in line
    (run_dir,) = run_dirs(project / "runs")
    record = read_record(run_dir)
    assert record["warnings"] == [line[len("warning: "):]]  # recorded as printed
    assert record["config"]["optimizer"] == {"lr": 0.001}  # the run really used the default


def test_a_nested_typo_and_an_existing_key(project, echo_script):
    result = run_molexp("config", "show", "-o", "optimizer.lrr=1", "-o", "epochs=5",
                        cwd=project)
    assert result.returncode == 0
    (line,) = warnings_of(result.stderr)  # epochs=5 changes an existing key: silent
    assert "'optimizer.lrr'" in line and "did you mean optimizer.lr?" in line


@pytest.mark.parametrize("override, kind", [("optimizer=adam", "mapping"),
                                            ("layers=3", "list")])
def test_a_scalar_over_a_mapping_or_a_list_warns(project, override, kind):
    result = run_molexp("config", "show", "--json", "-o", override, cwd=project)
    assert result.returncode == 0, result.stderr
    (line,) = warnings_of(result.stderr)
    assert f"replaces the {kind} '{override.split('=')[0]}'" in line
    assert json.loads(result.stdout)["warnings"] == [line[len("warning: "):]]


@pytest.mark.parametrize("how", [["--strict"], []])
def test_strict_turns_the_warning_into_a_usage_error(project, echo_script, how):
    env = {} if how else {"MOLEXP_STRICT": "1"}
    result = run_molexp("run", echo_script, "-o", "optimzer.lr=0.5", *how, cwd=project,
                        env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: --strict: --override 'optimzer.lr=0.5'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "runs").exists()
    fine = run_molexp("run", echo_script, "-o", "optimizer.lr=0.5", *how, cwd=project,
                      env=env)
    assert fine.returncode == 0 and not warnings_of(fine.stderr)


def test_rerun_warns_about_a_typo_too(project, echo_script):
    assert run_molexp("run", echo_script, cwd=project).returncode == 0
    (first,) = run_dirs(project / "runs")
    result = run_molexp("rerun", "latest", "-o", "epoch=5", cwd=project)
    assert result.returncode == 0
    assert "did you mean epochs?" in result.stderr
    assert run_molexp("rerun", first.name, "-o", "epoch=5", "--strict",
                      cwd=project).returncode == 2
    assert len(run_dirs(project / "runs")) == 2


# -- YAML 1.2 ---------------------------------------------------------------------------
def test_bare_yes_no_on_off_warn_with_file_and_line(workdir, echo_script):
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults:
          use_gpu: no
          kept: "no"
          real: false
          flags: [on, x]
        profiles:
          p:
            verbose: Yes
    """)
    for _ in range(2):  # the second time from the parse cache: still said
        result = run_molexp("run", echo_script, cwd=workdir)
        assert result.returncode == 0, result.stderr
        lines = warnings_of(result.stderr)
        assert len(lines) == 3, lines  # the whole file: profile p's too
        path = workdir / "molcfg.yaml"
        assert lines[0].startswith(f"warning: {path}:3: 'use_gpu: no' is the string \"no\"")
        assert "write false for a boolean, or quote it" in lines[0]
        assert lines[1].startswith(f"warning: {path}:6: the list item 'on'")
        assert "write true" in lines[1]
        assert lines[2].startswith(f"warning: {path}:9: 'verbose: Yes' is the string \"Yes\"")
    record = read_record(run_dirs(workdir / "runs")[0])
    assert record["config"]["use_gpu"] == "no" and len(record["warnings"]) == 3
    strict = run_molexp("run", echo_script, "--strict", cwd=workdir)
    assert strict.returncode == 2 and ":3: 'use_gpu: no'" in strict.stderr


# -- molcfg files written for other molexp versions ---------------------------------------
def test_extends_defaults_and_a_padded_profile_name(workdir):
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults: {epochs: 100, lr: 0.1}
        profiles:
          base: {extends: defaults, epochs: 3}
          both: {extends: [defaults, base], lr: 0.5}
    """)
    for profile, expected in (("base", {"epochs": 3, "lr": 0.1}),
                              (" both ", {"epochs": 3, "lr": 0.5})):
        result = run_molexp("config", "show", "--json", "-p", profile, cwd=workdir)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["config"] == expected and data["profile"] == profile.strip()


def test_a_profile_named_defaults_is_still_that_profile(workdir):
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults: {epochs: 100}
        profiles:
          defaults: {epochs: 7}
          child: {extends: defaults}
    """)
    result = run_molexp("config", "show", "--json", "-p", "child", cwd=workdir)
    assert json.loads(result.stdout)["config"] == {"epochs": 7}


# -- a config file no loader reads --------------------------------------------------------
TOML = 'version = 1\n[defaults]\nepochs = 3\n'


def test_a_molcfg_no_loader_reads_is_named_with_the_plugin(workdir, echo_script):
    write(workdir / "molcfg.toml", TOML)
    env = {"MOLEXP_LOAD_PLUGINS": ""}  # as if molexp-toml were not installed
    result = run_molexp("run", echo_script, cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    (line,) = warnings_of(result.stderr)
    assert line == (f"warning: {workdir / 'molcfg.toml'}: no installed loader reads "
                    "molcfg.toml (the molexp-toml (examples/plugins/molexp-toml) plugin "
                    "reads it); it is ignored")
    assert run_molexp("run", echo_script, "--strict", cwd=workdir, env=env).returncode == 2
    installed = run_molexp("run", echo_script, cwd=workdir,
                           env={"MOLEXP_LOAD_PLUGINS": "molexp_toml"})
    assert not warnings_of(installed.stderr)  # with the plugin: read, no warning


def test_two_candidates_say_which_one_won(workdir, echo_script):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {a: yaml}\n")
    write(workdir / "molcfg.json", '{"version": 1, "defaults": {"a": "json"}}')
    write(workdir / "molcfg.ini", "[x]\n")
    result = run_molexp("config", "show", "--json", cwd=workdir,
                        env={"MOLEXP_LOAD_PLUGINS": ""})
    assert json.loads(result.stdout)["config"] == {"a": "yaml"}
    lines = warnings_of(result.stderr)
    assert f"warning: 2 config files in {workdir}: molcfg.yaml is used, molcfg.json " \
           "ignored (--config chooses)" in lines
    assert any("molcfg.ini (install a loader plugin for .ini files); molcfg.yaml is used"
               in line for line in lines)
    write(workdir / "molcfg.yaml~", "editor backup")  # not a config file: no word
    again = run_molexp("config", "show", cwd=workdir, env={"MOLEXP_LOAD_PLUGINS": ""})
    assert len(warnings_of(again.stderr)) == 2


# -- after a failure, say what to do next ------------------------------------------------
def test_failure_line_show_and_status_print_the_command_that_resumes(project):
    write(project / "fail.py", FAILING)
    (project / "fail.flag").touch()
    result = run_molexp("run", "fail.py", "-p", "smoke", "-o", "epochs=5",
                        "-o", "note=two words", cwd=project)
    assert result.returncode == 1
    (run_dir,) = run_dirs(project / "runs")
    run_id = run_dir.name
    expected = (f"molexp run fail.py -p smoke -o epochs=5 -o 'note=two words' "
                f"--resume {run_id}")
    assert f"to resume it: {expected}" in result.stderr.splitlines()
    status = run_molexp("status", run_id, cwd=project)
    assert f"resume:       {expected}" in status.stdout.splitlines()
    assert json.loads(run_molexp("status", run_id, "--json",
                                 cwd=project).stdout)["resume_command"] == expected
    assert f"resume:        {expected}" in run_molexp("show", run_id, cwd=project).stdout
    (project / "fail.flag").unlink()
    resumed = run_molexp(*shlex.split(expected)[1:], cwd=project)  # exactly as printed
    assert resumed.returncode == 0, resumed.stderr
    assert read_record(run_dir)["status"] == "succeeded" and run_dirs(project / "runs") == [run_dir]
    assert "resume" not in run_molexp("status", run_id, cwd=project).stdout
    again = run_molexp("execute", run_dir, cwd=project)
    assert again.returncode == 0
    assert again.stdout.strip() == f"run {run_id} already succeeded; nothing to do"


def test_the_hint_names_config_and_runs_dir_when_they_are_not_the_defaults(workdir):
    write(workdir / "cfg" / "exp.yaml", CONFIG)
    write(workdir / "fail.py", FAILING)
    (workdir / "fail.flag").touch()
    result = run_molexp("run", "fail.py", "--config", "cfg/exp.yaml", "--runs-dir", "out",
                        cwd=workdir)
    assert result.returncode == 1
    (run_dir,) = run_dirs(workdir / "out")
    assert (f"to resume it: molexp run fail.py --config cfg/exp.yaml --runs-dir out "
            f"--resume {run_dir.name}") in result.stderr


# -- selecting runs ----------------------------------------------------------------------
def test_runs_script_filter_latest_and_suffix(project, echo_script):
    write(project / "other.py", FAILING)
    assert run_molexp("run", echo_script, cwd=project).returncode == 0
    assert run_molexp("run", "other.py", cwd=project).returncode == 0
    for name in ("echo.py", "echo", str(echo_script)):
        rows = json.loads(run_molexp("runs", "--json", "--script", name, cwd=project).stdout)
        assert [r["script"] for r in rows] == ["echo.py"]
    assert run_molexp("runs", "--script", "nope", cwd=project).stdout.strip() == "no runs"
    newest = max(d.name for d in run_dirs(project / "runs"))
    assert json.loads(run_molexp("status", "latest", "--json",
                                 cwd=project).stdout)["run_id"] == newest
    shown = run_molexp("show", newest[-4:], "--json", cwd=project)
    assert json.loads(shown.stdout)["run_id"] == newest
    rows = json.loads(run_molexp("runs", "--json", "--script", "../elsewhere/other.py",
                                 cwd=project).stdout)  # a path selects by its name
    assert [r["script"] for r in rows] == ["other.py"]
    from test_replay_and_completion import complete

    assert complete("molexp show la", project) == ["latest"]
    assert complete("molexp status ", project)[0] == "latest"


def test_resume_names_the_run_to_continue(project):
    write(project / "fail.py", FAILING)
    (project / "fail.flag").touch()
    run_molexp("run", "fail.py", "-p", "smoke", cwd=project)
    run_molexp("run", "fail.py", "-p", "smoke", "-o", "epochs=9", cwd=project)
    older, newer = run_dirs(project / "runs")
    (project / "fail.flag").unlink()
    # plain --resume takes the newest unfinished run, whose config differs: refused,
    # naming the run that has exactly this config
    refused = run_molexp("run", "fail.py", "-p", "smoke", "--resume", cwd=project)
    assert refused.returncode == 2
    assert f"run {older.name} has exactly this config: --resume {older.name}" in refused.stderr
    result = run_molexp("run", "fail.py", "-p", "smoke", "--resume", older.name, cwd=project)
    assert result.returncode == 0, result.stderr
    assert read_record(older)["status"] == "succeeded"
    assert read_record(newer)["status"] == "failed"
    done = run_molexp("run", "fail.py", "-p", "smoke", "--resume", older.name, cwd=project)
    assert done.returncode == 1 and "already succeeded; nothing to resume" in done.stderr
    wrong = run_molexp("run", "fail.py", "--resume", newer.name, cwd=project)
    assert wrong.returncode == 2 and "add -p smoke" in wrong.stderr
    by_path = run_molexp("run", "fail.py", "-p", "smoke", "-o", "epochs=9",
                         "--resume", newer, cwd=project)
    assert by_path.returncode == 0 and read_record(newer)["status"] == "succeeded"
    assert len(run_dirs(project / "runs")) == 2
    first = run_molexp("run", "--resume", "fail.py", "-p", "smoke", cwd=project)
    assert first.returncode == 0  # `--resume SCRIPT`: the script, not a run id
    assert "no unfinished run of fail.py" in first.stderr


# -- plugins -----------------------------------------------------------------------------
def test_a_failed_plugin_is_never_loaded_and_strict_fails_every_command(workdir, tmp_path):
    site = tmp_path / "site"
    make_dist(site, "molexp-broken", BROKEN)
    rows = json.loads(molexp_with(site, "plugins", "--json", cwd=workdir).stdout)
    (row,) = [r for r in rows if r["name"] == "molexp_broken"]
    assert row["error"] and row["loaded"] is False
    assert all(not (r["loaded"] and r["error"]) for r in rows)
    text = molexp_with(site, "plugins", cwd=workdir).stdout
    assert "molexp_broken  (plugin, molexp-broken 0.3)  not loaded: failed" in text
    for args in (["runs"], ["--version"], ["config", "profiles"]):
        plain = molexp_with(site, *args, cwd=workdir)
        strict = molexp_with(site, *args, cwd=workdir, env={"MOLEXP_STRICT_PLUGINS": "1"})
        assert strict.returncode == 1, (args, strict.stdout)
        assert "plugin 'molexp_broken'" in strict.stderr and "Traceback" not in strict.stderr
        assert plain.returncode != 1 or args == ["config", "profiles"]

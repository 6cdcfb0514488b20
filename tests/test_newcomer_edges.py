"""Small edges a newcomer trips on (issue 22): each test fails on cf01379."""

from __future__ import annotations

import json

from conftest import run_molexp, write


def test_config_show_quotes_strings_a_yaml_1_1_reader_would_take_for_bools(workdir):
    write(workdir / "molcfg.yaml", 'version: 1\ndefaults:\n  answer: "no"\n  flag: "on"\n'
          '  word: "yes please"\n  real: false\n')
    shown = run_molexp("config", "show", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert "answer: 'no'" in shown.stdout and "flag: 'on'" in shown.stdout
    assert "word: yes please" in shown.stdout and "real: false" in shown.stdout
    from ruamel.yaml import YAML  # read as YAML 1.1 (PyYAML's), the strings stay strings

    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 1)
    assert yaml.load("%YAML 1.1\n---\n" + shown.stdout)["answer"] == "no"


def test_run_to_dict_keeps_the_sweep_point(workdir, echo_script):
    import molexp

    done = run_molexp("run", "echo.py", "--sweep", "lr=0.1,0.2", "--sweep", "opt.beta=1.0",
                      cwd=workdir)
    assert done.returncode == 0, done.stderr
    rows = sorted((r.to_dict(results=False) for r in molexp.runs(root=workdir / "runs")),
                  key=lambda d: d["sweep_index"])
    assert [r["point"] for r in rows] == [{"lr": 0.1, "opt.beta": 1.0},
                                          {"lr": 0.2, "opt.beta": 1.0}]
    assert [r["sweep_index"] for r in rows] == [0, 1]
    assert rows[0]["sweep"].startswith("sw-") and rows[0]["sweep_name"] is None
    plain = run_molexp("run", "echo.py", cwd=workdir)
    assert plain.returncode == 0, plain.stderr
    single = molexp.get_run("latest", root=workdir / "runs").to_dict(results=False)
    assert single["sweep"] is None and single["point"] == {}


def test_runs_of_a_root_that_does_not_exist_raise(workdir):
    import molexp
    import pytest

    with pytest.raises(molexp.MolexpError, match="does not exist"):
        molexp.runs(root=workdir / "nope")
    (workdir / "afile").write_text("")
    with pytest.raises(molexp.MolexpError, match="is not a directory"):
        molexp.runs(root=workdir / "afile")
    assert molexp.runs() == []  # the default ./runs before anything ran: no runs yet
    (workdir / "runs").mkdir()
    assert molexp.runs(root=workdir / "runs") == []


def test_no_did_you_mean_below_the_similarity_threshold(workdir, echo_script):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults:\n  epochs: 3\n  lr: 0.1\n")
    far = run_molexp("run", "echo.py", "-o", "steps=2k", "--dry-run", cwd=workdir)
    assert far.returncode == 0, far.stderr
    assert "adds 'steps'" in far.stderr and "did you mean" not in far.stderr
    near = run_molexp("run", "echo.py", "-o", "epoch=2", "--dry-run", cwd=workdir)
    assert "did you mean epochs?" in near.stderr


def test_the_result_type_error_reads_as_english(workdir):
    write(workdir / "odd.py", '''
from molexp.workflow import Task
class Odd(Task):
    def execute(self, ctx):
        return {"thing": object()}
''')
    result = run_molexp("run", "odd.py", cwd=workdir)
    assert result.returncode == 1
    assert "holds an object, which is not JSON data" in result.stderr
    assert "a object" not in result.stderr


def test_no_config_file_error_names_every_candidate_the_plugins_name(workdir, echo_script):
    from molexp_core.plugin_host.manager import get_plugin_host
    from molexp_core.config.files import candidates

    names = [p.name for p in candidates(get_plugin_host(), workdir)]
    assert "molcfg.toml" in names  # molexp-toml is installed for the tests
    for args in (("run", "echo.py", "-p", "smoke"), ("config", "profiles"),
                 ("config", "sweeps"), ("run", "echo.py", "--sweep", "lr-scan")):
        result = run_molexp(*args, cwd=workdir)
        assert result.returncode == 2, (args, result.stderr)
        assert "molcfg.toml" in result.stderr and "molcfg.yaml" in result.stderr, args


def test_a_duplicate_profile_names_the_key_and_its_first_line_not_two_empty_maps(workdir):
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {}\nprofiles:\n  smoke:\n"
          "    epochs: 3\n  smoke:\n    epochs: 5\n")
    result = run_molexp("config", "show", "-p", "smoke", cwd=workdir)
    assert result.returncode == 2
    assert "molcfg.yaml:6:3: duplicate key 'smoke' (first at line 4;" in result.stderr
    assert "{}" not in result.stderr


import pytest  # noqa: E402


@pytest.mark.parametrize("text, line, message", [
    ("[1, 2]", 1, "the file holds an array"),
    ('\n\n  "x"', 3, "the file holds a string"),
    ('{"version": 1,\n "defaults": {"x":\n NaN}}', 3, "NaN is not allowed"),
    ('{"version": 1, "defaults": {"x": "NaN",\n "y": -Infinity}}', 2, "-Infinity is not"),
])
def test_json_document_level_errors_name_a_line(workdir, text, line, message):
    (workdir / "molcfg.json").write_text(text)
    result = run_molexp("config", "show", cwd=workdir,
                        env={"XDG_CACHE_HOME": str(workdir / "cache")})
    assert result.returncode == 2
    assert f"molcfg.json:{line}: " in result.stderr and message in result.stderr


def test_a_yaml_document_that_is_not_a_mapping_names_its_line(workdir):
    write(workdir / "molcfg.yaml", "# a comment\n\n- 1\n")
    result = run_molexp("config", "show", cwd=workdir,
                        env={"XDG_CACHE_HOME": str(workdir / "cache")})
    assert result.returncode == 2 and "molcfg.yaml:3: the top level must be a mapping" \
        in result.stderr


def test_a_run_that_succeeds_on_resume_keeps_no_stale_error_log(workdir):
    write(workdir / "flaky.py", '''
import os
from molexp.workflow import Task
class Train(Task):
    def execute(self, ctx):
        if not os.path.exists("fixed"):
            raise RuntimeError("not yet")
        return {"ok": True}
''')
    first = run_molexp("run", "flaky.py", cwd=workdir)
    assert first.returncode == 1
    (run_dir,) = [p.parent for p in (workdir / "runs").glob("*/*/*/run.json")]
    assert "not yet" in (run_dir / "error.log").read_text()
    (workdir / "fixed").write_text("")
    again = run_molexp("run", "flaky.py", "--resume", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"
    assert not (run_dir / "error.log").exists()  # it spoke of attempt 1
    assert "not yet" in (run_dir / "error.attempt-1.log").read_text()  # kept, renamed

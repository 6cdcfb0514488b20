"""Small edges a newcomer trips on (issue 22): each test fails on cf01379."""

from __future__ import annotations

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

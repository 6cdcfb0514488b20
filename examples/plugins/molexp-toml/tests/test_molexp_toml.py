"""molexp-toml's own tests: the hooks directly, and through the installed molexp."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import molexp_toml
from molexp_core import NULL, ConfigError

CONFIG = """
version = 1

[defaults]
dataset = "qm9"
epochs = 100

[defaults.optimizer]
lr = 0.001

[profiles.smoke]
epochs = 3
"""


def test_candidates_name_molcfg_toml(tmp_path):
    assert molexp_toml.molexp_config_candidates(tmp_path) == [tmp_path / "molcfg.toml"]


def test_loader_declines_other_suffixes(tmp_path):
    assert molexp_toml.molexp_load_config(tmp_path / "molcfg.yaml") is None


def test_loader_parses_toml(tmp_path):
    path = tmp_path / "molcfg.toml"
    path.write_text(CONFIG)
    data = molexp_toml.molexp_load_config(path)
    assert data["defaults"]["optimizer"] == {"lr": 0.001}
    assert data["profiles"]["smoke"] == {"epochs": 3}


def test_loader_reports_line_and_column(tmp_path):
    path = tmp_path / "molcfg.toml"
    path.write_text("version = 1\n[defaults]\nepochs = = 3\n")
    with pytest.raises(ConfigError) as info:
        molexp_toml.molexp_load_config(path)
    assert info.value.line == 3
    assert f"{path}:3:" in info.value.format_message()


@pytest.mark.parametrize("raw,expected", [
    ("null", NULL), ("None", NULL), ("~", NULL), ("[1, 2]", [1, 2]),
    ('{"a": 1}', {"a": 1}), ("1e3", 1000.0), ("2.5E-2", 0.025),
])
def test_coercion(raw, expected):
    assert molexp_toml.molexp_coerce_override("k", raw) == expected


@pytest.mark.parametrize("raw", ["5", "true", "abc", "[not json", "1e", ""])
def test_coercion_declines_the_rest(raw):
    assert molexp_toml.molexp_coerce_override("k", raw) is None


def test_through_molexp_config_show(tmp_path):
    molexp = shutil.which("molexp", path=str(Path(sys.executable).parent)) or "molexp"
    (tmp_path / "molcfg.toml").write_text(CONFIG)
    result = subprocess.run([molexp, "config", "show", "--json", "-p", "smoke",
                             "-o", "extra=null", "-o", "layers=[1,2]"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config"]["epochs"] == 3
    assert data["config"]["extra"] is None and data["config"]["layers"] == [1, 2]


@pytest.mark.parametrize("text,message", [
    ("version = 1\n[defaults]\nx = " + "9" * 5000 + "\n", "cannot be read: Exceeds the limit"),
    ("version = 1\n[defaults]\nx = " + "[" * 2000 + "]" * 2000 + "\n", "nesting deeper than"),
])
def test_loader_limits_are_config_errors(tmp_path, text, message):
    path = tmp_path / "molcfg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        molexp_toml.molexp_load_config(path)


@pytest.mark.parametrize("raw,message", [
    ("[" * 2000 + "]" * 2000, "nesting deeper than 200 levels"),
    ("[" + "9" * 5000 + "]", "an integer of more than 4300 digits"),
])
def test_coercion_limits_are_usage_errors(raw, message):
    from molexp_core import MolexpUsageError

    with pytest.raises(MolexpUsageError, match=message):
        molexp_toml.molexp_coerce_override("x", raw)

"""Profile resolution, overrides, coercion and hashing, through `molexp config show`."""

from __future__ import annotations

import hashlib
import json

import pytest

from molexp_core.cli import cli

from conftest import write


def show(cli_runner, *args):
    result = cli_runner.invoke(cli, ["config", "show", "--json", *args])
    return result


def shown(cli_runner, *args):
    result = show(cli_runner, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # warnings go to stderr


def test_defaults_only_when_no_profile(cli_runner, spec_config):
    data = shown(cli_runner)
    assert data["profile"] is None
    assert data["config"] == {"dataset": "qm9", "epochs": 100, "batch_size": 32,
                              "optimizer": {"lr": 0.001}}


def test_profile_overlays_defaults(cli_runner, spec_config):
    data = shown(cli_runner, "--profile", "smoke")
    assert data["config"] == {"dataset": "qm9", "epochs": 3, "batch_size": 8,
                              "optimizer": {"lr": 0.001}}


def test_extends_chain(cli_runner, spec_config):
    data = shown(cli_runner, "--profile", "large-batch")
    assert data["profile"] == "large_batch"
    assert data["config"]["epochs"] == 3 and data["config"]["batch_size"] == 64


@pytest.mark.parametrize("name", ["dry-run", "dry_run"])
def test_dash_and_underscore_are_one_profile(cli_runner, spec_config, name):
    data = shown(cli_runner, "--profile", name)
    assert data["profile"] == "dry_run"
    assert data["config"]["skip_heavy_compute"] is True


def test_yaml_key_with_underscore_matches_dashed_flag(cli_runner, workdir):
    write(workdir / "molcfg.yaml", """
        version: 1
        profiles:
          dry_run: {epochs: 1}
    """)
    assert shown(cli_runner, "--profile", "dry-run")["profile"] == "dry_run"


def test_extends_list_applies_left_to_right_and_deep_merges(cli_runner, workdir):
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults:
          optimizer: {lr: 0.1, momentum: 0.9}
          layers: [1, 2, 3]
        profiles:
          a: {optimizer: {lr: 0.2}, tag: a, layers: [9]}
          b: {tag: b, extra: 1}
          c:
            extends: [a, b]
            optimizer: {nesterov: true}
    """)
    config = shown(cli_runner, "-p", "c")["config"]
    assert config == {"optimizer": {"lr": 0.2, "momentum": 0.9, "nesterov": True},
                      "layers": [9], "tag": "b", "extra": 1}


def test_json_config_discovered(cli_runner, workdir):
    write(workdir / "molcfg.json", json.dumps(
        {"version": 1, "defaults": {"a": 1}, "profiles": {"x": {"a": 2}}}))
    assert shown(cli_runner, "-p", "x")["config"] == {"a": 2}


def test_yaml_preferred_over_yml_and_json(cli_runner, workdir):
    write(workdir / "molcfg.json", '{"version": 1, "defaults": {"src": "json"}}')
    write(workdir / "molcfg.yml", "version: 1\ndefaults: {src: yml}\n")
    assert shown(cli_runner)["config"] == {"src": "yml"}
    write(workdir / "molcfg.yaml", "version: 1\ndefaults: {src: yaml}\n")
    assert shown(cli_runner)["config"] == {"src": "yaml"}


def test_explicit_config_path(cli_runner, workdir):
    path = write(workdir / "sub" / "other.yaml", "version: 1\ndefaults: {a: 5}\n")
    data = shown(cli_runner, "--config", str(path))
    assert data["config"] == {"a": 5} and data["config_file"] == str(path)


def test_no_config_no_profile_is_empty(cli_runner, workdir):
    data = shown(cli_runner)
    assert data["config"] == {} and data["config_file"] is None


def test_profile_without_config_is_usage_error(cli_runner, workdir):
    result = show(cli_runner, "--profile", "smoke")
    assert result.exit_code == 2
    assert "needs a config file" in result.output


def test_unknown_profile_lists_and_suggests(cli_runner, spec_config):
    result = show(cli_runner, "--profile", "smok")
    assert result.exit_code == 2
    assert "available: smoke, dry-run, large-batch" in result.output
    assert "Did you mean 'smoke'?" in result.output
    shouted = show(cli_runner, "--profile", "SMOKE")
    assert shouted.exit_code == 2 and "Did you mean 'smoke'?" in shouted.output


def test_a_shared_ancestor_applies_once_before_its_descendant(cli_runner, workdir):
    """../shared/spec/profile-order.md: `extends: [p2, p1]` with p2 extending p1 applies
    p1, p2, p: p1 is not applied again after p2, whatever the list order."""
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults: {x: d}
        profiles:
          p1: {x: one, y: 1}
          p2: {extends: p1, x: two}
          p1_last: {extends: [p2, p1]}
          p2_last: {extends: [p1, p2]}
    """)
    assert shown(cli_runner, "-p", "p1_last")["config"] == {"x": "two", "y": 1}
    assert shown(cli_runner, "-p", "p2_last")["config"] == {"x": "two", "y": 1}


@pytest.mark.parametrize("version", ["1.0", "true", "'1'"])
def test_version_must_be_the_integer_1(cli_runner, workdir, version):
    write(workdir / "molcfg.yaml", f"version: {version}\ndefaults: {{}}\n")
    result = show(cli_runner)
    assert result.exit_code == 2
    assert "molcfg.yaml:1: unsupported version" in result.output


def test_config_cache_sees_a_file_replaced_with_same_size_and_mtime(workdir):
    """`cp -p` keeps size and mtime; the cache must still notice (status-change time)."""
    import os

    from conftest import run_molexp

    write(workdir / "a.yaml", "version: 1\ndefaults: {epochs: 3}\n")
    write(workdir / "b.yaml", "version: 1\ndefaults: {epochs: 5}\n")
    os.utime(workdir / "b.yaml", ns=(1_600_000_000_000_000_000,) * 2)
    os.utime(workdir / "a.yaml", ns=(1_600_000_000_000_000_000,) * 2)
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    target = workdir / "molcfg.yaml"
    for source, epochs in (("a.yaml", 3), ("b.yaml", 5)):
        target.write_bytes((workdir / source).read_bytes())  # same inode, same size
        os.utime(target, ns=(1_600_000_000_000_000_000,) * 2)  # and the same mtime
        out = run_molexp("config", "show", "--json", cwd=workdir, env=env)
        assert json.loads(out.stdout)["config"] == {"epochs": epochs}, out.stderr
    assert list((workdir / "cache" / "molexp" / "configs").iterdir())  # the cache was used


@pytest.mark.parametrize("raw,expected", [
    ("true", True), ("FALSE", False), ("True", True), ("5", 5), ("-3", -3),
    ("0.0005", 0.0005), ("1e3", 1000.0), ("abc", "abc"), ("", ""), ("nan", "nan"),
    ("inf", "inf"), ("1.0", 1.0), ("a=b", "a=b"),
    # Python's int()/float() take these; a date tag or Arabic-Indic digits are text
    ("2024_01_15", "2024_01_15"), ("1_000", "1_000"), ("\u0661\u0662", "\u0661\u0662"),
    (".5", 0.5), ("+4", 4), ("007", 7),
])
def test_override_coercion(cli_runner, workdir, raw, expected):
    value = shown(cli_runner, "--override", f"x={raw}")["config"]["x"]
    assert value == expected and type(value) is type(expected)


def test_overrides_apply_in_order_with_dot_paths(cli_runner, spec_config):
    config = shown(cli_runner, "-p", "smoke", "-o", "optimizer.lr=0.0005",
                   "-o", "epochs=5", "-o", "epochs=6", "-o", "new.deep.key=x")["config"]
    assert config["optimizer"] == {"lr": 0.0005}
    assert config["epochs"] == 6
    assert config["new"] == {"deep": {"key": "x"}}


@pytest.mark.parametrize("override,message", [
    ("epochs", "expected KEY=VALUE"),
    ("=3", "empty key"),
    ("a..b=1", "empty key"),
    (".a=1", "empty key"),
    ("epochs.x=1", "'epochs' is 3 (int), not a mapping"),
])
def test_bad_overrides_are_usage_errors(cli_runner, spec_config, override, message):
    result = show(cli_runner, "-p", "smoke", "--override", override)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert override in result.output  # names the flag as typed


def test_overrides_count_in_hash_without_profile(cli_runner, workdir):
    plain = shown(cli_runner)["config_hash"]
    changed = shown(cli_runner, "-o", "a=1")["config_hash"]
    assert plain != changed


def canonical_hash(config):
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_hash_is_the_documented_algorithm_and_ignores_key_order(cli_runner, workdir):
    write(workdir / "a.yaml", "version: 1\ndefaults: {b: 1, a: {y: 2, x: é}}\n")
    write(workdir / "b.yaml", "version: 1\ndefaults: {a: {x: é, y: 2}, b: 1}\n")
    first = shown(cli_runner, "--config", "a.yaml")
    second = shown(cli_runner, "--config", "b.yaml")
    assert first["config_hash"] == second["config_hash"] == canonical_hash(first["config"])


def test_hash_distinguishes_int_float_bool(cli_runner, workdir):
    hashes = {shown(cli_runner, "-o", f"x={v}")["config_hash"] for v in ("1", "1.0", "true")}
    assert len(hashes) == 3


def test_config_show_yaml_output(cli_runner, spec_config):
    result = cli_runner.invoke(cli, ["config", "show", "-p", "smoke"])
    assert result.exit_code == 0
    assert "# profile: smoke" in result.output
    assert "epochs: 3" in result.output and "lr: 0.001" in result.output
    assert "# config_hash: " in result.output


def test_config_profiles_lists_chains(cli_runner, spec_config):
    result = cli_runner.invoke(cli, ["config", "profiles"])
    assert result.exit_code == 0
    assert "large-batch  defaults -> smoke -> large-batch" in result.output
    assert "dry-run      defaults -> dry-run" in result.output


@pytest.mark.parametrize("body,message,line", [
    ("version: 2\n", "unsupported version 2", 1),
    ("version: 1\nprofile: {}\n", "did you mean 'profiles'?", 2),
    ("version: 1\nprofiles:\n  a: 3\n", "profile 'a' must be a mapping", 3),
    ("version: 1\nprofiles:\n  a:\n    extends: nope\n", "extends unknown profile 'nope'", 4),
    ("version: 1\nprofiles:\n  a:\n    extends: a\n", "'extends' cycle: a -> a", 4),
    ("version: 1\nprofiles:\n  a: {extends: b}\n  b: {extends: c}\n  c: {extends: a}\n",
     "'extends' cycle: a -> b -> c -> a", 3),
    ("version: 1\nprofiles:\n  dry-run: {}\n  dry_run: {}\n", "same profile", 4),
    ("version: 1\ndefaults: [1]\n", "'defaults' must be a mapping", 2),
    ("version: 1\nprofiles:\n  ../x: {}\n", "invalid profile name", 3),
])
def test_invalid_documents_name_file_line_and_profile(cli_runner, workdir, body, message, line):
    write(workdir / "molcfg.yaml", body)
    result = show(cli_runner)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert f"molcfg.yaml:{line}" in result.output


def test_a_name_starting_with_a_dash_is_refused_but_its_underscore_twin_selects(
        cli_runner, workdir):
    """docs/config.md: a file's profile may not start with '-'; `_x` is the same profile
    as `-x` once dashes become underscores, so `--profile=-x` selects it."""
    write(workdir / "molcfg.yaml", "version: 1\nprofiles:\n  '-x': {a: 1}\n")
    refused = show(cli_runner)
    assert refused.exit_code == 2 and "a name cannot start with '-'" in refused.output
    write(workdir / "molcfg.yaml", "version: 1\nprofiles:\n  _x: {a: 1}\n")
    data = shown(cli_runner, "--profile=-x")
    assert data["profile"] == "_x" and data["config"] == {"a": 1}

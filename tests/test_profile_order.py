"""The order in which `extends` applies profiles (../shared/spec/profile-order.md),
and resolution that stays linear in the size of the file whatever the graph's shape."""

from __future__ import annotations

import json

import pytest

from molexp_core.cli import cli
from molexp_core.config.profiles import Document

from conftest import write


def shown(cli_runner, *args):
    result = cli_runner.invoke(cli, ["config", "show", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["config"]


def listed(cli_runner):
    result = cli_runner.invoke(cli, ["config", "profiles", "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row["chain"] for row in json.loads(result.output)["profiles"]}


# The spec's table: profiles, the selected one, the order it applies, one key's value.
SPEC_ROWS = [
    ("a: {x: 1}\n  b: {extends: a, x: 2}\n  c: {extends: a}\n  d: {extends: [b, c]}\n",
     "d", ["a", "b", "c", "d"], {"x": 2}),
    ("d: {extends: [b, c]}\n  c: {extends: x}\n  b: {k: b}\n  x: {k: x}\n",
     "d", ["b", "x", "c", "d"], {"k": "x"}),
    ("p: {extends: [p2, p1]}\n  p2: {extends: p1, v: two}\n  p1: {v: one}\n",
     "p", ["p1", "p2", "p"], {"v": "two"}),
]


@pytest.mark.parametrize("profiles,selected,order,config", SPEC_ROWS)
def test_the_spec_table(cli_runner, workdir, profiles, selected, order, config):
    write(workdir / "molcfg.yaml", f"version: 1\nprofiles:\n  {profiles}")
    assert listed(cli_runner)[selected] == ["defaults", *order]
    assert shown(cli_runner, "-p", selected) == config


def test_config_profiles_prints_the_order_profiles_apply_in(cli_runner, workdir):
    write(workdir / "molcfg.yaml", "version: 1\nprofiles:\n  " + SPEC_ROWS[0][0])
    result = cli_runner.invoke(cli, ["config", "profiles"])
    assert result.exit_code == 0, result.output
    assert "d  defaults -> a -> b -> c -> d\n" in result.output
    assert "applied left to right" in result.output


def test_each_profile_applies_once_after_all_it_extends(cli_runner, workdir):
    """A list whose later parent extends the earlier one: the shared ancestor is not
    applied again after its descendant, so the descendant's value holds."""
    write(workdir / "molcfg.yaml", """
        version: 1
        defaults: {n: 0, log: [d]}
        profiles:
          base: {n: 1, log: [base]}
          mid: {extends: base, n: 2}
          top: {extends: [base, mid, base]}
    """)
    assert listed(cli_runner)["top"] == ["defaults", "base", "mid", "top"]
    assert shown(cli_runner, "-p", "top") == {"n": 2, "log": ["base"]}


def ladder(layers: int) -> str:
    """Two profiles per layer, each extending both of the layer below."""
    text = "version: 1\nprofiles:\n  a0: {x: 0}\n  b0: {y: 0}\n"
    for i in range(1, layers):
        text += f"  a{i}: {{extends: [a{i - 1}, b{i - 1}], x: {i}}}\n"
        text += f"  b{i}: {{extends: [a{i - 1}, b{i - 1}], y: {i}}}\n"
    return text


def everything_before(count: int) -> str:
    """A 'diamond' of `count` profiles: each extends every earlier one."""
    text = "version: 1\nprofiles:\n  p0: {x: 0}\n"
    for i in range(1, count):
        text += f"  p{i}: {{extends: [{', '.join(f'p{j}' for j in range(i))}], x: {i}}}\n"
    return text


def chain(count: int) -> str:
    text = "version: 1\nprofiles:\n  p0: {x: 0, first: true}\n"
    return text + "".join(f"  p{i}: {{extends: p{i - 1}, x: {i}}}\n" for i in range(1, count))


@pytest.mark.parametrize("text,count,applied", [(ladder(40), 80, 79),
                                                (everything_before(20), 20, 20),
                                                (chain(800), 800, 800)])
def test_each_profile_is_looked_at_once(workdir, monkeypatch, text, count, applied):
    """Reading the file and resolving the last profile visits each profile's parents
    about once: a number that grows with the file, not with the paths through it."""
    from molexp_plugins.yaml_loader import molexp_load_config

    path = write(workdir / "molcfg.yaml", text)
    raw = molexp_load_config(path)
    calls = []
    real = Document.parents

    def counting(self, normal):
        calls.append(normal)
        return real(self, normal)

    monkeypatch.setattr(Document, "parents", counting)
    document = Document(raw, path)
    last = list(document.profiles)[-1]
    config = document.resolve(last)
    assert len(calls) <= 3 * count, len(calls)
    assert len(document.chain(last)) == applied  # each applied once (b39 lacks a39)
    assert count - 1 in (config.get("x"), 2 * config.get("y", 0) + 1)


def test_a_long_cycle_is_named(cli_runner, workdir):
    """Found by the iterative walk, no recursion limit: named from where it closes."""
    text = "version: 1\nprofiles:\n" + "".join(
        f"  p{i}: {{extends: p{(i + 1) % 1500}}}\n" for i in range(1500))
    write(workdir / "molcfg.yaml", text)
    result = cli_runner.invoke(cli, ["config", "profiles"])
    assert result.exit_code == 2, result.output
    assert ("molcfg.yaml:3: 'extends' cycle: p0 -> p1 -> p2 -> p3 -> p4 -> (1490 more) -> "
            "p1495 -> p1496 -> p1497 -> p1498 -> p1499 -> p0") in result.output

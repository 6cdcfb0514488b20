"""Profile resolution and overrides against a small independent model of the
documented rules (docs/config.md, ../shared/spec/profile-order.md), on thousands of
generated files.

The model is written from the docs, not from the code: a recursive post-order of
the `extends` graph keeping first places, a naive deep merge, and the coercion
and path rules for overrides. Real JSON files go through the real loader, the
real `Document` and the real override machinery (built-in plugins only).
Deterministic: derandomized, no example database, a fixed number of examples.
"""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molexp_core.config.overrides import Override, apply_overrides
from molexp_core.config.profiles import Document
from molexp_core.errors import MolexpUsageError
from molexp_core.plugin_host.manager import PluginHost
from molexp_plugins.json_loader import molexp_load_config

SETTINGS = settings(max_examples=1000, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

KEYS = st.sampled_from(["a", "b", "c", "lr", "x"])
SCALARS = st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.sampled_from(["s", "t"]),
                    st.floats(-2, 2, allow_nan=False).map(lambda f: round(f, 2)))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=2), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=4)
BODIES = st.dictionaries(KEYS, VALUES, max_size=3)


@st.composite
def documents(draw):
    """defaults and up to 8 profiles whose `extends` form any acyclic graph."""
    count = draw(st.integers(0, 8))
    names = [f"p{i}" for i in range(count)]
    rank = draw(st.permutations(names))  # a profile extends only lower-ranked ones
    profiles = {}
    for name in names:
        body = draw(BODIES)
        below = rank[:rank.index(name)]
        if below:
            parents = draw(st.lists(st.sampled_from(below), max_size=4))
            if len(parents) == 1 and draw(st.booleans()):
                body["extends"] = parents[0]  # a single name, not a list
            elif parents:
                body["extends"] = parents
        profiles[name] = body
    order = draw(st.permutations(names))  # the file's order does not matter
    return {"version": 1, "defaults": draw(BODIES), "profiles": {n: profiles[n] for n in order}}


OVERRIDE_VALUES = st.one_of(
    st.sampled_from(["true", "FALSE", "True ", "3", "-7", "+2", "0.5", "1e3", "-.5", "nan",
                     "inf", "1e999", "abc", "", " 5 ", "1_000", "\u0663", "a=b", "0x10"]),
    st.text(alphabet="0123456789.eE+-tTrRuUfaFlsx ", max_size=6))
OVERRIDES = st.lists(st.tuples(st.lists(KEYS, min_size=1, max_size=3), OVERRIDE_VALUES),
                     max_size=4)


# -- the model --------------------------------------------------------------
def model_order(profiles, selected):
    placed = []

    def visit(name):
        extends = profiles[name].get("extends", [])
        for parent in [extends] if isinstance(extends, str) else extends:
            if parent not in placed:
                visit(parent)
        if name not in placed:
            placed.append(name)

    visit(selected)
    return placed


def model_merge(base, overlay):
    result = json.loads(json.dumps(base))
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = model_merge(result[key], value)
        else:
            result[key] = json.loads(json.dumps(value))
    return result


def model_coerce(raw):
    text = raw.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"[+-]?[0-9]+", text, re.ASCII):
        return int(text)
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text, re.ASCII):
        number = float(text)
        if math.isfinite(number):
            return number
    return raw


def model_resolve(document, selected, overrides):
    config = json.loads(json.dumps(document["defaults"]))
    if selected is not None:
        for name in model_order(document["profiles"], selected):
            body = {k: v for k, v in document["profiles"][name].items() if k != "extends"}
            config = model_merge(config, body)
    for path, raw in overrides:
        node = config
        for part in path[:-1]:
            if part not in node:
                node[part] = {}
            if not isinstance(node[part], dict):
                return "error"  # a path through a non-mapping is an error
            node = node[part]
        node[path[-1]] = model_coerce(raw)
    return config


# -- the comparison -----------------------------------------------------------
@pytest.fixture(scope="module")
def host():
    saved = os.environ.get("MOLEXP_LOAD_PLUGINS")
    os.environ["MOLEXP_LOAD_PLUGINS"] = ""  # the built-in rules only
    try:
        built = PluginHost()
        built.load_entry_points()
    finally:
        if saved is None:
            del os.environ["MOLEXP_LOAD_PLUGINS"]
        else:
            os.environ["MOLEXP_LOAD_PLUGINS"] = saved
    return built


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    return tmp_path_factory.mktemp("prop") / "molcfg.json"


@SETTINGS
@given(document=documents(), overrides=OVERRIDES)
def test_resolution_and_overrides_follow_the_documented_rules(host, config_file, document,
                                                              overrides):
    config_file.write_text(json.dumps(document))
    loaded = Document(molexp_load_config(config_file), config_file)
    typed = [Override(".".join(path) + "=" + raw) for path, raw in overrides]
    for selected in [None, *document["profiles"]]:  # every profile of the file
        expected = model_resolve(document, selected, overrides)
        try:
            actual = apply_overrides(loaded.resolve(selected), typed, host)
        except MolexpUsageError:
            actual = "error"
        assert actual == expected, selected
        assert json.dumps(actual, sort_keys=True) == json.dumps(expected, sort_keys=True)
        if selected is not None:
            assert loaded.chain(selected) == model_order(document["profiles"], selected)

"""ctx.config works wherever a dict of JSON data is expected, and stays read-only."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from conftest import read_record, run_dirs, run_molexp, task_result, write
from molexp_core.config.profile_config import ProfileConfig, ReadOnlyList

DATA = {"epochs": 3, "optimizer": {"lr": 0.001, "betas": [0.9, {"x": 1}]}, "tags": ["a"]}


def test_json_dict_or_and_deepcopy_give_plain_data():
    config = ProfileConfig(DATA)
    assert json.loads(json.dumps(config)) == DATA
    assert json.dumps(config, sort_keys=True) == json.dumps(DATA, sort_keys=True)
    assert isinstance(config, dict) and dict(config) == DATA
    merged = config | {"epochs": 5, "new": True}
    assert type(merged) is dict and merged == dict(DATA, epochs=5, new=True)
    merged["optimizer"]["lr"] = 1.0  # a plain copy, all the way down
    merged["optimizer"]["betas"].append(3)
    assert config["optimizer"]["lr"] == 0.001 and len(config["optimizer"]["betas"]) == 2
    left = {"epochs": 7, "other": 1} | config
    assert type(left) is dict and left["epochs"] == 3 and left["other"] == 1
    deep = copy.deepcopy(config)
    assert type(deep) is dict and type(deep["optimizer"]) is dict
    assert type(deep["optimizer"]["betas"]) is list and deep == DATA
    assert type(copy.copy(config)) is dict and type(config.to_dict()["tags"]) is list
    again = pickle.loads(pickle.dumps(config))
    assert type(again) is ProfileConfig and again == config


@pytest.mark.parametrize("mutate", [
    lambda c: c.__setitem__("epochs", 1),
    lambda c: c.update(epochs=1),
    lambda c: c.__ior__({"epochs": 1}),
    lambda c: c.pop("epochs"),
    lambda c: c.setdefault("x", 1),
    lambda c: c["optimizer"].__setitem__("lr", 1),
    lambda c: c["optimizer"]["betas"].append(1),
    lambda c: c["optimizer"]["betas"][1].update(x=2),
    lambda c: dict(c)["optimizer"].clear(),
    lambda c: c.get("tags").sort(),
    lambda c: [item for item in c["optimizer"]["betas"]][1].pop("x"),
])
def test_read_only_at_every_depth(mutate):
    config = ProfileConfig(DATA)
    with pytest.raises(TypeError, match="read-only"):
        mutate(config)
    assert config == DATA
    assert isinstance(config["tags"], ReadOnlyList)


SCRIPT = '''
import copy, json
from molexp.workflow import Task

class Probe(Task):
    def execute(self, ctx):
        refused = []
        for name, change in [("set", lambda: ctx.config.__setitem__("epochs", 0)),
                             ("nested", lambda: ctx.config["optimizer"].update(lr=0)),
                             ("ior", lambda: ctx.config.__ior__({}))]:
            try:
                change()
            except TypeError:
                refused.append(name)
        return {"dumped": json.loads(json.dumps(ctx.config)),
                "merged": ctx.config | {"epochs": 99},
                "is_dict": isinstance(ctx.config, dict),
                "copy": copy.deepcopy(ctx.config),
                "refused": refused}
'''


def test_a_task_uses_ctx_config_as_json_data(workdir, spec_config):
    write(workdir / "probe.py", SCRIPT)
    result = run_molexp("run", "probe.py", "-p", "smoke", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(workdir / "runs")
    value = task_result(run_dir, "Probe")
    config = read_record(run_dir)["config"]
    assert value["dumped"] == config == value["copy"]
    assert value["merged"] == dict(config, epochs=99)
    assert value["is_dict"] is True and value["refused"] == ["set", "nested", "ior"]

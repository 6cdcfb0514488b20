"""A real sweep for `molexp view`'s tests: 3 x 3 points, known results, one failed
point, a NaN, hostile text in the config and in the error, learning curves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict

from conftest import run_molexp, write

TRAIN = '''
import os
from molexp.workflow import Task, TaskContext


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        lr = ctx.config["optimizer"]["lr"]
        bs = ctx.config["batch_size"]
        if os.path.exists("FAIL") and bs == 64 and lr == 0.1:
            raise RuntimeError("diverged: <b>loss</b> </script><script>window.pwned=1</script>")
        for step in range(6):
            ctx.log_metric("train/loss", bs * lr / (1 + step))
        (ctx.artifact_dir / "model.txt").write_text(f"lr={lr} bs={bs}")
        loss = float("nan") if (bs == 16 and lr == 0.1) else round(bs * lr, 6)
        return {"loss": loss, "acc": round(1 - lr, 6)}
'''

MOLCFG = '''
version: 1
defaults:
  dataset: qm9
  "<img src=x onerror=window.pwned=1>": "</script><svg onload=window.pwned=1>"
  epochs: 3
  batch_size: 32
  optimizer:
    lr: 0.001
profiles:
  smoke:
    epochs: 1
'''

HOSTILE = "</script><img src=x onerror=window.pwned=1>&amp;"
AXES = ["--sweep", "optimizer.lr=0.001,0.01,0.1", "--sweep", "batch_size=16,32,64"]


def make_sweep(directory: Path) -> Dict[str, object]:
    """Run the sweep (the point lr=0.1, bs=64 fails); return its id and runs root."""
    write(directory / "train.py", TRAIN)
    write(directory / "molcfg.yaml", MOLCFG)
    (directory / "FAIL").write_text("")
    done = run_molexp("run", "train.py", "-p", "smoke", "-o", f"note={HOSTILE}", *AXES,
                      "-j", "2", cwd=directory, timeout=300)
    assert done.returncode == 1, done.stderr  # one point failed
    (record,) = (directory / "runs" / ".sweeps").glob("sw-*/sweep.json")
    return {"sweep_id": json.loads(record.read_text())["sweep_id"], "root": directory / "runs"}


def point_dir(root: Path, sweep_id: str, lr: float, bs: int) -> Path:
    record = json.loads((root / ".sweeps" / sweep_id / "sweep.json").read_text())
    for point in record["points"]:
        if point["point"] == {"optimizer.lr": lr, "batch_size": bs}:
            return root / point["run_dir"]
    raise AssertionError(f"no point lr={lr} bs={bs}")


def edit_record(run_dir: Path, **changes) -> None:
    path = run_dir / "run.json"
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record, indent=2))


def page_data(html: str) -> dict:
    """The JSON data block of a page, parsed."""
    found = re.search(r'<script type="application/json" id="molexp-data">(.*?)</script>', html,
                      re.S)
    assert found, "no data block"
    return json.loads(found.group(1))


def plant_environment(run_dir: Path, digest: str) -> None:
    """Make a run look as if its (last) attempt ran in another environment."""
    record = json.loads((run_dir / "run.json").read_text())
    record["history"][-1]["environment_sha256"] = digest
    edit_record(run_dir, environment_sha256=digest, history=record["history"])

"""A real sweep for `molexp view`'s tests: 3 x 3 points, known results, one failed
point, a NaN, hostile text in the config and in the error, learning curves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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
    """The JSON data block of a page, parsed, its runs one mapping each."""
    found = re.search(r'<script type="application/json" id="molexp-data">(.*?)</script>', html,
                      re.S)
    assert found, "no data block"
    data = json.loads(found.group(1))
    from molexp_core.view.columns import rows

    data["columns"] = data["runs"]
    data["runs"] = rows(data)  # one mapping per run, as the page's JavaScript makes them
    return data


def plant_environment(run_dir: Path, digest: str) -> None:
    """Make a run look as if its (last) attempt ran in another environment."""
    record = json.loads((run_dir / "run.json").read_text())
    record["history"][-1]["environment_sha256"] = digest
    edit_record(run_dir, environment_sha256=digest, history=record["history"])


BIG_TRAIN = '''from molexp.workflow import Task, TaskContext


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        for step in range(50):
            ctx.log_metrics({"train/loss": 2.0 / (step + 1), "val/loss": 2.2 / (step + 1)})
        return {"loss": ctx.config["a"] * 0.01 + ctx.config["b"], "acc": 0.5}
'''


def make_big_sweep(work: Path, points: int, molexp: str, env: dict) -> str:
    """A sweep of ``points`` points (a square grid over ``a`` and ``b``) in seconds: one
    real 4-point sweep, its run directories cloned (each with its own config,
    config_hash, result and sweep record entry, and the same learning curves); every
    50th point failed, every 100th missing (its run deleted), another every 100th run
    in another environment."""
    from molexp_core.config.hashing import config_hash

    (work / "train.py").write_text(BIG_TRAIN)
    (work / "molcfg.yaml").write_text("version: 1\ndefaults:\n  a: 0\n  b: 0\n  epochs: 3\n")
    subprocess.run([molexp, "run", "train.py", "--sweep", "a=0,1", "--sweep", "b=0,1",
                    "--quiet"], cwd=work, env=env, check=True, capture_output=True)
    root = work / "runs"
    (sweep_dir,) = (root / ".sweeps").glob("sw-*")
    record = json.loads((sweep_dir / "sweep.json").read_text())
    template_dir = root / record["points"][0]["run_dir"]
    template = json.loads((template_dir / "run.json").read_text())
    (result_file,) = (template_dir / "results").iterdir()
    result = json.loads(result_file.read_text())
    metrics = (template_dir / "metrics.jsonl").read_bytes()  # 50 steps of 2 metrics
    for point in record["points"]:
        shutil.rmtree(root / point["run_dir"])
    side = int(points ** 0.5)
    new_points = []
    parent = template_dir.parent
    for index in range(points):
        a, b = index // side, index % side
        run_id = f"20260101-{index // 10000:06d}-{index % 10000:06d}-{index % 65536:04x}"
        run_dir = parent / run_id
        (run_dir / "results").mkdir(parents=True)
        config = dict(template["config"], a=a, b=b)
        digest = config_hash(config)
        run = dict(template, run_id=run_id, config=config, config_hash=digest,
                   sweep=dict(template["sweep"], index=index, size=points,
                              point={"a": a, "b": b}))
        if index % 50 == 7:
            run["status"] = "failed"
            run["error"] = "task Train failed: RuntimeError: diverged"
            run["tasks"] = {"Train": dict(template["tasks"]["Train"], status="failed",
                                          result_file=None)}
        elif index % 100 == 3:
            run["environment_sha256"] = "0" * 64
            run["history"] = [dict(h) for h in template["history"]]
            run["history"][-1]["environment_sha256"] = "0" * 64
        if run.get("status") != "failed":
            (run_dir / "results" / result_file.name).write_text(json.dumps(
                dict(result, result={"loss": a * 0.01 + b, "acc": 0.5})))
        (run_dir / "run.json").write_text(json.dumps(run))
        (run_dir / "run.log").write_text("2026-01-01 00:00:00 INFO molexp: started\n")
        (run_dir / "metrics.jsonl").write_bytes(metrics)
        missing = index % 100 == 11
        if missing:
            shutil.rmtree(run_dir)
        new_points.append({"index": index, "point": {"a": a, "b": b}, "config_hash": digest,
                           "run_id": run_id,  # a missing point's run is gone
                           "run_dir": f"{parent.relative_to(root)}/{run_id}",
                           "job_id": None})
    record.update(points=new_points, size=points, inline=[
        f"a={','.join(map(str, range(side)))}", f"b={','.join(map(str, range(side)))}"])
    (sweep_dir / "sweep.json").write_text(json.dumps(record))
    return record["sweep_id"]

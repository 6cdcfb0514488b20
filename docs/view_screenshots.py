"""Make docs/view-*.png from a real sweep: `python docs/view_screenshots.py`.

A three-task script (featurize, train, evaluate) logs its loss per epoch and keeps a
checkpoint; `molexp run train.py --sweep scan -j 2` runs 30 points (5 learning rates x
3 batch sizes x 2 seeds) of which the two at lr=0.01, batch size 16 diverge; then the
script is fixed and `--resume` runs those two again.  The pages are opened in headless
Chromium (as tests/test_view_browser.py does) and photographed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TRAIN = '''"""A toy property model: featurize, train, evaluate."""
import math
import os

from molexp.workflow import Task, TaskContext


class Featurize(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        return {"molecules": 5000, "features": 2048}


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        lr, bs, seed = ctx.config["optimizer"]["lr"], ctx.config["batch_size"], ctx.config["seed"]
        if os.path.exists("DIVERGE") and lr == 0.01 and bs == 16:
            raise FloatingPointError(f"loss diverged to inf at epoch 4 (lr={lr}, batch_size={bs})")
        best = 0.12 + (math.log10(lr) + 2.5) ** 2 / 3 + bs / 400 + seed * 0.004
        loss = val = 0.0
        for epoch in range(ctx.config["epochs"]):
            loss = best + 2.2 * math.exp(-epoch * lr ** 0.5 * 2.5)
            val = loss * 1.05 + 0.01 * math.sin(epoch + seed)
            ctx.log_metrics({"train/loss": loss, "val/loss": val}, step=epoch)
        (ctx.artifact_dir / "model.ckpt").write_bytes(os.urandom(2048))
        return {"loss": round(loss, 5), "val_loss": round(val, 5)}


class Evaluate(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        return {"mae": round(ctx.results["Train"]["val_loss"] * 0.6, 4)}
'''

MOLCFG = '''version: 1
defaults:
  seed: 0
  epochs: 30
  batch_size: 32
  data: {split: scaffold, n_molecules: 5000}
  optimizer: {name: adam, lr: 0.001}
sweeps:
  scan:
    grid:
      optimizer.lr: [0.0001, 0.0003, 0.001, 0.003, 0.01]
      batch_size: [16, 32, 64]
      seed: [0, 1]
'''


def molexp(*args, cwd):
    command = [str(Path(sys.executable).with_name("molexp")), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def shoot(page: Path, target: Path, actions=(), height=860, clip=None):
    from test_view_browser import open_page, start_browser

    profile = tempfile.mkdtemp(prefix="molexp-shots-")
    driver = start_browser(profile)
    try:
        driver.set_window_size(1280, height)
        open_page(driver, page)
        for action in actions:
            driver.execute_script(action)
            time.sleep(0.4)
        if clip:
            driver.find_element("css selector", clip).screenshot(str(target))
        else:
            driver.save_screenshot(str(target))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(target)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="molexp-docs-"))
    try:
        (work / "train.py").write_text(TRAIN)
        (work / "molcfg.yaml").write_text(MOLCFG)
        (work / "DIVERGE").write_text("")
        molexp("run", "train.py", "--sweep", "scan", "-j", "2", cwd=work)  # 2 points fail
        done = molexp("view", "-o", "before.html", cwd=work)
        assert done.returncode == 0, done.stderr
        shoot(work / "before.html", HERE / "view-sweep.png")
        pick = ("document.getElementById('filter').value = 'batch_size=32';"
                "molexpView.refresh();")
        shoot(work / "before.html", HERE / "view-run.png", height=900, actions=[
            pick, "document.getElementById('curves-section').scrollIntoView()",
            "molexpView.select(molexpView.shownRuns[5].i)"])
        (work / "DIVERGE").unlink()  # the fix: a smaller step, say
        (work / "train.py").write_text(TRAIN.replace("# fixed", "") + "\n# fixed\n")
        done = molexp("run", "train.py", "--sweep", "scan", "--resume", cwd=work)
        assert done.returncode == 0, done.stderr
        done = molexp("view", "-o", "after.html", cwd=work)
        assert done.returncode == 0, done.stderr
        collapse = ("const s = document.getElementById('collapse'); s.value = 'seed';"
                    "s.dispatchEvent(new Event('change'))")
        shoot(work / "after.html", HERE / "view-compare.png", height=1000, actions=[
            collapse, "document.getElementById('table-section').scrollIntoView()"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

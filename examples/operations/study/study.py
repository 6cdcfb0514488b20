"""A three-task study: prepare the data, train, evaluate; the numbers are made up.

    molexp run study.py --sweep lr-width -j 2 -c Train.loss,Evaluate.acc
    molexp runs --sweep sw- --best Evaluate.acc --max
    molexp runs --sweep sw- --pivot optimizer.lr,model.width -c Train.loss
"""

import math

from molexp.workflow import Task, TaskContext


class Prepare(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        return {"dataset": ctx.config["dataset"], "n_train": 1000, "n_test": 200}


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        lr = ctx.config["optimizer"]["lr"]
        width = ctx.config["model"]["width"]
        if lr >= 0.1 and width >= 256:
            loss = float("nan")  # diverged: it must never win
        else:  # lowest near lr=1.6e-3 and width 160
            loss = 0.4 + (math.log10(lr) + 2.8) ** 2 / 5 + math.log2(width / 160) ** 2 / 8
        curve = [round(loss * (1 + 1 / (e + 1)), 6) for e in range(ctx.config["epochs"])]
        return {"loss": loss if loss != loss else round(loss, 6), "curve": curve}


class Evaluate(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        loss = ctx.results["Train"]["loss"]
        return {"acc": round(1 / (1 + loss), 4) if loss == loss else None}

"""A stand-in for training: the "loss" depends on the swept learning rate and batch size.

    molexp run train.py --sweep lr-scan --jobs 2
    molexp runs --sweep <sweep id> -c Train.loss --sort Train.loss
"""

import math

from molexp.workflow import Task, TaskContext


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        lr = ctx.config["optimizer"]["lr"]
        batch_size = ctx.config["batch_size"]
        epochs = ctx.config.get("epochs", 100)
        seed = ctx.config.get("seed", 0)
        # a made-up curve with its minimum near lr=1e-3 and smaller batches a little better
        loss = (math.log10(lr) + 3) ** 2 + batch_size / 100 + 1 / epochs + seed * 1e-3
        ctx.logger.info("lr=%s batch_size=%s loss=%.4f", lr, batch_size, loss)
        return {"loss": round(loss, 6), "epochs": epochs}

"""One script, several shapes: see molcfg.yaml beside it.

    molexp run examples/operations/run_profiles/train.py --profile smoke
    molexp run examples/operations/run_profiles/train.py --profile large-batch --override optimizer.lr=0.05

``train_model`` fits y = 3x - 2 (plus noise) by mini-batch gradient descent in
pure Python, so the result really depends on the profile's epochs, batch size
and learning rate.  The task logs the loss after each epoch (``ctx.log_metric``,
see ``molexp show`` and ``molexp runs -c metrics.loss.last``) and keeps the fitted
model in its artifacts folder (``ctx.artifact_dir``).
"""

import json
import random

from molexp.workflow import Task, TaskContext


def make_data(n: int = 256, seed: int = 7):
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    return [(x, 3.0 * x - 2.0 + rng.gauss(0.0, 0.1)) for x in xs]


def train_model(epochs: int, lr: float, batch_size: int = 32, seed: int = 0,
                on_epoch=None) -> dict:
    """``on_epoch(epoch, loss)`` is called after each epoch, if given."""
    data = make_data()
    rng = random.Random(seed)
    w = b = 0.0
    for epoch in range(epochs):
        rng.shuffle(data)
        for start in range(0, len(data), batch_size):
            batch = data[start:start + batch_size]
            grad_w = sum(2 * (w * x + b - y) * x for x, y in batch) / len(batch)
            grad_b = sum(2 * (w * x + b - y) for x, y in batch) / len(batch)
            w -= lr * grad_w
            b -= lr * grad_b
        if on_epoch is not None:
            on_epoch(epoch, sum((w * x + b - y) ** 2 for x, y in data) / len(data))
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    return {"epochs": epochs, "lr": lr, "batch_size": batch_size,
            "w": round(w, 4), "b": round(b, 4), "loss": round(loss, 6)}


class Train(Task):
    async def execute(self, ctx: TaskContext) -> dict:
        epochs = ctx.config.get("epochs", 100)
        lr = ctx.config.get("optimizer", {}).get("lr", 1e-3)

        if ctx.config.get("skip_heavy_compute"):
            return {"mode": "lightweight", "epochs": 1, "lr": lr}

        def log_loss(epoch: int, loss: float) -> None:
            ctx.log_metric("loss", loss, step=epoch)

        result = train_model(epochs=epochs, lr=lr, batch_size=ctx.config.get("batch_size", 32),
                             on_epoch=log_loss)
        model = {"w": result["w"], "b": result["b"]}
        (ctx.artifact_dir / "model.json").write_text(json.dumps(model))
        return result


if __name__ == "__main__":  # plain `python train.py` still works, without molexp
    print(train_model(epochs=3, lr=1e-3, batch_size=8))

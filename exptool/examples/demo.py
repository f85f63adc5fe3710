"""The built-in ``demo`` trainer: a small MLP learns to separate two interleaved spirals.

It needs no download (the data are generated from a fixed seed), runs in a few seconds on a CPU and
shows every part of exptool: a progress bar (``ctx.progress``), CSV + TensorBoard logs, a checkpoint per epoch plus
the best one, resume after an interruption (at any step, not only at epoch ends), torchrun/DDP,
and a decision-boundary image in ``visualizations/``. On a CPU it trains on one thread (the
``threads`` setting; see :mod:`exptool.threads`). Try::

    exp init-run -e demo -r first && exp train --trainer demo
    exp train --trainer demo --set epochs=20     # continues the same run for 10 more epochs

Its settings are in :data:`default_config`; every key can be changed with ``--set key=value``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

default_config: dict[str, Any] = {
    "dataset": "spirals",  # "spirals" or "moons"
    "samples": 2000,
    "noise": 0.2,
    "data_seed": 0,
    "val_fraction": 0.2,
    "hidden": 64,
    "layers": 3,
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.01,
    "weight_decay": 0.0,
    "threads": "auto",  # torch's CPU threads: "auto" (one for a model this small) or a number
}


def make_data(name: str, samples: int, noise: float, seed: int) -> tuple[Any, Any]:
    """2-D points and 0/1 labels: two interleaved ``spirals`` or two ``moons``."""
    import torch  # noqa: PLC0415

    gen = torch.Generator().manual_seed(seed)
    half = samples // 2
    if name == "spirals":
        t = torch.sqrt(torch.rand(half, generator=gen)) * 3 * math.pi
        arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / (3 * math.pi)
        x = torch.cat([arm, -arm])
    elif name == "moons":
        t = torch.rand(half, generator=gen) * math.pi
        upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
        lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
        x = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25])
    else:
        raise ValueError(f"unknown dataset {name!r}: use 'spirals' or 'moons'")
    x = x + noise * 0.1 * torch.randn(x.shape, generator=gen)
    y = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    order = torch.randperm(len(y), generator=gen)
    return x[order], y[order]


def make_model(hidden: int, layers: int) -> Any:
    """An MLP from 2 inputs to 2 classes."""
    from torch import nn  # noqa: PLC0415

    blocks: list[Any] = []
    width = 2
    for _ in range(max(1, layers - 1)):
        blocks += [nn.Linear(width, hidden), nn.Tanh()]
        width = hidden
    blocks.append(nn.Linear(width, 2))
    return nn.Sequential(*blocks)


def _evaluate(model: Any, x: Any, y: Any) -> tuple[float, float]:
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415, N812

    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return loss, acc


def decision_boundary_image(model: Any, x: Any, y: Any, title: str) -> Any:
    """An RGB image (H x W x 3 uint8 array) of the model's decision regions with the points on top."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    lo, hi = x.min(0).values - 0.15, x.max(0).values + 0.15
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy")
    model.eval()
    with torch.no_grad():
        prob = torch.softmax(model(torch.stack([gx.flatten(), gy.flatten()], 1)), 1)[:, 1].reshape(gx.shape)
    model.train()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    try:
        ax.contourf(gx.numpy(), gy.numpy(), prob.numpy(), levels=20, cmap="RdBu_r", alpha=0.6)
        ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), cmap="RdBu_r", s=6, edgecolors="none")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def _console() -> Any:
    from rich.console import Console  # noqa: PLC0415

    # Off a terminal rich would wrap at 80 columns and split paths; keep lines whole for logs.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def train(ctx: Any) -> None:
    """Train the spiral classifier in ``ctx``'s run (see the module docstring)."""
    from collections import ChainMap  # noqa: PLC0415

    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415, N812

    # `exp train` merges default_config in already; the lookups go to ctx.config, which records them.
    cfg = ChainMap(ctx.config, default_config)
    x, y = make_data(str(cfg["dataset"]), int(cfg["samples"]), float(cfg["noise"]), int(cfg["data_seed"]))
    n_val = int(len(y) * float(cfg["val_fraction"]))
    x_val, y_val, x_train, y_train = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    # Each rank takes its share of the training set; DDP averages the gradients.
    x_train, y_train = x_train[ctx.rank :: ctx.world_size], y_train[ctx.rank :: ctx.world_size]
    batch = int(cfg["batch_size"])
    steps_per_epoch = max(1, len(y_train) // batch)
    epochs = int(cfg["epochs"])

    model = make_model(int(cfg["hidden"]), int(cfg["layers"])).to(ctx.device)
    threads = ctx.use_threads(model, cfg["threads"])  # one CPU thread: more only slow a tiny MLP down
    optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    ctx.resume(model, optimizer)  # no-op on a fresh run; restores weights, optimiser and RNG otherwise
    net = ctx.wrap_model(model)  # DistributedDataParallel under torchrun, the model itself otherwise
    x_val, y_val = x_val.to(ctx.device), y_val.to(ctx.device)
    x_train, y_train = x_train.to(ctx.device), y_train.to(ctx.device)

    step = ctx.start_step
    first_epoch = step // steps_per_epoch
    console = _console() if ctx.is_main else None
    if console is not None:
        ctx.logger.log_config(ctx.config)
        on_threads = f" ({threads} thread{'s' if threads != 1 else ''})" if str(ctx.device).startswith("cpu") else ""
        where = f"resuming at step {step} (epoch {first_epoch + 1})" if ctx.is_resume else "fresh start"
        console.print(
            f"[bold]demo[/]: {cfg['dataset']}, {len(y)} points, MLP {cfg['layers']}x{cfg['hidden']}, "
            f"{epochs} epochs x {steps_per_epoch} steps, device {ctx.device}{on_threads}, {where}"
        )
    total = epochs * steps_per_epoch
    stopped = False
    # The bar on a terminal, a line every 30 s in a log; progress.json for `exp show` / `exp watch`.
    with ctx.progress(total=total, start=min(step, total), description=f"epoch {first_epoch + 1}/{epochs}") as bar:
        for epoch in range(first_epoch, epochs):
            # A fixed shuffle per epoch: a run resumed mid-epoch sees the same batches it would have.
            order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(ctx.seed + epoch))
            correct = seen = 0
            for i in range(steps_per_epoch):
                if epoch * steps_per_epoch + i < step:
                    continue  # done before the checkpoint we resumed from
                idx = order[i * batch : (i + 1) * batch].to(ctx.device)
                logits = net(x_train[idx])
                loss = F.cross_entropy(logits, y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                correct += (logits.argmax(1) == y_train[idx]).sum().item()
                seen += len(idx)
                if i < steps_per_epoch - 1:  # the epoch's last step is logged with the validation metrics
                    ctx.logger.log({"train_loss": loss.item()}, step)
                bar.update(step, description=f"epoch {epoch + 1}/{epochs}", loss=loss.item())
                if ctx.stop_requested():
                    if i == steps_per_epoch - 1:
                        ctx.logger.log({"train_loss": loss.item()}, step)
                    ctx.checkpoints.save(step=step, epoch=epoch + 1, model=model, optimizer=optimizer)
                    stopped = True
                    break
            if stopped:
                if console is not None:
                    console.print(f"[yellow]stop requested[/]: saved a checkpoint at step {step}.")
                break
            val_loss, val_acc = _evaluate(model, x_val, y_val)
            metrics = {"val_loss": val_loss, "val_acc": val_acc}
            if seen:
                metrics["train_acc"] = correct / seen
            ctx.logger.log({"train_loss": loss.item(), **metrics} if seen else metrics, step)
            ctx.checkpoints.save(step=step, epoch=epoch + 1, model=model, optimizer=optimizer, metrics=metrics)
            if console is not None:
                bar.print(
                    f"epoch {epoch + 1:>3}/{epochs}  step {step:>5}  "
                    f"train_loss {loss.item():.4f}  val_loss {val_loss:.4f}  val_acc {val_acc:.3f}"
                )
    if ctx.is_main and not stopped:
        _finish(ctx, model, x_val.cpu(), y_val.cpu(), step)


def _finish(ctx: Any, model: Any, x_val: Any, y_val: Any, step: int) -> None:
    """The decision-boundary image; `exp train` prints the one end-of-run summary (paths, best, time)."""
    model = model.cpu()
    _, val_acc = _evaluate(model, x_val, y_val)
    image = decision_boundary_image(model, x_val, y_val, f"{ctx.experiment}/{ctx.run_name}: val acc {val_acc:.1%}")
    ctx.logger.log_image("decision_boundary", image, step)


train.default_config = default_config  # type: ignore[attr-defined]  # read by `exp train` for --set


def check_config(config: dict[str, Any]) -> None:
    """Refuse demo settings it cannot train with (called by ``exp train`` before anything is written)."""
    from ..training.settings import bad_value  # noqa: PLC0415

    cfg = {**default_config, **config}
    if cfg["dataset"] not in ("spirals", "moons"):
        raise bad_value("dataset", cfg["dataset"], "expected 'spirals' or 'moons'")
    whole = {"samples": 10, "hidden": 1, "layers": 1, "epochs": 1, "batch_size": 1, "data_seed": 0}
    for key, low in whole.items():
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10**9:
            raise bad_value(key, value, f"expected a whole number of at least {low}")
    numbers = {"noise": (0.0, math.inf), "lr": (0.0, math.inf), "weight_decay": (0.0, math.inf)}
    for key, (low, high) in numbers.items():
        value = cfg[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value < high:
            raise bad_value(key, value, "expected a number of at least 0")
    from ..errors import UsageError  # noqa: PLC0415
    from ..threads import parse_threads  # noqa: PLC0415

    try:
        parse_threads(cfg["threads"])
    except UsageError:
        raise bad_value("threads", cfg["threads"], "expected a whole number of at least 1, or 'auto'") from None
    if cfg["lr"] == 0:
        raise bad_value("lr", cfg["lr"], "expected a number above 0")
    fraction = cfg["val_fraction"]
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise bad_value("val_fraction", fraction, "expected a number between 0 and 1")


train.check_config = check_config  # type: ignore[attr-defined]

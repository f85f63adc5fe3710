"""A complete trainer for `exp train`: a small MLP learns y = sin(x) from noisy samples (no download)."""

import torch
from torch import nn


def train(ctx):  # ctx: exptool.RunContext, prepared by `exp train`
    cfg = ctx.config  # the run's config.json with the --set overrides applied
    data = torch.Generator().manual_seed(cfg["data_seed"])
    x = torch.linspace(-3, 3, 512).unsqueeze(1)
    y = torch.sin(x) + cfg["noise"] * torch.randn(x.shape, generator=data)
    x, y = x.to(ctx.device), y.to(ctx.device)
    model = nn.Sequential(nn.Linear(1, cfg["hidden"]), nn.Tanh(), nn.Linear(cfg["hidden"], 1)).to(ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    ctx.resume(model, opt)  # no-op on a fresh run; restores weights, step, optimizer and RNG state
    ctx.use_threads(model)  # a tiny model trains faster on one CPU thread (config key `threads`)
    for step in range(ctx.start_step + 1, cfg["steps"] + 1):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ctx.logger.log({"loss": loss.item()}, step)  # logs/metrics.csv and TensorBoard
        if step % cfg["checkpoint_every"] == 0 or step == cfg["steps"] or ctx.should_stop:
            ctx.checkpoints.save(step=step, model=model, optimizer=opt, metrics={"loss": loss.item()})
            if ctx.should_stop:  # SIGTERM (or a cluster's time limit) asked us to stop: saved, so return
                return

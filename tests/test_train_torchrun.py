"""`exp train --nproc-per-node 2`: real torchrun, two CPU processes, a DDP model, rank-0-only writes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DDP_TRAINER = textwrap.dedent(
    """
    import json

    def ddp(ctx):
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        assert dist.is_initialized() and dist.get_backend() == "gloo"
        assert dist.get_world_size() == ctx.world_size == 2 and dist.get_rank() == ctx.rank
        if ctx.config.get("fail_on_rank") == ctx.rank:
            raise RuntimeError(f"rank {ctx.rank} gives up")
        model = torch.nn.Linear(4, 1)
        net = DistributedDataParallel(model)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        ctx.resume(model, opt)
        gen = torch.Generator().manual_seed(100 + ctx.rank)  # each rank sees different data
        for step in range(ctx.start_step + 1, 6):
            loss = net(torch.randn(8, 4, generator=gen)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            ctx.logger.log({"loss": loss.item(), "rank": ctx.rank}, step)
        ctx.checkpoints.save(step=5, epoch=0, model=model, optimizer=opt)
        weights = [torch.zeros_like(model.weight) for _ in range(ctx.world_size)]
        dist.all_gather(weights, model.weight.detach().clone())
        (ctx.path / f"rank{ctx.rank}.json").write_text(json.dumps({
            "rank": ctx.rank, "local_rank": ctx.local_rank, "world_size": ctx.world_size,
            "is_main": ctx.is_main, "seed": ctx.seed, "device": str(ctx.device),
            "same_weights": all(torch.equal(weights[0], w) for w in weights),
        }))

    def waits(ctx):
        import time

        ctx.logger.log({"loss": 1.0}, 1)
        (ctx.path / f"ready{ctx.rank}").write_text("")
        while True:
            time.sleep(0.05)
    """
)


def _new_run(exp, ws: Path, name: str, config: dict) -> Path:
    (ws / "ddp_trainer.py").write_text(DDP_TRAINER)
    cfg = ws / "config" / f"{name}.json"
    cfg.write_text(json.dumps({"logging": {"writers": ["csv"]}, **config}))
    assert exp("init-run", "-e", "dist", "-r", name, "-c", str(cfg)).returncode == 0
    return ws / "experiments" / "dist" / name


def test_two_ranks_with_ddp_only_rank_zero_writes(exp, ws):
    run_path = _new_run(exp, ws, "two", {})
    res = exp("train", "--trainer", "ddp_trainer:ddp", "--nproc-per-node", "2", "--seed", "7", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    ranks = [json.loads((run_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and [r["is_main"] for r in ranks] == [True, False]
    assert all(r["world_size"] == 2 and r["seed"] == 7 and r["same_weights"] for r in ranks)
    with open(run_path / "logs" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]  # one writer: no step twice
    assert {float(r["rank"]) for r in rows} == {0.0}
    manifest = json.loads((run_path / "checkpoints" / "manifest.json").read_text())
    assert [c["step"] for c in manifest["checkpoints"]] == [5]
    record = json.loads((run_path / "run.json").read_text())
    assert record["status"] == "completed" and record["world_size"] == 2 and record["exit_code"] == 0


def test_a_failing_rank_marks_the_run_failed(exp, ws):
    run_path = _new_run(exp, ws, "fails", {"fail_on_rank": 1})
    res = exp("train", "--trainer", "ddp_trainer:ddp", "--nproc-per-node", "2", timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rank 1 gives up" in res.stderr
    record = json.loads((run_path / "run.json").read_text())
    assert record["status"] == "failed" and record["exit_code"] == 1


def test_ctrl_c_stops_every_rank_with_a_short_message(exp, ws):
    run_path = _new_run(exp, ws, "stop", {})
    # A terminal sends Ctrl-C to the whole foreground process group: exp, torchrun and the workers.
    proc = subprocess.Popen([sys.executable, "-m", "exptool", "train", "--trainer", "ddp_trainer:waits",
                             "--nproc-per-node", "2"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not all((run_path / f"ready{r}").exists() for r in (0, 1)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "SignalException" not in err
    assert json.loads((run_path / "run.json").read_text())["status"] == "interrupted"

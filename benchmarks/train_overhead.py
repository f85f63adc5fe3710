"""Wall time of ``exp train`` on a trivial trainer against ``python -c`` running the same function
with the same logging (CSV + TensorBoard), as a ratio. Target: under 1.3x.

Both sides import torch (the trainer does) and log the same steps; ``exp train`` adds the CLI, the
trainer registry, the lock, run.json with provenance (git), seeding, the device and the
CheckpointManager. Runs alternate between the two sides so machine noise hits both alike.

Usage: python benchmarks/train_overhead.py [--repeats 5] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import exp_command, time_command

TRAINER = '''
def body(logger, steps):
    import torch

    value = torch.zeros(1)
    for step in range(1, steps + 1):
        value += 1.0 / step
        logger.log({"loss": 1.0 / step, "total": value.item()}, step)


def train(ctx):
    body(ctx.logger, int(ctx.config.get("steps", 200)))
'''

BASELINE = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench_trainer import body
from exptool.tracking import Logger
from exptool.workspace import Workspace
run = Workspace(Path({root!r})).run("bench", {run!r})
logger = Logger(run=run)
logger.initialize("csv", "tensorboard")
body(logger, {steps})
logger.finish()
"""


def _rounded(times: list[float]) -> list[float]:
    return sorted(round(t, 3) for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    exp_cmd = exp_command()
    tmp = Path(tempfile.mkdtemp(prefix="exptool-bench-"))
    try:
        root = tmp / "ws"
        env = {**os.environ, "EXPTOOL_STATE_DIR": str(tmp / "state"), "WANDB_MODE": "offline"}
        env.pop("EXPTOOL_ROOT", None)
        subprocess.run([*exp_cmd, "init", str(root)], env=env, check=True, capture_output=True)
        (root / "bench_trainer.py").write_text(TRAINER)
        exp_times, base_times = [], []
        for i in range(args.repeats + 1):  # the first round warms the file cache and is dropped
            name = f"r{i}"
            subprocess.run(
                [*exp_cmd, "init-run", "-e", "bench", "-r", name], cwd=root, env=env, check=True, capture_output=True
            )
            (root / "experiments" / "bench" / name / "config.json").write_text(json.dumps({"steps": args.steps}))
            train_cmd = [*exp_cmd, "train", "-e", "bench", "-r", name, "--trainer", "bench_trainer:train"]
            t_exp, _ = time_command(train_cmd, root, env)
            base = f"b{i}"
            subprocess.run(
                [*exp_cmd, "init-run", "-e", "bench", "-r", base], cwd=root, env=env, check=True, capture_output=True
            )
            code = BASELINE.format(root=str(root), run=base, steps=args.steps)
            t_base, _ = time_command([sys.executable, "-c", code], root, env)
            if i:
                exp_times.append(t_exp)
                base_times.append(t_base)
        exp_med, base_med = statistics.median(exp_times), statistics.median(base_times)
        print(f"steps per run: {args.steps}, repeats: {args.repeats}")
        print(f"python -c (same function, same Logger): median {base_med:.3f} s  {_rounded(base_times)}")
        print(f"exp train --trainer bench_trainer:train: median {exp_med:.3f} s  {_rounded(exp_times)}")
        print(f"ratio exp train / python -c: {exp_med / base_med:.2f}x (target < 1.30x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

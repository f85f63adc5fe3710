"""What a sweep costs per point: ``exp sweep -j 1`` and ``-j 2`` against sequential ``exp train`` calls.

The trainer imports torch (as real ones do) and then spins the CPU on one thread for about
``--point`` seconds (a fixed amount of work, calibrated in this process first). Measured, all in
one run, alternating so machine noise hits every side alike:

- ``train``: N sequential ``exp train`` calls, one run each (each pays Python + torch start-up);
- ``sweep -j 1`` and ``sweep -j 2`` over N points, and over a few points (``--small``), so the
  per-point cost can be told apart from the one-time start of the sweep and its workers:
  per point = (T(N) - T(small)) / (N - small).

Printed: the per-point overhead of the pool as a fraction of a point (target < 10%), the -j 2
over -j 1 throughput (target >= 1.7x on 2 cores), and the sweep against sequential ``exp train``.

Usage: python benchmarks/sweep_overhead.py [--points 20] [--small 4] [--point 0.5] [--repeats 1]
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
import time
from pathlib import Path

from _timing import exp_command, time_command

TRAINER = '''
import torch  # noqa: F401 - a real trainer imports it; the pool's workers pay for it once

def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x

def train(ctx):
    spin(int(ctx.config["n"]))
    ctx.logger.log({"loss": 1.0}, 1)
'''


def _calibrate(seconds: float) -> int:
    """Iterations of the trainer's loop that take ``seconds`` here (best of three)."""
    namespace: dict = {}
    exec(TRAINER.replace("import torch", "pass  #"), namespace)  # noqa: S102 - our own code
    n = 200_000
    while True:
        best = min(_timed(namespace["spin"], n) for _ in range(3))
        if best > 0.05:
            return int(n * seconds / best)
        n *= 4


def _timed(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--small", type=int, default=4)
    parser.add_argument("--point", type=float, default=0.5, help="seconds of work per point")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    n = _calibrate(args.point)
    exp_cmd = exp_command()
    tmp = Path(tempfile.mkdtemp(prefix="exptool-bench-"))
    try:
        root = tmp / "ws"
        env = {**os.environ, "EXPTOOL_STATE_DIR": str(tmp / "state"), "WANDB_MODE": "offline"}
        env.pop("EXPTOOL_ROOT", None)
        subprocess.run([*exp_cmd, "init", str(root)], env=env, check=True, capture_output=True)
        (root / "bench_trainer.py").write_text(TRAINER)
        (root / "config" / "bench.json").write_text(json.dumps({"logging": {"writers": ["csv"]}, "n": n}))
        times: dict[str, list[float]] = {}
        for rep in range(args.repeats):
            work = min(_timed(_spin_fn(), n) for _ in range(2))
            times.setdefault("work", []).append(work)
            for jobs in (1, 2):
                for count in (args.small, args.points):
                    key = f"sweep-j{jobs}-{count}"
                    cmd = [*exp_cmd, "sweep", "-e", "bench", "--name", f"s{rep}j{jobs}n{count}", "-c", "bench",
                           "-t", "bench_trainer:train", "--set", "+idx=" + ",".join(map(str, range(count))),
                           "-j", str(jobs)]
                    times.setdefault(key, []).append(time_command(cmd, root, env)[0])
            total = 0.0
            for i in range(args.points):
                cmd = [*exp_cmd, "train", "-e", "bench", "-r", f"t{rep}-{i}", "--create", "-c", "bench",
                       "-t", "bench_trainer:train"]
                total += time_command(cmd, root, env)[0]
            times.setdefault("train", []).append(total)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    extra = args.points - args.small
    per_point = {j: (med[f"sweep-j{j}-{args.points}"] - med[f"sweep-j{j}-{args.small}"]) / extra for j in (1, 2)}
    fixed = med[f"sweep-j1-{args.small}"] - args.small * per_point[1]
    work = med["work"]
    print(f"one point's work: {work:.3f} s (target {args.point} s); {args.points} points, small sweep {args.small}")
    print(f"{args.points} sequential exp train: {med['train']:.2f} s ({med['train'] / args.points:.2f} s per point)")
    for j in (1, 2):
        print(f"exp sweep -j {j}: {med[f'sweep-j{j}-{args.points}']:.2f} s for {args.points} points, "
              f"{per_point[j]:.3f} s per point in steady state")
    print(f"sweep start-up (process + workers importing torch), once: {fixed:.2f} s")
    print(f"RATIO per-point overhead of -j 1 / one point's work: {(per_point[1] - work) / work:.3f} (target < 0.10)")
    print(f"RATIO throughput -j 2 / -j 1, steady state: {per_point[1] / per_point[2]:.2f}x (target >= 1.7x); "
          f"whole sweeps: {med[f'sweep-j1-{args.points}'] / med[f'sweep-j2-{args.points}']:.2f}x")
    print(f"RATIO {args.points} sequential exp train / exp sweep -j 1: "
          f"{med['train'] / med[f'sweep-j1-{args.points}']:.2f}x")


def _spin_fn():
    namespace: dict = {}
    exec(TRAINER.replace("import torch", "pass  #"), namespace)  # noqa: S102 - our own code
    return namespace["spin"]


if __name__ == "__main__":
    sys.exit(main())

"""What a sweep costs per point: ``exp sweep -j 1`` and ``-j 2`` against sequential ``exp train`` calls.

The trainer imports torch (as real ones do) and then spins the CPU on one thread for about
``--point`` seconds (a fixed amount of work, calibrated in this process first). Measured in one run:

- the pool's own cost per point: ``exp sweep -j 1`` over ``--small`` and over ``--points`` points of
  a trainer that does no work; per point = (T(points) - T(small)) / (points - small), which leaves
  out the one-time start of the sweep and its worker. Printed as a fraction of ``--point``
  (target < 10%).
- throughput: ``--points`` points of the spinning trainer with ``-j 1`` and with ``-j 2``
  (target: -j 2 at least 1.7x -j 1 on 2 cores), whole sweeps and steady state;
- the same points as ``--points`` sequential ``exp train`` calls (each pays Python + torch start-up).

On a shared machine the spinning trainer's own time varies with the load: the work per point as
the workers measured it is printed beside the figures.

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
    import time
    start = time.perf_counter()
    spin(int(ctx.config["n"]))
    ctx.logger.log({"work_s": time.perf_counter() - start}, 1)  # the work alone, as the worker saw it
'''


def _calibrate(seconds: float) -> int:
    """Iterations of the trainer's loop that take ``seconds`` here (best of three)."""
    namespace: dict = {}
    exec(TRAINER.replace("import torch", "pass  #"), namespace)  # noqa: S102 - our own code
    n = 200_000
    while True:
        best = min(_timed(namespace["spin"], n) for _ in range(3))
        if best > 0.05:
            break
        n *= 4
    n = int(n * seconds / best)
    # A short timing on a shared machine can be off by half: time the whole amount, and scale again.
    return int(n * seconds / min(_timed(namespace["spin"], n) for _ in range(2)))


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
        (root / "config" / "zero.json").write_text(json.dumps({"logging": {"writers": ["csv"]}, "n": 0}))
        times: dict[str, list[float]] = {}

        def sweep(name: str, config: str, count: int, jobs: int) -> float:
            cmd = [*exp_cmd, "sweep", "-e", "bench", "--name", name, "-c", config, "-t", "bench_trainer:train",
                   "--set", "+idx=" + ",".join(map(str, range(count))), "-j", str(jobs)]
            return time_command(cmd, root, env)[0]

        for rep in range(args.repeats):
            times.setdefault("work", []).append(min(_timed(_spin_fn(), n) for _ in range(2)))
            for count in (args.small, args.points):
                times.setdefault(f"zero-{count}", []).append(sweep(f"z{rep}n{count}", "zero", count, 1))
            for jobs in (1, 2):
                for count in (args.small, args.points):
                    name = f"s{rep}j{jobs}n{count}"
                    times.setdefault(f"sweep-j{jobs}-{count}", []).append(sweep(name, "bench", count, jobs))
                    if count == args.points:
                        times.setdefault(f"work-j{jobs}", []).append(_work(root, name))
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
    cost = (med[f"zero-{args.points}"] - med[f"zero-{args.small}"]) / extra
    steady = {j: (med[f"sweep-j{j}-{args.points}"] - med[f"sweep-j{j}-{args.small}"]) / extra for j in (1, 2)}
    whole = {j: med[f"sweep-j{j}-{args.points}"] for j in (1, 2)}
    print(f"one point's work: {med['work']:.3f} s calibrated (target {args.point} s); inside the workers "
          f"{med['work-j1']:.3f} s at -j 1, {med['work-j2']:.3f} s at -j 2")
    print(f"pool cost per point (no work): {cost * 1000:.1f} ms; sweep start-up once: "
          f"{med[f'zero-{args.small}'] - args.small * cost:.2f} s")
    print(f"{args.points} sequential exp train: {med['train']:.2f} s ({med['train'] / args.points:.2f} s per point)")
    for j in (1, 2):
        print(f"exp sweep -j {j}: {whole[j]:.2f} s for {args.points} points "
              f"({steady[j]:.3f} s per point in steady state)")
    print(f"RATIO pool cost per point / {args.point} s point: {cost / args.point:.3f} (target < 0.10)")
    print(f"RATIO throughput -j 2 / -j 1: {whole[1] / whole[2]:.2f}x whole sweeps, "
          f"{steady[1] / steady[2]:.2f}x steady state (target >= 1.7x)")
    print(f"RATIO {args.points} sequential exp train / exp sweep -j 1: {med['train'] / whole[1]:.2f}x, "
          f"/ -j 2: {med['train'] / whole[2]:.2f}x")


def _work(root: Path, sweep: str) -> float:
    """Mean seconds of work per point, as the trainers measured it inside the workers."""
    values = []
    for run in (root / "experiments" / "bench").glob(f"{sweep}-*"):
        rows = (run / "logs" / "metrics.csv").read_text().splitlines()
        header, last = rows[0].split(","), rows[-1].split(",")
        values.append(float(last[header.index("work_s")]))
    return statistics.mean(values)


def _spin_fn():
    namespace: dict = {}
    exec(TRAINER.replace("import torch", "pass  #"), namespace)  # noqa: S102 - our own code
    return namespace["spin"]


if __name__ == "__main__":
    sys.exit(main())

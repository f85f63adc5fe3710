"""The built-in demo with torch's default CPU thread count against exptool's choice (one thread).

Run: ``python benchmarks/demo_threads.py [--busy 2] [--repeats 1]``

Trains the demo (10 epochs of a 3x64 MLP) in fresh runs with ``--set threads=N`` (N = the number of
cores, what torch picks by itself) and with the default ``threads: auto``, alternately, and prints
the wall times and their ratio. ``--busy N`` keeps N other processes spinning on the CPU meanwhile,
like a data loader or a neighbour's job: that is where the thread pool hurts most.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from _timing import exp_command, time_command
from checkpoint_save import _busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning on the CPU meanwhile")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    exp = exp_command()
    times: dict[str, list[float]] = {f"threads={cores} (torch's default)": [], "threads=auto (exptool)": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp, _busy(args.busy):
        ws = Path(tmp) / "ws"
        time_command([*exp, "init", str(ws)], Path(tmp), env)
        for repeat in range(args.repeats):
            for label, extra in zip(times, (["--set", f"threads={cores}"], []), strict=True):
                run = f"r{repeat}_{len(times[label])}_{'auto' if not extra else 'default'}"
                cmd = [*exp, "train", "-e", "demo", "-r", run, "--create", "--trainer", "demo", *extra]
                times[label].append(time_command(cmd, ws, env)[0])
    print(f"the demo (10 epochs), {cores} cores, {args.busy} busy processes beside, median of {args.repeats}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    for label, value in medians.items():
        print(f"  {label:<32} {value:7.1f} s")
    default, auto = medians.values()
    print(f"torch's default thread count took {default / auto:.2f}x the time of exptool's choice")


if __name__ == "__main__":
    main()

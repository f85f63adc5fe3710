"""What the system-metrics sampler costs the training thread, against no sampler, in one run.

Run: ``python benchmarks/system_metrics_overhead.py [--interval S] [--block-s S] [--rounds N]``.
Target: under 0.5% of a 10 ms step at the default 10 s interval.

A "step" is 10 ms of pure-Python work plus a ``Logger.log`` of 10 scalars (CSV + TensorBoard):
pure Python holds the GIL, the worst case for a background thread. Blocks of steps with and
without a sampler alternate (ABBA) so a busy neighbour hits both; the figure is the ratio of the
median per-step times. The measured interval defaults to 1 s (ten times the default rate, so a
short run sees enough samples); the cost at 10 s is that overhead divided by ten, and is also
bounded by the sampler thread's own CPU time per sample, printed too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from exptool.tracking import Logger
from exptool.tracking.system import SystemSampler
from exptool.workspace import Workspace

STEP_S = 0.010
TARGET = 0.005
DEFAULT_INTERVAL_S = 10.0


def _work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def _calibrate() -> int:
    n = 10_000
    while True:
        start = time.perf_counter()
        _work(n)
        took = time.perf_counter() - start
        if took > 0.05:
            return max(1, int(n * STEP_S / took))
        n *= 2


def _block(run, n_work: int, seconds: float, interval: float | None) -> tuple[float, int]:
    """Mean seconds per step over about ``seconds`` of steps; samples taken."""
    steps = max(10, int(seconds / STEP_S))
    # Each block logs steps 1..n again: the earlier blocks' rows are of no interest here.
    with Logger(run=run, echo=False, make_current=False, history="restart") as logger:
        logger.initialize("csv", "tensorboard")
        system = logger.log_system_metrics(interval) if interval else None
        base = 1
        start = time.perf_counter()
        for step in range(base, base + steps):
            _work(n_work)
            logger.log({f"m{i}": 0.1 * i for i in range(10)}, step)
        elapsed = time.perf_counter() - start
        samples = system.samples if system is not None else 0
    return elapsed / steps, samples


def _sample_cpu_ms(samples: int = 20) -> float:
    """CPU time of the sampler's thread per sample (psutil, NVML, the emit) in milliseconds."""
    cpu: list[float] = []

    def emit(t: float, values: dict) -> None:
        cpu.append(time.thread_time())

    sampler = SystemSampler(emit, interval=0.05).start()
    while len(cpu) < samples:
        time.sleep(0.05)
    sampler.stop(final_sample=False)
    per = [b - a for a, b in zip(cpu, cpu[1:], strict=False)]
    return statistics.median(per) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval measured (s)")
    parser.add_argument("--block-s", type=float, default=8.0, help="seconds of steps per block")
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds")
    args = parser.parse_args()
    n_work = _calibrate()
    with tempfile.TemporaryDirectory() as tmp:
        ws, _ = Workspace.init(Path(tmp) / "ws")
        run = ws.run("bench", "system")
        run.create()
        _block(run, n_work, 1.0, None)  # warm up imports and files
        base, with_sampler, samples = [], [], 0
        for _ in range(args.rounds):
            for interval in (None, args.interval, args.interval, None):
                per_step, got = _block(run, n_work, args.block_s, interval)
                (with_sampler if interval else base).append(per_step)
                samples += got
    b, s = statistics.median(base), statistics.median(with_sampler)
    ratio = s / b
    scaled = (ratio - 1.0) * args.interval / DEFAULT_INTERVAL_S
    cpu_ms = _sample_cpu_ms()
    bound = cpu_ms / 1e3 / DEFAULT_INTERVAL_S
    print(f"step: {b * 1e3:.2f} ms without a sampler, {s * 1e3:.2f} ms with one every {args.interval:g} s "
          f"({samples} samples over {2 * args.rounds} blocks of {args.block_s:g} s)")
    print(f"ratio at {args.interval:g} s: {ratio:.4f}x ({(ratio - 1) * 100:+.2f}%)")
    print(f"at the default {DEFAULT_INTERVAL_S:g} s: {scaled * 100:+.3f}% (measured, scaled by the sample rate)")
    print(f"sampler thread: {cpu_ms:.2f} ms CPU per sample -> at most {bound * 100:.3f}% of the training "
          f"thread's time at {DEFAULT_INTERVAL_S:g} s")
    ok = max(scaled, 0.0) < TARGET and bound < TARGET
    print(f"target < {TARGET * 100:.1f}% at {DEFAULT_INTERVAL_S:g} s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

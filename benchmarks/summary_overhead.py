"""What the run summary (``<run>/summary.json``) costs a training loop per ``Logger.log`` call.

The same Logger logs the same steps twice, to a writer that does nothing: once with the summary
tracker detached (the baseline) and once as shipped. The difference, divided by the calls, is the
summary's cost per ``log`` call (target: under 1 µs on average). Each case is repeated and the
fastest repeat counts (the least disturbed by other work on a shared machine); times are the
process's CPU time.

    python benchmarks/summary_overhead.py [--steps 200000] [--metrics 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

TARGET_US = 1.0


def _logger(root: Path, label: str, with_summary: bool):
    from exptool.tracking import Logger
    from exptool.tracking.writers.base import Writer
    from exptool.workspace import Workspace

    class Nothing(Writer):
        name = "nothing"

        def log_metrics(self, step, metrics, wall_time):
            pass

    ws, _ = Workspace.init(root / label)
    run = ws.run("bench", label)
    run.create(exist_ok=True)
    logger = Logger(run=run, rank=0, make_current=False, echo=False)
    logger.add_writer(Nothing())
    if not with_summary:
        logger._summary.release(logger._pending)
        logger._summary = logger._pending = None
    return logger


def _time(root: Path, label: str, with_summary: bool, rows: list[dict[str, float]]) -> float:
    logger = _logger(root, label, with_summary)
    start = time.process_time()  # CPU time of this process: steadier than wall time on a shared machine
    for step, row in enumerate(rows):
        logger.log(row, step)
    logger.finish()
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(0)
    names = [f"train/metric_{i}" for i in range(args.metrics)]
    pool = [{n: rng.random() for n in names} for _ in range(1000)]
    rows = [dict(pool[s % len(pool)]) for s in range(args.steps)]
    import numpy  # noqa: F401 - a training process has it loaded; its import is not the summary's cost
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, summ = [], []
        for i in range(args.repeats):
            base.append(_time(root, f"base{i}", False, rows))
            summ.append(_time(root, f"summary{i}", True, rows))
    b, s = min(base) / args.steps * 1e6, min(summ) / args.steps * 1e6
    cost = s - b
    print(f"Python {sys.version.split()[0]}, {args.steps} log calls x {args.metrics} metrics, best of {args.repeats}")
    print(f"Logger.log without summary  {b:6.2f} us/call")
    print(f"Logger.log with summary     {s:6.2f} us/call  ({s / b:.2f}x)")
    verdict = "OK" if cost < TARGET_US else "ABOVE TARGET"
    print(f"summary cost                {cost:6.2f} us/call  target < {TARGET_US:g} us  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

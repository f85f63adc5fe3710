"""W&B: steps kept and caller time of exptool's W&B writer against raw ``wandb.log``, offline.

Run: ``python benchmarks/wandb_backlog.py [--steps 100000] [--metrics 10]``

Both log the same steps (10 scalars each) as fast as the loop can go, far faster than W&B takes
them, into offline runs; then every step is counted in the ``.wandb`` file with the tests' reader
(wandb's own protobuf records). Prints steps kept (the target is 100%), microseconds per step
seen by the caller (the ``log`` calls alone, and until ``finish`` returns), and how much the
process's memory grew while logging (the writer's backlog is bounded, so it must stay flat).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _peak_rss():
    """Yields a dict that gets ``grew``: the peak resident memory above the starting point, in bytes."""
    result = {"grew": 0}
    start, stop = _rss(), threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            result["grew"] = max(result["grew"], _rss() - start)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["grew"] = max(result["grew"], _rss() - start)


def _rows(steps: int, metrics: int) -> list[dict[str, float]]:
    names = [f"train/metric_{i}" for i in range(metrics)]
    pool = [{n: (s * 7 + i) % 1000 / 1000 for i, n in enumerate(names)} for s in range(1000)]
    return [pool[s % 1000] for s in range(steps)]


def _count_steps(logs: Path) -> int:
    from test_tracking_readers import wandb_records

    return sum(1 for r in wandb_records(logs) if r.WhichOneof("record_type") == "history")


def bench_raw(tmp: Path, rows: list[dict[str, float]]) -> dict[str, float]:
    import wandb

    logs = tmp / "raw" / "logs"
    logs.mkdir(parents=True)
    run = wandb.init(project="bench", dir=str(logs), mode="offline", reinit="create_new")
    with _peak_rss() as mem:
        start = time.perf_counter()
        for step, row in enumerate(rows):
            run.log(row, step=step)
        logged = time.perf_counter() - start
    run.finish()
    wandb.teardown()
    total = time.perf_counter() - start
    return {"log": logged, "total": total, "kept": _count_steps(logs), "grew": mem["grew"]}


def bench_exptool(tmp: Path, rows: list[dict[str, float]]) -> dict[str, float]:
    from exptool.tracking import Logger
    from exptool.workspace import Workspace

    ws, _ = Workspace.init(tmp / "ws")
    run = ws.run("bench", "wandb")
    run.create()
    logger = Logger(run=run, rank=0, make_current=False, echo=False)
    writer = logger.initialize_wandb("bench", mode="offline")
    log = logger.log
    with _peak_rss() as mem:
        start = time.perf_counter()
        for step, row in enumerate(rows):
            log(row, step)
        logged = time.perf_counter() - start
    logger.finish()
    total = time.perf_counter() - start
    return {"log": logged, "total": total, "kept": _count_steps(run.logs_dir), "grew": mem["grew"],
            "peak_backlog": writer.backlog.peak, "waits": writer.backlog.waits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--metrics", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("WANDB_SILENT", "true")
    rows = _rows(args.steps, args.metrics)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp_name:
        tmp = Path(tmp_name)
        raw = bench_raw(tmp, rows)
        ours = bench_exptool(tmp, rows)
    print(f"{args.steps:,} steps x {args.metrics} scalars, offline")
    for label, r in (("raw wandb.log", raw), ("exptool W&B writer", ours)):
        print(f"  {label:<20} kept {r['kept']:>9,} ({r['kept'] / args.steps:7.2%})   "
              f"log calls {r['log'] / args.steps * 1e6:7.1f} us/step   until finished "
              f"{r['total'] / args.steps * 1e6:7.1f} us/step   memory +{r['grew'] / 2**20:6.1f} MiB")
    print(f"  backlog peak {ours['peak_backlog'] / 2**20:.1f} MiB, the caller waited for room {ours['waits']:,} times")
    print(f"steps kept: {ours['kept'] / args.steps:.2%} (target 100%); caller time per step "
          f"{ours['log'] / raw['log']:.2f}x raw wandb.log, until finished {ours['total'] / raw['total']:.2f}x")


if __name__ == "__main__":
    main()

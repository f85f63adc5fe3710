"""Long metrics files: opening, resuming and adding a late column on a 1M-row ``metrics.csv``.

Run: ``python benchmarks/csv_long_files.py [--rows 1000000] [--repeats 3]``

Builds a run whose ``logs/metrics.csv`` has ``--rows`` rows of 10 metrics (about 190 MiB), then
measures, as medians, each against a baseline from the same run:

- a ``Logger`` opening that run with the CSV writer, against opening an empty run (targets: under
  50 ms and under 20 MiB of extra memory);
- the same with ``resume_step`` in the middle of the file (its second half is cut off);
- a metric first logged at the end (the whole file is rewritten with one more column), against
  the floor for any rewrite: reading the file, writing it to a new one and fsyncing it (targets:
  under 2x, under 64 MiB of extra memory).

Memory is the peak of Python's allocations during the operation (``tracemalloc``), measured in a
separate pass so that tracing does not slow the timed one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from exptool.tracking import Logger
from exptool.workspace import Workspace

_NAMES = [f"train/metric_{i}" for i in range(10)]


def _fill(path: Path, rows: int) -> None:
    values = ",".join(repr(0.123456789012345 + i) for i in range(len(_NAMES)))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["step", "wall_time", *_NAMES]) + "\n")
        for start in range(0, rows, 10_000):
            fh.write("".join(f"{s},{1.7e9 + s * 0.25!r},{values}\n" for s in range(start, min(rows, start + 10_000))))


def _settle() -> None:
    if hasattr(os, "sync"):
        os.sync()


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _open(run, **kwargs):
    def go():
        logger = Logger(run=run, rank=0, make_current=False, echo=False, **kwargs)
        logger.initialize("csv")
        logger.finish()
    return go


def _floor(src: Path, dst: Path) -> None:
    """Read ``src`` and write it to ``dst`` in 4 MiB chunks, then fsync: the least any rewrite costs."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(4 << 20):
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())


def _late_column(run, name: str, step: int):
    def go():
        logger = Logger(run=run, rank=0, make_current=False, echo=False)
        writer = logger.add_writer("csv")
        before = writer.rewrites
        start = time.perf_counter()
        logger.log({name: 1.0}, step)
        elapsed = time.perf_counter() - start
        assert writer.rewrites == before + 1
        logger.finish()
        return elapsed
    return go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp_name:
        tmp = Path(tmp_name)
        ws, _ = Workspace.init(tmp / "ws")
        empty, full = ws.run("bench", "empty"), ws.run("bench", "long")
        for run in (empty, full):
            run.create()
        _fill(full.metrics_path, args.rows)
        pristine = tmp / "pristine.csv"
        shutil.copyfile(full.metrics_path, pristine)
        size = full.metrics_path.stat().st_size
        times: dict[str, list[float]] = {k: [] for k in ("open empty", "open long", "resume middle",
                                                         "floor", "late column")}
        for repeat in range(args.repeats):
            _settle()  # an fsync must not pay for the copy made before it
            times["open empty"].append(_timed(_open(empty)))
            _settle()
            times["open long"].append(_timed(_open(full)))
            _settle()
            times["floor"].append(_timed(lambda: _floor(full.metrics_path, tmp / "copy.csv")))
            _settle()
            times["late column"].append(_late_column(full, f"late_{repeat}", args.rows)())
            shutil.copyfile(pristine, full.metrics_path)
            _settle()
            times["resume middle"].append(_timed(_open(full, resume_step=args.rows // 2)))
            shutil.copyfile(pristine, full.metrics_path)
        memory = {
            "open long": _peak(_open(full)),
            "resume middle": _peak(_open(full, resume_step=args.rows // 2)),
        }
        shutil.copyfile(pristine, full.metrics_path)
        memory["late column"] = _peak(_late_column(full, "late_traced", args.rows))
        memory["open empty"] = _peak(_open(empty))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"metrics.csv: {args.rows:,} rows x {len(_NAMES)} metrics, {size / 2**20:.0f} MiB; "
          f"median of {args.repeats}, memory = peak Python allocations")
    for key in ("open empty", "open long", "resume middle", "floor", "late column"):
        mem = f"{memory[key] / 2**20:7.2f} MiB" if key in memory else " " * 11
        print(f"  {key:<14} {med[key] * 1000:9.1f} ms   {mem}")
    ratio = med["open long"] / med["open empty"]
    print(f"Logger open on the long file: {med['open long'] * 1000:.1f} ms, {ratio:.2f}x an empty run,"
          f" {memory['open long'] / 2**20:.2f} MiB (targets: < 50 ms, < 20 MiB)")
    print(f"resume into the middle: {med['resume middle'] * 1000:.0f} ms, {memory['resume middle'] / 2**20:.2f} MiB")
    print(f"late-column rewrite: {med['late column'] / med['floor']:.2f}x read+write+fsync, "
          f"{memory['late column'] / 2**20:.1f} MiB (targets: < 2x, < 64 MiB)")


if __name__ == "__main__":
    main()

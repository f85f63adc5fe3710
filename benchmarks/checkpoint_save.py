"""Checkpoint save speed: exptool against a plain ``torch.save`` of the same ~100 MB model.

Run: ``python benchmarks/checkpoint_save.py [--mb 100] [--repeats 5] [--busy N]``
(``--mb 8 --repeats 20`` for the fixed cost of small saves: target <= 1.2x ``torch.save + fsync``)

Prints the median time of each way of saving and the ratios to plain ``torch.save`` measured in
the same run, interleaved so that disk and page-cache noise hits every variant alike. Targets:
synchronous save <= 1.1x, asynchronous caller-blocked time <= 0.2x. ``torch.save + fsync`` is shown
too, because exptool flushes every checkpoint to disk and plain ``torch.save`` does not.
``--busy N`` keeps N other processes spinning on the CPU meanwhile, like a data loader or a
neighbour's job would, so the figures under load can be reproduced.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from exptool.checkpoints import CheckpointManager


def _model(megabytes: float) -> torch.nn.Module:
    width = 1024
    layers = max(1, round(megabytes * 2**20 / (4 * (width * width + width))))
    return torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])


def _plain(model: torch.nn.Module, path: Path, fsync: bool) -> None:
    torch.save({"model_state_dict": model.state_dict()}, path)
    if fsync:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def _settle() -> None:
    """Flush every dirty page first, so that no variant pays for the disk writes of the one before."""
    if hasattr(os, "sync"):
        os.sync()


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def _busy(processes: int):
    """Keep ``processes`` other processes busy on the CPU for the duration."""
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="model size in MB (float32 parameters)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning on the CPU meanwhile")
    args = parser.parse_args()

    model = _model(args.mb)
    size_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    times: dict[str, list[float]] = {"torch.save": [], "torch.save + fsync": [], "exptool save": [],
                                     "exptool save + wait (durable)": [], "exptool save_async (blocked)": [],
                                     "exptool save_async (until done)": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp, _busy(args.busy):
        tmp = Path(tmp)
        manager = CheckpointManager(tmp / "ckpt", keep_last=1, keep_best=0)
        for step in range(args.repeats + 1):  # the first round warms up and is not counted
            rounds = {}
            _settle()
            start = time.perf_counter()
            _plain(model, tmp / "plain.pth", fsync=False)
            rounds["torch.save"] = time.perf_counter() - start
            _settle()
            start = time.perf_counter()
            _plain(model, tmp / "plain_fsync.pth", fsync=True)
            rounds["torch.save + fsync"] = time.perf_counter() - start
            _settle()
            start = time.perf_counter()
            manager.save(step=2 * step, model=model)
            rounds["exptool save"] = time.perf_counter() - start
            manager.wait()  # the folder flush and pruning, which run behind the caller
            rounds["exptool save + wait (durable)"] = time.perf_counter() - start
            _settle()
            start = time.perf_counter()
            manager.save_async(step=2 * step + 1, model=model)
            rounds["exptool save_async (blocked)"] = time.perf_counter() - start
            manager.wait()
            rounds["exptool save_async (until done)"] = time.perf_counter() - start
            if step:
                for key, value in rounds.items():
                    times[key].append(value)
    base = statistics.median(times["torch.save"])
    print(f"model: {size_mb:.1f} MB of float32 parameters, {args.repeats} repeats, median seconds, "
          f"{args.busy} busy processes beside")
    for key, values in times.items():
        median = statistics.median(values)
        print(f"  {key:<34} {median:8.3f} s   {median / base:5.2f}x torch.save")
    sync_ratio = statistics.median(times["exptool save"]) / base
    durable_ratio = statistics.median(times["exptool save"]) / statistics.median(times["torch.save + fsync"])
    async_ratio = statistics.median(times["exptool save_async (blocked)"]) / base
    waited_ratio = statistics.median(times["exptool save + wait (durable)"]) / statistics.median(
        times["torch.save + fsync"])
    print(f"sync ratio {sync_ratio:.2f}x (target <= 1.1x); {durable_ratio:.2f}x torch.save + fsync "
          f"(target <= 1.2x; {waited_ratio:.2f}x with the folder flush waited for); "
          f"async caller-blocked ratio {async_ratio:.2f}x (target <= 0.2x)")


if __name__ == "__main__":
    main()

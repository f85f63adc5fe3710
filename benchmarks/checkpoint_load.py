"""Checkpoint load speed: ``CheckpointManager.load`` against ``torch.load`` + ``load_state_dict``.

Run: ``python benchmarks/checkpoint_load.py [--mb 1024] [--repeats 5] [--busy N]``

Saves one ~1 GiB model, then loads it into a model of the same shape again and again, interleaving
the ways of loading so that page-cache noise hits each alike (the file stays in the page cache:
these are warm loads). Baselines measured in the same run: ``torch.load`` then ``load_state_dict``
with torch's default intra-op threads, and the same on one thread (the reference: a copy is
memory-bound, and on a busy machine the thread pool makes it many times slower). Target: exptool
at most 1.2x the one-thread figure. ``--busy N`` keeps N other processes spinning on the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from checkpoint_save import _busy, _model

from exptool.checkpoints import CheckpointManager
from exptool.threads import limited_threads


def _plain(path: Path, model: torch.nn.Module, one_thread: bool) -> None:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if one_thread:
        with limited_threads(1):
            model.load_state_dict(data["model_state_dict"])
    else:
        model.load_state_dict(data["model_state_dict"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1024.0, help="model size in MB (float32 parameters)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning on the CPU meanwhile")
    args = parser.parse_args()

    source = _model(args.mb)
    target = _model(args.mb)
    size_mb = sum(p.numel() * p.element_size() for p in source.parameters()) / 2**20
    times: dict[str, list[float]] = {"torch.load + load_state_dict": [], "  the same on one thread": [],
                                     "exptool load": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp, _busy(args.busy):
        manager = CheckpointManager(Path(tmp) / "ckpt", keep_last=1, keep_best=0)
        path = manager.save(step=0, model=source)
        manager.wait()
        del source
        for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
            rounds = {}
            start = time.perf_counter()
            _plain(path, target, one_thread=False)
            rounds["torch.load + load_state_dict"] = time.perf_counter() - start
            start = time.perf_counter()
            _plain(path, target, one_thread=True)
            rounds["  the same on one thread"] = time.perf_counter() - start
            start = time.perf_counter()
            manager.load("last", target)
            rounds["exptool load"] = time.perf_counter() - start
            if repeat:
                for key, value in rounds.items():
                    times[key].append(value)
    median = {k: statistics.median(v) for k, v in times.items()}
    reference = median["  the same on one thread"]
    print(f"model: {size_mb:.0f} MB of float32 parameters, {torch.get_num_threads()} intra-op threads, "
          f"{args.repeats} repeats, median seconds, {args.busy} busy processes beside")
    for key, value in median.items():
        print(f"  {key:<32} {value:8.3f} s   {value / reference:5.2f}x one thread")
    print(f"exptool load: {median['exptool load'] / reference:.2f}x torch.load + load_state_dict on one thread "
          f"(target <= 1.2x), {median['exptool load'] / median['torch.load + load_state_dict']:.2f}x with the "
          f"default threads")


if __name__ == "__main__":
    main()

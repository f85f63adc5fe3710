"""``exp compare`` and ``exp ls`` over many runs of one experiment (20 config keys, 10 metrics each).

Run: ``python benchmarks/compare_many_runs.py [--runs 10000] [--repeats 5]``. Targets: ``exp compare``
with ``--where`` and ``--sort`` under 1 s at 10,000 runs and under 10 s at 100,000 (``--runs 100000``);
``exp ls`` under 1 s at 10,000. Each run has what ``exp train`` leaves: ``run.json`` with provenance,
``config.json`` (20 keys, nested), ``logs/metrics.csv`` (50 steps x 10 metrics) and its
``summary.json``. Figures are median wall times after one warm-up (which also builds exptool's
per-experiment index); the first, cold listing is printed too. ``python -c "import typer"`` is
measured alongside as a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _timing import exp_command, time_command

SUBDIRS = ("checkpoints", "logs", "visualizations", "plots")
METRICS = [f"m{i}" for i in range(8)] + ["val_acc", "val_loss"]
STEPS = 50


def _config(i: int) -> dict:
    return {
        "trainer": "demo",
        "seed": i,
        "optimizer": {"name": "adam", "lr": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4][i % 5], "weight_decay": 0.0,
                      "betas": [0.9, 0.999]},
        "model": {"width": 64 * (1 + i % 4), "depth": 2 + i % 3, "dropout": 0.1, "activation": "relu"},
        "data": {"batch_size": 128, "augment": True, "workers": 4, "root": "data/cifar"},
        "schedule": {"epochs": 10, "warmup": 100, "kind": "cosine"},
        "steps": STEPS,
        "logging": {"writers": ["csv", "tensorboard"]},
        "checkpoint": {"keep_last": 2},
    }


def _make_workspace(root: Path, runs: int) -> None:
    """Write the layout directly (no fsync): building 10,000 runs through exp train would take hours."""
    from exptool.runs import summary
    from exptool.workspace import Workspace

    ws, _ = Workspace.init(root)
    exp_dir = ws.experiments_dir / "sweep"
    exp_dir.mkdir()
    header = "step,wall_time," + ",".join(METRICS) + "\n"
    for i in range(runs):
        run_dir = exp_dir / f"run{i:06d}"
        run_dir.mkdir()
        for sub in SUBDIRS:
            (run_dir / sub).mkdir()
        (run_dir / "config.json").write_text(json.dumps(_config(i), indent=2))
        record = {
            "experiment": "sweep", "run": run_dir.name, "created": "2026-01-01T00:00:00+00:00",
            "status": "completed" if i % 7 else "failed", "started": "2026-01-01T00:00:01+00:00",
            "ended": "2026-01-01T00:10:00+00:00", "exit_code": 0, "error": None, "duration_s": 599.0,
            "attempts": 1, "resumed": False, "seed": i, "trainer": {"name": "demo", "target": "x:y", "source": "b"},
            "world_size": 1, "command": "exp train", "cwd": "/ws", "host": "gpu01", "user": "me", "pid": 1,
            "platform": "Linux", "versions": {"python": "3.11.7", "torch": "2.13.0", "exptool": "0.1.0"},
            "git": {"commit": "0" * 40, "branch": "main", "dirty": False, "patch": None},
            "tags": ["sweep"] + (["baseline"] if i % 100 == 0 else []),
        }
        (run_dir / "run.json").write_text(json.dumps(record, indent=2))
        quality = (i % 97) / 97
        rows, stats = [], {}
        for s in range(STEPS):
            values = [1 / (s + 1) + j for j in range(8)] + [quality * s / STEPS, 2 - quality * s / STEPS]
            rows.append(f"{s},{1.7e9 + s:.3f}," + ",".join(f"{v!r}" for v in values) + "\n")
            for name, v in zip(METRICS, values, strict=True):
                e = stats.setdefault(name, [v, s, v, s, v, s])
                e[0], e[1] = v, s
                if v < e[2]:
                    e[2], e[3] = v, s
                if v > e[4]:
                    e[4], e[5] = v, s
        (run_dir / "logs" / "metrics.csv").write_text(header + "".join(rows))
        summary.write(run_dir, stats, STEPS - 1, fsync=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compare_target = 1.0 if args.runs <= 10_000 else 10.0 * args.runs / 100_000

    exp = exp_command()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "EXPTOOL_STATE_DIR": str(tmp / "state"), "COLUMNS": "200"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # users run with cached bytecode
        start = time.perf_counter()
        _make_workspace(tmp / "ws", args.runs)
        print(f"generated {args.runs} runs in {time.perf_counter() - start:.1f} s")
        where = ["--where", "optimizer.lr<=1e-3", "--where", "status=completed"]
        cases = {
            'python -c "import typer"': ([sys.executable, "-c", "import typer"], None),
            "exp compare --where --sort": ([*exp, "compare", "sweep", *where, "--sort", "-val_acc"], compare_target),
            "exp compare ... --json": ([*exp, "compare", "sweep", *where, "--sort", "-val_acc", "--json"],
                                       compare_target),
            "exp compare ... --format csv": ([*exp, "compare", "sweep", *where, "--sort", "-val_acc", "-f", "csv"],
                                             compare_target),
            "exp compare (all runs)": ([*exp, "compare", "sweep"], compare_target),
            "exp ls sweep": ([*exp, "ls", "sweep"], 1.0 if args.runs <= 10_000 else None),
            "exp ls sweep --json": ([*exp, "ls", "sweep", "--json"], 1.0 if args.runs <= 10_000 else None),
        }
        cold = time_command(cases["exp compare --where --sort"][0], tmp / "ws", env)[0]
        for cmd, _ in cases.values():  # warm the file cache and the bytecode cache
            time_command(cmd, tmp / "ws", env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (cmd, _) in cases.items():
                times[name].append(time_command(cmd, tmp / "ws", env))

    print(f"Python {sys.version.split()[0]}, {args.runs} runs, {args.repeats} repeats, command: {' '.join(exp)}")
    print(f"first (cold index) exp compare --where --sort: {cold:.3f} s")
    print(f"{'case':<30} {'wall s':>7} {'cpu s':>7}  target (wall)")
    for name, samples in times.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        target = cases[name][1]
        verdict = "" if target is None else (f"< {target:g} s OK" if wall < target else f"< {target:g} s ABOVE TARGET")
        print(f"{name:<30} {wall:>7.3f} {cpu:>7.3f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``exp ls`` over a workspace of 10,000 runs (each with run.json and a small metrics.csv).

Run: ``python benchmarks/ls_many_runs.py [--runs N] [--repeats N]``. Target: under 1 s for
``exp ls EXP``, ``exp ls EXP --json`` and ``exp ls --json`` (the experiment table). The figure is
the median wall time of the repeats (CPU time is printed too: steadier on a busy machine);
``python -c "import typer"`` is measured alongside as a floor.
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

TARGET_S = 1.0
SUBDIRS = ("checkpoints", "logs", "visualizations", "plots")


def _make_workspace(root: Path, runs: int) -> None:
    """Write the layout directly (no fsync): building 10,000 runs through Run.create would take minutes."""
    from exptool.workspace import Workspace

    ws, _ = Workspace.init(root)
    exp_dir = ws.experiments_dir / "sweep"
    exp_dir.mkdir()
    for i in range(runs):
        run_dir = exp_dir / f"run{i:05d}"
        run_dir.mkdir()
        for sub in SUBDIRS:
            (run_dir / sub).mkdir()
        (run_dir / "config.json").write_text('{"lr": 0.001}\n')
        record = {"experiment": "sweep", "run": run_dir.name, "created": "2026-01-01T00:00:00+00:00",
                  "status": "completed" if i % 3 else "failed"}
        (run_dir / "run.json").write_text(json.dumps(record))
        rows = "".join(f"{s},{1.7e9 + s:.3f},{1 / (s + 1):.6f},{s / 20:.4f}\n" for s in range(20))
        (run_dir / "logs" / "metrics.csv").write_text("step,wall_time,loss,acc\n" + rows)
    for i in range(20):  # a few other experiments for the experiment table
        (ws.experiments_dir / f"other{i:02d}" / "r").mkdir(parents=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    exp = exp_command()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "EXPTOOL_STATE_DIR": str(tmp / "state")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # users run with cached bytecode
        start = time.perf_counter()
        _make_workspace(tmp / "ws", args.runs)
        print(f"generated {args.runs} runs in {time.perf_counter() - start:.1f} s")
        cases = {
            'python -c "import typer"': [sys.executable, "-c", "import typer"],
            "exp ls sweep": [*exp, "ls", "sweep"],
            "exp ls sweep --json": [*exp, "ls", "sweep", "--json"],
            "exp ls --json": [*exp, "ls", "--json"],
        }
        for cmd in cases.values():  # warm the file cache and the bytecode cache
            time_command(cmd, tmp / "ws", env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, cmd in cases.items():
                times[name].append(time_command(cmd, tmp / "ws", env))

    print(f"Python {sys.version.split()[0]}, {args.repeats} repeats, command: {' '.join(exp)}")
    print(f"{'case':<28} {'wall s':>7} {'cpu s':>7}  target < {TARGET_S:g} s (wall)")
    for name, samples in times.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        verdict = "" if name.startswith("python") else ("OK" if wall < TARGET_S else "ABOVE TARGET")
        print(f"{name:<28} {wall:>7.3f} {cpu:>7.3f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up latency of everyday ``exp`` commands against ``python -c "import typer"``.

Run: ``python benchmarks/cli_latency.py [--repeats N]``. Target: each command's median wall time is
at most 1.5x that of importing Typer alone. Every case is measured in the same run, interleaved
round-robin so machine noise hits them all alike; the figures are medians over the repeats, of wall
time (the target) and of CPU time (user + system); the best wall time is printed too, as the figure
least disturbed by other work on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import exp_command, time_command

TARGET = 1.5


def _workspace(tmp: Path) -> Path:
    from exptool import state
    from exptool.workspace import Workspace

    ws, _ = Workspace.init(tmp / "ws")
    for i in range(20):
        run = ws.run("mnist", f"run{i:02d}")
        run.create()
        run.metrics_path.write_text("step,wall_time,loss,acc\n" + "".join(f"{s},{s}.0,0.5,0.9\n" for s in range(100)))
    state.save_state(ws.root, experiment="mnist", run="run00")
    return ws.root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # The state file goes where platformdirs puts it (as for users), under a throw-away XDG folder.
        env = {**os.environ, "XDG_STATE_HOME": str(tmp / "xdg_state")}
        env.pop("EXPTOOL_STATE_DIR", None)
        # Users run with cached bytecode, as Typer's own installed modules are; without it every exptool
        # module is compiled at each start. The warm-up run below writes the cache.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.update(XDG_STATE_HOME=env["XDG_STATE_HOME"])
        os.environ.pop("EXPTOOL_STATE_DIR", None)
        ws = _workspace(tmp)
        exp = exp_command()
        complete_env = {**env, "_EXP_COMPLETE": "complete_bash", "COMP_WORDS": "exp show -r ", "COMP_CWORD": "3"}
        cases = {
            'python -c "import typer"': ([sys.executable, "-c", "import typer"], env),
            "exp show": ([*exp, "show"], env),
            "exp ls": ([*exp, "ls"], env),
            "exp ls mnist": ([*exp, "ls", "mnist"], env),
            "TAB: exp show -r <TAB>": (exp, complete_env),
        }
        for cmd, case_env in cases.values():  # warm the file cache once
            time_command(cmd, ws, case_env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (cmd, case_env) in cases.items():
                times[name].append(time_command(cmd, ws, case_env))

    baseline_name = next(iter(cases))
    base_wall = statistics.median(w for w, _ in times[baseline_name])
    base_cpu = statistics.median(c for _, c in times[baseline_name])
    print(f"Python {sys.version.split()[0]}, {args.repeats} repeats, command: {' '.join(exp)}")
    base_best = min(w for w, _ in times[baseline_name])
    print(f"{'case':<28} {'wall ms':>8} {'ratio':>6}   {'cpu ms':>7} {'ratio':>6}   {'best ms':>7} {'ratio':>6}")
    worst = 0.0
    for name, samples in times.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        if name != baseline_name:
            worst = max(worst, wall / base_wall)
        best = min(w for w, _ in samples)
        print(
            f"{name:<28} {wall * 1000:>8.1f} {wall / base_wall:>5.2f}x   {cpu * 1000:>7.1f} {cpu / base_cpu:>5.2f}x"
            f"   {best * 1000:>7.1f} {best / base_best:>5.2f}x"
        )
    verdict = "OK" if worst <= TARGET else "ABOVE TARGET"
    print(f"worst wall-time ratio {worst:.2f}x (target <= {TARGET}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``exp plot`` through the real command line, in subprocesses."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from exptool.workspace import Workspace


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header, after checking it is a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_metrics(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A metrics CSV in the documented format (step,wall_time,<metrics>...; empty cell = not logged)."""
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def runs(ws):
    """Runs e/a (loss, train/acc), e/b (loss), f/c (loss) and e/empty (no metrics yet)."""
    workspace = Workspace(ws)
    made = {}
    for exp_name, run_name in (("e", "a"), ("e", "b"), ("f", "c"), ("e", "empty")):
        run = workspace.run(exp_name, run_name)
        run.create()
        made[run_name] = run
    write_metrics(
        made["a"].metrics_path,
        ["step", "wall_time", "loss", "train/acc"],
        [[i, 1.0 + i, 1.0 / (i + 1), i / 20 if i % 2 else None] for i in range(20)],
    )
    write_metrics(made["b"].metrics_path, ["step", "wall_time", "loss"], [[i, 1.0 + i, 2 - i / 10] for i in range(8)])
    write_metrics(made["c"].metrics_path, ["step", "wall_time", "loss"], [[0, 1.0, 3.0], [1, 2.0, 1.0]])
    return made


def test_default_output_in_the_runs_plots_folder(runs, exp):
    a = runs["a"]
    result = exp("plot", "-e", "e", "-r", "a", "--metric", "loss")
    assert result.returncode == 0, result.stderr
    out = a.plots_dir / "loss.png"
    assert result.stdout.strip() == str(out)
    assert png_size(out) == (500, 350)


def test_current_run_all_metrics_and_json(runs, exp):
    env = {"EXP_EXPERIMENT": "e", "EXP_RUN": "a"}
    result = exp("plot", "--json", env=env)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    out = runs["a"].plots_dir / "metrics.png"
    assert payload == {"files": [str(out)], "metrics": ["loss", "train/acc"], "runs": ["e/a"]}
    assert png_size(out) == (1000, 350)


def test_several_runs_on_one_figure(runs, exp, ws):
    result = exp("plot", "-e", "e", "-r", "a", "-r", "b", "-r", "f/c", "-m", "loss", "--smooth", "0.6", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["runs"] == ["e/a", "e/b", "f/c"]
    assert payload["metrics"] == ["loss"]
    out = runs["a"].plots_dir / "loss_vs_e.b-f.c.png"
    assert payload["files"] == [str(out)]
    assert png_size(out) == (500, 350)


def test_out_file_and_train_acc_name(runs, exp, ws):
    result = exp("plot", "-r", "e/a", "-m", "train/acc", "-m", "loss", "-s", "3", "-o", "figs/curves.png")
    assert result.returncode == 0, result.stderr
    assert png_size(ws / "figs" / "curves.png") == (1000, 350)
    assert not runs["a"].plots_dir.joinpath("train_acc-loss.png").exists()
    result = exp("plot", "-r", "e/a", "-m", "train/acc", "-m", "loss", "--log-y")
    assert result.stdout.strip() == str(runs["a"].plots_dir / "train_acc-loss.png")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "e/a", "-m", "los"], "Unknown metric 'los'"),
        (["-r", "e/empty"], "Run e/empty has no metrics yet"),
        (["-r", "e/nope"], "Run 'e/nope' does not exist"),
        (["-e", "e", "-r", "b", "-m", "train/acc"], "Unknown metric 'train/acc'"),
        (["-e", "e", "-r", "a", "-r", "b", "-m", "train/acc"], "b has none of the metrics"),
        (["-r", "e/a", "--smooth", "2.5"], "Invalid smoothing"),
        (["-r", "e/a", "-o", "plot.jpg"], "unknown file type"),
        (["-r", "e/../x"], "run name"),
        ([], "No experiment given"),
    ],
)
def test_errors_are_one_line_and_exit_2(runs, exp, args, message):
    result = exp("plot", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert len(lines) <= 2
    assert "Traceback" not in result.stderr
    assert not list(runs["a"].plots_dir.iterdir())


def test_unknown_metric_lists_the_known_ones(runs, exp):
    result = exp("plot", "-r", "e/a", "-m", "los")
    assert "Known metrics: loss, train/acc" in result.stderr
    assert "Did you mean 'loss'" in result.stderr


_PROBE = """
import sys
from exptool.cli.app import app
try:
    app(args=sys.argv[1:], prog_name="exp")
except SystemExit as exc:
    code = exc.code
heavy = [m for m in ("matplotlib", "numpy", "PIL", "torch") if m in sys.modules]
print("HEAVY=" + ",".join(heavy), "CODE=" + str(code))
"""


@pytest.mark.parametrize("args", [["--help"], ["plot", "--help"], ["ls"]])
def test_matplotlib_stays_out_of_start_up(ws, args):
    result = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=ws, timeout=60)
    last = result.stdout.strip().splitlines()[-1]
    assert last == "HEAVY= CODE=0", result.stdout + result.stderr


def test_real_plot_loads_matplotlib(runs, ws):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "plot", "-r", "e/b"], capture_output=True, text=True, cwd=ws, timeout=60
    )
    assert "matplotlib" in result.stdout.strip().splitlines()[-1]
    assert png_size(runs["b"].plots_dir / "metrics.png") == (500, 350)


def test_completion_of_metrics_and_runs(runs, exp, ws):
    def complete(*words: str) -> list[str]:
        env = {"_EXP_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(words), "COMP_CWORD": str(len(words) - 1)}
        return exp(env=env).stdout.split()

    assert complete("exp", "plot", "-r", "e/a", "-m", "tr") == ["train/acc"]
    assert complete("exp", "plot", "-e", "e", "-r", "a", "-r", "b", "-m", "") == ["loss", "train/acc"]
    assert complete("exp", "plot", "-e", "e", "-r", "") == ["a", "b", "empty"]

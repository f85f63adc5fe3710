"""The everyday commands and TAB stay light: no torch, TensorBoard, W&B or matplotlib at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exptool import state
from exptool.workspace import Workspace

HEAVY = ("torch", "tensorboard", "tensorflow", "wandb", "matplotlib", "numpy", "pandas", "rich")

# Runs the real app in a fresh interpreter, then reports which modules got imported.
RUNNER = """
import json, os, sys
sys.argv = ["exp", *json.loads(os.environ["ARGS"])]
from exptool.cli.app import app
try:
    app(prog_name="exp")
except SystemExit:
    pass
with open(os.environ["MODULES_OUT"], "w") as fh:
    json.dump(sorted(sys.modules), fh)
"""


@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    run = w.run("e", "r")
    run.create()
    run.metrics_path.write_text("step,wall_time,loss\n0,1.0,0.5\n")
    (ws / "config" / "base.yaml").write_text("a: 1\n")
    state.save_state(ws, experiment="e", run="r")
    return ws


def _modules(ws, tmp_path, args, **env) -> list[str]:
    out = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", RUNNER], cwd=ws, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "ARGS": json.dumps(args), "MODULES_OUT": str(out), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.mark.parametrize(
    "args",
    [["show"], ["show", "--json"], ["ls"], ["ls", "e"], ["ls", "--all", "--json"], ["set", "e", "r"], ["--help"],
     ["--version"], ["watch", "--json"], ["watch", "e/r", "--json"], ["sweep", "--help"], ["submit", "--help"],
     ["cancel", "--help"], ["cancel", "-e", "e", "-r", "r"]],
)
def test_everyday_commands_import_nothing_heavy(runs, tmp_path, args):
    modules = _modules(runs, tmp_path, args)
    assert "exptool.cli.app" in modules  # the runner really ran the app
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    "args",
    [["compare", "e"], ["compare", "e", "--where", "loss<1", "--sort", "-loss", "--json"],
     ["compare", "-a", "-f", "csv"], ["ls", "e", "--where", "max(loss)>0"], ["diff", "e/r", "e/r"], ["tag", "x"],
     ["note", "y"], ["trash"], ["tb", "e", "--print"], ["mv", "e/r", "e/r2"], ["rm", "e/r", "--yes"],
     ["restore", "e/r"]],
)
def test_many_runs_commands_import_nothing_heavy(runs, tmp_path, args):
    """exp tb --print too: TensorBoard itself runs in its own process, never imported by exp."""
    modules = _modules(runs, tmp_path, args)
    assert "exptool.cli.app" in modules
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    "words", ["exp show -e ", "exp show -r ", "exp init-run --config ", "exp tr", "exp train -e e -r ",
              "exp cancel -e e ", "exp sweep -e e --name ", "exp compare --where lo", "exp compare -r ", "exp tag ",
              "exp ls e --sort ", "exp restore "]
)
def test_completion_request_imports_nothing_heavy(runs, tmp_path, words):
    env = {"_EXP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    modules = _modules(runs, tmp_path, [], **env)
    assert "exptool.cli._complete" in modules
    assert _heavy(modules) == []


def test_import_exptool_is_cheap():
    """``import exptool`` adds only itself: measured after the few standard modules its ``__init__`` uses.

    What an interpreter preloads differs (a system Python may import ``typing`` at start-up through a
    ``.pth`` file, a fresh venv does not), so the baseline imports those modules first, and the check
    is on what exptool adds beyond them.
    """
    code = (
        "import sys, __future__, importlib, typing; before = set(sys.modules); import exptool; "
        "import json; print(json.dumps(sorted(set(sys.modules) - before - {'json', 'json.decoder', "
        "'json.scanner', 'json.encoder', '_json'})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["exptool"]


def test_sweep_status_imports_nothing_heavy(runs, tmp_path):
    """Looking at a sweep reads records and metrics files; it neither imports torch nor optuna."""
    from exptool.sweeps.record import open_sweep
    from exptool.sweeps.spec import spec_from_options

    open_sweep(Workspace(runs).experiment("e"), "s", spec_from_options(["lr=1,2"])).save(state="created")
    modules = _modules(runs, tmp_path, ["sweep", "-e", "e", "--name", "s", "--status", "--json"])
    assert "exptool.cli.sweep" in modules
    assert _heavy(modules) == [] and "optuna" not in {m.split(".")[0] for m in modules}

"""TAB for the many-runs commands: run names, EXP/RUN, tags, metric and config keys, trashed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exptool import state
from exptool.tracking import Logger
from exptool.workspace import Workspace


@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    for exp_name, run_name, tags in (("a", "r1", ["baseline"]), ("a", "r2", ["wide", "best"]), ("b", "x", [])):
        run = w.run(exp_name, run_name)
        run.create()
        run.update_record(tags=tags)
        run.config_path.write_text(json.dumps({"optimizer": {"lr": 0.1}, "seed": 1}))
        with Logger(run=run, make_current=False, echo=False) as logger:
            logger.initialize("csv")
            logger.log({"val_acc": 0.5, "val_loss": 1.0}, 0)
    state.save_state(ws, experiment="a")
    return ws


def complete(words: list[str], cwd) -> tuple[list[str], str]:
    result = subprocess.run(
        [sys.executable, "-m", "exptool"], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "_EXP_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(words),
             "COMP_CWORD": str(len(words) - 1)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split(), result.stderr


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["exp", "compare", "-r", ""], ["r1", "r2", "a/", "b/"]),
        (["exp", "compare", "-r", "b/"], ["b/x"]),
        (["exp", "diff", "r"], ["r1", "r2"]),
        (["exp", "rm", "a/r"], ["a/r1", "a/r2"]),
        (["exp", "mv", "b/"], ["b/x"]),
        (["exp", "rerun", "a/r2"], ["a/r2"]),
        (["exp", "tb", ""], ["a", "b"]),
        (["exp", "tb", "a/"], ["a/r1", "a/r2"]),
        (["exp", "tag", "b"], ["baseline", "best", "b/"]),  # the first word may name the run
        (["exp", "tag", "r1", "w"], ["wide"]),
        (["exp", "compare", "--where", "val_"], ["val_acc", "val_loss"]),
        (["exp", "compare", "--where", "opt"], ["optimizer.lr"]),
        (["exp", "compare", "--where", "tag=b"], ["tag=baseline", "tag=best"]),
        (["exp", "ls", "a", "--where", "status=c"], ["status=completed", "status=created"]),
        (["exp", "compare", "--sort", "val_l"], ["val_loss"]),
        (["exp", "compare", "--columns", "max(val_"], ["max(val_acc)", "max(val_loss)"]),
        (["exp", "compare", "b", "--where", "see"], ["seed"]),
    ],
)
def test_completion(runs, words, expected):
    got, err = complete(words, runs)
    assert got == expected
    assert err == ""


def test_restore_completes_the_trash(runs, exp):
    assert exp("rm", "a/r1", "--yes").returncode == 0
    assert complete(["exp", "restore", ""], runs)[0] == ["a/r1"]


def test_completion_outside_a_workspace_is_silent(tmp_path):
    assert complete(["exp", "compare", "--where", "v"], tmp_path) == ([], "")
    assert complete(["exp", "tag", ""], tmp_path) == ([], "")

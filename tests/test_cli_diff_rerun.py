"""exp diff (config, metrics, provenance, --patch) and exp rerun, on runs trained by the real exp train."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from exptool.workspace import Workspace

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

TRAINER = '''\
import random


def main(ctx):
    rng = random.Random(ctx.seed)
    for step in range(ctx.config["steps"]):
        loss = ctx.config["lr"] * 10 / (step + 1) + rng.random() * 0.01
        ctx.logger.log({"loss": loss, "val_acc": 1 - loss}, step)
'''


def _git(ws, *args):
    subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True)


@pytest.fixture
def repo(ws, exp):
    """A workspace in a git repository with a file trainer and a trained run e/a (lr 0.1)."""
    _git(ws, "init", "-q")
    _git(ws, "config", "user.email", "t@example.com")
    _git(ws, "config", "user.name", "t")
    (ws / "train.py").write_text(TRAINER)
    (ws / ".gitignore").write_text("experiments/\n")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "first")
    w = Workspace(ws)
    run = w.run("e", "a")
    run.create()
    run.config_path.write_text(json.dumps({"lr": 0.1, "steps": 20, "model": {"width": 64}}))
    result = exp("train", "-e", "e", "-r", "a", "--trainer", "train.py:main", "--seed", "7")
    assert result.returncode == 0, result.stderr
    return ws


def _json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_diff_config_metrics_and_provenance(repo, exp):
    w = Workspace(repo)
    b = w.run("e", "b")
    b.create()
    b.config_path.write_text(json.dumps({"lr": 0.01, "steps": 20, "extra": True}))
    (repo / "train.py").write_text(TRAINER + "# changed, not committed\n")  # b trains from a dirty tree
    result = exp("train", "-e", "e", "-r", "b", "--trainer", "train.py:main", "--seed", "8")
    assert result.returncode == 0, result.stderr
    data = _json(exp("diff", "e/a", "e/b", "--json"))
    assert set(data) == {"a", "b", "config", "metrics", "provenance"}
    assert data["config"]["changed"] == {"lr": [0.1, 0.01]}
    assert data["config"]["added"] == {"extra": True} and data["config"]["removed"] == {"model.width": 64}
    assert data["config"]["same"] == 2  # steps, trainer
    loss = next(m for m in data["metrics"] if m["name"] == "loss")
    assert loss["best_is"] == "min" and loss["a_best"] == loss["a_last"] and loss["a_best_step"] == 19
    assert next(m for m in data["metrics"] if m["name"] == "val_acc")["best_is"] == "max"
    assert data["provenance"]["seed"] == [7, 8] and data["provenance"]["dirty"] == [False, True]
    assert "commit" not in data["provenance"]
    text = exp("diff", "-e", "e", "a", "b")  # RUN names in the experiment of -e
    assert text.returncode == 0
    assert re.search(r"\n  lr +0.1 -> 0.01\n", text.stdout)
    assert re.search(r"\n\+ extra +true\n", text.stdout) and re.search(r"\n- model.width +64\n", text.stdout)
    assert "seed" in text.stdout and "BEST IS" in text.stdout


def test_diff_patch_shows_how_the_recorded_source_differs(repo, exp):
    (repo / "train.py").write_text(TRAINER.replace("* 10", "* 20"))
    _git(repo, "commit", "-qam", "second")  # b is trained on a new commit...
    (repo / "helper.py").write_text("X = 1\n")
    _git(repo, "add", "helper.py")  # ...plus a staged, uncommitted file (in b's git.patch)
    w = Workspace(repo)
    w.run("e", "b").create()
    w.run("e", "b").config_path.write_text(json.dumps({"lr": 0.1, "steps": 20, "model": {"width": 64}}))
    assert exp("train", "-e", "e", "-r", "b", "--trainer", "train.py:main").returncode == 0
    _git(repo, "reset", "-q", "--hard", "HEAD~1")  # the working tree moves on; the records do not
    source = _json(exp("diff", "e/a", "e/b", "--patch", "--json"))["source"]
    assert source["a"]["patch"] is None and "helper.py" in source["b"]["patch"]
    assert source["note"] is None
    assert "-        loss = ctx.config[\"lr\"] * 10" in source["diff"]
    assert "+        loss = ctx.config[\"lr\"] * 20" in source["diff"] and "+X = 1" in source["diff"]
    text = exp("diff", "e/a", "e/b", "--patch").stdout
    assert "source:" in text and "diff --git a/helper.py b/helper.py" in text
    assert _json(exp("diff", "e/a", "e/a", "--patch", "--json"))["source"]["diff"] == ""


def test_diff_errors(repo, exp):
    assert exp("diff", "e/a", "e/nope").returncode == 2
    assert exp("diff", "e/a", "../x").returncode == 2


def test_rerun_repeats_config_seed_and_trainer(repo, exp):
    data = _json(exp("rerun", "e/a", "--json"))
    assert (data["experiment"], data["run"], data["from"], data["seed"]) == ("e", "a-rerun", "e/a", 7)
    assert data["trainer"]["name"] == "train.py:main" and data["status"] == "completed"
    assert data["source_differs"] == []
    w = Workspace(repo)
    original = w.run("e", "a")
    again = w.run("e", "a-rerun")
    assert json.loads(again.config_path.read_text()) == json.loads(original.config_path.read_text())
    assert again.metrics_path.read_text().splitlines()[-1].split(",")[2:] == \
        original.metrics_path.read_text().splitlines()[-1].split(",")[2:]  # same seed, same numbers
    assert json.loads(again.record_path.read_text())["rerun_of"] == "e/a"
    second = _json(exp("rerun", "e/a", "-r", "lr-low", "--set", "lr=0.01", "--json"))
    assert second["run"] == "lr-low" and json.loads(w.run("e", "lr-low").config_path.read_text())["lr"] == 0.01
    assert _json(exp("rerun", "e/a", "--json"))["run"] == "a-rerun2"
    assert exp("rerun", "e/a", "-r", "lr-low").returncode == 2  # taken


def test_rerun_says_when_the_source_differs_and_strict_refuses(repo, exp):
    (repo / "train.py").write_text(TRAINER + "# edited since\n")
    strict = exp("rerun", "e/a", "--strict")
    assert strict.returncode == 2
    assert "The source differs from when e/a was trained: there are uncommitted changes now" in strict.stderr
    assert not Workspace(repo).run("e", "a-rerun").exists()
    loose = exp("rerun", "e/a", "--json")
    assert loose.returncode == 0
    assert "warning: source differs from e/a's: there are uncommitted changes now" in loose.stderr
    assert json.loads(loose.stdout)["source_differs"] == ["there are uncommitted changes now; the run had none"]
    _git(repo, "commit", "-qam", "edit")
    diffs = _json(exp("rerun", "e/a", "--json"))["source_differs"]
    assert len(diffs) == 1 and diffs[0].startswith("commit ") and " now" in diffs[0]

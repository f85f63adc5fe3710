"""exp ls: experiments, runs of one or of all, as a table or JSON."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from exptool.workspace import Workspace

RUN_KEYS = {"experiment", "name", "path", "created", "status", "last_step", "last_metrics", "tags", "progress"}




@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    for exp_name, run_name in (("mnist", "base"), ("mnist", "wide"), ("cifar", "r1")):
        w.run(exp_name, run_name).create()
    base = w.run("mnist", "base")
    base.update_record(status="completed", created="2026-01-02T03:04:05+00:00")
    base.metrics_path.write_text("step,wall_time,loss,acc\n0,1.0,2.0,0.1\n99,2.0,0.125,0.97\n")
    (ws / "experiments" / "mnist" / "wide" / "run.json").write_text("{corrupt")
    invoke("set", "mnist", "base")
    return ws


def test_ls_empty_workspace(ws):
    result = invoke("ls")
    assert result.exit_code == 0
    assert "No experiments yet" in result.stdout
    assert json.loads(invoke("ls", "--json").stdout) == {"workspace": str(ws), "experiments": []}


def test_ls_experiments(runs, exp):
    result = exp("ls")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EXPERIMENT", "RUNS"]
    assert lines[1].split() == ["cifar", "1"]
    assert lines[2].split() == ["*", "mnist", "2"]
    data = json.loads(exp("ls", "--json").stdout)
    assert set(data) == {"workspace", "experiments"}
    assert data["experiments"] == [
        {"name": "cifar", "path": str(runs / "experiments" / "cifar"), "runs": 1},
        {"name": "mnist", "path": str(runs / "experiments" / "mnist"), "runs": 2},
    ]


def test_ls_runs_of_one_experiment(runs, exp):
    result = exp("ls", "mnist")
    assert result.returncode == 0
    header, base, wide = result.stdout.splitlines()
    assert header.split() == ["RUN", "CREATED", "STATUS", "STEP", "LAST", "METRICS"]
    assert base.split() == ["*", "base", "2026-01-02", "03:04:05", "completed", "99", "loss=0.125", "acc=0.97"]
    assert wide.split()[0] == "wide" and "unknown" in wide.split()
    data = json.loads(exp("ls", "mnist", "--json").stdout)
    assert set(data) == {"workspace", "experiment", "runs"}
    assert data["experiment"] == "mnist"
    assert [set(r) for r in data["runs"]] == [RUN_KEYS, RUN_KEYS]
    first = data["runs"][0]
    assert first == {
        "experiment": "mnist",
        "name": "base",
        "path": str(runs / "experiments" / "mnist" / "base"),
        "created": "2026-01-02T03:04:05+00:00",
        "status": "completed",
        "last_step": 99,
        "last_metrics": {"loss": 0.125, "acc": 0.97},
        "tags": [],
        "progress": None,  # only a running run has one
    }
    assert data["runs"][1]["status"] == "unknown" and data["runs"][1]["last_step"] is None


def test_ls_all_runs(runs):
    result = invoke("ls", "--all")
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["cifar/r1", "*", "mnist/wide"]
    data = json.loads(invoke("ls", "-a", "--json").stdout)
    assert set(data) == {"workspace", "runs"}
    assert [(r["experiment"], r["name"]) for r in data["runs"]] == [("cifar", "r1"), ("mnist", "base"),
                                                                     ("mnist", "wide")]


def test_ls_experiment_without_runs(ws):
    Workspace(ws).experiment("empty").create()
    result = invoke("ls", "empty")
    assert result.exit_code == 0 and "No runs in experiment 'empty'" in result.stdout


def test_ls_missing_or_bad_experiment(runs, exp):
    missing = exp("ls", "nope")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: Experiment 'nope' does not exist.")
    bad = exp("ls", "../..")
    assert bad.returncode == 2 and "Invalid experiment name" in bad.stderr


def test_ls_ignores_stray_files_and_half_made_runs(runs):
    (runs / "experiments" / "notes.txt").write_text("x")
    (runs / "experiments" / "cifar" / "bare").mkdir()  # a run folder with nothing inside
    data = json.loads(invoke("ls", "cifar", "--json").stdout)
    bare = [r for r in data["runs"] if r["name"] == "bare"][0]
    assert bare["status"] == "created" and bare["created"] is None
    assert [e["name"] for e in json.loads(invoke("ls", "--json").stdout)["experiments"]] == ["cifar", "mnist"]


def test_ls_marks_the_current_run_from_the_environment(runs, exp):
    lines = exp("ls", "mnist", env={"EXP_RUN": "wide"}).stdout.splitlines()
    assert lines[1].split()[0] == "base" and lines[2].split()[:2] == ["*", "wide"]
    table = exp("ls", env={"CURRENT_EXP": "cifar"}).stdout.splitlines()
    assert table[1].split()[:2] == ["*", "cifar"]


def test_running_status_is_stale_unless_a_process_holds_the_lock(runs, exp):
    from exptool.locking import RunLock

    run = Workspace(runs).run("cifar", "r1")
    run.update_record(status="running")  # as left by a trainer killed with SIGKILL
    assert json.loads(exp("ls", "cifar", "--json").stdout)["runs"][0]["status"] == "stale"
    with RunLock(run.path):
        assert json.loads(exp("ls", "cifar", "--json").stdout)["runs"][0]["status"] == "running"
        shown = json.loads(exp("show", "-e", "cifar", "-r", "r1", "--json").stdout)
        assert shown["run"]["status"] == "running"
    assert json.loads(exp("show", "-e", "cifar", "-r", "r1", "--json").stdout)["run"]["status"] == "stale"


def test_ls_empty_experiment_name_is_refused_not_read_as_all(runs, exp):
    result = exp("ls", "")  # e.g. exp ls "$EXP" with EXP unset
    assert result.returncode == 2 and "empty name" in result.stderr
    assert result.stdout == ""

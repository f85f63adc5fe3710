"""exp set and exp show: the current run, its precedence and its sources, across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import invoke

from exptool import state
from exptool.workspace import Workspace

SHOW_KEYS = {"workspace", "experiment", "run"}
SHOW_EXPERIMENT_KEYS = {"name", "source", "path", "exists"}
SHOW_RUN_KEYS = {"name", "source", "path", "exists", "status", "created", "missing_subdirs", "last_step",
                 "last_metrics", "health", "unreadable", "progress", "tags", "note", "sweep", "config"}




@pytest.fixture
def runs(ws):
    """A workspace with runs a/r1, a/r2 and b/r1, none current."""
    w = Workspace(ws)
    for exp_name, run_name in (("a", "r1"), ("a", "r2"), ("b", "r1")):
        w.run(exp_name, run_name).create()
    return ws


@pytest.mark.parametrize(
    "args", [["a", "r2"], ["a/r2"], ["-e", "a", "-r", "r2"], ["a", "-r", "r2"], ["--experiment", "a", "--run", "r2"]]
)
def test_set_forms(runs, args):
    result = invoke("set", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Current: a/r2\n"
    assert state.load_state(runs) == {"experiment": "a", "run": "r2"}


def test_set_experiment_only_then_run_only(runs):
    assert invoke("set", "a").stdout == "Current: a (no run)\n"
    assert invoke("set", "-r", "r1").exit_code == 0
    assert state.load_state(runs) == {"experiment": "a", "run": "r1"}
    # Switching back to the same experiment keeps its run; switching away drops it.
    assert invoke("set", "a").stdout == "Current: a/r1\n"
    assert invoke("set", "b", "--json").stdout.strip() == json.dumps({"experiment": "b", "run": None}, indent=2)


def test_set_missing_run_says_how_to_create_it(runs, exp):
    result = exp("set", "a", "nope")
    assert result.returncode == 2
    assert result.stderr == (
        "error: Run 'a/nope' does not exist.\n  Create it with: exp init-run -e a -r nope\n"
    )
    missing_exp = exp("set", "zzz")
    assert missing_exp.returncode == 2 and "exp init-exp zzz" in missing_exp.stderr
    assert state.load_state(runs) == {}


@pytest.mark.parametrize(
    "args", [[], ["a", "-e", "b"], ["a", "r1", "-r", "r2"], ["--clear", "a"], ["-r", "r1"]]
)
def test_set_usage_errors(runs, args):
    result = invoke("set", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error:")


@pytest.mark.parametrize("args", [["a", ""], ["", "r1"], ["-e", "a", "-r", ""], ["a/"]])
def test_set_refuses_an_empty_name_instead_of_keeping_the_old_run(runs, args):
    invoke("set", "a", "r2")
    result = invoke("set", *args)  # e.g. exp set "$EXP" "$RUN" with RUN unset
    assert result.exit_code == 2
    assert "empty name" in result.stderr
    assert state.load_state(runs) == {"experiment": "a", "run": "r2"}


def test_set_clear(runs):
    invoke("set", "a", "r1")
    result = invoke("set", "--clear", "--json")
    assert json.loads(result.stdout) == {"experiment": None, "run": None}
    assert state.load_state(runs) == {}


def test_show_reports_paths_status_and_last_metrics(runs, exp):
    invoke("set", "a", "r1")
    run_dir = runs / "experiments" / "a" / "r1"
    (run_dir / "logs" / "metrics.csv").write_text("step,wall_time,loss,acc\n0,1.0,0.9,\n10,2.0,0.25,0.8\n")
    result = exp("show", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert set(data) == SHOW_KEYS
    assert set(data["experiment"]) == SHOW_EXPERIMENT_KEYS
    assert set(data["run"]) == SHOW_RUN_KEYS
    assert data["workspace"] == str(runs)
    assert data["experiment"] == {"name": "a", "source": "state file", "path": str(runs / "experiments/a"),
                                  "exists": True}
    assert data["run"]["path"] == str(run_dir)
    assert data["run"]["status"] == "created"
    assert data["run"]["last_step"] == 10
    assert data["run"]["last_metrics"] == {"loss": 0.25, "acc": 0.8}
    text = exp("show").stdout
    assert "experiment  a  [state file]" in text
    assert "run         r1  [state file]" in text
    assert "last step   10  loss=0.25 acc=0.8" in text


def test_show_with_nothing_current(runs):
    result = invoke("show", "--json")
    assert json.loads(result.stdout) == {"workspace": str(runs), "experiment": None, "run": None}
    assert "exp set EXP" in invoke("show").stdout


def test_show_missing_run_is_reported_not_fatal(runs):
    data = json.loads(invoke("show", "-e", "a", "-r", "ghost", "--json").stdout)
    assert data["run"]["exists"] is False and data["run"]["status"] == "missing"
    assert "(missing)" in invoke("show", "-e", "a", "-r", "ghost").stdout


def test_show_corrupt_run_record(runs):
    (runs / "experiments/a/r1/run.json").write_text("{broken")
    data = json.loads(invoke("show", "-e", "a", "-r", "r1", "--json").stdout)
    assert data["run"]["status"] == "unknown"


def test_precedence_flag_over_env_over_legacy_over_state(runs, exp):
    invoke("set", "a", "r1")

    def sources(*args, **env):
        data = json.loads(exp("show", "--json", *args, env=env).stdout)
        return (data["experiment"]["name"], data["experiment"]["source"], data["run"] and data["run"]["name"],
                data["run"] and data["run"]["source"])

    assert sources() == ("a", "state file", "r1", "state file")
    assert sources(CURRENT_EXP="b", CURRENT_RUN="r1") == (
        "b", "environment (CURRENT_EXP)", "r1", "environment (CURRENT_RUN)")
    assert sources(EXP_EXPERIMENT="a", EXP_RUN="r2", CURRENT_EXP="b", CURRENT_RUN="r1") == (
        "a", "environment (EXP_EXPERIMENT)", "r2", "environment (EXP_RUN)")
    assert sources("-e", "b", "-r", "r1", EXP_EXPERIMENT="a", EXP_RUN="r2") == ("b", "flag", "r1", "flag")
    # A flag picking another experiment must not borrow the state file's run of a different experiment.
    assert sources("-e", "b") == ("b", "flag", None, None)
    text = exp("show", env={"EXP_EXPERIMENT": "b", "EXP_RUN": "r1"}).stdout
    assert "[environment (EXP_EXPERIMENT)]" in text and "[environment (EXP_RUN)]" in text


def test_set_warns_when_env_hides_it_without_breaking_json(runs, exp):
    result = exp("set", "a", "r1", "--json", env={"EXP_RUN": "r2"})
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"experiment": "a", "run": "r1"}
    assert "EXP_RUN is set" in result.stderr


def test_bad_name_from_environment_says_where_it_came_from(runs, exp):
    result = exp("show", env={"EXP_RUN": "../x"})
    assert result.returncode == 2
    assert "environment (EXP_RUN)" in result.stderr and "Traceback" not in result.stderr


def test_two_workspaces_keep_separate_current_runs(tmp_path, exp):
    for name in ("one", "two"):
        assert exp("init", name, cwd=tmp_path).returncode == 0
    assert exp("init-run", "-e", "e1", "-r", "first", cwd=tmp_path / "one").returncode == 0
    assert exp("init-run", "-e", "e2", "-r", "second", cwd=tmp_path / "two").returncode == 0
    one = json.loads(exp("show", "--json", cwd=tmp_path / "one" / "data").stdout)
    two = json.loads(exp("show", "--json", cwd=tmp_path / "two").stdout)
    assert (one["experiment"]["name"], one["run"]["name"]) == ("e1", "first")
    assert (two["experiment"]["name"], two["run"]["name"]) == ("e2", "second")


@pytest.mark.parametrize("content", [b"{half a json", b"\x00\xff\xfe", b'["not", "a", "mapping"]'])
def test_corrupt_state_file_is_a_one_line_warning(runs, exp, content):
    path = state.state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    result = exp("show")
    assert result.returncode == 0
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("warning:")
    assert "experiment  (none)" in result.stdout
    # Setting a run repairs it.
    assert exp("set", "a", "r1").returncode == 0
    assert json.loads(path.read_text())["workspaces"][str(runs)] == {"experiment": "a", "run": "r1"}


@pytest.mark.slow
def test_many_concurrent_set_never_corrupt_or_drop_entries(tmp_path):
    """20 processes run `exp set` at once in 10 workspaces; every workspace keeps a valid entry."""
    roots = []
    for i in range(10):
        ws, _ = Workspace.init(tmp_path / f"w{i}")
        for r in ("x", "y"):
            ws.run("e", r).create()
        roots.append(ws.root)
    procs = []
    for i in range(20):
        root = roots[i % 10]
        run = "x" if i < 10 else "y"
        procs.append(subprocess.Popen([sys.executable, "-m", "exptool", "set", "e", run], cwd=root,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert err == b""  # in particular no "ignoring unreadable state file" warning
    data = json.loads(state.state_path().read_text())
    assert set(data["workspaces"]) == {str(r) for r in roots}
    for root in roots:
        assert data["workspaces"][str(root)]["experiment"] == "e"
        assert data["workspaces"][str(root)]["run"] in ("x", "y")

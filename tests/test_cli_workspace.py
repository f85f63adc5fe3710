"""exp init, init-exp, init-run and keep, through the real command line."""

from __future__ import annotations

import json
import os

import pytest
from conftest import invoke

from exptool import state


def snapshot(*roots):
    """Every path under the given folders (to prove a command created nothing)."""
    return sorted(str(p) for root in roots if root.exists() for p in root.rglob("*"))


def test_init_then_again_changes_nothing(tmp_path, exp):
    result = exp("init", "proj", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"workspace", "created"}
    assert data["workspace"] == str(tmp_path / "proj")
    assert len(data["created"]) == 5
    before = snapshot(tmp_path)
    again = exp("init", "proj", cwd=tmp_path)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert snapshot(tmp_path) == before


def test_init_defaults_to_here_and_refuses_a_file(tmp_path, exp):
    assert exp("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "experiments").is_dir() and (tmp_path / "config").is_dir() and (tmp_path / "data").is_dir()
    (tmp_path / "file").write_text("x")
    result = exp("init", "file", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


def test_init_exp_positional_and_flag(ws):
    assert invoke("init-exp", "alpha").exit_code == 0
    result = invoke("init-exp", "-e", "beta", "--json")
    assert result.exit_code == 0
    beta = str(ws / "experiments" / "beta")
    assert json.loads(result.stdout) == {"experiment": "beta", "path": beta, "created": True}
    again = invoke("init-exp", "alpha", "--json")
    assert json.loads(again.stdout)["created"] is False
    assert invoke("init-exp", "alpha", "-e", "beta").exit_code == 2
    assert invoke("init-exp").exit_code == 2
    assert sorted(p.name for p in (ws / "experiments").iterdir()) == ["alpha", "beta"]


def test_init_run_happy_path(ws, exp):
    (ws / "config" / "base.yaml").write_text("optimizer:\n  lr: 0.001\n")
    result = exp("init-run", "-e", "mnist", "-r", "baseline", "--config", "base", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"experiment", "run", "path", "created", "config", "current"}
    run_dir = ws / "experiments" / "mnist" / "baseline"
    assert data["path"] == str(run_dir) and data["created"] is True and data["current"] is True
    assert data["config"] == str(ws / "config" / "base.yaml")
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints", "config.json", "logs", "plots", "run.json", "visualizations"
    ]
    assert json.loads((run_dir / "config.json").read_text()) == {"optimizer": {"lr": 0.001}}
    assert state.load_state(ws) == {"experiment": "mnist", "run": "baseline"}


@pytest.mark.parametrize("spec", ["c.yml", "c.json", "PATH"])
def test_init_run_config_by_suffix_or_path(ws, tmp_path, spec):
    if spec == "PATH":
        source = tmp_path / "outside.json"
        spec = str(source)
    else:
        source = ws / "config" / spec
        spec = "c"
    source.write_text('{"k": 1}')
    assert invoke("init-run", "-e", "e", "-r", "r", "-c", spec).exit_code == 0
    assert json.loads((ws / "experiments/e/r/config.json").read_text()) == {"k": 1}


def test_init_run_no_switch_keeps_current(ws):
    invoke("init-run", "-e", "e", "-r", "first")
    result = invoke("init-run", "-e", "e", "-r", "second", "--no-switch", "--json")
    assert json.loads(result.stdout)["current"] is False
    assert state.load_state(ws) == {"experiment": "e", "run": "first"}


def test_existing_run_not_overwritten_even_with_exist_ok(ws, exp):
    (ws / "config" / "a.yaml").write_text("a: 1\n")
    (ws / "config" / "b.yaml").write_text("b: 2\n")
    assert exp("init-run", "-e", "e", "-r", "r", "-c", "a").returncode == 0
    run_dir = ws / "experiments" / "e" / "r"
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"precious")
    (run_dir / "logs" / "metrics.csv").write_text("step,wall_time,loss\n0,1.0,0.5\n")
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    refused = exp("init-run", "-e", "e", "-r", "r", "-c", "b")
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--exist-ok" in refused.stderr

    kept = exp("init-run", "-e", "e", "-r", "r", "-c", "b", "--exist-ok", "--json")
    assert kept.returncode == 0
    assert json.loads(kept.stdout)["created"] is False
    assert json.loads(kept.stdout)["config"] is None
    text = exp("init-run", "-e", "e", "-r", "r", "-c", "b", "--exist-ok")
    assert "not applied" in text.stdout
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_exist_ok_repairs_missing_subfolders(ws, exp):
    invoke("init-run", "-e", "e", "-r", "r")
    run_dir = ws / "experiments" / "e" / "r"
    (run_dir / "logs").rmdir()
    (run_dir / "plots").rmdir()
    shown = exp("show")
    assert shown.returncode == 0
    assert "missing folders: logs, plots" in shown.stdout
    assert json.loads(exp("show", "--json").stdout)["run"]["missing_subdirs"] == ["logs", "plots"]
    assert invoke("init-run", "-e", "e", "-r", "r", "--exist-ok").exit_code == 0
    assert (run_dir / "logs").is_dir() and (run_dir / "plots").is_dir()


def test_missing_config_creates_nothing(ws, exp):
    (ws / "config" / "real.yaml").write_text("a: 1\n")
    result = exp("init-run", "-e", "e", "-r", "r", "--config", "typo")
    assert result.returncode == 2
    assert "Config 'typo' not found" in result.stderr and "real" in result.stderr
    assert "Traceback" not in result.stderr
    assert list((ws / "experiments").iterdir()) == []
    assert state.load_state(ws) == {}


def test_corrupt_config_creates_nothing(ws, exp):
    (ws / "config" / "broken.yaml").write_text("model:\n  depth: [3, 4\n")
    result = exp("init-run", "-e", "e", "-r", "r", "--config", "broken")
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr and "line" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert list((ws / "experiments").iterdir()) == []


BAD_NAMES = ["..", ".", "/", "a/b", "../escape", "", "/abs/path", "ctl\x07char", "new\nline", "x" * 101, "-dash",
             "sp ace"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_exit_2_and_create_nothing(ws, tmp_path, bad):
    before = snapshot(tmp_path, state.state_dir())
    for args in (
        ["init-run", f"--experiment={bad}", "-r", "ok"],
        ["init-run", "-e", "ok", f"--run={bad}"],
        ["init-exp", f"--experiment={bad}"],
        ["set", f"--experiment={bad}"],
        ["set", "-e", "ok", f"--run={bad}"],
        ["show", f"--experiment={bad}"],
        ["clear-logs", "--yes", "-e", "ok", f"--run={bad}"],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert snapshot(tmp_path, state.state_dir()) == before


def test_bad_name_message_through_real_cli(ws, exp):
    result = exp("init-run", "-e", "../../etc", "-r", "x")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: Invalid experiment name: '../../etc' must be a single folder name."
    assert list((ws / "experiments").iterdir()) == []


def test_keep_counts_and_skips_vcs_folders(ws, exp):
    invoke("init-run", "-e", "e", "-r", "r")
    (ws / ".git" / "objects").mkdir(parents=True)
    (ws / "data" / "raw").mkdir()
    result = exp("keep", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert set(data) == {"root", "written", "count"}
    # config, raw, and the run's four folders (data/ is not empty: it holds raw/)
    expected = {ws / "config", ws / "data" / "raw"} | {ws / "experiments/e/r" / d for d in
                                                       ("checkpoints", "logs", "visualizations", "plots")}
    assert {os.path.dirname(p) for p in data["written"]} == {str(p) for p in expected}
    assert data["count"] == 6
    assert not (ws / ".git" / "objects" / ".gitkeep").exists()
    again = exp("keep")
    assert again.returncode == 0 and "into 0 empty folders" in again.stdout


def test_keep_on_a_path_and_a_bad_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    result = invoke("keep", str(tmp_path / "a"))
    assert result.exit_code == 0 and "into 1 empty folder " in result.stdout
    assert (tmp_path / "a" / "b" / ".gitkeep").exists()
    assert invoke("keep", str(tmp_path / "missing")).exit_code == 2


@pytest.mark.parametrize(
    "args",
    [["init-exp", "x"], ["init-run", "-e", "x", "-r", "y"], ["set", "x"], ["show"], ["ls"], ["clear-logs", "--yes"],
     ["keep"]],
)
def test_outside_a_workspace_exits_2(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Not inside an exptool workspace" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_root_flag_and_env_select_the_workspace(ws, tmp_path, exp):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert exp("--root", str(ws), "init-run", "-e", "e", "-r", "r", cwd=elsewhere).returncode == 0
    assert (ws / "experiments" / "e" / "r").is_dir()
    listed = exp("ls", "e", "--json", cwd=elsewhere, env={"EXPTOOL_ROOT": str(ws)})
    assert [r["name"] for r in json.loads(listed.stdout)["runs"]] == ["r"]
    bad = exp("--root", str(elsewhere), "show", cwd=ws)
    assert bad.returncode == 2 and "not an exptool workspace" in bad.stderr


def test_workspace_path_with_spaces_and_unicode(tmp_path, exp):
    root = tmp_path / "my projects" / "exp\u00e9riences"
    assert exp("init", str(root)).returncode == 0
    assert exp("init-run", "-e", "e", "-r", "r", cwd=root).returncode == 0
    shown = json.loads(exp("show", "--json", cwd=root / "experiments").stdout)
    assert shown["workspace"] == str(root) and shown["run"]["path"] == str(root / "experiments" / "e" / "r")
    assert json.loads(exp("ls", "e", "--json", cwd=root).stdout)["runs"][0]["name"] == "r"

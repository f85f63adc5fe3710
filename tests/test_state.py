"""The state store: per-workspace entries, precedence, corrupt files, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from exptool import state


def test_round_trip_and_separate_workspaces(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    state.save_state(a, experiment="ea", run="ra")
    state.save_state(b, experiment="eb")
    assert state.load_state(a) == {"experiment": "ea", "run": "ra"}
    assert state.load_state(b) == {"experiment": "eb"}
    assert state.save_state(a, run=None) == {"experiment": "ea"}
    assert state.load_state(b) == {"experiment": "eb"}
    assert state.load_state(tmp_path / "never") == {}


@pytest.mark.parametrize("xdg", [None, "", "relative/dir", "ABS"])
def test_state_dir_agrees_with_platformdirs(monkeypatch, tmp_path, xdg):
    import platformdirs

    monkeypatch.delenv("EXPTOOL_STATE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg") if xdg == "ABS" else xdg)
    assert state.state_dir() == Path(platformdirs.user_state_dir("exptool", appauthor=False))


def test_state_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPTOOL_STATE_DIR", str(tmp_path / "st"))
    state.save_state(tmp_path, experiment="e")
    data = json.loads((tmp_path / "st" / "state.json").read_text())
    assert data["workspaces"][str(tmp_path)] == {"experiment": "e"}
    assert data["version"] == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"workspaces": 3}', "\xff\xfe garbage"])
def test_corrupt_state_file_warns_once_and_reads_empty(tmp_path, capsys, content):
    path = state.state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("latin-1"))
    assert state.load_state(tmp_path) == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning:") and "state file" in err
    # The next write replaces it with a valid file.
    state.save_state(tmp_path, experiment="e")
    assert state.load_state(tmp_path) == {"experiment": "e"}


def test_unreadable_state_file_warns(tmp_path, capsys):
    path = state.state_path()
    path.mkdir(parents=True)  # a folder where the file should be: open() fails with an OSError
    assert state.load_state(tmp_path) == {}
    assert "warning:" in capsys.readouterr().err


def test_non_string_entries_are_ignored(tmp_path):
    path = state.state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"workspaces": {str(tmp_path): {"experiment": 3, "run": "r", "x": "y"}}}))
    assert state.load_state(tmp_path) == {"run": "r"}


def test_precedence_flag_env_legacy_state(tmp_path, monkeypatch):
    state.save_state(tmp_path, experiment="from_state", run="rs")
    exp, run = state.resolve_current(tmp_path)
    assert (exp, run) == (state.Resolved("from_state", "state file"), state.Resolved("rs", "state file"))
    monkeypatch.setenv("CURRENT_EXP", "legacy")
    monkeypatch.setenv("CURRENT_RUN", "legacy_run")
    exp, run = state.resolve_current(tmp_path)
    assert exp == state.Resolved("legacy", "environment (CURRENT_EXP)")
    assert run == state.Resolved("legacy_run", "environment (CURRENT_RUN)")
    monkeypatch.setenv("EXP_EXPERIMENT", "new")
    monkeypatch.setenv("EXP_RUN", "new_run")
    exp, run = state.resolve_current(tmp_path)
    assert exp == state.Resolved("new", "environment (EXP_EXPERIMENT)")
    assert run == state.Resolved("new_run", "environment (EXP_RUN)")
    exp, run = state.resolve_current(tmp_path, "flag_exp", "flag_run")
    assert exp == state.Resolved("flag_exp", "flag") and run == state.Resolved("flag_run", "flag")


def test_stored_run_only_applies_to_its_experiment(tmp_path):
    state.save_state(tmp_path, experiment="a", run="r")
    exp, run = state.resolve_current(tmp_path, "b")
    assert exp.value == "b" and run == state.Resolved(None, None)
    exp, run = state.resolve_current(tmp_path, "a")
    assert run == state.Resolved("r", "state file")


def test_empty_env_values_are_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("EXP_EXPERIMENT", "")
    state.save_state(tmp_path, experiment="s")
    assert state.resolve_current(tmp_path)[0] == state.Resolved("s", "state file")


def _writer(args):
    workspace, rounds = args
    for i in range(rounds):
        state.save_state(workspace, experiment=f"e{i}", run=f"r{i}")


@pytest.mark.slow
def test_concurrent_writers_keep_every_workspace(tmp_path):
    workspaces = [str(tmp_path / f"ws{i}") for i in range(8)]
    rounds = 30
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_writer, [(w, rounds) for w in workspaces])
    data = json.loads(state.state_path().read_text())
    for w in workspaces:
        assert data["workspaces"][w] == {"experiment": f"e{rounds - 1}", "run": f"r{rounds - 1}"}
    leftovers = [p.name for p in state.state_dir().iterdir() if p.name not in ("state.json", "state.json.lock")]
    assert leftovers == []

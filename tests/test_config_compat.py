"""The template's run-config helpers: load_config_to_run, load_config_from_run (and save_config_to_run)."""

from __future__ import annotations

import json

import pytest

from exptool.config_compat import load_config_from_run, load_config_to_run, resolve_run, save_config_to_run
from exptool.errors import ConfigError, NoCurrentRunError, NotAWorkspaceError, NotFoundError


@pytest.fixture
def run(run, ws):
    """The shared ``run`` fixture, plus a config in the workspace's config/ folder."""
    (ws / "config" / "mnist.yaml").write_text("optimizer:\n  lr: 0.1\nepochs: 3\n")
    return run


def test_config_by_name_is_copied_into_the_run(run):
    config = load_config_to_run("mnist", "exp1", "run1")
    assert config == {"optimizer": {"lr": 0.1}, "epochs": 3}
    assert json.loads(run.config_path.read_text()) == config
    assert load_config_from_run("exp1", "run1") == config


def test_config_by_path_with_overrides(run, tmp_path):
    source = tmp_path / "other.json"
    source.write_text('{"optimizer": {"lr": 1}, "seed": 0}')
    config = load_config_to_run(source, "exp1", "run1", overrides=["optimizer.lr=3e-4", "+optimizer.wd=0.01"])
    assert config == {"optimizer": {"lr": 3e-4, "wd": 0.01}, "seed": 0}
    assert load_config_from_run("exp1", "run1") == config


def test_current_run_is_used_when_names_are_left_out(run, monkeypatch):
    monkeypatch.setenv("EXP_EXPERIMENT", "exp1")
    monkeypatch.setenv("EXP_RUN", "run1")
    load_config_to_run("mnist")
    assert load_config_from_run()["epochs"] == 3
    save_config_to_run({"epochs": 7})
    assert load_config_from_run("exp1", "run1") == {"epochs": 7}
    assert resolve_run().id == "exp1/run1"


def test_template_env_names_still_work(run, monkeypatch):
    monkeypatch.setenv("CURRENT_EXP", "exp1")
    monkeypatch.setenv("CURRENT_RUN", "run1")
    assert resolve_run().path == run.path


def test_no_current_run_is_a_clear_error(ws):
    with pytest.raises(NoCurrentRunError) as info:
        load_config_from_run()
    assert "exp set" in info.value.hint


def test_outside_a_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAWorkspaceError):
        load_config_from_run("a", "b")


def test_missing_run_config_and_config_name(run, ws):
    with pytest.raises(NotFoundError, match="'exp1/nope' does not exist"):
        load_config_to_run("mnist", "exp1", "nope")
    with pytest.raises(NotFoundError, match="'cifar' not found") as info:
        load_config_to_run("cifar", "exp1", "run1")
    assert "mnist" in info.value.hint
    run.config_path.unlink()
    with pytest.raises(NotFoundError, match="no config.json"):
        load_config_from_run("exp1", "run1")


def test_broken_source_and_bad_override_leave_the_run_config_alone(run, ws):
    run.config_path.write_text('{"kept": true}')
    (ws / "config" / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="broken.yaml, line"):
        load_config_to_run("broken", "exp1", "run1")
    with pytest.raises(ConfigError, match="'nope'"):
        load_config_to_run("mnist", "exp1", "run1", overrides=["nope=1"])
    assert load_config_from_run("exp1", "run1") == {"kept": True}


def test_damaged_run_config_names_the_file(run):
    run.config_path.write_text('{"a": 1,,}')
    with pytest.raises(ConfigError, match="config.json, line 1"):
        load_config_from_run("exp1", "run1")

"""Pieces of `exp train` in-process: provenance, the run context, config and seed choice, launch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from exptool import provenance
from exptool.errors import AlreadyExistsError, ConfigError, UsageError
from exptool.training import train
from exptool.training.context import RunContext
from exptool.training.prepare import choose_seed, effective_config
from exptool.training.registry import TrainerSpec, load_trainer
from exptool.training.settings import read_settings
from exptool.training.worker import execute, execute_request
from exptool.workspace import Workspace


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_state_outside_a_repository_is_none(tmp_path):
    assert provenance.git_state(tmp_path) is None


def test_git_state_clean_then_dirty(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-qm", "one")
    (tmp_path / "untracked.txt").write_text("outputs do not make the tree dirty\n")
    clean = provenance.git_state(tmp_path)
    assert clean is not None and len(clean["commit"]) == 40 and clean["dirty"] is False and clean["diff"] == ""
    (tmp_path / "a.py").write_text("x = 2\n")
    dirty = provenance.git_state(tmp_path)
    assert dirty["dirty"] is True and "+x = 2" in dirty["diff"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = provenance.collect(tmp_path, run_dir)
    assert record["git"]["patch"] == "git.patch" and "+x = 2" in (run_dir / "git.patch").read_text()
    assert record["versions"]["exptool"] and record["host"] and record["pid"]


def test_command_line_is_shown_as_exp():
    assert provenance.command_line(["/usr/bin/exp", "train", "--set", "a=b c"]) == "exp train --set 'a=b c'"
    assert provenance.command_line(["/x/exptool/__main__.py", "train"]) == "exp train"


def _choose_seed(requested, config, previous, resume):
    return choose_seed(requested, read_settings(config), previous, resume)


def test_seed_choice():
    assert _choose_seed(5, {"seed": 1}, {"seed": 2}, True) == 5
    assert _choose_seed(None, {"seed": 1}, {"seed": 2}, True) == 1
    assert _choose_seed(None, {}, {"seed": 2}, True) == 2
    fresh = _choose_seed(None, {}, {"seed": 2}, False)
    assert isinstance(fresh, int) and 0 <= fresh < 2**31


def test_effective_config_layers_defaults_config_and_overrides(ws):
    (ws / "defaults_trainer.py").write_text(
        "def train(ctx):\n    pass\n\ntrain.default_config = {'lr': 0.1, 'model': {'width': 8}, 'epochs': 1}\n"
    )
    spec = TrainerSpec("d", "defaults_trainer:train", "--trainer", str(ws))
    cfg = effective_config(spec, {"epochs": 3, "model": {"depth": 2}}, ["model.width=16", "+extra=word"], ws)
    assert cfg == {"lr": 0.1, "model": {"width": 16, "depth": 2}, "epochs": 3, "extra": "word", "trainer": "d"}
    with pytest.raises(ConfigError, match="no key 'typo'"):
        effective_config(spec, {}, ["typo=1"], ws)


def test_run_context_properties(ws):
    run = Workspace(ws).run("e", "r")
    ctx = RunContext(run=run, config={}, logger=None, checkpoints=None, device="cpu", seed=1, rank=1, world_size=2)
    assert (ctx.experiment, ctx.run_name, ctx.path) == ("e", "r", run.path)
    assert ctx.checkpoints_dir == run.checkpoints_dir and ctx.visualizations_dir == run.visualizations_dir
    assert not ctx.is_main and ctx.is_distributed
    assert ctx.resume(object()) is None and ctx.start_step == 0  # not a resume: nothing loaded
    assert ctx.should_stop is False and ctx._stop_polled
    ctx.request_stop()
    assert ctx.should_stop is True


def _trainer_file(ws: Path, body: str, name: str) -> TrainerSpec:
    (ws / f"{name}.py").write_text(body)  # one module name per test: sys.modules is shared
    return TrainerSpec(f"{name}:train", f"{name}:train", "--trainer", str(ws))


def test_train_in_process_records_and_returns_outcome(ws):
    spec = _trainer_file(
        ws,
        "def train(ctx):\n"
        "    for s in range(ctx.start_step + 1, 4):\n"
        "        ctx.logger.log({'loss': 1.0 / s}, s)\n"
        "    ctx.checkpoints.save(step=3, metrics={'val_loss': 0.5})\n",
        "inproc_ok",
    )
    run = Workspace(ws).run("e", "api")
    run.create()
    config = {"logging": {"writers": ["csv"]}}
    started = []
    outcome = train(run, spec, config, seed=3, on_start=started.append)
    assert (outcome.status, outcome.exit_code, outcome.seed, outcome.resumed) == ("completed", 0, 3, False)
    assert started and started[0]["seed"] == 3 and started[0]["world_size"] == 1
    record = run.read_record()
    assert record["status"] == "completed" and record["trainer"]["source"] == "--trainer"
    assert json.loads(run.config_path.read_text()) == config
    again = train(run, spec, config)  # has a checkpoint: resumes at its step, logs nothing new
    assert again.resumed and again.start_step == 3 and again.seed == 3
    with pytest.raises(AlreadyExistsError, match="has checkpoints"):
        train(run, spec, config, resume=False)
    with pytest.raises(UsageError, match="contradict"):
        train(run, spec, config, resume=True, clear=True)


def test_execute_reports_a_failure_without_raising(ws):
    spec = _trainer_file(ws, "def train(ctx):\n    raise KeyError('missing thing')\n", "inproc_boom")
    run = Workspace(ws).run("e", "boom")
    run.create()
    config = {"logging": {"writers": ["csv"]}}
    fn = load_trainer(spec, ws)
    outcome = execute(run, spec, config, read_settings(config), fn, seed=1, resume=False)
    assert outcome.status == "failed" and outcome.exit_code == 1 and "KeyError" in outcome.error
    assert "Traceback" in (run.logs_dir / "log.txt").read_text()


def test_execute_request_rebuilds_the_run_across_a_process_boundary(ws):
    from exptool.config import save_config

    spec = _trainer_file(ws, "def train(ctx):\n    raise KeyError('missing thing')\n", "inproc_boom_request")
    run = Workspace(ws).run("e", "boom2")
    run.create()
    save_config({"logging": {"writers": ["csv"]}}, run.config_path)
    request = {"workspace": str(ws), "experiment": "e", "run": "boom2", "trainer": spec.__dict__, "seed": 1,
               "resume": False}
    outcome = execute_request(request)
    assert outcome.status == "failed" and outcome.exit_code == 1 and "KeyError" in outcome.error
    assert "Traceback" in (run.logs_dir / "log.txt").read_text()


def test_a_probe_of_the_run_lock_neither_blocks_training_nor_looks_like_a_trainer(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    import threading

    from exptool.locking import LOCK_NAME, RunLock, is_locked

    (tmp_path / LOCK_NAME).touch()
    probe = os.open(tmp_path / LOCK_NAME, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_SH)  # what is_locked() (exp ls) holds for an instant
        assert is_locked(tmp_path) is False  # another probe is not a trainer
        threading.Timer(0.05, fcntl.flock, (probe, fcntl.LOCK_UN)).start()
        with RunLock(tmp_path):  # waits out the probe instead of calling the run busy
            assert is_locked(tmp_path) is True
    finally:
        os.close(probe)
    assert is_locked(tmp_path) is False

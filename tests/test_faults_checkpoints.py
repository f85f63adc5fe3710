"""Issue item 3 (and 7's weights_only message): a damaged `last` checkpoint no longer blocks every resume.

`exp train` falls back to the newest intact checkpoint, moves the damaged file aside, says which
step it resumes from, marks the manifest, and the logs continue from that step without duplicates.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import run_exp
from faults_helpers import add_trainer
from test_tracking_readers import csv_series, tb_series

from exptool.checkpoints import CheckpointManager
from exptool.errors import UnsafeCheckpointError
from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.fixture
def trained(ws):
    add_trainer(ws)
    assert run_exp("init-run", "-e", "ck", "-r", "r").returncode == 0
    done = run_exp("train", "--trainer", "loop", "--set", "steps=30")
    assert done.returncode == 0, done.stderr
    return Workspace(ws).run("ck", "r")


def _damage(path, how):
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:  # a file the safe loader refuses (and that would run code with weights_only=False)
        torch.save({"model_state_dict": {}, "payload": Evil()}, path)


@pytest.mark.parametrize("how", ["truncated", "refused"])
def test_damaged_last_checkpoint_falls_back_to_the_newest_intact_one(trained, how):
    last = trained.checkpoints_dir / "checkpoint_step_30.pth"
    _damage(last, how)
    done = run_exp("train", "--set", "steps=40")
    assert done.returncode == 0, done.stderr
    assert "checkpoint_step_30.pth is damaged" in done.stderr
    assert "moved it to checkpoint_step_30.pth.damaged" in done.stderr
    assert "falling back to step 20 (checkpoint_step_20.pth)" in done.stderr
    assert "start_step=20 resumed_from=20" in done.stdout
    assert (trained.checkpoints_dir / "checkpoint_step_30.pth.damaged").is_file()  # kept, not deleted
    assert not (trained.path.parent.parent.parent / "pwned.txt").exists()  # never unpickled unsafely

    manifest = json.loads((trained.checkpoints_dir / "manifest.json").read_text())
    assert manifest["last"] == "checkpoint_step_40.pth"
    [record] = manifest["damaged"]
    assert record["file"] == "checkpoint_step_30.pth.damaged" and record["was"] == "checkpoint_step_30.pth"
    assert record["step"] == 30 and record["reason"]

    steps = [s for s, _ in csv_series(trained.metrics_path)["loss"]]
    assert steps == list(range(1, 41))  # 21..30 logged again after the fallback, once
    assert [s for s, _ in tb_series(trained.logs_dir)["loss"]] == list(range(1, 41))
    assert trained.read_record()["start_step"] == 20


def test_every_checkpoint_damaged_says_so_and_points_to_clear(trained):
    for path in trained.checkpoints_dir.glob("*.pth"):
        _damage(path, "truncated")
    done = run_exp("train", "--set", "steps=40")
    assert done.returncode == 1
    assert "Every checkpoint of run 'ck/r' is damaged" in done.stderr and "--clear" in done.stderr
    assert "trainer 'loop' failed" not in done.stderr  # not blamed on the trainer
    assert len(list(trained.checkpoints_dir.glob("*.pth.damaged"))) == 3


def test_library_resume_falls_back_too(tmp_path):
    manager = CheckpointManager(tmp_path / "ck", keep_last=3)
    model = torch.nn.Linear(3, 3)
    for step in (1, 2, 3):
        with torch.no_grad():
            model.weight.fill_(float(step))
        manager.save(step=step, model=model)
    _damage(tmp_path / "ck" / "checkpoint_step_3.pth", "truncated")
    fresh = torch.nn.Linear(3, 3)
    info = CheckpointManager(tmp_path / "ck", keep_last=3).resume(fresh)
    assert info.step == 2 and float(fresh.weight.detach()[0, 0]) == 2.0
    assert (tmp_path / "ck" / "checkpoint_step_3.pth.damaged").exists()


def test_refused_checkpoint_message_names_the_reason_in_whole_words(tmp_path):
    path = tmp_path / "bad.pth"
    _damage(path, "refused")
    with pytest.raises(UnsafeCheckpointError) as info:
        CheckpointManager(tmp_path).load(path, torch.nn.Linear(2, 2))
    message = info.value.message
    assert "safe loader refuses" in message and "posix.system" in message
    assert "Weights only load failed" not in message  # torch's advice is not quoted, let alone cut mid-word

"""The template's checkpoint functions: save_checkpoint, load_model_from_checkpoint, load_model_from_path."""

from __future__ import annotations

import pytest
import torch

import exptool
from exptool.errors import CheckpointError, NoCurrentRunError, NotFoundError


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 3)


def test_public_names_resolve_lazily():
    for name in ("CheckpointManager", "save_checkpoint", "load_model_from_checkpoint", "load_model_from_path",
                 "set_random_seed", "load_config_to_run", "load_config_from_run"):
        assert callable(getattr(exptool, name))


def test_save_and_load_by_epoch_like_the_template(run):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched.step()
    path = exptool.save_checkpoint("exp1", "run1", model, 3, opt, sched)
    assert path == run.checkpoints_dir / "checkpoint_epoch_3.pth"
    exptool.save_checkpoint("exp1", "run1", model, 4, opt, sched)

    fresh, fresh_opt = _model(seed=1), torch.optim.SGD(_model(seed=1).parameters(), lr=0.1, momentum=0.9)
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, 5)
    info = exptool.load_model_from_checkpoint("exp1", "run1", fresh, 3, fresh_opt, fresh_sched, device="cpu")
    assert info.epoch == 3 and info.path == path
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert fresh_sched.state_dict() == sched.state_dict()
    assert (run.checkpoints_dir / "checkpoint_epoch_3.pth").is_file()  # nothing pruned


def test_current_run_and_last_best(run, monkeypatch):
    monkeypatch.setenv("CURRENT_EXP", "exp1")
    monkeypatch.setenv("CURRENT_RUN", "run1")
    manager = exptool.CheckpointManager(run.checkpoints_dir, metric="acc", mode="max")
    good = _model(seed=2)
    manager.save(epoch=0, model=good, metrics={"acc": 0.9})
    manager.save(epoch=1, model=_model(seed=3), metrics={"acc": 0.1})
    fresh = _model(seed=4)
    assert exptool.load_model_from_checkpoint(None, None, fresh, "best").epoch == 0  # ranking read from manifest
    assert torch.equal(fresh.weight, good.weight)
    assert exptool.load_model_from_checkpoint(None, None, fresh, "last").epoch == 1
    assert exptool.save_checkpoint(None, None, fresh, 2).name == "checkpoint_epoch_2.pth"


def test_template_era_files_without_manifest_still_load(run):
    model = _model()
    torch.save({"model_state_dict": model.state_dict(), "epoch": 5}, run.checkpoints_dir / "checkpoint_epoch_5.pth")
    fresh = _model(seed=1)
    info = exptool.load_model_from_checkpoint("exp1", "run1", fresh, 5)
    assert info.epoch == 5 and torch.equal(fresh.weight, model.weight)
    assert not (run.checkpoints_dir / "manifest.json").exists()  # reading never writes


def test_errors_are_raised_not_printed(run, ws, tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint of epoch 9"):
        exptool.load_model_from_checkpoint("exp1", "run1", _model(), 9)
    with pytest.raises(NotFoundError, match="does not exist"):
        exptool.load_model_from_checkpoint("exp1", "nope", _model(), 1)
    with pytest.raises(NoCurrentRunError):
        exptool.save_checkpoint(None, None, _model(), 1)
    with pytest.raises(CheckpointError, match="not found"):
        exptool.load_model_from_path(tmp_path / "missing.pth", _model())


def test_load_model_from_path_with_device_and_optimizer(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    manager = exptool.CheckpointManager(tmp_path / "ck")
    path = manager.save(step=12, model=model, optimizer=opt, metrics={"loss": 0.5})
    fresh = _model(seed=1)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    info = exptool.load_model_from_path(str(path), fresh, fresh_opt, device=torch.device("cpu"))
    assert info.step == 12 and info.metrics == {"loss": 0.5}
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])

"""The fast paths of checkpoints: mapped loads copied on one thread, and saves whose folder flush and
pruning run behind the caller, in the order that keeps every crash guarantee."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from exptool import CheckpointManager
from exptool.checkpoints import _io, _settle, load_model_from_path
from exptool.errors import CheckpointError


@pytest.fixture(autouse=True)
def _keep_thread_count():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def ckdir(tmp_path):
    return tmp_path / "checkpoints"


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.BatchNorm1d(64), torch.nn.Linear(64, 4))


def test_load_copies_on_one_thread_and_restores_the_count(ckdir):
    source, target = _model(0), _model(1)
    ckpt = CheckpointManager(ckdir)
    ckpt.save(step=1, model=source)
    torch.set_num_threads(2)
    seen: list[int] = []
    target.register_load_state_dict_post_hook(lambda module, keys: seen.append(torch.get_num_threads()))
    ckpt.load("last", target)
    assert seen == [1] and torch.get_num_threads() == 2
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values(),
                                                   strict=True))


def test_a_loaded_model_and_optimizer_keep_training_after_the_file_is_gone(ckdir):
    """Loaded tensors may be mapped from the file: training must not care when it is pruned."""
    model = _model(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(8, 32)).sum().backward()
    opt.step()
    ckpt = CheckpointManager(ckdir, keep_last=1)
    first = ckpt.save(step=1, model=model, optimizer=opt)
    model2 = _model(1)
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    CheckpointManager(ckdir, keep_last=1).resume(model2, optimizer=opt2)
    ckpt.save(step=2, model=model, optimizer=opt)
    ckpt.wait()
    assert not first.exists()
    for m, o in ((model, opt), (model2, opt2)):  # the same updates from the same state
        o.zero_grad()
        m(torch.ones(8, 32)).sum().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters(), strict=True))
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"])


def test_only_zip_files_loaded_to_the_cpu_are_mapped_and_old_format_files_still_load(tmp_path):
    model = _model(0)
    new, old = tmp_path / "new.pth", tmp_path / "old.pth"
    torch.save(model.state_dict(), new)
    torch.save(model.state_dict(), old, _use_new_zipfile_serialization=False)
    assert _io.can_mmap(new, "cpu") and _io.can_mmap(new, None) and _io.can_mmap(new, torch.device("cpu"))
    assert not _io.can_mmap(new, "cuda") and not _io.can_mmap(old, "cpu")
    for path in (new, old):
        target = _model(1)
        load_model_from_path(path, target)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), target.state_dict().values(),
                                                       strict=True))


def test_the_folder_is_flushed_before_anything_is_pruned(ckdir, monkeypatch):
    """At the folder flush the new manifest is in place (not naming the pruned file) and the pruned
    file still exists: a power cut then leaves a durable manifest whose files are all there."""
    seen = []
    real = _settle.fsync_dir

    def watch(path):
        manifest = json.loads((ckdir / "manifest.json").read_text())
        seen.append((sorted(e["file"] for e in manifest["checkpoints"]), sorted(p.name for p in ckdir.iterdir())))
        real(path)

    monkeypatch.setattr(_settle, "fsync_dir", watch)
    ckpt = CheckpointManager(ckdir, keep_last=1)
    model = _model()
    ckpt.save(step=1, model=model)
    ckpt.save(step=2, model=model)
    ckpt.wait()
    named, on_disk = seen[-1]
    assert named == ["checkpoint_step_2.pth"]
    assert "checkpoint_step_1.pth" in on_disk  # not deleted before the flush
    assert sorted(p.name for p in ckdir.iterdir()) == ["checkpoint_step_2.pth", "manifest.json"]


def test_a_failed_flush_is_reported_and_deletes_nothing(ckdir, monkeypatch):
    def broken(path):
        raise OSError(errno.EIO, "Input/output error")

    ckpt = CheckpointManager(ckdir, keep_last=1)
    model = _model()
    ckpt.save(step=1, model=model)
    ckpt.wait()
    monkeypatch.setattr(_settle, "fsync_dir", broken)
    ckpt.save(step=2, model=model)
    with pytest.raises(CheckpointError, match="Cannot flush checkpoints .* Input/output error"):
        ckpt.wait()
    assert (ckdir / "checkpoint_step_1.pth").exists()  # kept: the new manifest may not be on disk
    monkeypatch.undo()
    ckpt.save(step=3, model=model)
    ckpt.wait()
    assert sorted(p.name for p in ckdir.iterdir()) == ["checkpoint_step_3.pth", "manifest.json"]


def test_a_sync_save_right_before_exit_is_flushed_and_pruned(tmp_path):
    script = textwrap.dedent(
        """
        import sys, torch
        from exptool import CheckpointManager
        ckpt = CheckpointManager(sys.argv[1], keep_last=1)
        model = torch.nn.Linear(64, 64)
        for step in range(5):
            ckpt.save(step=step, model=model)
        """
    )
    directory = tmp_path / "checkpoints"
    subprocess.run([sys.executable, "-c", script, str(directory)], check=True, timeout=120)
    assert sorted(p.name for p in directory.iterdir()) == ["checkpoint_step_4.pth", "manifest.json"]
    assert json.loads((directory / "manifest.json").read_text())["last"] == "checkpoint_step_4.pth"

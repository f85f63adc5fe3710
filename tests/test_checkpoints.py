"""CheckpointManager: round trips, last/best bookkeeping, pruning, restarts, safe loading, async saves."""

from __future__ import annotations

import json
import os
import pathlib
import random
import time

import pytest
import torch

from exptool import CheckpointManager
from exptool.checkpoints import load_model_from_path
from exptool.errors import CheckpointError, UnsafeCheckpointError


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))


def _train_a_bit(model, optimizer, scheduler=None, steps=3):
    for _ in range(steps):
        loss = model(torch.randn(4, 8)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def _same_state(a: dict, b: dict) -> bool:
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def ckdir(tmp_path):
    return tmp_path / "checkpoints"


def test_round_trip_restores_everything(ckdir):
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    _train_a_bit(model, opt, sched)
    ckpt = CheckpointManager(ckdir, metric="val_loss")
    path = ckpt.save(step=30, epoch=2, model=model, optimizer=opt, scheduler=sched, scaler=scaler,
                     metrics={"val_loss": torch.tensor(0.25), "acc": 0.9}, extra={"note": "hi", "ids": [1, 2]})
    assert path == ckdir / "checkpoint_epoch_2_step_30.pth" and path.is_file()
    assert ckpt.last_path == path and ckpt.best_path == path and ckpt.has_checkpoints()

    model2 = _model(seed=1)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1.0)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=9, gamma=0.1)
    scaler2 = torch.amp.GradScaler("cpu")
    info = CheckpointManager(ckdir, metric="val_loss").load("last", model2, opt2, sched2, scaler2)
    assert (info.step, info.epoch, info.next_epoch) == (30, 2, 3)
    assert info.metrics == {"val_loss": 0.25, "acc": 0.9} and info.extra == {"note": "hi", "ids": [1, 2]}
    assert info.path == path
    assert _same_state(model.state_dict(), model2.state_dict())
    assert opt2.state_dict()["param_groups"][0]["lr"] == opt.state_dict()["param_groups"][0]["lr"]
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert sched2.state_dict() == sched.state_dict()
    assert scaler2.get_scale() == 1024.0


def test_everything_saved_loads_with_plain_weights_only_torch_load(ckdir):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train_a_bit(model, opt)
    path = CheckpointManager(ckdir).save(step=1, model=model, optimizer=opt, metrics={"loss": 1.0})
    data = torch.load(path, weights_only=True)
    # the template's keys, so the template's own loaders keep working
    assert {"model_state_dict", "optimizer_state_dict", "step", "epoch", "metrics", "rng_state"} <= data.keys()
    assert isinstance(data["rng_state"]["torch"], torch.Tensor)


def test_keep_last_prunes_old_files_and_manifest_entries(ckdir):
    model = _model()
    ckpt = CheckpointManager(ckdir, keep_last=2, keep_best=0)
    for step in range(5):
        ckpt.save(step=step, model=model)
    ckpt.wait()  # pruning runs in the background
    assert _files(ckdir) == ["checkpoint_step_3.pth", "checkpoint_step_4.pth", "manifest.json"]
    manifest = json.loads((ckdir / "manifest.json").read_text())
    assert [e["file"] for e in manifest["checkpoints"]] == ["checkpoint_step_3.pth", "checkpoint_step_4.pth"]
    assert manifest["last"] == "checkpoint_step_4.pth" and manifest["best"] is None
    assert ckpt.manifest == manifest


def test_best_is_kept_beyond_keep_last(ckdir):
    model = _model()
    ckpt = CheckpointManager(ckdir, keep_last=1, keep_best=2, metric="val_loss", mode="min")
    for epoch, loss in enumerate([0.9, 0.2, 0.5, 0.3, 0.8]):
        ckpt.save(epoch=epoch, model=model, metrics={"val_loss": loss})
    ckpt.wait()  # pruning runs in the background
    assert _files(ckdir) == ["checkpoint_epoch_1.pth", "checkpoint_epoch_3.pth", "checkpoint_epoch_4.pth",
                             "manifest.json"]
    assert ckpt.best_path.name == "checkpoint_epoch_1.pth"
    assert ckpt.last_path.name == "checkpoint_epoch_4.pth"
    assert ckpt.manifest["best_k"] == ["checkpoint_epoch_1.pth", "checkpoint_epoch_3.pth"]


def test_mode_max_and_missing_or_nan_metric(ckdir):
    model = _model()
    ckpt = CheckpointManager(ckdir, keep_last=1, keep_best=1, metric="acc", mode="max")
    ckpt.save(epoch=0, model=model, metrics={"acc": 0.5})
    ckpt.save(epoch=1, model=model, metrics={"acc": 0.7})
    ckpt.save(epoch=2, model=model, metrics={"acc": float("nan")})
    ckpt.save(epoch=3, model=model, metrics={"loss": 1.0})
    assert ckpt.best_path.name == "checkpoint_epoch_1.pth"
    ckpt.wait()  # pruning runs in the background
    assert _files(ckdir) == ["checkpoint_epoch_1.pth", "checkpoint_epoch_3.pth", "manifest.json"]


def test_best_survives_a_restart_and_is_never_replaced_by_a_worse_model(ckdir):
    good = _model(seed=1)
    first = CheckpointManager(ckdir, keep_last=1, keep_best=1, metric="val_loss")
    first.save(epoch=0, model=good, metrics={"val_loss": 0.1})
    first.save(epoch=1, model=_model(seed=2), metrics={"val_loss": 0.4})

    # a new process resumes the run: its saves are all worse than the best so far
    resumed = CheckpointManager(ckdir, keep_last=1, keep_best=1, metric="val_loss")
    info = resumed.resume(_model(seed=3))
    assert info.epoch == 1
    for epoch in (2, 3):
        resumed.save(epoch=epoch, model=_model(seed=epoch + 10), metrics={"val_loss": 0.3})
    assert resumed.best_path.name == "checkpoint_epoch_0.pth"
    loaded = _model(seed=9)
    resumed.load("best", loaded)
    assert _same_state(loaded.state_dict(), good.state_dict())
    resumed.wait()  # pruning runs in the background
    assert _files(ckdir) == ["checkpoint_epoch_0.pth", "checkpoint_epoch_3.pth", "manifest.json"]

    better = _model(seed=4)
    resumed.save(epoch=4, model=better, metrics={"val_loss": 0.05})
    assert resumed.best_path.name == "checkpoint_epoch_4.pth"
    resumed.wait()  # pruning runs in the background
    assert not (ckdir / "checkpoint_epoch_0.pth").exists()


def test_a_resaved_name_never_overwrites_an_existing_file(ckdir):
    best = _model(seed=1)
    ckpt = CheckpointManager(ckdir, keep_last=3, keep_best=1, metric="val_loss")
    ckpt.save(epoch=4, model=best, metrics={"val_loss": 0.1})
    # e.g. a run restarted from an earlier epoch reaches epoch 4 again, with a worse model
    again = ckpt.save(epoch=4, model=_model(seed=2), metrics={"val_loss": 0.9})
    assert again.name == "checkpoint_epoch_4_r1.pth"
    loaded = _model(seed=3)
    ckpt.load("best", loaded)
    assert _same_state(loaded.state_dict(), best.state_dict())
    assert ckpt.load(4).path == again  # an epoch number picks the most recent save of that epoch


def test_resume_restores_rng_states(ckdir):
    import numpy as np

    model = _model()
    ckpt = CheckpointManager(ckdir)
    assert ckpt.resume(model) is None  # fresh start
    torch.manual_seed(11)
    random.seed(11)
    np.random.seed(11)
    ckpt.save(step=5, model=model)
    expected = (torch.rand(3).tolist(), random.random(), np.random.rand())
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    info = CheckpointManager(ckdir).resume(model)
    assert info.step == 5
    assert (torch.rand(3).tolist(), random.random(), np.random.rand()) == expected


def test_load_selectors(ckdir):
    model = _model()
    ckpt = CheckpointManager(ckdir, keep_last=None)
    for epoch in range(3):
        ckpt.save(epoch=epoch, step=epoch * 10, model=model)
    assert ckpt.load(1, model).epoch == 1
    assert ckpt.load("2", model).epoch == 2
    assert ckpt.load("checkpoint_epoch_2_step_20.pth", model).step == 20
    assert ckpt.load(ckdir / "checkpoint_epoch_0_step_0.pth", model).epoch == 0
    with pytest.raises(CheckpointError, match="No checkpoint of epoch 7") as info:
        ckpt.load(7, model)
    assert "0, 1, 2" in info.value.hint
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load("nope.pth", model)
    with pytest.raises(CheckpointError, match="no metric"):
        ckpt.load("best", model)


def test_empty_folder_errors_and_resume(ckdir):
    ckpt = CheckpointManager(ckdir)
    assert not ckpt.has_checkpoints() and ckpt.last_path is None and ckpt.best_path is None
    with pytest.raises(CheckpointError, match="No checkpoint in .* yet"):
        ckpt.load("last", _model())
    assert ckpt.resume(_model()) is None


class _Evil:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_tampered_checkpoint_is_refused_by_default(ckdir, tmp_path):
    model = _model()
    ckpt = CheckpointManager(ckdir)
    path = ckpt.save(step=1, model=model)
    marker = tmp_path / "pwned"
    data = torch.load(path, weights_only=True)
    data["extra"] = {"payload": _Evil(marker)}
    torch.save(data, path)  # an attacker replaces the file

    with pytest.raises(UnsafeCheckpointError) as info:
        ckpt.load("last", model)
    assert "weights_only=False" in info.value.hint and "safe loader refuses" in str(info.value)
    assert isinstance(info.value, CheckpointError) and info.value.exit_code == 1
    with pytest.raises(UnsafeCheckpointError):
        load_model_from_path(path, model)
    assert not marker.exists()
    # the explicit opt-in does run it: that is why it is opt-in
    ckpt.load("last", model, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_is_a_clear_error(ckdir, damage):
    model = _model()
    ckpt = CheckpointManager(ckdir)
    path = ckpt.save(step=1, model=model)
    content = path.read_bytes()
    path.write_bytes({"truncate": content[: len(content) // 2], "garbage": b"not a checkpoint" * 64,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError) as info:
        ckpt.load("last", model)
    message = str(info.value)
    assert str(path) in message and "damaged" in message and "\n" not in message


def test_states_that_do_not_fit_are_a_clear_error(ckdir):
    ckpt = CheckpointManager(ckdir)
    ckpt.save(step=1, model=_model())
    with pytest.raises(CheckpointError, match="model state does not fit"):
        ckpt.load("last", torch.nn.Linear(3, 3))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        ckpt.load("last", _model(), optimizer=torch.optim.SGD(_model().parameters(), lr=1))


def test_unsafe_extra_is_refused_at_save_time(ckdir):
    ckpt = CheckpointManager(ckdir)
    with pytest.raises(CheckpointError, match=r"extra'\]\['cfg'\].*argparse.Namespace") as info:
        import argparse

        ckpt.save(step=1, model=_model(), extra={"cfg": argparse.Namespace(lr=1)})
    assert "weights_only=True" in info.value.hint
    with pytest.raises(CheckpointError, match="not a number"):
        ckpt.save(step=1, model=_model(), metrics={"loss": "low"})
    with pytest.raises(CheckpointError, match="step or an epoch"):
        ckpt.save(model=_model())
    assert _files(ckdir) == []


def test_async_save_equals_sync_save_and_is_isolated_from_later_training(ckdir):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    _train_a_bit(model, opt)
    ckpt = CheckpointManager(ckdir, keep_last=None)
    torch.manual_seed(5)
    sync_path = ckpt.save(step=1, model=model, optimizer=opt, metrics={"m": 1.0}, extra={"t": torch.arange(3)})
    torch.manual_seed(5)
    async_path = ckpt.save_async(step=2, model=model, optimizer=opt, metrics={"m": 1.0}, extra={"t": torch.arange(3)})
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    _train_a_bit(model, opt)  # training goes on while the file is written
    ckpt.wait()
    assert ckpt.last_path == async_path
    a = torch.load(sync_path, weights_only=True)
    b = torch.load(async_path, weights_only=True)
    assert _same_state(a["model_state_dict"], b["model_state_dict"])
    assert _same_state(b["model_state_dict"], snapshot)
    opt_a, opt_b = a["optimizer_state_dict"], b["optimizer_state_dict"]
    assert torch.equal(opt_a["state"][0]["exp_avg"], opt_b["state"][0]["exp_avg"])
    assert opt_a["param_groups"] == opt_b["param_groups"]
    assert torch.equal(a["rng_state"]["torch"], b["rng_state"]["torch"])
    assert (a["metrics"], a["extra"]["t"].tolist()) == (b["metrics"], b["extra"]["t"].tolist())

    # reused host buffers: a second async save must not change the first file's content
    ckpt.save_async(step=3, model=model, optimizer=opt)
    ckpt.wait()
    c = torch.load(ckdir / "checkpoint_step_3.pth", weights_only=True)
    assert _same_state(c["model_state_dict"], model.state_dict())
    assert _same_state(torch.load(async_path, weights_only=True)["model_state_dict"], snapshot)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_host_copy_shared_among_threads_copies_every_byte(monkeypatch, threads):
    from exptool.checkpoints import _staging

    monkeypatch.setattr(_staging.HostStaging, "_MIN_SHARE_BYTES", 64)  # shares cut across and inside tensors
    state = {"a": torch.randn(1000), "b": torch.arange(77, dtype=torch.int16), "c": torch.randn(3, 5).double(),
             "empty": torch.empty(0), "view": torch.randn(40, 40).t(), "nested": [torch.randn(333), 1]}
    staging = _staging.HostStaging()
    copied = None
    for _ in range(2):  # the second round writes into the reused buffers
        monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
        copied = staging.copy(state)
        assert all(torch.equal(copied[k], state[k]) for k in ("a", "b", "c", "empty", "view"))
        assert torch.equal(copied["nested"][0], state["nested"][0]) and copied["nested"][1] == 1
        for value in state.values():
            (value[0] if isinstance(value, list) else value).add_(1)  # training moves on
    assert not torch.equal(copied["a"], state["a"])  # a copy, not a view
    assert (staging._pool is None) == (threads == 1)


def test_split_cuts_copies_into_consecutive_shares():
    from exptool.checkpoints._staging import _split

    moves = [(1000, 5000, 10), (2000, 6000, 3), (3000, 7000, 9)]
    shares = _split(moves, 8)
    assert [sum(size for *_, size in share) for share in shares] == [8, 8, 6]
    pieces = [piece for share in shares for piece in share]
    assert pieces == [(1000, 5000, 8), (1008, 5008, 2), (2000, 6000, 3), (3000, 7000, 3), (3003, 7003, 6)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_host_copy_works_in_a_forked_child(monkeypatch):
    from exptool.checkpoints import _staging

    monkeypatch.setattr(_staging.HostStaging, "_MIN_SHARE_BYTES", 64)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    staging = _staging.HostStaging()
    state = {"w": torch.randn(4096)}
    staging.copy(state)  # the parent's pool threads do not exist in a child
    pid = os.fork()
    if pid == 0:
        ok = torch.equal(staging.copy({"w": state["w"] + 1})["w"], state["w"] + 1)
        os._exit(0 if ok else 1)
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the host copy hung in a forked child")
    assert os.waitstatus_to_exitcode(status) == 0


def test_async_error_surfaces_on_wait(ckdir, monkeypatch):
    from exptool.checkpoints import _io

    ckpt = CheckpointManager(ckdir)

    def failing_write(payload, path, fsync=True):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io, "write_atomic", failing_write)
    ckpt.save_async(step=1, model=_model())
    with pytest.raises(CheckpointError, match="No space left"):
        ckpt.wait()
    ckpt.wait()  # reported once
    assert not ckpt.has_checkpoints()


def test_only_rank_zero_writes(ckdir):
    ckpt = CheckpointManager(ckdir, rank=1)
    assert not ckpt.is_writer
    assert ckpt.save(step=1, model=_model()) is None
    assert ckpt.save_async(step=2, model=_model()) is None
    assert not ckdir.exists()


def test_rank_from_environment_and_reload(ckdir, monkeypatch):
    writer = CheckpointManager(ckdir)
    monkeypatch.setenv("RANK", "3")
    reader = CheckpointManager(ckdir)
    assert reader.rank == 3 and reader.resume(_model()) is None
    writer.save(step=7, model=_model())
    assert reader.resume(_model()).step == 7  # other ranks re-read the manifest


def test_damaged_manifest_is_rebuilt_from_the_files(ckdir):
    model = _model()
    ckpt = CheckpointManager(ckdir, keep_last=2, keep_best=1, metric="loss")
    for step, loss in enumerate([0.3, 0.1, 0.2, 0.4]):
        ckpt.save(step=step, model=model, metrics={"loss": loss})
    (ckdir / "manifest.json").write_text("{ not json")
    again = CheckpointManager(ckdir, keep_last=2, keep_best=1, metric="loss")
    assert again.last_path.name == "checkpoint_step_3.pth"
    assert again.best_path.name == "checkpoint_step_1.pth"
    assert (ckdir / "manifest.json.damaged").read_text() == "{ not json"
    assert json.loads((ckdir / "manifest.json").read_text())["best"] == "checkpoint_step_1.pth"


@pytest.mark.parametrize("field", ["checkpoints", "pending_delete"])
@pytest.mark.parametrize("name", ["../victim.pth", "sub/victim.pth", "..", "/abs/victim.pth", ""])
def test_manifest_naming_files_outside_the_folder_is_rebuilt_and_never_deletes_them(ckdir, tmp_path, field, name):
    ckpt = CheckpointManager(ckdir, keep_last=1)
    ckpt.save(step=1, model=_model())
    victim = tmp_path / "victim.pth"
    torch.save({"model_state_dict": _model().state_dict()}, victim)
    (ckdir / "sub").mkdir()
    torch.save({"model_state_dict": _model().state_dict()}, ckdir / "sub" / "victim.pth")
    manifest = json.loads((ckdir / "manifest.json").read_text())
    if field == "checkpoints":  # an entry that pruning would delete
        manifest["checkpoints"].insert(0, {"file": name, "step": 0})
    else:
        manifest["pending_delete"] = [name]
    (ckdir / "manifest.json").write_text(json.dumps(manifest))

    again = CheckpointManager(ckdir, keep_last=1)
    assert (ckdir / "manifest.json.damaged").exists()
    again.save(step=2, model=_model())
    again.wait()
    assert victim.is_file() and (ckdir / "sub" / "victim.pth").is_file()
    assert again.last_path.name == "checkpoint_step_2.pth"
    assert all("/" not in e["file"] and e["file"] not in ("", "..") for e in again.manifest["checkpoints"])


@pytest.mark.parametrize("checkpoints", [[{"file": "a.pth", "metrics": [1]}], [{"file": "a.pth", "step": 1e400}],
                                         "abc", [{"file": 3}]])
def test_manifest_of_the_wrong_shape_is_rebuilt(ckdir, checkpoints):
    CheckpointManager(ckdir).save(step=1, model=_model())
    (ckdir / "manifest.json").write_text(json.dumps({"format": 1, "checkpoints": checkpoints})
                                         .replace('"step": Infinity', '"step": 1e400'))
    again = CheckpointManager(ckdir)
    assert again.last_path.name == "checkpoint_step_1.pth"


def test_a_checkpoint_deleted_by_hand_is_dropped_and_the_run_resumes_from_the_one_before(ckdir):
    ckpt = CheckpointManager(ckdir, keep_last=3, keep_best=1, metric="loss")
    for step, loss in enumerate([0.3, 0.1, 0.2]):
        ckpt.save(step=step, model=_model(seed=step), metrics={"loss": loss})
    (ckdir / "checkpoint_step_2.pth").unlink()  # a bad checkpoint the user removed
    (ckdir / "checkpoint_step_1.pth").unlink()

    reader = CheckpointManager(ckdir, metric="loss", rank=1)  # only rank 0 decides a file is gone
    with pytest.raises(CheckpointError, match="not found"):
        reader.load("last", _model())
    again = CheckpointManager(ckdir, keep_last=3, keep_best=1, metric="loss")
    model = _model(seed=9)
    assert again.resume(model).step == 0
    assert _same_state(model.state_dict(), _model(seed=0).state_dict())
    reader.reload()
    assert reader.last_path.name == "checkpoint_step_0.pth" and reader.best_path.name == "checkpoint_step_0.pth"
    manifest = json.loads((ckdir / "manifest.json").read_text())
    assert [e["file"] for e in manifest["checkpoints"]] == ["checkpoint_step_0.pth"]
    assert manifest["last"] == manifest["best"] == "checkpoint_step_0.pth"


def test_a_rebuilt_manifest_is_accepted_by_the_next_read(ckdir):
    ckdir.mkdir()
    torch.save({"model_state_dict": _model().state_dict()}, ckdir / "odd\\name.pth")
    torch.save({"model_state_dict": _model().state_dict()}, ckdir / "checkpoint_epoch_2.pth")
    CheckpointManager(ckdir)  # no manifest yet: rebuilt from the files
    again = CheckpointManager(ckdir)
    assert not (ckdir / "manifest.json.damaged").exists()
    assert [e["file"] for e in again.manifest["checkpoints"]] == ["checkpoint_epoch_2.pth"]
    assert (ckdir / "odd\\name.pth").is_file()


def test_leftover_temp_files_are_removed_and_foreign_files_kept(ckdir):
    import subprocess
    import sys
    import time

    from exptool.checkpoints._io import _host

    ckdir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = ckdir / f".ckpt-{_host()}-{int(dead.stdout)}-abc.tmp"  # its writer died mid-save
    live = ckdir / f".ckpt-{_host()}-{os.getppid()}-def.tmp"  # another process is writing it right now
    old = ckdir / ".ckpt-otherhost-123-ghi.tmp"  # from another machine, hours ago
    for path in (killed, live, old):
        path.write_bytes(b"half written")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (ckdir / "notes.txt").write_text("mine")
    torch.save({"model_state_dict": _model().state_dict()}, ckdir / "checkpoint_epoch_0.pth")  # template-era file
    ckpt = CheckpointManager(ckdir, keep_last=1)
    assert not killed.exists() and not old.exists() and live.exists()
    live.unlink()
    assert ckpt.last_path.name == "checkpoint_epoch_0.pth"  # adopted
    ckpt.save(epoch=1, model=_model())
    ckpt.save(epoch=2, model=_model())
    ckpt.wait()  # pruning runs in the background
    assert _files(ckdir) == ["checkpoint_epoch_0.pth", "checkpoint_epoch_2.pth", "manifest.json", "notes.txt"]


def test_wrapped_models_save_and_load_plain_keys(ckdir):
    model = _model()
    wrapped = torch.nn.DataParallel(model)
    path = CheckpointManager(ckdir).save(step=1, model=wrapped)
    assert not any(k.startswith("module.") for k in torch.load(path, weights_only=True)["model_state_dict"])
    # an older checkpoint saved from a wrapped model still loads into the bare one
    torch.save({"model_state_dict": wrapped.state_dict()}, ckdir.parent / "old.pth")
    fresh = _model(seed=5)
    load_model_from_path(ckdir.parent / "old.pth", fresh)
    assert _same_state(fresh.state_dict(), model.state_dict())


def test_bare_state_dict_file_loads(tmp_path):
    model = _model()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    fresh = _model(seed=3)
    info = load_model_from_path(tmp_path / "weights.pt", fresh)
    assert info.step is None and _same_state(fresh.state_dict(), model.state_dict())


def test_bad_arguments(ckdir):
    with pytest.raises(CheckpointError, match="mode"):
        CheckpointManager(ckdir, mode="lowest")
    with pytest.raises(CheckpointError, match="keep_last"):
        CheckpointManager(ckdir, keep_last=0)
    with pytest.raises(CheckpointError, match="non-negative"):
        CheckpointManager(ckdir).save(step=-1, model=_model())
    for bad in (2.5, "x", float("nan"), float("inf")):
        with pytest.raises(CheckpointError, match="must be an integer"):
            CheckpointManager(ckdir).save(step=bad, model=_model())
    assert CheckpointManager(ckdir).save(epoch=2.0, step=torch.tensor(7), model=_model()).name == (
        "checkpoint_epoch_2_step_7.pth")


def test_no_fsync_option_still_writes_complete_files(ckdir):
    ckpt = CheckpointManager(ckdir, fsync=False)
    path = ckpt.save(step=1, model=_model())
    assert os.path.getsize(path) > 0 and ckpt.load("last", _model()).step == 1


def test_checkpoint_files_follow_the_umask(ckdir):
    import stat

    old = os.umask(0o022)
    try:
        path = CheckpointManager(ckdir).save(step=1, model=_model())
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE((ckdir / "manifest.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)

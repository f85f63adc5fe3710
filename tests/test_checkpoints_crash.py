"""A process SIGKILLed at random moments while saving never leaves the run without a loadable checkpoint."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from exptool.checkpoints import CheckpointManager

KILLS = 25

# A small server that imports torch once, then for each delay it reads: forks a trainer that
# resumes from the last checkpoint and saves (sync and async, alternately) as fast as it can,
# SIGKILLs it after the delay, and reports. Forking avoids paying torch's import 25 times.
_SERVER = textwrap.dedent(
    """
    import os, random, signal, sys, time
    import torch
    from exptool.checkpoints import CheckpointManager

    def _model():
        return torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.Linear(256, 512))

    def train(directory, seed):
        rng = random.Random(seed)
        ckpt = CheckpointManager(directory, keep_last=2, keep_best=2, metric="val_loss")
        model = _model()
        info = ckpt.resume(model)
        step = info.step + 1 if info else 0
        while True:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(step)
            save = ckpt.save_async if step % 2 else ckpt.save
            save(step=step, epoch=step // 3, model=model, metrics={"val_loss": rng.random()}, extra={"marker": step})
            step += 1

    directory = sys.argv[1]
    for number, line in enumerate(sys.stdin):
        delay = float(line)
        pid = os.fork()
        if pid == 0:
            try:
                train(directory, number)
            finally:
                os._exit(3)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)
    """
)


def _model():
    return torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.Linear(256, 512))


def _check(directory) -> tuple[int, int]:
    """Assert the manifest is valid and every file it names loads; return (last step, temp files left)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    files = [entry["file"] for entry in manifest["checkpoints"]]
    assert manifest["last"] == files[-1]
    assert all((directory / name).is_file() for name in files)
    losses = {e["file"]: e["metrics"]["val_loss"] for e in manifest["checkpoints"]}
    assert losses[manifest["best"]] == min(losses.values())
    temps = sum(1 for p in directory.iterdir() if p.name.endswith(".tmp"))

    reader = CheckpointManager(directory, metric="val_loss", rank=1)  # reads, never tidies up
    model = _model()
    info = reader.load("last", model)
    assert info.extra == {"marker": info.step}
    assert all(bool((p == info.step).all()) for p in model.parameters()), "a checkpoint mixing two saves"
    best = reader.load("best", _model())
    assert best.path.name == manifest["best"]
    return info.step, temps


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="needs fork and SIGKILL")
def test_sigkill_at_random_moments_while_saving(tmp_path):
    directory = tmp_path / "checkpoints"
    first = _model()
    with torch.no_grad():
        for p in first.parameters():
            p.fill_(0)
    CheckpointManager(directory, keep_last=2, keep_best=2, metric="val_loss").save(
        step=0, epoch=0, model=first, metrics={"val_loss": 1.0}, extra={"marker": 0}
    )
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(directory)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    rng = random.Random(1234)
    steps, killed_mid_save = [], 0
    try:
        for _ in range(KILLS):
            server.stdin.write(f"{rng.uniform(0.0, 0.3)}\n")
            server.stdin.flush()
            status = server.stdout.readline().strip()
            assert status == str(signal.SIGKILL), f"trainer ended with wait status {status!r}, not by SIGKILL"
            step, temps = _check(directory)
            steps.append(step)
            killed_mid_save += temps > 0
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    assert steps == sorted(steps), "a restart went back to an older checkpoint"
    assert steps[-1] >= 10  # the trainers really saved between kills
    assert killed_mid_save >= 1  # and some kills landed in the middle of a write


def test_an_async_save_pending_at_exit_is_finished(tmp_path):
    script = textwrap.dedent(
        """
        import sys, torch
        from exptool import CheckpointManager
        ckpt = CheckpointManager(sys.argv[1], keep_last=1)
        model = torch.nn.Linear(512, 512)
        ckpt.save(step=0, model=model)
        ckpt.save_async(step=1, model=model)
        """
    )
    directory = tmp_path / "checkpoints"
    subprocess.run([sys.executable, "-c", script, str(directory)], check=True, timeout=120)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["last"] == "checkpoint_step_1.pth"
    assert sorted(p.name for p in directory.iterdir()) == ["checkpoint_step_1.pth", "manifest.json"]

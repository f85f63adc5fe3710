"""`exp train` end to end, as a subprocess of the installed command line: records, resume, failures,
signals and the lock."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TRAINERS = textwrap.dedent(
    """
    import json, os, signal, time

    def counting(ctx):
        import torch
        steps = int(ctx.config.get("steps", 20))
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        ctx.resume(model, opt)
        for step in range(ctx.start_step + 1, steps + 1):
            ctx.logger.log({"loss": float(step), "rand": torch.rand(1).item()}, step)
            if step % 5 == 0:
                ctx.checkpoints.save(step=step, model=model, optimizer=opt, metrics={"val_loss": 1.0 / step})
            if step == ctx.config.get("crash_at"):
                os.kill(os.getpid(), signal.SIGKILL)

    def failing(ctx):
        ctx.logger.log({"loss": 1.0}, 1)
        raise ValueError("boom at step 1")

    def sleeping(ctx):
        import torch
        model = torch.nn.Linear(2, 1)
        ctx.resume(model)
        step = ctx.start_step
        while True:
            step += 1
            ctx.logger.log({"loss": 1.0}, step)
            if step == ctx.start_step + 1:  # ready once a step is on disk
                (ctx.path / "ready").write_text(str(os.getpid()))
            if ctx.config.get("poll") and ctx.should_stop:
                ctx.checkpoints.save(step=step, model=model)
                (ctx.path / "stopped_cleanly").write_text(str(step))
                return
            time.sleep(0.05)
    """
)
CSV_ONLY = {"logging": {"writers": ["csv"]}}


@pytest.fixture
def tws(ws: Path) -> Path:
    """A workspace with the test trainers in tt.py."""
    (ws / "tt.py").write_text(TRAINERS)
    return ws


def _run(exp, ws: Path, name: str, config: dict | None = None) -> Path:
    cfg = ws / "config" / f"{name}.json"
    cfg.write_text(json.dumps({**CSV_ONLY, **(config or {})}))
    res = exp("init-run", "-e", "e", "-r", name, "-c", str(cfg))
    assert res.returncode == 0, res.stderr
    return ws / "experiments" / "e" / name


def _record(run_path: Path) -> dict:
    return json.loads((run_path / "run.json").read_text())


def _steps(run_path: Path) -> list[int]:
    with open(run_path / "logs" / "metrics.csv", newline="") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh)]


def _column(run_path: Path, name: str) -> dict[int, str]:
    with open(run_path / "logs" / "metrics.csv", newline="") as fh:
        return {int(row["step"]): row[name] for row in csv.DictReader(fh) if row.get(name)}


def _popen(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "exptool", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited early with {proc.returncode}: {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


@pytest.mark.slow
def test_completed_run_records_provenance_and_fresh_needs_clear(exp, tws):
    subprocess.run(["git", "init", "-q"], cwd=tws, check=True)
    subprocess.run(["git", "add", "tt.py"], cwd=tws, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=tws, check=True
    )
    with open(tws / "tt.py", "a") as fh:
        fh.write("\n# an uncommitted change\n")
    run_path = _run(exp, tws, "ok", {"steps": 7})
    res = exp("train", "--trainer", "tt:counting", "--seed", "123", "--set", "steps=6")
    assert res.returncode == 0, res.stderr
    assert "completed" in res.stdout
    rec = _record(run_path)
    assert rec["status"] == "completed" and rec["exit_code"] == 0
    assert rec["started"] <= rec["ended"] and rec["duration_s"] >= 0
    assert rec["seed"] == 123 and rec["resumed"] is False and rec["attempts"] == 1
    assert rec["trainer"] == {"name": "tt:counting", "target": "tt:counting", "source": "--trainer"}
    assert rec["command"].startswith("exp train --trainer tt:counting")
    assert rec["host"] and rec["versions"]["python"] and rec["versions"]["torch"] and rec["versions"]["exptool"]
    assert len(rec["git"]["commit"]) == 40 and rec["git"]["dirty"] is True and rec["git"]["patch"] == "git.patch"
    assert "an uncommitted change" in (run_path / "git.patch").read_text()
    config = json.loads((run_path / "config.json").read_text())
    assert config["steps"] == 6 and config["trainer"] == "tt:counting"  # effective config saved back
    assert _steps(run_path) == [1, 2, 3, 4, 5, 6]
    shown = json.loads(exp("show", "--json").stdout)
    assert shown["run"]["status"] == "completed"
    listed = json.loads(exp("ls", "e", "--json").stdout)
    assert listed["runs"][0]["status"] == "completed"

    # a fresh start would clobber the checkpoints: refused unless --clear
    res = exp("train", "--fresh")
    assert res.returncode == 2 and "has checkpoints" in res.stderr and "--clear" in res.stderr
    assert _steps(run_path) == [1, 2, 3, 4, 5, 6]
    res = exp("train", "--fresh", "--clear", "--yes", "--set", "steps=3")
    assert res.returncode == 0, res.stderr
    assert _steps(run_path) == [1, 2, 3]
    rec = _record(run_path)
    assert rec["resumed"] is False and rec["attempts"] == 2 and rec["git"]["dirty"] is True


@pytest.mark.slow
def test_resume_after_kill_continues_without_duplicates(exp, tws):
    run_path = _run(exp, tws, "crash", {"steps": 20, "crash_at": 13})
    res = exp("train", "--trainer", "tt:counting")
    assert res.returncode == -signal.SIGKILL
    assert _record(run_path)["status"] == "running"  # killed: nobody could record the end
    assert _steps(run_path) == list(range(1, 14))
    before = _column(run_path, "rand")
    res = exp("train", "--set", "crash_at=0", "--json")  # the trainer comes from the run config now
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["resumed"] is True and out["start_step"] == 10 and out["status"] == "completed"
    assert _steps(run_path) == list(range(1, 21))  # 11..13 were redone once, not appended twice
    after = _column(run_path, "rand")
    assert all(after[s] == before[s] for s in range(1, 11))
    # the RNG state came back with the checkpoint: step 11 drew the same number as before the kill
    assert after[11] == before[11]
    rec = _record(run_path)
    assert rec["status"] == "completed" and rec["resumed"] is True and rec["attempts"] == 2


@pytest.mark.slow
def test_failing_trainer_is_recorded_with_traceback(exp, tws):
    run_path = _run(exp, tws, "bad")
    res = exp("train", "--trainer", "tt:failing")
    assert res.returncode == 1
    assert "ValueError: boom at step 1" in res.stderr and "log.txt" in res.stderr
    assert "Traceback (most recent call last)" not in res.stderr
    rec = _record(run_path)
    assert rec["status"] == "failed" and rec["exit_code"] == 1 and "boom" in rec["error"]
    log = (run_path / "logs" / "log.txt").read_text()
    assert "Traceback" in log and 'raise ValueError("boom at step 1")' in log
    assert _steps(run_path) == [1]  # what was logged before the failure is kept
    # exptool's own settings (a bad writer name) are bad usage, refused before anything is written:
    # --clear deletes nothing and config.json keeps its old value
    config_before = (run_path / "config.json").read_text()
    res = exp("train", "--clear", "--yes", "--set", "logging.writers=[nope]")
    assert res.returncode == 2 and "Config key 'logging.writers' is 'nope': not a writer" in res.stderr
    assert "known writers: csv, tensorboard, wandb" in res.stderr
    assert _record(run_path)["status"] == "failed"
    assert (run_path / "config.json").read_text() == config_before and _steps(run_path) == [1]


@pytest.mark.slow
def test_missing_run_explains_and_create_makes_it(exp, tws):
    res = exp("train", "-e", "e", "-r", "nothere", "--trainer", "tt:failing")
    assert res.returncode == 2 and "does not exist" in res.stderr and "init-run" in res.stderr
    assert "--create" in res.stderr and not (tws / "experiments" / "e" / "nothere").exists()
    res = exp("train", "-e", "e", "-r", "made", "--create", "--trainer", "tt:counting", "--set", "+steps=2",
              "--set", "+logging.writers=[csv]")
    assert res.returncode == 0, res.stderr
    assert _steps(tws / "experiments" / "e" / "made") == [1, 2]


def test_unknown_trainer_lists_registered(exp, tws):
    _run(exp, tws, "x")
    res = exp("train", "--trainer", "nope")
    assert res.returncode == 2 and "Unknown trainer 'nope'" in res.stderr and "demo" in res.stderr
    res = exp("train", "--trainer", "tt:counting", "--set", "typo_key=1")
    assert res.returncode == 2 and "typo_key" in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_records_interrupted_and_exits_130(exp, tws, sig):
    run_path = _run(exp, tws, "stopme")
    proc = _popen("train", "--trainer", "tt:sleeping", cwd=tws)
    _wait_for(run_path / "ready", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    rec = _record(run_path)
    assert rec["status"] == "interrupted" and rec["exit_code"] == 130
    assert _steps(run_path)  # the logs were flushed
    assert "`exp train --clear` starts it over" in err  # no checkpoint: a plain `exp train` would refuse


def test_interrupt_with_the_output_pipe_gone_still_exits_130(exp, tws):
    # `exp train 2>&1 | tee log` and Ctrl-C: tee dies too, and the last message has no reader.
    run_path = _run(exp, tws, "teed")
    proc = _popen("train", "--trainer", "tt:sleeping", cwd=tws)
    _wait_for(run_path / "ready", proc)
    proc.stdout.close()
    proc.stderr.close()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert _record(run_path)["status"] == "interrupted"


@pytest.mark.slow
def test_sigterm_lets_a_polling_trainer_checkpoint(exp, tws):
    run_path = _run(exp, tws, "graceful", {"poll": True})
    proc = _popen("train", "--trainer", "tt:sleeping", cwd=tws)
    _wait_for(run_path / "ready", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped_at = int((run_path / "stopped_cleanly").read_text())
    assert _record(run_path)["status"] == "interrupted"
    assert "run `exp train` again to resume from the last checkpoint" in err
    manifest = json.loads((run_path / "checkpoints" / "manifest.json").read_text())
    assert manifest["checkpoints"][-1]["step"] == stopped_at


@pytest.mark.slow
def test_lock_stops_a_second_train_and_a_dead_holder_releases_it(exp, tws):
    run_path = _run(exp, tws, "locked", {"poll": True})
    proc = _popen("train", "--trainer", "tt:sleeping", cwd=tws)
    try:
        _wait_for(run_path / "ready", proc)
        res = exp("train", "--trainer", "tt:sleeping")
        assert res.returncode == 1
        assert "already being trained" in res.stderr and f"pid {proc.pid}" in res.stderr
        assert _record(run_path)["status"] == "running"
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    (run_path / "ready").unlink()
    proc2 = _popen("train", "--trainer", "tt:sleeping", "--clear", "--yes", cwd=tws)  # the stale lock is recovered
    try:
        _wait_for(run_path / "ready", proc2)
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.communicate(timeout=60)
    assert proc2.returncode == 130


@pytest.mark.slow
def test_demo_trains_logs_checkpoints_draws_and_resumes(exp, ws):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert exp("init-run", "-e", "demo", "-r", "first").returncode == 0
    res = exp("train", "--trainer", "demo", "--set", "epochs=2")
    assert res.returncode == 0, res.stderr
    run_path = ws / "experiments" / "demo" / "first"
    assert "val_acc" in res.stdout and "decision_boundary_step" in res.stdout  # the image, in the one summary
    assert "device cpu (1 thread)" in res.stdout or "OMP_NUM_THREADS" in os.environ  # tiny model: one thread
    steps = _steps(run_path)
    per_epoch = steps[-1] // 2
    assert steps == list(range(1, 2 * per_epoch + 1))
    manifest = json.loads((run_path / "checkpoints" / "manifest.json").read_text())
    assert len(manifest["checkpoints"]) == 2 and manifest["best"] is not None and manifest["metric"] == "val_loss"
    images = list((run_path / "visualizations").glob("decision_boundary*.png"))
    assert len(images) == 1 and images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = EventAccumulator(str(run_path / "logs")).Reload()
    assert [e.step for e in acc.Scalars("val_loss")] == [per_epoch, 2 * per_epoch]
    config = json.loads((run_path / "config.json").read_text())
    assert config["epochs"] == 2 and config["trainer"] == "demo" and config["dataset"] == "spirals"

    res = exp("train", "--set", "epochs=3", "--json")  # resumes: the trainer is in the run config now
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # with --json the trainer's own output goes to stderr
    assert out["resumed"] is True and out["start_step"] == 2 * per_epoch
    assert _steps(run_path) == list(range(1, 3 * per_epoch + 1))
    assert out["last_metrics"]["val_acc"] > 0.5
    acc = EventAccumulator(str(run_path / "logs")).Reload()
    assert [e.step for e in acc.Scalars("val_loss")] == [per_epoch, 2 * per_epoch, 3 * per_epoch]


def test_torchrun_arguments():
    from exptool.training.launchers.torchrun import DistOptions

    assert DistOptions(2).torchrun_args() == ["--standalone", "--nproc-per-node", "2"]
    multi = DistOptions(4, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=1234).torchrun_args()
    assert multi == [
        "--nproc-per-node", "4", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1",
        "--master-port", "1234",
    ]


def test_bad_node_rank_is_a_usage_error(exp, tws):
    _run(exp, tws, "nr")
    res = exp("train", "--trainer", "tt:counting", "--nnodes", "2", "--node-rank", "2")
    assert res.returncode == 2 and "--node-rank" in res.stderr
    res = exp("train", "--trainer", "tt:counting", "--nnodes", "2")
    assert res.returncode == 2 and "--master-addr" in res.stderr


if os.name != "posix":  # pragma: no cover
    pytest.skip("signals and flock are POSIX", allow_module_level=True)


@pytest.mark.slow
def test_demo_stops_on_sigterm_mid_epoch_and_resumes_there(exp, ws):
    assert exp("init-run", "-e", "demo", "-r", "stop").returncode == 0
    run_path = ws / "experiments" / "demo" / "stop"
    # 400 points -> 320 for training -> 5 steps per epoch; far more epochs than the test waits for
    proc = _popen("train", "--trainer", "demo", "--set", "epochs=500", "--set", "samples=400", cwd=ws)
    metrics = run_path / "logs" / "metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 8):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stop requested" in out
    stopped = _steps(run_path)[-1]
    manifest = json.loads((run_path / "checkpoints" / "manifest.json").read_text())
    assert manifest["checkpoints"][-1]["step"] == stopped
    assert _record(run_path)["status"] == "interrupted"
    epochs = stopped // 5 + 2
    res = exp("train", "--set", f"epochs={epochs}", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["start_step"] == stopped
    assert _steps(run_path) == list(range(1, 5 * epochs + 1))

"""`exp sweep` end to end with the local worker pool: real `exp` processes, real workers, real signals."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRAINERS = textwrap.dedent(
    """
    import json, os, time

    def steps(ctx):
        import torch
        model = torch.nn.Linear(2, 1)
        ctx.resume(model)
        total = int(ctx.config.get("steps", 4))
        lr = float(ctx.config.get("lr", 0.1))
        pause = float(ctx.config.get("pause", 0.0))
        with open(ctx.path / "workers.txt", "a") as fh:
            fh.write(f"{os.getpid()} {os.environ.get('CUDA_VISIBLE_DEVICES', '-')} {time.time()}\\n")
        for step in range(ctx.start_step + 1, total + 1):
            ctx.logger.log({"val_loss": lr * step}, step)
            if step % 2 == 0:
                ctx.checkpoints.save(step=step, model=model, metrics={"val_loss": lr * step})
                (ctx.path / "ready").write_text("")  # a checkpoint to resume from is on disk
            if ctx.should_stop:
                ctx.checkpoints.save(step=step, model=model)
                return
            time.sleep(pause)
        with open(ctx.path / "workers.txt", "a") as fh:
            fh.write(f"end {time.time()}\\n")

    def flaky(ctx):
        lr = float(ctx.config["lr"])
        ctx.logger.log({"val_loss": lr}, 1)
        if lr == 0.2:
            raise ValueError("lr 0.2 diverged")
        flag = ctx.run.workspace.root / "release"
        while not flag.exists():  # the others wait until the test saw the failure reported
            time.sleep(0.05)
        ctx.logger.log({"val_loss": lr}, 2)
    """
)
BASE = {"logging": {"writers": ["csv"]}, "steps": 4, "lr": 0.1, "pause": 0.0}


@pytest.fixture
def sws(ws: Path) -> Path:
    (ws / "st.py").write_text(TRAINERS)
    (ws / "config" / "base.json").write_text(json.dumps(BASE))
    return ws


def _steps(run: Path) -> list[int]:
    with open(run / "logs" / "metrics.csv", newline="") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh)]


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _popen(ws: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "exptool", *args], cwd=ws, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(paths: list[Path], proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{[str(p) for p in paths if not p.exists()]} did not appear: {proc.communicate()}")
        time.sleep(0.05)


GRID = ("sweep", "-e", "e", "--name", "g", "-c", "base", "-t", "st:steps", "--set", "lr=0.1,0.2",
        "--set", "+depth=2,4", "--metric", "val_loss", "-j", "2")


def test_grid_with_two_workers_completes_and_a_second_run_does_nothing(exp, sws):
    res = exp(*GRID)
    assert res.returncode == 0, res.stdout + res.stderr
    runs = [sws / "experiments" / "e" / f"g-{i:03d}" for i in range(4)]
    for run, (lr, depth) in zip(runs, [(0.1, 2), (0.1, 4), (0.2, 2), (0.2, 4)], strict=True):
        rec = _record(run)
        assert rec["status"] == "completed" and rec["attempts"] == 1
        assert rec["sweep"] == "g" and rec["sweep_params"] == {"lr": lr, "depth": depth} and "g" in rec["tags"]
        config = json.loads((run / "config.json").read_text())
        assert config["lr"] == lr and config["depth"] == depth and config["steps"] == 4
        assert _steps(run) == [1, 2, 3, 4]
    # two long-lived workers ran all four points: at most two processes, each ran several
    pids = [line.split()[0] for run in runs for line in (run / "workers.txt").read_text().splitlines()
            if not line.startswith("end")]
    assert len(set(pids)) <= 2 and len(pids) == 4
    # the results, best first by the metric
    table = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("g-")]
    assert table[-4:] == ["g-000", "g-001", "g-002", "g-003"]  # lr 0.1 (val_loss 0.4) before lr 0.2
    assert "4 completed" in res.stdout
    # ... printed as `exp compare` prints them: the swept keys are the config columns that differ
    header = next(line for line in res.stdout.splitlines() if line.startswith("NAME"))
    assert header.split() == ["NAME", "STATUS", "TAG", "LR", "DEPTH", "VAL_LOSS"]
    compared = exp("compare", "e", "--where", "sweep=g", "--sort", "val_loss")
    assert compared.returncode == 0, compared.stderr
    assert [ln.split()[0] for ln in compared.stdout.splitlines()[1:]] == table[-4:]
    # a sweep's runs are selected by its name, and its points by their index
    exp("init-run", "-e", "e", "-r", "other")
    listed = json.loads(exp("ls", "e", "--where", "sweep=g", "--json").stdout)["runs"]
    assert [r["name"] for r in listed] == [r.name for r in runs]
    picked = json.loads(exp("compare", "e", "--where", "point>=2", "--columns", "name,sweep,point", "--json").stdout)
    assert [r["values"] for r in picked["runs"]] == [{"name": "g-002", "sweep": "g", "point": 2},
                                                     {"name": "g-003", "sweep": "g", "point": 3}]
    assert json.loads(exp("ls", "e", "--where", "sweep!=g", "--json").stdout)["runs"][0]["name"] == "other"
    shown = exp("show", "-e", "e", "-r", "g-002")
    assert "sweep       g, point 2: lr=0.2 depth=2" in shown.stdout.splitlines()
    assert json.loads(exp("show", "-e", "e", "-r", "g-002", "--json").stdout)["run"]["sweep"] == {
        "name": "g", "point": 2, "params": {"lr": 0.2, "depth": 2}}
    assert json.loads(exp("show", "-e", "e", "-r", "other", "--json").stdout)["run"]["sweep"] is None

    before = {run: (run / "run.json").read_text() for run in runs}
    again = exp(*GRID, "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["state"] == "completed" and data["exit_code"] == 0
    assert [p["note"] for p in data["points"]] == ["done earlier"] * 4
    assert [p["metric"] for p in data["points"]] == [0.4, 0.4, 0.8, 0.8]
    assert {run: (run / "run.json").read_text() for run in runs} == before  # nothing ran again
    record = json.loads((sws / "experiments" / "e" / ".sweeps" / "g" / "sweep.json").read_text())
    assert record["state"] == "completed" and [p["run"] for p in record["points"]] == [r.name for r in runs]
    listed = [line.lstrip("* ").split()[0] for line in exp("ls", "e").stdout.splitlines()[1:]]  # run names
    assert "g" not in listed and listed == [r.name for r in runs] + ["other"]  # the record is not a run


def test_a_failing_point_is_reported_at_once_and_the_others_finish(exp, sws):
    proc = _popen(sws, "sweep", "-e", "e", "--name", "f", "-c", "base", "-t", "st:flaky",
                  "--set", "lr=0.1,0.2,0.3", "-j", "3")
    # The failure's line arrives while the other two are still running (they wait for "release").
    line = proc.stderr.readline()
    assert "error: e/f-001 failed: ValueError: lr 0.2 diverged" in line
    assert proc.poll() is None
    (sws / "release").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    exp_dir = sws / "experiments" / "e"
    assert [_record(exp_dir / f"f-{i:03d}")["status"] for i in range(3)] == ["completed", "failed", "completed"]
    assert "Traceback" in (exp_dir / "f-001" / "logs" / "log.txt").read_text()
    assert "--retry-failed" in err

    # Running it again leaves the failure alone (and says so) unless asked to retry it.
    res = exp("sweep", "-e", "e", "--name", "f")
    assert res.returncode == 1 and "failed earlier" in res.stdout
    assert _record(exp_dir / "f-001")["attempts"] == 1
    res = exp("sweep", "-e", "e", "--name", "f", "--retry-failed")
    assert res.returncode == 1  # it fails again, the same way
    assert _record(exp_dir / "f-001")["attempts"] == 2 and _record(exp_dir / "f-000")["attempts"] == 1


def _interrupt_and_resume(exp, ws: Path, args: tuple[str, ...], name: str, points: int) -> None:
    """Start a sweep, Ctrl-C it once two points are training, check the records, run it again."""
    exp_dir = ws / "experiments" / "e"
    proc = _popen(ws, *args)
    _wait_for([exp_dir / f"{name}-000" / "ready", exp_dir / f"{name}-001" / "ready"], proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out and "again to resume" in err
    for i in range(2):
        rec = _record(exp_dir / f"{name}-{i:03d}")
        assert rec["status"] == "interrupted" and rec["exit_code"] == 130
    record = json.loads((exp_dir / ".sweeps" / name / "sweep.json").read_text())
    assert record["state"] == "interrupted"
    res = exp("sweep", "-e", "e", "--name", name, "-j", "2", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [p["status"] for p in data["points"]] == ["completed"] * points
    for i in range(points):
        run = exp_dir / f"{name}-{i:03d}"
        assert _steps(run) == list(range(1, 13))  # resumed from a checkpoint: no step twice, none missing
    assert _record(exp_dir / f"{name}-000")["attempts"] == 2 and _record(exp_dir / f"{name}-000")["resumed"]


def test_random_sweep_resumes_after_ctrl_c(exp, sws):
    args = ("sweep", "-e", "e", "--name", "r", "-c", "base", "-t", "st:steps", "--set", "lr=loguniform(1e-3,1)",
            "--set", "steps=12", "--set", "pause=0.15", "--random", "3", "--seed", "5", "-j", "2")
    _interrupt_and_resume(exp, sws, args, "r", 3)
    lrs = [_record(sws / "experiments" / "e" / f"r-{i:03d}")["sweep_params"]["lr"] for i in range(3)]
    assert len(set(lrs)) == 3 and all(1e-3 <= lr <= 1 for lr in lrs)


def test_optuna_sweep_resumes_after_ctrl_c(exp, sws):
    pytest.importorskip("optuna")
    args = ("sweep", "-e", "e", "--name", "o", "-c", "base", "-t", "st:steps", "--set", "lr=uniform(0.01,1)",
            "--set", "steps=12", "--set", "pause=0.15", "--method", "tpe", "--trials", "3", "--metric", "val_loss",
            "--seed", "1", "-j", "2")
    _interrupt_and_resume(exp, sws, args, "o", 3)
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = sws / "experiments" / "e" / ".sweeps" / "o" / "optuna.journal"
    study = optuna.load_study(study_name="o", storage=JournalStorage(JournalFileBackend(str(journal))))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for t in trials:  # each trial was told its run's last val_loss
        assert t.value == pytest.approx(12 * t.params["lr"])
    data = json.loads(exp("sweep", "-e", "e", "--name", "o", "--status", "--json").stdout)
    assert data["best"]["value"] == pytest.approx(min(t.value for t in trials))


def test_sigterm_lets_every_point_checkpoint_and_exp_cancel_stops_a_sweep(exp, sws):
    exp_dir = sws / "experiments" / "e"
    args = ("sweep", "-e", "e", "--name", "c", "-c", "base", "-t", "st:steps", "--set", "lr=0.1,0.2,0.3",
            "--set", "steps=400", "--set", "pause=0.05", "-j", "2")
    proc = _popen(sws, *args)
    _wait_for([exp_dir / "c-000" / "ready", exp_dir / "c-001" / "ready"], proc)
    res = exp("cancel", "-e", "e", "c", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["cancelled"][0]["action"] == "sigterm"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    for i in range(2):
        run = exp_dir / f"c-{i:03d}"
        rec = _record(run)
        assert rec["status"] == "interrupted" and rec["error"] == "stopped by SIGTERM"
        assert 0 < _steps(run)[-1] < 400  # stopped early, after checkpointing its last step
    assert not (exp_dir / "c-002").exists()  # never started
    assert "Nothing to cancel" in exp("cancel", "-e", "e", "c").stdout


def test_exp_cancel_run_stops_one_point_and_the_sweep_goes_on(exp, sws):
    exp_dir = sws / "experiments" / "e"
    proc = _popen(sws, "sweep", "-e", "e", "--name", "p", "-c", "base", "-t", "st:steps",
                  "--set", "lr=0.1,0.2", "--set", "steps=60", "--set", "pause=0.05", "-j", "2")
    _wait_for([exp_dir / "p-000" / "ready", exp_dir / "p-001" / "ready"], proc)
    deadline = time.monotonic() + 30
    while _record(exp_dir / "p-000").get("worker_pid") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    res = exp("cancel", "-e", "e", "-r", "p-000")
    assert res.returncode == 0 and "asked to stop (SIGTERM)" in res.stdout, res.stderr
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err  # one point interrupted
    assert _record(exp_dir / "p-000")["status"] == "interrupted"
    assert _record(exp_dir / "p-001")["status"] == "completed" and _steps(exp_dir / "p-001")[-1] == 60


def test_gpu_slots_give_each_worker_its_own_devices(exp, sws):
    res = exp("sweep", "-e", "e", "--name", "d", "-c", "base", "-t", "st:steps", "--set", "lr=0.1,0.2,0.3,0.4",
              "--set", "pause=0.1", "--gpus", "0,1,2,3", "--gpus-per-run", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 local workers on GPUs 0,1 | 2,3" in res.stdout
    spans = []
    for i in range(4):
        start, end = (sws / "experiments" / "e" / f"d-{i:03d}" / "workers.txt").read_text().splitlines()
        _, devices, t0 = start.split()
        spans.append((devices, float(t0), float(end.split()[1])))
    assert {d for d, _, _ in spans} == {"0,1", "2,3"}
    for devices in ("0,1", "2,3"):  # never two points on one slot at once
        slot = sorted((a, b) for d, a, b in spans if d == devices)
        assert all(prev[1] <= nxt[0] for prev, nxt in zip(slot, slot[1:], strict=False))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "lr=0.1,0.2", "-j", "3", "--gpus", "0,1"), "-j 3 needs 3 devices"),
        (("--set", "lr=uniform(0,1)"), "a grid needs lists of values"),
        (("--set", "nokey=1,2"), "the config has no key 'nokey'"),
        (("--set", "lr=0.1,0.2", "--set", "logging.writers=[nope]"), "not a writer"),
        (("--set", "lr=0.1,fast"), "lr is a number (0.1) in the config"),
    ],
)
def test_bad_sweeps_change_nothing(exp, sws, args, message):
    res = exp("sweep", "-e", "e", "--name", "bad", "-c", "base", "-t", "st:steps", *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and res.stderr.startswith("error: ")
    assert not (sws / "experiments" / "e").exists() or not any((sws / "experiments" / "e").iterdir())


def test_a_changed_spec_is_refused_unless_asked_and_dry_run_touches_nothing(exp, sws):
    res = exp("sweep", "-e", "e", "--name", "u", "-c", "base", "-t", "st:steps", "--set", "lr=0.1,0.2", "--dry-run")
    assert res.returncode == 0 and "would run 2 of 2 points" in res.stdout, res.stderr
    assert not (sws / "experiments" / "e").exists()
    assert exp("sweep", "-e", "e", "--name", "u", "-c", "base", "-t", "st:steps", "--set", "lr=0.1").returncode == 2
    assert exp("sweep", "-e", "e", "--name", "u", "-c", "base", "-t", "st:steps", "--set", "lr=0.1,0.2",
               "-j", "2").returncode == 0
    res = exp("sweep", "-e", "e", "--name", "u", "-c", "base", "-t", "st:steps", "--set", "lr=0.2,0.3")
    assert res.returncode == 2 and "--update-spec" in res.stderr
    res = exp("sweep", "-e", "e", "--name", "u", "-c", "base", "-t", "st:steps", "--set", "lr=0.2,0.3",
              "--update-spec", "--json")
    assert res.returncode == 0, res.stderr
    points = json.loads(res.stdout)["points"]
    assert [(p["run"], p["note"]) for p in points] == [("u-001", "done earlier"), ("u-002", None)]
    assert (sws / "experiments" / "e" / "u-000" / "run.json").exists()  # the dropped point's run stays


def test_sweep_file_and_a_worker_that_dies_mid_point(exp, sws):
    (sws / "st.py").write_text(TRAINERS + textwrap.dedent(
        """
        def dies(ctx):
            ctx.logger.log({"val_loss": 1.0}, 1)
            if ctx.config["lr"] == 0.2:
                os._exit(3)
        """
    ))
    (sws / "sw.yaml").write_text(textwrap.dedent(
        """
        name: k
        config: base
        trainer: st:dies
        jobs: 1
        params:
          lr: [0.2, 0.1, 0.3]
        """
    ))
    res = exp("sweep", "sw.yaml", "-e", "e")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "worker process died (exit code 3)" in res.stderr
    statuses = [_record(sws / "experiments" / "e" / f"k-{i:03d}")["status"] for i in range(3)]
    assert statuses == ["failed", "completed", "completed"]  # a new worker took over


def test_live_table_on_a_terminal(sws):
    """On a terminal the sweep redraws a table (point, params, status, step, metric, elapsed) in place."""
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm", COLUMNS="120", LINES="30")
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "sweep", "-e", "e", "--name", "l", "-c", "base", "-t",
                                           "st:steps", "--set", "lr=0.1,0.2", "--set", "pause=0.3",
                                           "--metric", "val_loss", "-j", "2"],
                          cwd=str(sws), env=env, encoding="utf-8", timeout=120, dimensions=(30, 120))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = ANSI.sub("", child.before)
    assert re.search(r"point +params +status +step +val_loss +elapsed", text)
    assert re.search(r"l-000 +lr=0.1 +running", text)  # redrawn while it ran
    assert re.search(r"l-000 +lr=0.1 +completed +4 +0.4 ", text)  # the results at the end
    assert "2 completed" in text


@pytest.mark.parametrize("term", ["dumb", "xterm"])  # plain lines, and the live table
def test_a_dropped_terminal_interrupts_every_point_and_the_sweep_resumes(sws, exp, term):
    """SIGHUP (the SSH session went away): the points checkpoint and end interrupted, nothing is left stale."""
    pexpect = pytest.importorskip("pexpect")
    (sws / "config" / "long.json").write_text(json.dumps({**BASE, "steps": 100, "pause": 0.05}))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "sweep", "-e", "e", "--name", "h", "-c", "long", "-t",
                                           "st:steps", "--set", "lr=0.1,0.2,0.3", "-j", "2"],
                          cwd=str(sws), env={**env, "TERM": term}, encoding="utf-8", timeout=120)
    runs = [sws / "experiments" / "e" / f"h-{i:03d}" for i in range(3)]
    deadline = time.monotonic() + 120
    while not all((run / "ready").exists() for run in runs[:2]):  # both running, each with a checkpoint
        assert child.isalive() and time.monotonic() < deadline
        time.sleep(0.05)
    child.ptyproc.fileobj.close()  # hang up: the kernel sends SIGHUP; writes to the terminal now fail
    deadline = time.monotonic() + 60
    while child.ptyproc.isalive():
        assert time.monotonic() < deadline, "the sweep did not stop after SIGHUP"
        time.sleep(0.05)
    assert child.ptyproc.exitstatus == 130
    assert [_record(run)["status"] for run in runs[:2]] == ["interrupted"] * 2
    assert not runs[2].exists() or _record(runs[2])["status"] != "running"
    record = json.loads((sws / "experiments" / "e" / ".sweeps" / "h" / "sweep.json").read_text())
    assert record["state"] == "interrupted"
    res = exp("sweep", "-e", "e", "--name", "h", "-j", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert all(_steps(run) == list(range(1, 101)) for run in runs)  # resumed, no step twice or missing


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

"""`exp train` as a new user meets it: overrides that cannot poison a run, keys never read, one summary,
--clear that asks, a closed stdout or a dropped terminal, resume without a step, unsynchronised replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run_exp
from test_tracking_readers import csv_series

pexpect = pytest.importorskip("pexpect")

TRAINERS = textwrap.dedent(
    """
    import os, time
    import torch

    def reads_lr(ctx):
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=ctx.config["lr"])
        for step in range(1, ctx.config["steps"] + 1):
            ctx.logger.log({"loss": 1.0 / step}, step)
        ctx.checkpoints.save(step=ctx.config["steps"], model=model, optimizer=opt, metrics={"val_loss": 0.5})

    def by_epoch(ctx):
        # template style: checkpoints named by epoch only, ten logged steps per epoch
        model = torch.nn.Linear(2, 1)
        ctx.resume(model)
        for epoch in range(ctx.start_epoch + 1, ctx.config["epochs"] + 1):
            for i in range(1, 11):
                step = (epoch - 1) * 10 + i
                ctx.logger.log({"loss": float(step)}, step)
                if step == ctx.config.get("fail_at"):
                    raise RuntimeError("failed mid-epoch")
            ctx.checkpoints.save(epoch=epoch, model=model)

    def chatty(ctx):
        for step in range(1, 41):
            print(f"step {step}", flush=True)
            ctx.logger.log({"loss": 1.0}, step)
            time.sleep(0.01)

    def waiting(ctx):
        ctx.logger.log({"loss": 1.0}, 1)
        (ctx.path / "ready").write_text("1")
        while not ctx.should_stop:
            print("still training", flush=True)
            time.sleep(0.05)
        ctx.checkpoints.save(step=1, model=torch.nn.Linear(1, 1))

    def replicas(ctx):
        model = torch.nn.Linear(4, 1)
        net = ctx.wrap_model(model) if ctx.config["wrap"] else model
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        gen = torch.Generator().manual_seed(ctx.rank)  # each rank its own data
        for step in range(1, 4):
            loss = net(torch.randn(8, 4, generator=gen)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            ctx.logger.log({"loss": loss.item()}, step)
            ctx.checkpoints.save(step=step, model=model)
    """
)


@pytest.fixture
def tws(ws: Path) -> Path:
    (ws / "tt.py").write_text(TRAINERS)
    return ws


def _make_run(ws: Path, name: str, config: dict) -> Path:
    cfg = ws / "config" / f"{name}.json"
    cfg.write_text(json.dumps({"logging": {"writers": ["csv"]}, **config}))
    assert run_exp("init-run", "-e", "e", "-r", name, "-c", str(cfg), cwd=ws).returncode == 0
    return ws / "experiments" / "e" / name


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def test_an_override_of_the_wrong_type_writes_nothing(tws):
    run = _make_run(tws, "typed", {"trainer": "tt.py:reads_lr", "lr": 0.01, "steps": 3})
    before = ((run / "config.json").read_text(), (run / "run.json").read_text())
    bad = run_exp("train", "--set", "lr=abc", cwd=tws)
    assert bad.returncode == 2
    assert "error: Override 'lr=abc': lr is a number (0.01) in the config; 'abc' is a string." in bad.stderr
    assert "--set \"lr='abc'\"" in bad.stderr
    assert ((run / "config.json").read_text(), (run / "run.json").read_text()) == before
    good = run_exp("train", "--set", "lr=1", cwd=tws)  # an integer where a number was: fine
    assert good.returncode == 0, good.stderr
    assert json.loads((run / "config.json").read_text())["lr"] == 1.0


def test_keys_set_but_never_read_are_named_at_the_end(tws):
    run = _make_run(tws, "unread", {"trainer": "tt.py:reads_lr", "lr": 0.01, "steps": 3, "unused": {"a": 1}})
    result = run_exp("train", "--set", "+optimizer.lr=3e-4", "--set", "lr=0.1", cwd=tws)
    assert result.returncode == 0, result.stderr
    assert "warning: set on the command line but never read by the trainer: optimizer.lr" in result.stderr
    assert "warning: config keys the trainer never read: unused.a" in result.stderr
    assert "lr," not in result.stderr.split("never read by the trainer:")[1].split("\n")[0]
    assert _record(run)["unread_config"] == ["unused.a", "optimizer.lr"]
    again = run_exp("train", "--set", "+extra=1", "--json", "--fresh", "--clear", "--yes", cwd=tws)
    out = json.loads(again.stdout)
    assert out["unread_overrides"] == ["extra"] and "optimizer.lr" in out["unread_config"]


@pytest.mark.slow
@pytest.mark.parametrize("columns", [60, 80, 100])
def test_one_end_of_run_summary_with_whole_paths(ws, columns):
    assert run_exp("init-run", "-e", "demo", "-r", "first", cwd=ws).returncode == 0
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "train", "--trainer", "demo", "--set", "epochs=2"],
                          cwd=str(ws), env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"}, encoding="utf-8",
                          dimensions=(50, columns), timeout=300)
    out = child.read().replace("\r\n", "\n")
    child.close()
    assert child.exitstatus == 0, out
    run = ws / "experiments" / "demo" / "first"
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    summary = out[out.index("completed demo/first"):]
    assert out.count("completed") == 1 and summary.count(" s: steps 1-") == 1  # one result, one duration
    best_line = [line for line in summary.splitlines() if line.startswith("  best ")]
    assert summary.count("best") == 1 and len(best_line) == 1  # one notion of best: the manager's metric
    assert best_line[0].startswith("  best     val_loss ") and "(min)" in best_line[0]
    best = str(run / "checkpoints" / manifest["best"])
    lines = summary.splitlines()
    assert best in [line.strip() for line in lines]  # the path a person copies: whole, on its own line
    image = next(run.glob("visualizations/decision_boundary_step*.png"))
    assert any(line.strip().endswith(str(image)) for line in lines)
    assert "exp tb demo" in summary


def test_clear_asks_on_a_terminal_and_refuses_off_one(tws):
    run = _make_run(tws, "clear", {"trainer": "tt.py:reads_lr", "lr": 0.01, "steps": 3})
    assert run_exp("train", cwd=tws).returncode == 0
    offline = run / "logs" / "wandb" / "offline-run-20260101_000000-abc"
    offline.mkdir(parents=True)
    (offline / "run-abc.wandb").write_bytes(b"x")
    refused = subprocess.run([sys.executable, "-m", "exptool", "train", "--clear"], cwd=tws, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "refusing without confirmation" in refused.stderr
    assert "offline-run-20260101_000000-abc" in refused.stderr and "never uploaded" in refused.stderr
    assert "--yes" in refused.stderr and offline.is_dir()
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "train", "--clear"], cwd=str(tws), encoding="utf-8",
                          env={**os.environ, "TERM": "dumb"}, timeout=120)
    child.expect(r"--clear deletes \d+ entries in e/clear \(\d+ files: .*checkpoints/ \d+.*\)\. Delete\? \[y/N\]: ")
    child.sendline("n")
    child.read()
    child.close()
    assert child.exitstatus == 1 and offline.is_dir() and list((run / "checkpoints").iterdir())
    done = subprocess.run([sys.executable, "-m", "exptool", "train", "--clear", "--yes"], cwd=tws,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--clear: deleting" in done.stderr and not offline.exists()


def test_clear_logs_names_unsynced_wandb_runs(tws):
    run = _make_run(tws, "wb", {"trainer": "tt.py:reads_lr", "lr": 0.01, "steps": 3})
    unsynced = run / "logs" / "wandb" / "offline-run-1-aaa"
    synced = run / "logs" / "wandb" / "offline-run-2-bbb"
    for folder in (unsynced, synced):
        folder.mkdir(parents=True)
        (folder / f"run-{folder.name[-3:]}.wandb").write_bytes(b"x")
    (synced / "run-bbb.wandb.synced").write_text("")
    refused = subprocess.run([sys.executable, "-m", "exptool", "clear-logs"], cwd=tws, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "offline-run-1-aaa" in refused.stderr
    assert "offline-run-2-bbb" not in refused.stderr
    cleared = run_exp("clear-logs", "--yes", cwd=tws)
    assert cleared.returncode == 0 and "1 offline W&B run never uploaded (offline-run-1-aaa" in cleared.stdout


@pytest.mark.slow
def test_a_closed_stdout_does_not_fail_the_run(ws):
    assert run_exp("init-run", "-e", "demo", "-r", "piped", cwd=ws).returncode == 0
    command = f"{sys.executable} -m exptool train --trainer demo --set epochs=2"
    script = f"{command} | head -3; echo \"rc=${{PIPESTATUS[0]}}\""
    result = subprocess.run(["bash", "-c", script], cwd=ws, capture_output=True, text=True, timeout=300)
    run = ws / "experiments" / "demo" / "piped"
    assert _record(run)["status"] == "completed", result.stderr
    assert "rc=0" in result.stdout and len(result.stdout.splitlines()) == 4
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_a_plain_trainer_printing_into_a_closed_pipe_completes(tws):
    _make_run(tws, "chatty", {"trainer": "tt.py:chatty"})
    script = f"{sys.executable} -m exptool train | head -2; echo \"rc=${{PIPESTATUS[0]}}\""
    result = subprocess.run(["bash", "-c", script], cwd=tws, capture_output=True, text=True, timeout=120)
    assert _record(tws / "experiments" / "e" / "chatty")["status"] == "completed", result.stderr
    assert "rc=0" in result.stdout


def test_a_dropped_terminal_is_an_interruption(tws):
    """SIGHUP (the SSH session went away): like SIGTERM, the trainer may checkpoint; status interrupted."""
    run = _make_run(tws, "hup", {"trainer": "tt.py:waiting"})
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "train"], cwd=str(tws), encoding="utf-8",
                          env={**os.environ, "TERM": "dumb"}, timeout=120)
    deadline = time.monotonic() + 120
    while not (run / "ready").exists():
        assert child.isalive() and time.monotonic() < deadline
        time.sleep(0.05)
    child.close(force=False)  # hang up: the kernel sends SIGHUP, later writes to the terminal fail
    deadline = time.monotonic() + 60
    while _record(run)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    record = _record(run)
    assert record["status"] == "interrupted" and record["exit_code"] == 130 and "SIGHUP" in record["error"]
    assert json.loads((run / "checkpoints" / "manifest.json").read_text())["last"]  # it checkpointed first


def test_resume_from_a_checkpoint_without_a_step_keeps_every_row(tws):
    run = _make_run(tws, "epochs", {"trainer": "tt.py:by_epoch", "epochs": 2})
    assert run_exp("train", cwd=tws).returncode == 0
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    assert [e["step"] for e in manifest["checkpoints"]][-1] is None  # saved by epoch only
    more = run_exp("train", "--set", "epochs=3", cwd=tws)
    assert more.returncode == 0, more.stderr
    assert [s for s, _ in csv_series(run / "logs" / "metrics.csv")["loss"]] == list(range(1, 31))
    assert "dropped" not in more.stderr
    # An attempt that failed mid-epoch logged rows after the checkpoint: resuming says it replaces them.
    failed = run_exp("train", "--set", "epochs=4", "--set", "+fail_at=35", cwd=tws)
    assert failed.returncode == 1
    resumed = run_exp("train", "--set", "epochs=4", "--set", "fail_at=0", cwd=tws)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after step 30: the 5 rows logged after it (steps 31-35) are dropped" in resumed.stderr
    assert [s for s, _ in csv_series(run / "logs" / "metrics.csv")["loss"]] == list(range(1, 41))


def test_resume_refuses_when_the_step_cannot_be_told(tws):
    run = _make_run(tws, "unknown", {"trainer": "tt.py:by_epoch", "epochs": 1})
    assert run_exp("train", cwd=tws).returncode == 0
    manifest_path = run / "checkpoints" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["checkpoints"]:
        entry.pop("saved_at", None)
    manifest_path.write_text(json.dumps(manifest))
    before = (run / "logs" / "metrics.csv").read_text()
    refused = run_exp("train", "--set", "epochs=2", cwd=tws)
    assert refused.returncode == 2
    assert "records no step" in refused.stderr and "drop all of them" in refused.stderr and "--clear" in refused.stderr
    assert (run / "logs" / "metrics.csv").read_text() == before and _record(run)["status"] == "completed"


@pytest.mark.slow
def test_unsynchronised_replicas_are_named_and_wrapped_ones_are_not(tws):
    plain = _make_run(tws, "plain", {"trainer": "tt.py:replicas", "wrap": False})
    result = run_exp("train", "-r", "plain", "--nproc-per-node", "2", cwd=tws, env={"OMP_NUM_THREADS": "1"},
                     timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("the model differs between the 2 processes") == 1
    assert "ctx.wrap_model(model)" in result.stderr
    assert _record(plain)["status"] == "completed"
    _make_run(tws, "wrapped", {"trainer": "tt.py:replicas", "wrap": True})
    result = run_exp("train", "-r", "wrapped", "--nproc-per-node", "2", cwd=tws, env={"OMP_NUM_THREADS": "1"},
                     timeout=300)
    assert result.returncode == 0, result.stderr
    assert "differs between" not in result.stderr


def test_context_helpers_in_a_single_process(tws):
    from exptool.training.replicas import make_sampler, wrap_model

    model = object()
    assert wrap_model(model, 1, None) is model and make_sampler([1, 2], 1, 0) is None
    sampler = make_sampler(list(range(10)), 2, 1, shuffle=False)
    assert list(sampler) == [1, 3, 5, 7, 9]


def test_stream_guard_swallows_a_closed_pipe(tws):
    code = textwrap.dedent("""
        import sys
        from exptool.training.streams import guarded_streams
        with guarded_streams() as (out, err):
            for i in range(10000):
                print("x" * 100)
            sys.stdout.flush()
        print("after", file=sys.stderr)
    """)
    (tws / "guard.py").write_text(code)
    script = f"{sys.executable} guard.py | head -1 > /dev/null; echo rc=${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tws)
    assert "rc=0" in result.stdout and "after" in result.stderr and "Error" not in result.stderr


def test_a_bad_override_with_create_creates_nothing(tws):
    bad = run_exp("train", "-e", "e", "-r", "new", "--create", "--trainer", "tt.py:reads_lr", "--set", "+lr=0.1",
                  "--set", "lr=abc", cwd=tws)
    assert bad.returncode == 2 and "'abc' is a string" in bad.stderr
    assert not (tws / "experiments" / "e" / "new").exists()

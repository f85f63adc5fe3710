"""The trainer's progress helper: plain lines off a terminal, a rich bar in a real pty, progress.json."""

from __future__ import annotations

import json
import sys
import time

import pytest

from exptool.progress_file import describe, read_progress
from exptool.tracking.progress import Progress
from exptool.training.context import RunContext
from exptool.workspace import Workspace


@pytest.fixture
def run(ws):
    r = Workspace.find().run("p", "r")
    r.create()
    return r


def test_plain_lines_off_a_terminal_and_the_record(run, capsys):
    with Progress(total=40, run_path=run.path, every=0.3, description="fit") as bar:
        first = read_progress(run.path)
        assert first["step"] == 0 and first["total"] == 40 and first["finished"] is False
        for step in range(1, 41):
            bar.update(step, loss=1.0 / step)
            time.sleep(0.05)
    out = capsys.readouterr().out.splitlines()
    assert len(out) >= 3  # periodic lines, then the final one
    assert out[0].startswith("fit: ") and "/40 steps (" in out[0] and "ETA" in out[0] and "loss" in out[0]
    assert out[-1].startswith("fit: 40/40 steps (100%) in 0:0") and "steps/s" in out[-1]
    record = read_progress(run.path)
    assert set(record) >= {"step", "total", "rate", "updated", "started", "description", "unit", "finished"}
    assert record["step"] == 40 and record["finished"] is True
    assert 5 < record["rate"] < 25  # 20 steps/s, give or take a busy machine
    assert abs(record["updated"] - time.time()) < 30
    view = describe(record)
    assert view["percent"] == 100.0 and view["eta_s"] == 0.0


def test_iterating_counts_items_and_closes(run, capsys):
    seen = list(Progress(range(7), run_path=run.path, every=0))
    assert seen == list(range(7))
    record = read_progress(run.path)
    assert (record["step"], record["total"], record["finished"]) == (7, 7, True)
    assert capsys.readouterr().out.startswith("training: 7/7 steps (100%)")


def test_other_ranks_count_silently(run, capsys):
    ctx = RunContext(run=run, config={}, logger=None, checkpoints=None, device="cpu", seed=0, rank=1, world_size=2)
    with ctx.progress(total=5) as bar:
        for step in range(1, 6):
            bar.update(step)
    assert bar.step == 5
    assert capsys.readouterr().out == "" and read_progress(run.path) is None


def test_ctx_progress_starts_at_the_resumed_step(run, capsys):
    ctx = RunContext(run=run, config={}, logger=None, checkpoints=None, device="cpu", seed=0, start_step=40)
    with ctx.progress(100) as bar:
        assert bar.step == 40 and read_progress(run.path)["step"] == 40
        bar.advance(2)
    assert read_progress(run.path)["step"] == 42
    with ctx.progress(["a", "b"]) as items:  # an iterable counts from 0
        assert items.step == 0 and items.total == 2


def test_unreadable_record_is_an_error_not_missing(run):
    (run.path / "progress.json").write_text("{}")
    assert read_progress(run.path) is None  # no record in it
    (run.path / "progress.json").write_text('{"step": 3, "total": null}')
    assert describe(read_progress(run.path))["percent"] is None


@pytest.mark.slow
def test_demo_draws_a_bar_in_a_real_terminal(ws):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "exptool", "train", "-e", "demo", "-r", "tty", "--create", "--trainer", "demo",
                         "--set", "epochs=3", "--set", "+logging.system=false"],
        cwd=str(ws), encoding="utf-8", timeout=120, dimensions=(30, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    text = child.before
    assert "━" in text and "steps/s" in text and "epoch 3/3" in text
    record = json.loads((ws / "experiments" / "demo" / "tty" / "progress.json").read_text())
    assert record["step"] == record["total"] == 75 and record["finished"] is True


@pytest.mark.slow
def test_demo_prints_a_final_line_in_a_log(ws, exp):
    res = exp("train", "-e", "demo", "-r", "log", "--create", "--trainer", "demo", "--set", "epochs=2")
    assert res.returncode == 0, res.stderr
    assert "epoch 2/2: 50/50 steps (100%) in " in res.stdout
    assert "\x1b[" not in res.stdout

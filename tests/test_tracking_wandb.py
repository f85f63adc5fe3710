"""W&B writer: offline runs read back from their .wandb file, credentials, failures that never stop training."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from test_tracking_readers import csv_series, wandb_records, wandb_series

from exptool.tracking import Logger
from exptool.tracking.writers.wandb_writer import choose_mode, has_credentials
from exptool.workspace import Workspace


@pytest.fixture
def no_netrc(tmp_path, monkeypatch):
    empty = tmp_path / "netrc"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(empty))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return empty


def test_mode_choice(no_netrc, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert not has_credentials()
    mode, reason = choose_mode()
    assert mode == "offline" and "credentials" in reason
    no_netrc.write_text("machine api.wandb.ai login user password " + "k" * 40 + "\n", encoding="utf-8")
    assert has_credentials() and choose_mode() == ("online", None)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert choose_mode()[0] == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert choose_mode() == ("disabled", None)
    assert choose_mode("offline")[0] == "offline"


def test_no_credentials_runs_offline_and_says_how_to_sync(ws, no_netrc, monkeypatch, capfd):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = Workspace.find().run("wb", "run1")
    run.create()
    with Logger(run=run) as logger:
        writer = logger.initialize_wandb("proj", tags=["t1"])
        for step in range(5):
            logger.log({"loss": 1.0 / (step + 1)}, step)
        logger.log_config({"batch_size": 32})
    err = capfd.readouterr().err
    assert "no W&B credentials" in err and f"wandb sync {writer.sync_dir}" in err
    assert writer.mode == "offline" and writer.sync_dir.is_dir()
    assert wandb_series(run.logs_dir)["loss"] == [(s, 1.0 / (s + 1)) for s in range(5)]
    run_record = next(r.run for r in wandb_records(run.logs_dir) if r.WhichOneof("record_type") == "run")
    assert run_record.display_name == "wb/run1" and run_record.project == "proj" and run_record.run_group == "wb"
    assert list(run_record.tags) == ["t1"]
    assert (run.logs_dir / "wandb_run_id.txt").read_text().strip() == run_record.run_id


def test_disabled_mode_is_a_quiet_no_op(ws, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = Workspace.find().run("wb", "off")
    run.create()
    with Logger(run=run) as logger:
        writer = logger.initialize_wandb()
        logger.log({"x": 1.0}, 0)
    assert writer.mode == "disabled" and not (run.logs_dir / "wandb").exists()


CHILD = """
import json, sys, time
from exptool.tracking import Logger
logger = Logger(run=sys.argv[1])
logger.initialize("csv", wandb=json.loads(sys.argv[2]))
for step in range(200):
    logger.log({"loss": float(step)}, step)
print("logged", flush=True)
logger.finish()
print("finished", flush=True)
"""


@pytest.mark.parametrize(
    "options, warning",
    [
        ({"init_timeout": 2, "finish_timeout": 3}, "W&B start failed"),
        # wandb.init still waiting when finish() comes: a 5 s grace, not the whole finish_timeout
        # (W&B's own exit hook still waits for its init_timeout before the process ends)
        pytest.param(
            {"init_timeout": 12, "finish_timeout": 600},
            "W&B had still not started 5 s after finish()",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_unreachable_server_is_a_warning_and_other_writers_continue(ws, tmp_path, options, warning):
    import json
    import os

    run = Workspace.find().run("wb", "down")
    run.create()
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD), encoding="utf-8")
    env = {
        **os.environ,
        "WANDB_MODE": "online",
        "WANDB_API_KEY": "k" * 40,
        "WANDB_BASE_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
    }
    proc = subprocess.run(
        [sys.executable, str(script), str(run.path), json.dumps(options)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.stdout.splitlines()[:2] == ["logged", "finished"], proc.stderr
    assert f"warning: {warning}" in proc.stderr
    assert [s for s, _ in csv_series(run.metrics_path)["loss"]] == list(range(200))


def test_more_steps_than_wandb_absorbs_are_all_kept_with_a_bounded_backlog(ws, capfd):
    """The caller logs far faster than W&B takes steps (a few hundred microseconds each): with a
    small backlog it must wait for room, and every step still reaches the offline .wandb file."""
    run = Workspace.find().run("wb", "flood")
    run.create()
    steps, budget = 5000, 64 << 10
    with Logger(run=run) as logger:
        writer = logger.initialize_wandb("proj", backlog_bytes=budget)
        for step in range(steps):
            logger.log({"loss": step / 7, "acc": float(step % 13)}, step)
        assert writer.backlog.waits > 0  # W&B fell behind: the caller waited instead of data vanishing
    assert writer.backlog.peak <= budget
    assert writer.sent == writer.queued == steps and not writer.failed
    series = wandb_series(run.logs_dir)
    assert series["loss"] == [(s, s / 7) for s in range(steps)]
    assert [s for s, _ in series["acc"]] == list(range(steps))
    assert "giving up" not in capfd.readouterr().err


def test_finish_sends_a_long_backlog_and_reports_progress(ws, capfd):
    """finish() waits for the whole backlog however long it is, saying how far it got."""
    run = Workspace.find().run("wb", "burst")
    run.create()
    steps = 20000
    logger = Logger(run=run)
    writer = logger.initialize_wandb("proj")
    for step in range(steps):
        logger.log({"loss": float(step)}, step)
    left = writer.queued - writer.sent
    logger.finish()
    err = capfd.readouterr().err
    assert left > 1000, left  # W&B was well behind when finish() came
    assert "sending the backlog before finishing" in err and "sent the whole backlog" in err, err
    assert "giving up" not in err and "did not finish" not in err
    series = wandb_series(run.logs_dir)["loss"]
    assert len(series) == steps and series[-1] == (steps - 1, float(steps - 1))


def test_same_step_calls_reach_wandb_as_one_row_with_both_metrics(ws):
    run = Workspace.find().run("wb", "merge")
    run.create()
    with Logger(run=run) as logger:
        logger.initialize_wandb("proj")
        for step in range(50):
            logger.log({"train/loss": float(step)}, step)
            logger.log({"val/loss": -float(step)}, step)
    rows = [r for r in wandb_records(run.logs_dir) if r.WhichOneof("record_type") == "history"]
    assert len(rows) == 50
    series = wandb_series(run.logs_dir)
    assert series["train/loss"] == [(s, float(s)) for s in range(50)]
    assert series["val/loss"] == [(s, -float(s)) for s in range(50)]

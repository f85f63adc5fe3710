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

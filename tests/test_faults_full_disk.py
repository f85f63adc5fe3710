"""Issue item 1 (and 7's checkpoint message): a full disk on a real small tmpfs, with real processes.

While the disk is full, the CSV and TensorBoard writers keep what is logged in memory and retry;
once space is back every step reaches both files, in order, exactly once. One warning when a
writer starts failing and one when it recovers; the run's health is kept in run.json and shown
by `exp show`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_exp
from faults_helpers import add_trainer, small_filesystem
from test_tracking_readers import csv_series, tb_series

from exptool.tracking import Logger, _recovery
from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def loop_ws(ws):
    add_trainer(ws)
    assert run_exp("init-run", "-e", "disk", "-r", "full").returncode == 0
    return ws


def test_full_disk_delays_metrics_and_loses_none(loop_ws):
    run = Workspace(loop_ws).run("disk", "full")
    with small_filesystem(run.logs_dir, "256k"):
        done = run_exp("train", "--trainer", "loop", "--set", "steps=40", "--set", "wide=40",
                       "--set", "fill_at=10", "--set", "free_at=20")
        assert done.returncode == 0, done.stderr
        err = done.stderr
        assert err.count("csv writer cannot write (No space left on device") == 1
        assert err.count("tensorboard writer cannot write (No space left on device") == 1
        assert err.count("csv writer recovered") == 1 and err.count("tensorboard writer recovered") == 1
        assert "nothing lost" in err
        assert "write errors during this run" in err  # the end-of-run report

        csv = csv_series(run.metrics_path)
        assert [s for s, _ in csv["loss"]] == list(range(1, 41))  # every step, once, in order
        assert [v for _, v in csv["double"]] == [2.0 * s for s in range(1, 41)]
        assert [s for s, _ in csv["m39"]] == list(range(1, 41))
        tb = tb_series(run.logs_dir)  # TensorBoard's own reader: no half-written record in the way
        assert [s for s, _ in tb["loss"]] == list(range(1, 41))
        assert [s for s, _ in tb["m39"]] == list(range(1, 41))

        health = run.read_record()["health"]
        assert health["status"] == "recovered"
        for name in ("csv", "tensorboard"):
            counts = health["writers"][name]
            assert counts["delayed"] >= 1 and counts["lost"] == 0 and counts["failing_since"] is None
            assert "No space left on device" in counts["last_error"]

        shown = run_exp("show", "-e", "disk", "-r", "full")
        assert shown.returncode == 0
        line = next(ln for ln in shown.stdout.splitlines() if ln.startswith("health"))
        assert "recovered" in line and "csv" in line and "0 lost" in line
        as_json = json.loads(run_exp("show", "-e", "disk", "-r", "full", "--json").stdout)
        assert as_json["run"]["health"]["status"] == "recovered"


def test_backlog_is_bounded_and_the_rest_is_counted_lost(ws, monkeypatch):
    monkeypatch.setattr(_recovery, "MAX_PENDING", 5)
    run = Workspace(ws).run("disk", "bounded")
    with small_filesystem(run.path, "128k"):  # the whole run folder on the small disk
        run.create(exist_ok=True)
        logger = Logger(run=run)
        logger.initialize("csv")
        wide = {f"m{i:02d}": float(i) for i in range(40)}
        for step in range(5):
            logger.log({"loss": float(step), **wide}, step)
        filler = run.logs_dir / "filler"
        with open(filler, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"x" * 4096)
            except OSError:
                pass
        for step in range(5, 40):  # on a full disk: at most 5 calls are kept, older ones dropped
            logger.log({"loss": float(step), **wide}, step)
        assert logger.health()["status"] == "failing"
        logger.log_info("still training")  # log.txt lines and images never raise into the loop
        noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
        assert logger.log_image("sample", noise, 39) is None
        filler.unlink()
        logger.log({"loss": 40.0, **wide}, 40)
        health = logger.health()["writers"]["csv"]
        assert health["delayed"] == 5 and health["lost"] >= 1
        logger.finish()
        steps = [s for s, _ in csv_series(run.metrics_path)["loss"]]
        assert steps == sorted(set(steps)) and steps[:5] == [0, 1, 2, 3, 4] and steps[-1] == 40
        assert len(steps) + health["lost"] == 41  # every step is either in the file or counted as lost
        assert steps[-6:-1] == list(range(35, 40))  # the newest calls were kept
        health = run.read_record()["health"]
        assert health["status"] == "degraded"  # something was lost
        assert health["writers"]["png"]["lost"] == 1
        assert "still training" in (run.logs_dir / "log.txt").read_text()  # kept, written once space was back


def test_checkpoint_on_full_disk_says_no_space_left(loop_ws):
    run = Workspace(loop_ws).run("disk", "full")
    with small_filesystem(run.checkpoints_dir, "64k"):
        done = run_exp("train", "--trainer", "loop", "--set", "steps=2", "--set", "every=1", "--set", "big=300")
    assert done.returncode == 1
    assert "no space left on device while saving checkpoint" in done.stderr
    assert "inline_container" not in done.stderr and "unexpected pos" not in done.stderr
    assert not list(run.checkpoints_dir.glob(".ckpt-*.tmp"))  # the half-written temp file is gone

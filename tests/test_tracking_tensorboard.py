"""TensorBoard writer: exact read-back with EventAccumulator, resume without duplicates, rich records."""

from __future__ import annotations

import numpy as np
import pytest
from test_tracking_readers import tb_accumulator, tb_series

from exptool.images import prepare_image
from exptool.tracking.writers._events import event_file_name, scalar_event, scalar_value_prefix
from exptool.tracking.writers.tensorboard_writer import TensorBoardWriter


def test_scalars_read_back_exactly(tmp_path):
    writer = TensorBoardWriter(log_dir=tmp_path)
    rng = np.random.default_rng(0)
    logged = {}
    for step in range(0, 3000, 3):
        metrics = {"train/loss": float(rng.normal()), "lr": 10.0 ** -(step % 7), "ünïcode tag": float(step)}
        writer.log_metrics(step, metrics, 1_700_000_000.0 + step)
        for key, value in metrics.items():
            logged.setdefault(key, []).append((step, float(np.float32(value))))
    writer.close()
    assert tb_series(tmp_path) == logged
    acc = tb_accumulator(tmp_path)
    assert acc.Scalars("lr")[1].wall_time == 1_700_000_003.0


def test_hand_encoded_event_matches_protobuf(tmp_path):
    from tensorboard.compat.proto import event_pb2

    framed = scalar_event(12345678901, 1.5, [scalar_value_prefix("a"), scalar_value_prefix("b" * 300)], [0.5, -2.0])
    event = event_pb2.Event.FromString(framed[12:-4])
    assert event.step == 12345678901 and event.wall_time == 1.5
    assert [(v.tag, v.simple_value) for v in event.summary.value] == [("a", 0.5), ("b" * 300, -2.0)]


def test_resume_hides_points_after_the_resume_step(tmp_path):
    writer = TensorBoardWriter(log_dir=tmp_path)
    for step in range(100):
        writer.log_metrics(step, {"loss": float(step), "other": 1.0}, float(step))
    writer.close()
    writer = TensorBoardWriter(log_dir=tmp_path, resume_step=59)
    for step in range(60, 80):
        writer.log_metrics(step, {"loss": 1000.0 + step}, float(step))
    writer.resume(69)  # and once more, on an open writer
    for step in range(70, 75):
        writer.log_metrics(step, {"loss": 2000.0 + step}, float(step))
    writer.close()
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 3
    series = tb_series(tmp_path)
    steps = [s for s, _ in series["loss"]]
    assert steps == list(range(75))  # each step exactly once
    assert series["loss"][59] == (59, 59.0) and series["loss"][60] == (60, 1060.0)
    assert series["loss"][70] == (70, 2070.0)
    assert [s for s, _ in series["other"]] == list(range(60))


def test_new_event_file_sorts_after_existing_ones(tmp_path):
    import time

    later = f"events.out.tfevents.{int(time.time()) + 100}.zzz.1.x"  # a clock that went backwards
    (tmp_path / later).write_bytes(b"")
    assert event_file_name(tmp_path).name > later


def test_images_histograms_text_and_hparams(tmp_path):
    writer = TensorBoardWriter(log_dir=tmp_path)
    writer.log_image("rgb", prepare_image(np.full((4, 6, 3), 255, np.uint8)), 3)
    writer.log_image("gray", prepare_image(np.zeros((5, 7))), 4)
    values = np.arange(1000, dtype=np.float64)
    counts, edges = np.histogram(values, bins=10)
    writer.log_histogram("weights", values, 5, counts, edges)
    writer.log_config({"lr": 0.1, "optim": {"name": "adam", "betas": [0.9, 0.99]}})
    writer.close()
    acc = tb_accumulator(tmp_path)
    rgb, gray = acc.Images("rgb")[0], acc.Images("gray")[0]
    assert (rgb.step, rgb.width, rgb.height) == (3, 6, 4) and rgb.encoded_image_string.startswith(b"\x89PNG")
    assert (gray.step, gray.width, gray.height) == (4, 7, 5)
    histo = acc.Histograms("weights")[0]
    assert histo.step == 5 and histo.histogram_value.num == 1000 and histo.histogram_value.max == 999
    assert sum(histo.histogram_value.bucket) == 1000
    assert b'"name": "adam"' in acc.Tensors("config")[0].tensor_proto.string_val[0]
    assert "_hparams_/session_start_info" in acc.Tags()["tensors"]


def test_tensorboard_server_view_of_the_experiments_folder(ws):
    """The multiplexer of TensorBoard's Python loader (``--load_fast=false``), in-process."""
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.util import tensor_util

    from exptool.tracking import Logger
    from exptool.workspace import Workspace

    run = Workspace.find().run("exp", "run")
    run.create()
    with Logger(run=run) as logger:
        logger.initialize_tensorboard()
        for step in range(10):
            logger.log({"loss": float(step)}, step)
    with Logger(run=run, resume_step=4) as logger:
        logger.initialize_tensorboard()
        logger.log({"loss": 50.0}, 5)
        logger.log({"loss": 60.0}, 6)
    with Logger(run=run, resume_step=5) as logger:  # a second resume purges too
        logger.initialize_tensorboard()
        logger.log({"loss": 66.0}, 6)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(ws / "experiments"))
    mux.Reload()
    assert list(mux.Runs()) == ["exp/run/logs"]
    points = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in mux.Tensors("exp/run/logs", "loss")]
    assert points == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 50.0), (6, 66.0)]
    assert tb_series(run.logs_dir)["loss"] == points


def test_values_beyond_float32_become_inf_and_the_writer_keeps_going(ws, capfd):
    """A diverging loss (1e300) used to raise in the encoder and stop TensorBoard for the rest of the run."""
    import math

    from exptool.tracking import Logger
    from exptool.workspace import Workspace

    run = Workspace.find().run("exp", "diverged")
    run.create()
    with Logger(run=run) as logger:
        logger.initialize_tensorboard()
        logger.log({"loss": 1e300, "neg": -1e39, "edge": 3.40282356e38, "ok": 0.5}, 0)
        logger.log({"loss": 2.0, "neg": -1.0, "edge": 1.0, "ok": 0.25}, 1)
        assert "tensorboard" in logger.writers
    assert "writer stopped" not in capfd.readouterr().err
    series = tb_series(run.logs_dir)
    assert series["loss"] == [(0, math.inf), (1, 2.0)] and series["neg"] == [(0, -math.inf), (1, -1.0)]
    assert series["edge"][0] == (0, float(np.float32(3.40282356e38))) and series["ok"] == [(0, 0.5), (1, 0.25)]


def _serve(logdir, load_fast: str):
    """Start a real ``tensorboard --logdir`` server on a free port; returns (process, base URL)."""
    import re
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
         "--port", "0", f"--load_fast={load_fast}", "--reload_interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline, seen = time.monotonic() + 90, []
    for line in proc.stdout:
        seen.append(line)
        found = re.search(r"(http://[^ /]+:\d+)/", line)
        if found:
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("tensorboard did not start:\n" + "".join(seen))


def _get_json(url: str):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.mark.parametrize("load_fast", ["true", "false"])  # the Rust data server (default) and the Python reader
def test_real_tensorboard_server_shows_the_runs_points_once(ws, load_fast):
    """``tensorboard --logdir experiments`` itself, queried over HTTP like its dashboard does."""
    import time
    import urllib.error
    import urllib.parse

    from exptool.tracking import Logger
    from exptool.workspace import Workspace

    run = Workspace.find().run("exp", "run")
    run.create()
    with Logger(run=run) as logger:
        logger.initialize_tensorboard()
        for step in range(10):
            logger.log({"loss": float(step), "acc": step / 10}, step)
        logger.log_image("pred", np.zeros((4, 6, 3), np.uint8), 3)
    with Logger(run=run, resume_step=4) as logger:
        logger.initialize_tensorboard()
        for step in (5, 6, 7):
            logger.log({"loss": 50.0 + step, "acc": 0.5}, step)
    with Logger(run=run, resume_step=5) as logger:  # a second resume purges too
        logger.initialize_tensorboard()
        logger.log({"loss": 66.0, "acc": 0.25}, 6)
    want_loss = [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 55.0), (6, 66.0)]

    proc, base = _serve(ws / "experiments", load_fast)
    try:
        query = urllib.parse.urlencode({"run": "exp/run/logs", "tag": "loss"})
        deadline, loss = time.monotonic() + 90, None
        while time.monotonic() < deadline:  # the server loads in the background: poll, no timing assertion
            try:
                loss = [(s, v) for _, s, v in _get_json(f"{base}/data/plugin/scalars/scalars?{query}")]
            except urllib.error.HTTPError:  # 500 until the run's tag is loaded
                loss = None
            if loss == want_loss:
                break
            time.sleep(0.5)
        assert _get_json(base + "/data/runs") == ["exp/run/logs"]
        assert loss == want_loss  # each step once, the resumed values, nothing after the last resume
        tags = _get_json(base + "/data/plugin/scalars/tags")["exp/run/logs"]
        assert set(tags) == {"loss", "acc"}
        query = urllib.parse.urlencode({"run": "exp/run/logs", "tag": "acc"})
        acc = [(s, round(v, 6)) for _, s, v in _get_json(f"{base}/data/plugin/scalars/scalars?{query}")]
        assert acc == [(0, 0.0), (1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4), (5, 0.5), (6, 0.25)]
        assert _get_json(base + "/data/plugin/images/tags")["exp/run/logs"]["pred"]["samples"] == 1
    finally:
        proc.kill()
        proc.wait(timeout=30)

"""One contract test run over every writer: log through the Logger, read back with the real reader."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from test_tracking_readers import csv_series, tb_accumulator, tb_series, wandb_config, wandb_history_keys, wandb_series

from exptool.tracking import Logger, Writer, register_writer, writer_names
from exptool.workspace import Workspace


class MemoryWriter(Writer):
    """A user-style writer registered through the public registry."""

    name = "memory"
    instances: list[MemoryWriter] = []

    def __init__(self, run=None, resume_step=None):
        self.rows: list[tuple[int, dict]] = []
        self.images: list[tuple[str, int, tuple]] = []
        self.config: dict = {}
        self.closed = False
        MemoryWriter.instances.append(self)

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        assert all(type(v) is float for v in metrics.values())
        self.rows.append((step, dict(metrics)))

    def log_image(self, tag, image, step):
        assert image.png.startswith(b"\x89PNG")
        self.images.append((tag, step, image.array.shape))

    def log_config(self, config):
        self.config.update(config)

    def close(self):
        self.closed = True


register_writer("memory", MemoryWriter)


def memory_series(run) -> dict:
    series: dict = {}
    for step, metrics in MemoryWriter.instances[-1].rows:
        for key, value in metrics.items():
            series.setdefault(key, []).append((step, value))
    return series


READERS = {
    "csv": lambda run: csv_series(run.metrics_path),
    "tensorboard": lambda run: tb_series(run.logs_dir),
    "wandb": lambda run: wandb_series(run.logs_dir),
    "memory": memory_series,
}
# TensorBoard stores scalars as float32; the others keep full precision.
TOLERANCE = {"tensorboard": 1e-6, "csv": 0.0, "wandb": 1e-12, "memory": 0.0}


def test_every_registered_writer_has_a_reader():
    builtin = {"csv", "tensorboard", "wandb"}
    assert builtin <= set(writer_names()) and builtin <= set(READERS)


@pytest.mark.parametrize("writer", sorted(READERS))
def test_writer_contract(writer, ws):
    import torch

    run = Workspace.find().run("contract", writer)
    run.create()
    expected: dict[str, list[tuple[int, float]]] = {}
    with Logger(run=run, rank=0) as logger:
        logger.initialize(writer)
        logger.log_config({"lr": 0.01, "model": {"depth": 3}})
        for step in range(30):
            metrics = {"train/loss": 1.0 / (step + 1), "acc": torch.tensor(step / 30.0), "count": step}
            if step >= 20:
                metrics["late"] = np.float64(step * 0.5)  # a metric that appears late
            logger.log(metrics, step)
            if step % 10 == 0:
                logger.log({"val/loss": 2.0 + step}, step)  # same step, second call
                expected.setdefault("val/loss", []).append((step, 2.0 + step))
            for key, value in metrics.items():
                expected.setdefault(key, []).append((step, float(value)))
        logger.log_image("sample.png", np.zeros((3, 4, 5), dtype=np.float32), 29)
        logger.log_histogram("weights", np.linspace(-1, 1, 100), 29)
        logger.log_text("note", "hello", 0)
        logger.flush()
    got = READERS[writer](run)
    assert sorted(got) == sorted(expected)
    for key, points in expected.items():
        assert [s for s, _ in got[key]] == [s for s, _ in points], key
        for (_, want), (_, have) in zip(points, got[key], strict=True):
            assert math.isclose(have, want, rel_tol=TOLERANCE[writer], abs_tol=TOLERANCE[writer]), (key, want, have)

    # the non-scalar side of the contract, per backend
    if writer == "csv":
        import pandas as pd

        frame = pd.read_csv(run.metrics_path)
        assert list(frame.columns[:2]) == ["step", "wall_time"]
        assert frame["step"].is_unique and len(frame) == 30
    elif writer == "tensorboard":
        acc = tb_accumulator(run.logs_dir)
        assert acc.Images("sample")[0].width == 5 and acc.Images("sample")[0].step == 29
        assert acc.Histograms("weights")[0].histogram_value.num == 100
        assert b"hello" in acc.Tensors("note")[0].tensor_proto.string_val[0]
        assert b'"lr": 0.01' in acc.Tensors("config")[0].tensor_proto.string_val[0]
    elif writer == "wandb":
        assert wandb_config(run.logs_dir)["lr"] == 0.01
        assert {"sample", "weights"} <= wandb_history_keys(run.logs_dir)
    elif writer == "memory":
        mem = MemoryWriter.instances[-1]
        assert mem.closed and mem.config["lr"] == 0.01
        assert mem.images == [("sample", 29, (4, 5, 3))]
    assert (run.visualizations_dir / "sample_step000029.png").is_file()

"""TensorBoard writer: event files directly in the run's ``logs/`` folder.

All scalars of one ``log`` call go into one event (TensorBoard's reader splits them by tag), encoded
by hand and flushed to the operating system at once, so nothing logged is lost if the process is
killed and the training thread pays a few microseconds per step. Resuming writes a new event file
that starts with TensorBoard's restart marker (``SessionLog.START`` at the first new step), which
makes TensorBoard (its server and its ``EventAccumulator``) drop the older points from that step
on: no duplicated points.

After a failed write (a full disk) :meth:`TensorBoardWriter.recover` cuts the event file back to its
last complete record: a half-written record would make TensorBoard stop reading the file there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._events import ScalarLayout, event_file_name, frame, scalar_value_prefix
from .base import _FileWriter


class TensorBoardWriter(_FileWriter):
    """Write scalars, images, histograms, text and hparams to TensorBoard event files.

    Args:
        run: the run whose ``logs/`` folder receives the event files.
        resume_step: hide points logged earlier for steps after this one.
        log_dir: write here instead of ``run.logs_dir``.
    """

    name = "tensorboard"

    def __init__(self, run: Any = None, resume_step: int | None = None, log_dir: str | os.PathLike | None = None):
        if log_dir is None and run is None:
            raise TypeError("TensorBoardWriter needs a run or a log_dir")
        self.log_dir = Path(log_dir) if log_dir is not None else Path(run.logs_dir)
        self._trial = run.id if run is not None else None  # the HParams table's name for this run: exp/run
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path: Path | None = None
        self._fh: Any = None
        self._size = 0  # bytes of complete records in the file: where recover() cuts it back to
        self._header = b""
        self._prefixes: dict[str, bytes] = {}
        self._layouts: dict[tuple[str, ...], ScalarLayout] = {}
        self._open(None if resume_step is None else resume_step + 1)

    def _open(self, purge_step: int | None) -> None:
        from tensorboard.compat.proto import event_pb2  # noqa: PLC0415

        if self._fh is not None:
            self.close()
        self._purge_step = purge_step
        self.path = event_file_name(self.log_dir)
        self._fh = open(self.path, "xb")  # noqa: SIM115 - held open for the writer's lifetime (never a link: x)
        self._size = 0
        now = time.time()
        step = purge_step or 0
        records = [frame(event_pb2.Event(wall_time=now, step=step, file_version="brain.Event:2").SerializeToString())]
        if purge_step is not None:
            # TensorBoard's server (plugin_event_accumulator) ignores the first START it sees in a
            # run ("initial start") and purges on later ones; the classic EventAccumulator purges on
            # every START. Two STARTs purge in both, whatever files came before.
            start = event_pb2.Event(wall_time=now, step=purge_step, session_log=event_pb2.SessionLog(status=1))
            records += [frame(start.SerializeToString())] * 2
        self._header = b"".join(records)
        self._fh.write(self._header)
        self._fh.flush()
        self._size = len(self._header)

    def _write_summary(self, step: int, values: list[Any], wall_time: float | None = None) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: PLC0415

        event = event_pb2.Event(
            wall_time=time.time() if wall_time is None else wall_time,
            step=step,
            summary=summary_pb2.Summary(value=values),
        )
        self._append(frame(event.SerializeToString()))

    def _append(self, record: bytes) -> None:
        self._fh.write(record)
        self._fh.flush()
        self._size += len(record)

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        keys = tuple(metrics)
        layout = self._layouts.get(keys)
        if layout is None:
            for tag in keys:
                if tag not in self._prefixes:
                    self._prefixes[tag] = scalar_value_prefix(tag)
            layout = self._layouts[keys] = ScalarLayout([self._prefixes[tag] for tag in keys])
        record = layout.event(step, wall_time, metrics.values())
        self._fh.write(record)
        self._fh.flush()
        self._size += len(record)

    def log_system(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        # At the current training step (steps must not go back within a file, or TensorBoard's
        # reader purges points), with the sample's wall time: TensorBoard's time axes show them.
        self.log_metrics(step, metrics, wall_time)

    def log_image(self, tag: str, image: Any, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2  # noqa: PLC0415

        img = summary_pb2.Summary.Image(
            height=image.height, width=image.width, colorspace=image.channels, encoded_image_string=image.png
        )
        self._write_summary(step, [summary_pb2.Summary.Value(tag=tag, image=img)])

    def log_histogram(
        self, tag: str, values: Any, step: int, counts: Sequence[float], edges: Sequence[float]
    ) -> None:
        from tensorboard.compat.proto import summary_pb2  # noqa: PLC0415

        histo = summary_pb2.HistogramProto(
            min=float(values.min()),
            max=float(values.max()),
            num=float(values.size),
            sum=float(values.sum()),
            sum_squares=float((values * values).sum()),
            bucket_limit=[float(e) for e in edges[1:]],
            bucket=[float(c) for c in counts],
        )
        self._write_summary(step, [summary_pb2.Summary.Value(tag=tag, histo=histo)])

    def log_text(self, tag: str, text: str, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: PLC0415

        metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            string_val=[text.encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        )
        self._write_summary(step, [summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])

    def log_config(self, config: Mapping[str, Any]) -> None:
        body = json.dumps(config, indent=2, default=str)
        self.log_text("config", "\n".join("    " + line for line in body.splitlines()), 0)
        hparams = _flatten(config)
        if not hparams:
            return
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb  # noqa: PLC0415 - slow import, once

        summary = hparams_pb(hparams, trial_id=self._trial)
        self._write_summary(0, list(summary.value))

    def resume(self, step: int) -> None:
        self._open(step + 1)

    def recover(self) -> None:
        """After a failed write: reopen the event file and cut it back to its last complete record."""
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()  # may try to write the failed buffer once more: cut off below
            except OSError:
                pass
        if self.path is None or not self.path.exists():  # creating the file failed
            self._open(self._purge_step)
            return
        from ..._fs import open_file  # noqa: PLC0415

        self._fh = open_file(self.path, "r+b")
        self._fh.truncate(self._size)
        self._fh.seek(self._size)
        if self._size < len(self._header):  # the file's first records did not make it
            self._fh.truncate(0)
            self._fh.seek(0)
            self._fh.write(self._header)
            self._fh.flush()
            self._size = len(self._header)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested config -> flat ``{"a.b": value}`` with the value types the hparams plugin accepts."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat

"""Read a run's tracking output back with the real readers (no tests here, only helpers).

- CSV: exptool.metrics_file.read_metrics and pandas.
- TensorBoard: tensorboard's own EventAccumulator.
- W&B: the offline run's ``.wandb`` transaction log (leveldb log format, records are wandb's
  ``Record`` protobufs), parsed with wandb's own protobuf schema.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

Series = dict[str, list[tuple[int, float]]]


def csv_series(path: Path) -> Series:
    from exptool.metrics_file import read_metrics

    return {k: v for k, v in read_metrics(path).items() if v}


def tb_accumulator(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def tb_series(log_dir: Path) -> Series:
    acc = tb_accumulator(log_dir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def wandb_records(run_logs: Path) -> list:
    """Every Record of the (single) offline W&B run under ``run_logs/wandb``."""
    from wandb.proto import wandb_internal_pb2

    files = sorted(Path(run_logs, "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            raw = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            raw, pending = pending + chunk, b""
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        out.append(record)
    return out


def _top_level_key(item) -> str | None:
    """The item's key when it is a top-level one (images etc. also log nested ``name.width`` keys)."""
    if item.key:
        return item.key
    return item.nested_key[0] if len(item.nested_key) == 1 else None


def wandb_series(run_logs: Path) -> Series:
    series: Series = {}
    for record in wandb_records(run_logs):
        if record.WhichOneof("record_type") != "history":
            continue
        items = {_top_level_key(item): item.value_json for item in record.history.item}
        items.pop(None, None)
        step = int(json.loads(items["_step"]))
        for key, value in items.items():
            if key.startswith("_"):
                continue
            parsed = json.loads(value)
            if isinstance(parsed, (int, float)):
                series.setdefault(key, []).append((step, float(parsed)))
    return series


def wandb_config(run_logs: Path) -> dict:
    config: dict = {}
    for record in wandb_records(run_logs):
        kind = record.WhichOneof("record_type")
        updates = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        for item in updates:
            config[item.key or ".".join(item.nested_key)] = json.loads(item.value_json)
    return config


def wandb_history_keys(run_logs: Path) -> set[str]:
    keys: set[str] = set()
    for record in wandb_records(run_logs):
        if record.WhichOneof("record_type") == "history":
            keys |= {item.key or item.nested_key[0] for item in record.history.item}
    return keys

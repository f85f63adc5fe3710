"""The parts of a run's row and where each comes from: reading them, stamping their files, caching them.

Each part has the files it comes from (their stamps decide whether a cached copy is still good),
a reader, and a compact form for the per-experiment cache (lists instead of dicts; the key names
of configs and metrics stored once per "shape"). Decoding a million small values is most of a
listing's time, so the cache holds few: ``metrics`` has last values only, while ``extrema`` (min,
max and their steps) is its own part, loaded only when asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from ..workspace import RUN_CONFIG, RUN_RECORD
from . import summary

# The run.json fields a row keeps: what listings show and queries filter on.
RECORD_FIELDS = ("created", "status", "started", "ended", "duration_s", "exit_code", "seed", "host", "note", "from",
                 "launcher", "slurm", "sweep", "sweep_index")

Stamp = list | None


def stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return [0, -1, 0]  # unreadable: never matches, so the part is read (and reported) again
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def read_json(path: str) -> Any:
    """Parsed JSON; None when missing; ``ValueError``/``OSError`` when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return json.loads(b"".join(chunks))


def flatten(config: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """A nested config as ``{"optimizer.lr": 0.001, ...}`` (lists and empty mappings are values)."""
    if out is None:
        out = {}
    if not isinstance(config, dict):
        return out
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flatten(value, name + ".", out)
        else:
            out[name] = value
    return out


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [t for t in value if isinstance(t, str)]


def _record_stamps(run_dir: str) -> list[Stamp]:
    return [stamp(run_dir + "/" + RUN_RECORD)]


def _config_stamps(run_dir: str) -> list[Stamp]:
    return [stamp(run_dir + "/" + RUN_CONFIG)]


def _metrics_stamps(run_dir: str) -> list[Stamp]:
    # The summary is derived from the CSV, so the CSV's stamp decides; only without a CSV (a run
    # logged to TensorBoard alone) is the summary itself the source.
    csv = stamp(run_dir + "/logs/metrics.csv")
    return [csv] if csv is not None else [None, stamp(run_dir + "/" + summary.SUMMARY_NAME)]


def _read_record(run_dir: str) -> Any:
    try:
        data = read_json(run_dir + "/" + RUN_RECORD)
    except (OSError, ValueError):
        return {"unreadable": True}
    if data is None:
        return {}
    if not isinstance(data, dict):
        return {"unreadable": True}
    part = {k: data.get(k) for k in RECORD_FIELDS if data.get(k) is not None}
    part["tags"] = _tags(data.get("tags"))
    trainer = data.get("trainer")
    if isinstance(trainer, dict):
        trainer = trainer.get("name")
    if isinstance(trainer, str):
        part["trainer"] = trainer
    git = data.get("git")
    if isinstance(git, dict):
        part["commit"], part["dirty"] = git.get("commit"), git.get("dirty")
    versions = data.get("versions")
    if isinstance(versions, dict):
        for name in ("python", "torch", "exptool"):
            if versions.get(name) is not None:
                part[name] = versions[name]
    return part


def _read_config(run_dir: str) -> Any:
    try:
        data = read_json(run_dir + "/" + RUN_CONFIG)
    except (OSError, ValueError):
        return ({}, "config.json is unreadable")
    if data is not None and not isinstance(data, dict):
        return ({}, "config.json is not a mapping")
    return (flatten(data or {}), None)


def _read_metrics(run_dir: str) -> Any:
    try:
        stats, last, _ = summary.read(run_dir)
    except (OSError, ValueError):
        return (None, {})
    return (last, stats)


_RECORD_KEYS = (*RECORD_FIELDS, "tags", "trainer", "commit", "dirty", "python", "torch", "exptool")


class Shapes:
    """Key tuples stored once in a cache file; entries refer to them by number."""

    def __init__(self, stored: list | None = None):
        self.keys: list[list[str]] = stored if isinstance(stored, list) else []
        self._ids: dict[tuple[str, ...], int] = {}

    def id(self, keys: Iterable[str]) -> int:
        if not self._ids and self.keys:
            self._ids = {tuple(k): i for i, k in enumerate(self.keys)}
        key = tuple(keys)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.keys)
            self.keys.append(list(key))
        return found


def _enc_record(value: dict, shapes: Shapes) -> Any:
    return 0 if value.get("unreadable") else [value.get(k) for k in _RECORD_KEYS]


def _dec_record(data: Any, shapes: Shapes) -> dict:
    if data == 0:
        return {"unreadable": True}
    return {k: v for k, v in zip(_RECORD_KEYS, data, strict=True) if v is not None}


def _enc_config(value: tuple, shapes: Shapes) -> Any:
    flat, problem = value
    return [shapes.id(flat), list(flat.values()), problem]


def _dec_config(data: Any, shapes: Shapes) -> tuple:
    return (dict(zip(shapes.keys[data[0]], data[1], strict=True)), data[2])


def _enc_metrics(value: tuple, shapes: Shapes) -> Any:
    last, stats = value
    return [last, shapes.id(stats), [e[0] for e in stats.values()]]


def _dec_metrics(data: Any, shapes: Shapes) -> tuple:
    return (data[0], {n: [v, None, None, None, None, None] for n, v in zip(shapes.keys[data[1]], data[2], strict=True)})


def _enc_extrema(value: tuple, shapes: Shapes) -> Any:
    stats = value[1]
    return [shapes.id(stats), [x for e in stats.values() for x in e[1:]]]


def _dec_extrema(data: Any, shapes: Shapes) -> tuple:
    flat = data[1]
    return (None, {n: flat[5 * i : 5 * i + 5] for i, n in enumerate(shapes.keys[data[0]])})


# name -> (stamps, read, encode, decode)
PARTS: dict[str, tuple] = {
    "record": (_record_stamps, _read_record, _enc_record, _dec_record),
    "config": (_config_stamps, _read_config, _enc_config, _dec_config),
    "metrics": (_metrics_stamps, _read_metrics, _enc_metrics, _dec_metrics),
    "extrema": (_metrics_stamps, _read_metrics, _enc_extrema, _dec_extrema),
}

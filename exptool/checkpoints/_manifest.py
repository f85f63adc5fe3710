"""``checkpoints/manifest.json``: which checkpoint files exist, in save order, with their metrics.

The manifest is the single source of truth for ``last``, ``best`` and pruning. It is replaced
atomically after each checkpoint file is complete, so it only ever names complete files.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_json
from ..errors import UnreadableCheckpointError
from . import _io

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_LEGACY_EPOCH = re.compile(r"checkpoint_(?:epoch_)?(\d+)\.pth?$")
_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")


@dataclass
class Entry:
    """One checkpoint file. ``adopted`` files were found on disk, not written by exptool: never pruned."""

    file: str
    step: int | None = None
    epoch: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    saved_at: str | None = None
    bytes: int | None = None
    adopted: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            raise ValueError("entry without a file name")
        _check_name(data["file"])
        metrics = {str(k): float(v) for k, v in (data.get("metrics") or {}).items() if _is_number(v)}
        return cls(
            file=data["file"],
            step=_int_or_none(data.get("step")),
            epoch=_int_or_none(data.get("epoch")),
            metrics=metrics,
            saved_at=data.get("saved_at"),
            bytes=_int_or_none(data.get("bytes")),
            adopted=bool(data.get("adopted", False)),
        )


@dataclass
class Manifest:
    """Entries in save order (oldest first) plus files waiting to be deleted."""

    entries: list[Entry] = field(default_factory=list)
    pending_delete: list[str] = field(default_factory=list)
    damaged: list[dict[str, Any]] = field(default_factory=list)  # files set aside: {file, was, step, reason, at}

    @property
    def last(self) -> Entry | None:
        return self.entries[-1] if self.entries else None

    def drop_missing(self, directory: Path) -> bool:
        """Forget entries whose file is gone; True when there were any."""
        kept = [e for e in self.entries if (directory / e.file).is_file()]
        dropped = len(kept) != len(self.entries)
        self.entries = kept
        return dropped

    def ranked(self, metric: str | None, mode: str) -> list[Entry]:
        """Entries with a finite value of ``metric``, best first; the earlier save wins a tie."""
        if metric is None:
            return []
        scored = [(e.metrics[metric], i, e) for i, e in enumerate(self.entries)
                  if metric in e.metrics and math.isfinite(e.metrics[metric])]
        sign = 1.0 if mode == "min" else -1.0
        scored.sort(key=lambda t: (sign * t[0], t[1]))
        return [e for _, _, e in scored]

    def keep(self, keep_last: int | None, keep_best: int, metric: str | None, mode: str) -> set[str]:
        """Files to keep: the last ``keep_last`` (all when None), the best ``keep_best``, adopted ones."""
        kept = {e.file for e in self.entries if e.adopted}
        recent = self.entries if keep_last is None else self.entries[-keep_last:]  # keep_last >= 1
        kept.update(e.file for e in recent)
        kept.update(e.file for e in self.ranked(metric, mode)[:keep_best])
        return kept

    def to_json(self, metric: str | None, mode: str, keep_best: int) -> dict[str, Any]:
        ranked = self.ranked(metric, mode)[:keep_best]
        return {
            "format": MANIFEST_VERSION,
            "metric": metric,
            "mode": mode,
            "last": self.last.file if self.last else None,
            "best": ranked[0].file if ranked else None,
            "best_k": [e.file for e in ranked],
            "checkpoints": [asdict(e) for e in self.entries],
            "pending_delete": list(self.pending_delete),
            **({"damaged": [dict(d) for d in self.damaged]} if self.damaged else {}),
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), list):
            raise ValueError("not an exptool checkpoint manifest")
        entries = [Entry.from_json(d) for d in data["checkpoints"]]
        pending = [_check_name(f) for f in data.get("pending_delete") or []]
        damaged = [d for d in data.get("damaged") or [] if isinstance(d, dict)]
        return cls(entries, pending, damaged)


def read(directory: Path) -> Manifest | None:
    """The manifest in ``directory``; None when there is none; ValueError when it is unreadable."""
    try:
        text = (directory / MANIFEST_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except PermissionError as exc:  # unreadable is not damaged: never quarantined or rebuilt over
        raise UnreadableCheckpointError(
            f"Cannot read {directory / MANIFEST_NAME}: {exc.strerror or exc}.",
            hint="Fix its permissions (e.g. chmod u+r); exptool never replaces a manifest it cannot read.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    try:
        return Manifest.from_json(json.loads(text))
    except (TypeError, AttributeError, OverflowError) as exc:  # valid JSON of the wrong shape
        raise ValueError(f"not an exptool checkpoint manifest: {exc}") from exc


def write(directory: Path, manifest: Manifest, metric: str | None, mode: str, keep_best: int, *,
          fsync: bool = True) -> None:
    atomic_write_json(directory / MANIFEST_NAME, manifest.to_json(metric, mode, keep_best), fsync=fsync)


def rebuild(directory: Path) -> Manifest:
    """A manifest recovered from the checkpoint files on disk (used when it is missing or damaged).

    Files exptool wrote get their step, epoch and metrics back from their own metadata; other
    checkpoint files (e.g. the template's ``checkpoint_epoch_3.pth``) are adopted and never pruned.
    Unreadable files are left alone.
    """
    try:
        candidates = [p for p in directory.iterdir()
                      if p.suffix in _CHECKPOINT_SUFFIXES and not p.name.startswith(".") and "\\" not in p.name
                      and p.is_file()]  # (a backslash would make the next read refuse the manifest)
    except OSError:
        return Manifest()
    found: list[tuple[float, Entry]] = []
    for path in candidates:
        try:
            data = _io.read(path, map_location="cpu", mmap=True)
        except Exception:  # a damaged or foreign file: keep it on disk, leave it out
            continue
        stat = path.stat()
        if data.get(_io.FORMAT_KEY):
            entry = Entry(path.name, _int_or_none(data.get("step")), _int_or_none(data.get("epoch")),
                          _io.clean_metrics(data.get("metrics")), data.get("saved_at"), stat.st_size)
        else:
            legacy = _LEGACY_EPOCH.search(path.name)
            epoch = _int_or_none(data.get("epoch")) if "epoch" in data else None
            if epoch is None and legacy:
                epoch = int(legacy.group(1))
            entry = Entry(path.name, epoch=epoch, bytes=stat.st_size, adopted=True)
        found.append((stat.st_mtime, entry))
    found.sort(key=lambda t: (t[0], t[1].file))
    return Manifest([e for _, e in found])


def set_aside(directory: Path, name: str) -> str:
    """Rename a damaged checkpoint to ``NAME.damaged`` (``NAME.damaged-2``... if taken); returns the new name."""
    target, n = f"{name}.damaged", 1
    while (directory / target).exists():
        n += 1
        target = f"{name}.damaged-{n}"
    os.replace(directory / name, directory / target)
    return target


def quarantine(directory: Path) -> Path | None:
    """Move a damaged manifest aside (kept for inspection) so a rebuilt one can replace it."""
    src = directory / MANIFEST_NAME
    dst = directory / f"{MANIFEST_NAME}.damaged"
    try:
        os.replace(src, dst)
    except OSError:
        return None
    return dst


def _check_name(name: Any) -> str:
    """``name`` if it is a plain file name in the folder: a manifest must never make exptool load or
    delete a file elsewhere (``../x``, ``/x``, ``sub/x``)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a file name in the checkpoint folder: {name!r}")
    return name


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

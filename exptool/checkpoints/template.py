"""The template's checkpoint functions, kept working on top of :class:`CheckpointManager`.

Differences from the template: errors raise :class:`~exptool.errors.CheckpointError` instead of
being printed and swallowed, files load with ``weights_only=True``, and writes are atomic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from . import _io, _manifest
from .manager import CheckpointInfo, CheckpointManager


def save_checkpoint(exp: str | None, run: str | None, model: Any, epoch: int, optimizer: Any = None,
                    scheduler: Any = None, *, step: int | None = None, scaler: Any = None,
                    metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path | None:
    """Save ``checkpoints/checkpoint_epoch_{epoch}.pth`` of a run (None names mean the current run).

    Nothing is pruned: every checkpoint saved this way is kept. Returns the file written (None on
    distributed ranks other than 0, which do not write).
    """
    from ..state import find_run as resolve_run  # noqa: PLC0415

    target = resolve_run(exp, run).require()
    manager = CheckpointManager(target.checkpoints_dir, keep_last=None, keep_best=0)
    return manager.save(step=step, epoch=epoch, model=model, optimizer=optimizer, scheduler=scheduler,
                        scaler=scaler, metrics=metrics, extra=extra)


def load_model_from_checkpoint(exp: str | None, run: str | None, model: Any, epoch: int | str,
                               optimizer: Any = None, scheduler: Any = None, device: Any = "cpu", *,
                               scaler: Any = None, weights_only: bool = True, strict: bool = True) -> CheckpointInfo:
    """Load a run's checkpoint of ``epoch`` (or ``"last"``/``"best"``) into ``model`` (and optimizer...).

    Raises:
        CheckpointError: no such checkpoint, a damaged file, or states that do not fit.
    """
    from ..state import find_run as resolve_run  # noqa: PLC0415

    target = resolve_run(exp, run).require()
    metric, mode = _recorded_ranking(target.checkpoints_dir)
    manager = CheckpointManager(target.checkpoints_dir, metric=metric, mode=mode, rank=1)  # a reader: never writes
    return manager.load(epoch, model, optimizer, scheduler, scaler, map_location=device,
                        weights_only=weights_only, strict=strict)


def load_model_from_path(path: str | os.PathLike, model: Any, optimizer: Any = None, scheduler: Any = None,
                         device: Any = "cpu", *, scaler: Any = None, weights_only: bool = True,
                         strict: bool = True) -> CheckpointInfo:
    """Load the checkpoint file at ``path`` into ``model`` (and optimizer, scheduler, scaler).

    Also accepts a bare ``state_dict`` saved with ``torch.save(model.state_dict(), path)``.

    Raises:
        CheckpointError: a missing or damaged file, or states that do not fit.
        UnsafeCheckpointError: the file holds objects the safe loader refuses (opt in with weights_only=False).
    """
    path = Path(path)
    data = _io.read(path, map_location=device, weights_only=weights_only, mmap=True)
    _io.apply(data, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, strict=strict)
    from .manager import _info  # noqa: PLC0415

    return _info(path, data)


def _recorded_ranking(directory: Path) -> tuple[str | None, str]:
    """The metric and mode the run's manifest was written with, so ``"best"`` works when reading."""
    try:
        data = json.loads((directory / _manifest.MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "min"
    metric = data.get("metric") if isinstance(data, dict) else None
    mode = data.get("mode") if isinstance(data, dict) and data.get("mode") in ("min", "max") else "min"
    return (metric if isinstance(metric, str) else None), mode


__all__ = ["CheckpointError", "load_model_from_checkpoint", "load_model_from_path", "save_checkpoint"]

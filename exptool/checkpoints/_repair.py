"""Falling back from a damaged ``last`` checkpoint to the newest intact one.

A checkpoint cut short (a full disk, a copy that stopped) or one the safe loader refuses must not
block every resume while older intact checkpoints are listed in the manifest. The damaged file is
never deleted: rank 0 renames it ``NAME.damaged`` and records it under ``damaged`` in the manifest.
A file exptool cannot read (permissions) is not damaged: it stops the repair instead.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._text import clip
from ..errors import CheckpointError, UnreadableCheckpointError
from ..runtime import log as _log
from . import _io, _manifest

if TYPE_CHECKING:
    from .manager import CheckpointManager



def repair_last(manager: CheckpointManager) -> list[dict[str, Any]]:
    """See :meth:`CheckpointManager.repair_last`."""
    moved: list[dict[str, Any]] = []
    while (last := manager._manifest.last) is not None:
        try:
            _io.probe(manager.directory / last.file)
        except UnreadableCheckpointError:
            raise
        except CheckpointError as exc:
            moved.append(set_aside(manager, last, exc))
            continue
        break
    return moved


def set_aside(manager: CheckpointManager, entry: _manifest.Entry, exc: BaseException) -> dict[str, Any]:
    """Take a damaged ``entry`` out of the manifest (renamed and recorded on rank 0) and say so."""
    record: dict[str, Any] = {
        "file": entry.file, "was": entry.file, "step": entry.step, "epoch": entry.epoch,
        "reason": clip(getattr(exc, "detail", None) or getattr(exc, "message", str(exc)), 300),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with manager._lock:
        manifest = copy.deepcopy(manager._manifest)
        manifest.entries = [e for e in manifest.entries if e.file != entry.file]
        if manager.is_writer:
            try:
                record["file"] = _manifest.set_aside(manager.directory, entry.file)
            except FileNotFoundError:
                record["file"] = None
            manifest.damaged.append(record)
            _manifest.write(manager.directory, manifest, manager.metric, manager.mode, manager.keep_best,
                            fsync=manager.fsync)
        manager._manifest = manifest
    fallback = manifest.last
    moved = record["file"] not in (None, entry.file)
    where = f"moved it to {record['file']}" if moved else "skipped it"
    then = f"falling back to {describe(fallback)}" if fallback is not None else "no intact checkpoint is left"
    _log.warning("checkpoint %s is damaged (%s); %s; %s.", entry.file, record["reason"], where, then)
    return record


def describe(entry: _manifest.Entry) -> str:
    """``step 40 (checkpoint_epoch_3_step_40.pth)``, or the epoch when the file has no step."""
    when = f"step {entry.step}" if entry.step is not None else f"epoch {entry.epoch}" if entry.epoch is not None else ""
    return f"{when} ({entry.file})" if when else entry.file

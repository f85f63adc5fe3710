"""CheckpointManager: atomic saves, keep-last-k and best-k by a metric, safe loads and resume."""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import runtime
from ..errors import CheckpointError, UnreadableCheckpointError
from . import _io, _manifest, _repair, _staging
from ._settle import SettlingMixin

_MODES = ("min", "max")


@dataclass(frozen=True)
class CheckpointInfo:
    """What a loaded checkpoint recorded. ``epoch``/``step`` are the ones finished when it was saved."""

    path: Path
    step: int | None
    epoch: int | None
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    saved_at: str | None = None

    @property
    def next_epoch(self) -> int:
        """The epoch to continue from (``epoch + 1``; 0 when the checkpoint has no epoch)."""
        return self.epoch + 1 if self.epoch is not None else 0


class CheckpointManager(SettlingMixin):
    """Checkpoints of one run in one folder, with a manifest that survives restarts.

    Each save writes ``checkpoint_epoch_E_step_S.pth`` (temp file, fsync, ``os.replace``), then
    replaces ``manifest.json``, then deletes what fell out of the last-k and best-k sets. A process
    killed at any instant leaves the previous ``last`` and ``best`` loadable. Checkpoint files are
    never overwritten: a name that exists gets a ``_r1``, ``_r2``... suffix.

    Args:
        directory: the folder, usually ``run.checkpoints_dir``; created when missing.
        keep_last: how many of the most recent checkpoints to keep (None: all). At least 1.
        keep_best: how many of the best checkpoints by ``metric`` to keep as well.
        metric: the metric in ``metrics`` that ranks checkpoints (None: no best tracking).
        mode: ``"min"`` or ``"max"``: whether lower or higher ``metric`` is better.
        rank: this process's distributed rank (default: ``$RANK`` or 0); only rank 0 writes.
        fsync: flush files to disk before renaming them (turn off only for throwaway runs).
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int | None = 3, keep_best: int = 1,
                 metric: str | None = None, mode: str = "min", rank: int | None = None, fsync: bool = True):
        if mode not in _MODES:
            raise CheckpointError(f"mode must be 'min' or 'max', not {mode!r}.")
        if keep_last is not None and keep_last < 1:
            raise CheckpointError("keep_last must be at least 1 (or None to keep every checkpoint).")
        if keep_best < 0:
            raise CheckpointError("keep_best cannot be negative.")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.keep_best = keep_best if metric is not None else 0
        self.metric = metric
        self.mode = mode
        self.rank = runtime.env_ranks().rank if rank is None else int(rank)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._settler: ThreadPoolExecutor | None = None  # makes saves durable, then prunes
        self._settler_pid = 0
        self._settling: Future | None = None
        self._async_error: BaseException | None = None
        self._staging = _staging.HostStaging()
        if self.is_writer:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_temp_files()
        self._manifest = self._read_manifest()
        if self.is_writer:
            self._finish_deletes()

    # -- state -------------------------------------------------------------------------------

    @property
    def is_writer(self) -> bool:
        """True on rank 0, the only process that writes checkpoints."""
        return self.rank == 0

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest as written to ``manifest.json``."""
        with self._lock:
            return copy.deepcopy(self._manifest.to_json(self.metric, self.mode, self.keep_best))

    def has_checkpoints(self) -> bool:
        """True when at least one complete checkpoint is recorded."""
        return self._manifest.last is not None

    @property
    def last_path(self) -> Path | None:
        """The most recently saved complete checkpoint, or None."""
        last = self._manifest.last
        return self.directory / last.file if last else None

    @property
    def best_path(self) -> Path | None:
        """The best checkpoint by ``metric``, or None (no metric, or no checkpoint has it)."""
        ranked = self._manifest.ranked(self.metric, self.mode)
        return self.directory / ranked[0].file if ranked and self.keep_best else None

    # -- saving ------------------------------------------------------------------------------

    def save(self, step: int | None = None, epoch: int | None = None, model: Any = None, optimizer: Any = None,
             scheduler: Any = None, scaler: Any = None, metrics: dict[str, Any] | None = None,
             extra: dict[str, Any] | None = None) -> Path | None:
        """Save a checkpoint now; returns its path (None on ranks other than 0).

        ``extra`` may hold tensors and plain types only, so the file loads with ``weights_only=True``.

        Raises:
            CheckpointError: nothing to name the file by, an unsafe value, or the write failed.
        """
        if not self.is_writer:
            return None
        self._join_writer()
        payload = self._payload(step, epoch, model, optimizer, scheduler, scaler, metrics, extra)
        return self._write(payload)

    def save_async(self, step: int | None = None, epoch: int | None = None, model: Any = None,
                   optimizer: Any = None, scheduler: Any = None, scaler: Any = None,
                   metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path | None:
        """Like :meth:`save`, but write in a background thread.

        The caller is blocked only while the states are copied to host memory (and while an earlier
        asynchronous save finishes). :meth:`wait` joins; an error in the background is raised by the
        next ``wait``, ``save`` or ``save_async``. Returns the path the checkpoint will have.
        """
        if not self.is_writer:
            return None
        self._join_writer()  # not the pruning: a large file can take a while to unlink
        payload = self._staging.copy(self._payload(step, epoch, model, optimizer, scheduler, scaler, metrics, extra))
        target = self._reserve_name(payload["step"], payload["epoch"])
        if self._executor is None:
            # One long-lived worker: starting a thread per save costs milliseconds on a busy machine.
            # Its thread is joined at interpreter exit, so a pending save is finished, not dropped.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exptool-checkpoint")
        self._pending = self._executor.submit(self._write_in_background, payload, target)
        return target

    def wait(self) -> None:
        """Block until an asynchronous save and the pruning of old files have finished.

        Re-raises the error of an asynchronous save that failed.
        """
        self._join_writer(pruning=True)

    def _join_writer(self, pruning: bool = False) -> None:
        """Join the background save (and the pruning, if asked) and re-raise the save's error."""
        pending = self._pending
        if pending is not None:
            pending.result()  # _write_in_background never raises; it stores the error
            self._pending = None
        if pruning:
            self._join_settler()
        error, self._async_error = self._async_error, None
        if error is not None:
            if isinstance(error, CheckpointError):
                raise error
            raise CheckpointError(f"Asynchronous checkpoint save failed: {error}") from error

    def _payload(self, step, epoch, model, optimizer, scheduler, scaler, metrics, extra) -> dict[str, Any]:
        if step is None and epoch is None:
            raise CheckpointError("A checkpoint needs a step or an epoch to be named by.")
        return _io.build_payload(
            step=_io.as_int(step, "step"), epoch=_io.as_int(epoch, "epoch"), model=model, optimizer=optimizer,
            scheduler=scheduler, scaler=scaler, metrics=metrics, extra=extra,
            saved_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        )

    def _write_in_background(self, payload: dict[str, Any], target: Path) -> None:
        try:
            self._write(payload, target, settle_here=True)
        except BaseException as exc:  # handed to the caller by wait()
            self._async_error = exc

    def _write(self, payload: dict[str, Any], target: Path | None = None, settle_here: bool = False) -> Path:
        path = target or self._reserve_name(payload["step"], payload["epoch"])
        size = _io.write_atomic(payload, path, fsync=self.fsync)  # complete and fsynced before it is renamed
        entry = _manifest.Entry(path.name, payload["step"], payload["epoch"], dict(payload["metrics"]),
                                payload["saved_at"], size)
        with self._lock:
            manifest = copy.deepcopy(self._manifest)
            manifest.entries = [e for e in manifest.entries if e.file != entry.file] + [entry]
            keep = manifest.keep(self.keep_last, self.keep_best, self.metric, self.mode)
            dropped = [e.file for e in manifest.entries if e.file not in keep]
            manifest.entries = [e for e in manifest.entries if e.file in keep]
            still_there = [f for f in manifest.pending_delete if f not in keep and (self.directory / f).exists()]
            manifest.pending_delete = still_there + dropped
            # Replaced atomically but not flushed here: the settler flushes it and the folder (which
            # makes both renames durable at once) before it deletes anything the manifest let go of.
            _manifest.write(self.directory, manifest, self.metric, self.mode, self.keep_best, fsync=False)
            self._manifest = manifest
        if settle_here:  # already off the caller's thread (save_async)
            self._settle()
        else:
            self._settle_in_background()
        return path

    def _reserve_name(self, step: int | None, epoch: int | None) -> Path:
        """A file name no checkpoint (recorded, pending deletion or foreign) uses yet."""
        parts = ([f"epoch_{epoch}"] if epoch is not None else []) + ([f"step_{step}"] if step is not None else [])
        stem = "checkpoint_" + "_".join(parts)
        taken = {e.file for e in self._manifest.entries} | set(self._manifest.pending_delete)
        name, counter = f"{stem}.pth", 0
        while name in taken or (self.directory / name).exists():
            counter += 1
            name = f"{stem}_r{counter}.pth"
        return self.directory / name

    def _read_manifest(self) -> _manifest.Manifest:
        try:
            manifest = _manifest.read(self.directory)
        except ValueError:
            if self.is_writer:
                _manifest.quarantine(self.directory)
            manifest = None
            damaged = True
        else:
            damaged = False
        if manifest is None:
            manifest = _manifest.rebuild(self.directory)
            if self.is_writer and (manifest.entries or damaged):
                _manifest.write(self.directory, manifest, self.metric, self.mode, self.keep_best, fsync=self.fsync)
        elif self.is_writer and manifest.drop_missing(self.directory):
            # Files deleted by hand: last and best fall back to the checkpoints still there. Only
            # the writer decides: on a network file system another node may not see a new file yet.
            _manifest.write(self.directory, manifest, self.metric, self.mode, self.keep_best, fsync=self.fsync)
        return manifest

    def reload(self) -> None:
        """Re-read ``manifest.json`` (for ranks other than 0, after rank 0 saved)."""
        self.wait()
        manifest = self._read_manifest()
        with self._lock:
            self._manifest = manifest

    # -- loading -----------------------------------------------------------------------------

    def resolve(self, which: str | int | os.PathLike) -> Path:
        """The file for ``"last"``, ``"best"``, an epoch number, or a path (relative to the folder first).

        Raises:
            CheckpointError: there is no such checkpoint.
        """
        if isinstance(which, bool):
            raise CheckpointError(f"Not a checkpoint selector: {which!r}.")
        if which == "last":
            path = self.last_path
            if path is None:
                raise CheckpointError(f"No checkpoint in {self.directory} yet.")
            return path
        if which == "best":
            path = self.best_path
            if path is None:
                if self.metric is None:
                    raise CheckpointError(f"No best checkpoint in {self.directory}: no metric was given to rank by.",
                                          hint="Create the CheckpointManager with metric='val_loss' (or another).")
                raise CheckpointError(f"No best checkpoint in {self.directory}: none recorded {self.metric!r}.")
            return path
        if isinstance(which, str) and which.isdigit() and not (self.directory / which).is_file():
            which = int(which)  # "3" from a command line means epoch 3
        if isinstance(which, int):
            matches = [e for e in self._manifest.entries if e.epoch == which]
            if matches:
                return self.directory / matches[-1].file
            for legacy in (f"checkpoint_epoch_{which}.pth", f"checkpoint_{which}.pth"):
                if (self.directory / legacy).is_file():
                    return self.directory / legacy
            epochs = sorted({e.epoch for e in self._manifest.entries if e.epoch is not None})
            raise CheckpointError(f"No checkpoint of epoch {which} in {self.directory}.",
                                  hint=f"Epochs with a checkpoint: {', '.join(map(str, epochs)) or 'none'}.")
        path = Path(which)
        if not path.is_absolute() and (self.directory / path).is_file():
            return self.directory / path
        if path.is_file():
            return path
        raise CheckpointError(f"Checkpoint {path} not found.")

    def load(self, which: str | int | os.PathLike = "last", model: Any = None, optimizer: Any = None,
             scheduler: Any = None, scaler: Any = None, map_location: Any = "cpu", weights_only: bool = True,
             strict: bool = True, restore_rng: bool = False) -> CheckpointInfo:
        """Load a checkpoint into the given objects and return what it recorded.

        Args:
            which: ``"last"``, ``"best"``, an epoch number, or a file path.
            map_location: where tensors are loaded before being copied into the objects; the
                default ``"cpu"`` keeps every rank from loading onto GPU 0.
            weights_only: keep True unless you trust the file: False lets it run arbitrary code.
            restore_rng: also put back the Python/NumPy/torch RNG states saved with it.

        Raises:
            CheckpointError: missing, damaged, or not fitting the model.
            UnsafeCheckpointError: the file holds objects the safe loader refuses.
        """
        self.wait()
        path = self.resolve(which)
        data = _io.read(path, map_location=map_location, weights_only=weights_only, mmap=True)
        _io.apply(data, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, strict=strict)
        if restore_rng and data.get("rng_state"):
            from ..reproducibility import restore_rng_state  # noqa: PLC0415

            restore_rng_state(data["rng_state"])
        return _info(path, data)

    def resume(self, model: Any = None, optimizer: Any = None, scheduler: Any = None, scaler: Any = None,
               map_location: Any = "cpu", strict: bool = True) -> CheckpointInfo | None:
        """Load the last intact checkpoint and its RNG states; None when there is none (a fresh start).

        A damaged ``last`` (cut short, or refused by the safe loader) does not block the resume: it
        is moved aside (:meth:`repair_last`) and the newest intact checkpoint is loaded instead.
        Continue training from ``info.next_epoch`` (or from ``info.step``).

        Raises:
            UnreadableCheckpointError: the checkpoint to resume from cannot be read (permissions).
            CheckpointError: it does not fit the model, or every checkpoint is damaged.
        """
        if self.rank != 0:
            self.reload()
        self.wait()
        while True:
            self.repair_last()
            path = self.last_path
            if path is None:
                return None
            try:
                data = _io.read(path, map_location=map_location, mmap=True)
            except UnreadableCheckpointError:
                raise
            except CheckpointError as exc:  # damaged past what the quick probe sees
                self._set_aside(self._manifest.last, exc)
                continue
            break
        _io.apply(data, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, strict=strict)
        if data.get("rng_state"):
            from ..reproducibility import restore_rng_state  # noqa: PLC0415

            restore_rng_state(data["rng_state"])
        return _info(path, data)

    def repair_last(self) -> list[dict[str, Any]]:
        """Make ``last`` a checkpoint that loads: set aside damaged newest ones, fall back to an intact one.

        Each damaged file (cut short, or holding what the safe loader refuses) is renamed
        ``NAME.damaged`` and recorded under ``damaged`` in the manifest, and a warning says which
        step training falls back to. Only rank 0 renames and rewrites; other ranks skip the same
        files in memory. Cheap: files are memory-mapped, their tensors are not read.

        Returns:
            The manifest records of the files set aside now (empty when ``last`` was intact).

        Raises:
            UnreadableCheckpointError: a checkpoint cannot be read (it is neither damaged nor moved).
        """
        return _repair.repair_last(self)

    def _set_aside(self, entry: Any, exc: BaseException) -> dict[str, Any]:
        return _repair.set_aside(self, entry, exc)


def _info(path: Path, data: dict[str, Any]) -> CheckpointInfo:
    step, epoch = data.get("step"), data.get("epoch")
    return CheckpointInfo(
        path=path,
        step=int(step) if isinstance(step, int) else None,
        epoch=int(epoch) if isinstance(epoch, int) else None,
        metrics=_io.clean_metrics(data.get("metrics")) if isinstance(data.get("metrics"), dict) else {},
        extra=dict(data.get("extra") or {}) if isinstance(data.get("extra"), dict) else {},
        saved_at=data.get("saved_at") if isinstance(data.get("saved_at"), str) else None,
    )

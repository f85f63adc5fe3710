"""After a save: make it durable, then delete what the manifest let go of, on a helper thread.

Order (the manifest's crash invariants): the checkpoint file is complete and fsynced before its
name exists; the manifest and the folder are flushed together; only then is anything deleted that
the new manifest no longer names. A crash in between leaves extra files, never a missing one.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .._atomic import fsync_dir, fsync_path
from .._fs import cannot_read
from ..errors import CheckpointError
from . import _io, _manifest


class SettlingMixin:
    """The flush-then-prune half of :class:`~exptool.checkpoints.CheckpointManager`, and the removal
    of temp files a killed writer left behind."""

    directory: Path
    fsync: bool
    _lock: threading.Lock
    _manifest: _manifest.Manifest
    _settler: ThreadPoolExecutor | None
    _settler_pid: int
    _settling: Future | None
    _async_error: BaseException | None

    def _settle_in_background(self) -> None:
        """Flush the manifest and the folder, then prune, on a helper thread: the caller does not wait.

        Two flushes cost about as much as the checkpoint's own fsync again for a small model. The
        order keeps every guarantee: the checkpoint file is complete and fsynced before its name
        exists, and nothing is deleted before the manifest that no longer names it is durable.
        """
        pending = self._settling
        if pending is not None and not pending.running() and not pending.done():
            return  # the queued settle will see this save too (it reads the state when it starts)
        if self._settler is None or self._settler_pid != os.getpid():  # a forked child has no threads
            # One long-lived thread, joined at interpreter exit: starting one per save costs milliseconds.
            self._settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exptool-checkpoint-settle")
            self._settler_pid = os.getpid()
        try:
            self._settling = self._settler.submit(self._settle)
        except RuntimeError:  # the interpreter is shutting down: no new threads, settle right here
            self._settle()

    def _settle(self) -> None:
        # What to delete is read before the flush: a save made meanwhile may drop more files, but
        # its manifest is not covered by this flush, so those wait for the next settle.
        names = self._deletable()
        try:
            if self.fsync:
                fsync_path(self.directory / _manifest.MANIFEST_NAME)
                fsync_dir(self.directory)
        except OSError as exc:  # handed to the caller by the next wait(), save() or load()
            self._async_error = CheckpointError(f"Cannot flush checkpoints in {self.directory} to disk: "
                                                f"{exc.strerror or exc}.")
            return  # nothing is deleted while the new manifest may not be on disk
        self._finish_deletes(names)

    def _join_settler(self) -> None:
        settling = self._settling
        if settling is not None:
            settling.result()
            if self._settling is settling:
                self._settling = None

    def _deletable(self) -> list[str]:
        """Files the manifest (as last written) has let go of."""
        with self._lock:
            recorded = {e.file for e in self._manifest.entries}
            return [name for name in self._manifest.pending_delete if name not in recorded]

    def _finish_deletes(self, names: list[str] | None = None) -> None:
        """Delete files the manifest has let go of; a crash in between only leaves them for next time."""
        for name in self._deletable() if names is None else names:
            if cannot_read(self.directory / name) is not None:
                continue  # a file exptool cannot read is never deleted, not even one it wrote
            try:
                (self.directory / name).unlink()
            except OSError:  # gone already, or not ours to delete: tried again after the next save
                continue

    def _remove_temp_files(self) -> None:
        """Remove half-written temp files left by a process killed while saving (never a live writer's)."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            path = self.directory / name
            if name.startswith(_io.TEMP_PREFIX) and name.endswith(_io.TEMP_SUFFIX):
                abandoned = _io.is_abandoned_temp(path)
            elif name.startswith(f".{_manifest.MANIFEST_NAME}.") and name.endswith(_io.TEMP_SUFFIX):
                abandoned = _io.is_abandoned_temp(path, max_age=60.0)  # written in milliseconds
            else:
                continue
            if abandoned:
                try:
                    path.unlink()
                except OSError:
                    pass

"""The Logger's side of the run summary: one :class:`SummaryTracker` per run and process.

A ``log`` call appends ``keys, step, values`` to its Logger's pending list (no arithmetic); the
tracker folds those in batches (:func:`exptool.runs.summary.aggregate`) and rewrites
``summary.json`` at most about once a second and at finish.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..runtime import warn
from .summary import Stats, aggregate, csv_info, metrics_csv, read_file, rebuild, stats_from_file, summary_path, write

# Logged values are aggregated in batches this often (bounds the memory held between writes).
AGGREGATE_INTERVAL_S = 0.05
WRITE_INTERVAL_S = 1.0

_TRACKERS: dict[tuple[int, str], SummaryTracker] = {}
_TRACKERS_LOCK = threading.Lock()


def track(run_dir: str | os.PathLike) -> SummaryTracker:
    """The tracker of this run in this process (shared by every Logger of the run, like the CSV)."""
    key = (os.getpid(), os.path.realpath(run_dir))
    with _TRACKERS_LOCK:
        tracker = _TRACKERS.get(key)
        if tracker is None:
            tracker = _TRACKERS[key] = SummaryTracker(Path(run_dir), key)
        tracker.users += 1
        return tracker


class SummaryTracker:
    """Keeps one run's summary up to date for the Loggers of this process.

    Each Logger appends ``keys, step, values`` to its own ``pending`` list on every ``log`` call and
    calls :meth:`tick` once ``wall_time >= tracker.due``; the list is aggregated there and the file
    rewritten when a second has passed. A failure to write is reported once; training goes on.
    """

    def __init__(self, run_dir: Path, key: tuple[int, str]):
        self.run_dir = run_dir
        self.path = summary_path(run_dir)
        self.csv_path = metrics_csv(run_dir)
        self.key = key
        self.users = 0
        self.due = 0.0  # next aggregation (wall time); 0: at the first log call
        self._write_due = 0.0
        self._lock = threading.Lock()
        self._stats: Stats = {}
        self._last_step: int | None = None
        self._loaded_csv: dict | None | bool = False  # the CSV state the stats describe (False: not loaded)
        self._dirty = False  # this session has logged something (the file on disk is no longer news)
        self._unwritten = False  # changes since the last write
        self._broken = False

    def sync(self) -> None:
        """Adopt what is on disk, before this session logs anything (called as writers start)."""
        with self._lock:
            if self._dirty or self._broken:
                return
            try:
                now = csv_info(self.csv_path)
            except OSError:
                now = None
            if self._loaded_csv is not False and self._loaded_csv == now:
                return
            data = read_file(self.path)
            if data is not None and data.get("csv") == now:
                self._stats, self._last_step = stats_from_file(data)
            else:
                self._stats, self._last_step = rebuild(self.csv_path) if now is not None else ({}, None)
            self._loaded_csv = now

    def tick(self, pending: list, wall_time: float, final: bool = False) -> None:
        """Aggregate a Logger's ``pending`` entries (emptying it); write the file when due or ``final``."""
        entries = pending[:]
        del pending[:]
        with self._lock:
            self.due = wall_time + AGGREGATE_INTERVAL_S
            if self._broken:
                return
            try:
                if entries:
                    aggregate(self._stats, entries)
                    self._last_step = entries[-2]  # the step of the CSV's last row, as listings show it
                    self._dirty = self._unwritten = True
                if self._unwritten and (final or wall_time >= self._write_due):
                    self._write()
                    self._unwritten = False
                    self._write_due = wall_time + WRITE_INTERVAL_S
            except Exception as exc:  # noqa: BLE001 - the summary must never stop training
                self._broken = True
                warn(f"run summary {self.path} not updated ({exc.__class__.__name__}: {exc}); "
                     "listings rebuild it from the CSV.")

    def _write(self) -> None:
        # No fsync, even at finish: the summary is derived from the CSV (which is fsynced), and one
        # lost to a power cut fails its check against the CSV and is rebuilt by the next listing.
        self._loaded_csv = write(self.run_dir, self._stats, self._last_step, fsync=False)

    def resume(self, pending: list) -> None:
        """Training restarts at an earlier step: forget ``pending`` and rebuild from the (truncated) CSV."""
        del pending[:]
        with self._lock:
            self._stats, self._last_step = rebuild(self.csv_path)
            self._loaded_csv = csv_info(self.csv_path) if not self._broken else False
            self._dirty = self._unwritten = True

    def release(self, pending: list) -> None:
        """A Logger finished: fold its entries; the last one out writes the final summary."""
        with _TRACKERS_LOCK:
            self.users -= 1
            last_user = self.users <= 0
            if last_user and _TRACKERS.get(self.key) is self:
                del _TRACKERS[self.key]
        self.tick(pending, time.time(), final=last_user)

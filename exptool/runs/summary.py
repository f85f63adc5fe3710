"""The run summary ``<run>/summary.json``: last, min and max of every metric, so listings never parse CSVs.

Format (version 1)::

    {"format": 1, "updated": 1732530000.5, "last_step": 99,
     "csv": {"size": 5120, "mtime_ns": 1732530000123456789, "ino": 1234, "tail_crc": 305419896},
     "metrics": {"loss": {"last": 0.11, "step": 99, "min": 0.1, "min_step": 97, "max": 2.3, "max_step": 0}}}

``csv`` describes ``logs/metrics.csv`` as it was when the summary was written (null: there was none);
``tail_crc`` is the CRC-32 of its last 256 bytes. ``step`` is the last step a metric was logged at;
``min``/``max`` ignore NaN (null when every value was NaN).

Who writes it: the :class:`~exptool.tracking.Logger` of rank 0, through one
:class:`~exptool.runs.tracker.SummaryTracker` per run and process, atomically (temp file +
rename), at most about once a second and at finish. A ``log`` call only appends to a list; the
arithmetic runs in batches, which keeps the cost per call far under a microsecond.

Readers (:func:`read`) trust the file while ``csv`` matches the CSV on disk. When the CSV only grew
since (a running run, or one killed before its last write) the new rows are folded in; otherwise
(missing, unreadable, or a CSV rewritten since) the summary is rebuilt from the CSV. Readers never
write into the run.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from itertools import chain
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ..metrics_file import complete_lines, first_metric_column, read_columns

SUMMARY_NAME = "summary.json"
FORMAT = 1
_TAIL = 256

# Per metric, internally: [last, step, min, min_step, max, max_step].
Stats = dict[str, list]


def summary_path(run_dir: str | os.PathLike) -> Path:
    """Where a run's summary lives."""
    return Path(run_dir) / SUMMARY_NAME


def metrics_csv(run_dir: Path) -> Path:
    return run_dir / "logs" / "metrics.csv"


def csv_info(csv_path: str | os.PathLike) -> dict[str, int] | None:
    """Size, mtime, inode and tail CRC of a metrics CSV (None when there is none)."""
    try:
        with open(csv_path, "rb") as fh:
            st = os.fstat(fh.fileno())
            fh.seek(max(0, st.st_size - _TAIL))
            tail = fh.read(_TAIL)
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "tail_crc": zlib.crc32(tail)}


# -- aggregation -----------------------------------------------------------------------------------
def _update(stats: Stats, name: str, col: tuple | list, steps: list[int]) -> None:
    """Fold one metric's values (``col``, logged at ``steps``) into ``stats``."""
    entry = stats.get(name)
    if entry is None:
        entry = stats[name] = [None, None, None, None, None, None]
    entry[0] = col[-1]
    entry[1] = steps[-1]
    mn = min(col)
    if mn != mn:  # a leading NaN hides the rest from min/max; this rare case pays for filtering
        pairs = [(v, s) for v, s in zip(col, steps, strict=True) if v == v]
        if not pairs:
            return
        col, steps = [v for v, _ in pairs], [s for _, s in pairs]
        mn = min(col)
    mx = max(col)
    # The step of a new extreme is looked up only when the batch beats the stats so far.
    if entry[2] is None or mn < entry[2]:
        entry[2], entry[3] = mn, steps[col.index(mn)]
    if entry[4] is None or mx > entry[4]:
        entry[4], entry[5] = mx, steps[col.index(mx)]


def aggregate(stats: Stats, entries: list) -> None:
    """Fold logged entries into ``stats``, in order: a flat list ``[keys, step, values, keys, ...]``.

    Entries are grouped by their keys and each group's values go into one numpy array, so a batch
    costs a few vectorised reductions per group instead of Python work per value (this is what
    keeps the summary under a microsecond per ``log`` call).
    """
    import numpy as np  # noqa: PLC0415 - the training process has it; listings never come here

    groups: dict[tuple[str, ...], list] = {}  # keys -> [slices of entries, index of its last entry]
    n, i = len(entries), 0
    while i < n:
        keys = entries[i]
        j = i + 3
        while j < n and entries[j] is keys:  # the Logger hands the same tuple for the same keys
            j += 3
        group = groups.get(keys)
        if group is None:
            group = groups[keys] = [[], 0]
        group[0].append((i, j))
        group[1] = j
        i = j
    for keys, (spans, _) in sorted(groups.items(), key=lambda item: item[1][1]):
        steps: list[int] = []
        dicts: list[dict[str, float]] = []
        for a, b in spans:
            steps += entries[a + 1 : b : 3]
            dicts += entries[a + 2 : b : 3]
        width = len(keys)
        # map() hands out one values view at a time: no thousands of short-lived objects for the GC to chase.
        flat = chain.from_iterable(map(dict.values, dicts))
        array = np.fromiter(flat, np.float64, count=len(dicts) * width).reshape(-1, width)
        mins, maxs = np.fmin.reduce(array, axis=0), np.fmax.reduce(array, axis=0)  # fmin/fmax skip NaN
        at_min, at_max = (array == mins).argmax(axis=0).tolist(), (array == maxs).argmax(axis=0).tolist()
        last_values = dicts[-1].values()
        for k, (name, mn, mx, last) in enumerate(zip(keys, mins.tolist(), maxs.tolist(), last_values, strict=True)):
            entry = stats.get(name)
            if entry is None:
                entry = stats[name] = [None, None, None, None, None, None]
            entry[0], entry[1] = last, steps[-1]
            if mn == mn and (entry[2] is None or mn < entry[2]):
                entry[2], entry[3] = mn, steps[at_min[k]]
            if mx == mx and (entry[4] is None or mx > entry[4]):
                entry[4], entry[5] = mx, steps[at_max[k]]


def _last_step(stats: Stats) -> int | None:
    steps = [e[1] for e in stats.values() if e[1] is not None]
    return max(steps) if steps else None


def _parse_rows(header: list[str], lines: list[str], stats: Stats) -> int | None:
    """Fold CSV ``lines`` (complete rows of a metrics file with ``header``) into ``stats``.

    Returns the step of the last row that parsed (None if none did).
    """
    import csv  # noqa: PLC0415 - only when a summary must be rebuilt

    last, columns = read_columns(csv.reader(lines), header)
    for name, (steps, values) in zip(header[first_metric_column(header):], columns, strict=True):
        if values:
            _update(stats, name, values, steps)
    return last


def _header(first_line: str) -> list[str]:
    import csv  # noqa: PLC0415

    return next(csv.reader([first_line.lstrip("\ufeff")]), [])


def rebuild(csv_path: str | os.PathLike) -> tuple[Stats, int | None]:
    """Stats and last step of a whole metrics CSV ({} and None when it is missing or empty)."""
    try:
        with open(csv_path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return {}, None
    lines = complete_lines(data)
    if not lines:
        return {}, None
    stats: Stats = {}
    last = _parse_rows(_header(lines[0]), lines[1:], stats)
    return stats, last


def _fold_tail(csv_path: Path, stats: Stats, last_step: int | None, old: dict, new: dict) -> int | None | bool:
    """Fold the rows appended since ``old`` into ``stats``; False when the file changed otherwise."""
    if new["ino"] != old.get("ino") or new["size"] < old.get("size", 0):
        return False
    size = old["size"]
    try:
        with open(csv_path, "rb") as fh:
            first = fh.readline()
            fh.seek(max(0, size - _TAIL))
            before = fh.read(size - max(0, size - _TAIL))
            added = fh.read()
    except OSError:
        return False
    if zlib.crc32(before) != old.get("tail_crc"):
        return False
    if not first.endswith(b"\n") or size < len(first):
        return False
    lines = complete_lines(added)
    if not lines:
        return last_step
    step = _parse_rows(_header(first.decode("utf-8", errors="replace").rstrip("\r\n")), lines, stats)
    return last_step if step is None else step


# -- the file ---------------------------------------------------------------------------------------
def _to_file(stats: Stats, last_step: int | None, csv: dict | None) -> dict[str, Any]:
    metrics = {
        name: {"last": e[0], "step": e[1], "min": e[2], "min_step": e[3], "max": e[4], "max_step": e[5]}
        for name, e in stats.items()
    }
    return {"format": FORMAT, "updated": round(time.time(), 3), "last_step": last_step, "csv": csv, "metrics": metrics}


def stats_from_file(data: dict) -> tuple[Stats, int | None]:
    stats: Stats = {}
    for name, m in (data.get("metrics") or {}).items():
        if isinstance(m, dict):
            stats[name] = [m.get("last"), m.get("step"), m.get("min"), m.get("min_step"), m.get("max"),
                           m.get("max_step")]
    last = data.get("last_step")
    return stats, last if isinstance(last, int) else None


def read_file(path: Path) -> dict | None:
    """The summary file's content, or None when it is missing, unreadable or of another format."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("metrics"), dict):
        return None
    return data


def read(run_dir: str | os.PathLike) -> tuple[Stats, int | None, str]:
    """A run's metric stats and last step, as exact as the files on disk allow; never writes.

    Returns ``(stats, last_step, source)`` where ``source`` says how they were obtained:
    ``"summary"`` (fresh), ``"summary+tail"`` (CSV rows appended since were folded in), ``"csv"``
    (rebuilt from the CSV) or ``"none"`` (nothing logged).
    """
    run_dir = Path(run_dir)
    csv_path = metrics_csv(run_dir)
    data = read_file(summary_path(run_dir))
    try:
        now = csv_info(csv_path)
    except OSError:
        now = None
    if data is not None:
        stats, last = stats_from_file(data)
        old = data.get("csv")
        if old == now:
            return stats, last, "summary" if stats or last is not None else "none"
        if isinstance(old, dict) and now is not None:
            folded = _fold_tail(csv_path, stats, last, old, now)
            if folded is not False:
                return stats, folded, "summary+tail"  # type: ignore[return-value]
    if now is None:
        return {}, None, "none"
    stats, last = rebuild(csv_path)
    return stats, last, "csv" if stats or last is not None else "none"


def write(run_dir: str | os.PathLike, stats: Stats, last_step: int | None, *, fsync: bool = True) -> dict | None:
    """Write a run's summary of ``stats`` for its CSV as it is now (atomically); returns the CSV's ``csv_info``."""
    run_dir = Path(run_dir)
    csv = csv_info(metrics_csv(run_dir))
    atomic_write_bytes(summary_path(run_dir), json.dumps(_to_file(stats, last_step, csv)).encode(), fsync=fsync)
    return csv


def as_dicts(stats: Stats) -> dict[str, dict[str, Any]]:
    """Stats in the file's form: ``{name: {"last", "step", "min", "min_step", "max", "max_step"}}``."""
    keys = ("last", "step", "min", "min_step", "max", "max_step")
    return {name: dict(zip(keys, e, strict=True)) for name, e in stats.items()}

"""The run's ``logs/system.csv``: system metrics (CPU, memory, GPUs) sampled on a clock.

Format (what the sampler writes and ``exp watch`` reads)::

    wall_time,step,cpu_percent,ram_used_gib,...,gpu0/util_percent,...
    1732530000.123,120,35.2,11.8,...,97,...

One row per sample, indexed by ``wall_time`` (seconds since the epoch); ``step`` is the last
training step logged when the sample was taken (empty before the first), so ``metrics.csv``
stays one row per training step. Metric columns are the names logged under ``system/`` in
TensorBoard without that prefix; an empty cell means "not measured in that sample". A resumed
run appends; a sample with a column the file lacks rewrites it once, atomically, with the new
column added.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path

from ._atomic import atomic_write_bytes, close_durably

FILE_NAME = "system.csv"
TIME_COLUMN = "wall_time"
STEP_COLUMN = "step"
PREFIX = "system/"
_TAIL_BYTES = 16 * 1024


def _line(cells: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8")


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class SystemCsv:
    """Append samples to a system CSV, one flushed row per sample.

    Args:
        path: the file (created with its folder when missing; continued when present).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._columns: list[str] = []
        self._fh = None
        self._open()

    def _open(self) -> None:
        header = read_header(self.path)
        if header[:2] == [TIME_COLUMN, STEP_COLUMN]:
            self._columns = header[2:]
            self._fh = open(self.path, "ab")  # noqa: SIM115 - held open for the writer's lifetime
            if self._fh.tell() and not _ends_with_newline(self.path):
                self._fh.write(b"\n")  # a row cut by a crash: start the next one on its own line
        elif self.path.is_file() and self.path.stat().st_size:
            raise ValueError(f"{self.path} exists and is not a system metrics file; it is left alone")
        else:  # missing or empty: start the file
            self._fh = open(self.path, "wb")  # noqa: SIM115
            self._fh.write(_line([TIME_COLUMN, STEP_COLUMN]))
        self._fh.flush()

    def write(self, wall_time: float, step: int | None, values: Mapping[str, float]) -> None:
        """Append one sample; names may carry the ``system/`` prefix (it is dropped)."""
        row = {(k[len(PREFIX) :] if k.startswith(PREFIX) else k): v for k, v in values.items()}
        new = [k for k in row if k not in self._columns]
        if new:
            self._add_columns(new)
        cells = [f"{wall_time:.3f}", "" if step is None else str(step)]
        cells += [_cell(row.get(name)) for name in self._columns]
        self._fh.write(_line(cells))
        self._fh.flush()

    def _add_columns(self, new: list[str]) -> None:
        self._fh.close()
        rows: list[list[str]] = []
        try:
            with open(self.path, newline="", encoding="utf-8", errors="replace") as fh:
                rows = [r for r in csv.reader(line.replace("\x00", "") for line in fh)][1:]
        except FileNotFoundError:
            pass
        self._columns += new
        width = 2 + len(self._columns)
        body = [_line([TIME_COLUMN, STEP_COLUMN, *self._columns])]
        body += [_line(r + [""] * (width - len(r))) for r in rows if r and len(r) <= width]
        atomic_write_bytes(self.path, b"".join(body))
        self._fh = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        """Flush, fsync and close the file (safe to call twice)."""
        if self._fh is None:
            return
        close_durably(self._fh)
        self._fh = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_header(path: str | os.PathLike) -> list[str]:
    """Column names of a system CSV ([] when missing or empty)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    except FileNotFoundError:
        return []
    except (UnicodeDecodeError, csv.Error):
        return []


def last_sample(path: str | os.PathLike) -> tuple[float | None, dict[str, float]]:
    """Wall time and values of the last complete sample, reading only the file's ends.

    Returns (None, {}) when the file is missing or holds no sample.

    Raises:
        OSError: the file exists but cannot be read (unreadable is not missing).
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None, {}
    with fh:
        first = fh.readline()
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(len(first), size - _TAIL_BYTES))
        tail = fh.read()
    header = next(csv.reader(io.StringIO(first.decode("utf-8", errors="replace"))), [])
    if header[:2] != [TIME_COLUMN, STEP_COLUMN]:
        return None, {}
    lines = tail.decode("utf-8", errors="replace").splitlines()
    for line in reversed(lines if tail.endswith(b"\n") else lines[:-1]):
        try:
            row = next(csv.reader(io.StringIO(line)))
            wall_time = float(row[0])
        except (csv.Error, StopIteration, ValueError, IndexError):
            continue
        if len(row) > len(header):
            continue
        values = {}
        for name, text in zip(header[2:], row[2:], strict=False):
            try:
                values[name] = float(text)
            except ValueError:
                continue
        return wall_time, values
    return None, {}

"""CSV writer: the run's ``logs/metrics.csv`` in the wide format of :mod:`exptool.metrics_file`.

Every ``log_metrics`` call leaves its row in the operating system's hands (one ``write`` and flush),
so a killed process loses nothing already logged. Two calls for the same step with different
metrics share one row: the last row is rewritten in place (it only grows, so a crash in between
leaves either the old or the new row). A metric seen for the first time adds a column: the file is
rewritten once, atomically (temp file + ``os.replace``), with older rows padded with empty cells;
the rewrite streams the file in chunks, so its memory does not grow with the file. Opening a file
reads its header and its tail only; a resume cuts the tail off in place.

After a failed write (a full disk) :meth:`CsvWriter.recover` cuts the file back to its last complete
row, so the Logger can replay what failed. ``metrics.csv`` is never written through a link.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ... import metrics_file
from ..._atomic import atomic_write_chunks, remove_orphan_temps
from ..._fs import open_file
from ...metrics_file import RESERVED_COLUMNS
from ...runtime import warn
from .base import _FileWriter

_HEADER_PREFIX = list(RESERVED_COLUMNS)
_OPEN: dict[tuple[int, str], CsvWriter] = {}  # (pid, real path) -> this process's open writer of that file


def _key(path: str | os.PathLike) -> tuple[int, str]:
    # The pid keeps a forked child (a DataLoader worker) from sharing the parent's writer.
    return os.getpid(), os.path.realpath(path)


def _header_line(columns: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(_HEADER_PREFIX + columns)
    return buf.getvalue().encode("utf-8")


def _backup_name(path: Path) -> Path:
    """``metrics.csv.20260101-120000.bak`` (``...-2.bak`` and on when taken: a backup is never overwritten)."""
    stem = f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    backup, n = path.with_name(f"{stem}.bak"), 1
    while os.path.lexists(backup):
        n += 1
        backup = path.with_name(f"{stem}-{n}.bak")
    return backup


class CsvWriter(_FileWriter):
    """Write metrics to ``run.metrics_path`` (or ``path``) as a wide CSV.

    One writer per file and process: creating a second one for a file that is open (say a
    template-style ``Logger(exp, run)`` inside ``exp train``, whose ``ctx.logger`` writes the same
    run) returns the open writer, shared; it closes when its last user closes it. Two handles on
    one file would lose rows: a new column rewrites the file under the other handle.

    Args:
        run: the run whose ``logs/metrics.csv`` to write.
        resume_step: drop rows for steps after this one before appending.
        path: write here instead (tests, custom layouts).
    """

    name = "csv"
    _users = 0  # loggers holding this open writer

    def __new__(cls, run: Any = None, resume_step: int | None = None, path: str | os.PathLike | None = None):
        if path is None and run is None:
            raise TypeError("CsvWriter needs a run or a path")
        shared = _OPEN.get(_key(path if path is not None else run.metrics_path))
        return shared if shared is not None else super().__new__(cls)

    def __init__(self, run: Any = None, resume_step: int | None = None, path: str | os.PathLike | None = None):
        if self._users:  # an open writer handed out again by __new__
            self._users += 1
            if resume_step is not None:
                self.resume(resume_step)
            return
        self.path = Path(path) if path is not None else Path(run.metrics_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rewrites = 0  # whole-file rewrites so far (new columns, CRLF repair): tests and benchmarks read it
        self.truncations = 0  # tails cut off in place (resume, a row cut short by a crash)
        self._body = 0  # where the rows start (the header line's length)
        self._file_cells = 2  # cells per row in the file as it is on disk (its header's)
        self._columns: list[str] = []
        self._index: dict[str, int] = {}
        self._formats: dict[tuple[str, ...], str | None] = {}
        self._last: tuple[int, float, dict[str, float], int] | None = None  # step, time, values, offset
        self._fh: Any = None
        self._size = 0
        self._load(resume_step)
        self._key = _key(self.path)
        self._users = 1
        _OPEN[self._key] = self

    # -- opening and rewriting -------------------------------------------------------------
    def _load(self, resume_step: int | None) -> None:
        """Adopt an existing file's columns, repair a cut-off last line, apply ``resume_step``.

        Reads the header and the tail only: opening a long run's file costs the same as a short one's.
        """
        remove_orphan_temps(self.path)  # left by a process killed while adding a column
        try:
            fh = open_file(self.path, "r+b")  # becomes the writer's handle; a link in its place is refused
        except FileNotFoundError:
            self._reopen(new=True)
            return
        first = metrics_file.read_header_line(fh)
        try:  # a stray non-UTF-8 byte (an edit in another program) must not cost the history
            text = first.decode("utf-8-sig", errors="replace")
            header = next(csv.reader(io.StringIO(text)), []) if first.endswith(b"\n") else []
        except csv.Error:
            header = []
        if not first:
            fh.close()
            self._reopen(new=True)
            return
        if header[:2] != _HEADER_PREFIX:
            fh.close()
            backup = _backup_name(self.path)
            os.replace(self.path, backup)
            warn(f"{self.path} was not an exptool metrics file; moved it to {backup.name}")
            self._reopen(new=True)
            return
        self._set_columns(header[2:])
        self._fh = fh
        self._body = len(first)
        self._file_cells = len(header)
        self._size = fh.seek(0, os.SEEK_END)
        crlf = first.endswith(b"\r\n")  # saved again by a spreadsheet: rewritten with LF endings
        end = self._rows_end()  # past the last complete row: a row cut short by a crash is dropped
        if resume_step is not None:
            end = metrics_file.end_of_rows_through(fh, resume_step, self._body, end)
        if crlf:
            self._rewrite(end)
        elif end != self._size:
            self._truncate(end)

    def _rows_end(self) -> int:
        """Offset just past the file's last newline (its size when it ends with one)."""
        pos, size = self._size, 4096
        while pos > self._body:
            lo = max(self._body, pos - size)
            self._fh.seek(lo)
            cut = self._fh.read(pos - lo).rfind(b"\n")
            if cut >= 0:
                return lo + cut + 1
            pos, size = lo, min(2 * size, metrics_file.CHUNK_BYTES)
        return self._body

    def _truncate(self, end: int) -> None:
        """Drop everything after ``end`` in place (durably: a resume must not come back after a power cut)."""
        self._fh.truncate(end)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._size = self._fh.seek(0, os.SEEK_END)
        self.truncations += 1

    def _set_columns(self, columns: list[str]) -> None:
        self._columns = list(columns)
        self._index = {name: i for i, name in enumerate(self._columns)}
        self._formats.clear()

    def _reopen(self, new: bool = False) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if new:
            self._fh = open_file(self.path, "w+b")  # held open for the writer's lifetime
            header = _header_line(self._columns)
            self._fh.write(header)
            self._fh.flush()
            self._body, self._file_cells = len(header), len(self._columns) + 2
        else:
            self._fh = open_file(self.path, "r+b")
        self._size = self._fh.seek(0, os.SEEK_END)

    def recover(self) -> None:
        """After a failed write: reopen the file and cut it back to the last row written completely.

        The Logger then replays the calls that failed. A failure during a column rewrite (the file
        on disk still has the old header) starts again from what is on disk.
        """
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()  # may try to write the failed buffer once more: cut off below
            except OSError:
                pass
        try:
            with open_file(self.path, "rb") as disk:
                first = disk.readline()
        except FileNotFoundError:
            first = b""
        if fh is None or first != _header_line(self._columns):
            self._last = None  # (the next row for the same step gets a row of its own)
            self._load(None)
            return
        self._fh = open_file(self.path, "r+b")
        last = self._last
        good = last[3] if last is not None else self._size
        self._fh.truncate(good)
        self._fh.seek(good)
        if last is not None:  # an in-place merge may have overwritten part of the last row
            self._fh.write(self._line(last[0], last[1], last[2]))
        self._fh.flush()
        self._size = self._fh.tell()

    def _rewrite(self, end: int | None = None, row: bytes = b"") -> None:
        """Replace the file atomically with the current header, its rows up to ``end`` padded, and ``row``.

        Streams the old file in chunks (memory: a few MiB whatever its size) into a temp file,
        fsyncs it and renames it over the old one; a crash at any point leaves one or the other.
        The row that brought a new column comes in the same file, so no crash can leave a column
        without the value it was added for.
        """
        end = self._size if end is None else end
        width = len(self._columns) + 2
        header = _header_line(self._columns)
        self._fh.flush()
        with open_file(self.path, "rb") as src:
            chunks = metrics_file.widened_rows(src, self._body, end, self._file_cells, width)
            # With no older rows there is nothing a power cut could lose: skip the (slow) fsync.
            atomic_write_chunks(self.path, itertools.chain((header,), chunks, (row,)), fsync=end > self._body)
        self.rewrites += 1
        self._fh.close()
        self._fh = None
        self._reopen()
        self._body, self._file_cells = len(header), width

    # -- rows --------------------------------------------------------------------------------
    def _format_for(self, keys: tuple[str, ...]) -> str | None:
        """A %-format for rows holding exactly ``keys`` in column order (None: keys out of order)."""
        positions = [self._index[k] for k in keys]
        if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
            fmt = None
        else:
            cells = ["%d", "%r"] + [""] * len(self._columns)
            for p in positions:
                cells[p + 2] = "%r"
            fmt = ",".join(cells) + "\n"
        self._formats[keys] = fmt
        return fmt

    def _line(self, step: int, wall_time: float, metrics: Mapping[str, float]) -> bytes:
        keys = tuple(metrics)
        fmt = self._formats[keys] if keys in self._formats else self._format_for(keys)
        if fmt is not None:
            return (fmt % (step, wall_time, *metrics.values())).encode()
        cells = [""] * len(self._columns)
        for name, value in metrics.items():
            cells[self._index[name]] = repr(value)
        return f"{step},{wall_time!r},{','.join(cells)}\n".encode()

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        new = [name for name in metrics if name not in self._index]
        if new:
            self._set_columns(self._columns + new)
        last = self._last
        if last is not None and last[0] == step and last[2].keys().isdisjoint(metrics):
            # Same step, other metrics: the last row grows (rewritten in place; it only gets longer).
            start, wall_time, metrics = last[3], last[1], {**last[2], **metrics}
        else:
            start = self._size
        line = self._line(step, wall_time, metrics)
        if new:
            self._rewrite(end=start, row=line)
        else:
            if start != self._size:
                self._fh.seek(start)
            self._fh.write(line)
            self._fh.flush()
            self._size = start + len(line)
        self._last = (step, wall_time, metrics, self._size - len(line))

    def resume(self, step: int) -> None:
        self._fh.flush()
        self._last = None
        end = metrics_file.end_of_rows_through(self._fh, step, self._body, self._size)
        if end != self._size:
            self._truncate(end)

    def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            self.flush()
            return
        super().close()
        if _OPEN.get(self._key) is self:
            del _OPEN[self._key]

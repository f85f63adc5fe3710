"""Crash-safe file writes: temp file in the same folder, fsync, os.replace."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_umask: int | None = None


def file_mode(path: str | os.PathLike) -> int:
    """Permissions for a file written by replacement: the existing file's, else ``0o666`` less the umask.

    ``mkstemp`` creates its temp file ``0o600``; without this, every rewritten file (``run.json``,
    ``config.json``, ``metrics.csv``, plots) would become unreadable to the rest of a shared group.
    """
    global _umask
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    if _umask is None:
        _umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(_umask)
    return 0o666 & ~_umask


def close_durably(fh: Any) -> None:
    """Flush, fsync (the data survives a power cut, not only a crash) and close an open file."""
    fh.flush()
    try:
        os.fsync(fh.fileno())
    except OSError:
        pass
    fh.close()


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry so a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _host() -> str:
    name = os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")
    return "".join(c for c in name if c.isalnum())[:32] or "host"


def temp_prefix(path: str | os.PathLike) -> str:
    """``.NAME.HOST-PID-``: a temp file names its writer, so an orphan of a killed one can be told apart."""
    return f".{Path(path).name}.{_host()}-{os.getpid()}-"


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file that is already written (by name) to disk; a file gone meanwhile is not an error."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the new one, never a mix."""
    atomic_write_chunks(path, (data,), fsync=fsync)


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[bytes], *, fsync: bool = True) -> int:
    """Like :func:`atomic_write_bytes` for data produced piece by piece (memory: one chunk at a time).

    ``chunks`` may read the file being replaced: it stays in place until the new one is complete.
    Returns the number of bytes written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, file_mode(path))
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
                del chunk  # let the producer make the next one without this one still alive
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        fsync_dir(path.parent)
    return size


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, fsync: bool = True) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", fsync=fsync)


def remove_orphan_temps(path: str | os.PathLike, *, max_age: float = 60.0) -> list[str]:
    """Delete temp files of ``path`` left by a killed writer: its pid is gone, or it is older than ``max_age``.

    A temp file of a live process (this one included) that is younger is left alone. Returns the names removed.
    """
    import re  # noqa: PLC0415
    import time  # noqa: PLC0415

    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:([A-Za-z0-9]+)-(\d+)-)?.*\.tmp")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        found = pattern.fullmatch(name)
        if not found:
            continue
        temp = path.parent / name
        here = found.group(1) == _host()
        pid = int(found.group(2)) if found.group(2) else None
        try:
            if here and pid == os.getpid():
                continue
            dead = here and pid is not None and not _alive(pid)
            if dead or time.time() - os.lstat(temp).st_mtime > max_age:
                os.unlink(temp)
                removed.append(name)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True

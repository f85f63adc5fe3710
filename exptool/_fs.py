"""File-system rules that keep exptool inside a run: no writing through links, no deleting what it cannot read.

- Files exptool owns inside a run (``.lock``, ``metrics.csv``, ``log.txt``) are opened with
  ``O_NOFOLLOW``: a symbolic link in their place is refused, never written through.
- A run subfolder (``checkpoints/``, ``logs/``...) that is a link is *linked storage*: exptool writes
  into the folder it points to, and never beyond it (the files inside are opened without following
  links). It never deletes through such a link: ``--clear`` and ``clear-logs`` refuse and say where
  it points, so a folder shared with other runs is never emptied by accident.
- Deleting never follows a link: a link inside a run is removed, not what it points to.
- Something exptool cannot read (permissions) is never treated as missing and never deleted:
  :func:`check_removable` refuses the whole deletion before anything is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import WorkFailedError

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(WorkFailedError):
    """A path exptool refuses to use: a link where it writes, or something it cannot read (exit 1)."""


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link as the last component.

    Raises:
        UnsafePathError: ``path`` is a symbolic link.
        OSError: any other failure.
    """
    try:
        return os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and os.path.islink(path)):
            raise link_refused(Path(path)) from None
        raise


def link_refused(path: Path) -> UnsafePathError:
    """The error for a symbolic link found where exptool writes one of its own files."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return UnsafePathError(
        f"{path} is a symbolic link (to {target}); exptool does not write through links in a run.",
        hint=f"Remove the link (rm {path}) and try again.",
    )


def open_file(path: str | os.PathLike, mode: str) -> object:
    """``open(path, mode)`` (binary modes ``rb``, ``r+b``, ``w+b``, ``ab``) without following a link."""
    flags = {"rb": os.O_RDONLY, "r+b": os.O_RDWR, "w+b": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
             "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND}[mode]
    fd = open_nofollow(path, flags)
    try:
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def cannot_read(path: Path) -> str | None:
    """Why exptool cannot read ``path`` (e.g. "Permission denied"), or None when it can (or it is gone).

    A folder must be listable; a file must open for reading. Links are not followed.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISLNK(info.st_mode):
        return None
    try:
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(path):
                pass
        elif stat.S_ISREG(info.st_mode):
            os.close(os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def unreadable_in(paths: Iterable[Path], *, recurse: bool = True) -> list[tuple[Path, str]]:
    """Every path under ``paths`` (folders walked without following links) that cannot be read, with why."""
    found: list[tuple[Path, str]] = []
    stack = list(paths)
    while stack:
        path = stack.pop()
        why = cannot_read(path)
        if why is not None:
            found.append((path, why))
            continue
        if recurse and path.is_dir() and not path.is_symlink():
            try:
                stack.extend(sorted(path.iterdir(), reverse=True))
            except OSError as exc:  # gone or changed in between
                found.append((path, exc.strerror or str(exc)))
    return found


def describe_unreadable(found: list[tuple[Path, str]], limit: int = 3, base: Path | None = None) -> str:
    """``a (Permission denied), b (Permission denied) and 3 more`` (paths relative to ``base``)."""

    def name(path: Path) -> str:
        try:
            return str(path.relative_to(base)) if base is not None else str(path)
        except ValueError:
            return str(path)

    shown = [f"{name(p)} ({why})" for p, why in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(shown) + more


def unreadable_error(found: list[tuple[Path, str]], what: str, base: Path | None = None) -> UnsafePathError:
    """The error for files exptool cannot read and will therefore neither use nor delete."""
    where = f" in {base}" if base is not None else ""
    return UnsafePathError(
        f"Cannot read {len(found)} {what}{where}: {describe_unreadable(found, base=base)}.",
        hint="Fix the permissions (e.g. chmod -R u+rwX on them) or move them out of the run; "
        "exptool never deletes files it cannot read.",
    )


def linked_storage_error(folder: Path) -> UnsafePathError:
    """The error for a deletion that would go through a linked run subfolder."""
    try:
        target = os.path.realpath(folder)
    except OSError:
        target = "?"
    return UnsafePathError(
        f"{folder} is a link to {target}; exptool does not delete through links (other runs may use that folder).",
        hint=f"Empty {target} yourself if it is this run's alone, or replace the link with a folder.",
    )


def check_removable(entries: Iterable[Path]) -> list[Path]:
    """The entries, after checking that every one of them (and everything inside) can be read.

    Raises:
        UnsafePathError: something inside cannot be read; nothing has been deleted.
    """
    entries = list(entries)
    found = unreadable_in(entries)
    if found:
        raise unreadable_error(found, "files or folders, so nothing was deleted")
    return entries


def remove_entries(entries: Iterable[Path]) -> None:
    """Delete files, links and folders, never following a link (a link is removed, not its target).

    Everything is checked first (:func:`check_removable`): a deletion that would meet something
    unreadable removes nothing.
    """
    _remove(check_removable(entries))


def _remove(entries: list[Path]) -> None:
    for entry in entries:
        try:
            info = os.lstat(entry)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(entry)  # rmtree removes links inside, never follows them
        else:
            os.unlink(entry)


def check_not_linked(folder: Path) -> None:
    """Raise :class:`UnsafePathError` when ``folder`` is a symbolic link (see the module docstring)."""
    if folder.is_symlink():
        raise linked_storage_error(folder)


def folder_entries(folder: Path) -> list[Path]:
    """The entries of a run subfolder that would be deleted by clearing it (checked, not yet deleted).

    Raises:
        UnsafePathError: the folder is a link, or something in it cannot be read.
    """
    check_not_linked(folder)
    if not folder.exists():
        return []
    why = cannot_read(folder)
    if why is not None:
        raise unreadable_error([(folder, why)], "folder, so nothing was deleted")
    return check_removable(sorted(folder.iterdir()))


def clear_folders(folders: Iterable[Path]) -> list[Path]:
    """Empty each folder (created when missing) and return what was deleted.

    Every folder is checked before anything is deleted: a linked folder or an unreadable entry in
    any of them leaves all of them untouched.

    Raises:
        UnsafePathError: as :func:`folder_entries`.
    """
    folders = list(folders)
    entries = [entry for folder in folders for entry in folder_entries(folder)]
    _remove(entries)
    for folder in folders:
        folder.mkdir(exist_ok=True)
    return entries

"""Tags, notes, the trash, restore and move: changes to runs that must never half-happen.

Crash invariants:

- Tags and notes live in ``run.json``; every change is a read-modify-write under the run's record
  lock (:class:`exptool.locking.RecordLock`) ending in an atomic replace, so two writers at once
  never lose each other's tags.
- Removing, restoring and moving a run is one ``rename`` of its folder, under the run's training
  lock (refused while ``exp train`` holds it): after a crash the run is wholly in one place.
  ``rm`` moves it to ``experiments/.trash/<id>/<exp>/<run>``; purging renames it into the trash
  first and only then deletes it, so a crash mid-delete leaves a half-deleted trash entry, never
  a half-deleted run among the others.
- Paths come from validated names only, never from ``run.json``; a run folder that is a symbolic
  link, or an experiment folder that leads outside the workspace, is refused, so nothing outside
  the workspace is ever moved, written or deleted.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_json, fsync_dir
from ..errors import AlreadyExistsError, NotFoundError, RunLockedError, UsageError
from ..locking import RecordLock, RunLock
from ..names import validate_name
from ..workspace import Run, Workspace

TRASH_DIR = ".trash"
MAX_TAG_LENGTH = 100
MAX_NOTE_LENGTH = 10_000


class LifecycleError(UsageError):
    """A tag, note, removal or move that cannot be done as asked (exit 2)."""


# -- tags and notes -------------------------------------------------------------------------------
def check_tag(tag: str) -> str:
    """A tag: non-empty, no whitespace or commas, at most 100 characters."""
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH or any(c.isspace() or c == "," for c in tag):
        raise LifecycleError(
            f"Invalid tag {tag!r}.", hint=f"Use a word of at most {MAX_TAG_LENGTH} characters without spaces or commas."
        )
    return tag


def _update(run: Run, change: Any) -> dict[str, Any]:
    """Apply ``change(record)`` to ``run.json`` under the record lock; refuses an unreadable record."""
    _require_plain(run)
    with RecordLock(run.path):
        record = run.read_record()
        if record.get("_unreadable"):
            raise LifecycleError(
                f"{run.record_path} cannot be read; not changing it.",
                hint="Fix or restore the file first (exptool never overwrites a record it cannot read).",
            )
        change(record)
        atomic_write_json(run.record_path, record)
    return record


def _tag_list(record: dict[str, Any]) -> list[str]:
    tags = record.get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def set_tags(run: Run, add: list[str] = (), remove: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """Add and remove tags of ``run``; returns its tags afterwards (in the order they were added)."""
    add = [check_tag(t) for t in add]
    remove = [check_tag(t) for t in remove]

    def change(record: dict[str, Any]) -> None:
        tags = [t for t in _tag_list(record) if t not in remove]
        tags += [t for t in dict.fromkeys(add) if t not in tags]
        record["tags"] = tags

    return _update(run.require(), change)["tags"]


def set_note(run: Run, text: str | None) -> str | None:
    """Set (or with None, clear) the run's note; returns it."""
    if text is not None:
        text = text.strip()
        if len(text) > MAX_NOTE_LENGTH:
            raise LifecycleError(f"A note has at most {MAX_NOTE_LENGTH} characters.")

    def change(record: dict[str, Any]) -> None:
        if text:
            record["note"] = text
        else:
            record.pop("note", None)

    return _update(run.require(), change).get("note")


# -- safety checks --------------------------------------------------------------------------------
def _inside(path: Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _require_plain(run: Run) -> None:
    """Refuse a run folder that is a link, or that lies outside the workspace's experiments folder."""
    if run.path.is_symlink():
        raise LifecycleError(
            f"{run.path} is a symbolic link; exptool only changes run folders inside the workspace.",
            hint="Remove or move the link yourself.",
        )
    if not _inside(run.path.parent, run.workspace.experiments_dir):
        raise LifecycleError(
            f"Experiment folder {run.path.parent} leads outside the workspace; exptool does not change it.",
        )


def _check_experiment_name(name: str) -> str:
    validate_name(name, "experiment name")
    if name.startswith("."):
        raise LifecycleError(f"Experiment name {name!r} starts with '.': such folders are exptool's own.")
    return name


def _lock(run: Run) -> RunLock:
    try:
        return RunLock(run.path).acquire()
    except RunLockedError:
        raise RunLockedError(
            f"Run {run.id!r} is being trained; not touching it.", hint="Wait for it to finish, or stop it first."
        ) from None


def _rename(src: Path, dst: Path) -> None:
    """One atomic rename (a folder never half in each place); a copy across file systems is refused."""
    if dst.exists() or dst.is_symlink():
        raise AlreadyExistsError(f"{dst} already exists.")
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:  # not one file system, so no atomic rename
            raise LifecycleError(
                f"Cannot move {src} to {dst} in one step: they are on different file systems."
            ) from None
        raise
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def _forget_current(ws: Workspace, run: Run, new: Run | None) -> bool:
    """Point the state file at ``new`` (or at no run) when ``run`` was current; True if it was."""
    from .. import state  # noqa: PLC0415

    stored = state.load_state(ws.root)
    if stored.get("experiment") != run.experiment.name or stored.get("run") != run.name:
        return False
    if new is None:
        state.save_state(ws.root, run=None)
    else:
        state.save_state(ws.root, experiment=new.experiment.name, run=new.name)
    return True


# -- trash ----------------------------------------------------------------------------------------
class TrashEntry:
    """A run in the trash: ``experiments/.trash/<id>/<exp>/<run>``."""

    def __init__(self, ws: Workspace, entry_id: str, experiment: str, name: str):
        self.workspace, self.id, self.experiment, self.name = ws, entry_id, experiment, name

    @property
    def path(self) -> Path:
        return trash_dir(self.workspace) / self.id / self.experiment / self.name

    @property
    def run_id(self) -> str:
        return f"{self.experiment}/{self.name}"

    @property
    def removed(self) -> str:
        """When it was removed (ISO 8601, UTC), from the entry id."""
        stamp = self.id.split("-")
        try:
            parsed = time.strptime(f"{stamp[0]}{stamp[1]}", "%Y%m%d%H%M%S")
        except (ValueError, IndexError):
            return ""
        return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", parsed)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "experiment": self.experiment, "run": self.name, "path": str(self.path),
                "removed": self.removed}


def trash_dir(ws: Workspace) -> Path:
    return ws.experiments_dir / TRASH_DIR


def _trash_root(ws: Workspace, create: bool) -> Path:
    root = trash_dir(ws)
    if root.is_symlink() or (root.exists() and not _inside(root, ws.experiments_dir)):
        raise LifecycleError(f"{root} is a link or leads outside the workspace; exptool will not use it.")
    if create:
        root.mkdir(exist_ok=True)
    return root


def trash_entries(ws: Workspace) -> list[TrashEntry]:
    """What is in the trash, newest first (half-written or foreign entries are skipped)."""
    root = _trash_root(ws, create=False)
    out = []
    try:
        ids = sorted(os.listdir(root), reverse=True)
    except FileNotFoundError:
        return []
    for entry_id in ids:
        folder = root / entry_id
        if entry_id.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        for exp_name in sorted(os.listdir(folder)):
            exp_dir = folder / exp_name
            if exp_dir.is_symlink() or not exp_dir.is_dir():
                continue
            for run_name in sorted(os.listdir(exp_dir)):
                try:
                    validate_name(exp_name)
                    validate_name(run_name)
                except UsageError:
                    continue
                entry = exp_dir / run_name
                if entry.is_dir() and not entry.is_symlink():  # a link put there leads elsewhere: not ours
                    out.append(TrashEntry(ws, entry_id, exp_name, run_name))
    return out


def _new_entry_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def remove(run: Run) -> TrashEntry:
    """Move ``run`` into the trash (one rename); refused while it is trained.

    Raises:
        NotFoundError: the run does not exist.
        RunLockedError: ``exp train`` holds the run.
        LifecycleError: a link, or a folder outside the workspace.
    """
    run.require()
    _require_plain(run)
    ws = run.workspace
    root = _trash_root(ws, create=True)
    entry = TrashEntry(ws, _new_entry_id(), run.experiment.name, run.name)
    lock = _lock(run)
    try:
        (root / entry.id / entry.experiment).mkdir(parents=True)
        _rename(run.path, entry.path)
    except BaseException:
        _prune(root / entry.id)
        raise
    finally:
        lock.release()
    _forget_current(ws, run, None)
    return entry


def _prune(folder: Path) -> None:
    """Remove empty folders left by an entry (never anything with files in it)."""
    for path in sorted(folder.glob("*"), reverse=True) + [folder]:
        try:
            path.rmdir()
        except OSError:
            pass


def find_in_trash(ws: Workspace, ref: str) -> TrashEntry:
    """The trash entry named by ``ref``: an entry id, or ``EXP/RUN`` (its newest removal)."""
    entries = trash_entries(ws)
    for entry in entries:
        if ref in (entry.id, f"{entry.id}/{entry.run_id}"):
            return entry
    matches = [e for e in entries if ref == e.run_id]
    if matches:
        return matches[0]
    listed = ", ".join(e.run_id for e in entries[:8]) or "the trash is empty"
    raise NotFoundError(f"Nothing called {ref!r} in the trash ({listed}).", hint="See what is there with: exp trash")


def restore(entry: TrashEntry, target: Run | None = None) -> Run:
    """Put a trashed run back where it was (or at ``target``); refused when that name is taken."""
    ws = entry.workspace
    run = target or ws.run(entry.experiment, entry.name)
    _check_experiment_name(run.experiment.name)
    if run.path.exists() or run.path.is_symlink():
        raise AlreadyExistsError(
            f"Run {run.id!r} exists again; not overwriting it.",
            hint=f"Restore under another name: exp restore {entry.id} --as {run.experiment.name}/NEW",
        )
    run.experiment.path.mkdir(parents=True, exist_ok=True)
    if not _inside(run.experiment.path, ws.experiments_dir):
        raise LifecycleError(f"Experiment folder {run.experiment.path} leads outside the workspace.")
    lock = RunLock(entry.path).acquire()
    try:
        _rename(entry.path, run.path)
    finally:
        lock.release()
    _prune(trash_dir(ws) / entry.id)
    if target is not None:
        _rename_record(run)
    return run


def purge(entry: TrashEntry) -> None:
    """Delete a trashed run for good."""
    folder = entry.path
    if folder.is_symlink():
        folder.unlink()
    else:
        shutil.rmtree(folder)
    _prune(trash_dir(entry.workspace) / entry.id)


def remove_for_good(run: Run) -> None:
    """Delete ``run`` for good: into the trash first (atomic), then deleted there."""
    purge(remove(run))


# -- move -----------------------------------------------------------------------------------------
def _rename_record(run: Run) -> None:
    """Make ``run.json`` name the run's new place (a record that cannot be read is left alone)."""

    def change(record: dict[str, Any]) -> None:
        record["experiment"], record["run"] = run.experiment.name, run.name

    try:
        _update(run, change)
    except LifecycleError:
        pass


def move(src: Run, dst: Run) -> Run:
    """Rename or move a run (``exp mv``): one rename; ``run.json`` and the current run follow it."""
    src.require()
    _require_plain(src)
    _check_experiment_name(dst.experiment.name)
    if src == dst:
        raise LifecycleError(f"{src.id} and {dst.id} are the same run.")
    if dst.path.exists() or dst.path.is_symlink():
        raise AlreadyExistsError(f"Run {dst.id!r} already exists.", hint="Choose another name, or remove it first.")
    dst.experiment.path.mkdir(parents=True, exist_ok=True)
    if not _inside(dst.experiment.path, src.workspace.experiments_dir):
        raise LifecycleError(f"Experiment folder {dst.experiment.path} leads outside the workspace.")
    lock = _lock(src)
    try:
        _rename(src.path, dst.path)
    finally:
        lock.release()
    _rename_record(dst)
    _forget_current(src.workspace, src, dst)
    return dst


def was_current(ws: Workspace, run: Run) -> bool:
    """True if the state file names ``run`` as the current run."""
    from .. import state  # noqa: PLC0415

    stored = state.load_state(ws.root)
    return stored.get("experiment") == run.experiment.name and stored.get("run") == run.name

"""What a destructive command would delete, counted and named before it asks.

``exp clear-logs`` and ``exp train --clear`` show this before they delete (and ask on a terminal):
how many files in which folders, and by name every offline W&B run that was never uploaded, since
deleting one loses data that exists nowhere else. An offline run counts as uploaded when it holds
the ``*.wandb.synced`` marker ``wandb sync`` leaves (the rule ``wandb clean`` uses too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def _count_files(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return 1
    total = 0
    for _, _, files in os.walk(path):
        total += len(files)
    return total


def unsynced_wandb_runs(folders: Iterable[Path]) -> list[Path]:
    """Offline W&B runs (``wandb/offline-run-*``) under ``folders`` that were never synced."""
    found = []
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for root, dirs, _ in os.walk(folder):
            for name in sorted(dirs):
                if name.startswith("offline-run-"):
                    run_dir = Path(root) / name
                    if not list(run_dir.glob("*.wandb.synced")):
                        found.append(run_dir)
            dirs[:] = [d for d in dirs if not d.startswith(("offline-run-", "run-"))]
    return sorted(found)


@dataclass
class Deletion:
    """The entries a command would delete and what they hold.

    Attributes:
        entries: the top-level files and folders to remove.
        files: files among them, counted recursively.
        by_folder: files per parent folder name (``{"logs": 3, "checkpoints": 2}``).
        unsynced_wandb: offline W&B runs among them never uploaded with ``wandb sync``.
    """

    entries: list[Path]
    files: int = 0
    by_folder: dict[str, int] = field(default_factory=dict)
    unsynced_wandb: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.entries

    def detail(self) -> str:
        """``7 files: checkpoints/ 4, logs/ 3``, plus the never-uploaded W&B runs by name."""
        parts = ", ".join(f"{name}/ {count}" for name, count in self.by_folder.items())
        text = f"{self.files} file{'' if self.files == 1 else 's'}" + (f": {parts}" if parts else "")
        if self.unsynced_wandb:
            count = len(self.unsynced_wandb)
            names = ", ".join(p.name for p in self.unsynced_wandb)
            text += (f"; including {count} offline W&B run{'' if count == 1 else 's'} never uploaded "
                     f"({names}; upload first with: wandb sync {self.unsynced_wandb[0].parent})")
        return text

    def describe(self, where: str = "") -> str:
        """``5 entries in WHERE (7 files: checkpoints/ 4, logs/ 3)``."""
        count = len(self.entries)
        place = f" in {where}" if where else ""
        return f"{count} entr{'y' if count == 1 else 'ies'}{place} ({self.detail()})"

    def to_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return {"entries": [str(p) for p in self.entries], "files": self.files, "by_folder": dict(self.by_folder),
                "unsynced_wandb": [str(p) for p in self.unsynced_wandb]}


def plan(entries: Iterable[Path]) -> Deletion:
    """Count what deleting ``entries`` removes."""
    entries = sorted(entries)
    by_folder: dict[str, int] = {}
    total = 0
    for entry in entries:
        count = _count_files(entry)
        total += count
        by_folder[entry.parent.name] = by_folder.get(entry.parent.name, 0) + count
    folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
    unsynced = unsynced_wandb_runs(folders)
    unsynced += [e for e in folders if e.name.startswith("offline-run-") and not list(e.glob("*.wandb.synced"))]
    return Deletion(entries, total, by_folder, sorted(set(unsynced)))


def plan_clear(run: object, subdirs: Iterable[str]) -> Deletion:
    """What emptying ``subdirs`` of ``run`` (``exp train --clear``: all four) deletes.

    Raises:
        UnsafePathError: a subfolder is a link, or something in one cannot be read (nothing would
            be deleted, so there is nothing to ask about).
    """
    from ._fs import folder_entries  # noqa: PLC0415

    entries: list[Path] = []
    for sub in subdirs:
        # the clear's own checks, before asking: a linked folder or anything unreadable refuses
        entries.extend(folder_entries(Path(run.path) / sub))  # type: ignore[attr-defined]
    return plan(entries)

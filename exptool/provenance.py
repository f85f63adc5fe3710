"""Where a run came from: host, versions, command line and the state of the git tree.

Everything here is cheap and never fails: a missing ``git`` or a folder outside any repository
gives ``None`` fields, never an exception. Versions are read from package metadata, so torch is
not imported.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text

PATCH_NAME = "git.patch"
_GIT_TIMEOUT_S = 10


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def command_line(argv: list[str] | None = None) -> str:
    """The command as the user typed it, shell-quoted (``exp train ...``)."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        first = Path(argv[0]).name
        if first in ("exp", "__main__.py", "-m", "-c") or argv[0].endswith(("exptool/__main__.py", "cli/app.py")):
            argv[0] = "exp"
    return shlex.join(argv)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(repo_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Commit, branch, dirty flag and diff of the git tree holding ``repo_dir`` (None outside git).

    Only tracked files count as dirty: the run's own outputs, usually untracked, do not.
    """
    cwd = Path(repo_dir)
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    diff = _git(cwd, "diff", "HEAD", "--no-color", "--no-ext-diff") if status else ""
    return {
        "commit": commit.strip(),
        "branch": branch.strip() if branch else None,
        "dirty": bool(status and status.strip()),
        "diff": diff or "",
    }


def collect(workspace_root: str | os.PathLike, run_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Provenance fields for ``run.json``; writes the git diff to ``<run>/git.patch`` when dirty."""
    from . import __version__  # noqa: PLC0415

    git = git_state(workspace_root)
    git_record = None
    if git is not None:
        git_record = {"commit": git["commit"], "branch": git["branch"], "dirty": git["dirty"], "patch": None}
        if git["dirty"] and run_path is not None and git["diff"]:
            atomic_write_text(Path(run_path) / PATCH_NAME, git["diff"])
            git_record["patch"] = PATCH_NAME
    return {
        "command": command_line(),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "user": _user(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(),
            "torch": package_version("torch"),
            "exptool": __version__,
        },
        "git": git_record,
    }


def _user() -> str | None:
    try:
        import getpass  # noqa: PLC0415

        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return None


def git_hash(root: Path) -> str | None:
    """The commit of the repository holding ``root``, with ``-dirty`` for uncommitted changes; None outside git."""
    import subprocess  # noqa: PLC0415

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    suffix = "-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
    return head.stdout.strip() + suffix

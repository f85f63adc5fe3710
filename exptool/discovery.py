"""Finding the workspace folder from where the user stands, the way git finds a repository."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import NotAWorkspaceError

WORKSPACE_MARKER = "exptool.toml"
EXPERIMENTS_DIR = "experiments"


def _looks_like_workspace(path: Path) -> bool:
    return (path / EXPERIMENTS_DIR).is_dir() or (path / WORKSPACE_MARKER).is_file()


def find_workspace_root(start: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> Path:
    """Find the workspace folder.

    ``root`` (or ``EXPTOOL_ROOT``) wins when given. Otherwise walk up from ``start`` (default: the
    current directory) like git does: a folder holding ``exptool.toml`` wins, else the nearest folder
    holding ``experiments/``.

    Raises:
        NotAWorkspaceError: nothing was found, or the given root is not a workspace.
    """
    root = root if root is not None else os.environ.get("EXPTOOL_ROOT") or None
    if root is not None:
        path = Path(root).expanduser().absolute()
        if not _looks_like_workspace(path):
            raise NotAWorkspaceError(
                f"{path} is not an exptool workspace (no experiments/ folder).",
                hint=f"Create one with: exp init {path}",
            )
        return path
    here = Path(start if start is not None else os.getcwd()).absolute()
    nearest = None
    for candidate in (here, *here.parents):
        if (candidate / WORKSPACE_MARKER).is_file():
            return candidate
        if nearest is None and (candidate / EXPERIMENTS_DIR).is_dir():
            nearest = candidate
    if nearest is not None:
        return nearest
    raise NotAWorkspaceError(
        "Not inside an exptool workspace (no experiments/ folder here or above).",
        hint="Run 'exp init' here, pass --root PATH, or set EXPTOOL_ROOT.",
    )

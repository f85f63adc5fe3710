"""Shell-completion callbacks. They read the file system only: no user code, no torch."""

from __future__ import annotations

import os

import typer

from .. import state
from ..workspace import Workspace, find_workspace_root


def _workspace(ctx: typer.Context) -> Workspace | None:
    root = None
    node = ctx
    while node is not None:
        root = root or node.params.get("root")
        node = node.parent
    try:
        return Workspace(find_workspace_root(root=root))
    except Exception:
        return None


def _match(names: list[str], incomplete: str) -> list[str]:
    return [n for n in names if n.startswith(incomplete)]


def complete_experiment(ctx: typer.Context, incomplete: str) -> list[str]:
    """Existing experiment names."""
    ws = _workspace(ctx)
    return _match(ws.experiment_names(), incomplete) if ws else []


def complete_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """Runs of the experiment given on the line, else of the current experiment."""
    ws = _workspace(ctx)
    if ws is None:
        return []
    exp = ctx.params.get("experiment")
    if not exp:
        exp = state.resolve_current(ws.root)[0].value
    if not exp:
        return []
    try:
        return _match(ws.experiment(exp).run_names(), incomplete)
    except Exception:
        return []


def complete_config(ctx: typer.Context, incomplete: str) -> list[str]:
    """Config names from ``config/`` (paths are left to the shell)."""
    ws = _workspace(ctx)
    names = ws.config_names() if ws else []
    return _match(names, incomplete) or ([] if names else _path_guess(incomplete))


def _path_guess(incomplete: str) -> list[str]:
    folder, _, prefix = incomplete.rpartition(os.sep)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    return [os.path.join(folder, e) if folder else e for e in entries if e.startswith(prefix)]

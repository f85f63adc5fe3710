"""Shell-completion callbacks. They read the file system only: no user code, no torch.

A completion request runs on every TAB press, so each callback is quiet (no warnings on the
user's terminal) and never raises: anything unexpected simply completes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Callable
from typing import Any

import typer

from .. import state
from ..names import is_valid_name
from ..workspace import Workspace, find_workspace_root


def root_from(ctx: typer.Context) -> str | None:
    """The ``--root`` given to ``exp`` itself, if any."""
    node: Any = ctx
    while node is not None:
        if node.params.get("root"):
            return node.params["root"]
        node = node.parent
    return None


Completer = Callable[[typer.Context, str], list[str]]


def quiet(func: Completer) -> Completer:
    """Make a completion callback never raise: anything unexpected simply completes nothing."""

    @functools.wraps(func)
    def wrapper(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            return func(ctx, incomplete)
        except Exception:
            return []

    return wrapper


def completion_workspace(ctx: typer.Context) -> Workspace | None:
    """The workspace for a completion request, or None: TAB must never raise."""
    try:
        return Workspace(find_workspace_root(root=root_from(ctx)))
    except Exception:
        return None


def match_prefix(names: list[str], incomplete: str) -> list[str]:
    """The names that start with what is typed so far, in the given order."""
    return [n for n in names if n.startswith(incomplete)]


def _current_experiment(ws: Workspace) -> str | None:
    # A corrupt state file warns on stderr; during TAB that would garble the prompt line.
    with contextlib.redirect_stderr(io.StringIO()):
        return state.resolve_current(ws.root)[0].value


@quiet
def complete_sweep(ctx: typer.Context, incomplete: str) -> list[str]:
    """Sweeps recorded in the experiment on the line (or the current one); reads folders only."""
    from ..sweeps.record import sweep_names  # noqa: PLC0415

    ws = completion_workspace(ctx)
    name = (ctx.params.get("experiment") or _current_experiment(ws)) if ws else None
    return match_prefix(sweep_names(ws.experiment(name)), incomplete) if name else []


def _runs_of(ws: Workspace, experiment: str | None) -> list[str]:
    if not experiment or not is_valid_name(experiment):
        return []
    return ws.experiment(experiment).run_names()


def _experiment_on_line(ctx: typer.Context) -> str | None:
    """The experiment already typed: ``-e EXP``, or the positional ``EXP``/``EXP/RUN`` of ``exp set``."""
    exp = ctx.params.get("experiment")
    if exp:
        return exp
    target = ctx.params.get("target")
    if isinstance(target, str) and target:
        return target.partition("/")[0]
    return None


@quiet
def complete_experiment(ctx: typer.Context, incomplete: str) -> list[str]:
    """Existing experiment names."""
    ws = completion_workspace(ctx)
    return match_prefix(ws.experiment_names(), incomplete) if ws else []


@quiet
def complete_target(ctx: typer.Context, incomplete: str) -> list[str]:
    """``exp set``'s first argument: ``EXP``, or ``EXP/RUN`` once a slash is typed."""
    ws = completion_workspace(ctx)
    if ws is None:
        return []
    if "/" in incomplete:
        exp, _, prefix = incomplete.partition("/")
        return [f"{exp}/{r}" for r in match_prefix(_runs_of(ws, exp), prefix)]
    return match_prefix(ws.experiment_names(), incomplete)


@quiet
def complete_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """Runs of the experiment given on the line, else of the current experiment."""
    ws = completion_workspace(ctx)
    if ws is None:
        return []
    exp = _experiment_on_line(ctx) or _current_experiment(ws)
    return match_prefix(_runs_of(ws, exp), incomplete)


@quiet
def complete_config(ctx: typer.Context, incomplete: str) -> list[str]:
    """Config names from ``config/`` (paths are left to the shell)."""
    ws = completion_workspace(ctx)
    names = ws.config_names() if ws else []
    return match_prefix(names, incomplete) or ([] if names else _path_guess(incomplete))


def _path_guess(incomplete: str) -> list[str]:
    folder, _, prefix = incomplete.rpartition(os.sep)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    return [os.path.join(folder, e) if folder else e for e in entries if e.startswith(prefix)]

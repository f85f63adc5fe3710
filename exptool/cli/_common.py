"""Shared options and the workspace/run resolution of the commands (output helpers: ``_output``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..state import check_names, resolve_run  # noqa: F401 - the commands' resolver, re-exported
from ..workspace import Workspace
from ._complete import complete_experiment, complete_run, root_from

ExperimentOpt = Annotated[
    Optional[str],
    typer.Option(
        "--experiment", "-e", help="Experiment name (default: the current one).", autocompletion=complete_experiment
    ),
]
RunOpt = Annotated[
    Optional[str],
    typer.Option("--run", "-r", help="Run name (default: the current one).", autocompletion=complete_run),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (keys documented in docs/cli.md).")]


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace for this command (``--root`` > ``EXPTOOL_ROOT`` > walk up from the cwd)."""
    return Workspace.find(root=root_from(ctx))

"""Wiring of the ``exp`` command: global options and one module per command group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from . import current, listing, logs, plot, train, workspace_cmds

app = typer.Typer(
    name="exp",
    help="Run PyTorch experiments: workspace, current run, training, logs, plots.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"exptool {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    root: Annotated[
        Optional[Path],
        typer.Option("--root", help="Workspace folder (default: walk up from here). Env: EXPTOOL_ROOT."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors (or EXPTOOL_DEBUG=1).")] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run PyTorch experiments: workspace, current run, training, logs, plots."""
    if debug:
        os.environ["EXPTOOL_DEBUG"] = "1"


for _module in (workspace_cmds, current, listing, logs, plot, train):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="exp")

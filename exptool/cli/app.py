"""Wiring of the ``exp`` command: global options and one module per command group."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__


def _version(value: bool) -> None:
    if value:
        print(f"exptool {__version__}")
        raise typer.Exit()


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


# Command modules of exptool.cli, in help order; each has register(app).
MODULES = ("workspace_cmds", "current", "listing", "logs", "plot", "train")
# Which module defines each command, so `exp show` imports and builds only what it runs. A command
# missing here still works (every module is then loaded); tests/test_cli_app.py keeps this in sync.
COMMANDS = {
    "init": "workspace_cmds",
    "init-exp": "workspace_cmds",
    "init-run": "workspace_cmds",
    "keep": "workspace_cmds",
    "set": "current",
    "show": "current",
    "ls": "listing",
    "clear-logs": "logs",
    "plot": "plot",
    "train": "train",
    "trainers": "train",
}


def build_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The ``exp`` Typer app with the commands of the given modules."""
    new_app = typer.Typer(
        name="exp",
        help="Run PyTorch experiments: workspace, current run, training, logs, plots.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    new_app.callback()(_main)
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(new_app)
    return new_app


def _words_typed() -> list[str]:
    """The complete words of the command line, from argv or, during TAB, from the shell's variables."""
    if "_EXP_COMPLETE" not in os.environ:
        return sys.argv[1:]
    import shlex  # noqa: PLC0415

    def split(text: str) -> list[str]:
        try:
            return shlex.split(text)
        except ValueError:
            return text.split()

    if "COMP_WORDS" in os.environ:  # bash: the word at COMP_CWORD is still being typed
        words = split(os.environ["COMP_WORDS"])
        try:
            return words[1 : int(os.environ.get("COMP_CWORD", "0"))]
        except ValueError:
            return []
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")
    words = split(line)[1:]
    return words if line.endswith(" ") else words[:-1]


def modules_for(words: list[str]) -> tuple[str, ...]:
    """The command modules needed for this command line: one when the command is known, else all."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--root":
            skip = True
        elif not word.startswith("-"):
            module = COMMANDS.get(word)
            return (module,) if module else MODULES
    return MODULES


def __getattr__(name: str) -> typer.Typer:
    # `app` (every command) is built on first use, so the console script can build a smaller one.
    if name == "app":
        globals()["app"] = full = build_app()
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: loads only the command being run."""
    build_app(modules_for(_words_typed()))(prog_name="exp")

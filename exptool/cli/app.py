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
        from ._output import info  # noqa: PLC0415

        info(f"exptool {__version__}")
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


# The command table, in help order: command -> (module of exptool.cli, function). A command is named
# here once; `exp show` imports and builds only the module it runs. tests/test_cli_app.py checks
# that every module is named after its commands and that nothing else registers commands.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "init"),
    "init-exp": ("init", "init_exp"),
    "init-run": ("init", "init_run"),
    "keep": ("keep", "keep"),
    "set": ("set", "set_current"),
    "show": ("show", "show"),
    "ls": ("ls", "ls"),
    "clear-logs": ("clear_logs", "clear_logs"),
    "plot": ("plot", "plot"),
    "train": ("train", "train"),
    "trainers": ("trainers", "trainers"),
    "watch": ("watch", "watch"),
}


def build_app(commands: tuple[str, ...] | None = None) -> typer.Typer:
    """The ``exp`` Typer app with the given commands (default: all of them)."""
    from ._output import install_log_handler  # noqa: PLC0415

    install_log_handler()
    new_app = typer.Typer(
        name="exp",
        help="Run PyTorch experiments: workspace, current run, training, logs, plots.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    new_app.callback()(_main)
    for name in COMMANDS if commands is None else commands:
        module, function = COMMANDS[name]
        new_app.command(name)(getattr(importlib.import_module(f"{__package__}.{module}"), function))
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


def commands_for(words: list[str]) -> tuple[str, ...] | None:
    """The commands to build for this command line: the one typed when it is known, else None (all)."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--root":
            skip = True
        elif not word.startswith("-"):
            return (word,) if word in COMMANDS else None
    return None


def __getattr__(name: str) -> typer.Typer:
    # `app` (every command) is built on first use, so the console script can build a smaller one.
    if name == "app":
        globals()["app"] = full = build_app()
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: loads only the command being run."""
    from ._errors import run_app  # noqa: PLC0415

    run_app(build_app(commands_for(_words_typed())), prog_name="exp")

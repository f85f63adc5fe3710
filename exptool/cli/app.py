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


def _completion(action: str, value: bool | str | None) -> None:
    if not value:
        return
    from ..errors import ExptoolError  # noqa: PLC0415
    from ._completion import install_completion, show_completion  # noqa: PLC0415
    from ._output import print_error  # noqa: PLC0415

    shell = value if isinstance(value, str) else None
    try:
        (install_completion if action == "install" else show_completion)(shell)
    except ExptoolError as exc:
        print_error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit()


# exptool's own completion options, not Typer's: its zsh script is exptool's (see _completion_scripts).
# As with Typer's, they are flags for the current shell; with _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION
# set they take the shell's name instead (that is how the shipped scripts are regenerated).
_BY_NAME = bool(os.environ.get("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"))
_ShellFlag = Optional[str] if _BY_NAME else bool


def _main(
    root: Annotated[
        Optional[Path],
        typer.Option("--root", help="Workspace folder (default: walk up from here). Env: EXPTOOL_ROOT."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors (or EXPTOOL_DEBUG=1).")] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    install_completion: Annotated[
        _ShellFlag,  # type: ignore[valid-type]
        typer.Option("--install-completion", is_eager=True, expose_value=False,
                     callback=lambda value: _completion("install", value),
                     help="Install completion for the current shell (bash, zsh, fish, PowerShell)."),
    ] = None,
    show_completion: Annotated[
        _ShellFlag,  # type: ignore[valid-type]
        typer.Option("--show-completion", is_eager=True, expose_value=False,
                     callback=lambda value: _completion("show", value),
                     help="Print the completion script for the current shell, to install it by hand."),
    ] = None,
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
    "compare": ("compare", "compare"),
    "diff": ("diff", "diff"),
    "tag": ("tag", "tag"),
    "note": ("note", "note"),
    "rm": ("rm", "rm"),
    "restore": ("restore", "restore"),
    "trash": ("trash", "trash"),
    "mv": ("mv", "mv"),
    "tb": ("tb", "tb"),
    "rerun": ("rerun", "rerun"),
    "clear-logs": ("clear_logs", "clear_logs"),
    "plot": ("plot", "plot"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "train": ("train", "train"),
    "trainers": ("trainers", "trainers"),
    "watch": ("watch", "watch"),
    "sweep": ("sweep", "sweep"),
    "submit": ("submit", "submit"),
    "cancel": ("cancel", "cancel"),
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
        add_completion=False,  # exptool's own --install-completion/--show-completion, on _main
        # Help uses the terminal's width (click stops at 80 columns by default).
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 200},
    )
    new_app.callback()(_main)
    if "_EXP_COMPLETE" in os.environ:  # a TAB press: Typer's completion protocol (add_completion=False skips it)
        from typer.completion import completion_init  # noqa: PLC0415

        completion_init()
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

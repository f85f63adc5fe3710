"""``exp --show-completion`` and ``exp --install-completion``: exptool's scripts for the user's shell."""

from __future__ import annotations

import sys

from ..errors import UsageError
from ._completion_scripts import SCRIPTS, detect_shell, install
from ._output import info


def _shell(name: str | None) -> str:
    shell = name or detect_shell()
    if shell is None:
        raise UsageError("Cannot tell which shell this is.", hint="Set SHELL, or copy a script from completions/.")
    if shell not in SCRIPTS:
        raise UsageError(f"No completion for {shell!r}.", hint=f"Shells: {', '.join(SCRIPTS)}.")
    return shell


def show_completion(name: str | None = None) -> None:
    """Print the completion script for ``name`` (default: the current shell)."""
    sys.stdout.write(SCRIPTS[_shell(name)])


def install_completion(name: str | None = None) -> None:
    """Install the completion script for ``name`` (default: the current shell) and say where."""
    shell = _shell(name)
    path = install(shell)
    info(f"{shell} completion installed in {path}")
    info("Completion will take effect once you restart the terminal (or start a new shell).")

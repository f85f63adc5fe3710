"""``exp tensorboard``: the older name of ``exp tb`` (deprecated), kept for scripts that use it.

The same command and options (cli/tb.py); what it keeps of its own: with nothing chosen it shows
every run, and ``--json`` prints ``view``, ``runs`` and ``command`` (one line) without starting
TensorBoard.
"""

from __future__ import annotations

import functools
from typing import Any

from .tb import tb


@functools.wraps(tb, assigned=("__annotations__",))  # tb's options; this name and help
def tensorboard(*args: Any, **kwargs: Any) -> None:
    """Alias of exp tb (deprecated); every run by default.

    The same options as exp tb (see exp tb --help). Without EXP, EXP/RUN, -e, -r or --all it shows
    every run of the workspace; --json prints the view, the runs and the command, and starts
    nothing.

    \b
    Examples:
      exp tensorboard
      exp tensorboard -e mnist -- --port 6007
      exp tensorboard -r mnist/base -r mnist/wide --print
    """
    tb(*args, **kwargs)

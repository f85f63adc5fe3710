"""What ``exp tb`` starts: a real TensorBoard over a chosen set of runs, each shown as ``exp/run``.

The runs are shown through a view of links, ``<exp>/<run>`` -> the run's ``logs/``
(:mod:`exptool.tensorboard_view`, shared with ``exp tensorboard``). ``exp tb`` keeps one view per
selection of runs, beside ``exp tensorboard``'s in exptool's state folder, so two ``exp tb`` over
different runs do not disturb each other and the printed command (``--print``) keeps working after
``exp tb`` exits.
"""

from __future__ import annotations

import hashlib
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..workspace import Run, Workspace

DEFAULT_PORT = 6006


def links_folder(ws: Workspace, runs: Sequence[Run]) -> Path:
    """Build (or refresh) the view for ``runs`` and return it (the ``--logdir``)."""
    from ..tensorboard_view import build_view, view_dir  # noqa: PLC0415

    if not runs:
        raise UsageError("No runs to show.", hint="Name experiments or runs, or loosen --where.")
    key = hashlib.sha1("\n".join(sorted(r.id for r in runs)).encode()).hexdigest()[:12]
    base = view_dir(ws)
    return build_view(ws, runs, folder=base.with_name(f"{base.name}-{key}"))


def free_port(host: str, start: int = DEFAULT_PORT, tries: int = 50) -> int:
    """The first port from ``start`` on that nothing listens on at ``host``."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise UsageError(f"No free port between {start} and {start + tries - 1}.", hint="Pick one with --port N.")


def command(logdir: Path, port: int, host: str | None) -> list[str]:
    """The TensorBoard command line (this interpreter's ``tensorboard`` when installed next to it)."""
    script = Path(sys.executable).with_name("tensorboard")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "tensorboard.main"]
    argv += ["--logdir", str(logdir), "--port", str(port)]
    if host:
        argv += ["--host", host]
    return argv


def url(host: str | None, port: int) -> str:
    shown = host if host and host not in ("0.0.0.0", "::") else "localhost"
    return f"http://{shown}:{port}/"

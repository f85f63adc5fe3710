"""One worker of the local pool (:mod:`.pool`): run requests one after another in this process.

Started as ``python -m exptool.training.launchers.pool_worker REQUESTS_FD RESULTS_FD``. Reads one
JSON line per run, ``{"request": <PreparedRun.request()>, "output": "<run>/logs/output.log"}``,
answers ``{"started": PID}``, executes it with its stdout and stderr appended to ``output``, and
answers ``{"outcome": <Outcome.to_dict()>}``. It exits when the request pipe closes, or when its parent dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent dies (a killed sweep leaves no worker behind)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _output_to(path: str | None) -> Iterator[None]:
    """Point fds 1 and 2 (and ``sys.stdout``/``sys.stderr``) at ``path`` for one run."""
    if not path:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError:
        os.close(saved[0])
        os.close(saved[1])
        yield
        return
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _warm_up() -> None:
    """Import what every run needs once, before the first request arrives."""
    from ...checkpoints import CheckpointManager  # noqa: F401, PLC0415
    from ...tracking import Logger  # noqa: F401, PLC0415
    from .. import worker  # noqa: F401, PLC0415

    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return
    try:  # an optimiser's first step imports torch._dynamo lazily (about 2 s): pay it here, once
        layer = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
        layer(torch.zeros(1, 2)).sum().backward()
        optimizer.step()
    except Exception:  # noqa: BLE001 - only a warm-up
        pass


def serve(requests: Any, results: Any) -> None:
    """Answer requests until the request stream ends."""
    from ..worker import execute_request  # noqa: PLC0415
    from .base import Outcome  # noqa: PLC0415

    for line in requests:
        if not line.strip():
            continue
        message = json.loads(line)
        results.write(json.dumps({"started": os.getpid()}) + "\n")  # the attempt's clock starts now
        results.flush()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            with _output_to(message.get("output")):
                outcome = execute_request(message["request"])
        except KeyboardInterrupt:  # between the trainer's end and here
            outcome = Outcome.interrupted()
        except Exception as exc:  # noqa: BLE001 - report it as this run's failure; keep serving
            outcome = Outcome("failed", 1, f"{exc.__class__.__name__}: {exc}", in_trainer=False)
        # The parent may have sent a stop signal just as the run ended: the answer must still go out.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        results.write(json.dumps({"outcome": outcome.to_dict()}) + "\n")
        results.flush()


def main(argv: list[str]) -> int:
    _die_with_parent()
    requests = os.fdopen(int(argv[0]), "r", encoding="utf-8")
    results = os.fdopen(int(argv[1]), "w", encoding="utf-8")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: only the parent decides when to stop
    try:
        _warm_up()
        serve(requests, results)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

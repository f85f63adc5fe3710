"""A word when a run ends: run the user's shell command with the outcome in environment variables.

``exp train --notify CMD`` (or ``[notify] command = "..."`` in ``exptool.toml``) runs ``CMD``
through ``/bin/sh -c`` once the run has ended, however it ended, with these variables set:

=========================  ===========================================================
``EXPTOOL_EVENT``          ``run`` (what ended)
``EXPTOOL_RUN``            ``EXP/RUN``
``EXPTOOL_EXPERIMENT``     the experiment's name; ``EXPTOOL_RUN_NAME`` the run's
``EXPTOOL_RUN_PATH``       the run folder
``EXPTOOL_STATUS``         ``completed``, ``failed`` or ``interrupted``
``EXPTOOL_EXIT_CODE``      ``exp train``'s exit code: 0, 1 (or 2 for bad settings), 130
``EXPTOOL_DURATION_S``     seconds the attempt took
``EXPTOOL_LAST_STEP``      the last step in ``metrics.csv`` (empty when none)
``EXPTOOL_METRICS``        that step's metrics as a JSON object
``EXPTOOL_ERROR``          the error message of a failed or interrupted run (else empty)
``EXPTOOL_HOST``           the machine it ran on
``EXPTOOL_MESSAGE``        one line for people, e.g. ``demo/first completed in 6.4 s (step 250, val_acc=0.93)``
=========================  ===========================================================

``exp sweep --notify CMD`` (and the same ``[notify]`` default) runs it once when the whole sweep
ends, with ``EXPTOOL_EVENT=sweep`` and the variables of :func:`sweep_environment` (docs/sweeps.md);
the sweep's points never notify one by one.

The command gets ``timeout`` seconds (default 30; ``[notify] timeout``), after which it is stopped
with its whole process group. A command that fails, cannot start or times out is a warning, never
a failed run; its output goes to stderr so ``--json`` output stays clean.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .runtime import warn

DEFAULT_TIMEOUT_S = 30.0
CONFIG_FILE = "exptool.toml"


@dataclass(frozen=True)
class NotifySettings:
    """The notify command (None: none) and its timeout in seconds."""

    command: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S


def _read_table(root: Path) -> Mapping[str, Any]:
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        import tomllib  # noqa: PLC0415 - Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # noqa: PLC0415
        except ModuleNotFoundError:
            raise ConfigError(f"Cannot read {path}: Python 3.10 needs the 'tomli' package.") from None
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot read {path}: {exc}.") from None
    table = data.get("notify", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [notify] must be a table with 'command' and 'timeout'.")
    return table


def read_settings(workspace_root: str | os.PathLike, command: str | None = None) -> NotifySettings:
    """The notify settings: ``command`` (``--notify``; "" turns it off) over ``[notify]`` in exptool.toml.

    Raises:
        ConfigError: ``[notify]`` holds a value of the wrong type.
    """
    root = Path(workspace_root)
    table = _read_table(root)
    where = root / CONFIG_FILE
    configured = table.get("command")
    if configured is not None and not isinstance(configured, str):
        raise ConfigError(f"{where}: [notify] command must be a string (a shell command line).")
    timeout = table.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86400:
        raise ConfigError(f"{where}: [notify] timeout must be a number of seconds above 0, not {timeout!r}.")
    chosen = configured if command is None else command
    return NotifySettings(chosen.strip() or None if chosen else None, float(timeout))


def _format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def run_environment(
    run: Any,
    status: str,
    exit_code: int,
    duration_s: float,
    error: str | None = None,
    last_step: int | None = None,
    metrics: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """The ``EXPTOOL_*`` variables for the end of ``run`` (names in the module docstring)."""
    metrics = dict(metrics or {})
    shown = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3])
    detail = f"step {last_step}" + (f", {shown}" if shown else "") if last_step is not None else ""
    message = f"{run.id} {status} in {_format_duration(duration_s)}" + (f" ({detail})" if detail else "")
    if error and status != "completed":
        message += f": {error}"
    return {
        "EXPTOOL_EVENT": "run",
        "EXPTOOL_RUN": run.id,
        "EXPTOOL_EXPERIMENT": run.experiment.name,
        "EXPTOOL_RUN_NAME": run.name,
        "EXPTOOL_RUN_PATH": str(run.path),
        "EXPTOOL_STATUS": status,
        "EXPTOOL_EXIT_CODE": str(exit_code),
        "EXPTOOL_DURATION_S": f"{duration_s:.3f}",
        "EXPTOOL_LAST_STEP": "" if last_step is None else str(last_step),
        "EXPTOOL_METRICS": json.dumps({k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}),
        "EXPTOOL_ERROR": error or "",
        "EXPTOOL_HOST": socket.gethostname(),
        "EXPTOOL_MESSAGE": message,
    }


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def sweep_environment(
    record: Any,
    status: str,
    exit_code: int,
    duration_s: float,
    counts: Mapping[str, int],
    best: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The ``EXPTOOL_*`` variables for the end of a whole sweep (``record``: a SweepRecord).

    ``counts``: points per status; ``best``: the best completed point (``{"run", "index", "params",
    "metric", "value", "trial"}``) or None. Names and values are listed in docs/sweeps.md.
    """
    if best and isinstance(best.get("value"), float) and not math.isfinite(best["value"]):
        best = {**best, "value": str(best["value"])}
    sweep_id = f"{record.experiment.name}/{record.name}"
    done = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no points"
    message = f"sweep {sweep_id} {status} in {_format_duration(duration_s)}: {done}"
    if best:
        params = " ".join(f"{k}={_short(v)}" for k, v in best.get("params", {}).items())
        message += f"; best {record.experiment.name}/{best['run']} {best['metric']}={_short(best['value'])}"
        message += f" ({params})" if params else ""
    return {
        "EXPTOOL_EVENT": "sweep",
        "EXPTOOL_SWEEP": record.name,
        "EXPTOOL_EXPERIMENT": record.experiment.name,
        "EXPTOOL_SWEEP_PATH": str(record.folder),
        "EXPTOOL_STATUS": status,
        "EXPTOOL_EXIT_CODE": str(exit_code),
        "EXPTOOL_DURATION_S": f"{duration_s:.3f}",
        "EXPTOOL_POINTS": str(record.spec.size),
        "EXPTOOL_COMPLETED": str(counts.get("completed", 0)),
        "EXPTOOL_FAILED": str(counts.get("failed", 0)),
        "EXPTOOL_INTERRUPTED": str(counts.get("interrupted", 0)),
        "EXPTOOL_COUNTS": json.dumps(dict(counts)),
        "EXPTOOL_METRIC": record.spec.metric or "",
        "EXPTOOL_BEST": json.dumps(dict(best) if best else None, default=str),
        "EXPTOOL_HOST": socket.gethostname(),
        "EXPTOOL_MESSAGE": message,
    }


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def notify(command: str, variables: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Run ``command`` in a shell with ``variables`` added to the environment; True if it exited 0.

    Never raises for the command's sake: failure, a missing shell or the timeout is a warning.
    """
    env = {**os.environ, **variables}
    err = _stderr_fd()
    try:
        proc = subprocess.Popen(  # noqa: S602 - a shell command line is the documented interface
            command, shell=True, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True
        )
    except OSError as exc:
        warn(f"notify command could not start ({exc}): {command}")
        return False
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        warn(f"notify command did not finish within {timeout:g} s and was stopped: {command}")
        return False
    except KeyboardInterrupt:
        _stop_group(proc)
        warn(f"notify command interrupted: {command}")
        return False
    if code != 0:
        warn(f"notify command exited with status {code}: {command}")
        return False
    return True

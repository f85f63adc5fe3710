"""Shared options, workspace/run resolution and output helpers for the commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, Optional

import typer

from .. import state
from ..errors import InvalidNameError, NoCurrentRunError
from ..names import validate_name
from ..workspace import Experiment, Run, Workspace
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


def check_names(experiment: state.Resolved, run: state.Resolved | None = None) -> None:
    """Validate resolved names; a bad one from the environment or state file says where it came from."""
    for resolved, kind in ((experiment, "experiment name"), (run, "run name")):
        if resolved is None or resolved.value is None:
            continue
        try:
            validate_name(resolved.value, kind)
        except InvalidNameError as exc:
            if resolved.source and resolved.source != "flag":
                exc.hint = f"It comes from the {resolved.source}: fix or unset it, or pass a valid name as a flag."
            raise


def resolve_experiment(ws: Workspace, experiment: str | None) -> Experiment:
    """The experiment from the flag, environment or state file; validated, not required to exist."""
    exp, _ = state.resolve_current(ws.root, experiment, None)
    check_names(exp)
    if exp.value is None:
        raise NoCurrentRunError(
            "No experiment given and none is current.", hint="Pass -e NAME, or make one current with: exp set NAME"
        )
    return ws.experiment(exp.value)


def resolve_run(ws: Workspace, experiment: str | None, run: str | None) -> Run:
    """The run from flags, environment or state file; validated, not required to exist."""
    exp, rn = state.resolve_current(ws.root, experiment, run)
    check_names(exp, rn)
    if exp.value is None:
        raise NoCurrentRunError(
            "No experiment given and none is current.", hint="Pass -e EXP -r RUN, or run: exp set EXP RUN"
        )
    if rn.value is None:
        raise NoCurrentRunError(
            f"No run given and none is current for experiment {exp.value!r}.",
            hint=f"Pass -r RUN, or run: exp set {exp.value} RUN",
        )
    return ws.run(exp.value, rn.value)


def use_color() -> bool:
    """Colour only on a terminal and only when ``NO_COLOR`` is unset."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def style(text: str, code: str) -> str:
    """Wrap ``text`` in an ANSI style when colour is on (``code`` e.g. "1", "32")."""
    return f"\x1b[{code}m{text}\x1b[0m" if use_color() else text


STATUS_STYLE = {"completed": "32", "running": "36", "failed": "31", "interrupted": "33", "stale": "33", "created": "2"}


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(headers: list[str], rows: list[list[str]], styles: list[list[str | None]] | None = None) -> None:
    """Print an aligned plain-text table (fast for thousands of rows; colour only on a terminal)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    color = use_color()
    out = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    if color:
        out[0] = f"\x1b[1m{out[0]}\x1b[0m"
    for r, row in enumerate(rows):
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=False)):
            padded = cell.ljust(w)
            code = styles[r][i] if (color and styles) else None
            cells.append(f"\x1b[{code}m{padded}\x1b[0m" if code else padded)
        out.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def format_metrics(metrics: dict[str, float], limit: int = 4) -> str:
    """``loss=0.123 acc=0.9`` for the first ``limit`` metrics."""
    items = [f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit]]
    if len(metrics) > limit:
        items.append(f"(+{len(metrics) - limit})")
    return " ".join(items)


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal (default: no); end of input counts as no.

    The prompt goes to stderr so ``--json`` output stays clean. Ctrl-C raises KeyboardInterrupt,
    which the error handler turns into exit code 130.
    """
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def info(message: str) -> None:
    """A human-facing line on stdout."""
    sys.stdout.write(message + "\n")

"""Runs named on a command line: ``RUN`` (in the given or current experiment) or ``EXP/RUN``.

A thin layer over the one resolver in :mod:`exptool.state` (flag > environment > state file).
"""

from __future__ import annotations

from .. import state
from ..workspace import Run, Workspace


def current_experiment(ws: Workspace, experiment: str | None = None) -> str:
    """The experiment of ``-e`` or the current one (validated).

    Raises:
        NoCurrentRunError: none given and none is current.
    """
    return state.resolve_experiment(ws, experiment).name


def parse_ref(ws: Workspace, text: str, experiment: str | None = None) -> Run:
    """The run ``text`` names: ``EXP/RUN``, or ``RUN`` in ``experiment`` (default: the current one).

    The run is validated, not required to exist.
    """
    if "/" in text:
        exp_name, _, run_name = text.partition("/")
        return ws.run(exp_name, run_name)
    return state.resolve_run(ws, experiment, text)


def current_run(ws: Workspace, experiment: str | None = None, run: str | None = None) -> Run:
    """The run of ``-e``/``-r`` (``-r`` may be ``EXP/RUN``), else the current one (validated)."""
    if run is not None:
        return parse_ref(ws, run, experiment)
    return state.resolve_run(ws, experiment, None)

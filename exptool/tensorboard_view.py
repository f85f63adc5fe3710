"""TensorBoard with every run named ``exp/run``: a folder of links, one per run, to its ``logs/``.

TensorBoard names a run by the path from ``--logdir`` to the folder holding its event files, so
``--logdir experiments`` shows ``demo/w100/logs`` and ``--logdir <run>/logs`` shows ``.``. exptool
keeps the template's layout (event files in ``logs/``) and instead points TensorBoard at a view:
``<view>/<exp>/<run>`` is a symbolic link to ``experiments/<exp>/<run>/logs``. TensorBoard (its
Python reader and its fast Rust data server) follows the links, so each run shows as ``exp/run``
in every dashboard; the HParams table names trials the same way (the writer records ``exp/run``
as the trial id).

The view lives in exptool's state folder, one per workspace, and is rebuilt each time: runs
created later appear after ``exp tensorboard`` is started again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import UsageError


def view_dir(workspace: Any) -> Path:
    """The view folder of ``workspace`` (in the state folder, named after the workspace)."""
    from .state import state_dir  # noqa: PLC0415

    root = os.path.realpath(workspace.root)
    digest = hashlib.sha1(root.encode("utf-8")).hexdigest()[:12]
    return state_dir() / "tensorboard" / f"{Path(root).name}-{digest}"


def build_view(workspace: Any, runs: Iterable[Any], folder: str | os.PathLike | None = None) -> Path:
    """(Re)build the link folder for ``runs`` and return it; pass it to ``tensorboard --logdir``.

    Raises:
        UsageError: none of the runs has logs yet, or this system cannot make symbolic links.
    """
    target = Path(folder) if folder is not None else view_dir(workspace)
    runs = [r for r in runs if r.logs_dir.is_dir()]
    if not runs:
        raise UsageError("No run with a logs/ folder to show.", hint="Train a run first: exp train")
    if target.exists():
        shutil.rmtree(target)  # only links and folders of links: the logs they point to stay untouched
    for run in runs:
        link = target / run.experiment.name / run.name
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(run.logs_dir.absolute(), target_is_directory=True)
        except OSError as exc:
            raise UsageError(
                f"Cannot make the link {link}: {exc.strerror or exc}.",
                hint="Run TensorBoard on the experiments instead: tensorboard --logdir experiments",
            ) from None
    return target

"""TensorBoard over chosen runs, each named ``exp/run`` (``exp tb``; ``exp tensorboard`` is its old name).

TensorBoard names a run by the path from ``--logdir`` to the folder holding its event files, so
``--logdir experiments`` shows ``demo/w100/logs`` and ``--logdir <run>/logs`` shows ``.``. exptool
keeps the template's layout (event files in ``logs/``) and instead points TensorBoard at a view:
``<view>/<exp>/<run>`` is a symbolic link to ``experiments/<exp>/<run>/logs``. TensorBoard (its
Python reader and its fast Rust data server) follows the links, so each run shows as ``exp/run``
in every dashboard; the HParams table names trials the same way (the writer records ``exp/run``
as the trial id).

Views live in exptool's state folder, one per workspace and selection (what was asked for, not the
runs it matched): the same ``exp tb`` rebuilds its own view, so runs made since appear, while two
``exp tb`` over different selections do not disturb each other, and the printed command
(``--print``) keeps working after ``exp tb`` exits. The whole workspace's view is the plain
``view_dir``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..workspace import Run, Workspace

DEFAULT_PORT = 6006


def view_dir(workspace: Any) -> Path:
    """The view folder of ``workspace`` (in the state folder, named after the workspace)."""
    from ..state import state_dir  # noqa: PLC0415

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


def choose_runs(ws: Workspace, targets: Sequence[str] = (), refs: Sequence[str] = (), experiment: str | None = None,
                every: bool = False, where: Sequence[str] = ()) -> tuple[list[Run], str]:
    """The runs to show, and a key naming the selection (``""`` for the whole workspace).

    ``targets``: experiments and ``EXP/RUN`` runs; ``refs``: ``RUN`` in ``experiment`` (default: the
    current one) or ``EXP/RUN``; ``experiment`` alone (no ``refs``) shows that experiment; ``every``:
    every experiment; nothing at all: the current experiment. Runs without ``logs/`` are left out.
    """
    from .index import load_rows, refine_live  # noqa: PLC0415
    from .query import needs_extrema, select  # noqa: PLC0415
    from .refs import current_experiment, parse_ref  # noqa: PLC0415

    experiments, pairs = [], []
    for target in targets:
        if "/" in target:
            run = ws.run(*target.split("/", 1)).require()
            pairs.append((run.experiment.name, run.name))
        else:
            experiments.append(ws.experiment(target).require().name)
    for ref in refs:
        run = parse_ref(ws, ref, experiment).require()
        pairs.append((run.experiment.name, run.name))
    if experiment and not refs:
        experiments.append(ws.experiment(experiment).require().name)
    if every:
        experiments = ws.experiment_names()
    elif not experiments and not pairs:
        experiments = [current_experiment(ws)]
    if every:  # "*", not the names: the view stays the same one when experiments are added
        key = "\n".join(["*", *where]) if where else ""
    else:
        key = "\n".join([",".join(sorted(set(experiments))), ",".join(sorted({f"{e}/{r}" for e, r in pairs})), *where])
    parts = ("record", "config", "metrics") + (("extrema",) if needs_extrema(where) else ())
    rows = (load_rows(ws, experiments, parts=parts) if experiments else []) + (
        load_rows(ws, runs=pairs, parts=parts) if pairs else [])
    rows = list({r.id: r for r in rows}.values())
    if where:
        refine_live(rows)  # status=running, percent>50: as exp ls sees them
    rows = select(rows, where)
    runs = [ws.run(r.experiment, r.name) for r in rows]
    return [r for r in runs if r.logs_dir.is_dir()], key


def links_folder(ws: Workspace, runs: Sequence[Run], key: str = "") -> Path:
    """Build (or refresh) the view of selection ``key`` (:func:`choose_runs`) and return it (the ``--logdir``)."""
    if not runs:
        raise UsageError("No runs to show.", hint="Name experiments or runs, or loosen --where.")
    base = view_dir(ws)
    if not key:
        return build_view(ws, runs, folder=base)
    return build_view(ws, runs, folder=base.with_name(f"{base.name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"))


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


def command(logdir: Path, port: int, host: str | None, extra: Sequence[str] = ()) -> list[str]:
    """The TensorBoard command line (this interpreter's ``tensorboard`` when installed next to it).

    ``extra``: TensorBoard's own options, after exptool's.
    """
    script = Path(sys.executable).with_name("tensorboard")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "tensorboard.main"]
    argv += ["--logdir", str(logdir), "--port", str(port)]
    if host:
        argv += ["--host", host]
    return argv + list(extra)


def url(host: str | None, port: int) -> str:
    shown = host if host and host not in ("0.0.0.0", "::") else "localhost"
    return f"http://{shown}:{port}/"

"""The sweep record: ``experiments/<exp>/.sweeps/<name>/sweep.json`` (spec, point -> run, state).

The folder starts with a dot, so ``exp ls`` never mistakes it for a run. ``sweep.json`` holds::

    {"name": "lr", "experiment": "e", "created": ..., "updated": ...,
     "spec": {...SweepSpec.to_dict()...},
     "state": "running" | "completed" | "failed" | "interrupted" | "submitted",
     "launcher": "pool", "pid": 1234, "host": "box",      # the process running it now / last
     "points": [{"index": 0, "run": "lr-000", "params": {"lr": 0.001}, "trial": null}, ...],
     "retired": [...]}                                    # points a changed spec no longer has

A point's run is an ordinary run named ``<sweep>-<NNN>`` (``NNN`` its index, three digits or more);
its ``run.json`` carries ``"sweep": NAME``, ``"sweep_index"``, ``"sweep_params"`` and the sweep's name
in ``"tags"``. The run's own ``run.json`` is the truth about a point's status. The folder also
holds the Optuna study (``optuna.journal``) of a tpe sweep, SLURM's job logs (``slurm/``) and the
``--notify`` a submitted sweep's last job sends (``notify.json``, :mod:`exptool.notify_on_node`).
Writes are atomic; the process running a sweep holds ``.lock`` in the folder.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_json
from ..errors import ConfigError, NotFoundError, RunLockedError, UsageError
from ..locking import RunLock, read_holder
from ..names import validate_name
from ..workspace import Experiment, now_iso
from .spec import SweepSpec

SWEEPS_DIR = ".sweeps"
RECORD_NAME = "sweep.json"


def sweeps_dir(experiment: Experiment) -> Path:
    """The experiment's folder of sweep records."""
    return experiment.path / SWEEPS_DIR


def sweep_names(experiment: Experiment) -> list[str]:
    """Names of the sweeps recorded in ``experiment``, sorted."""
    try:
        entries = os.scandir(sweeps_dir(experiment))
    except OSError:
        return []
    with entries:
        return sorted(e.name for e in entries if e.is_dir() and (Path(e.path) / RECORD_NAME).is_file())


def run_name(sweep: str, index: int) -> str:
    """The run of point ``index``: ``<sweep>-000``, ``<sweep>-001``, ..."""
    return f"{sweep}-{index:03d}"


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class SweepRecord:
    """A sweep as recorded on disk; :meth:`save` writes it back atomically."""

    experiment: Experiment
    name: str
    spec: SweepSpec
    points: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    _lock: RunLock | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return sweeps_dir(self.experiment) / self.name

    @property
    def path(self) -> Path:
        return self.folder / RECORD_NAME

    @property
    def state(self) -> str:
        return str(self.data.get("state", "created"))

    def point_run(self, point: dict[str, Any]) -> Any:
        """The :class:`~exptool.workspace.Run` of a point."""
        return self.experiment.run(point["run"])

    def _next_index(self) -> int:
        return 1 + max((int(p["index"]) for p in self.points + self.data.get("retired", [])), default=-1)

    def add_point(self, params: dict[str, Any], trial: int | None = None) -> dict[str, Any]:
        """Append a point with the next index and return it."""
        index = self._next_index()
        point = {"index": index, "run": run_name(self.name, index), "params": params, "trial": trial}
        self.points.append(point)
        return point

    def ensure_points(self) -> None:
        """Grid and random: make the recorded points match the spec (new points get new indices).

        Points whose params the spec still has keep their index and run; points it lost move to
        ``retired`` (their runs stay on disk, untouched), and come back if the spec has them again.
        """
        if self.spec.method == "tpe":
            return
        earlier = self.points + self.data.get("retired", [])
        known = {_key(p["params"]): p for p in earlier}
        index = self._next_index()
        points, wanted = [], set()
        for params in self.spec.points():
            key = _key(params)
            wanted.add(key)
            point = known.get(key)
            if point is None:
                point = {"index": index, "run": run_name(self.name, index), "params": params, "trial": None}
                index += 1
            points.append(point)
        self.data["retired"] = [p for p in earlier if _key(p["params"]) not in wanted]
        self.points = points

    def save(self, **fields: Any) -> None:
        """Write ``sweep.json`` (with ``fields`` merged in) atomically."""
        self.data.update(fields)
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "name": self.name,
            "experiment": self.experiment.name,
            "created": self.data.get("created") or now_iso(),
            **{k: v for k, v in self.data.items() if k not in ("name", "experiment", "created", "spec", "points")},
            "updated": now_iso(),
            "spec": self.spec.to_dict(),
            "points": self.points,
        }
        self.data["created"] = record["created"]
        atomic_write_json(self.path, record)

    def lock(self) -> None:
        """Hold the sweep's lock while it runs, so two ``exp sweep`` of one sweep never run at once.

        Raises:
            RunLockedError: another process runs this sweep now.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock = RunLock(self.folder).acquire()
        except RunLockedError:
            holder = read_holder(self.folder)
            who = f" (pid {holder.get('pid')} on {holder.get('host')})" if holder else ""
            raise RunLockedError(
                f"Sweep {self.name!r} of experiment {self.experiment.name!r} is running in another process{who}.",
                hint="Wait for it, or stop it first (exp cancel).",
            ) from None
        self.data.update(pid=os.getpid(), host=socket.gethostname())

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def load_sweep(experiment: Experiment, name: str) -> SweepRecord:
    """Read a recorded sweep.

    Raises:
        NotFoundError: no sweep of that name in the experiment.
        ConfigError: its record cannot be read (it is never treated as missing).
    """
    validate_name(name, "sweep name")
    path = sweeps_dir(experiment) / name / RECORD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sweep_names(experiment)) or "none"
        raise NotFoundError(
            f"Experiment {experiment.name!r} has no sweep {name!r}.", hint=f"Recorded sweeps: {known}."
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the sweep record {path}: {exc}", hint="Fix or move the file.") from None
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        raise ConfigError(f"The sweep record {path} is not a sweep record.", hint="Fix or move the file.")
    spec = SweepSpec.from_dict(data["spec"])
    points = [p for p in data.get("points", []) if isinstance(p, dict)]
    return SweepRecord(experiment, name, spec, points, data)


def open_sweep(
    experiment: Experiment, name: str, spec: SweepSpec | None, *, update_spec: bool = False
) -> SweepRecord:
    """The sweep ``name``: created from ``spec``, or the recorded one, checked against ``spec``.

    With ``spec`` None the recorded spec continues as it is. A random or tpe spec without a seed
    gets one now (recorded, so running it again draws the same points).

    Raises:
        UsageError: the recorded sweep has another spec and ``update_spec`` is False; or the sweep
            does not exist and no spec was given.
    """
    validate_name(name, "sweep name")
    validate_name(run_name(name, 0), "run name")
    exists = (sweeps_dir(experiment) / name / RECORD_NAME).exists()
    if not exists:
        if spec is None:
            raise NotFoundError(
                f"Experiment {experiment.name!r} has no sweep {name!r} to continue.",
                hint="Describe it: --set KEY=V1,V2 ... or a sweep file.",
            )
        if spec.method != "grid" and spec.seed is None:
            spec.seed = secrets.randbelow(2**31)
        record = SweepRecord(experiment, name, spec)
        record.ensure_points()
        return record
    record = load_sweep(experiment, name)
    if spec is None:
        return record
    if spec.seed is None and spec.method == record.spec.method:
        spec.seed = record.spec.seed
    if spec.identity() != record.spec.identity() and not update_spec:
        raise UsageError(
            f"Sweep {name!r} exists with another spec: {_difference(record.spec, spec)}.",
            hint="Pass --update-spec to change it (points with the same params keep their runs), "
            "or give the new sweep another --name.",
        )
    if spec.method != record.spec.method and record.points:
        raise UsageError(
            f"Sweep {name!r} is a {record.spec.method} sweep; it cannot become a {spec.method} sweep.",
            hint="Give the new sweep another --name.",
        )
    record.spec = spec
    record.ensure_points()
    return record


def _difference(old: SweepSpec, new: SweepSpec) -> str:
    a, b = old.identity(), new.identity()
    for key in a:
        if a[key] != b.get(key):
            if key == "axes":
                return f"it varies {_axes(old)}, this varies {_axes(new)}"
            return f"{key} was {a[key]!r}, now {b.get(key)!r}"
    return "the specs differ"


def _axes(spec: SweepSpec) -> str:
    return " ".join(a.describe() for a in spec.axes) or "nothing"


def check_name(name: str) -> str:
    """A sweep name usable as a folder and as the prefix of its runs' names.

    Raises:
        InvalidNameError: it is not.
    """
    validate_name(name, "sweep name")
    validate_name(run_name(name, 0), "run name")
    if name.startswith("."):
        raise UsageError(f"Sweep name {name!r} must not start with a dot.")
    return name

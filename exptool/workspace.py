"""The workspace on disk: finding it, and the Experiment / Run folders inside it.

Layout::

    <workspace>/config/ data/ experiments/<exp>/<run>/{checkpoints,logs,visualizations,plots}/
    <workspace>/experiments/<exp>/<run>/config.json   the run's config
    <workspace>/experiments/<exp>/<run>/run.json      status and provenance
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from ._atomic import atomic_write_json
from ._value import _Value
from .discovery import EXPERIMENTS_DIR, WORKSPACE_MARKER, find_workspace_root
from .errors import AlreadyExistsError, ConfigError, NotFoundError
from .names import validate_name
from .run_record import RunRecordMixin

CONFIG_DIR = "config"
TEMPLATE_CONFIG_DIR = "configurations"  # the template's name for config/; searched second
DATA_DIR = "data"
RUN_SUBDIRS = ("checkpoints", "logs", "visualizations", "plots")
RUN_CONFIG = "config.json"
RUN_RECORD = "run.json"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")

_MARKER_TEXT = """\
# exptool workspace settings. This file marks the workspace root for `exp`.
#
# Training functions of this project that `exp train` can run, as name = "module:function"
# (the workspace folder is put on sys.path) or name = "path/to/file.py:function":
[trainers]
# mnist = "src.training.mnist:train"
"""


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class Workspace(_Value):
    """A project folder holding ``config/``, ``data/`` and ``experiments/``."""

    __slots__ = ("root", "_experiments_dir")
    _FIELDS = ("root",)
    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        root = Path(root)
        super().__init__(root)
        object.__setattr__(self, "_experiments_dir", root / EXPERIMENTS_DIR)

    @classmethod
    def find(cls, start: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> Workspace:
        """Locate the workspace (see :func:`find_workspace_root`)."""
        return cls(find_workspace_root(start, root))

    @classmethod
    def init(cls, path: str | os.PathLike = ".") -> tuple[Workspace, list[Path]]:
        """Create the workspace folders (idempotent). Returns the workspace and what was created."""
        root = Path(path).expanduser().absolute()
        created: list[Path] = []
        for sub in (root, root / CONFIG_DIR, root / DATA_DIR, root / EXPERIMENTS_DIR):
            if not sub.is_dir():
                sub.mkdir(parents=True, exist_ok=True)
                created.append(sub)
        marker = root / WORKSPACE_MARKER
        if not marker.exists():
            try:
                with open(marker, "x", encoding="utf-8") as fh:
                    fh.write(_MARKER_TEXT)
                created.append(marker)
            except FileExistsError:
                pass
        return cls(root), created

    @property
    def experiments_dir(self) -> Path:
        return self._experiments_dir

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR

    @property
    def config_dirs(self) -> list[Path]:
        """Where named configs are looked up: ``config/``, then the template's ``configurations/``."""
        return [self.root / CONFIG_DIR, self.root / TEMPLATE_CONFIG_DIR]

    @property
    def data_dir(self) -> Path:
        return self.root / DATA_DIR

    def experiment(self, name: str) -> Experiment:
        """The experiment called ``name`` (validated; it need not exist)."""
        return Experiment(self, validate_name(name, "experiment name"))

    def run(self, experiment: str, run: str) -> Run:
        """The run ``experiment/run`` (validated; it need not exist)."""
        return self.experiment(experiment).run(run)

    def experiment_names(self) -> list[str]:
        """Names of the experiments on disk, sorted."""
        return _subdir_names(self.experiments_dir)

    def experiments(self) -> list[Experiment]:
        return [Experiment(self, n) for n in self.experiment_names()]

    def resolve_config(self, name_or_path: str) -> Path:
        """Find a config by name (``config/NAME.yaml|yml|json``) or by path."""
        direct = Path(name_or_path).expanduser()
        candidates = [direct] if direct.suffix else []
        if not direct.is_absolute():
            for folder in self.config_dirs:
                candidates += [folder / f"{name_or_path}{sfx}" for sfx in CONFIG_SUFFIXES]
                if direct.suffix:
                    candidates.append(folder / name_or_path)
        for cand in candidates:
            if cand.is_file():
                return cand.absolute()
        known = ", ".join(self.config_names()) or "none"
        raise NotFoundError(
            f"Config {name_or_path!r} not found.",
            hint=f"Give a file path or a name from {self.config_dir} (known: {known}).",
        )

    def config_names(self) -> list[str]:
        """Names (without suffix) of the config files in ``config/`` and ``configurations/``."""
        names: set[str] = set()
        for folder in self.config_dirs:
            try:
                entries = os.scandir(folder)
            except OSError:
                continue
            with entries:
                names.update(
                    e.name.rsplit(".", 1)[0]
                    for e in entries
                    if e.is_file() and e.name.endswith(CONFIG_SUFFIXES) and not e.name.startswith(".")
                )
        return sorted(names)


def _subdir_names(path: Path) -> list[str]:
    try:
        entries = os.scandir(path)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    with entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


class Experiment(_Value):
    """``experiments/<name>/``: a folder of runs."""

    __slots__ = ("workspace", "name", "_path")
    _FIELDS = ("workspace", "name")
    workspace: Workspace
    name: str

    def __init__(self, workspace: Workspace, name: str) -> None:
        super().__init__(workspace, name)
        object.__setattr__(self, "_path", workspace.experiments_dir / name)

    @property
    def path(self) -> Path:
        return self._path

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self, exist_ok: bool = True) -> bool:
        """Create the folder; returns True if it was created now."""
        if self.path.is_dir():
            if not exist_ok:
                raise AlreadyExistsError(f"Experiment {self.name!r} already exists.")
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        return True

    def run(self, name: str) -> Run:
        return Run(self, validate_name(name, "run name"))

    def run_names(self) -> list[str]:
        return _subdir_names(self.path)

    def runs(self) -> list[Run]:
        return [Run(self, n) for n in self.run_names()]

    def require(self) -> Experiment:
        """Return self, or raise NotFoundError with a hint when it does not exist."""
        if not self.exists():
            raise NotFoundError(
                f"Experiment {self.name!r} does not exist.", hint=f"Create it with: exp init-exp {self.name}"
            )
        return self


class Run(RunRecordMixin, _Value):
    """``experiments/<exp>/<run>/``: one training run's folders, config and record."""

    __slots__ = ("experiment", "name", "_path")
    _FIELDS = ("experiment", "name")
    experiment: Experiment
    name: str

    def __init__(self, experiment: Experiment, name: str) -> None:
        super().__init__(experiment, name)
        object.__setattr__(self, "_path", experiment.path / name)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> Run:
        """The run whose folder is ``path`` (``<workspace>/experiments/<exp>/<run>``)."""
        path = Path(path).expanduser().absolute()
        ws = Workspace(path.parent.parent.parent)
        return ws.run(path.parent.name, path.name)

    @property
    def workspace(self) -> Workspace:
        return self.experiment.workspace

    @property
    def id(self) -> str:
        """``exp/run``."""
        return f"{self.experiment.name}/{self.name}"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def visualizations_dir(self) -> Path:
        return self.path / "visualizations"

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    @property
    def config_path(self) -> Path:
        return self.path / RUN_CONFIG

    @property
    def record_path(self) -> Path:
        return self.path / RUN_RECORD

    @property
    def metrics_path(self) -> Path:
        return self._path.joinpath("logs", "metrics.csv")

    def exists(self) -> bool:
        return self.path.is_dir()

    def missing_subdirs(self) -> list[str]:
        """Names of the standard subfolders that are missing (one that cannot be checked is not listed)."""
        missing = []
        for d in RUN_SUBDIRS:
            try:
                if not (self.path / d).is_dir():
                    missing.append(d)
            except OSError:  # no permission to look: unknown, not missing
                pass
        return missing

    def require(self) -> Run:
        """Return self, or raise NotFoundError with a hint when the run does not exist."""
        if not self.exists():
            raise NotFoundError(
                f"Run {self.id!r} does not exist.",
                hint=f"Create it with: exp init-run -e {self.experiment.name} -r {self.name}",
            )
        return self

    def create(self, config_source: str | os.PathLike | None = None, exist_ok: bool = False) -> bool:
        """Create the run's folders, ``config.json`` and ``run.json``.

        ``config_source`` is a YAML or JSON file whose content becomes the run's ``config.json``.
        An existing run is never overwritten: it raises unless ``exist_ok``, and then only missing
        pieces are added. Returns True if the run folder was created now.
        """
        config = None
        if config_source is not None:
            from .config import load_config  # noqa: PLC0415 - keeps yaml out of start-up

            config = load_config(config_source)
            if not isinstance(config, dict):
                raise ConfigError(f"{config_source}: a config must be a mapping at the top level.")
        existed = self.path.exists()
        if existed and not exist_ok:
            raise AlreadyExistsError(
                f"Run {self.id!r} already exists.",
                hint="Choose another name, or pass --exist-ok to keep it and make it current.",
            )
        if existed and not self.path.is_dir():
            raise AlreadyExistsError(f"{self.path} exists and is not a folder.")
        created = False
        try:
            self.experiment.path.mkdir(parents=True, exist_ok=True)
            try:
                self.path.mkdir()
                created = True
            except FileExistsError:
                if not exist_ok:
                    raise AlreadyExistsError(f"Run {self.id!r} already exists.") from None
            for sub in RUN_SUBDIRS:
                (self.path / sub).mkdir(exist_ok=True)
            if not self.config_path.exists():
                atomic_write_json(self.config_path, config if config is not None else {})
            if not self.record_path.exists():
                atomic_write_json(
                    self.record_path,
                    {"experiment": self.experiment.name, "run": self.name, "created": now_iso(), "status": "created"},
                )
        except BaseException:
            if created:
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        return created

    def last_metrics(self) -> tuple[int | None, dict[str, float]]:
        """Step and values of the last row of ``logs/metrics.csv``; (None, {}) if none."""
        from .metrics_file import last_row  # noqa: PLC0415

        return last_row(self.metrics_path)


def remove_entries(entries: Iterable[Path]) -> None:
    """Delete files, links and folders (a link is removed, not followed); nothing if one is unreadable.

    Raises:
        UnsafePathError: something among them cannot be read; nothing was deleted.
    """
    from ._fs import remove_entries as remove  # noqa: PLC0415

    remove(entries)


def iter_runs(workspace: Workspace, experiment: str | None = None) -> Iterator[Run]:
    """All runs of one experiment, or of every experiment, in name order."""
    exps = [workspace.experiment(experiment).require()] if experiment else workspace.experiments()
    for exp in exps:
        yield from exp.runs()

"""The template's Logger API, kept working: its method names, paths and module-level helpers.

exptool's own names are the documented ones (``log_histogram``, ``log_info(message, level)``,
``run.logs_dir``, ...); these are the template's spellings of the same things, so code written
against the template's ``src/utils/logging.py`` runs unchanged. docs/migration.md lists them all.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

_log = logging.getLogger("exptool")

# get_path() names -> Run attribute
_PATHS = {
    "log": "logs_dir", "plot": "plots_dir", "checkpoint": "checkpoints_dir", "visualization": "visualizations_dir",
}
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning(message)


class TemplateLoggerMixin:
    """The template's ``Logger`` methods and attributes, mixed into :class:`~exptool.tracking.Logger`."""

    run: Any
    step: int | None

    # -- paths ---------------------------------------------------------------------------------
    def get_path(self, name: str | None = None) -> Path | None:
        """The run folder, or one of its folders: ``"log"``, ``"plot"``, ``"checkpoint"``, ``"visualization"``."""
        if self.run is None:
            return None
        if name is None:
            return self.run.path
        if name not in _PATHS:
            from ..errors import UsageError  # noqa: PLC0415

            raise UsageError(f"get_path: unknown folder {name!r}; use one of {', '.join(_PATHS)}, or None for the run.")
        return getattr(self.run, _PATHS[name])

    @property
    def run_path(self) -> Path | None:
        return self.get_path()

    @property
    def log_path(self) -> Path | None:
        return self.get_path("log")

    @property
    def plot_path(self) -> Path | None:
        return self.get_path("plot")

    @property
    def vis_path(self) -> Path | None:
        return self.get_path("visualization")

    @property
    def checkpoint_path(self) -> Path | None:
        return self.get_path("checkpoint")

    @property
    def log_file_path(self) -> Path | None:
        return None if self.run is None else self.run.logs_dir / "log.txt"

    # -- the template's spellings --------------------------------------------------------------
    def log_histograms(self, name: str, values: Any, step: int | None = None) -> None:
        """The template's name for :meth:`log_histogram`."""
        self.log_histogram(name, values, step)  # type: ignore[attr-defined]

    def save_checkpoint(self, epoch: int, model: Any = None, optimizer: Any = None, scheduler: Any = None,
                        finished: bool = False, save_name: str | None = None, *, step: int | None = None,
                        metrics: dict[str, Any] | None = None) -> Path | None:
        """Save a checkpoint of ``model`` (and optimiser, scheduler) into the run's ``checkpoints/``.

        The template's ``logger.save_checkpoint(epoch, model, optimizer, scheduler)``. The file is
        written atomically and recorded in the manifest with ``step`` (default: the last step logged),
        so ``exp train`` and :class:`~exptool.checkpoints.CheckpointManager` can resume from it without
        losing logged rows. Every checkpoint saved this way is kept. Returns its path (None on ranks
        other than 0).
        """
        from ..checkpoints import CheckpointManager  # noqa: PLC0415

        if self.run is None:
            return None
        if save_name is not None:
            _warn_once("save_name", "save_checkpoint(save_name=...) is not used: exptool names checkpoint files "
                                    "checkpoint_epoch_E_step_S.pth; load one by epoch with "
                                    "load_model_from_checkpoint(exp, run, model, epoch).")
        if step is None:
            step = self.step
        manager = CheckpointManager(self.run.checkpoints_dir, keep_last=None, keep_best=0,
                                    rank=getattr(self, "rank", None))
        extra = {"finished": True} if finished else None
        return manager.save(step=step, epoch=epoch, model=model, optimizer=optimizer, scheduler=scheduler,
                            metrics=metrics, extra=extra)


def print_(message: Any, message_type: str = "info", file_name: str | None = None,
           path_type: str | None = None) -> None:
    """Print ``message`` and append it to the current logger's ``logs/log.txt`` (the template's).

    With ``file_name`` (and ``path_type`` "log", "plot", "checkpoint" or "visualization") the
    message is written to that file of the run instead of the log.
    """
    from .current import get_logger  # noqa: PLC0415

    logger = get_logger()
    if file_name is not None and logger.run is not None:
        folder = logger.get_path(path_type or "log")
        from .._atomic import atomic_write_text  # noqa: PLC0415

        atomic_write_text(Path(folder) / file_name, f"{message}\n", fsync=False)
        print(message, flush=True)
        return
    if logger.run is not None and not logger.echo:
        print(message, file=sys.stdout if message_type == "info" else sys.stderr, flush=True)
    logger.log_info(message, level=message_type)  # prints too, unless echo is off


def log_info(message: Any, message_type: str = "info") -> None:
    """Append ``message`` to the current logger's ``logs/log.txt`` without printing it (the template's)."""
    from .current import get_logger  # noqa: PLC0415

    logger = get_logger()
    if logger.run is not None:
        echo, logger.echo = logger.echo, False
        try:
            logger.log_info(message, level=message_type)
        finally:
            logger.echo = echo

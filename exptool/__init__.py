"""exptool: one command, ``exp``, and a small library for running PyTorch experiments well.

The public API is loaded lazily: ``import exptool`` is cheap, and torch, TensorBoard, W&B and
matplotlib are imported only when the names that need them are first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # workspace and runs
    "Workspace": "exptool.workspace",
    "Experiment": "exptool.workspace",
    "Run": "exptool.workspace",
    "validate_name": "exptool.names",
    # errors
    "ExptoolError": "exptool.errors",
    # configs
    "load_config": "exptool.config",
    "save_config": "exptool.config",
    "apply_overrides": "exptool.config",
    "merge_configs": "exptool.config",
    "load_config_to_run": "exptool.config_compat",
    "load_config_from_run": "exptool.config_compat",
    "save_config_to_run": "exptool.config_compat",
    # tracking
    "Logger": "exptool.tracking",
    "get_logger": "exptool.tracking",
    "set_logger": "exptool.tracking",
    "register_writer": "exptool.tracking",
    "Writer": "exptool.tracking",
    "MetricTracker": "exptool.tracking.meters",
    "AverageMeter": "exptool.tracking.meters",
    "print_": "exptool.tracking.template_api",
    "log_info": "exptool.tracking.template_api",
    # checkpoints
    "CheckpointManager": "exptool.checkpoints",
    "save_checkpoint": "exptool.checkpoints",
    "load_model_from_checkpoint": "exptool.checkpoints",
    "load_model_from_path": "exptool.checkpoints",
    # reproducibility and devices
    "set_random_seed": "exptool.reproducibility",
    "pick_device": "exptool.devices",
    # debugging and profiling
    "ModelDebugger": "exptool.debug",
    "find_nan": "exptool.debug",
    "Timer": "exptool.profiler",
    # plotting
    "read_metrics": "exptool.metrics_file",
    "smooth_curve": "exptool.plotting",
    "plot_metrics": "exptool.plotting",
    # images
    "image_grid": "exptool.images",
    # training
    "RunContext": "exptool.training.context",
}

__all__ = ["LOGGER", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name == "LOGGER":  # the template's global logger: the current Logger, or None before the first one
        from .tracking import current  # noqa: PLC0415

        return current._current
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exptool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"LOGGER"})


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .checkpoints import CheckpointManager, load_model_from_checkpoint, load_model_from_path, save_checkpoint
    from .config import apply_overrides, load_config, merge_configs, save_config
    from .config_compat import load_config_from_run, load_config_to_run, save_config_to_run
    from .debug import ModelDebugger, find_nan
    from .devices import pick_device
    from .errors import ExptoolError
    from .images import image_grid
    from .metrics_file import read_metrics
    from .names import validate_name
    from .plotting import plot_metrics, smooth_curve
    from .profiler import Timer
    from .reproducibility import set_random_seed
    from .tracking import Logger, Writer, get_logger, register_writer, set_logger
    from .tracking.logger import Logger as LOGGER  # noqa: N811
    from .tracking.meters import AverageMeter, MetricTracker
    from .tracking.template_api import log_info, print_
    from .training.context import RunContext
    from .workspace import Experiment, Run, Workspace

"""exptool's own config sections, read and checked once before anything is written.

A run's config belongs to its trainer, except for a few keys exptool itself acts on::

    seed: 1                      # int: every RNG is seeded with it
    device: cuda                 # str: "cpu", "cuda", "cuda:1", "mps" or "auto"
    logging:
      writers: [csv, tensorboard]   # registered writer names (also "csv,tensorboard")
      wandb_project: my-project     # str
      system: true                  # bool: sample CPU/memory/GPU metrics (logs/system.csv, system/...)
      system_interval: 10           # seconds between samples, >= 0.05
    checkpoint:
      keep_last: 3               # int >= 1, or null to keep every checkpoint
      keep_best: 1               # int >= 0
      metric: val_loss           # str, or null for no "best" tracking
      mode: min                  # "min" or "max"

:func:`read_settings` turns those into one frozen :class:`TrainingSettings`; a value of the wrong
type or out of range is a :class:`~exptool.errors.ConfigError` (exit 2) naming the key, the value
and what is allowed, raised by ``exp train`` before the config is saved or the run is touched.
A trainer may check its own keys the same way through a ``check_config(config)`` attribute
(see :func:`check_trainer_config`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

DEFAULT_WRITERS = ("csv", "tensorboard")
OWN_KEYS = ("trainer", "seed", "device", "logging", "checkpoint", "threads")  # config keys exptool itself reads
_DEVICE = re.compile(r"^([a-z_]+(:\d+)?)?$")
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class CheckpointSettings:
    """Options for the run's :class:`~exptool.checkpoints.CheckpointManager`."""

    keep_last: int | None = 3
    keep_best: int = 1
    metric: str | None = "val_loss"
    mode: str = "min"

    def manager_options(self) -> dict[str, Any]:
        """Keyword arguments for ``CheckpointManager``."""
        return {"keep_last": self.keep_last, "keep_best": self.keep_best, "metric": self.metric, "mode": self.mode}


@dataclass(frozen=True)
class TrainingSettings:
    """What exptool reads from a run's config, once.

    Attributes:
        writers: logger backends to start (canonical registry names, in order).
        wandb_project: W&B project (default: the experiment's name).
        checkpoint: checkpoint manager options.
        device: preferred device string, or None for the automatic choice.
        seed: the config's seed, or None.
        system_interval: seconds between system-metrics samples, or None when they are off.
    """

    writers: tuple[str, ...] = DEFAULT_WRITERS
    wandb_project: str | None = None
    checkpoint: CheckpointSettings = CheckpointSettings()
    device: str | None = None
    seed: int | None = None
    system_interval: float | None = 10.0


def read_settings(config: Mapping[str, Any]) -> TrainingSettings:
    """Read and check exptool's sections of ``config``.

    Raises:
        ConfigError: a key of exptool's sections holds a value of the wrong type or out of range.
    """
    logging_section = _section(config, "logging")
    checkpoint_section = _section(config, "checkpoint")
    return TrainingSettings(
        writers=_writers(logging_section.get("writers", list(DEFAULT_WRITERS))),
        wandb_project=_optional_str(logging_section, "logging.wandb_project"),
        checkpoint=_checkpoint(checkpoint_section),
        device=_device(config.get("device")),
        seed=_seed(config.get("seed")),
        system_interval=_system_interval(logging_section),
    )


def check_trainer_config(fn: Callable[..., Any], config: Mapping[str, Any]) -> None:
    """Call the trainer's own ``check_config(config)`` if it has one (it raises ConfigError on bad keys)."""
    check = getattr(fn, "check_config", None)
    if callable(check):
        check(config)


def bad_value(key: str, value: Any, allowed: str) -> ConfigError:
    """The one error for a config value exptool cannot use: key, value and what is allowed."""
    return ConfigError(
        f"Config key {key!r} is {_show(value)}: {allowed}.",
        hint=f"Fix it in the run's config.json or pass --set {key}=VALUE.",
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_value(name, value, "expected a mapping of its keys")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _writers(value: Any) -> tuple[str, ...]:
    from ..tracking.registry import canonical_name, writer_names  # noqa: PLC0415 - registry is light

    if isinstance(value, str):
        value = [w.strip() for w in value.split(",") if w.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(w, str) and w for w in value):
        raise bad_value("logging.writers", value, "expected a list of writer names like [csv, tensorboard, wandb]")
    known = writer_names()
    names = []
    for name in value:
        key = canonical_name(name)
        if key not in known:
            raise bad_value("logging.writers", name, f"not a writer; known writers: {', '.join(known)}")
        if key not in names:
            names.append(key)
    return tuple(names)


def _optional_str(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key.rpartition(".")[2])
    if value is not None and (not isinstance(value, str) or not value):
        raise bad_value(key, value, "expected a non-empty string")
    return value


def _checkpoint(section: Mapping[str, Any]) -> CheckpointSettings:
    defaults = CheckpointSettings()
    keep_last = section.get("keep_last", defaults.keep_last)
    if keep_last is not None and (not _is_int(keep_last) or not 1 <= keep_last <= 1_000_000):
        raise bad_value("checkpoint.keep_last", keep_last, "expected a whole number of at least 1, or null (keep all)")
    keep_best = section.get("keep_best", defaults.keep_best)
    if not _is_int(keep_best) or not 0 <= keep_best <= 1_000_000:
        raise bad_value("checkpoint.keep_best", keep_best, "expected a whole number of at least 0")
    metric = section.get("metric", defaults.metric)
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise bad_value("checkpoint.metric", metric, "expected a metric name, or null")
    mode = section.get("mode", defaults.mode)
    if mode not in ("min", "max"):
        raise bad_value("checkpoint.mode", mode, "expected 'min' or 'max'")
    return CheckpointSettings(keep_last, keep_best, metric, mode)


def _system_interval(section: Mapping[str, Any]) -> float | None:
    from ..tracking.system import DEFAULT_INTERVAL_S, check_interval  # noqa: PLC0415 - light, no psutil

    enabled = section.get("system", True)
    if not isinstance(enabled, bool):
        raise bad_value("logging.system", enabled, "expected true or false")
    interval = section.get("system_interval", DEFAULT_INTERVAL_S)
    try:
        interval = check_interval(interval)
    except ValueError as exc:
        raise bad_value("logging.system_interval", interval, str(exc)) from None
    return interval if enabled else None


def _device(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DEVICE.match(value.strip().lower()):
        raise bad_value("device", value, "expected a device name like 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'")
    return value.strip() or None


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= _MAX_SEED:
        raise bad_value("seed", value, "expected a whole number from 0 to 2**63-1")
    return int(value)

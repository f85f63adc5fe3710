"""The template's run-config helpers, on top of :mod:`exptool.config`.

``load_config_to_run`` copies a config from ``config/`` (or any path) into a run's ``config.json``;
``load_config_from_run`` reads it back. Unlike the template they raise clear errors
(:class:`~exptool.errors.NotFoundError`, :class:`~exptool.errors.ConfigError`) instead of
printing and returning None.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .config import apply_overrides, load_config, save_config
from .errors import NotFoundError
from .state import find_run as resolve_run


def load_config_to_run(config_name_or_path: str | os.PathLike, exp: str | None = None, run: str | None = None,
                       overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Copy a config into a run's ``config.json`` and return it.

    Args:
        config_name_or_path: a name from the workspace's ``config/`` folder (``mnist`` for
            ``config/mnist.yaml``) or a path to a YAML/JSON file.
        exp, run: the run (default: the current one); it must exist.
        overrides: dotted overrides applied before saving, e.g. ``["optimizer.lr=3e-4"]``.

    Raises:
        NotFoundError: the config or the run does not exist.
        ConfigError: the config cannot be parsed or an override does not apply.
    """
    target = resolve_run(exp, run).require()
    source = target.workspace.resolve_config(os.fspath(config_name_or_path))
    config = apply_overrides(load_config(source), overrides)
    save_config(config, target.config_path)
    return config


def load_config_from_run(exp: str | None = None, run: str | None = None) -> dict[str, Any]:
    """The config saved in a run's ``config.json`` (default: the current run).

    Raises:
        NotFoundError: the run or its ``config.json`` does not exist.
        ConfigError: the file is damaged (the message names file and line).
    """
    target = resolve_run(exp, run).require()
    try:
        return load_config(target.config_path)
    except NotFoundError:
        raise NotFoundError(
            f"Run {target.id!r} has no config.json.",
            hint=f"Give it one with: exptool.load_config_to_run(NAME, {target.experiment.name!r}, {target.name!r})",
        ) from None


def save_config_to_run(config: Mapping[str, Any], exp: str | None = None, run: str | None = None) -> None:
    """Write ``config`` as a run's ``config.json``, atomically (the template's ``save_config(config, exp, run)``)."""
    target = resolve_run(exp, run).require()
    save_config(config, target.config_path)

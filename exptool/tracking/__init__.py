"""Tracking: the :class:`Logger` and its writers (CSV, TensorBoard, W&B, or your own).

Importing this package is cheap; each writer imports its backend when it is started.
"""

from .current import get_logger, set_logger
from .logger import Logger
from .registry import register_writer, writer_names
from .writers.base import Writer

__all__ = ["Logger", "Writer", "get_logger", "register_writer", "set_logger", "writer_names"]

"""Tracking backends: one module per writer, all following :class:`exptool.tracking.writers.base.Writer`."""

from .base import Writer

__all__ = ["Writer"]

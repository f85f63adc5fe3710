"""Checkpoints: atomic saves, last/best bookkeeping in a manifest, safe loading, resume.

See :class:`CheckpointManager`; the template's ``save_checkpoint``, ``load_model_from_checkpoint``
and ``load_model_from_path`` are kept. torch is imported only when a function needs it.
"""

from __future__ import annotations

from .manager import CheckpointInfo, CheckpointManager
from .template import load_model_from_checkpoint, load_model_from_path, save_checkpoint

__all__ = [
    "CheckpointInfo",
    "CheckpointManager",
    "load_model_from_checkpoint",
    "load_model_from_path",
    "save_checkpoint",
]

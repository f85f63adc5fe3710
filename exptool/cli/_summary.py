"""``exp train``'s one end-of-run summary, and the config keys the trainer never read.

Lines, not a table: a terminal of any width wraps them at most, never folds a path mid-word, and
every path a person copies next stands on a line of its own::

    completed spirals/base in 6.4 s: steps 1-100
      last     step 100  train_loss=0.5535 val_loss=0.5753 val_acc=0.65 train_acc=0.6256
      best     val_loss 0.5753 (min) at step 100, checkpoint:
               /home/me/tour/experiments/spirals/base/checkpoints/checkpoint_epoch_4_step_100.pth
      run      /home/me/tour/experiments/spirals/base
      image    /home/me/tour/experiments/spirals/base/visualizations/decision_boundary_step000100.png
      view     exp tb spirals
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._output import format_metrics

_INDENT = " " * 11


def completed_lines(run: Any, facts: dict[str, Any], word: str = "completed") -> list[str]:
    """The summary of a completed attempt (``facts`` from :func:`exptool.training.report.end_of_run`)."""
    first = (facts["start_step"] or 0) + 1
    last = facts["last_step"]
    steps = "" if last is None else (f": step {last}" if last == first else f": steps {first}-{last}")
    lines = [f"{word} {run.id} in {facts['duration_s']:.1f} s{steps}"]
    if last is not None:
        lines.append(f"  last     step {last}  {format_metrics(facts['last_metrics'], limit=8)}")
    best = facts["best"]
    if best is not None:
        at = f" at step {best['step']}" if best["step"] is not None else f" at epoch {best['epoch']}"
        lines += [f"  best     {best['metric']} {best['value']:.4g} ({best['mode']}){at}, checkpoint:",
                  _INDENT + best["path"]]
    elif facts["last_checkpoint"] is not None:
        lines += ["  saved    last checkpoint:", _INDENT + facts["last_checkpoint"]["path"]]
    lines.append(f"  run      {facts['path']}")
    if facts["image"]:
        lines.append(f"  image    {facts['image']}")
    lines.append(f"  view     {facts['tensorboard']}")
    return lines


def _leaves_under(config: Mapping[str, Any], key: str) -> list[str]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return [key]
        node = node[part]
    if isinstance(node, Mapping) and node:
        return [f"{key}.{leaf}" for sub in node for leaf in _leaves_under(node, sub)]
    return [key]


def unread_set_keys(overrides: list[str], effective: Mapping[str, Any], unread: list[str] | None) -> list[str] | None:
    """The ``--set`` keys the trainer never read (nothing under them either); None when not known."""
    if unread is None:
        return None
    never = set(unread)
    keys = []
    for text in overrides:
        key = text.lstrip("+").partition("=")[0].strip()
        if key and key not in keys and all(leaf in never for leaf in _leaves_under(effective, key)):
            keys.append(key)
    return keys


def unread_lines(never_set: list[str] | None, unread: list[str] | None, limit: int = 8) -> list[str]:
    """Warnings for the keys set on the command line and the config keys that nothing read."""
    lines = []
    if never_set:
        lines.append(f"set on the command line but never read by the trainer: {', '.join(never_set)}")
    rest = [k for k in unread or [] if not any(k == s or k.startswith(s + ".") for s in never_set or [])]
    if rest:
        shown = ", ".join(rest[:limit]) + (f" and {len(rest) - limit} more" if len(rest) > limit else "")
        lines.append(f"config keys the trainer never read: {shown} (all of them in run.json, unread_config)")
    return lines

"""A model's architecture as text: parameter counts (total, trainable, per top-level module) and ``repr``."""

from __future__ import annotations

from typing import Any


def _count(params: Any) -> tuple[int, int]:
    total = trainable = 0
    seen: set[int] = set()
    for p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        try:
            n = p.numel()
        except (RuntimeError, ValueError):  # lazy modules: parameters not materialised yet
            continue
        total += n
        if p.requires_grad:
            trainable += n
    return total, trainable


def describe(model: Any) -> str:
    """Text for ``logs/architecture.txt``: counts first, then the module tree."""
    total, trainable = _count(model.parameters())
    lines = [
        f"Model: {type(model).__name__}",
        f"Parameters: {total:,} total, {trainable:,} trainable, {total - trainable:,} frozen",
        "",
    ]
    children = list(model.named_children())
    if children:
        width = max(len(name) for name, _ in children)
        lines.append(f"{'module':<{width}}  {'type':<24} {'parameters':>14} {'trainable':>14}")
        for name, child in children:
            c_total, c_train = _count(child.parameters())
            lines.append(f"{name:<{width}}  {type(child).__name__:<24} {c_total:>14,} {c_train:>14,}")
        lines.append("")
    lines.append(repr(model))
    return "\n".join(lines) + "\n"

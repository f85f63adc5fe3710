"""Small tensor helpers shared by the debugger's hooks: walk nested outputs, copy, check for NaN/Inf."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

ROOT_NAME = "<root>"


def display_name(name: str) -> str:
    """A module's qualified name as shown and keyed in results: ``"<root>"`` for the model itself."""
    return name or ROOT_NAME


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists and dicts, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors(item)


def float_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """The floating-point and complex tensors inside ``obj``, in order."""
    return (t for t in tensors(obj) if t.is_floating_point() or t.is_complex())


def detached_copy(obj: Any, device: torch.device | None) -> Any:
    """A detached copy of a (nested) output, on ``device`` (or where it was)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device or obj.device, copy=True)
    if isinstance(obj, tuple):
        return tuple(detached_copy(item, device) for item in obj)
    if isinstance(obj, list):
        return [detached_copy(item, device) for item in obj]
    if isinstance(obj, dict):
        return {key: detached_copy(value, device) for key, value in obj.items()}
    return obj


def nonfinite_kind(tensor: torch.Tensor) -> str | None:
    """``None`` if every value is finite, else ``"NaN"``, ``"Inf"`` or ``"NaN and Inf"``."""
    t = tensor.detach()
    if bool(torch.isfinite(t).all()):
        return None
    has_nan = bool(torch.isnan(t).any())
    has_inf = bool(torch.isinf(t).any())
    return "NaN and Inf" if has_nan and has_inf else ("NaN" if has_nan else "Inf")

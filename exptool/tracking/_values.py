"""Turn whatever a training loop logs (numbers, numpy scalars, tensors) into Python floats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UsageError

_RESERVED = ("step", "wall_time")


def _encodable(name: str) -> bool:
    """False for text with lone surrogates (from a bad decode): no file format can store it."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_name(name: Any) -> str:
    """Validate a metric name (non-empty string, no line breaks, not a reserved CSV column)."""
    if not isinstance(name, str) or not name or "\n" in name or "\r" in name or not _encodable(name):
        raise UsageError(f"Invalid metric name {name!r}: use a non-empty text without line breaks.")
    if name in _RESERVED:
        raise UsageError(f"Metric name {name!r} is reserved for the CSV's own column; pick another name.")
    return name


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _tensors_to_floats(items: list[tuple[str, Any]]) -> dict[str, float]:
    """One stacked device-to-host copy per device instead of one sync per metric."""
    import torch  # noqa: PLC0415 - only reached when the caller already logged tensors

    by_device: dict[Any, list[tuple[str, Any]]] = {}
    for name, tensor in items:
        if tensor.numel() != 1:
            raise UsageError(
                f"Metric {name!r} is a tensor of shape {tuple(tensor.shape)}; log one number "
                "(e.g. loss.mean()) or use log_histogram for many values."
            )
        by_device.setdefault(tensor.device, []).append((name, tensor))
    out: dict[str, float] = {}
    for device, group in by_device.items():
        dtype = torch.float32 if device.type == "mps" else torch.float64
        with torch.no_grad():
            stacked = torch.stack([t.detach().reshape(()).to(dtype) for _, t in group])
        for (name, _), value in zip(group, stacked.cpu().tolist(), strict=True):
            out[name] = value
    return out


def to_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Convert every value of ``metrics`` to ``float``, keeping the key order.

    Raises:
        UsageError: a value that is not a number or a one-element array/tensor.
    """
    out: dict[str, float] = {}
    tensors: list[tuple[str, Any]] | None = None
    for name, value in metrics.items():
        kind = type(value)
        if kind is float:
            out[name] = value
        elif kind is int or kind is bool:
            out[name] = float(value)
        elif _is_tensor(value):
            if tensors is None:
                tensors = []
            tensors.append((name, value))
            out[name] = 0.0  # placeholder keeps the caller's order
        else:
            out[name] = _other_to_float(name, value)
    if tensors:
        out.update(_tensors_to_floats(tensors))
    return out


def _other_to_float(name: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise UsageError(f"Metric {name!r} has value {value!r}; only numbers can be logged as metrics.")
    try:
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:  # numpy scalars and arrays
            return float(value.item())
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"Metric {name!r} has a value of type {type(value).__name__} that is not a number."
        ) from None


def to_step(step: Any) -> int:
    """Validate a step: a non-negative integer (Python, numpy or one-element tensor)."""
    try:
        if hasattr(step, "item"):
            step = step.item()
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError
    except (TypeError, ValueError):
        raise UsageError(f"Step {step!r} is not an integer.") from None
    if step < 0:
        raise UsageError(f"Step {step} is negative; steps start at 0.")
    return step

"""Pick the torch device to train on: the best one available, or the one asked for if it exists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DeviceUnavailableError", "pick_device"]

_HINT = "use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


class DeviceUnavailableError(UsageError):
    """A device was asked for that this machine does not have (exit 2)."""


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(prefer: str | int | torch.device | None = None) -> torch.device:
    """Return a ``torch.device``: the best available one, or the one asked for.

    Args:
        prefer: ``None`` or ``"auto"`` picks ``cuda`` if available, else ``mps``, else ``cpu``.
            A string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``, a ``torch.device``,
            or an integer (a CUDA index) asks for that device.

    Raises:
        DeviceUnavailableError: the requested device is not available here (e.g. ``"cuda"`` on
            a machine without a GPU, or ``"cuda:3"`` with two GPUs).
        UsageError: ``prefer`` is not a device name.
    """
    import torch  # noqa: PLC0415 - keep torch out of `import exptool`

    if prefer is None or (isinstance(prefer, str) and prefer.strip().lower() in ("", "auto")):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available(torch):
            return torch.device("mps")
        return torch.device("cpu")

    if isinstance(prefer, bool) or not isinstance(prefer, (str, int, torch.device)):
        raise UsageError(f"not a device: {prefer!r}", hint=_HINT)
    try:
        device = prefer if isinstance(prefer, torch.device) else torch.device(
            prefer.strip().lower() if isinstance(prefer, str) else f"cuda:{prefer}")
    except (RuntimeError, ValueError) as err:
        raise UsageError(f"not a device: {prefer!r}", hint=_HINT) from err

    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(f"device {str(device)!r} requested but CUDA is not available here",
                                         hint="use 'auto' or 'cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailableError(
                f"device {str(device)!r} requested but this machine has {count} CUDA device(s)",
                hint=f"use an index from 0 to {count - 1}")
    elif device.type == "mps":
        if not _mps_available(torch):
            raise DeviceUnavailableError("device 'mps' requested but MPS is not available here",
                                         hint="use 'auto' or 'cpu'")
    elif device.type != "cpu":
        backend = getattr(torch, device.type, None)
        is_available = getattr(backend, "is_available", None)
        if is_available is None or not is_available():
            raise DeviceUnavailableError(f"device {str(device)!r} requested but it is not available here",
                                         hint=_HINT)
    return device

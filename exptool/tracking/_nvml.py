"""NVIDIA GPU readings through NVML (``nvidia-ml-py``): utilisation, memory, power, temperature.

NVML talks to the driver, not to CUDA: no CUDA context is created and nothing synchronises with
the training's kernels. Without the package, the driver or a GPU, :func:`open_gpus` returns None
and no error is raised.
"""

from __future__ import annotations

import os
from typing import Any

from ..runtime import warn

_GIB = float(1 << 30)


def _visible_indices(pynvml: Any, count: int) -> list[int]:
    """NVML indices of the GPUs this process may use, in CUDA's order (``CUDA_VISIBLE_DEVICES``)."""
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return list(range(count))
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    indices: list[int] = []
    uuids: list[str] | None = None
    for item in wanted:
        if item.lstrip("-").isdigit():
            index = int(item)
            if not 0 <= index < count:
                break  # CUDA stops at the first invalid entry; so do we
            indices.append(index)
        elif item.startswith("GPU-"):
            if uuids is None:
                uuids = [_text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            match = [i for i, uuid in enumerate(uuids) if uuid.startswith(item)]
            if len(match) != 1:
                break
            indices.append(match[0])
        else:  # MIG devices and other forms: show every GPU rather than guess
            return list(range(count))
    return indices


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Gpus:
    """Open NVML handles for the visible GPUs; :meth:`read` samples them all."""

    def __init__(self, pynvml: Any, handles: list[Any]):
        self._nvml = pynvml
        self._handles = handles
        self._broken: set[tuple[int, str]] = set()  # readings a GPU does not support: not asked again
        self._closed = False

    def __len__(self) -> int:
        return len(self._handles)

    def _try(self, index: int, what: str, call: Any) -> Any:
        if (index, what) in self._broken:
            return None
        try:
            return call()
        except self._nvml.NVMLError:
            self._broken.add((index, what))  # e.g. power on a board without a sensor
            return None

    def read(self) -> dict[str, float]:
        """``gpu<i>/util_percent``, ``mem_used_gib``, ``mem_total_gib``, ``power_w``, ``temp_c`` per GPU."""
        nvml = self._nvml
        out: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            prefix = f"gpu{i}/"
            util = self._try(i, "util", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
            if util is not None:
                out[prefix + "util_percent"] = float(util.gpu)
            mem = self._try(i, "mem", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            if mem is not None:
                out[prefix + "mem_used_gib"] = mem.used / _GIB
                out[prefix + "mem_total_gib"] = mem.total / _GIB
            power = self._try(i, "power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            if power is not None:
                out[prefix + "power_w"] = power / 1000.0
            temp = self._try(i, "temp", lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
            if temp is not None:
                out[prefix + "temp_c"] = float(temp)
        return out

    def close(self) -> None:
        """Release NVML (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        self._handles = []
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down: nothing to report
            pass


def open_gpus() -> Gpus | None:
    """NVML handles for the GPUs this process can see, or None where there are none to read."""
    try:
        import pynvml  # noqa: PLC0415 - nvidia-ml-py; only where system metrics are on
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no library, no GPU: nothing to sample, no error
        return None
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in _visible_indices(pynvml, count)]
    except Exception as exc:  # noqa: BLE001 - a driver that answers init but nothing else
        warn(f"GPU metrics are off: NVML failed ({exc}).")
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
        return None
    if not handles:
        pynvml.nvmlShutdown()
        return None
    return Gpus(pynvml, handles)

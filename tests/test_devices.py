"""pick_device: the best available device, or the requested one with a clear error if it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from exptool.devices import DeviceUnavailableError, pick_device
from exptool.errors import EXIT_USAGE, UsageError


def _expected_auto() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


@pytest.mark.parametrize("prefer", [None, "auto", "AUTO", " auto "])
def test_auto_picks_the_best_available(prefer):
    assert pick_device(prefer).type == _expected_auto()


def test_auto_order_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")


@pytest.mark.parametrize("prefer", ["cpu", "CPU", torch.device("cpu")])
def test_cpu_is_always_available(prefer):
    assert pick_device(prefer) == torch.device("cpu")


def test_unavailable_cuda_is_a_clear_usage_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for prefer in ("cuda", "cuda:1", 0):
        with pytest.raises(DeviceUnavailableError) as info:
            pick_device(prefer)
        assert info.value.exit_code == EXIT_USAGE
        assert "CUDA is not available" in str(info.value) and "cpu" in info.value.hint


def test_cuda_index_checked_against_device_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device(1) == torch.device("cuda", 1)
    assert pick_device("cuda") == torch.device("cuda")
    with pytest.raises(DeviceUnavailableError, match="has 2 CUDA device"):
        pick_device("cuda:2")


def test_unavailable_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="MPS"):
        pick_device("mps")


@pytest.mark.parametrize("prefer", ["gpu", "cuda:x", "", 1.5, True])
def test_not_a_device(prefer):
    if prefer == "":
        assert pick_device(prefer).type == _expected_auto()  # empty means auto
        return
    with pytest.raises(UsageError) as info:
        pick_device(prefer)
    assert info.value.exit_code == EXIT_USAGE and "not a device" in str(info.value)


def test_importing_devices_does_not_import_torch():
    code = "import sys, exptool.devices; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

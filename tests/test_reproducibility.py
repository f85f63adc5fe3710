"""set_random_seed, capture_rng_state and restore_rng_state."""

from __future__ import annotations

import io
import os
import random

import numpy as np
import pytest
import torch

from exptool.reproducibility import capture_rng_state, restore_rng_state, set_random_seed


def _draw():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist(), random.gauss(0, 1), np.random.randn()


def test_same_seed_same_numbers_everywhere():
    set_random_seed(123)
    first = _draw()
    set_random_seed(123)
    assert _draw() == first
    set_random_seed(124)
    assert _draw() != first


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "1", True])
def test_bad_seed_is_refused(bad):
    with pytest.raises(ValueError, match="seed"):
        set_random_seed(bad)


def test_numpy_integer_seed_is_accepted():
    import numpy as np

    set_random_seed(123)
    first = _draw()
    set_random_seed(np.int64(123))
    assert _draw() == first
    with pytest.raises(ValueError, match="seed"):
        set_random_seed(np.float64(1.0))


def test_deterministic_mode_sets_torch_flags(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)  # restored after the test
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_random_seed(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.deterministic = False


def test_capture_and_restore_continue_every_stream():
    set_random_seed(7)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.randn()  # ... and in NumPy's
    state = capture_rng_state()
    expected = _draw()
    _draw()
    restore_rng_state(state)
    assert _draw() == expected


def test_state_loads_with_weights_only():
    set_random_seed(3)
    state = capture_rng_state()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    expected = _draw()
    restore_rng_state(loaded)
    assert _draw() == expected


def test_restore_ignores_missing_parts():
    set_random_seed(5)
    state = capture_rng_state()
    torch_only = {"torch": state["torch"]}
    expected = torch.rand(2).tolist()
    restore_rng_state(torch_only)
    assert torch.rand(2).tolist() == expected

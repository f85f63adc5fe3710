"""Seeding and random-number-generator state: Python, NumPy, torch (CPU and CUDA).

``capture_rng_state()`` returns only tensors and plain types, so a checkpoint holding it loads
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import numbers
import os
import random
from typing import Any

_MAX_SEED = 2**32 - 1


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy (when installed) and torch, CUDA included.

    Args:
        seed: an integer in ``[0, 2**32 - 1]`` (NumPy's limit).
        deterministic: also ask torch for deterministic algorithms (``warn_only``) and turn off
            cuDNN benchmarking: slower, but repeatable on the same hardware.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an integer between 0 and {_MAX_SEED}, got {seed!r}")
    seed = int(seed)  # a NumPy integer too (e.g. drawn with np.random.randint)
    random.seed(seed)
    np = _numpy()
    if np is not None:
        np.random.seed(seed)
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)  # seeds every CUDA device too
    if deterministic:
        # cuBLAS needs this to be deterministic; set before the first CUDA matmul.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def capture_rng_state() -> dict[str, Any]:
    """Snapshot of every RNG exptool seeds, as tensors and plain types (safe-loader friendly)."""
    import torch  # noqa: PLC0415

    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "torch": torch.get_rng_state(),
    }
    np = _numpy()
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype("int64")),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the RNG states from :func:`capture_rng_state` (missing parts are left alone)."""
    import torch  # noqa: PLC0415

    py = state.get("python")
    if py is not None:
        random.setstate((int(py["version"]), tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    if state.get("torch") is not None:
        torch.set_rng_state(state["torch"].cpu())
    npstate = state.get("numpy")
    np = _numpy()
    if npstate is not None and np is not None:
        keys = np.asarray(npstate["keys"].tolist(), dtype=np.uint32)
        np.random.set_state(
            (npstate["kind"], keys, int(npstate["pos"]), int(npstate["has_gauss"]), float(npstate["cached_gaussian"]))
        )
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        # A run resumed on fewer GPUs restores the devices it has.
        count = min(len(cuda), torch.cuda.device_count())
        for index in range(count):
            torch.cuda.set_rng_state(cuda[index].cpu(), index)


def _numpy() -> Any:
    try:
        import numpy  # noqa: PLC0415
    except ImportError:
        return None
    return numpy

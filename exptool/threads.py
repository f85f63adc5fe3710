"""How many CPU threads torch uses: one for tiny models, where more only cost time.

Torch runs each operation on a pool of intra-op threads (``torch.get_num_threads()``, by default
one per core). For a small model on the CPU each operation is too short to share: the threads
spend their time waking each other, and on a machine whose cores are busy with other work that
costs many times the computation itself (the built-in demo: 35 s with the default, 3 s with one
thread, on a loaded 2-core machine). Large models and big batches do gain from the pool.

Choose the count in any of these ways (the first that applies wins):

- ``OMP_NUM_THREADS=N exp train ...``: "auto" never overrides a count set in the environment;
- ``use_threads(N)``, ``ctx.use_threads(model, N)`` or ``--set threads=N`` in a trainer that calls
  ``ctx.use_threads``, or ``torch.set_num_threads(N)`` in your own code;
- ``use_threads("auto", model, device)`` (what the demo does): one thread for a model with fewer
  than :data:`TINY_PARAMETERS` parameters on the CPU, torch's default otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .errors import UsageError

__all__ = ["TINY_PARAMETERS", "limited_threads", "parse_threads", "threads_for", "use_threads"]

TINY_PARAMETERS = 1_000_000  # below this, one thread trains an MLP-sized model fastest


def _user_chose() -> bool:
    """True when the process was started with a thread count (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``)."""
    return any(os.environ.get(name, "").strip() for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))


def threads_for(model: Any, device: Any = None) -> int | None:
    """The intra-op thread count suited to training ``model`` on ``device``; None: keep torch's.

    One thread for a model with fewer than :data:`TINY_PARAMETERS` parameters on the CPU; None
    for anything larger, on a GPU, or when ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` is set.
    """
    if _user_chose():
        return None
    if device is not None and getattr(device, "type", str(device).split(":")[0]) != "cpu":
        return None
    parameters = sum(p.numel() for p in model.parameters()) if model is not None else None
    if parameters is None or parameters >= TINY_PARAMETERS:
        return None
    return 1


def parse_threads(threads: int | str | None) -> int | None:
    """``threads`` as a count, or None for ``"auto"``/None.

    Raises:
        UsageError: neither a positive whole number nor ``"auto"``.
    """
    if threads is None or (isinstance(threads, str) and threads.strip().lower() == "auto"):
        return None
    try:
        count = int(threads)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or isinstance(threads, bool) or (isinstance(threads, float) and threads != count):
        raise UsageError(f"threads must be a positive integer or 'auto', not {threads!r}.",
                         hint="e.g. --set threads=1, or threads=auto to let exptool choose")
    return count


def use_threads(threads: int | str | None = "auto", model: Any = None, device: Any = None) -> int:
    """Set torch's intra-op thread count and return the count in effect.

    Args:
        threads: a positive number, or ``"auto"``/None for :func:`threads_for` (``model`` and
            ``device`` then decide; nothing changes when it returns None).
        model: the model to be trained (for ``"auto"``).
        device: where it trains (for ``"auto"``; default: the CPU).

    Raises:
        UsageError: ``threads`` is neither a positive integer nor ``"auto"``.
    """
    import torch  # noqa: PLC0415 - keep torch out of `import exptool`

    chosen = parse_threads(threads)
    if chosen is None:
        chosen = threads_for(model, device)
    if chosen is not None and chosen != torch.get_num_threads():
        torch.set_num_threads(chosen)
    return torch.get_num_threads()


@contextlib.contextmanager
def limited_threads(most: int = 1) -> Iterator[None]:
    """Run the block with at most ``most`` intra-op threads, then restore the count.

    For memory-bound work such as copying a loaded checkpoint into a model: the pool does not
    make a copy faster, and on a busy machine it makes it many times slower.
    """
    import torch  # noqa: PLC0415

    before = torch.get_num_threads()
    if before <= most:
        yield
        return
    torch.set_num_threads(most)
    try:
        yield
    finally:
        torch.set_num_threads(before)

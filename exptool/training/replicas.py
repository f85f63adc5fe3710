"""Several processes, one model: the context's helpers for DDP, and a check that it is really shared.

With ``--nproc-per-node 2`` and a model that is not wrapped in ``DistributedDataParallel``, each
process trains its own copy on its share of the data and nothing says so: rank 0 saves its copy,
the other ranks' work is lost. :class:`ReplicaCheck` notices cheaply, without a collective (which
would hang a trainer that saves on rank 0 only): at every checkpoint each rank of this machine
appends the step and a checksum of the model's parameters to a file in a folder the launcher
shares with its workers; rank 0 compares the steps all ranks have written and warns once, naming
the fix. The launcher compares again at the end, for the last checkpoint.

:func:`wrap_model` and :func:`make_sampler` are what ``ctx.wrap_model(model)`` and
``ctx.sampler(dataset)`` call: DDP and a ``DistributedSampler`` for the current world size, and
the model / ``None`` unchanged in a single process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .. import runtime

REPLICA_ENV = "EXPTOOL_REPLICA_DIR"  # set by the torchrun launcher for its workers
_WARNED = "replicas-differ"


def wrap_model(model: Any, world_size: int, device: Any, **ddp_options: Any) -> Any:
    """``model`` in ``DistributedDataParallel`` when ``world_size`` > 1 (``device_ids`` set on CUDA)."""
    if world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

    if getattr(device, "type", None) == "cuda" and "device_ids" not in ddp_options:
        ddp_options["device_ids"] = [device.index if device.index is not None else 0]
    return DistributedDataParallel(model, **ddp_options)


def make_sampler(dataset: Any, world_size: int, rank: int, **options: Any) -> Any:
    """A ``DistributedSampler`` giving this rank its share of ``dataset``; None in a single process.

    Call ``sampler.set_epoch(epoch)`` at the start of every epoch so each epoch shuffles anew.
    """
    if world_size <= 1:
        return None
    from torch.utils.data import DistributedSampler  # noqa: PLC0415

    return DistributedSampler(dataset, num_replicas=world_size, rank=rank, **options)


def checksum(model: Any) -> tuple[float, float]:
    """(sum, sum of squares) of every parameter, in float64: equal on ranks holding one model."""
    import torch  # noqa: PLC0415

    module = getattr(model, "module", model)  # a DDP wrapper: its module
    total = torch.zeros((), dtype=torch.float64)
    squares = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for param in module.parameters():
            data = param.detach().to(torch.float64)
            total += data.sum().cpu()
            squares += (data * data).sum().cpu()
    return float(total), float(squares)


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


def _read(folder: Path, rank: int) -> dict[str, tuple[float, float]]:
    try:
        lines = (folder / f"replica-{rank}.txt").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            try:
                found[parts[0]] = (float(parts[1]), float(parts[2]))
            except ValueError:
                continue
    return found


def compare(folder: str | os.PathLike, world_size: int) -> str | None:
    """The warning to give when the ranks' checksums differ at a step all of them recorded, else None."""
    folder = Path(folder)
    sums = [_read(folder, rank) for rank in range(world_size)]
    if not all(sums):
        return None
    common = sorted(set.intersection(*(set(s) for s in sums)))
    for key in common:
        if not all(_close(sums[0][key], other[key]) for other in sums[1:]):
            where = f"epoch {key[1:]}" if key.startswith("e") else f"step {key}"
            return (f"the model differs between the {world_size} processes at the checkpoint of {where}: each "
                    "trains its own copy, and only rank 0's is saved. Wrap it in DistributedDataParallel "
                    "(model = ctx.wrap_model(model)) and give each rank its share of the data "
                    "(ctx.sampler(dataset)).")
    return None


def warn_once(folder: str | os.PathLike, message: str) -> None:
    """Warn with ``message`` unless a process of this job already did."""
    marker = Path(folder) / _WARNED
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    except OSError:
        pass
    else:
        os.close(fd)
    runtime.log.warning("%s", message)


class ReplicaCheck:
    """Records this rank's checksum at each checkpoint; rank 0 compares (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, rank: int, world_size: int):
        self.folder = Path(folder)
        self.rank = rank
        self.world_size = world_size

    def record(self, step: Any, epoch: Any, model: Any) -> None:
        if model is None or (step is None and epoch is None):
            return
        key = str(int(step)) if step is not None else f"e{int(epoch)}"
        try:
            total, squares = checksum(model)
            with open(self.folder / f"replica-{self.rank}.txt", "a", encoding="utf-8") as fh:
                fh.write(f"{key} {total!r} {squares!r}\n")
            if self.rank == 0:
                message = compare(self.folder, self.world_size)
                if message:
                    warn_once(self.folder, message)
        except Exception as exc:  # noqa: BLE001 - a diagnostic must never break training
            runtime.log.debug("replica check skipped: %s", exc)

    def attach(self, manager: Any) -> Any:
        """Make ``manager.save``/``save_async`` record the checksum first; returns the manager."""
        for name in ("save", "save_async"):
            original = getattr(manager, name)

            def checked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                named = dict(zip(("step", "epoch", "model"), args, strict=False)) | kwargs  # save(step, epoch, model)
                self.record(named.get("step"), named.get("epoch"), named.get("model"))
                return _original(*args, **kwargs)

            setattr(manager, name, checked)
        return manager

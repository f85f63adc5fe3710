"""Reading and writing one checkpoint file: payload, safe-type check, atomic write, safe load."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import re
import socket
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import file_mode
from .._text import clip
from ..errors import CheckpointError, UnreadableCheckpointError, UnsafeCheckpointError

FORMAT_KEY = "exptool_checkpoint"
FORMAT_VERSION = 1
TEMP_PREFIX = ".ckpt-"
TEMP_SUFFIX = ".tmp"

_STATE_KEYS = {
    "model": "model_state_dict",
    "optimizer": "optimizer_state_dict",
    "scheduler": "scheduler_state_dict",
    "scaler": "scaler_state_dict",
}
_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def unwrap_model(model: Any) -> Any:
    """The module under DDP/DataParallel (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    import torch  # noqa: PLC0415

    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def build_payload(
    *,
    step: int | None,
    epoch: int | None,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    scaler: Any = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    saved_at: str,
) -> dict[str, Any]:
    """The dict exptool saves. Keys follow the template (``model_state_dict``...) so old loaders work."""
    from ..reproducibility import capture_rng_state  # noqa: PLC0415

    payload: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION, "step": step, "epoch": epoch, "saved_at": saved_at}
    objects = {"model": unwrap_model(model) if model is not None else None, "optimizer": optimizer,
               "scheduler": scheduler, "scaler": scaler}
    for name, obj in objects.items():
        if obj is not None:
            payload[_STATE_KEYS[name]] = obj.state_dict()
    payload["metrics"] = clean_metrics(metrics)
    payload["extra"] = dict(extra) if extra is not None else {}
    payload["rng_state"] = capture_rng_state()
    check_safe(payload)
    return payload


def as_int(value: Any, name: str) -> int | None:
    """``value`` as a step or epoch number (None stays None); anything else is a CheckpointError."""
    if value is None:
        return None
    try:
        result = int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"{name} must be an integer, not {value!r}.") from None
    if isinstance(value, float) and value != result:  # int() would silently truncate 2.5 to 2
        raise CheckpointError(f"{name} must be an integer, not {value!r}.")
    if result < 0 or isinstance(value, bool):
        raise CheckpointError(f"{name} must be a non-negative integer, not {value!r}.")
    return result


def clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Metrics as ``{name: float}`` (tensors and NumPy scalars converted)."""
    result: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        try:
            result[str(key)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError, RuntimeError):
            raise CheckpointError(f"Metric {key!r} is not a number: {value!r}.") from None
    return result


def check_safe(obj: Any, where: str = "checkpoint") -> None:
    """Refuse anything ``torch.load(weights_only=True)`` would refuse, naming where it sits.

    Checked at save time so a long run never produces a checkpoint it cannot load safely.
    """
    import torch  # noqa: PLC0415

    if isinstance(obj, (*_PLAIN, torch.Tensor, torch.Size, torch.dtype, torch.device)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            check_safe(key, f"{where} key")
            check_safe(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, (list, tuple, set, frozenset)) and type(obj) in (list, tuple, set, frozenset, torch.Size):
        for index, value in enumerate(obj):
            check_safe(value, f"{where}[{index}]")
        return
    raise CheckpointError(
        f"Cannot checkpoint {where}: a {type(obj).__module__}.{type(obj).__qualname__} is not a tensor or plain type.",
        hint="Checkpoints hold only tensors, numbers, strings and lists/dicts of them, so they load with "
        "weights_only=True; convert the value (e.g. float(x), vars(obj), str(path)).",
    )


class _WritebackFile:
    """A minimal binary file for ``torch.save`` that starts writing dirty pages back to disk as it goes.

    Without this, the final fsync would wait for the whole file; with it, the disk works while
    torch serialises the rest, so a durable save costs about what a plain ``torch.save`` does.
    """

    _KICK_BYTES = 16 << 20

    def __init__(self, fd: int, kick: bool = True):
        self.fd = fd
        self.kick = kick and hasattr(os, "posix_fadvise")
        self.written = 0
        self.kicked = 0
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.write(self.fd, view[done:])
        except OSError as exc:  # torch turns it into "unexpected pos N vs M": keep the real cause
            self.error = exc
            raise
        self.written += done
        if self.kick and self.written - self.kicked >= self._KICK_BYTES:
            # DONTNEED on dirty pages starts their writeback without waiting for it (Linux).
            os.posix_fadvise(self.fd, self.kicked, self.written - self.kicked, os.POSIX_FADV_DONTNEED)
            self.kicked = self.written
        return done

    def flush(self) -> None:
        pass


def _no_zip_crc() -> Any:
    """Skip the zip CRC32s torch computes on save: ``torch.load`` never checks them, and they cost ~20%."""
    try:
        from torch.utils.serialization import config  # noqa: PLC0415

        return config.patch({"save.compute_crc32": False})
    except (ImportError, AttributeError, KeyError, TypeError):
        return contextlib.nullcontext()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _temp_prefix() -> str:
    """``.ckpt-HOST-PID-``: tells a later process whether the writer of a temp file is still alive."""
    return f"{TEMP_PREFIX}{_host()}-{os.getpid()}-"


def is_abandoned_temp(path: Path, *, max_age: float = 3600.0) -> bool:
    """True for a temp checkpoint whose writer is gone: a dead process on this host, or an old file.

    Another process may be saving into the same folder right now (an evaluation script next to a
    training run), so a temp file is only removed when its writer cannot still be writing it.
    """
    found = re.fullmatch(rf"{re.escape(TEMP_PREFIX)}([A-Za-z0-9]*)-(\d+)-.*{re.escape(TEMP_SUFFIX)}", path.name)
    if found and found.group(1) == _host() and int(found.group(2)) != os.getpid() and os.name == "posix":
        try:
            os.kill(int(found.group(2)), 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
    try:
        return time.time() - path.stat().st_mtime > max_age
    except OSError:
        return False


def write_atomic(payload: Mapping[str, Any], path: Path, *, fsync: bool = True) -> int:
    """``torch.save`` to a temp file in the same folder, fsync, ``os.replace``; returns the size in bytes.

    The caller must fsync the folder afterwards (writing the manifest does) for the rename to be durable.
    """
    import torch  # noqa: PLC0415

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(), suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise write_failed(path, exc) from exc
    out = _WritebackFile(fd, kick=fsync)
    try:
        os.fchmod(fd, file_mode(path))  # mkstemp makes it 0600; a shared group must read checkpoints too
        try:
            with _no_zip_crc():
                torch.save(payload, out)
            if fsync:
                os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        cause = exc if isinstance(exc, OSError) else out.error
        if cause is not None and isinstance(exc, Exception):
            raise write_failed(path, cause) from exc
        raise
    # No directory fsync here: the manager's manifest write right after syncs the same folder,
    # which makes both renames durable together and costs one fsync less per save.
    return size


def write_failed(path: Path, exc: OSError) -> CheckpointError:
    """``no space left on device while saving checkpoint PATH``, and the like for other I/O errors."""
    reason = (exc.strerror or str(exc)).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    hint = "Free some space (or move old checkpoints away) and resume." if exc.errno in _FULL else None
    return CheckpointError(f"{reason} while saving checkpoint {path}.", hint=hint)


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def probe(path: Path) -> None:
    """Check that ``path`` loads with the safe loader, without reading its tensors (memory-mapped).

    Raises:
        UnreadableCheckpointError: exptool may not read it.
        UnsafeCheckpointError, CheckpointError: refused by the safe loader, or damaged.
    """
    try:
        read(path, map_location="cpu", mmap=True)
    except CheckpointError as exc:
        if "mmap" not in str(exc):
            raise
        read(path, map_location="cpu")  # a legacy (non-zip) file cannot be memory-mapped


def can_mmap(path: Path, map_location: Any) -> bool:
    """True when ``torch.load(mmap=True)`` applies: a zip-format file (what ``torch.save`` writes
    since 1.6) loaded onto the CPU. Then loading maps the file instead of reading it into memory."""
    if map_location not in (None, "cpu") and str(map_location) != "cpu":
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False  # torch.load reports it


def read(path: Path, *, map_location: Any = None, weights_only: bool = True, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint file; every failure becomes a one-line :class:`CheckpointError`.

    ``mmap=True`` maps the file where :func:`can_mmap` allows it (and reads it otherwise).
    """
    import torch  # noqa: PLC0415

    mmap = mmap and can_mmap(path, map_location)
    try:
        data = torch.load(path, map_location=map_location, weights_only=weights_only, mmap=mmap or None)
    except FileNotFoundError:
        raise CheckpointError(f"Checkpoint {path} not found.") from None
    except IsADirectoryError:
        raise CheckpointError(f"Checkpoint {path} is a folder, not a file.") from None
    except PermissionError as exc:
        raise UnreadableCheckpointError(
            f"Cannot read checkpoint {path}: {exc.strerror or exc}.",
            hint="Fix its permissions (e.g. chmod u+r); exptool never deletes a checkpoint it cannot read.",
        ) from None
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise UnsafeCheckpointError(
                f"Checkpoint {path} holds an object the safe loader refuses ({found.group(1)}).",
                hint="Load it only if you trust where it came from, by passing weights_only=False.",
            ) from None
        if "weights only load failed" in str(exc).lower():
            raise UnsafeCheckpointError(
                f"Checkpoint {path} holds data the safe loader (weights_only=True) refuses: {_refusal(exc)}.",
                hint="Load it only if you trust where it came from, by passing weights_only=False.",
            ) from None
        raise _corrupt(path, exc) from None
    except MemoryError:
        raise
    except Exception as exc:  # torch reports a damaged zip as RuntimeError, ValueError, EOFError...
        raise _corrupt(path, exc) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"Checkpoint {path} holds a {type(data).__name__}, not a dict of states.")
    if "model_state_dict" not in data and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        data = {"model_state_dict": data}  # a bare state_dict saved with torch.save(model.state_dict())
    return data


def _refusal(exc: BaseException) -> str:
    """The reason in torch's long weights_only message ("Unsupported operand 73"), without its advice."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|$)", text, re.S)
    if found and found.group(1).strip():
        return clip(found.group(1), 160).rstrip(".")
    boilerplate = ("weights only load failed", "please file an issue", "check the documentation", "in pytorch")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.lower().startswith(boilerplate)]
    return clip(useful[0] if useful else "not a plain tensor file", 160).rstrip(".")


def _corrupt(path: Path, exc: BaseException) -> CheckpointError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = first.split(". This is an internal")[0]
    error = CheckpointError(f"Checkpoint {path} is damaged or not a PyTorch checkpoint ({clip(first, 160)}).")
    error.detail = clip(first, 160)  # type: ignore[attr-defined] - the reason alone, for the manifest
    return error


def apply(data: Mapping[str, Any], path: Path, *, model: Any = None, optimizer: Any = None, scheduler: Any = None,
          scaler: Any = None, strict: bool = True) -> None:
    """Load the states in ``data`` into the given objects.

    The copies run on one intra-op thread: copying is memory-bound, and torch's thread pool made
    ``load_state_dict`` of a 1 GiB model 20x slower on a busy machine (2 s against 0.1 s).
    """
    from ..threads import limited_threads  # noqa: PLC0415

    with limited_threads(1):
        _apply(data, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, strict=strict)


def _apply(data: Mapping[str, Any], path: Path, *, model: Any, optimizer: Any, scheduler: Any, scaler: Any,
           strict: bool) -> None:
    targets = {"model": unwrap_model(model) if model is not None else None, "optimizer": optimizer,
               "scheduler": scheduler, "scaler": scaler}
    for name, target in targets.items():
        if target is None:
            continue
        key = _STATE_KEYS[name]
        if key not in data:
            raise CheckpointError(f"Checkpoint {path} has no {name} state ({key}).")
        state = data[key]
        try:
            if name == "model":
                target.load_state_dict(_strip_prefixes(state), strict=strict)
            else:
                target.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            detail = " ".join(str(exc).split())
            raise CheckpointError(f"Checkpoint {path}: the {name} state does not fit: {clip(detail, 300)}") from None


def _strip_prefixes(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop the ``module.`` / ``_orig_mod.`` key prefixes that wrapped models leave in older checkpoints."""
    for prefix in ("module.", "_orig_mod."):
        if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
            state = type(state)((k[len(prefix):], v) for k, v in state.items())
    return state

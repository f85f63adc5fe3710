"""Host-memory copies of the states an asynchronous save writes (:meth:`CheckpointManager.save_async`)."""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class HostStaging:
    """Copies states into host-memory buffers that are reused from one asynchronous save to the next.

    Reusing buffers avoids allocating (and page-faulting) a fresh copy of the model every time,
    which is most of the cost of a copy; it keeps one host copy of the state alive between saves.
    Only call :meth:`copy` once the previous copy has been written.
    """

    _MIN_SHARE_BYTES = 8 << 20  # below this per thread, handing work to a thread costs more than it saves
    _MAX_THREADS = 4

    def __init__(self) -> None:
        self._buffers: dict[tuple, Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def copy(self, obj: Any) -> Any:
        """A copy of ``obj`` whose tensors live in host memory and share nothing with the originals."""
        import torch  # noqa: PLC0415

        used_cuda: list[bool] = []
        moves: list[tuple[int, int, int]] = []
        result = self._copy(obj, (), used_cuda, moves)
        self._memmove_all(moves, torch.get_num_threads())
        if used_cuda:
            torch.cuda.synchronize()  # the non-blocking device-to-host copies must land first
        return result

    def _memmove_all(self, moves: list[tuple[int, int, int]], threads: int) -> None:
        """Run the ``(dst, src, nbytes)`` host copies, over up to ``threads`` threads.

        One thread's memcpy does not saturate memory bandwidth: on an idle 2-core machine a second
        thread cuts the time the caller is blocked by about a third. ``ctypes.memmove`` releases the
        GIL, and these are plain Python threads: unlike torch's OpenMP ``copy_``, nothing spins
        waiting when the cores are busy (then it is about as fast as one thread).
        """
        total = sum(size for _, _, size in moves)
        threads = max(1, min(threads, self._MAX_THREADS, total // self._MIN_SHARE_BYTES))
        if threads == 1:
            _memmove_each(moves)
            return
        if self._pool is None or self._pool_pid != os.getpid():  # a forked child has no pool threads
            self._pool = ThreadPoolExecutor(self._MAX_THREADS - 1, thread_name_prefix="exptool-host-copy")
            self._pool_pid = os.getpid()
        shares = _split(moves, -(-total // threads))
        helpers = [self._pool.submit(_memmove_each, share) for share in shares[1:]]
        _memmove_each(shares[0])
        for helper in helpers:
            helper.result()

    def _copy(self, obj: Any, key: tuple, used_cuda: list[bool], moves: list[tuple[int, int, int]]) -> Any:
        import torch  # noqa: PLC0415

        if isinstance(obj, torch.Tensor):
            src = obj.detach()
            buf = self._buffers.get(key)
            if buf is None or buf.shape != src.shape or buf.dtype != src.dtype or buf.layout != src.layout:
                pin = src.device.type == "cuda"
                buf = torch.empty_like(src, device="cpu", pin_memory=pin) if src.layout == torch.strided else None
                if buf is None:  # sparse and other layouts: a plain copy
                    return src.to("cpu", copy=True)
                self._buffers[key] = buf
            if src.device.type == "cuda":
                used_cuda.append(True)
                buf.copy_(src, non_blocking=True)
            elif src.numel() == 0:
                pass
            elif src.device.type == "cpu" and src.is_contiguous() and buf.is_contiguous() and not src.is_conj():
                # A plain memcpy: torch's parallel copy_ is several times slower on a busy machine.
                moves.append((buf.data_ptr(), src.data_ptr(), src.numel() * src.element_size()))
            else:
                buf.copy_(src)
            return buf
        if isinstance(obj, dict):
            copy = type(obj)() if type(obj) is not dict else {}
            for k, value in obj.items():
                copy[k] = self._copy(value, (*key, k), used_cuda, moves)
            if hasattr(obj, "_metadata"):  # module versions that load_state_dict reads
                copy._metadata = obj._metadata
            return copy
        if type(obj) in (list, tuple):
            return type(obj)(self._copy(v, (*key, i), used_cuda, moves) for i, v in enumerate(obj))
        return obj


def _memmove_each(moves: list[tuple[int, int, int]]) -> None:
    for dst, src, size in moves:
        ctypes.memmove(dst, src, size)


def _split(moves: list[tuple[int, int, int]], share: int) -> list[list[tuple[int, int, int]]]:
    """Cut the ``(dst, src, nbytes)`` copies into consecutive shares of ``share`` bytes (the last smaller)."""
    shares: list[list[tuple[int, int, int]]] = [[]]
    room = share
    for dst, src, size in moves:
        done = 0
        while done < size:
            if room == 0:
                shares.append([])
                room = share
            part = min(room, size - done)
            shares[-1].append((dst + done, src + done, part))
            done += part
            room -= part
    return shares

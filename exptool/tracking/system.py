"""System metrics: a background thread samples CPU, memory and GPUs every few seconds.

What one sample holds (names as logged under ``system/`` in TensorBoard and W&B, and as columns
of ``logs/system.csv``):

==========================  ==============================================================
``cpu_percent``             the machine's CPU use, 0-100 (all cores)
``ram_used_gib``            the machine's memory in use (total less available), GiB
``ram_percent``             the same as a share of the total, 0-100
``proc_rss_gib``            resident memory of the training's process tree (the process and its
                            children, e.g. DataLoader workers; under torchrun every local worker)
``proc_cpu_percent``        CPU use of that process tree (100 = one core busy)
``gpu<i>/util_percent``     per visible GPU (``i`` as CUDA numbers them): utilisation, 0-100
``gpu<i>/mem_used_gib``     memory used and ``gpu<i>/mem_total_gib`` its total, GiB
``gpu<i>/power_w``          power draw, W
``gpu<i>/temp_c``           temperature, °C
==========================  ==============================================================

GPU readings come from NVML (``nvidia-ml-py``) and appear only where an NVIDIA driver and GPU are
present. The sampler never touches torch or CUDA (no synchronisation with training), sleeps on an
event between samples, is a daemon thread and is stopped (joined) with the logger, so it neither
outlives the run nor holds up the interpreter's exit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..runtime import warn

DEFAULT_INTERVAL_S = 10.0
MIN_INTERVAL_S = 0.05
_GIB = float(1 << 30)
_STOP_WAIT_S = 5.0

Emit = Callable[[float, dict[str, float]], None]


def check_interval(value: Any) -> float:
    """``value`` as a sampling interval in seconds; raises ValueError unless a number >= 0.05."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= MIN_INTERVAL_S:
        raise ValueError(f"expected a number of seconds of at least {MIN_INTERVAL_S}, not {value!r}")
    return float(value)


def _tree_root() -> int:
    """The process whose tree is measured: this one, or torchrun's agent (all local workers)."""
    if os.environ.get("TORCHELASTIC_RUN_ID") and os.environ.get("LOCAL_RANK") is not None:
        return os.getppid()
    return os.getpid()


class _Probe:
    """Reads the machine (psutil) and the GPUs (NVML). Not thread-safe: one sampler owns it."""

    def __init__(self, root_pid: int, gpus: bool):
        import psutil  # noqa: PLC0415 - only where system metrics are on

        from ._nvml import open_gpus  # noqa: PLC0415

        self._psutil = psutil
        self._root = psutil.Process(root_pid)
        self._procs: dict[int, Any] = {}  # pid -> Process, kept so cpu_percent() measures since the last sample
        self._gpus = open_gpus() if gpus else None
        psutil.cpu_percent(None)  # the first call only starts the measurement
        self._tree_cpu()

    @property
    def gpu_count(self) -> int:
        return len(self._gpus) if self._gpus is not None else 0

    def _tree_cpu(self) -> tuple[float, float]:
        psutil = self._psutil
        try:
            members = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            members = [self._root]
        alive: dict[int, Any] = {}
        rss = cpu = 0.0
        for proc in members:
            proc = self._procs.get(proc.pid, proc)
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    cpu += proc.cpu_percent(None)
            except psutil.Error:  # ended between listing and reading it
                continue
            alive[proc.pid] = proc
        self._procs = alive
        return rss, cpu

    def read(self) -> dict[str, float]:
        psutil = self._psutil
        vm = psutil.virtual_memory()
        rss, cpu = self._tree_cpu()
        values = {
            "cpu_percent": float(psutil.cpu_percent(None)),
            "ram_used_gib": (vm.total - vm.available) / _GIB,
            "ram_percent": float(vm.percent),
            "proc_rss_gib": rss / _GIB,
            "proc_cpu_percent": cpu,
        }
        if self._gpus is not None:
            values.update(self._gpus.read())
        return values

    def close(self) -> None:
        if self._gpus is not None:
            self._gpus.close()


class SystemSampler:
    """Sample system metrics every ``interval`` seconds on a daemon thread and hand them to ``emit``.

    ``emit(wall_time, values)`` runs on the sampler's thread with names like ``cpu_percent`` and
    ``gpu0/util_percent`` (see the module docstring). A last sample is taken when the sampler
    stops, so even a run shorter than the interval has one.

    Args:
        emit: receives each sample.
        interval: seconds between samples (at least 0.05).
        gpus: read NVIDIA GPUs when NVML is available.
        root_pid: the process whose tree is measured (default: this one, or torchrun's agent).

    Example::

        sampler = SystemSampler(lambda t, values: print(values), interval=1.0).start()
        ...
        sampler.stop()
    """

    def __init__(self, emit: Emit, interval: float = DEFAULT_INTERVAL_S, *, gpus: bool = True,
                 root_pid: int | None = None):
        self.interval = check_interval(interval)
        self.samples = 0
        self._emit = emit
        self._gpus = gpus
        self._root_pid = _tree_root() if root_pid is None else root_pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe: _Probe | None = None
        self._failed = False

    @property
    def running(self) -> bool:
        """True while the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def gpu_count(self) -> int:
        """How many GPUs each sample reads (0 without NVIDIA GPUs)."""
        return self._probe.gpu_count if self._probe is not None else 0

    def start(self) -> SystemSampler:
        """Open the probes and start the thread (raises ImportError without psutil)."""
        if self._thread is not None:
            return self
        self._probe = _Probe(self._root_pid, self._gpus)
        self._thread = threading.Thread(target=self._loop, name="exptool-system-metrics", daemon=True)
        self._thread.start()
        return self

    def _emit_one(self) -> None:
        try:
            values = self._probe.read()
            self._emit(time.time(), values)
            self.samples += 1
        except Exception as exc:  # noqa: BLE001 - a sampler must never take training down
            if not self._failed:
                self._failed = True
                what = f"{exc.__class__.__name__}: {exc}"
                warn(f"system metrics: a sample failed ({what}); later samples are still tried.")

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._emit_one()
            if self._final:
                self._emit_one()
        finally:
            self._probe.close()

    _final = True

    def stop(self, final_sample: bool = True, timeout: float = _STOP_WAIT_S) -> None:
        """Stop the thread (after one last sample unless ``final_sample`` is False) and wait for it.

        Safe to call twice. A thread stuck in the driver longer than ``timeout`` is left behind as
        a daemon (it cannot hold up the exit) and a warning says so.
        """
        thread = self._thread
        if thread is None or self._stop.is_set():
            return
        self._final = final_sample
        self._stop.set()
        if thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            warn(f"system metrics: the sampler did not stop within {timeout:g} s; leaving it behind.")


class _LoggerSink:
    """Where a logger's samples go: ``logs/system.csv`` and every writer's ``log_system``."""

    def __init__(self, logger: Any, csv_file: Any):
        self._logger = logger
        self._csv = csv_file

    def __call__(self, wall_time: float, values: dict[str, float]) -> None:
        logger = self._logger
        # A timeout, not a plain wait: finish() may run in a signal handler on a thread that holds
        # the lock while it waits for this thread; the sample is dropped instead of deadlocking.
        if not logger._lock.acquire(timeout=1.0):
            return
        try:
            if logger._finished:
                return
            step = logger._step
            if self._csv is not None:
                try:
                    self._csv.write(wall_time, step, values)
                except OSError as exc:
                    warn(f"system metrics: cannot write {self._csv.path} ({exc}); it is not written any more.")
                    self.close()
            prefixed = {"system/" + name: value for name, value in values.items()}
            logger._each("log_system", 0 if step is None else step, prefixed, wall_time)
        finally:
            logger._lock.release()

    def close(self) -> None:
        locked = self._logger._lock.acquire(timeout=1.0)
        try:
            if self._csv is not None:
                try:
                    self._csv.close()
                except OSError:
                    pass
                self._csv = None
        finally:
            if locked:
                self._logger._lock.release()


class LoggerSystemMetrics:
    """A :class:`SystemSampler` feeding one logger; what :meth:`Logger.log_system_metrics` returns."""

    def __init__(self, logger: Any, interval: float, gpus: bool):
        from ..system_file import FILE_NAME, SystemCsv  # noqa: PLC0415

        interval = check_interval(interval)
        csv_file = None
        try:
            csv_file = SystemCsv(logger.run.logs_dir / FILE_NAME)
        except (OSError, ValueError) as exc:
            warn(f"system metrics: {exc}; they go to the other writers only.")
        self._sink = _LoggerSink(logger, csv_file)
        self.sampler = SystemSampler(self._sink, interval, gpus=gpus)
        try:
            self.sampler.start()
        except BaseException:
            self._sink.close()
            raise

    @property
    def interval(self) -> float:
        return self.sampler.interval

    @property
    def samples(self) -> int:
        """Samples recorded so far."""
        return self.sampler.samples

    @property
    def running(self) -> bool:
        return self.sampler.running

    def stop(self, final_sample: bool = True) -> None:
        """Stop sampling (one last sample first, by default) and close ``system.csv``."""
        self.sampler.stop(final_sample=final_sample)
        self._sink.close()

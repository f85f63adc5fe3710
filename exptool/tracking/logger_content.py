"""What a :class:`~exptool.tracking.Logger` logs besides scalar metrics: images, histograms, the
config, text, the model's architecture, the git commit, messages for ``logs/log.txt``, and system
metrics. Each method hands its item to every writer through the Logger's fan-out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..config import as_config_dict
from ..errors import UsageError
from .textlog import check_level


class LoggerContentMixin:
    """The Logger's ``log_image``, ``log_histogram``, ``log_config``, ``log_text``, ``log_architecture``,
    ``log_git_hash``, ``log_info`` and ``log_system_metrics``, mixed into :class:`~exptool.tracking.Logger`."""

    run: Any
    echo: bool

    def log_image(self, name: str, image: Any, step: int | None = None) -> Path | None:
        """Save ``image`` as ``visualizations/<name>_step<step>.png`` and send it to the writers.

        ``image``: numpy array, tensor or PIL image; HW, HWC, CHW or a batch (BHWC/BCHW, tiled
        into a grid); pixel values as :mod:`exptool.images` reads them (floats on a 0..1 scale,
        integers on 0..255, widened when values fall outside). ``step`` defaults to the last step logged.
        Returns the PNG's path (None on ranks that do not write).
        """
        from ..images import image_filename, prepare_image, save_png  # noqa: PLC0415

        if self.run is None or not self._usable() or not (self.is_main or self._fanout or self._recovery.failing):
            return None
        step = self._step_or_last(step)
        data = prepare_image(image, name)
        tag = name[:-4] if name.lower().endswith(".png") else name
        path = None
        if self.is_main:
            path = self.run.visualizations_dir / image_filename(name, step)
            try:
                save_png(data, path, fsync=False)
            except OSError as exc:  # a full disk must not stop training: the writers still get it
                with self._lock:
                    self._recovery.file_lost("png", exc)
                path = None
        with self._lock:
            self._each("log_image", tag, data, step, size=len(data.png))
        return path

    def log_histogram(self, name: str, values: Any, step: int | None = None, bins: int = 64) -> None:
        """Log the distribution of ``values`` (array or tensor; non-finite values are left out)."""
        if not (self._fanout or self._recovery.failing) or not self._usable():
            return
        import numpy as np  # noqa: PLC0415

        if type(bins) is not int or bins < 1:
            raise UsageError(f"Histogram {name!r}: bins must be a positive integer, not {bins!r}.")
        if hasattr(values, "detach"):
            values = values.detach().cpu().double().numpy()
        try:
            arr = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise UsageError(f"Histogram {name!r} needs numbers (an array or tensor).") from None
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            raise UsageError(f"Histogram {name!r} has no finite values.")
        counts, edges = np.histogram(arr, bins=bins)
        step = self._step_or_last(step)
        with self._lock:
            self._each("log_histogram", name, arr, step, counts, edges, size=arr.nbytes)

    def log_config(self, config: Any) -> None:
        """Record the run's configuration: the text log, TensorBoard text/hparams and W&B config."""
        if self.run is None or not self._usable():
            return

        data = as_config_dict(config)
        if self._status is not None:
            self._status.record_config(data)
        if self._text is not None:
            self._text.write("config: " + json.dumps(data, default=str, sort_keys=False), "info")
        with self._lock:
            self._each("log_config", data)

    def log_text(self, tag: str, text: str, step: int | None = None) -> None:
        """Send a piece of text to the writers that show text (TensorBoard, W&B summary)."""
        if not (self._fanout or self._recovery.failing) or not self._usable():
            return
        step = self._step_or_last(step)
        with self._lock:
            self._each("log_text", tag, text, step, size=len(text))

    def log_architecture(self, model: Any) -> str:
        """Write ``logs/architecture.txt`` (parameter counts and module tree) and return its text."""
        from .architecture import describe  # noqa: PLC0415

        text = describe(model)
        if self.run is None or not self._usable() or not self.is_main:
            return text
        self.run.logs_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.logs_dir / "architecture.txt", text)
        self._text.write(text.split("\n", 2)[1] + " (see logs/architecture.txt)", "info")
        self.log_text("architecture", "\n".join("    " + line for line in text.splitlines()), 0)
        return text

    def log_git_hash(self) -> str | None:
        """Record the workspace's git commit (``<hash>`` plus ``-dirty`` with uncommitted changes).

        Returns it, or None when the workspace is not in a git repository.
        """
        root = self.run.workspace.root if self.run is not None else Path.cwd()
        from ..provenance import git_hash as find_git_hash  # noqa: PLC0415

        git_hash = find_git_hash(root)
        if self.run is None or not self._usable():
            return git_hash
        if git_hash is None:
            self.log_info(f"{root} is not in a git repository (or git is missing); no commit recorded.", "warning")
            return None
        if self._text is not None:
            self._text.write(f"git commit: {git_hash}", "info")
        self.log_text("git_hash", git_hash, 0)
        return git_hash

    def log_info(self, message: Any, level: str = "info", *, message_type: str | None = None) -> None:
        """Append a timestamped line to ``logs/log.txt`` (and print it unless ``echo`` is off).

        ``level``: debug, info, warning, error or critical (``message_type`` is the template's
        name for it). Debug lines are not printed.
        """
        level = check_level(message_type if message_type is not None else level)
        if not self.is_main:
            return
        if self._text is not None and not self._finished:
            self._text.write(str(message), level)
        if self.echo and level != "debug":
            if level == "info":
                print(message, flush=True)
            else:
                print(f"{level}: {message}", file=sys.stderr, flush=True)

    def log_system_metrics(self, interval: float = 10.0, gpus: bool = True) -> Any:
        """Sample system metrics every ``interval`` seconds until the logger finishes.

        CPU %, memory, the process tree's resident memory and, with NVIDIA GPUs, their
        utilisation, memory, power and temperature (names in :mod:`exptool.tracking.system`) go to
        ``logs/system.csv`` (one row per sample, by wall time) and to the writers under ``system/``
        (TensorBoard, W&B), at the training step current when sampled. A background thread does
        the work; it never touches CUDA. Only rank 0 samples; calling this twice keeps the first.

        Returns:
            The running sampler (``.stop()``, ``.samples``), or None where nothing is sampled.

        Raises:
            UsageError: ``interval`` is not a number of seconds of at least 0.05.
        """
        from .system import LoggerSystemMetrics, check_interval  # noqa: PLC0415

        try:
            interval = check_interval(interval)
        except ValueError as exc:
            raise UsageError(f"System metrics interval: {exc}.") from None
        if self.run is None or not self.is_main or self._finished:
            return None
        with self._lock:
            if self._system is None:
                self._system = LoggerSystemMetrics(self, interval, gpus)
        if self._text is not None:
            self._text.write(f"system metrics every {interval:g} s", "info")
        return self._system

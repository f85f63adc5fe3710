"""The writer contract: what every tracking backend (CSV, TensorBoard, W&B, yours) implements.

A writer receives already-converted data from :class:`exptool.tracking.Logger`: metric values are
Python floats, images are HWC ``uint8`` arrays with their PNG bytes, steps are ints. Only
``log_metrics`` is required; the other methods default to doing nothing, so a writer that only
cares about scalars stays tiny.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..._atomic import close_durably

if TYPE_CHECKING:  # pragma: no cover
    from ...images import ImageData


class Writer:
    """Base class of tracking writers.

    Writers are built by a factory called as ``factory(run=run, resume_step=resume_step, **options)``
    (a Writer subclass is such a factory). ``run`` is the :class:`exptool.workspace.Run` whose
    folders the writer may use; ``resume_step``, when not None, means "training restarts after this
    step: forget anything logged for later steps".

    Attributes:
        name: short name shown in warnings.
        all_ranks: False (default) means the writer only exists on rank 0 of a multi-process job;
            True means every rank gets its own instance.
    """

    name = "writer"
    all_ranks = False

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        """Record scalar ``metrics`` (name -> float) for ``step`` at ``wall_time`` (epoch seconds)."""
        raise NotImplementedError

    def log_image(self, tag: str, image: ImageData, step: int) -> None:  # noqa: B027 - optional hook
        """Record an image (``image.array`` is HWC uint8, ``image.png`` its PNG encoding)."""

    def log_histogram(  # noqa: B027 - optional hook
        self, tag: str, values: Any, step: int, counts: Sequence[float], edges: Sequence[float]
    ) -> None:
        """Record a histogram: the raw ``values`` (1-D float64 numpy array) and their binning."""

    def log_config(self, config: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Record the run's configuration (a JSON-like mapping)."""

    def log_text(self, tag: str, text: str, step: int) -> None:  # noqa: B027 - optional hook
        """Record a piece of text (architecture summary, git hash)."""

    def log_system(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:  # noqa: B027
        """Record a system-metrics sample (names start with ``system/``), taken at ``wall_time``.

        ``step`` is the last training step logged when the sample was taken (0 before any). Called
        from the sampler's thread, under the logger's lock. Optional: the default records nothing.
        """

    def resume(self, step: int) -> None:  # noqa: B027 - optional hook
        """Drop whatever was recorded for steps after ``step``; later calls continue from there.

        ``step`` is -1 to drop everything (``Logger(history="restart")``, or a restart at step 0).
        """

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Hand everything buffered to the operating system."""

    def recover(self) -> None:  # noqa: B027 - optional hook
        """Get ready to write again after a call raised an ``OSError`` (a full disk, a lost mount).

        The Logger keeps the calls that failed and replays them after this returns, so put files
        back in the state of the last call that succeeded (reopen them, cut off half-written
        records). Raise ``OSError`` if that is not possible yet: it is tried again on the next call.
        """

    def close(self) -> None:
        """Flush and release files, threads and connections. Called once."""
        self.flush()


class _FileWriter(Writer):
    """A writer whose output is one open binary file, ``self._fh`` (None once closed)."""

    _fh: Any = None

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        """Flush, fsync (the data survives a power cut, not only a crash) and close the file."""
        if self._fh is None:
            return
        close_durably(self._fh)
        self._fh = None

"""Weights & Biases writer: a background thread owns the W&B run, so training never waits on it.

``wandb.init`` (which may wait on the network) and every upload call run on a worker thread fed by
a queue; the training thread only enqueues. Without credentials (no ``WANDB_API_KEY``, no netrc
entry) or with ``WANDB_MODE=offline`` the run is recorded offline under ``logs/wandb/`` and the
``wandb sync`` command that uploads it is printed. Any W&B error becomes one warning: the writer
stops, training and the other writers go on.
"""

from __future__ import annotations

import atexit
import netrc
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..._atomic import atomic_write_text
from ...runtime import warn
from .base import Writer

_RUN_ID_FILE = "wandb_run_id.txt"
_CLOSE = object()
_START_GRACE = 5.0  # seconds close() waits for a W&B run that has not started yet


def _warn(message: str) -> None:
    warn(message)


def has_credentials() -> bool:
    """True if W&B could authenticate: ``WANDB_API_KEY`` or a netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    try:
        auth = netrc.netrc(os.environ.get("NETRC") or None).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def choose_mode(mode: str | None = None) -> tuple[str, str | None]:
    """W&B mode to use and, when it is offline by necessity or choice, the reason to tell the user."""
    requested = (mode or os.environ.get("WANDB_MODE") or "").strip().lower()
    if requested in ("disabled", "off"):
        return "disabled", None
    if requested in ("offline", "dryrun"):
        return "offline", "offline mode requested"
    if not has_credentials():
        return "offline", "no W&B credentials found (set WANDB_API_KEY or run `wandb login`)"
    return "online", None


class WandbWriter(Writer):
    """Log to a W&B run named ``exp/run`` (grouped by experiment) from a background thread.

    Args:
        run: the exptool run; W&B files go to its ``logs/wandb/``.
        resume_step: when given and online, continue the W&B run recorded for this exptool run.
        project: W&B project (default: the workspace folder's name).
        entity: W&B entity (team or user).
        mode: "online", "offline" or "disabled" (default: ``WANDB_MODE``, else online if logged in).
        init_timeout: seconds ``wandb.init`` may wait for the server before giving up.
        finish_timeout: seconds ``close`` waits for W&B to finish before leaving it in the background
            (at most 5 of them while ``wandb.init`` is still waiting for the server).
        **init_kwargs: passed to ``wandb.init`` (tags, notes, config, ...).
    """

    name = "wandb"

    def __init__(
        self,
        run: Any = None,
        resume_step: int | None = None,
        project: str | None = None,
        entity: str | None = None,
        mode: str | None = None,
        init_timeout: float = 30.0,
        finish_timeout: float = 30.0,
        **init_kwargs: Any,
    ):
        self.mode, reason = choose_mode(mode)
        self.wandb_run: Any = None
        self.sync_dir: Path | None = None
        self.failed = False
        self._finish_timeout = finish_timeout
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread: threading.Thread | None = None
        if self.mode == "disabled":
            return
        self._logs_dir = Path(run.logs_dir) if run is not None else Path.cwd()
        if reason:
            _warn(f"W&B: {reason}; logging offline to {self._logs_dir / 'wandb'} (upload later with `wandb sync`).")
        init = {
            "project": project or (run.workspace.root.name if run is not None else None),
            "entity": entity,
            "name": run.id if run is not None else None,
            "group": run.experiment.name if run is not None else None,
            "dir": str(self._logs_dir),
            "mode": self.mode,
            **init_kwargs,
        }
        stored = self._logs_dir / _RUN_ID_FILE
        if resume_step is not None and self.mode == "online" and stored.is_file():
            init.update(id=stored.read_text(encoding="utf-8").strip(), resume="allow")
        self._thread = threading.Thread(
            target=self._work, args=(init, init_timeout), name="exptool-wandb", daemon=True
        )
        self._thread.start()

    # -- worker thread -------------------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException) -> None:
        if not self.failed:
            self.failed = True
            _warn(f"W&B {what} failed ({exc.__class__.__name__}: {exc}); continuing without W&B.")

    def _work(self, init: dict[str, Any], init_timeout: float) -> None:
        try:
            import wandb  # noqa: PLC0415

            settings = wandb.Settings(init_timeout=init_timeout)
            self._logs_dir.mkdir(parents=True, exist_ok=True)
            self.wandb_run = wandb.init(settings=settings, reinit="create_new", **init)
            self.sync_dir = Path(self.wandb_run.settings.sync_dir)
            atomic_write_text(self._logs_dir / _RUN_ID_FILE, self.wandb_run.id + "\n", fsync=False)
            # W&B tears its service down at exit; registered after it, this close runs first.
            atexit.register(self.close)
        except BaseException as exc:  # noqa: BLE001 - any W&B failure must not reach training
            self._fail("start", exc)
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                break
            if self.failed or self.wandb_run is None:
                continue
            try:
                self._handle(wandb, item)
            except BaseException as exc:  # noqa: BLE001
                self._fail("logging", exc)
        if self.wandb_run is not None:
            try:
                self.wandb_run.finish()
                # finish() returns before W&B's service has written the run's .wandb file; when no
                # other W&B run is active in this process, tearing the service down waits for it.
                if wandb.run is None:
                    wandb.teardown()
            except BaseException as exc:  # noqa: BLE001
                self._fail("finish", exc)

    def _handle(self, wandb: Any, item: tuple) -> None:
        kind = item[0]
        run = self.wandb_run
        if kind == "metrics":
            _, step, metrics = item
            run.log(dict(metrics), step=step)
        elif kind == "image":
            _, tag, image, step = item
            pixels = image.array[:, :, 0] if image.channels == 1 else image.array
            run.log({tag: wandb.Image(pixels)}, step=step)
        elif kind == "histogram":
            _, tag, counts, edges, step = item
            run.log({tag: wandb.Histogram(np_histogram=(list(counts), list(edges)))}, step=step)
        elif kind == "config":
            run.config.update(dict(item[1]), allow_val_change=True)
        elif kind == "text":
            _, tag, text = item
            run.summary[tag] = text

    # -- the contract (training thread) ------------------------------------------------------
    def _put(self, item: tuple) -> None:
        if self._thread is not None and not self._closed and not self.failed:
            self._queue.put(item)

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        self._put(("metrics", step, metrics))

    def log_system(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        # W&B's steps only go forward: logged at the current training step they merge into its row.
        self._put(("metrics", step, metrics))

    def log_image(self, tag: str, image: Any, step: int) -> None:
        self._put(("image", tag, image, step))

    def log_histogram(
        self, tag: str, values: Any, step: int, counts: Sequence[float], edges: Sequence[float]
    ) -> None:
        self._put(("histogram", tag, counts, edges, step))

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._put(("config", config))

    def log_text(self, tag: str, text: str, step: int) -> None:
        self._put(("text", tag, text))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - never fails in practice; closing must not raise
            pass
        if self._thread is None:
            return
        self._queue.put(_CLOSE)
        waited = 0.0
        if threading.current_thread() is not self._thread:
            if self.wandb_run is None:  # still in wandb.init (server unreachable?): a short grace only
                waited = min(self._finish_timeout, _START_GRACE)
                self._thread.join(waited)
            if self.wandb_run is not None:
                self._thread.join(self._finish_timeout - waited)
        if self._thread.is_alive() and self.wandb_run is None:
            _warn(f"W&B had still not started {waited:g} s after finish() (server unreachable?); giving up on it.")
        elif self._thread.is_alive():
            _warn(f"W&B did not finish within {self._finish_timeout:g} s; leaving it to finish in the background.")
        elif self.mode == "offline" and self.sync_dir is not None:
            _warn(f"W&B: offline run saved. Upload it with: wandb sync {self.sync_dir}")

"""Weights & Biases writer: a background thread owns the W&B run, so training rarely waits on it.

``wandb.init`` (which may wait on the network) and every upload call run on a worker thread fed by
a bounded backlog (:mod:`._backlog`); the training thread only enqueues. Nothing given to the writer
is dropped: when W&B falls behind (each ``wandb.log`` costs a hand-over to W&B's own service,
around 0.1-0.5 ms) and the backlog is full, the caller waits for room, and ``close`` drains the
whole backlog, printing its progress. Only a W&B that stops taking data altogether (its server
unreachable, its service gone) is given up on. Without credentials (no ``WANDB_API_KEY``, no netrc
entry) or with ``WANDB_MODE=offline`` the run is recorded offline under ``logs/wandb/`` and the
``wandb sync`` command that uploads it is printed. Any W&B error becomes one warning: the writer
stops, training and the other writers go on.
"""

from __future__ import annotations

import atexit
import netrc
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..._atomic import atomic_write_text
from ...runtime import warn
from ._backlog import Backlog
from .base import Writer

_RUN_ID_FILE = "wandb_run_id.txt"
_CLOSE = object()
_START_GRACE = 5.0  # seconds close() waits for a W&B run that has not started yet
_BACKLOG_BYTES = 16 << 20  # what the backlog may keep alive: about 20,000 steps of 10 scalars
_BATCH = 256  # items the worker takes off the backlog at a time
_QUIET = 1.0  # seconds close() drains silently before it starts reporting progress
_REPORT_EVERY = 5.0  # seconds between progress lines while draining


def _say(message: str) -> None:
    warn(f"W&B: {message}")


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
        finish_timeout: seconds W&B may go without taking any data (while the backlog is full, or
            while ``close`` drains it) before it is given up on, and seconds ``close`` waits for
            ``wandb.finish`` once everything is sent. A long backlog is never a reason to give up.
        backlog_bytes: how much memory queued calls may hold before the caller waits for W&B.
        **init_kwargs: passed to ``wandb.init`` (tags, notes, config, ...).

    Attributes:
        backlog: the queue between the caller and the W&B thread (``peak``, ``waits`` and
            ``waited`` tell how full it got and how long callers waited for room).
        sent: calls handed to W&B so far.
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
        backlog_bytes: int = _BACKLOG_BYTES,
        **init_kwargs: Any,
    ):
        self.mode, reason = choose_mode(mode)
        self.wandb_run: Any = None
        self.sync_dir: Path | None = None
        self.failed = False
        self.backlog = Backlog(int(backlog_bytes))
        self.queued = 0  # calls accepted into the backlog
        self.sent = 0
        self._step_sent = 0  # the newest step handed to W&B (sender thread only)
        self._init_timeout = init_timeout
        self._finish_timeout = finish_timeout
        self._started = threading.Event()  # wandb.init returned or failed
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_report: Any = None  # (message, level) once wandb.init succeeded or failed
        self._report_to: Any = None
        self._report_lock = threading.Lock()
        if self.mode == "disabled":
            self._start_report = ("wandb writer disabled (WANDB_MODE=disabled); nothing is sent to W&B", "info")
            return
        self._logs_dir = Path(run.logs_dir) if run is not None else Path.cwd()
        if reason:
            _say(f"{reason}; logging offline to {self._logs_dir / 'wandb'} (upload later with `wandb sync`).")
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
            if what == "start":
                self._reported(f"wandb writer failed to start ({exc.__class__.__name__}: {exc})", "error")

    def report_start(self, callback: Any) -> None:
        """Call ``callback(message, level)`` once W&B has started or failed to (``wandb.init`` runs in the
        background, so the Logger cannot say "started" when the writer is created)."""
        with self._report_lock:
            self._report_to = callback
            report = self._start_report
        if report is not None:
            callback(*report)

    def _reported(self, message: str, level: str) -> None:
        with self._report_lock:
            self._start_report = (message, level)
            callback = self._report_to
        if callback is not None:
            try:
                callback(message, level)
            except Exception:  # noqa: BLE001 - the text log is closed already: nothing to tell
                pass

    def _work(self, init: dict[str, Any], init_timeout: float) -> None:
        wandb: Any = None
        try:
            import wandb  # noqa: PLC0415

            settings = wandb.Settings(init_timeout=init_timeout)
            self._logs_dir.mkdir(parents=True, exist_ok=True)
            self.wandb_run = wandb.init(settings=settings, reinit="create_new", **init)
            self.sync_dir = Path(self.wandb_run.settings.sync_dir)
            atomic_write_text(self._logs_dir / _RUN_ID_FILE, self.wandb_run.id + "\n", fsync=False)
            self._reported(f"wandb writer started: W&B run {init.get('name')} ({self.mode})", "info")
            # W&B tears its service down at exit; registered after it, this close runs first.
            atexit.register(self.close)
        except BaseException as exc:  # noqa: BLE001 - any W&B failure must not reach training
            self._fail("start", exc)
        finally:
            self._started.set()
        done = False
        while not done:
            for item, count in _merge_steps(self.backlog.take(_BATCH)):
                if item is _CLOSE:
                    done = True
                    break
                if not self.failed and self.wandb_run is not None:
                    try:
                        self._handle(wandb, item)
                    except BaseException as exc:  # noqa: BLE001
                        self._fail("logging", exc)
                self.sent += count
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
        if kind in ("metrics", "system"):
            _, step, metrics = item
            if kind == "system":
                # W&B drops a step behind the newest it has: a sample read at step 1 but queued after
                # the training thread's step 2 (the two threads race) joins step 2's row instead.
                step = max(step, self._step_sent)
            run.log(dict(metrics), step=step)
        elif kind == "image":
            _, tag, image, step = item
            pixels = image.array[:, :, 0] if image.channels == 1 else image.array
            run.log({tag: wandb.Image(pixels)}, step=step)
        elif kind == "histogram":
            _, tag, counts, edges, step = item
            run.log({tag: wandb.Histogram(np_histogram=(list(counts), list(edges)))}, step=step)
        if kind in ("metrics", "system", "image", "histogram"):
            self._step_sent = max(self._step_sent, step)
        elif kind == "config":
            run.config.update(dict(item[1]), allow_val_change=True)
        elif kind == "text":
            _, tag, text = item
            run.summary[tag] = text

    # -- the contract (training thread) ------------------------------------------------------
    def _put(self, item: tuple, cost: int) -> None:
        if self._thread is None or self._closed or self.failed:
            return
        stall = self._finish_timeout if self._started.is_set() else self._init_timeout + _START_GRACE
        if self.backlog.put(item, cost, stall=stall):
            self.queued += 1
        elif not self.failed:
            self._give_up(f"took nothing for {stall:g} s while its backlog was full (server unreachable?)")

    def _give_up(self, why: str) -> None:
        self.failed = True
        self.backlog.close()
        unsent = self.queued - self.sent
        _warn(f"W&B {why}; giving up on it with {unsent:,} queued calls unsent. Training and the other writers go on.")

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        self._put(("metrics", step, metrics), 200 + 80 * len(metrics))

    def log_system(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        # W&B's steps only go forward: logged at the current training step they merge into its row.
        self._put(("system", step, metrics), 200 + 80 * len(metrics))

    def log_image(self, tag: str, image: Any, step: int) -> None:
        png = image.__dict__.get("png", b"")  # cached_property: counted only when already encoded
        self._put(("image", tag, image, step), 200 + int(image.array.nbytes) + len(png))

    def log_histogram(
        self, tag: str, values: Any, step: int, counts: Sequence[float], edges: Sequence[float]
    ) -> None:
        self._put(("histogram", tag, counts, edges, step), 200 + 16 * (len(counts) + len(edges)))

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._put(("config", config), 4096)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self._put(("text", tag, text), 200 + 4 * len(text))

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
        self.backlog.put(_CLOSE, 0, force=True)
        if threading.current_thread() is self._thread:
            return
        if not self._started.wait(min(self._finish_timeout, _START_GRACE)):
            # Still in wandb.init (server unreachable?): a short grace only, the backlog is dropped.
            # (Not marked failed: if wandb.init gives up later, at exit, its own warning still shows.)
            self.backlog.close()
            _warn(f"W&B had still not started {min(self._finish_timeout, _START_GRACE):g} s after finish() "
                  "(server unreachable?); giving up on it.")
            return
        self._drain()

    def _drain(self) -> None:
        """Wait for the worker to send the whole backlog and finish the W&B run, reporting progress."""
        thread = self._thread
        started = last_move = time.monotonic()
        seen, reported = self.sent, 0.0
        backlog_at_start = self.queued - self.sent
        try:
            while thread.is_alive():
                thread.join(0.25)
                now = time.monotonic()
                if self.sent != seen:
                    seen, last_move = self.sent, now
                elif now - last_move >= self._finish_timeout:
                    break
                left = self.queued - self.sent
                if left and now - started >= _QUIET and now - reported >= _REPORT_EVERY:
                    rate = (self.sent - (self.queued - backlog_at_start)) / (now - started)
                    eta = f", about {left / rate:.0f} s left" if rate > 0 else ""
                    _say(f"sending the backlog before finishing: {left:,} of {backlog_at_start:,} calls left{eta}.")
                    reported = now
        except KeyboardInterrupt:
            _warn(f"interrupted: {self.queued - self.sent:,} queued W&B calls were not sent.")
            raise
        if thread.is_alive():
            left = self.queued - self.sent
            if left:
                self._give_up(f"took nothing for {self._finish_timeout:g} s while finishing (server unreachable?)")
            else:
                _warn(f"W&B did not finish within {self._finish_timeout:g} s; leaving it to finish in the background.")
            return
        if reported:
            _say(f"sent the whole backlog ({backlog_at_start:,} calls) in {time.monotonic() - started:.0f} s.")
        if self.mode == "offline" and self.sync_dir is not None:
            _say(f"offline run saved. Upload it with: wandb sync {self.sync_dir}")


def _merge_steps(batch: list[Any]) -> list[tuple[Any, int]]:
    """``(item, calls)``: consecutive metric calls for one step with distinct keys become one call."""
    out: list[tuple[Any, int]] = []
    for item in batch:
        if out and item is not _CLOSE and item[0] == "metrics":
            prev, count = out[-1]
            same_step = prev is not _CLOSE and prev[0] == "metrics" and prev[1] == item[1]
            if same_step and prev[2].keys().isdisjoint(item[2]):
                out[-1] = (("metrics", item[1], {**prev[2], **item[2]}), count + 1)
                continue
        out.append((item, 1))
    return out

"""The object a trainer receives from ``exp train``: config, paths, logger, checkpoints, device, rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..workspace import Run


@dataclass
class RunContext:
    """Everything a training function needs, prepared by ``exp train``.

    A trainer is ``def train(ctx: RunContext) -> None``. Typical use::

        model, opt = build(ctx.config)
        model.to(ctx.device)
        ctx.resume(model, opt)                  # no-op on a fresh run
        for step in range(ctx.start_step + 1, steps + 1):
            ...
            ctx.logger.log({"loss": loss}, step)
            if ctx.should_stop:                 # SIGTERM: checkpoint and return
                ctx.checkpoints.save(step=step, model=model, optimizer=opt)
                return

    Attributes:
        run: the run (paths: ``run.path``, ``run.checkpoints_dir``, ...).
        config: the effective config (run config + ``--set`` overrides), as saved to ``config.json``.
        logger: a ready :class:`~exptool.tracking.Logger` with the writers the config asks for.
        checkpoints: a :class:`~exptool.checkpoints.CheckpointManager` on ``checkpoints/``.
        device: the ``torch.device`` to train on (``cuda:LOCAL_RANK`` under torchrun with GPUs).
        seed: the seed every RNG was seeded with (recorded in ``run.json``).
        is_resume: True when this run continues from a checkpoint.
        start_step: the step of the checkpoint resumed from (0 on a fresh run); the next step to
            run is ``start_step + 1`` when steps count completed updates.
        start_epoch: the epoch stored with that checkpoint (0 on a fresh run).
        rank: global rank (0 without torchrun); ``local_rank`` is the rank on this machine.
        world_size: number of processes (1 without torchrun).
        trainer_name: the trainer's registered name (or target).
    """

    run: Run
    config: dict[str, Any]
    logger: Any
    checkpoints: Any
    device: Any
    seed: int
    is_resume: bool = False
    start_step: int = 0
    start_epoch: int = 0
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    trainer_name: str = ""
    resume_info: Any = None
    _stop_requested: bool = field(default=False, repr=False)
    _stop_signal: str = field(default="SIGTERM", repr=False)
    _stop_polled: bool = field(default=False, repr=False)

    @property
    def experiment(self) -> str:
        """The experiment's name."""
        return self.run.experiment.name

    @property
    def run_name(self) -> str:
        """The run's name."""
        return self.run.name

    @property
    def path(self) -> Path:
        """The run folder."""
        return self.run.path

    @property
    def checkpoints_dir(self) -> Path:
        return self.run.checkpoints_dir

    @property
    def logs_dir(self) -> Path:
        return self.run.logs_dir

    @property
    def visualizations_dir(self) -> Path:
        return self.run.visualizations_dir

    @property
    def plots_dir(self) -> Path:
        return self.run.plots_dir

    @property
    def is_main(self) -> bool:
        """True on the process that writes logs, checkpoints and ``run.json`` (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def should_stop(self) -> bool:
        """True once SIGTERM asked this process to stop: save a checkpoint and return.

        A trainer that reads this flag gets a grace period (``EXPTOOL_STOP_GRACE`` seconds, default 60)
        after SIGTERM; one that never reads it is interrupted at once, like Ctrl-C. Under torchrun the
        ranks may see the signal at different steps: use :meth:`stop_requested` inside the loop.
        """
        self._stop_polled = True
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask the trainer to stop at its next check (what SIGTERM does)."""
        self._stop_requested = True

    def stop_requested(self) -> bool:
        """:attr:`should_stop` agreed by every rank (an all-reduce under torchrun; call it on every rank)."""
        local = self.should_stop
        if not self.is_distributed:
            return local
        import torch  # noqa: PLC0415
        import torch.distributed as dist  # noqa: PLC0415

        flag = torch.tensor([1 if local else 0], device=self.device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def resume(self, model: Any, optimizer: Any = None, scheduler: Any = None, scaler: Any = None) -> Any:
        """Load the last complete checkpoint into ``model`` (and optimiser etc.) when resuming.

        Restores the RNG state too. Updates :attr:`start_step` and :attr:`start_epoch` from it.

        Returns:
            The checkpoint info (``.step``, ``.epoch``, ``.metrics``, ``.path``), or None on a fresh run.
        """
        if not self.is_resume:
            return None
        parts = {"optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
        kwargs = {k: v for k, v in parts.items() if v is not None}
        info = self.checkpoints.resume(model, **kwargs)
        if info is not None:
            self.resume_info = info
            step = int(info.step) if getattr(info, "step", None) is not None else self.start_step  # else: inferred
            if step != self.start_step and self.logger is not None:
                self.logger.resume(step)  # fell back to an older checkpoint: drop the logs after it
            self.start_step = step
            if getattr(info, "epoch", None) is not None:
                self.start_epoch = int(info.epoch)
        return info

    def progress(
        self,
        iterable: Any = None,
        total: int | float | None = None,
        *,
        start: int | float | None = None,
        description: str = "training",
        unit: str = "step",
        every: float = 30.0,
    ) -> Any:
        """Show and record how far training is: a bar on a terminal, plain lines in a log or CI.

        ``ctx.progress(loader)`` counts the items of an iterable as the loop takes them;
        ``ctx.progress(total=steps)`` (or ``ctx.progress(steps)``) counts calls to ``update(step)``
        / ``advance()``, starting from :attr:`start_step` so a resumed run shows its real place.
        Rank 0 draws the bar (off a terminal: a line every ``every`` seconds and one at the end)
        and keeps ``progress.json`` in the run folder up to date for ``exp show`` and ``exp watch``;
        other ranks only count. Extra values (``bar.update(step, loss=0.3)``) are shown beside it.

        Returns:
            A :class:`~exptool.tracking.progress.Progress`; use it as a context manager (or call
            ``close()``), or loop over it when built from an iterable.
        """
        from ..tracking.progress import Progress  # noqa: PLC0415

        counts_iterable = iterable is not None and not isinstance(iterable, (int, float))
        if start is None:
            start = 0 if counts_iterable else self.start_step
        return Progress(
            iterable,
            total,
            start=start,
            description=description,
            unit=unit,
            run_path=self.run.path if self.is_main else None,
            show=self.is_main,
            every=every,
        )

    def use_threads(self, model: Any = None, threads: int | str | None = None) -> int:
        """Set torch's CPU thread count for training ``model`` here and return the count in effect.

        ``threads`` defaults to the config's ``threads`` key, else ``"auto"``: one thread for a
        model under a million parameters on the CPU (more only slow it down), torch's default
        otherwise; a count from ``OMP_NUM_THREADS`` is never overridden. See :mod:`exptool.threads`.
        """
        from ..threads import use_threads  # noqa: PLC0415

        chosen = self.config.get("threads", "auto") if threads is None else threads
        return use_threads(chosen, model, self.device)

    def wrap_model(self, model: Any, **ddp_options: Any) -> Any:
        """``model`` wrapped for the current world size: ``DistributedDataParallel`` under torchrun
        (``device_ids`` set on CUDA), the model itself in a single process.

        Keep the unwrapped ``model`` for ``ctx.resume`` and ``ctx.checkpoints.save``; train through
        the returned one. Without it, each process would train its own copy (exptool warns).
        """
        from .replicas import wrap_model  # noqa: PLC0415

        return wrap_model(model, self.world_size, self.device, **ddp_options)

    def sampler(self, dataset: Any, **options: Any) -> Any:
        """A ``DistributedSampler`` giving this rank its share of ``dataset`` (None in a single process).

        Pass it as ``DataLoader(dataset, sampler=ctx.sampler(dataset), shuffle=False)`` (shuffling is
        the sampler's; options such as ``shuffle`` and ``seed`` go to it) and call
        ``sampler.set_epoch(epoch)`` at the start of each epoch.
        """
        from .replicas import make_sampler  # noqa: PLC0415

        options.setdefault("seed", self.seed)
        return make_sampler(dataset, self.world_size, self.rank, **options)

    def barrier(self) -> None:
        """Wait for every rank (no-op without torchrun)."""
        if self.is_distributed:
            import torch.distributed as dist  # noqa: PLC0415

            dist.barrier()

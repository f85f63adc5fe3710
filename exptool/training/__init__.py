"""How a run is started: choose a trainer, prepare the run, launch it, record how it ended.

The rooms, in the order ``exp train`` uses them:

- :mod:`.registry`: which trainers exist (entry points, ``exptool.toml``, ``module:function``).
- :mod:`.settings`: exptool's own config sections, read and checked once.
- :mod:`.prepare`: effective config, lock, resume/fresh/clear, seed, ``run.json``; the outcome.
- :mod:`.launchers`: where the trainer executes (in-process, torchrun, your own).
- :mod:`.worker`: executing a trainer in a process: context, signals, process group.
- :mod:`.context`: the :class:`RunContext` a trainer receives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Run
    from .launchers.base import Launcher, Outcome
    from .registry import TrainerSpec


def train(
    run: Run,
    spec: TrainerSpec,
    config: dict[str, Any],
    *,
    seed: int | None = None,
    resume: bool | None = None,
    clear: bool = False,
    launcher: Launcher | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Prepare ``run``, run ``spec``'s trainer through ``launcher`` and record the outcome in ``run.json``.

    Args:
        run: an existing run.
        spec: the trainer.
        config: the effective config (see :func:`~.prepare.effective_config`); saved to ``config.json``.
        seed: the seed; default the config's ``seed``, else the previous one on resume, else random.
        resume: True/False to force; None resumes when the run has checkpoints.
        clear: delete earlier checkpoints and logs first (a fresh start).
        launcher: where to run it; default in this process.
        on_start: called with a summary dict right before the trainer starts (for the CLI's banner).

    Raises:
        ConfigError: a value in exptool's config sections is unusable (nothing was written).
        RunLockedError: another ``exp train`` holds the run.
        AlreadyExistsError: a fresh start would overwrite checkpoints and ``clear`` is False.
        TrainerError: the trainer cannot be loaded.
    """
    from .launchers.base import Outcome  # noqa: PLC0415
    from .launchers.inprocess import InProcessLauncher  # noqa: PLC0415
    from .prepare import finish_run, mark_failed, prepare_run  # noqa: PLC0415

    launcher = launcher or InProcessLauncher()
    prepared = prepare_run(
        run, spec, config, seed=seed, resume=resume, clear=clear,
        world_size=launcher.world_size, writes_records=launcher.writes_records,
    )
    with prepared:
        try:
            if on_start is not None:
                on_start(prepared.summary())
            outcome = launcher.launch(prepared)
        except KeyboardInterrupt:
            outcome = Outcome.interrupted()
        except BaseException as exc:
            mark_failed(prepared, exc)
            raise
        if launcher.records_outcomes:
            return outcome
        return finish_run(prepared, outcome)


def __getattr__(name: str) -> Any:
    lazy = {
        "RunContext": ".context",
        "Launcher": ".launchers.base",
        "Outcome": ".launchers.base",
        "Job": ".launchers.base",
        "get_launcher": ".launchers",
        "TrainerSpec": ".registry",
        "PreparedRun": ".prepare",
        "prepare_run": ".prepare",
        "effective_config": ".prepare",
    }
    if name not in lazy:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(lazy[name], __name__), name)
    globals()[name] = value
    return value

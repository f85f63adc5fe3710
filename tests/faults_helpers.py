"""Helpers for the fault tests: a small real file system, a process without DAC override, a tiny trainer."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

TRAINER = textwrap.dedent(
    '''
    """A tiny trainer for the fault tests: logs every step, saves a checkpoint every few steps."""
    import os
    import sys

    default_config = {"steps": 30, "every": 10, "wide": 0, "fill_at": 0, "free_at": 0, "fail": "", "big": 0}


    def _fill(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"x" * 65536)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"x" * 512)
        except OSError:
            pass
        os.close(fd)


    def train(ctx):
        import torch

        cfg = ctx.config
        model = torch.nn.Linear(4 + int(cfg["big"]), 2 + int(cfg["big"]))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        info = ctx.resume(model, opt)
        print(f"start_step={ctx.start_step} resumed_from={getattr(info, 'step', None)}", flush=True)
        filler = ctx.logs_dir / "filler"
        for step in range(ctx.start_step + 1, int(cfg["steps"]) + 1):
            if step == cfg["fill_at"]:
                _fill(filler)
            if step == cfg["free_at"]:
                filler.unlink()
            extra = {f"m{i:02d}": step + i / 7 for i in range(int(cfg["wide"]))}
            ctx.logger.log({"loss": 1.0 / step, "double": 2.0 * step, **extra}, step)
            if step % int(cfg["every"]) == 0:
                ctx.checkpoints.save(step=step, model=model, optimizer=opt)
            if cfg["fail"] == "exit3" and step == 3:
                sys.exit(3)
            if cfg["fail"] == "long" and step == 3:
                raise ValueError("x" * 5000 + " END-OF-LONG-MESSAGE")


    train.default_config = default_config
    '''
)


def add_trainer(ws: Path) -> None:
    """``loop`` in the workspace's exptool.toml, from ``trainers/loop.py``."""
    (ws / "trainers").mkdir(exist_ok=True)
    (ws / "trainers" / "loop.py").write_text(TRAINER, encoding="utf-8")
    (ws / "exptool.toml").write_text('[trainers]\nloop = "trainers/loop.py:train"\n', encoding="utf-8")


def as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def small_filesystem(where: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``where`` (emptied first) for the test; skipped where mounting is not allowed."""
    if not as_root() or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to create a small tmpfs for the full-disk test")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


_DROP = "-dac_override,-dac_read_search"


def no_dac_prefix() -> list[str]:
    """A command prefix that runs a process without permission to bypass file modes.

    Not root: nothing is needed. Root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH with setpriv,
    so that a file of mode 000 really cannot be read. Skips the test where neither works.
    """
    if not as_root():
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv(1): cannot start a process without DAC override")
    prefix = [setpriv, f"--inh-caps={_DROP}", f"--bounding-set={_DROP}"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here")
    return prefix

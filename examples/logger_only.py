"""Logging without `exp train`, the template's way: a script that owns its loop and one Logger.

Run it inside a workspace (`exp init` makes one): python logger_only.py
"""

import math

import numpy as np

from exptool import Logger

config = {"lr": 0.1, "steps": 50}

with Logger("sketch", "logger-only") as logger:  # creates the run if needed; Logger() = the current run
    logger.initialize("csv", "tensorboard")  # + logger.initialize_wandb("my-project")
    logger.log_config(config)  # saved as the run's config.json
    for step in range(1, config["steps"] + 1):
        loss = math.exp(-config["lr"] * step)
        logger.log({"train/loss": loss, "acc": 1 - loss}, step)  # numbers, numpy scalars or tensors
    image = np.linspace(0, 1, 64 * 64).reshape(64, 64)  # HW, HWC, CHW or a batch; floats in 0..1 or uint8
    logger.log_image("ramp", image, step)  # visualizations/ramp_step000050.png
    logger.log_info("done")  # logs/log.txt
# Leaving the `with` block marks the run completed in run.json (failed if the block raised).

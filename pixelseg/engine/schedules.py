"""Learning-rate schedules: linear warm-up, then poly or cosine decay.

A schedule is a pure function lr_factor(step, progress) -> multiplier of the base learning rate, so
resuming needs nothing but the step and the progress (both in the checkpoint), and a run limited
by wall-clock time decays by the fraction of the time used instead of a step count it cannot know
in advance:

    step      optimizer steps taken so far (warm-up counts these)
    progress  in [0, 1]: the fraction of the run done — steps / total steps for `--epochs`,
              seconds / budget for `--time-budget`
"""
from __future__ import annotations

import math

SCHEDULES = ("poly", "cosine", "constant")


def lr_factor(schedule: str, step: int, progress: float, warmup_steps: int = 0, power: float = 0.9, min_factor: float = 0.0) -> float:
    """Multiplier of the base learning rate for the step about to be taken.

    Warm-up: (step + 1) / warmup_steps for the first `warmup_steps` steps (a random network's first
    gradients are large and point anywhere; full-size steps then can wreck BatchNorm statistics).
    After it, by `progress` p (counted from the end of warm-up in step mode, see `step_progress`):
        poly      (1 - p) ** power                          DeepLab's schedule
        cosine    (1 + cos(pi p)) / 2                       SGDR without restarts
        constant  1
    and never below `min_factor`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    p = min(max(progress, 0.0), 1.0)
    if schedule == "poly":
        factor = (1 - p) ** power
    elif schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * p))
    else:
        factor = 1.0
    return max(factor, min_factor)


def step_progress(step: int, total_steps: int, warmup_steps: int) -> float:
    """Progress of the decay when the run's length is known in steps: 0 right after warm-up, 1 at the end."""
    return (step - warmup_steps) / max(1, total_steps - warmup_steps)

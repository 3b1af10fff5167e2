"""The precisions a run or a prediction can ask for, written once, and the autocast that applies one."""
from __future__ import annotations

import torch

# fp32: no autocast; bf16: autocast on CPU or CUDA; fp16: CUDA only (training adds a GradScaler).
PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    """The precision itself, or a ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str):
    """bf16 (CPU or CUDA) or fp16 (CUDA) autocast where asked for; fp32 otherwise."""
    dtype = DTYPES.get(check_precision(precision))
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)

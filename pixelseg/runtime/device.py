"""Device names (`--device`, a config's `device:`) -> a torch.device that exists on this machine."""
from __future__ import annotations

import torch

from pixelseg.errors import UsageError

KNOWN = "auto, cpu, cuda, cuda:N, mps"


def resolve_device(name: str) -> torch.device:
    """`auto` = cuda if available, else cpu. A UsageError names the device when it is not one, or
    does not exist here (cuda:7 on a machine with one GPU, or none): checked up front, because torch
    itself only fails at the first tensor moved, after the data is loaded."""
    name = str(name).strip()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {name}: not a device name ({KNOWN})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {name}: this machine has {count} CUDA device{'s' * (count != 1)} (cuda:0..cuda:{count - 1})")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError(f"--device {name}: Apple's MPS is not available on this machine (use --device cpu or auto)")
    elif device.type != "cpu":
        raise UsageError(f"--device {name}: pixelseg runs on {KNOWN}")
    return device

"""Argument checking shared by the three implementations (and nothing else: they share no arithmetic
beyond the output size, so that agreeing with each other means something)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

from pixelseg.transposed.arithmetic import IntOrPair, output_size, pair


@dataclass(frozen=True)
class TransposedArgs:
    """Normalised arguments of a 2-D transposed convolution. Every pair is (height, width)."""

    x: torch.Tensor  # (N, C_in, H, W), a batch even if the caller passed one image
    unbatched: bool  # the caller passed (C_in, H, W): squeeze the batch dim again at the end
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    output_padding: Tuple[int, int]
    dilation: Tuple[int, int]
    groups: int
    kernel: Tuple[int, int]
    in_channels: int
    out_channels: int
    out_size: Tuple[int, int]  # (H_out, W_out)

    def finish(self, out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """Add the bias (one per output channel) and undo the batching."""
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        return out[0] if self.unbatched else out


def check_transposed_args(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrPair,
    padding: IntOrPair,
    output_padding: IntOrPair,
    groups: int,
    dilation: IntOrPair,
) -> TransposedArgs:
    """Validate PyTorch-style arguments of conv_transpose2d; raise ValueError with the reason.

    x: (N, C_in, H, W) or (C_in, H, W); weight: (C_in, C_out/groups, kH, kW); bias: (C_out,) or None.
    """
    if x.dim() not in (3, 4):
        raise ValueError(f"input must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if weight.dim() != 4:
        raise ValueError(f"weight must be (C_in, C_out/groups, kH, kW), got shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    unbatched = x.dim() == 3
    x4 = x.unsqueeze(0) if unbatched else x
    in_channels = x4.shape[1]
    if weight.shape[0] != in_channels:
        raise ValueError(f"weight has {weight.shape[0]} input channels, the input has {in_channels}")
    if in_channels % groups:
        raise ValueError(f"{in_channels} input channels cannot be split into {groups} groups")
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {tuple(bias.shape)}")
    s, p, a, d = (pair(v, n) for v, n in
                  ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation")))
    k = (weight.shape[2], weight.shape[3])
    out = tuple(output_size(x4.shape[2 + i], k[i], s[i], p[i], a[i], d[i]) for i in range(2))
    return TransposedArgs(x4, unbatched, s, p, a, d, groups, k, in_channels, out_channels, out)

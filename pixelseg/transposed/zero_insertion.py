"""Transposed convolution as an ordinary convolution in disguise.

1. insert stride-1 zeros between input rows and between input columns;
2. pad the border with d(k-1) - p zeros (a negative amount crops), plus output_padding more zeros
   at the bottom and right;
3. flip the kernel up-down and left-right and swap its in/out channels;
4. run an ordinary convolution with stride 1 (and the same dilation and groups).

`zero_insertion_steps` returns every intermediate tensor so that `explain` can print and draw them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F

from pixelseg.transposed._args import check_transposed_args
from pixelseg.transposed.arithmetic import IntOrPair


@dataclass
class ZeroInsertionSteps:
    """The intermediate results, batched: tensors are (N, C, H, W) and kernels (C_out, C_in/g, kH, kW)."""

    inserted: torch.Tensor  # after step 1: (N, C_in, (H-1)s+1, (W-1)s+1)
    padded: torch.Tensor  # after step 2: the input the ordinary convolution sees
    border: Tuple[int, int, int, int]  # (top, bottom, left, right) zeros added in step 2; negative = cropped
    flipped: torch.Tensor  # after step 3: the kernel of the ordinary convolution
    output: torch.Tensor  # after step 4 (bias added): (N, C_out, H_out, W_out)
    dilation: Tuple[int, int]
    groups: int


def insert_zeros(x: torch.Tensor, stride: Tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, (H-1)sh+1, (W-1)sw+1): the input values s apart, zeros in between."""
    n, c, h, w = x.shape
    sh, sw = stride
    out = x.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)
    out[:, :, ::sh, ::sw] = x
    return out


def pad_or_crop(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Add zeros around the last two dims; a negative amount removes rows/cols instead."""
    h, w = x.shape[-2:]
    # Crop first (negative amounts), then pad (positive amounts): the two never mix on one side.
    x = x[..., max(-top, 0): h - max(-bottom, 0), max(-left, 0): w - max(-right, 0)]
    return F.pad(x, (max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)))


def flip_and_swap(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """(C_in, C_out/g, kH, kW) transposed-conv weight -> (C_out, C_in/g, kH, kW) conv2d weight, flipped.

    Flipping turns the scatter (kernel tap (u, v) sends x[i, j] to out[i*s + u, j*s + v]) into a
    gather (out[y, x] collects from the tap mirrored around the window centre). The channel swap
    is because the transposed layer maps C_in -> C_out, the other way round from its weight's layout.
    """
    cin, cout_g, kh, kw = weight.shape
    w = weight.flip(-2, -1).reshape(groups, cin // groups, cout_g, kh, kw)
    return w.transpose(1, 2).reshape(groups * cout_g, cin // groups, kh, kw)


def zero_insertion_steps(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> ZeroInsertionSteps:
    """Run the four steps and keep each result. Arguments as `torch.nn.functional.conv_transpose2d`."""
    args = check_transposed_args(x, weight, bias, stride, padding, output_padding, groups, dilation)
    inserted = insert_zeros(args.x, args.stride)
    (kh, kw), (ph, pw), (ah, aw), (dh, dw) = args.kernel, args.padding, args.output_padding, args.dilation
    # d(k-1) zeros let the (dilated) kernel hang over the edge as far as it can while still
    # touching one input value: that is how far the scatter picture spreads each value.
    # The padding p of the transposed conv takes p of those away again.
    border = (dh * (kh - 1) - ph, dh * (kh - 1) - ph + ah, dw * (kw - 1) - pw, dw * (kw - 1) - pw + aw)
    padded = pad_or_crop(inserted, *border)
    flipped = flip_and_swap(weight, args.groups)
    out = F.conv2d(padded, flipped, stride=1, dilation=args.dilation, groups=args.groups)
    assert tuple(out.shape[-2:]) == args.out_size, (tuple(out.shape), args.out_size)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return ZeroInsertionSteps(inserted, padded, border, flipped, out, args.dilation, args.groups)


def conv_transpose2d_zero_insertion(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """Same contract as `torch.nn.functional.conv_transpose2d`.

    x: (N, C_in, H, W) or (C_in, H, W); weight: (C_in, C_out/groups, kH, kW); bias: (C_out,) or None.
    Returns (N, C_out, H_out, W_out), or (C_out, H_out, W_out) for an unbatched input.
    """
    steps = zero_insertion_steps(x, weight, bias, stride, padding, output_padding, groups, dilation)
    return steps.output[0] if x.dim() == 3 else steps.output

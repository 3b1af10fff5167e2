"""Transposed convolution as the textbook draws it: every input value scatters a scaled copy of the
kernel into the output, `stride` pixels apart, and where copies overlap they add.

This is the slowest of the three implementations (a Python loop over input positions), and the
most literal one; it uses no convolution routine at all.
"""
from __future__ import annotations

import torch

from pixelseg.transposed._args import check_transposed_args
from pixelseg.transposed.arithmetic import IntOrPair, pair


def conv_transpose2d_scatter(
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
    Returns (N, C_out, H_out, W_out) with H_out = (H-1)s - 2p + d(kH-1) + a + 1 (see arithmetic.py).
    """
    args = check_transposed_args(x, weight, bias, stride, padding, output_padding, groups, dilation)
    xb = args.x
    n, _, h, w = xb.shape
    (sh, sw), (ph, pw), (ah, aw), (dh, dw) = args.stride, args.padding, args.output_padding, args.dilation
    kh, kw = args.kernel
    g = args.groups
    cin_g, cout_g = args.in_channels // g, args.out_channels // g

    # The "full" canvas: every kernel copy fits, nothing cropped yet. Input (i, j) lands its kernel's
    # top-left tap at (i*s, j*s); taps are d apart. output_padding adds rows/cols at the bottom/right
    # (they are only reached by kernel copies when padding also crops there).
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + ah
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + aw
    canvas = xb.new_zeros(n, g, cout_g, full_h, full_w)

    xg = xb.reshape(n, g, cin_g, h, w)
    wg = weight.reshape(g, cin_g, cout_g, kh, kw)
    for i in range(h):
        for j in range(w):
            # The kernel copy this one input position contributes, for every batch item and group:
            # sum over the group's input channels of x[c, i, j] * weight[c, o].
            copy = torch.einsum("ngc,gcokl->ngokl", xg[:, :, :, i, j], wg)
            canvas[:, :, :,
                   i * sh: i * sh + dh * (kh - 1) + 1: dh,
                   j * sw: j * sw + dw * (kw - 1) + 1: dw] += copy

    # padding p means "p rows of the full result are cut from each side" (the inverse of the padding
    # the ordinary convolution added), so the output is the centre of the canvas.
    out_h, out_w = args.out_size
    out = canvas[:, :, :, ph: ph + out_h, pw: pw + out_w].reshape(n, args.out_channels, out_h, out_w)
    return args.finish(out, bias)


def scatter_contributions(x: torch.Tensor, kernel: torch.Tensor, stride=1, dilation=1) -> torch.Tensor:
    """For one-channel pictures: the kernel copy of every input value, each on its own full canvas.

    x: (H, W), kernel: (kH, kW) -> (H, W, full_H, full_W) where full = (i-1)s + d(k-1) + 1.
    Summing over the first two dims gives the transposed convolution before padding crops it.
    """
    (sh, sw), (dh, dw) = pair(stride, "stride"), pair(dilation, "dilation")
    h, w = x.shape
    kh, kw = kernel.shape
    full = x.new_zeros(h, w, (h - 1) * sh + dh * (kh - 1) + 1, (w - 1) * sw + dw * (kw - 1) + 1)
    for i in range(h):
        for j in range(w):
            full[i, j, i * sh: i * sh + dh * (kh - 1) + 1: dh, j * sw: j * sw + dw * (kw - 1) + 1: dw] = x[i, j] * kernel
    return full

"""Convolution as a matrix, and transposed convolution as that matrix transposed.

An ordinary convolution is linear, so it is a matrix C: flatten the input (C_in*H*W values), multiply
by C, and you get the flattened output (C_out*H_o*W_o values). Each row of C holds the kernel
weights at the input positions one output pixel reads; most entries are zero, so C is stored
sparse (torch COO) and works on 64x64 inputs and beyond.

The transposed convolution *with the same weight* is Cᵀ: it maps the output shape back to the
input shape. It is not the inverse (CᵀC is not the identity); it only restores the size, and it is
what backpropagation through the convolution computes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelseg.transposed._args import check_transposed_args
from pixelseg.transposed.arithmetic import IntOrPair, conv_output_size, pair


def conv_matrix(
    weight: torch.Tensor,
    in_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """The sparse matrix C of `F.conv2d(x, weight, stride=, padding=, dilation=, groups=)` on an in_size input.

    weight: (C_out, C_in/groups, kH, kW) as for F.conv2d, or a single (kH, kW) kernel (one channel).
    in_size: H or (H, W). Returns a coalesced sparse COO tensor of shape (C_out*H_o*W_o, C_in*H*W),
    rows and columns in the row-major order of `tensor.flatten()`: conv2d(x).flatten() == C @ x.flatten().
    """
    if weight.dim() == 2:
        weight = weight[None, None]
    if weight.dim() != 4:
        raise ValueError(f"weight must be (C_out, C_in/groups, kH, kW) or (kH, kW), got shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"groups must be a positive int dividing the {weight.shape[0]} output channels, got {groups!r}")
    (h, w), (sh, sw), (ph, pw), (dh, dw) = (pair(v, n) for v, n in
                                            ((in_size, "in_size"), (stride, "stride"), (padding, "padding"),
                                             (dilation, "dilation")))
    cout, cin_g, kh, kw = weight.shape
    ho = conv_output_size(h, kh, sh, ph, dh)
    wo = conv_output_size(w, kw, sw, pw, dw)
    dev = weight.device

    # One candidate entry per (output channel, input channel of its group, tap, output pixel),
    # laid out on broadcast axes in that order; then drop the taps that fall on the zero padding.
    o = torch.arange(cout, device=dev).view(-1, 1, 1, 1, 1, 1)
    c = torch.arange(cin_g, device=dev).view(1, -1, 1, 1, 1, 1)
    ki = torch.arange(kh, device=dev).view(1, 1, -1, 1, 1, 1)
    kj = torch.arange(kw, device=dev).view(1, 1, 1, -1, 1, 1)
    oi = torch.arange(ho, device=dev).view(1, 1, 1, 1, -1, 1)
    oj = torch.arange(wo, device=dev).view(1, 1, 1, 1, 1, -1)
    ii = oi * sh - ph + dh * ki  # the input row output row oi reads with tap ki
    ij = oj * sw - pw + dw * kj
    shape = (cout, cin_g, kh, kw, ho, wo)
    inside = ((ii >= 0) & (ii < h) & (ij >= 0) & (ij < w)).expand(shape)
    in_channel = (o // (cout // groups)) * cin_g + c  # group g reads input channels g*cin_g ...
    rows = ((o * ho + oi) * wo + oj).expand(shape)[inside]
    cols = ((in_channel * h + ii) * w + ij).expand(shape)[inside]
    values = weight[:, :, :, :, None, None].expand(shape)[inside]
    return torch.sparse_coo_tensor(
        torch.stack([rows, cols]), values, (cout * ho * wo, cin_g * groups * h * w),
        check_invariants=False,  # indices are in range by construction; checking costs a pass over them
    ).coalesce()


def conv_transpose2d_matrix(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """Same contract as `torch.nn.functional.conv_transpose2d`, computed as Cᵀ @ x.flatten().

    x: (N, C_in, H, W) or (C_in, H, W); weight: (C_in, C_out/groups, kH, kW); bias: (C_out,) or None.
    C is the matrix of the ordinary convolution F.conv2d(·, weight) on an (H_out, W_out) input: that
    convolution maps C_out channels to C_in, so the same weight tensor is read the other way round.
    """
    args = check_transposed_args(x, weight, bias, stride, padding, output_padding, groups, dilation)
    out_h, out_w = args.out_size
    c = conv_matrix(weight, (out_h, out_w), args.stride, args.padding, args.dilation, args.groups)

    # The ordinary convolution of an (H_out, W_out) image has H rows, or more when output_padding
    # >= stride (allowed with dilation): those extra rows are ones the transposed input does not
    # have, so they count as zeros.
    xb = args.x
    n, cin, h, w = xb.shape
    ho = conv_output_size(out_h, args.kernel[0], args.stride[0], args.padding[0], args.dilation[0])
    wo = conv_output_size(out_w, args.kernel[1], args.stride[1], args.padding[1], args.dilation[1])
    xb = F.pad(xb, (0, wo - w, 0, ho - h))

    columns = xb.reshape(n, cin * ho * wo).T  # one flattened image per column
    out = torch.sparse.mm(c.t(), columns).T.reshape(n, args.out_channels, out_h, out_w)
    return args.finish(out, bias)

"""Size arithmetic of ordinary and transposed convolutions, per spatial dimension.

Notation of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning":
input size i, kernel size k, stride s, padding p, output padding a, dilation d.

    ordinary   o  = floor((i + 2p - d(k-1) - 1) / s) + 1
    transposed o' = (i' - 1)s - 2p + d(k-1) + a + 1          (PyTorch's formula)

The functions take plain ints (one dimension) and raise ValueError naming the reason
when a combination is invalid, so that callers (and the CLI) can show it to the user.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

IntOrPair = Union[int, Sequence[int]]


def pair(value: IntOrPair, name: str) -> Tuple[int, int]:
    """`3` -> (3, 3); `(3, 2)` -> (3, 2). Rejects anything that is not one or two ints."""
    if isinstance(value, bool):  # bool is an int subclass; True as a stride is a bug, not a 1
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items  # type: ignore[return-value]


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind}, got {value}")


def conv_output_size(in_size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size of an ordinary convolution (`F.conv2d`) along one dimension.

    >>> conv_output_size(4, 3)          # 3x3 kernel on a 4x4 input -> 2x2
    2
    >>> conv_output_size(5, 3, stride=2, padding=1)
    3
    """
    _check_int(in_size, "input size", 1)
    _check_int(kernel_size, "kernel size", 1)
    _check_int(stride, "stride", 1)
    _check_int(padding, "padding", 0)
    _check_int(dilation, "dilation", 1)
    span = dilation * (kernel_size - 1) + 1  # the extent the dilated kernel covers
    padded = in_size + 2 * padding
    if span > padded:
        raise ValueError(
            f"the kernel spans {span} pixels (dilation*(kernel-1)+1) but the padded input has only {padded}: "
            "the output would be empty"
        )
    return (padded - span) // stride + 1


def output_size(
    in_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output size of a transposed convolution (`F.conv_transpose2d`) along one dimension.

    >>> output_size(2, 3)                       # i'=2, k=3, s=1, p=0
    4
    >>> output_size(3, 3, stride=2, padding=1)  # i'=3, k=3, s=2, p=1
    5
    """
    _check_int(in_size, "input size", 1)
    _check_int(kernel_size, "kernel size", 1)
    _check_int(stride, "stride", 1)
    _check_int(padding, "padding", 0)
    _check_int(output_padding, "output_padding", 0)
    _check_int(dilation, "dilation", 1)
    # output_padding picks one of the `stride` input sizes that an ordinary convolution maps to the
    # same output size; it adds rows no input reaches, so PyTorch caps it (below stride or dilation).
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than the stride ({stride}) or the dilation ({dilation})"
        )
    size = (in_size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if size < 1:
        raise ValueError(
            f"padding {padding} crops everything: the output size (i-1)s - 2p + d(k-1) + a + 1 would be {size}"
        )
    return size


def transposed_params_for(
    in_size: int,
    out_size: int,
    kernel_size: int,
    stride: int | None = None,
    dilation: int = 1,
) -> list[Tuple[int, int, int]]:
    """All (stride, padding, output_padding) that make a transposed convolution map `in_size` to `out_size`.

    Only paddings 0 <= p <= dilation*(kernel_size-1) are listed: a larger padding would crop output
    pixels that real input values reached, which is legal but never what one wants. Strides range
    from 1 to `out_size` (a larger stride leaves more empty rows than there are output rows), or
    only `stride` if given. Sorted by stride, then padding. An empty list means "impossible".

    >>> transposed_params_for(4, 8, 4, stride=2)   # exact x2 upsampling with a 4x4 kernel
    [(2, 1, 0)]
    >>> transposed_params_for(4, 8, 3, stride=2)   # with a 3x3 kernel: needs output_padding
    [(2, 1, 1)]
    """
    _check_int(in_size, "input size", 1)
    _check_int(out_size, "output size", 1)
    _check_int(kernel_size, "kernel size", 1)
    _check_int(dilation, "dilation", 1)
    if stride is not None:
        _check_int(stride, "stride", 1)
    strides = [stride] if stride is not None else range(1, max(out_size, 1) + 1)
    choices = []
    for s in strides:
        for a in range(max(s, dilation)):  # every output_padding output_size accepts
            # out = (i-1)s - 2p + d(k-1) + a + 1  =>  2p = (i-1)s + d(k-1) + a + 1 - out
            twice_p = (in_size - 1) * s + dilation * (kernel_size - 1) + a + 1 - out_size
            if twice_p % 2 == 0 and 0 <= twice_p // 2 <= dilation * (kernel_size - 1):
                choices.append((s, twice_p // 2, a))
    return sorted(choices)

"""Transposed convolution, explained and verified.

A transposed convolution is not the inverse of a convolution: it restores a feature map's *size*,
and it is an ordinary convolution in disguise. This package computes it three independent ways,
each equal to `torch.nn.functional.conv_transpose2d`:

- `conv_transpose2d_scatter`: every input value stamps a scaled kernel into the output, overlaps add;
- `conv_transpose2d_zero_insertion`: insert zeros, pad, flip the kernel, run an ordinary convolution;
- `conv_transpose2d_matrix`: Cᵀ @ x, with C = `conv_matrix(...)` the (sparse) matrix of the convolution.

`output_size`, `conv_output_size` and `transposed_params_for` do the size arithmetic.
`explain_transposed_conv`, `explain_upsampling`, `explain_checkerboard` and `checkerboard_energy`
(the lessons behind `pixelseg explain ...`) are loaded on first use: they need matplotlib.
"""
from pixelseg.transposed.arithmetic import conv_output_size, output_size, transposed_params_for
from pixelseg.transposed.matrix import conv_matrix, conv_transpose2d_matrix
from pixelseg.transposed.scatter import conv_transpose2d_scatter
from pixelseg.transposed.zero_insertion import conv_transpose2d_zero_insertion, zero_insertion_steps

__all__ = [
    "output_size",
    "conv_output_size",
    "transposed_params_for",
    "conv_transpose2d_scatter",
    "conv_transpose2d_zero_insertion",
    "conv_transpose2d_matrix",
    "conv_matrix",
    "zero_insertion_steps",
    "explain_transposed_conv",
    "explain_upsampling",
    "explain_checkerboard",
    "checkerboard_energy",
]

_LAZY = {
    "explain_transposed_conv": "pixelseg.transposed.explain",
    "explain_upsampling": "pixelseg.transposed.upsampling",
    "explain_checkerboard": "pixelseg.transposed.checkerboard",
    "checkerboard_energy": "pixelseg.transposed.checkerboard",
}


def __getattr__(name: str):
    # The pictures need matplotlib; the arithmetic and the three implementations should not wait for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

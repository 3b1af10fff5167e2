"""`pixelseg explain WHAT`: lessons with pictures.

    pixelseg explain transposed-conv --input "[[1,2],[3,4]]" --kernel "[[1,0],[1,1]]" [--stride S ...]
    pixelseg explain upsampling [--out DIR]
    pixelseg explain checkerboard [--image FILE] [--out DIR]
"""
from __future__ import annotations

import argparse
import ast

from pixelseg.errors import PixelsegError

HELP = "Explain transposed convolution, upsampling and checkerboard artifacts, step by step with pictures."


class ExplainInputError(PixelsegError):
    """A flag of `pixelseg explain` that cannot be used (the message says which and why)."""


def _int_or_pair(text: str):
    """'2' -> 2, '2,1' or '(2, 1)' -> (2, 1): stride, padding etc. per (height, width)."""
    try:
        value = ast.literal_eval(text)  # "2,1" reads as the tuple (2, 1)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise argparse.ArgumentTypeError(f"expected an int or a pair like 2,1; got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)

    tc = sub.add_parser("transposed-conv", help="a transposed convolution step by step (text, PNGs, GIF)",
                        description="Every step of a transposed convolution of a small 2-D input: the scatter "
                                    "picture, zero insertion, border padding, the flipped kernel, the sliding "
                                    "products, the result and the matrix C. Writes a PNG per step and a GIF.")
    tc.add_argument("--input", default="[[1,2],[3,4]]", help='the input as a nested list (default "[[1,2],[3,4]]")')
    tc.add_argument("--kernel", default="[[1,0],[1,1]]", help='the kernel as a nested list (default "[[1,0],[1,1]]")')
    tc.add_argument("--stride", type=_int_or_pair, default=1, help="int or H,W (default 1)")
    tc.add_argument("--padding", type=_int_or_pair, default=0, help="int or H,W (default 0)")
    tc.add_argument("--output-padding", type=_int_or_pair, default=0, help="int or H,W (default 0)")
    tc.add_argument("--dilation", type=_int_or_pair, default=1, help="int or H,W (default 1)")
    tc.add_argument("--out", default="runs/explain/transposed-conv", help="folder for the pictures")

    up = sub.add_parser("upsampling", help="x2 by transposed conv, nearest, bilinear and max-unpooling",
                        description="One 4x4 feature map enlarged x2 by transposed convolution, nearest, bilinear "
                                    "and max-unpooling (with the max-pool's indices), side by side with the values.")
    up.add_argument("--out", default="runs/explain/upsampling", help="folder for the picture")

    cb = sub.add_parser("checkerboard", help="checkerboard artifacts of transposed convs, shown and measured",
                        description="Stacked stride-2 transposed convolutions (k=3, k=4) against resize-convolution "
                                    "on a constant input and on a real image, with the energy of the period-2 "
                                    "pattern per case.")
    cb.add_argument("--image", default=None, help="an image file (default: skimage's astronaut if installed, "
                                                  "else a synthetic picture)")
    cb.add_argument("--out", default="runs/explain/checkerboard", help="folder for the picture")


def _matrix(text: str, flag: str):
    """--input / --kernel text -> a 2-D float64 tensor, or an error naming the flag."""
    from pixelseg.transposed.explain import as_matrix

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ExplainInputError(f"{flag} must be a nested list of numbers like [[1,2],[3,4]], got {text!r}") from None
    try:
        return as_matrix(value, flag)
    except ValueError as err:
        raise ExplainInputError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    # Imported here: `pixelseg --help` should not pay for torch and matplotlib.
    try:
        if args.what == "transposed-conv":
            from pixelseg.transposed.explain import explain_transposed_conv

            explanation = explain_transposed_conv(
                _matrix(args.input, "--input"), _matrix(args.kernel, "--kernel"), stride=args.stride,
                padding=args.padding, output_padding=args.output_padding, dilation=args.dilation, out_dir=args.out)
        elif args.what == "upsampling":
            from pixelseg.transposed.upsampling import explain_upsampling

            explanation = explain_upsampling(out_dir=args.out)
        else:
            from pixelseg.transposed.checkerboard import explain_checkerboard

            explanation = explain_checkerboard(image=args.image, out_dir=args.out)
    except ValueError as err:  # invalid sizes or values: the library says why
        raise ExplainInputError(str(err)) from None
    print(explanation.text)
    return 0

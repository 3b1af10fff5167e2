"""pixelseg export"""
from __future__ import annotations

from pathlib import Path

from pixelseg.cli.checks import check_output_file
from pixelseg.errors import PixelsegError, UsageError

HELP = "export a checkpoint to ONNX (dynamic batch, height and width), checked against PyTorch"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint (.pt) to export")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="where to write the ONNX file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version, 18 up to what the installed onnx knows (default 18)")


def run(args) -> int:
    from pixelseg.inference.onnx import MIN_OPSET, export_onnx, max_opset  # onnx and the exporter load only for this command

    out = Path(args.onnx)
    if out.suffix.lower() != ".onnx":
        raise PixelsegError(f"{out}: the output name must end in .onnx (predict and apply choose the runtime by it)")
    if not MIN_OPSET <= args.opset <= max_opset():
        raise UsageError(f"--opset {args.opset}: the exporter writes opsets {MIN_OPSET} to {max_opset()} (older ones cannot express these models' padding)")
    check_output_file(out, "--onnx")
    check = export_onnx(args.checkpoint, out, opset=args.opset)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    print(check.summary())
    return 0

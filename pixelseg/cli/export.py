"""pixelseg export"""
from __future__ import annotations

from pathlib import Path

from pixelseg.errors import PixelsegError

HELP = "export a checkpoint to ONNX (dynamic batch, height and width), checked against PyTorch"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint (.pt) to export")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="where to write the ONNX file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")


def run(args) -> int:
    from pixelseg.inference.onnx import export_onnx  # onnx and the exporter load only for this command

    out = Path(args.onnx)
    if out.suffix.lower() != ".onnx":
        raise PixelsegError(f"{out}: the output name must end in .onnx (predict and apply choose the runtime by it)")
    check = export_onnx(args.checkpoint, out, opset=args.opset)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    print(check.summary())
    return 0

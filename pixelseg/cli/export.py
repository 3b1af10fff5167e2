"""pixelseg export"""
from __future__ import annotations

from pathlib import Path

from pixelseg.cli.checks import check_output_file
from pixelseg.cli.options import size_or_zero
from pixelseg.errors import PixelsegError, UsageError
from pixelseg.inference.refine import REFINEMENTS

HELP = "export a checkpoint to ONNX (dynamic batch, height and width, checked against PyTorch), or to a slim fp16 checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint (.pt, or a bundled model's name) to export")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version, 18 up to what the installed onnx knows (default 18)")
    parser.add_argument("--slim", metavar="OUT.pt", help="write a slim checkpoint: fp16 weights, no training state (how pixelseg/bundled is made)")
    parser.add_argument("--input-size", type=size_or_zero, default=None, metavar="N",
                        help="record in the output that the model runs at a long side of N pixels (0: the image's own size)")
    parser.add_argument("--refine", choices=REFINEMENTS, default=None, help="record the refinement the model runs with")


def run(args) -> int:
    from pixelseg.engine.checkpoint import atomic_save, half_weights, inference_settings, load_checkpoint

    if not args.onnx and not args.slim:
        raise UsageError("say what to write: --onnx OUT.onnx, --slim OUT.pt, or both")
    if args.onnx:
        from pixelseg.inference.onnx import MIN_OPSET, max_opset  # onnx and the exporter load only when asked for

        if Path(args.onnx).suffix.lower() != ".onnx":
            raise PixelsegError(f"{args.onnx}: the output name must end in .onnx (predict and apply choose the runtime by it)")
        if not MIN_OPSET <= args.opset <= max_opset():
            raise UsageError(f"--opset {args.opset}: the exporter writes opsets {MIN_OPSET} to {max_opset()} (older ones cannot express these models' padding)")
        check_output_file(args.onnx, "--onnx")
    if args.slim:
        check_output_file(args.slim, "--slim")
    checkpoint = load_checkpoint(args.checkpoint)
    settings = inference_settings(checkpoint, input_size=args.input_size, refine=args.refine)
    slim = {key: checkpoint[key] for key in ("format", "model", "mode", "state_dict", "classes", "mean", "std", "epoch", "metrics") if key in checkpoint}
    slim["inference"] = settings
    if args.onnx:
        from pixelseg.inference.onnx import export_onnx  # onnx and the exporter load only for this command

        out = Path(args.onnx)
        check = export_onnx(slim, out, opset=args.opset)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
        print(check.summary())
    if args.slim:
        out = atomic_save(half_weights(slim), args.slim)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, fp16 weights; runs with {settings or 'the defaults'})")
    return 0

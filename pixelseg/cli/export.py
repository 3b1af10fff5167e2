"""pixelseg export"""
from __future__ import annotations

from pathlib import Path

from pixelseg.cli.checks import check_output_file
from pixelseg.cli.options import positive_int, size_or_zero
from pixelseg.errors import PixelsegError, UsageError
from pixelseg.inference.refine import REFINEMENTS

DEFAULT_CALIBRATION_COUNT = 32  # --int8: network inputs the activation ranges are read from

HELP = "export a checkpoint to ONNX (dynamic batch, height and width, checked against PyTorch), or to a slim fp16 checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint (.pt, or a bundled model's name) to export")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version, 18 up to what the installed onnx knows (default 18)")
    parser.add_argument("--slim", metavar="OUT.pt", help="write a slim checkpoint: fp16 weights, no training state (how pixelseg/bundled is made)")
    parser.add_argument("--input-size", type=size_or_zero, default=None, metavar="N",
                        help="record in the output that the model runs at a long side of N pixels (0: the image's own size)")
    parser.add_argument("--refine", choices=REFINEMENTS, default=None, help="record the refinement the model runs with")
    parser.add_argument("--int8", action="store_true", help="--onnx is written int8-quantized (static, calibrated on --calibrate): "
                        "faster on CPUs; the summary says how often it gives the float model's class")
    parser.add_argument("--calibrate", nargs="+", default=None, metavar="INPUT",
                        help="images, videos, folders or quoted globs whose pictures calibrate --int8 (a few of the pictures the model will see)")
    parser.add_argument("--calibration-count", type=positive_int, default=DEFAULT_CALIBRATION_COUNT, metavar="N",
                        help=f"calibration pictures used at most (video frames spread over each video; default {DEFAULT_CALIBRATION_COUNT})")


def run(args) -> int:
    from pixelseg.engine.checkpoint import atomic_save, half_weights, inference_settings, load_checkpoint

    if not args.onnx and not args.slim:
        raise UsageError("say what to write: --onnx OUT.onnx, --slim OUT.pt, or both")
    if args.int8 and not args.onnx:
        raise UsageError("--int8 quantizes the ONNX file: give --onnx OUT.onnx")
    if args.int8 and not args.calibrate:
        raise UsageError("--int8 needs --calibrate INPUT...: images or videos like those the model will see (their activations set int8's ranges)")
    if args.calibrate and not args.int8:
        raise UsageError("--calibrate is for --int8")
    calibration = None
    if args.int8:
        from pixelseg.inference.inputs import expand_inputs

        calibration = expand_inputs(args.calibrate)  # a missing or odd input is named before any export
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
        if calibration is None:
            check = export_onnx(slim, out, opset=args.opset)
        else:
            check = export_int8(slim, out, args.opset, calibration, args.calibration_count, settings.get("input_size"))
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB{', int8' if args.int8 else ''})")
        print(check.summary())
    if args.slim:
        out = atomic_save(half_weights(slim), args.slim)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, fp16 weights; runs with {settings or 'the defaults'})")
    return 0


def export_int8(checkpoint: dict, out: Path, opset: int, calibration: list[Path], count: int, input_size: int | None):
    """The float export (checked against PyTorch) into a temporary file, then its int8 quantization
    into `out`; returns the float check, having printed how often int8 gives the float class."""
    import tempfile

    from pixelseg.inference.onnx import export_onnx
    from pixelseg.inference.quantize import agreement, calibration_inputs, quantize_int8

    with tempfile.TemporaryDirectory(prefix="pixelseg-export-") as scratch:
        float_model = Path(scratch) / "float.onnx"
        check = export_onnx(checkpoint, float_model, opset=opset)
        inputs = calibration_inputs(calibration, checkpoint["mean"], checkpoint["std"], input_size, count)
        quantize_int8(float_model, out, inputs)
        same = agreement(float_model, out, inputs)
    print(f"int8: calibrated on {len(inputs)} picture{'s' * (len(inputs) != 1)} at {'a long side of ' + str(input_size) if input_size else 'their own size'}; "
          f"the same class as the float model on {same:.2%} of their pixels")
    return check

"""Export to ONNX, and check the export against PyTorch before it is kept.

The .onnx file is self-contained: besides the graph (normalised images (B, 3, H, W) float32 ->
logits (B, C, H, W), batch, height and width dynamic; C = 1 for a binary model) its metadata holds
the class names, the input normalisation, the model's record and its mode, so `OnnxPredictor` needs
nothing else.

Models pad inside to a multiple of their stride. The exporter (torch.export, "dynamo") traces the
padding symbolically only if the example input needs some: traced on a multiple of 32 the padding
branch is skipped and the graph silently works for multiples of 32 only. So the example is an odd
size, and the check runs sizes that need padding and sizes that do not.
"""
from __future__ import annotations

import inspect
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pixelseg.data.folder import normalize
from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint
from pixelseg.errors import PixelsegError
from pixelseg.inference.atomic import atomic_path
from pixelseg.runtime.outputs import class_ids

FORMAT = "pixelseg-onnx-1"
# torch's exporter writes opset 18 natively; older ones go through onnx's version converter, which
# has no adapter for Pad below 18 (every model pads), and the exporter then keeps 18 without failing.
MIN_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "images", "logits"
# Models accept any H, W >= 32 (registry contract); the exported graph says so too.
MIN_SIDE = 32
# (batch, height, width) the check runs: odd sizes that need padding, and a multiple of 32.
CHECK_SHAPES = ((1, 97, 131), (2, 256, 256), (1, 33, 64))
# Acceptance: logits within this (absolute) and the same class (argmax, or a binary model's σ > 0.5)
# on at least this share of pixels.
LOGIT_TOLERANCE = 1e-3
ARGMAX_AGREEMENT = 0.999


@dataclass
class ExportCheck:
    """ONNX Runtime against PyTorch on the same inputs."""

    shapes: list[tuple[int, int, int]]
    max_abs_diff: float        # largest |logit difference| over every pixel, class and shape
    argmax_agreement: float    # share of pixels with the same class (a binary model's: the same side of σ = 0.5)

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= LOGIT_TOLERANCE and self.argmax_agreement >= ARGMAX_AGREEMENT

    def summary(self) -> str:
        sizes = ", ".join(f"{b}×{h}×{w}" for b, h, w in self.shapes)
        verdict = "passed" if self.passed else "FAILED"
        return (f"check {verdict} (ONNX Runtime vs PyTorch on B×H×W {sizes}): max |Δlogit| {self.max_abs_diff:.2e} "
                f"(limit {LOGIT_TOLERANCE:.0e}), same argmax on {self.argmax_agreement:.4%} of pixels (limit {ARGMAX_AGREEMENT:.1%})")


def export_onnx(checkpoint: str | Path | dict, out: str | Path, opset: int = 18) -> ExportCheck:
    """Export a checkpoint (path or loaded dict) to `out`, check it, and only then put it in place.

    Raises PixelsegError (and leaves no file at `out`) when the check fails.
    """
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint)
    model = model_from_checkpoint(checkpoint).float().eval()
    out = Path(out)
    with atomic_path(out) as tmp:
        _export_graph(model, tmp, opset)
        _write_metadata(tmp, checkpoint)
        check = check_onnx(model, tmp, checkpoint["mean"], checkpoint["std"])
        if not check.passed:
            raise PixelsegError(f"{out}: the exported model does not match PyTorch, not written; {check.summary()}")
    return check


def max_opset() -> int:
    """The newest opset the installed onnx package defines."""
    import onnx

    return onnx.defs.onnx_opset_version()


def _export_graph(model: torch.nn.Module, path: Path, opset: int) -> None:
    example = torch.randn(1, 3, 97, 131)  # not a multiple of any stride: see the module docstring
    dims = {0: torch.export.Dim("batch", min=1, max=4096), 2: torch.export.Dim("height", min=MIN_SIDE, max=16384),
            3: torch.export.Dim("width", min=MIN_SIDE, max=16384)}
    forward_arg = next(iter(inspect.signature(model.forward).parameters))  # dynamic_shapes is keyed by argument name
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals mean nothing to a user
        try:
            program = torch.onnx.export(model, (example,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes={forward_arg: dims}, opset_version=opset, dynamo=True, verbose=False)
        except Exception as err:
            raise PixelsegError(f"ONNX export of model {model.pixelseg_config['name']!r} failed: {err}") from err
    program.save(str(path))
    import onnx

    written = next((entry.version for entry in onnx.load(str(path), load_external_data=False).opset_import if entry.domain in ("", "ai.onnx")), None)
    if written != opset:  # the exporter falls back to another opset with only a log message
        raise PixelsegError(f"ONNX export at opset {opset} failed: the exporter could only write opset {written}")


def _write_metadata(path: Path, checkpoint: dict) -> None:
    """Class names, normalisation and the model's record into the file; readable output dim names."""
    import onnx

    graph = onnx.load(str(path))
    # The exporter names output dims after its symbolic arithmetic (Min(height, 4*((height + ...)))).
    for dim, name in zip(graph.graph.output[0].type.tensor_type.shape.dim, ("batch", None, "height", "width")):
        if name is not None:
            dim.dim_param = name
    metadata = {
        "format": FORMAT,
        "classes": json.dumps(list(checkpoint["classes"])),
        "mean": json.dumps(list(checkpoint["mean"])),
        "std": json.dumps(list(checkpoint["std"])),
        "model": json.dumps(checkpoint["model"]),
        "mode": json.dumps(checkpoint.get("mode", "multiclass")),
        "inference": json.dumps(checkpoint.get("inference") or {}),
    }
    del graph.metadata_props[:]
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = f"pixelseg.{key}", value
    onnx.save(graph, str(path))


def read_metadata(path: str | Path, session=None) -> dict:
    """{"classes", "mean", "std", "model", "inference"} from a pixelseg .onnx file; PixelsegError if it is not one."""
    if session is None:
        session = open_session(path)
    props = session.get_modelmeta().custom_metadata_map
    if props.get("pixelseg.format") != FORMAT:
        raise PixelsegError(f"{path}: an ONNX file without pixelseg's metadata (export it with `pixelseg export`)")
    meta = {key: json.loads(props[f"pixelseg.{key}"]) for key in ("classes", "mean", "std", "model")}
    meta["inference"] = json.loads(props.get("pixelseg.inference", "{}"))  # absent from files exported before it existed
    return meta


def open_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session; a PixelsegError names the file when it is missing or unreadable."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise PixelsegError(f"{path}: ONNX file not found")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the optimiser's notes are not the user's business
    if threads:
        options.intra_op_num_threads = threads
    # Threads spin while a run lasts (a graph of many short operators would otherwise wake them
    # by a system call for each) and stop the moment it returns: spinning on between runs took the
    # cores that decoding and compositing need (the segment step ~2× slower in a video loop on 2
    # cores), never spinning made the int8 segment step 1.50× MediaPipe's in bench/realtime.py's loop
    # against 1.16× spinning within runs (docs/benchmarks.md, "Real-time").
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise PixelsegError(f"{path}: not a readable ONNX model ({str(err).splitlines()[0]})") from None


def check_onnx(model: torch.nn.Module, path: str | Path, mean, std, shapes=CHECK_SHAPES, seed: int = 0) -> ExportCheck:
    """Run PyTorch and ONNX Runtime on the same random images of each (batch, height, width)."""
    session = open_session(path)
    generator = torch.Generator().manual_seed(seed)
    worst, same, total = 0.0, 0, 0
    for batch, height, width in shapes:
        images = torch.randint(0, 256, (batch, 3, height, width), generator=generator, dtype=torch.uint8)
        x = normalize(images, mean, std)
        with torch.no_grad():
            expected = model(x).float().numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if got.shape != expected.shape:
            return ExportCheck(list(shapes), float("inf"), 0.0)
        worst = max(worst, float(np.abs(got - expected).max()))
        same += int((class_ids(torch.from_numpy(got)) == class_ids(torch.from_numpy(expected))).sum())  # argmax, or σ > 0.5
        total += got.shape[0] * got.shape[2] * got.shape[3]
    return ExportCheck([tuple(s) for s in shapes], worst, same / total)

"""int8 ONNX: static quantization of an exported model, calibrated on the user's own pictures.

    float graph (inference.onnx.export_onnx) -> ONNX Runtime's quantize_static: QDQ format,
    per-channel int8 weights, uint8 activations whose ranges are read from the network's inputs of a
    few calibration images or video frames, resized and normalised exactly as the runtimes feed them
    (Runtime.network) -> an int8 .onnx with the float model's metadata (classes, normalisation,
    inference settings), so OnnxPredictor runs it like any export.

On 2 CPU cores the bundled person model's network runs about a quarter faster in int8 and keeps its
person IoU (docs/benchmarks.md); `agreement` says how often the int8 and float graphs give the
same class, which is what to check on one's own model before shipping it.
"""
from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from pixelseg.data.folder import load_image, normalize
from pixelseg.errors import DataError
from pixelseg.inference.atomic import atomic_path
from pixelseg.inference.onnx import INPUT_NAME, OUTPUT_NAME, open_session
from pixelseg.inference.video_io import VideoReader, is_video
from pixelseg.runtime.outputs import class_ids
from pixelseg.runtime.sliding import to_long_side


def calibration_inputs(paths: Iterable[Path], mean, std, input_size: int | None, count: int) -> list[np.ndarray]:
    """Up to `count` network inputs (1, 3, h, w) float32 from images and video frames (frames spread
    over each video's length), resized to `input_size` on the longer side and normalised."""
    pictures: list[np.ndarray] = []
    paths = list(paths)
    per_file = max(1, -(-count // max(1, len(paths))))
    for path in paths:
        if is_video(path):
            with VideoReader(path) as video:  # every step-th frame, and no decoding past the last one taken
                step = max(1, (video.info.frames or per_file) // per_file)
                pictures += list(itertools.islice(video, 0, step * per_file, step))
        else:
            pictures.append(load_image(path))
    if not pictures:
        raise DataError(f"no calibration pictures in {', '.join(map(str, paths)) or 'the inputs'}")
    inputs = []
    for picture in pictures[:count]:
        image = torch.from_numpy(np.ascontiguousarray(picture)).permute(2, 0, 1)[None]   # (1, 3, H, W) uint8
        inputs.append(normalize(to_long_side(image, input_size), mean, std).numpy())      # (1, 3, h, w) float32
    return inputs


def quantize_int8(float_model: str | Path, out: str | Path, inputs: list[np.ndarray]) -> Path:
    """Write the int8 quantization of the exported `float_model` to `out` (whole or not at all)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Inputs(CalibrationDataReader):
        def __init__(self):
            self.items = iter({INPUT_NAME: x} for x in inputs)

        def get_next(self):
            return next(self.items, None)

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="pixelseg-int8-") as scratch, atomic_path(out) as tmp:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(tmp), Inputs(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        source, target = onnx.load(str(float_model)), onnx.load(str(tmp))
        del target.metadata_props[:]
        target.metadata_props.extend(source.metadata_props)   # classes, normalisation, inference settings
        onnx.save(target, str(tmp))
    return out


def agreement(float_model: str | Path, int8_model: str | Path, inputs: list[np.ndarray]) -> float:
    """Share of pixels where the two graphs give the same class on `inputs` (argmax, or σ > 0.5)."""
    a, b = open_session(float_model), open_session(int8_model)
    same = total = 0
    for x in inputs:
        ids_a = class_ids(torch.from_numpy(a.run([OUTPUT_NAME], {INPUT_NAME: x})[0]))
        ids_b = class_ids(torch.from_numpy(b.run([OUTPUT_NAME], {INPUT_NAME: x})[0]))
        same, total = same + int((ids_a == ids_b).sum()), total + ids_a.numel()
    return same / total

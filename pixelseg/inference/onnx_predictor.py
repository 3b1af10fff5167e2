"""OnnxPredictor: Predictor's interface over an exported .onnx file, run by ONNX Runtime.

Only the .onnx file is needed (classes and normalisation are in its metadata, see inference.onnx),
so a deployment needs neither the checkpoint nor, past this wrapper, PyTorch's autograd machinery.
Sliding windows, flip TTA, input resizing and batching are the code Predictor runs too (both are a
`Runtime`): only `forward` differs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.errors import PixelsegError
from pixelseg.inference.onnx import INPUT_NAME, MIN_SIDE, OUTPUT_NAME, open_session, read_metadata
from pixelseg.inference.predictor import Runtime
from pixelseg.runtime.outputs import mode_of


class OnnxPredictor(Runtime):
    """>>> predictor = OnnxPredictor.from_onnx("person.onnx", input_size=256)
    >>> mask = predictor.predict(image)   # (H, W) uint8, as Predictor.predict
    """

    runtime = "onnx"

    def __init__(self, session, classes: list[str], mean, std, window=None, flip: bool = False, max_size=None, input_size=None,
                 refine: str = "none", threshold: float | None = None, mode: str = "multiclass", scales=None, size_multiple=None):
        super().__init__(classes, mean, std, window, flip, max_size, input_size, refine, threshold, mode, scales, size_multiple)
        self.session = session
        self.device, self.precision = torch.device("cpu"), "fp32"  # what ONNX Runtime runs here (for GET /api/model)

    @classmethod
    def from_onnx(cls, path: str | Path, threads: int | None = None, **options) -> "OnnxPredictor":
        session = open_session(path, threads)
        meta = read_metadata(path, session)
        # The checkpoint's "inference" settings travel in the metadata; options given override them.
        options = {**meta["inference"], **{k: v for k, v in options.items() if v is not None}}
        return cls(session, meta["classes"], meta["mean"], meta["std"], mode=mode_of(meta["model"]["num_classes"]), **options)

    @classmethod
    def from_checkpoint(cls, path, device="auto", precision: str = "fp32", threads: int | None = None, **options) -> "OnnxPredictor":
        """For symmetry with Predictor: `path` is the .onnx file; ONNX Runtime runs fp32 on the CPU."""
        if precision != "fp32":
            raise PixelsegError(f"--precision {precision} is for --runtime torch; ONNX Runtime runs the exported fp32 graph")
        if str(device) not in ("auto", "cpu"):
            raise PixelsegError(f"--device {device} is for --runtime torch; ONNX Runtime runs here on the CPU")
        return cls.from_onnx(path, threads=threads, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 3, h, w) -> logits (B, C, h, w).

        Sides under 32 (the graph's minimum) are padded here, bottom and right, by reflection as the
        models pad inside, and cropped back. A model of stride 32 then computes exactly what PyTorch
        does; one of a smaller stride (a 2-level U-Net) sees more padding than it would in PyTorch,
        so its outputs differ near the padded border of such tiny images."""
        height, width = x.shape[-2:]
        pad_h, pad_w = max(0, MIN_SIDE - height), max(0, MIN_SIDE - width)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        feed = np.ascontiguousarray(x.detach().float().cpu().numpy())
        logits = torch.from_numpy(self.session.run([OUTPUT_NAME], {INPUT_NAME: feed})[0])
        return logits[..., :height, :width]

"""One entry point for every runtime: a .pt checkpoint runs in PyTorch, a .onnx file in ONNX Runtime."""
from __future__ import annotations

from pathlib import Path

import torch

from pixelseg.engine.checkpoint import resolve_checkpoint
from pixelseg.errors import PixelsegError
from pixelseg.inference.predictor import Predictor, Runtime

RUNTIMES = ("torch", "onnx")


def load_predictor(path: str | Path, runtime: str | None = None, device="auto", precision: str = "fp32", threads: int | None = None,
                   **options) -> Runtime:
    """A Predictor (or OnnxPredictor) for `path`: a file or a bundled model's name.

    runtime: "torch", "onnx", or None to choose by the file's suffix (.onnx -> onnx).
    threads: CPU threads for the network (None: the library's default). With ONNX Runtime, PyTorch
        (which only resizes and normalises around the graph) is set to one thread for the whole
        process: two thread pools taking turns on few cores stall each other (on 2 cores a 640×480
        frame took ~50 ms instead of ~5).
    options: window, flip, max_size, input_size (see Predictor).
    """
    path = resolve_checkpoint(path)  # a file, or a bundled model's (person.pt, person-fast.onnx)
    if runtime is None:
        runtime = "onnx" if path.suffix.lower() == ".onnx" else "torch"
    if runtime not in RUNTIMES:
        raise PixelsegError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    is_onnx = path.suffix.lower() == ".onnx"
    if runtime == "onnx" and not is_onnx:
        raise PixelsegError(f"{path}: --runtime onnx needs an .onnx file; make one with `pixelseg export --checkpoint {path} --onnx MODEL.onnx`")
    if runtime == "torch" and is_onnx:
        raise PixelsegError(f"{path}: an ONNX file runs with --runtime onnx, not torch")
    if runtime == "onnx":
        from pixelseg.inference.onnx_predictor import OnnxPredictor  # onnxruntime only when asked for

        torch.set_num_threads(1)
        return OnnxPredictor.from_checkpoint(path, device, precision, threads=threads, **options)
    if threads:
        torch.set_num_threads(threads)
    return Predictor.from_checkpoint(path, device, precision, **options)

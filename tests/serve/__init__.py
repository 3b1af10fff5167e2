"""Helpers for the serve tests: a model whose every answer is known, scenes for it, a live server.

The model is the tiny U-Net (`create_model("unet", 3, base_channels=4, depth=2)`) with crafted
weights: every convolution on the full-resolution path is a centre-tap identity, the deeper path
is cut off, and the 1×1 head scores each pixel on its own colour:

    person  = 4·R − 2.6        thing = 4·B − 2.6        background = 0      (R, B in [0, 1])

so a pixel is "person" when it is clearly red, "thing" when clearly blue, and background
otherwise. `scene()` paints render_scene's shapes in such colours, with a margin no noise crosses,
so the model's mask equals the painted mask exactly, computed without the model.
"""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np
import torch

import pixelseg
from pixelseg.data.synthetic import render_scene
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload

CLASSES = ["background", "person", "thing"]
# Paint per class (RGB in [0, 1]). With texture and noise (±0.09) every pixel's winning score still
# leads the next by more than 0.2: no rounding anywhere can change the argmax.
COLOURS = {0: (0.50, 0.52, 0.49), 1: (0.92, 0.45, 0.25), 2: (0.25, 0.45, 0.92)}


def colour_unet(gain: float = 4.0) -> torch.nn.Module:
    """The tiny U-Net with the crafted weights described above (eval mode). `gain` scales the head
    (scores gain·R − 0.65·gain): 40 makes every painted pixel's probability 0 or 1 to within 1e-3."""
    torch.manual_seed(0)
    model = pixelseg.create_model("unet", len(CLASSES), base_channels=4, depth=2)
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in state.items():
            if name.endswith("running_mean") or (name.endswith(".bias") and "head" not in name and tensor.ndim == 1):
                tensor.zero_()
            elif name.endswith("running_var") or (name.endswith(".weight") and tensor.ndim == 1):
                tensor.fill_(1.0)  # batch norms become (almost exactly) the identity
        stem = state["encoder.stem.0.weight"]               # (c0, 3, 3, 3): channel 0 = R, 1 = B
        stem.zero_()
        stem[0, 0, 1, 1] = stem[1, 2, 1, 1] = 1.0
        fuse = state["decoder.skip_stages.1.fuse.0.weight"]  # (out, upsampled + c0 skip, 3, 3)
        skip = fuse.shape[1] - stem.shape[0]                 # the skip's channels come after the upsampled ones
        fuse.zero_()                                         # nothing from the deeper path
        fuse[0, skip, 1, 1] = fuse[1, skip + 1, 1, 1] = 1.0  # the stem's R and B, unchanged
        head_w, head_b = state["head.weight"], state["head.bias"]
        head_w.zero_()
        head_w[1, 0] = head_w[2, 1] = gain
        head_b[:] = torch.tensor([0.0, -0.65 * gain, -0.65 * gain])
    model.load_state_dict(state)
    return model.eval()


def write_checkpoint(path: Path, gain: float = 4.0) -> Path:
    """The crafted model as a pixelseg checkpoint; no normalisation (mean 0, std 1), so the model sees RGB in [0, 1]."""
    return atomic_save(checkpoint_payload(colour_unet(gain), CLASSES, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), epoch=1), path)


def scene(seed: int, height: int = 96, width: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic photo and the mask the crafted model gives it: render_scene's shapes, discs as
    "person" and the other shapes as "thing", painted in their class colours with texture and noise."""
    _, shapes_mask, _ = render_scene(seed, height, width)
    mask = np.where(shapes_mask == 1, 1, np.where(shapes_mask > 1, 2, 0)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    image = np.array([COLOURS[c] for c in range(3)])[mask]                      # (H, W, 3)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    image = image + 0.05 * np.sin(6 * xs + 4 * ys)[..., None] + rng.uniform(-0.04, 0.04, image.shape)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def expected_mask(image: np.ndarray) -> np.ndarray:
    """The crafted model's rule, in numpy."""
    rgb = image.astype(np.float64) / 255
    scores = np.stack([np.zeros(rgb.shape[:2]), 4 * rgb[..., 0] - 2.6, 4 * rgb[..., 2] - 2.6])
    return scores.argmax(0).astype(np.uint8)


@contextlib.contextmanager
def running_server(app):
    """Serve `app` with uvicorn on 127.0.0.1 at a free port in a background thread; yields its URL."""
    from pixelseg.serve import listen, url_of, uvicorn_server

    sock = listen("127.0.0.1", 0)
    server = uvicorn_server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def torch_threads(n: int):
    """Intra-op threads for the block: one keeps a tiny model fast on a busy shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

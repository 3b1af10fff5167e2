"""Small things the inference, apply and CLI tests make: tiny checkpoints, test videos, an oracle predictor.

Everything is generated in the test's temporary folder; nothing is downloaded or shipped.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

import pixelseg
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload
from pixelseg.inference.predictor import NetworkOutput, Predictor

CLASSES = ["background", "person", "sky"]
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
_EXPORTED: dict[Path, Path] = {}


def tiny_checkpoint(path: Path, classes=CLASSES, seed: int = 0) -> Path:
    """A randomly initialised 2-level U-Net of width 4: milliseconds per image, real architecture."""
    torch.manual_seed(seed)
    model = pixelseg.create_model("unet", len(classes), base_channels=4, depth=2)
    return atomic_save(checkpoint_payload(model, classes, MEAN, STD), path)


def exported_onnx(checkpoint: Path) -> Path:
    """`checkpoint` exported once per test session (an export takes seconds)."""
    if checkpoint not in _EXPORTED:
        from pixelseg.inference.onnx import export_onnx

        out = checkpoint.with_suffix(".onnx")
        export_onnx(checkpoint, out)
        _EXPORTED[checkpoint] = out
    return _EXPORTED[checkpoint]


def moving_square(index: int, height: int = 48, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Frame `index` of a scene: a red square sliding right over a blue-grey gradient; and its mask."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = np.linspace(60, 180, width, dtype=np.uint8)[None, :, None]
    image[..., 2] = 200
    mask = np.zeros((height, width), dtype=bool)
    top, left, side = height // 4, 4 + 6 * index, height // 2
    mask[top : top + side, left : left + side] = True
    image[mask] = (220, 30, 30)
    return image, mask


def square_scenes(root: Path, train: int = 8, val: int = 4) -> Path:
    """A two-class data set (background, square) of 48×112 `moving_square` frames: a binary problem a
    tiny network learns in a few steps. Train takes the even frames, val the odd ones."""
    from PIL import Image

    for split, indices in (("train", range(0, 2 * train, 2)), ("val", range(1, 2 * val, 2))):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "masks" / split).mkdir(parents=True, exist_ok=True)
        for index in indices:
            image, mask = moving_square(index, width=112)
            Image.fromarray(image).save(root / "images" / split / f"{index:03d}.png")
            Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / split / f"{index:03d}.png")
    (root / "classes.txt").write_text("background\nsquare\n")
    return root


def write_video(path: Path, frames: int = 6, size: tuple[int, int] = (48, 64), fps=12, codec: str = "h264", pix_fmt: str = "yuv420p",
                audio: bool = False) -> Path:
    """A test video of `moving_square` frames, written with PyAV; optionally with a silent AAC track."""
    height, width = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        audio_stream = container.add_stream("aac", rate=8000) if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_square(i, height, width)[0], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, int(8000 * frames / fps)), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 8000, 0
            for packet in [*audio_stream.encode(samples), *audio_stream.encode()]:
                container.mux(packet)
    return path


def video_facts(path: Path) -> dict:
    """What a viewer compares: frames actually decoded, size, frame rate, codec, audio tracks."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return {"frames": len(frames), "size": (stream.codec_context.height, stream.codec_context.width), "rate": stream.average_rate,
                "codec": stream.codec_context.name, "audio": len(container.streams.audio), "images": frames}


class OraclePredictor(Predictor):
    """A 'model' that knows the answer: class 1 where `mask_for(image)` is true, confidently.

    It stands in for a trained person model where a test needs known masks through the real loops.
    """

    def __init__(self, mask_for, classes=("background", "person")):
        self.mask_for, self.classes = mask_for, list(classes)
        self.mean, self.std, self.window, self.flip, self.max_size, self.input_size = MEAN, STD, None, False, None, None
        self.refine = "none"

    def network(self, images):
        masks = np.stack([self.mask_for(image) for image in images])          # (B, H, W) bool
        logits = torch.full((len(masks), len(self.classes), *masks.shape[1:]), -20.0)
        logits[:, 0][torch.from_numpy(~masks)] = 20.0
        logits[:, 1][torch.from_numpy(masks)] = 20.0
        full = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)         # (B, 3, H, W): the network's size
        return NetworkOutput(logits, full, full)


def red_mask(image: np.ndarray) -> np.ndarray:
    """The moving square's pixels, found by colour (robust to a lossy codec's small errors)."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 100) & (b < 100)

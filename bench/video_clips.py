"""The video-call test set: people moving over backgrounds, every frame with its exact mask.

Made deterministically from ../shared/datasets (nothing of it is shipped): human_seg's people (its
val split, portraits) framed head and shoulders, and the whole-body cut-outs of person_cutouts for
people walking, over person_cutouts' backgrounds. Each clip is one of

    still   one person, head and shoulders, swaying and breathing; the camera still (flicker)
    pan     the camera pans: the background slides, the person drifts the other way (parallax)
    zoom    the camera zooms in by 1.5×: person and background grow together
    walk    a person walks in from the left, across and out on the right (frames with nobody)
    two     two people: one sways on the left, a second walks in from the right and stays

at 640×480 and 1280×720. A frame is composited as pixelseg.data.composite pastes a person
(`place`, alpha blending, sensor noise), and its mask is where the people's combined alpha is at
least 0.5: exact, by construction. The people are small photos scaled up (to 4-7×), so they are
softer than a real webcam's; the motion, the framing and the edges are what this set is for.

    clips = make_clips(Path("runs/video-call"), datasets, frames=90)   # [(name, video.mp4, masks.npz)]
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pixelseg.data.composite import load_backgrounds, load_cutouts, load_photo_people, place

SCENARIOS = ("still", "pan", "zoom", "walk", "two")
SIZES = ((480, 640), (720, 1280))  # (H, W)
FPS = 30
NOISE = 2.0  # sensor noise, levels (σ)


@dataclass(frozen=True)
class Clip:
    name: str       # e.g. "walk-640x480"
    video: Path     # H.264, FPS frames/s
    masks: Path     # .npz: "masks" (T, H, W) bool, packed along W


def load_masks(clip: Clip) -> np.ndarray:
    """(T, H, W) bool."""
    with np.load(clip.masks) as data:
        packed, width = data["masks"], int(data["width"])
    return np.unpackbits(packed, axis=-1, count=width).astype(bool)


class People:
    """The people a clip can cast, by kind: portraits for head and shoulders, whole bodies for walking."""

    def __init__(self, datasets: Path):
        self.portraits = load_photo_people(datasets / "human_seg", split="val")
        self.bodies = load_cutouts(datasets / "person_cutouts" / "cutouts")
        self.backgrounds = load_backgrounds(datasets / "person_cutouts" / "backgrounds")


def _scaled(person: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGBA person (h, w, 4) scaled to `height` rows: (rgb float32 (H, W, 3), alpha float32 (H, W))."""
    width = max(2, round(person.shape[1] * height / person.shape[0]))
    rgba = np.asarray(Image.fromarray(np.ascontiguousarray(person)).resize((width, max(2, height)), Image.BICUBIC))
    return rgba[..., :3].astype(np.float32), rgba[..., 3].astype(np.float32) / 255.0


def _top_of(person: np.ndarray) -> np.ndarray:
    """A portrait's top, at most 1.2 × as tall as wide: the head and shoulders of a standing person."""
    return person[: max(8, min(person.shape[0], round(1.2 * person.shape[1])))]


def _head_and_shoulders(person: np.ndarray, frame_h: int, rng) -> tuple[np.ndarray, np.ndarray, int]:
    """A portrait scaled so it fills 75-95% of the frame's height: (rgb, alpha, top)."""
    rgb, alpha = _scaled(person, round(frame_h * rng.uniform(0.75, 0.95)))
    return rgb, alpha, frame_h - rgb.shape[0] + round(frame_h * 0.05)  # cut by the frame's bottom edge, as a webcam does


def _background(backgrounds, rng, height: int, width: int, margin: float) -> np.ndarray:
    """A background scaled to cover (height, width) × (1 + margin), room for the camera to move."""
    photo = backgrounds[rng.integers(len(backgrounds))]
    scale = max(height * (1 + margin) / photo.shape[0], width * (1 + margin) / photo.shape[1])
    size = (round(photo.shape[1] * scale) + 1, round(photo.shape[0] * scale) + 1)
    return np.asarray(Image.fromarray(photo).resize(size, Image.BILINEAR))


def _crop(big: np.ndarray, top: float, left: float, height: int, width: int, zoom: float = 1.0) -> np.ndarray:
    """The frame the camera sees: a (height/zoom, width/zoom) window of `big` at (top, left), scaled to the frame."""
    h, w = round(height / zoom), round(width / zoom)
    top, left = int(min(max(0, top), big.shape[0] - h)), int(min(max(0, left), big.shape[1] - w))
    window = big[top : top + h, left : left + w]
    if zoom == 1.0:
        return window.astype(np.float32)
    return np.asarray(Image.fromarray(window).resize((width, height), Image.BILINEAR)).astype(np.float32)


def render(scenario: str, size: tuple[int, int], frames: int, people: People, seed: int):
    """Frames (H, W, 3) uint8 and masks (H, W) bool of one clip, one pair at a time."""
    height, width = size
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), height])
    big = _background(people.backgrounds, rng, height, width, margin=0.5)
    portrait = _top_of(people.portraits[rng.integers(len(people.portraits))])
    body = people.bodies[rng.integers(len(people.bodies))]
    rgb, alpha, top = _head_and_shoulders(portrait, height, rng)
    body_rgb, body_alpha = _scaled(body, round(height * rng.uniform(0.8, 1.1)))
    sway, phase = width * 0.02, rng.uniform(0, 2 * np.pi)
    noise = np.random.default_rng([seed, SCENARIOS.index(scenario), height, 1])
    for index in range(frames):
        u = index / max(1, frames - 1)
        layers = []
        zoom, view_left, view_top = 1.0, (big.shape[1] - width) / 2, (big.shape[0] - height) / 2
        breathe = round(3 * np.sin(2 * np.pi * u * 2))
        centred = round(width / 2 - rgb.shape[1] / 2 + sway * np.sin(2 * np.pi * u * 1.5 + phase))
        if scenario == "still":
            layers.append((rgb, alpha, top + breathe, centred))
        elif scenario == "pan":
            view_left = (big.shape[1] - width) * u
            layers.append((rgb, alpha, top + breathe, round(centred + width * 0.12 * (0.5 - u))))
        elif scenario == "zoom":
            zoom = 1.0 + 0.5 * u
            grown_rgb, grown_alpha = _scaled(portrait, round(rgb.shape[0] * zoom))
            # Zoomed about the frame's centre: the person's top-left moves out from it by the zoom.
            cy, cx = height / 2, width / 2
            layers.append((grown_rgb, grown_alpha, round(cy + (top - cy) * zoom), round(cx + (centred - cx) * zoom)))
        elif scenario == "walk":
            left = round(-body_rgb.shape[1] + (width + body_rgb.shape[1]) * u)
            layers.append((body_rgb, body_alpha, height - body_rgb.shape[0] + round(height * 0.1) + round(4 * abs(np.sin(np.pi * u * 8))), left))
        else:  # two
            layers.append((rgb, alpha, top + breathe, round(width * 0.3 - rgb.shape[1] / 2 + sway * np.sin(2 * np.pi * u + phase))))
            arrive = min(1.0, u / 0.6)
            left = round(width - (width * 0.45) * arrive)
            layers.append((body_rgb, body_alpha, height - body_rgb.shape[0] + round(height * 0.15), left))
        image = _crop(big, view_top, view_left, height, width, zoom)                 # (H, W, 3) float32
        coverage = np.zeros((height, width), np.float32)
        for person_rgb, person_alpha, y0, x0 in layers:
            layer, a = place(person_rgb, person_alpha, y0, x0, height, width)
            image = a[..., None] * layer + (1 - a[..., None]) * image
            coverage = a + (1 - a) * coverage
        image += noise.normal(0, NOISE, image.shape)
        yield np.clip(image + 0.5, 0, 255).astype(np.uint8), coverage >= 0.5


def write_clip(out: Path, name: str, frames_and_masks) -> Clip:
    video, masks = out / f"{name}.mp4", []
    with av.open(str(video), "w") as container:
        stream = None
        for frame, mask in frames_and_masks:
            if stream is None:
                stream = container.add_stream("h264", rate=FPS)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt, stream.options = "yuv420p", {"crf": "16", "preset": "fast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            masks.append(np.packbits(mask, axis=-1))
        for packet in stream.encode():
            container.mux(packet)
    np.savez_compressed(out / f"{name}.npz", masks=np.stack(masks), width=mask.shape[1])
    return Clip(name, video, out / f"{name}.npz")


def make_clips(out: Path, datasets: Path, frames: int, seed: int = 0, scenarios=SCENARIOS, sizes=SIZES, progress=print) -> list[Clip]:
    """Every clip (scenario × size) in `out`, made once: a folder made with the same settings is reused."""
    out.mkdir(parents=True, exist_ok=True)
    settings = {"frames": frames, "seed": seed, "scenarios": list(scenarios), "sizes": [list(s) for s in sizes], "version": 1}
    names = [f"{scenario}-{w}x{h}" for (h, w) in sizes for scenario in scenarios]
    clips = [Clip(name, out / f"{name}.mp4", out / f"{name}.npz") for name in names]
    manifest = out / "clips.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == settings and all(c.video.is_file() and c.masks.is_file() for c in clips):
        return clips
    people = People(datasets)
    for (height, width) in sizes:
        for scenario in scenarios:
            name = f"{scenario}-{width}x{height}"
            progress(f"making {name} ({frames} frames)")
            write_clip(out, name, render(scenario, (height, width), frames, people, seed))
    manifest.write_text(json.dumps(settings))
    return clips

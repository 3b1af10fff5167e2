"""The effects pictures of docs/applications.md and the README, from pixelseg's bundled person model.

    python docs/figures/apply_effects.py                       # the bundled model, as `pixelseg apply` runs it

The photo is scikit-image's public-domain `astronaut()`. The effects run through `pixelseg.apply`,
the same code and defaults as `pixelseg apply` (the checkpoint's input size and refinement, feather 2,
solid core 0.2):

    docs/images/apply_effects.jpg   the photo, replace, blur, retain-color, cutout, side by side
    docs/images/apply_cutout.png    the cut-out itself (RGBA)
    docs/images/apply_mask.png      the person probability the effects used (white = person)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
TILE = 200  # pixels per side of each picture in the strip


def checkerboard(size: int, square: int = 12) -> np.ndarray:
    """A grey checkerboard (size, size, 3) uint8: what image editors show behind transparency."""
    y, x = np.indices((size, size)) // square
    return np.where(((x + y) % 2 == 0)[..., None], 204, 153).astype(np.uint8).repeat(3, axis=2)


def over(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + background * (1 - alpha)).round().astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="person", help="a checkpoint or a bundled model's name (default: person)")
    parser.add_argument("--input-size", type=int, default=None, help="the longer side the network sees (default: the checkpoint's)")
    args = parser.parse_args()

    import skimage.data

    from pixelseg.apply import Effect, Matte, default_target
    from pixelseg.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, input_size=args.input_size)
    photo = skimage.data.astronaut()                                          # (512, 512, 3) uint8
    matte = Matte(default_target(predictor.classes), feather=2, solid=0.2)
    alpha = matte.alpha(predictor.target_probability(photo, matte.target), photo)  # (512, 512) in [0, 1], as `pixelseg apply`

    effects = [Effect("replace", background="#3a7bd5"), Effect("blur", strength=15), Effect("retain-color"), Effect("cutout")]
    results = [photo] + [effect(photo, alpha) for effect in effects]
    tiles = [np.array(Image.fromarray(result).resize((TILE, TILE), Image.Resampling.LANCZOS)) for result in results]
    tiles[-1] = over(tiles[-1], checkerboard(TILE))                           # the cut-out, shown over a checkerboard

    IMAGES.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(IMAGES / "apply_effects.jpg", quality=85)
    Image.fromarray(results[-1]).resize((192, 192), Image.Resampling.LANCZOS).save(IMAGES / "apply_cutout.png", optimize=True)
    Image.fromarray((alpha * 255).round().astype(np.uint8)).resize((256, 256), Image.Resampling.BILINEAR).save(
        IMAGES / "apply_mask.png", optimize=True)
    for name in ("apply_effects.jpg", "apply_cutout.png", "apply_mask.png"):
        print(f"wrote {IMAGES / name} ({(IMAGES / name).stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

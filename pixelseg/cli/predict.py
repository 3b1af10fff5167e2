"""pixelseg predict"""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from tqdm import tqdm

from pixelseg.cli.options import add_runtime_arguments
from pixelseg.data.folder import load_image
from pixelseg.inference.predictor import Predictor
from pixelseg.viz.palette import mask_to_palette_image, overlay

HELP = "segment images: index masks (palette PNG) and overlays at each image's own size"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--quiet", action="store_true")
    add_runtime_arguments(parser)


def predict_files(predictor: Predictor, paths: list[Path], out: Path, progress: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tqdm(paths, desc="predict", disable=not progress, unit="img"):
        image = load_image(path)
        mask = predictor.predict(image)  # (H, W) at the image's own size
        mask_to_palette_image(mask).save(out / f"{path.stem}.png")
        Image.fromarray(overlay(image, mask)).save(out / f"{path.stem}_overlay.jpg", quality=90)
        written.append(out / f"{path.stem}.png")
    return written


def run(args) -> int:
    predictor = Predictor.from_checkpoint(args.checkpoint, args.device, args.precision)
    predict_files(predictor, [Path(p) for p in args.inputs], Path(args.out), progress=not args.quiet)
    print(f"wrote {len(args.inputs)} masks and overlays to {args.out}")
    return 0

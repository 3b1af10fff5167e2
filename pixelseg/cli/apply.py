"""pixelseg apply"""
from __future__ import annotations

from pathlib import Path

from pixelseg.apply.effects import EFFECTS, Effect, parse_color
from pixelseg.apply.files import apply_paths, output_paths
from pixelseg.apply.image import DEFAULT_FEATHER, DEFAULT_SMOOTHING, DEFAULT_SMOOTHING_MODE, DEFAULT_SOLID, DEFAULT_STRENGTH
from pixelseg.apply.matte import Matte, default_target
from pixelseg.apply.smoothing import SMOOTHING_MODES
from pixelseg.cli.options import probability
from pixelseg.cli.predict import add_inference_arguments, predictor_from_args
from pixelseg.data.folder import load_image
from pixelseg.errors import PixelsegError
from pixelseg.inference import shards
from pixelseg.inference.inputs import expand_inputs
from pixelseg.inference.video_io import is_video

HELP = "virtual background, background blur, colour retention or cut-out of a class (the person) on photos and videos"

def add_arguments(parser) -> None:
    parser.add_argument("effect", choices=list(EFFECTS), metavar="EFFECT", help="; ".join(f"{name}: {text}" for name, (_, text) in EFFECTS.items()))
    parser.add_argument("input", metavar="INPUT", help="a photo, a video, a folder of them, or a quoted glob pattern")
    parser.add_argument("--out", required=True, help="output file (for one input file) or folder")
    add_effect_arguments(parser)
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave out inputs whose output is in --out and whole already (continue a run that was stopped)")
    add_inference_arguments(parser, default_checkpoint="person")


def add_effect_arguments(parser) -> None:
    """The effect's and the matte's flags: shared by `apply` and `live` (the EFFECT argument is each command's own)."""
    parser.add_argument("--target", default=None, metavar="CLASS", help="class name or id to keep (default: 'person' if the model has it, else class 1)")
    parser.add_argument("--background", default=None, metavar="IMAGE|#RRGGBB", help="replace: the new background (an image is scaled to cover the frame)")
    parser.add_argument("--strength", type=float, default=DEFAULT_STRENGTH, metavar="N", help=f"blur: Gaussian radius in pixels (default {DEFAULT_STRENGTH:g})")
    parser.add_argument("--feather", type=float, default=DEFAULT_FEATHER, metavar="PX", help=f"soften the mask's edge by a blur of this radius (default {DEFAULT_FEATHER:g}; 0 = none)")
    parser.add_argument("--threshold", type=probability, default=None, metavar="P", help="hard mask: keep pixels whose target probability is >= P (default: soft, alpha = probability)")
    parser.add_argument("--solid", type=probability, default=DEFAULT_SOLID, metavar="P",
                        help="soft mask: probabilities within P of 1 or 0 become exactly 1 or 0, so the inside stays whole "
                        f"and no old background shows through (default {DEFAULT_SOLID:g}; 0 = alpha is the probability)")
    parser.add_argument("--smoothing", type=probability, default=DEFAULT_SMOOTHING, metavar="S",
                        help=f"video: moving average of the probabilities across frames against flicker, weight S of the past (default {DEFAULT_SMOOTHING:g}; 0 = off)")
    parser.add_argument("--smoothing-mode", choices=SMOOTHING_MODES, default=DEFAULT_SMOOTHING_MODE,
                        help="video: motion averages only where the picture is still, so a moving person leaves no trail; "
                        f"fixed averages everywhere (default {DEFAULT_SMOOTHING_MODE})")


def parse_background(text: str | None):
    """'#RRGGBB' -> (r, g, b); anything else is an image file -> RGB array. PixelsegError otherwise."""
    if text is None:
        raise PixelsegError("replace needs --background IMAGE or --background '#RRGGBB'")
    if text.startswith("#"):
        try:
            return parse_color(text)
        except ValueError as err:
            raise PixelsegError(f"--background: {err}") from None
    path = Path(text)
    if not path.exists():
        raise PixelsegError(f"--background {text}: neither an image file nor a colour like '#00ff00'")
    return load_image(path)


def effect_from_args(args) -> Effect:
    """The Effect the flags ask for, every flag checked before any work (one PixelsegError line)."""
    if args.smoothing >= 1.0:
        raise PixelsegError("--smoothing must be below 1 (at 1 the first frame's mask would stay forever)")
    if args.feather < 0:
        raise PixelsegError(f"--feather must be 0 or more pixels, got {args.feather}")
    if args.solid >= 0.5:
        raise PixelsegError(f"--solid must be below 0.5, got {args.solid}")
    background = parse_background(args.background) if args.effect == "replace" else None
    try:
        return Effect(args.effect, background=background, strength=args.strength)
    except ValueError as err:
        raise PixelsegError(str(err)) from None


def matte_from_args(args, predictor) -> tuple[Matte, int]:
    """(the Matte the flags ask for, its target class id) for this predictor's classes."""
    target = default_target(predictor.classes) if args.target is None else predictor.class_index(args.target)
    matte = Matte(target, threshold=args.threshold, feather=args.feather, smoothing=args.smoothing, solid=args.solid, smoothing_mode=args.smoothing_mode)
    return matte, target


def run(args) -> int:
    effect = effect_from_args(args)
    inputs = expand_inputs([args.input])
    out = Path(args.out)
    single = Path(args.input).is_file()
    targets = output_paths(inputs, out, effect, single)

    with shards.joined(args.device) as (world, device):  # under torchrun, every process does its share
        predictor = predictor_from_args(args, device)
        matte, target = matte_from_args(args, predictor)
        output_of = dict(zip(inputs, targets))
        mine = shards.share({source: [output] for source, output in output_of.items()}, world, args.skip_existing)
        stopwatch = shards.Stopwatch(world)
        apply_paths(predictor, effect, matte, mine, [output_of[source] for source in mine], progress=not args.quiet,
                    batch_size=args.batch_size, desc=shards.progress_label(f"apply {effect.name}", world))
        tally = stopwatch.tally(len(mine))
    if world.is_main:
        where = targets[0] if len(targets) == 1 else out
        print(f"{args.effect} on {len(targets)} file{'s' * (len(targets) != 1)} (target class {target} = {predictor.classes[target]!r}) -> {where}")
        print(tally.rate_line("images" if not any(map(is_video, inputs)) else "files"))
    return 0

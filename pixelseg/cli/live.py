"""pixelseg live"""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from pixelseg.apply.effects import EFFECTS
from pixelseg.apply.files import output_paths
from pixelseg.apply.live import LiveStats, open_source, run_live
from pixelseg.apply.sinks import VideoFile, VirtualCamera, Window, require_pyvirtualcam
from pixelseg.cli.apply import add_effect_arguments, effect_from_args, matte_from_args
from pixelseg.cli.checks import check_output_file
from pixelseg.cli.predict import add_inference_arguments, predictor_from_args
from pixelseg.errors import UsageError
from pixelseg.inference.camera import is_camera
from pixelseg.inference.video_io import ALPHA_CODECS, is_video
from pixelseg.temporary import remove_stale_temporaries

HELP = "the effect live, frame by frame: a camera (or a video file) in; a virtual camera, a window or a video file out"

# How often the status line is rewritten, seconds.
STATUS_EVERY = 0.5


def add_arguments(parser) -> None:
    parser.add_argument("effect", choices=list(EFFECTS), metavar="EFFECT", help="; ".join(f"{name}: {text}" for name, (_, text) in EFFECTS.items()))
    parser.add_argument("source", nargs="?", default="0", metavar="SOURCE",
                        help="a camera: its index (default 0) or device path (/dev/video2); or a video file, taken frame by frame in order")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the result as a video (from a file: the same video `pixelseg apply` writes)")
    parser.add_argument("--virtual-camera", action="store_true",
                        help="send the result to a virtual webcam that Zoom, Meet or a browser can pick (needs pixelseg[live] and, on Linux, v4l2loopback)")
    parser.add_argument("--preview", action="store_true", help="show the result in a preview window (q or Esc ends; not --window, which is the sliding-window size)")
    add_effect_arguments(parser)
    add_inference_arguments(parser, default_checkpoint="person-fast", batching=False)


def _check_sinks(args, effect) -> None:
    """Every output flag checked before the source, the devices or the model are opened."""
    if not (args.out or args.virtual_camera or args.preview):
        raise UsageError("nothing to send the frames to: give --out FILE, --virtual-camera or --preview")
    if effect.rgba and (args.virtual_camera or args.preview):
        raise UsageError("a cut-out has transparency, which a camera or a window cannot show; use --out with .webm, .mkv, .mov or .avi")
    if args.virtual_camera:
        require_pyvirtualcam()  # the library now; its device once the source's size is known
    if args.out is None:
        return
    out = Path(args.out)
    if is_camera(args.source):
        if not is_video(out):
            raise UsageError(f"--out {out}: a live result is a video; give a video file name (.mp4, .mkv, .webm, ...)")
        if effect.rgba and out.suffix.lower() not in ALPHA_CODECS:
            raise UsageError(f"--out {out}: a cut-out has transparency, which a {out.suffix} video cannot hold; write .webm, .mkv, .mov or .avi")
    else:
        output_paths([Path(args.source)], out, effect, single=True)  # the checks `pixelseg apply` makes
    check_output_file(out, "--out")


class StatusLine:
    """frames/s, P50/P95 latency and dropped frames, rewritten in place on stderr every STATUS_EVERY s."""

    def __init__(self, stream=None):
        self.stream, self.last, self.width = stream or sys.stderr, 0.0, 0

    def __call__(self, stats: LiveStats) -> None:
        now = time.perf_counter()
        if now - self.last < STATUS_EVERY or stats.frames < 2:
            return
        self.last = now
        line = stats.line()
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def end(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()


def run(args) -> int:
    effect = effect_from_args(args)
    _check_sinks(args, effect)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_source(args.source))
        sinks, where = [], []
        if args.out:
            remove_stale_temporaries(Path(args.out).parent, [Path(args.out)])  # what a killed earlier run left
            audio = None if source.live or not source.has_audio else source.path
            sinks.append(stack.enter_context(VideoFile(args.out, source.info, alpha=effect.rgba, audio_from=audio)))
            where.append(args.out)
        if args.virtual_camera:
            sinks.append(stack.enter_context(VirtualCamera(source.info)))
            where.append(f"virtual camera {sinks[-1].device}")
        if args.preview:
            sinks.append(stack.enter_context(Window()))
            where.append("window")
        predictor = predictor_from_args(args)
        matte, target = matte_from_args(args, predictor)
        status = None if args.quiet else StatusLine()
        stats = run_live(predictor, effect, matte, source, sinks, status=status)
        if status is not None:
            status.end()
    print(f"live {args.effect} (target class {target} = {predictor.classes[target]!r}): {stats.summary()} -> {', '.join(map(str, where))}")
    return 0

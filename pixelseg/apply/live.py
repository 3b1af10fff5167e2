"""The live loop: frames from a camera or a file -> segment -> matte -> effect -> sinks, one at a time.

    with open_source("0") as source, VirtualCamera(source.info) as camera:
        stats = run_live(predictor, Effect("blur"), Matte(1, feather=2), source, [camera])
    print(stats.summary())

From a camera (inference.camera) it works on the newest frame and drops the rest; from a file it
takes every frame in order, and each frame goes through exactly what `pixelseg apply` runs
(the predictor's probability of the target -> Matte -> Effect), so `--out` gets the same video.
Latency is measured per frame from the moment the frame arrived (for a camera: when the reader
thread had it) to the moment the last sink took the result. Ctrl-C ends the loop cleanly: the
sinks are closed by their `with` blocks as after the last frame, so an output file is whole.
"""
from __future__ import annotations

import array
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from pixelseg.apply.effects import Effect
from pixelseg.apply.matte import Matte
from pixelseg.inference.camera import Camera, is_camera
from pixelseg.inference.predictor import Runtime
from pixelseg.inference.video_io import VideoReader

# The status line's percentiles and frame rate cover this many recent frames.
RECENT_FRAMES = 120


class FileSource:
    """A video file as a live source: every frame, in order, none dropped."""

    live = False
    dropped = 0

    def __init__(self, path: str | Path):
        self.reader = VideoReader(path)
        self.info, self.has_audio, self.path = self.reader.info, self.reader.has_audio, self.reader.path

    def timed(self) -> Iterator[tuple[np.ndarray, float]]:
        for frame in self.reader:
            yield frame, time.perf_counter()

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "FileSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(source: str, width: int | None = None, height: int | None = None, fps: int | None = None):
    """A camera (an index or a /dev path) or a video file, by what `source` looks like."""
    if is_camera(source):
        return Camera(source, width, height, fps)
    return FileSource(source)


class LiveStats:
    """Per-frame latencies (seconds) and arrival times, frames dropped; P50/P95 and frames/s from them."""

    def __init__(self):
        self.latencies = array.array("d")   # one float per frame: an hour at 30 frames/s is 0.9 MB
        self.arrivals = array.array("d")
        self.dropped = 0
        self.interrupted = False
        self.started = time.perf_counter()

    @property
    def frames(self) -> int:
        return len(self.latencies)

    def add(self, arrived: float, done: float, dropped: int) -> None:
        self.latencies.append(done - arrived)
        self.arrivals.append(arrived)
        self.dropped = dropped

    def percentile_ms(self, q: float, recent: bool = False) -> float:
        values = self.latencies[-RECENT_FRAMES:] if recent else self.latencies
        return 1000.0 * float(np.percentile(np.frombuffer(values, dtype=np.float64), q)) if len(values) else float("nan")

    def fps(self, recent: bool = False) -> float:
        """Frames shown per second: over the last RECENT_FRAMES frames, or the whole run."""
        times = self.arrivals[-RECENT_FRAMES:] if recent else self.arrivals
        if len(times) < 2:
            return float("nan")
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    def line(self, recent: bool = True) -> str:
        """`24.8 frames/s · latency P50 27 ms, P95 31 ms · 3 dropped`"""
        return (f"{self.fps(recent):.1f} frames/s · latency P50 {self.percentile_ms(50, recent):.0f} ms, "
                f"P95 {self.percentile_ms(95, recent):.0f} ms · {self.dropped} dropped")

    def summary(self) -> str:
        return f"{self.frames} frames, " + self.line(recent=False) + (" (stopped by Ctrl-C)" if self.interrupted else "")


def live_frames(predictor: Runtime, effect: Effect, matte: Matte, source) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """(frame, alpha (H, W), result, arrival time) for each frame `source` gives: run_live's work per
    frame, for callers that need the alpha too (bench/video_call.py). The same steps as
    apply.image.apply_probabilities, so the same frames as `pixelseg apply`."""
    matte.reset()
    for frame, arrived in source.timed():
        alpha = matte.alpha(predictor.target_probability(frame, matte.target), frame)  # (H, W) float32
        yield frame, alpha, effect(frame, alpha), arrived


def run_live(predictor: Runtime, effect: Effect, matte: Matte, source, sinks: Sequence,
             status: Callable[[LiveStats], None] | None = None, max_frames: int | None = None) -> LiveStats:
    """Every frame of `source` through the effect into every sink (`sink.write(frame)`), until the
    source ends, a sink asks to stop (`sink.stopped`), `max_frames` are done, or Ctrl-C.

    status(stats) is called after every frame (the CLI's status line decides how often it prints).
    """
    stats = LiveStats()
    try:
        for _, _, result, arrived in live_frames(predictor, effect, matte, source):
            for sink in sinks:
                sink.write(result)
            stats.add(arrived, time.perf_counter(), source.dropped)
            if status is not None:
                status(stats)
            if any(getattr(sink, "stopped", False) for sink in sinks) or (max_frames and stats.frames >= max_frames):
                break
    except KeyboardInterrupt:  # the way to end a live session: the sinks close as after the last frame
        stats.interrupted = True
    stats.dropped = source.dropped
    return stats

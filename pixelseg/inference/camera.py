"""Frames from a camera, newest first: a live source never queues.

    with Camera("0") as camera:                # /dev/video0 (Linux), AVFoundation device 0 (macOS)
        for frame in camera:                   # RGB uint8 (H, W, 3), always the latest one
            show(process(frame))               # slower than the camera? frames in between are dropped
        print(camera.dropped)

A reader thread decodes the device as fast as it delivers and keeps one frame: the newest. The
consumer takes it when it is ready for the next; a frame replaced before it was taken is counted in
`dropped`. So a slow consumer costs frames, never latency or memory (a queue would grow a second
behind in a few seconds of a 30 frames/s camera and stay there).

`NewestFrame` is that one-slot mailbox on its own, for any iterator of frames: the camera uses it,
and the tests drive it with a paced fake camera.
"""
from __future__ import annotations

import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from pixelseg.errors import DataError
from pixelseg.inference.video_io import VideoInfo

# How long the consumer waits for a first or next frame before the camera counts as stalled.
FRAME_TIMEOUT = 5.0


def is_camera(source: str) -> bool:
    """A camera index (`0`, `1`) or a device path (`/dev/video2`), as opposed to a video file."""
    return source.isdigit() or source.startswith("/dev/")


def device_of(source: str) -> tuple[str, str]:
    """(FFmpeg input name, FFmpeg input format) for a camera given as an index or a device path."""
    if source.startswith("/dev/"):
        return source, "v4l2"
    if sys.platform == "darwin":
        return source, "avfoundation"
    if sys.platform.startswith("win"):
        return f"video={source}", "dshow"  # DirectShow names devices; an index does not work there
    return f"/dev/video{source}", "v4l2"


class NewestFrame:
    """A one-slot mailbox between a producer thread and a consumer: `put` replaces, `take` waits.

    Every frame replaced before it was taken counts in `dropped`; `take` returns (frame, the
    perf_counter time it was put), so a consumer can measure latency from capture.
    """

    def __init__(self):
        self._slot: tuple[np.ndarray, float] | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._ready = threading.Condition()
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: np.ndarray) -> None:
        with self._ready:
            if self._slot is not None:
                self.dropped += 1
            self._slot = (frame, time.perf_counter())
            self.delivered += 1
            self._ready.notify()

    def close(self, error: BaseException | None = None) -> None:
        """No more frames (the producer ended, or failed with `error`, raised by the next `take`)."""
        with self._ready:
            self._closed, self._error = True, error
            self._ready.notify_all()

    def take(self, timeout: float | None = None) -> tuple[np.ndarray, float] | None:
        """The newest frame and its time, waiting up to `timeout` s; None when closed and empty.
        TimeoutError when nothing came in time."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._slot is not None or self._closed, timeout):
                raise TimeoutError(f"no frame for {timeout:g} s")
            if self._slot is None:
                if self._error is not None:
                    raise self._error
                return None
            slot, self._slot = self._slot, None
            return slot

    def feed(self, frames: Iterable[np.ndarray], stop: threading.Event) -> threading.Thread:
        """Start a daemon thread that puts every frame of `frames` here until `stop` is set."""

        def run():
            try:
                for frame in frames:
                    if stop.is_set():
                        break
                    self.put(frame)
            except BaseException as err:  # the consumer raises it: a camera unplugged mid-call is one line
                self.close(err)
                return
            self.close()

        thread = threading.Thread(target=run, name="pixelseg-camera", daemon=True)
        thread.start()
        return thread


class Camera:
    """A camera as a live source: iterate for the newest frames; `dropped` counts the skipped ones.

    source: an index ("0") or a device path ("/dev/video2"). width, height, fps: what to ask the
    device for (None: its default mode). A camera that is not there, or busy, is a DataError.
    """

    live = True

    def __init__(self, source: str, width: int | None = None, height: int | None = None, fps: int | None = None):
        self.source = source
        name, fmt = device_of(source)
        if fmt == "v4l2" and not Path(name).exists():
            raise DataError(f"camera {source}: {name} does not exist (no such camera; `ls /dev/video*` lists the ones there are)")
        options = {}
        if width and height:
            options["video_size"] = f"{width}x{height}"
        if fps:
            options["framerate"] = str(fps)
        try:
            self.container = av.open(name, format=fmt, options=options)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise DataError(f"camera {source}: cannot open {name} ({getattr(err, 'strerror', None) or err})") from None
        if not self.container.streams.video:
            self.container.close()
            raise DataError(f"camera {source}: {name} has no video stream")
        stream = self.container.streams.video[0]
        context = stream.codec_context
        rate = Fraction(stream.average_rate or stream.guessed_rate or 30)
        # What a file of this camera's frames is written as (VideoWriter's encoder choice starts from it).
        self.info = VideoInfo(Path(f"camera-{source}"), context.width, context.height, rate, None, "h264", "yuv420p", None)
        self.has_audio = False
        self._mailbox, self._stop = NewestFrame(), threading.Event()
        frames = (frame.to_ndarray(format="rgb24") for frame in self.container.decode(stream))  # (H, W, 3) uint8
        self._thread = self._mailbox.feed(frames, self._stop)

    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame, _ in self.timed():
            yield frame

    def timed(self) -> Iterator[tuple[np.ndarray, float]]:
        """(frame, perf_counter time it arrived) for the newest frame each time."""
        while True:
            try:
                taken = self._mailbox.take(FRAME_TIMEOUT)
            except TimeoutError:
                raise DataError(f"camera {self.source}: no frame for {FRAME_TIMEOUT:g} s (is another program using it?)") from None
            except av.FFmpegError as err:
                raise DataError(f"camera {self.source}: reading failed ({getattr(err, 'strerror', None) or err})") from None
            if taken is None:
                return
            yield taken

    def close(self) -> None:
        # The reader thread closes nothing itself: stop it, let it finish its frame, then close.
        self._stop.set()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self.container.close()

    def __enter__(self) -> "Camera":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

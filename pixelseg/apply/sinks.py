"""Where the live loop's frames go: a video file, a virtual camera, a preview window.

Each is a context manager with `write(frame)` (RGB uint8 (H, W, 3), or RGBA for a cut-out file) and
is opened before the model is loaded, so a missing device or library is one clear line at once:

    VideoFile(path, info, alpha, audio_from)   inference.video_io.VideoWriter (atomic: whole or nothing)
    VirtualCamera(info)                        pyvirtualcam (the optional extra `pixelseg[live]`): the
                                               frames appear as a webcam in Zoom, Meet or a browser
                                               (v4l2loopback on Linux, OBS's camera on macOS/Windows)
    Window(title)                              an OpenCV window (a GUI build of opencv-python); closing
                                               it or pressing q / Esc sets `stopped`
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelseg.errors import PixelsegError
from pixelseg.inference.video_io import VideoInfo, VideoWriter

LIVE_EXTRA = "pip install 'pixelseg[live]'"


class VideoFile:
    """The frames into a video file, at the source's size and rate (see VideoWriter)."""

    stopped = False

    def __init__(self, path: str | Path, info: VideoInfo, alpha: bool = False, audio_from: str | Path | None = None):
        self.writer = VideoWriter(path, info, alpha=alpha, audio_from=audio_from)

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def __enter__(self) -> "VideoFile":
        return self

    def __exit__(self, *exc) -> None:
        self.writer.__exit__(*exc)


def require_pyvirtualcam():
    """The pyvirtualcam module, or a PixelsegError saying how to install it (checked before any work)."""
    try:
        import pyvirtualcam
    except ImportError:
        raise PixelsegError(f"--virtual-camera needs pyvirtualcam, which is not installed: {LIVE_EXTRA}") from None
    return pyvirtualcam


class VirtualCamera:
    """The frames as a webcam other programs can open (pyvirtualcam)."""

    stopped = False

    def __init__(self, info: VideoInfo, device: str | None = None):
        pyvirtualcam = require_pyvirtualcam()
        try:
            self.camera = pyvirtualcam.Camera(width=info.width, height=info.height, fps=float(info.rate), fmt=pyvirtualcam.PixelFormat.RGB,
                                              device=device)
        except (RuntimeError, ValueError, OSError) as err:
            hint = " (Linux: `sudo modprobe v4l2loopback` makes one)" if "v4l2" in str(err) else ""
            raise PixelsegError(f"--virtual-camera: no virtual camera device to send to: {' '.join(str(err).split())}{hint}") from None
        self.device = self.camera.device

    def write(self, frame: np.ndarray) -> None:
        self.camera.send(np.ascontiguousarray(frame[..., :3]))

    def __enter__(self) -> "VirtualCamera":
        return self

    def __exit__(self, *exc) -> None:
        self.camera.close()


class Window:
    """A preview window (OpenCV's HighGUI); q, Esc or closing the window stops the loop."""

    def __init__(self, title: str = "pixelseg live"):
        try:
            import cv2
        except ImportError:
            raise PixelsegError("--preview needs OpenCV with a GUI: pip install opencv-python") from None
        self.cv2, self.title, self.stopped, self.shown = cv2, title, False, False
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
        except cv2.error:
            raise PixelsegError("--preview: this OpenCV has no GUI (opencv-python-headless, or no display); "
                                "pip install opencv-python, or use --out or --virtual-camera") from None

    def write(self, frame: np.ndarray) -> None:
        cv2 = self.cv2
        cv2.imshow(self.title, np.ascontiguousarray(frame[..., 2::-1]))  # OpenCV shows BGR
        self.shown = True
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        self.stopped = key in (ord("q"), 27) or closed

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, *exc) -> None:
        self.cv2.destroyWindow(self.title)

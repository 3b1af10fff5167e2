"""Video in and out with PyAV (FFmpeg's libraries, bundled in the `av` wheel).

    with VideoReader("in.mp4") as video, VideoWriter("out.mp4", video.info) as out:
        for frame in video:            # RGB uint8 (H, W, 3)
            out.write(process(frame))  # RGB (H, W, 3) or, for an alpha-capable output, RGBA (H, W, 4)

The writer keeps what a viewer compares: the same frame rate, the same size and one output frame
per input frame (frame i gets timestamp i / rate). It re-encodes with the input's own codec and
pixel format where the output container and the size allow it, else H.264, else MPEG-4 Part 2, and
copies the input's audio track when the container takes it. It writes to a temporary file and
renames it into place only when closed without an error (see inference.atomic).

Not handled: variable-frame-rate timing (frames are written at the average rate) and rotation
metadata (phone videos recorded upright play rotated if the player relied on it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from pixelseg.errors import DataError, PixelsegError
from pixelseg.temporary import create_temporary

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts")
# Containers that can carry an alpha channel, and the codec/pixel format that does it there.
ALPHA_CODECS = {".webm": ("libvpx-vp9", "yuva420p"), ".mkv": ("ffv1", "yuva444p"), ".mov": ("png", "rgba"), ".avi": ("png", "rgba")}
FALLBACK_CODECS = ("h264", "mpeg4")
# Encoder settings: visually lossless-ish quality, and speed over the last few percent of file size.
ENCODER_OPTIONS = {
    "libx264": {"crf": "18", "preset": "fast"},
    "libx265": {"crf": "22", "preset": "fast"},
    "libvpx-vp9": {"crf": "28", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    "libvpx": {"crf": "10", "b": "2M"},
}


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    rate: Fraction            # frames per second
    frames: int | None        # as the container states it (None when it does not say)
    codec: str                # decoder name, e.g. "h264"
    pix_fmt: str | None       # e.g. "yuv420p"
    bit_rate: int | None


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


class VideoReader:
    """Decoded RGB frames of a video's first video stream; a DataError names the file when it cannot be read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: video file not found")
        try:
            self.container = av.open(str(self.path))
        except av.FFmpegError as err:
            raise DataError(f"{self.path}: unreadable video ({_reason(err)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise DataError(f"{self.path}: no video stream in this file")
        self.stream = self.container.streams.video[0]
        # Slice threading only: frame threading starts a decoder thread per core that competes with
        # the model's own threads (on 2 cores it made a segmenting loop several times slower), while
        # a 640×480 frame decodes in ~2 ms on one thread.
        self.stream.thread_type = "SLICE"
        context = self.stream.codec_context
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        if not rate:
            self.container.close()
            raise DataError(f"{self.path}: the video states no frame rate")
        self.info = VideoInfo(self.path, context.width, context.height, Fraction(rate), self.stream.frames or None,
                              context.name, context.format.name if context.format else None, context.bit_rate or self.container.bit_rate or None)
        self.has_audio = bool(self.container.streams.audio)

    def __iter__(self) -> Iterator[np.ndarray]:
        """The frames; a DataError at the end when fewer decode than the file states. FFmpeg skips
        what it cannot decode without an error, so a truncated or garbled file would otherwise pass
        as a shorter video."""
        count = 0
        expected, slack = self._expected_frames()
        stated = f" of the {expected} it {'states' if slack == 0 else 'lasts'}" if expected else ""
        try:
            for frame in self.container.decode(self.stream):
                yield frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
                count += 1
        except av.FFmpegError as err:
            raise DataError(f"{self.path}: damaged video: decoding failed after {count} frames{stated} ({_reason(err)})") from None
        if count == 0 or (expected and count < expected - slack):
            raise DataError(f"{self.path}: damaged video (truncated or corrupt): {count} frame{'s' * (count != 1)}{stated} could be decoded")

    def _expected_frames(self) -> tuple[int | None, int]:
        """(frames, slack): the count the stream states (exact), else the container's duration × the
        frame rate (Matroska and WebM state no count; the estimate may be a frame off)."""
        if self.info.frames:
            return self.info.frames, 0
        if self.container.duration:
            return round(self.container.duration / av.time_base * float(self.info.rate)), 1
        return None, 0

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoWriter:
    """Frames at `info`'s rate and size into `path`, encoded as described in the module docstring.

    alpha: frames are RGBA and the output keeps the alpha (needs .webm, .mkv, .mov or .avi).
    audio_from: a video whose audio track is copied (packets as they are, no re-encoding).
    """

    def __init__(self, path: str | Path, info: VideoInfo, alpha: bool = False, audio_from: str | Path | None = None):
        self.path, self.info, self.alpha = Path(path), info, alpha
        self.audio_from = Path(audio_from) if audio_from else None
        suffix = self.path.suffix.lower()
        if alpha and suffix not in ALPHA_CODECS:
            raise PixelsegError(f"{self.path}: a {suffix or 'suffix-less'} video cannot hold transparency; write .webm, .mkv, .mov or .avi")
        if suffix not in VIDEO_EXTENSIONS:
            raise PixelsegError(f"{self.path}: unknown video format {suffix!r}; use one of {', '.join(VIDEO_EXTENSIONS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temporary(self.path.parent, f".{self.path.stem}.", f".tmp{suffix}")
        os.close(fd)
        self.tmp = Path(tmp)
        self.container = self.stream = None
        self.count = 0
        self.codec_name: str | None = None

    # -- choosing an encoder the container accepts ---------------------------------------------

    def _candidates(self) -> list[tuple[str, str]]:
        """(codec, pixel format) pairs to try, best first."""
        if self.alpha:
            return [ALPHA_CODECS[self.path.suffix.lower()]]
        odd = self.info.width % 2 or self.info.height % 2
        pairs = []
        for name in (self.info.codec, *FALLBACK_CODECS):
            try:
                codec = av.Codec(name, "w")
            except (av.FFmpegError, ValueError):
                continue  # a decoder without an encoder in this build
            formats = [f.name for f in codec.video_formats or []]
            preferred = [self.info.pix_fmt, "yuv420p", "yuv444p", "rgb24"] if not odd else [self.info.pix_fmt, "yuv444p", "rgb24", "yuv420p"]
            usable = [f for f in formats if not (odd and f.startswith(("yuv420", "yuvj420", "nv12", "yuva420")))]
            chosen = next((f for f in preferred if f in usable), usable[0] if usable else None)
            if chosen and (codec.name, chosen) not in pairs:
                pairs.append((codec.name, chosen))
        return pairs

    def _open(self, first: np.ndarray) -> None:
        errors = []
        for with_audio in ((True, False) if self.audio_from else (False,)):
            for codec, pix_fmt in self._candidates():
                try:
                    self._try_open(codec, pix_fmt, with_audio, first)
                    self.codec_name = codec
                    return
                except (av.FFmpegError, ValueError, OSError) as err:
                    errors.append(f"{codec}/{pix_fmt}{' + audio' if with_audio else ''}: {_reason(err)}")
                    self._abandon()
        raise PixelsegError(f"{self.path}: no encoder this container accepts ({'; '.join(errors) or 'none available'})")

    def _try_open(self, codec: str, pix_fmt: str, with_audio: bool, first: np.ndarray) -> None:
        self.container = av.open(str(self.tmp), "w", format=_format_for(self.path))
        self.stream = self.container.add_stream(codec, rate=self.info.rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.info.width, self.info.height, pix_fmt
        self.stream.time_base = 1 / self.info.rate  # frame i at pts i: one output frame per input frame
        self.stream.options = dict(ENCODER_OPTIONS.get(codec, {}))
        if codec == "mpeg4" or (codec not in ENCODER_OPTIONS and self.info.bit_rate):
            # MPEG-4 Part 2 defaults to 200 kb/s, blocky at any size; match the input, at least 0.2 bit per pixel.
            self.stream.bit_rate = max(self.info.bit_rate or 0, int(self.info.width * self.info.height * float(self.info.rate) * 0.2))
        self.audio_streams = {}
        if with_audio:
            with av.open(str(self.audio_from)) as source:
                for audio in source.streams.audio[:1]:
                    self.audio_streams[audio.index] = self.container.add_stream_from_template(audio)
        self._encode(first)  # the header is written with the first packet: an unsupported pairing fails here

    def _abandon(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except av.FFmpegError:
                pass
        self.container = self.stream = None
        self.count = 0

    # -- writing ---------------------------------------------------------------------------------

    def _encode(self, frame: np.ndarray) -> None:
        layout = "rgba" if self.alpha else "rgb24"
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=layout)
        video_frame.pts = self.count
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        self.count += 1

    def write(self, frame: np.ndarray) -> None:
        """One frame: RGB uint8 (H, W, 3), or RGBA (H, W, 4) for an alpha writer, at the video's size."""
        channels = 4 if self.alpha else 3
        if frame.dtype != np.uint8 or frame.shape != (self.info.height, self.info.width, channels):
            raise ValueError(f"frame must be uint8 ({self.info.height}, {self.info.width}, {channels}), got {frame.dtype} {frame.shape}")
        if self.container is None:
            self._open(frame)
        else:
            self._encode(frame)

    def close(self) -> Path:
        """Flush the encoder, copy the audio, and rename the finished file into place."""
        if self.container is None:
            raise PixelsegError(f"{self.path}: no frames to write (the input video decoded to none)")
        for packet in self.stream.encode():  # None: drain the frames the encoder still holds
            self.container.mux(packet)
        self._copy_audio()
        self.container.close()
        os.replace(self.tmp, self.path)
        return self.path

    def _copy_audio(self) -> None:
        if not self.audio_streams:
            return
        with av.open(str(self.audio_from)) as source:
            streams = [source.streams[i] for i in self.audio_streams]
            for packet in source.demux(*streams):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = self.audio_streams[packet.stream.index]
                self.container.mux(packet)

    def discard(self) -> None:
        self._abandon()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


def _format_for(path: Path) -> str | None:
    # The temporary name ends in ".tmp.mp4"; FFmpeg guesses from the last suffix, but say it outright.
    return {".mkv": "matroska", ".m4v": "mp4", ".ts": "mpegts", ".mpg": "mpeg", ".mpeg": "mpeg", ".wmv": "asf"}.get(path.suffix.lower(), path.suffix.lower().lstrip("."))


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)

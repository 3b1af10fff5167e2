"""The live loop: a file's every frame as `apply` makes it, a camera's newest frames, clean Ctrl-C, honest figures."""
import threading
import time

import numpy as np
import pytest

from pixelseg.apply import Effect, Matte, apply_video
from pixelseg.apply.live import FileSource, LiveStats, run_live
from pixelseg.apply.sinks import VideoFile
from pixelseg.inference.camera import NewestFrame
from tests.inference.helpers import OraclePredictor, red_mask, video_facts, write_video


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "in.mkv", frames=8, size=(48, 64), fps=12, codec="ffv1", pix_fmt="yuv444p")  # lossless


def test_a_file_gives_exactly_the_video_apply_writes(clip, tmp_path):
    effect, predictor = Effect("replace", background="#00ff00"), OraclePredictor(red_mask)
    apply_video(predictor, effect, Matte(1, feather=2, smoothing=0.5, solid=0.2), clip, tmp_path / "apply.mkv", progress=False)
    with FileSource(clip) as source, VideoFile(tmp_path / "live.mkv", source.info) as sink:
        stats = run_live(predictor, effect, Matte(1, feather=2, smoothing=0.5, solid=0.2), source, [sink])
    applied, live = video_facts(tmp_path / "apply.mkv"), video_facts(tmp_path / "live.mkv")
    assert stats.frames == live["frames"] == applied["frames"] == 8 and stats.dropped == 0
    assert all(np.array_equal(a, b) for a, b in zip(applied["images"], live["images"]))


class Interrupted(FileSource):
    """A file source where the user presses Ctrl-C after `after` frames."""

    def __init__(self, path, after):
        super().__init__(path)
        self.after = after

    def timed(self):
        for index, item in enumerate(super().timed()):
            if index == self.after:
                raise KeyboardInterrupt
            yield item


def test_ctrl_c_ends_cleanly_with_the_output_file_whole(clip, tmp_path):
    out = tmp_path / "live.mp4"
    with Interrupted(clip, after=3) as source, VideoFile(out, source.info) as sink:
        stats = run_live(OraclePredictor(red_mask), Effect("blur", strength=3), Matte(1), source, [sink])
    assert stats.interrupted and stats.frames == 3 and "stopped by Ctrl-C" in stats.summary()
    assert video_facts(out)["frames"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "live.mp4"]  # no temporary left


class FakeCamera:
    """A live source like inference.camera.Camera, fed by a thread at `fps` frames/s."""

    live = True

    def __init__(self, frames: int, fps: float):
        self.mailbox, self.stop = NewestFrame(), threading.Event()

        def paced():
            for index in range(frames):
                time.sleep(1 / fps)
                image = np.full((48, 64, 3), 40, np.uint8)
                image[10:30, index % 40 : index % 40 + 20] = (220, 30, 30)
                yield image

        self.thread = self.mailbox.feed(paced(), self.stop)

    @property
    def dropped(self):
        return self.mailbox.dropped

    def timed(self):
        while (item := self.mailbox.take(timeout=2.0)) is not None:
            yield item


class SlowOracle(OraclePredictor):
    def network(self, images):
        time.sleep(0.03)  # a model slower than the camera
        return super().network(images)


class Collect:
    stopped = False

    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append(frame)


def test_a_camera_faster_than_the_model_drops_frames_instead_of_queueing():
    camera, sink = FakeCamera(frames=40, fps=200), Collect()
    stats = run_live(SlowOracle(red_mask), Effect("replace", background="#000000"), Matte(1, feather=0), camera, [sink])
    assert stats.dropped > 0 and stats.frames + stats.dropped == camera.mailbox.delivered == 40
    assert len(sink.frames) == stats.frames
    # Latency is the model's time (30 ms), not a growing wait in a queue (which would reach 40 × 30 ms);
    # the margin is for a loaded machine.
    assert stats.percentile_ms(95) < 300


def test_max_frames_and_a_sink_that_asks_to_stop(clip):
    with FileSource(clip) as source:
        assert run_live(OraclePredictor(red_mask), Effect("retain-color"), Matte(1), source, [Collect()], max_frames=2).frames == 2

    class StopAfterOne(Collect):
        def write(self, frame):
            super().write(frame)
            self.stopped = True

    with FileSource(clip) as source:
        assert run_live(OraclePredictor(red_mask), Effect("retain-color"), Matte(1), source, [StopAfterOne()]).frames == 1


def test_the_figures():
    stats = LiveStats()
    for index in range(100):  # frame i arrives at i/10 s and takes (i + 1) ms
        stats.add(index / 10, index / 10 + (index + 1) / 1000, dropped=index // 10)
    assert stats.percentile_ms(50) == pytest.approx(50.5) and stats.percentile_ms(95) == pytest.approx(95.05)
    assert stats.fps() == pytest.approx(10.0) and stats.dropped == 9
    assert stats.percentile_ms(50, recent=True) == pytest.approx(50.5)  # fewer frames than the window: the same
    assert stats.line() == "10.0 frames/s · latency P50 50 ms, P95 95 ms · 9 dropped"

"""A live source never queues: the newest frame is taken, the ones it replaced are counted."""
import threading
import time

import numpy as np
import pytest

from pixelseg.errors import DataError
from pixelseg.inference.camera import Camera, NewestFrame, device_of, is_camera


def paced(count: int, every: float):
    """A fake camera: frame i is an array filled with i, one every `every` seconds."""
    for index in range(count):
        time.sleep(every)
        yield np.full((4, 4, 3), index, np.uint8)


def test_a_slow_consumer_gets_the_newest_frames_and_the_rest_are_counted():
    mailbox, stop = NewestFrame(), threading.Event()
    mailbox.feed(paced(60, 0.002), stop)
    taken = []
    while (item := mailbox.take(timeout=2.0)) is not None:
        frame, arrived = item
        taken.append(int(frame[0, 0, 0]))
        assert time.perf_counter() - arrived < 0.05  # never an old frame from a queue
        time.sleep(0.012)  # the "model": six times slower than the camera
    assert taken == sorted(taken) and len(set(taken)) == len(taken)  # in order, none twice
    assert taken[-1] == 59  # the last frame is never lost
    assert 3 < len(taken) < 40
    # Every frame is either taken or counted as dropped: nothing waits anywhere.
    assert mailbox.delivered == 60 and mailbox.dropped == 60 - len(taken)


def test_a_fast_consumer_drops_nothing():
    mailbox, stop = NewestFrame(), threading.Event()
    mailbox.feed(paced(10, 0.01), stop)
    taken = []
    while (item := mailbox.take(timeout=2.0)) is not None:
        taken.append(int(item[0][0, 0, 0]))
    assert taken == list(range(10)) and mailbox.dropped == 0


def test_a_failing_camera_raises_in_the_consumer_and_a_silent_one_times_out():
    def broken():
        yield np.zeros((2, 2, 3), np.uint8)
        raise OSError("unplugged")

    mailbox = NewestFrame()
    mailbox.feed(broken(), threading.Event()).join()
    assert mailbox.take(timeout=1.0) is not None
    with pytest.raises(OSError, match="unplugged"):
        mailbox.take(timeout=1.0)
    with pytest.raises(TimeoutError):
        NewestFrame().take(timeout=0.05)


def test_stop_ends_the_reader_thread():
    mailbox, stop = NewestFrame(), threading.Event()
    thread = mailbox.feed(paced(10_000, 0.001), stop)
    time.sleep(0.02)
    stop.set()
    thread.join(timeout=1.0)
    assert not thread.is_alive()


@pytest.mark.parametrize("source, camera", [("0", True), ("12", True), ("/dev/video2", True), ("clip.mp4", False), ("0.mp4", False), ("", False)])
def test_what_counts_as_a_camera(source, camera):
    assert is_camera(source) is camera


def test_devices_by_platform(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    assert device_of("1") == ("/dev/video1", "v4l2") and device_of("/dev/video5") == ("/dev/video5", "v4l2")
    monkeypatch.setattr("sys.platform", "darwin")
    assert device_of("0") == ("0", "avfoundation")


def test_a_camera_that_is_not_there_is_one_clear_error(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(DataError, match=r"camera 97: /dev/video97 does not exist"):
        Camera("97")

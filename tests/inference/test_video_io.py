from fractions import Fraction

import numpy as np
import pytest

from pixelseg.errors import DataError, PixelsegError
from pixelseg.inference.video_io import VideoReader, VideoWriter
from tests.inference.helpers import video_facts, write_video


def copy_video(source, out, alpha=False, audio=False):
    with VideoReader(source) as video, VideoWriter(out, video.info, alpha=alpha, audio_from=source if audio else None) as writer:
        for frame in video:
            writer.write(np.dstack([frame, np.full(frame.shape[:2], 77, np.uint8)]) if alpha else frame)
    return writer


def test_reader_reports_the_stream_and_decodes_every_frame(tmp_path):
    source = write_video(tmp_path / "in.mp4")
    with VideoReader(source) as video:
        assert (video.info.width, video.info.height, video.info.rate, video.info.codec) == (64, 48, Fraction(12), "h264")
        frames = list(video)
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_same_frames_size_rate_and_codec_out(tmp_path, suffix):
    source = write_video(tmp_path / "in.mp4")
    writer = copy_video(source, tmp_path / f"out{suffix}")
    facts = video_facts(tmp_path / f"out{suffix}")
    assert (facts["frames"], facts["size"], facts["rate"], facts["codec"]) == (6, (48, 64), Fraction(12), "h264")
    assert writer.codec_name == "libx264"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_ntsc_rate_and_odd_size_survive(tmp_path):
    source = write_video(tmp_path / "in.mkv", frames=5, size=(49, 65), fps=Fraction(30000, 1001), codec="ffv1", pix_fmt="yuv444p")
    copy_video(source, tmp_path / "out.mp4")
    facts = video_facts(tmp_path / "out.mp4")
    assert (facts["frames"], facts["size"], facts["rate"]) == (5, (49, 65), Fraction(30000, 1001))


@pytest.mark.parametrize("suffix", [".webm", ".mov", ".mkv"])
def test_alpha_videos(tmp_path, suffix):
    source = write_video(tmp_path / "in.mp4")
    copy_video(source, tmp_path / f"out{suffix}", alpha=True)
    facts = video_facts(tmp_path / f"out{suffix}")
    assert facts["frames"] == 6 and facts["size"] == (48, 64)


def test_alpha_refused_where_the_container_cannot_hold_it(tmp_path):
    source = write_video(tmp_path / "in.mp4")
    with VideoReader(source) as video, pytest.raises(PixelsegError, match="cannot hold transparency"):
        VideoWriter(tmp_path / "out.mp4", video.info, alpha=True)


def test_audio_is_copied(tmp_path):
    source = write_video(tmp_path / "in.mp4", audio=True)
    copy_video(source, tmp_path / "out.mp4", audio=True)
    assert video_facts(tmp_path / "out.mp4")["audio"] == 1


def test_unreadable_and_missing_videos_name_the_file(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match=r"bad\.mp4: unreadable video"):
        VideoReader(tmp_path / "bad.mp4")
    with pytest.raises(DataError, match=r"gone\.mp4: video file not found"):
        VideoReader(tmp_path / "gone.mp4")


def test_an_error_half_way_leaves_no_output(tmp_path):
    source = write_video(tmp_path / "in.mp4")
    with pytest.raises(RuntimeError), VideoReader(source) as video, VideoWriter(tmp_path / "out.mp4", video.info) as writer:
        for i, frame in enumerate(video):
            if i == 3:
                raise RuntimeError("a bad frame")
            writer.write(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]

"""Effects on video: every frame out, same count, size and rate; the composite follows the mask."""
from fractions import Fraction

import numpy as np
import pytest

from pixelseg.apply import Effect, Matte, apply_video
from pixelseg.errors import PixelsegError
from tests.inference.helpers import OraclePredictor, moving_square, red_mask, video_facts, write_video


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "in.mp4", frames=6, size=(48, 64), fps=12)


def test_video_in_video_out_same_frames_size_and_rate(clip, tmp_path):
    out = apply_video(OraclePredictor(red_mask), Effect("replace", background="#00ff00"), Matte(1, feather=0), clip, tmp_path / "out.mp4", progress=False)
    facts = video_facts(out)
    assert (facts["frames"], facts["size"], facts["rate"]) == (6, (48, 64), Fraction(12))
    for index, frame in enumerate(facts["images"]):
        _, mask = moving_square(index)
        inner = mask.copy()
        inner[1:-1, 1:-1] = mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]  # away from chroma-subsampled edges
        outer = ~mask
        outer[1:-1, 1:-1] &= ~(mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:])
        # H.264 is lossy: compare with a tolerance, away from the edges.
        assert np.abs(frame[outer].astype(int) - [0, 255, 0]).mean() < 6
        assert np.abs(frame[inner].astype(int) - [220, 30, 30]).mean() < 12


def test_batched_frames_give_the_same_video(clip, tmp_path):
    effect, predictor = Effect("retain-color"), OraclePredictor(red_mask)
    one = apply_video(predictor, effect, Matte(1), clip, tmp_path / "one.mkv", progress=False)
    three = apply_video(predictor, effect, Matte(1), clip, tmp_path / "three.mkv", progress=False, batch_size=4)
    assert all(np.array_equal(a, b) for a, b in zip(video_facts(one)["images"], video_facts(three)["images"]))


def test_cutout_video_keeps_alpha(clip, tmp_path):
    out = apply_video(OraclePredictor(red_mask), Effect("cutout"), Matte(1, feather=0), clip, tmp_path / "cut.mov", progress=False)
    import av

    with av.open(str(out)) as container:
        frames = [frame.to_ndarray(format="rgba") for frame in container.decode(video=0)]
    assert len(frames) == 6
    _, mask = moving_square(2)
    alpha = frames[2][..., 3]
    assert (alpha[mask] > 200).mean() > 0.95 and (alpha[~mask] < 50).mean() > 0.95


def test_smoothing_runs_across_frames(clip, tmp_path):
    """With heavy fixed smoothing the square's old positions fade out over several frames instead of
    at once; motion smoothing, which sees the frames too, leaves no such trail."""
    left_behind = moving_square(0)[1] & ~moving_square(1)[1]  # where the square was one frame ago
    for mode in ("fixed", "motion"):
        out = apply_video(OraclePredictor(red_mask), Effect("replace", background="#000000"), Matte(1, feather=0, smoothing=0.8, smoothing_mode=mode),
                          clip, tmp_path / f"smooth-{mode}.mp4", progress=False)
        frame = video_facts(out)["images"][1]
        if mode == "fixed":
            assert frame[left_behind].mean() > 60  # 0.8 of the old frame still shows there
        else:
            assert frame[left_behind].mean() < 12  # the black background at once (H.264 noise aside)


def test_unreadable_video_writes_nothing(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(PixelsegError, match=r"bad\.mp4: unreadable video"):
        apply_video(OraclePredictor(red_mask), Effect("blur"), Matte(1), tmp_path / "bad.mp4", tmp_path / "out.mp4", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]

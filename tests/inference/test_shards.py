"""inference.shards: each rank's share of the inputs, and the run's tally (in a world of one process
group-free; the real multi-process runs are in tests/cli/test_torchrun.py)."""
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelseg.engine.distributed import DistInfo
from pixelseg.inference import shards


def worlds(size: int) -> list[DistInfo]:
    return [DistInfo(rank, rank, size) for rank in range(size)]


@pytest.mark.parametrize("seed", range(20))
def test_shares_are_disjoint_cover_every_input_once_and_ignore_the_order_given(seed):
    rng = random.Random(seed)
    inputs = [Path(f"in/{rng.randrange(10**6):06d}_{i}.png") for i in range(rng.randrange(0, 40))]
    size = rng.randrange(1, 6)
    planned = {p: [Path("out") / p.name] for p in inputs}
    shuffled = dict(rng.sample(list(planned.items()), len(planned)))
    parts = [shards.share(planned, world) for world in worlds(size)]
    assert [shards.share(shuffled, world) for world in worlds(size)] == parts  # the order on the command line does not matter
    assert sorted(p for part in parts for p in part) == sorted(inputs)       # each input exactly once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1                   # balanced
    ordered = sorted(inputs, key=str)
    assert all(part == ordered[rank::size] for rank, part in enumerate(parts))  # sorted, strided by rank


def test_skip_existing_shares_only_what_is_unfinished(tmp_path):
    rng = np.random.default_rng(0)
    planned = {}
    for i in range(7):
        planned[tmp_path / f"in{i}.jpg"] = [tmp_path / f"{i}.png"]
    for i in (0, 3, 4):  # whole outputs
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "5.png").write_bytes((tmp_path / "0.png").read_bytes()[:-20])  # torn: a short file
    left = [tmp_path / f"in{i}.jpg" for i in (1, 2, 5, 6)]
    assert shards.share(planned, DistInfo(), skip_existing=True) == left
    assert shards.share(planned, DistInfo(0, 0, 3), skip_existing=True) == [left[0], left[3]]  # rank 0's share of what is left
    # (the other ranks take rank 0's answer through a broadcast: tests/cli/test_torchrun.py)
    assert shards.share(planned, DistInfo(), skip_existing=False) == sorted(planned, key=str)


def test_progress_label_names_the_rank_only_under_torchrun():
    assert shards.progress_label("predict", DistInfo()) == "predict"
    assert shards.progress_label("predict", DistInfo(1, 0, 4)) == "predict rank 1/4"


def test_tally_of_one_process_and_its_rate_line():
    stopwatch = shards.Stopwatch(DistInfo())
    tally = stopwatch.tally(12, [Path("b.png"), Path("a.png")])
    assert (tally.done, tally.failed, tally.processes) == (12, [Path("a.png"), Path("b.png")], 1)
    assert 0 <= tally.seconds < 5
    assert shards.Tally(40, [], 2.0, 2).rate_line() == "40 images in 2.0 s: 20.0 images/s (2 processes)"
    assert shards.Tally(3, [], 0.0, 1).rate_line("files") == "3 files in 0.0 s: 0.0 files/s (1 process)"

"""Group splits: whole groups (video sequences) on one side only, and the mistakes named."""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelseg.data.folder import Sample, SegmentationFolder
from pixelseg.data.groups import DEFAULT_GROUP_BY, group_of, group_pattern, group_split, hold_out
from pixelseg.errors import DataError, UsageError


def samples(ids: list[str]) -> list[Sample]:
    return [Sample(i, Path(f"{i}.png"), Path(f"{i}.png")) for i in ids]


def test_the_default_takes_what_comes_before_the_first_underscore():
    pattern = group_pattern(DEFAULT_GROUP_BY)
    assert group_of("0016E5_07959", pattern) == "0016E5"
    assert group_of("Seq05VD_f00420", pattern) == "Seq05VD"
    assert group_of("a_b_c", pattern) == "a"
    assert group_of("plain", pattern) == "plain"  # no underscore: its own group


def test_a_capture_group_is_the_group_and_an_unmatched_id_is_its_own():
    pattern = group_pattern(r"person(\d+)-")
    assert group_of("photo-person12-3", pattern) == "12"
    assert group_of("landscape", pattern) == "landscape"


@pytest.mark.parametrize("seed", range(25))
def test_a_group_split_never_puts_one_group_on_both_sides(seed):
    rng = random.Random(seed)
    names = [f"G{rng.randrange(10**6)}" for _ in range(rng.randint(2, 8))]
    ids = sorted({f"{rng.choice(names)}_{rng.randrange(10**5):05d}" for _ in range(rng.randint(20, 120))})
    pattern = group_pattern(DEFAULT_GROUP_BY)
    present = sorted({group_of(i, pattern) for i in ids})
    held = rng.sample(present, rng.randint(1, len(present)))
    rest, out = hold_out(samples(ids), pattern, held, where="test")
    rest_groups = {group_of(s.id, pattern) for s in rest}
    out_groups = {group_of(s.id, pattern) for s in out}
    assert not rest_groups & out_groups
    assert out_groups == set(held)
    assert sorted(s.id for s in rest + out) == ids  # nothing lost, nothing twice


def test_a_group_that_matches_nothing_names_the_groups_that_exist():
    with pytest.raises(DataError, match=r"CamVid: no image is in group '0006RO'.*0001TP \(2\), 0006R0 \(1\)"):
        hold_out(samples(["0001TP_1", "0001TP_2", "0006R0_1"]), group_pattern(DEFAULT_GROUP_BY), ["0006RO"], where="CamVid")


def test_a_regex_that_does_not_compile_is_named():
    with pytest.raises(UsageError, match=re.escape("--group-by '(seq': not a regular expression")):
        group_pattern("(seq")


def write_split(root: Path, split: str, ids: list[str]) -> None:
    (root / "images" / split).mkdir(parents=True)
    (root / "masks" / split).mkdir(parents=True)
    for i in ids:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / split / f"{i}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "masks" / split / f"{i}.png")


def test_group_split_holds_out_from_both_splits_and_drops_the_seen_val(tmp_path):
    (tmp_path / "classes.txt").write_text("a\nb\n")
    write_split(tmp_path, "train", ["A_1", "A_2", "B_1", "C_1"])
    write_split(tmp_path, "val", ["A_9", "B_9"])
    train, held = group_split(tmp_path, "train", "val", ["B"])
    assert [s.id for s in train] == ["A_1", "A_2", "C_1"]
    assert [s.id for s in held] == ["B_1", "B_9"]
    assert len(SegmentationFolder(tmp_path, "val", samples=held)) == 2


def test_holding_out_every_training_group_is_refused(tmp_path):
    (tmp_path / "classes.txt").write_text("a\nb\n")
    write_split(tmp_path, "train", ["A_1"])
    write_split(tmp_path, "val", ["B_1"])
    with pytest.raises(DataError, match="leaves no training image"):
        group_split(tmp_path, "train", "val", ["A"])


def test_a_final_fit_trains_on_both_splits_but_never_on_the_held_out_group(tmp_path):
    (tmp_path / "classes.txt").write_text("a\nb\n")
    write_split(tmp_path, "train", ["A_1", "B_1", "C_1"])
    write_split(tmp_path, "val", ["A_9", "B_9"])
    train, held = group_split(tmp_path, "train+val", "val", ["B"])
    assert [s.id for s in train] == ["A_1", "C_1", "A_9"]  # val's seen scenes now train too
    assert [s.id for s in held] == ["B_1", "B_9"]            # each held-out image once
    assert len(SegmentationFolder(tmp_path, "train+val")) == 5


def test_an_id_in_two_joined_splits_is_refused(tmp_path):
    (tmp_path / "classes.txt").write_text("a\nb\n")
    write_split(tmp_path, "train", ["A_1", "B_1"])
    write_split(tmp_path, "val", ["B_1"])
    with pytest.raises(DataError, match=r"val.*B_1\.png: id 'B_1' is in splits 'train' and 'val'"):
        SegmentationFolder(tmp_path, "train+val")

"""Groups of images that must stay on one side of a split: the frames of one video sequence, the
photos of one person, the tiles of one scene.

Frames of the same street look alike, so a validation split that shares sequences with training
scores memory rather than generalisation (CamVid's val split is all sequence 0016E5, which also
gives 204 of its 367 training frames). Holding whole groups out asks the question a user has:
how does the model do on streets it has never seen?

A sample's group is read from its id with a regular expression: the first capture group if the
expression has one, else the whole match. The default takes what comes before the first `_`
(CamVid: `0016E5_07959` -> `0016E5`). An id the expression does not match is its own group.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from pixelseg.data.folder import Sample, list_samples
from pixelseg.errors import DataError, UsageError

DEFAULT_GROUP_BY = r"^[^_]+"


def group_pattern(pattern: str) -> re.Pattern:
    """The compiled expression, or one line that names it and what is wrong with it."""
    try:
        return re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--group-by {pattern!r}: not a regular expression ({err})") from None


def group_of(sample_id: str, pattern: re.Pattern) -> str:
    match = pattern.search(sample_id)
    if match is None:
        return sample_id
    return match.group(1) if pattern.groups else match.group(0)


def count_groups(samples: Iterable[Sample], pattern: re.Pattern) -> Counter:
    """Images per group, in the order groups first appear."""
    return Counter(group_of(s.id, pattern) for s in samples)


def hold_out(samples: list[Sample], pattern: re.Pattern, groups: list[str], where: str) -> tuple[list[Sample], list[Sample]]:
    """Split `samples` into (the rest, those of `groups`), order kept.

    Every named group must match at least one sample: a typo would otherwise hold out nothing and
    validate on nothing. `where` names the data for that message.
    """
    counts = count_groups(samples, pattern)
    missing = [g for g in groups if g not in counts]
    if missing:
        shown = ", ".join(f"{g} ({n})" for g, n in sorted(counts.items())[:30])
        more = f" and {len(counts) - 30} more" if len(counts) > 30 else ""
        raise DataError(f"{where}: no image is in group {', '.join(map(repr, missing))} "
                        f"(groups by {pattern.pattern!r}, with their image counts: {shown}{more})")
    return hold_out_known(samples, pattern, groups)


def group_split(root, train_split: str, val_split: str, groups: list[str], pattern: str = DEFAULT_GROUP_BY) -> tuple[list[Sample], list[Sample]]:
    """(training samples, held-out samples): the images of `groups` from both splits are held out,
    the rest of `train_split` trains; the rest of `val_split` (the scenes training has seen) neither."""
    compiled = group_pattern(pattern)
    train = list_samples(root, train_split)
    in_train = {s.image_path for s in train}  # a final fit ("train+val") lists val's images in train already
    val = [s for s in list_samples(root, val_split) if s.image_path not in in_train]
    hold_out(train + val, compiled, groups, where=f"{root} (splits {train_split!r} and {val_split!r})")
    kept, held_train = hold_out_known(train, compiled, groups)
    _, held_val = hold_out_known(val, compiled, groups)
    if not kept:
        raise DataError(f"{root}: holding out {', '.join(groups)} leaves no training image in split {train_split!r}")
    return kept, held_train + held_val


def hold_out_known(samples: list[Sample], pattern: re.Pattern, groups: list[str]) -> tuple[list[Sample], list[Sample]]:
    held = set(groups)
    return ([s for s in samples if group_of(s.id, pattern) not in held],
            [s for s in samples if group_of(s.id, pattern) in held])

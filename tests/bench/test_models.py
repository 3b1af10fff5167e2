"""bench/models.py's step profile: every operator's time lands in exactly one named part."""
import sys
from pathlib import Path

import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from models import Result, profile_report, step_part, step_profile  # noqa: E402


class TwoConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 21, 1))

    def forward(self, x):
        return self.body(x).contiguous()


def test_step_profile_splits_a_step_into_named_parts_with_convolution_rates():
    parts = step_profile(TwoConvs(), Result("two_convs", gflops_256=0.1, train_gflops_per_image=0.3), batch=1, steps=1)
    names = [name for name, _, _ in parts]
    assert len(names) == len(set(names))
    assert {"convolutions, forward", "convolutions, backward", "batch norm", "loss (log-softmax, NLL)"} <= set(names)
    rates = {name: rate for name, _, rate in parts}
    assert rates["convolutions, forward"] > 0 and rates["convolutions, backward"] > 0
    assert all(rate is None for name, rate in rates.items() if not name.startswith("convolutions"))
    times = [ms for _, ms, _ in parts]
    assert times == sorted(times, reverse=True) and all(ms >= 0 for ms in times)
    report = "\n".join(profile_report({"two_convs": parts}, ceiling=100.0))
    assert report.count("\n| ") == len(parts) + 1  # the header and one row per part


def test_backward_convolutions_are_not_counted_as_forward():
    assert step_part("aten::convolution_backward") == "convolutions, backward"
    assert step_part("aten::mkldnn_convolution") == "convolutions, forward"

import math

import pytest

from pixelseg.engine.schedules import lr_factor, step_progress


def test_linear_warmup_then_poly():
    assert [lr_factor("poly", s, 0.0, warmup_steps=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor("poly", 4, 0.0, warmup_steps=4) == 1.0
    assert lr_factor("poly", 10, 0.5, warmup_steps=4) == pytest.approx(0.5**0.9)
    assert lr_factor("poly", 10, 1.0, warmup_steps=4) == 0.0


def test_cosine():
    assert lr_factor("cosine", 0, 0.0) == 1.0
    assert lr_factor("cosine", 0, 0.25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert lr_factor("cosine", 0, 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 0, 1.0) == pytest.approx(0.0)


def test_floor_constant_and_clamped_progress():
    assert lr_factor("cosine", 0, 1.0, min_factor=0.01) == 0.01
    assert lr_factor("constant", 5, 0.7) == 1.0
    assert lr_factor("poly", 5, 1.5) == 0.0 and lr_factor("poly", 5, -1.0) == 1.0


def test_step_progress_counts_from_the_end_of_warmup():
    # 100 steps, 10 of warm-up: decay runs over steps 10..100.
    assert step_progress(10, 100, 10) == 0.0
    assert step_progress(55, 100, 10) == pytest.approx(0.5)
    assert step_progress(100, 100, 10) == 1.0
    factors = [lr_factor("poly", s, step_progress(s, 100, 10), 10) for s in range(100)]
    assert max(factors) == 1.0 and all(a >= b for a, b in zip(factors[9:], factors[10:]))  # peak, then never up


def test_unknown_schedule():
    with pytest.raises(ValueError, match="poly, cosine, constant"):
        lr_factor("step", 0, 0.0)

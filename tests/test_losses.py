"""Losses against hand-computed values, against torch's own functions, and their error messages."""
import math

import pytest
import torch
import torch.nn.functional as F

from pixelseg.losses import CombinedLoss, CrossEntropyLoss, DiceLoss, FocalLoss, OhemCrossEntropyLoss, build_loss
from pixelseg.targets import to_one_hot

BIG = 50.0  # softmax(BIG · one-hot) is one-hot to within e^-50: "hard" predictions with a gradient


def hard_logits(prediction: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, H, W) predicted classes -> (B, C, H, W) logits whose softmax is that one-hot map."""
    return BIG * F.one_hot(prediction, num_classes).permute(0, 3, 1, 2).float()


def binary_logits(foreground: torch.Tensor) -> torch.Tensor:
    """(B, H, W) 0/1 -> (B, 1, H, W) logits whose sigmoid is that map."""
    return (BIG * (2 * foreground.float() - 1)).unsqueeze(1)


# ---- cross-entropy ------------------------------------------------------------------------


def test_ce_by_hand_with_ignore_and_class_weights():
    # Every pixel has logits (0, ln 3): p = (1/4, 3/4). Targets 0, 1 and 255 (left out).
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1).expand(1, 2, 1, 3).contiguous()
    target = torch.tensor([[[0, 1, 255]]])
    assert float(CrossEntropyLoss()(logits, target)) == pytest.approx((math.log(4) + math.log(4 / 3)) / 2)
    weighted = CrossEntropyLoss(weight=torch.tensor([1.0, 3.0]))(logits, target)
    assert float(weighted) == pytest.approx((1 * math.log(4) + 3 * math.log(4 / 3)) / (1 + 3))


def test_ce_equals_torch_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    target[0, :2] = 255
    weight = torch.tensor([0.5, 1.0, 2.0, 4.0])
    for w in (None, weight):
        ours = build_loss("ce", weight=w)(logits, target)
        theirs = F.cross_entropy(logits, target, weight=w, ignore_index=255)
        assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_ce_on_an_all_ignored_batch_is_zero_not_nan():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = CrossEntropyLoss()(logits, torch.full((1, 2, 2), 255))
    assert float(loss.detach()) == 0.0
    loss.backward()  # still part of the graph
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_one_hot_targets_give_the_same_losses_as_index_targets():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    target[1, 0] = 255
    onehot = to_one_hot(target, 3)  # ignore pixels all zero
    for name in ("ce", "dice", "ce+dice", "focal", "ohem", "ohem+dice"):
        loss = build_loss(name)
        assert float(loss(logits, onehot)) == pytest.approx(float(loss(logits, target)), rel=1e-6), name


def test_binary_ce_is_bce_with_logits_over_the_counted_pixels():
    torch.manual_seed(2)
    logits = torch.randn(2, 1, 3, 3)
    target = torch.randint(0, 2, (2, 3, 3))
    target[0, 0, 0] = 255
    valid = target != 255
    expected = F.binary_cross_entropy_with_logits(logits[:, 0][valid], target[valid].float())
    assert float(CrossEntropyLoss(mode="binary")(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    # The (B, 1, H, W) float form (no ignore there).
    full = torch.randint(0, 2, (2, 1, 3, 3)).float()
    expected = F.binary_cross_entropy_with_logits(logits, full)
    assert float(CrossEntropyLoss(mode="binary")(logits, full)) == pytest.approx(float(expected), rel=1e-6)


# ---- Dice: 1 - 2|A∩B| / (|A| + |B|) ------------------------------------------------------


def test_multiclass_dice_on_an_exact_small_case():
    target = torch.tensor([[[0, 0], [1, 2]]])
    prediction = torch.tensor([[[0, 1], [1, 1]]])
    # class 0: A = 2 pixels, B = 1, A∩B = 1 -> 2/3;  class 1: A = 1, B = 3, A∩B = 1 -> 2/4;
    # class 2: A = 1, B = 0 -> 0.
    loss = DiceLoss(smooth=0.0)(hard_logits(prediction, 3), target)
    assert float(loss) == pytest.approx(1 - (2 / 3 + 2 / 4 + 0) / 3, abs=1e-6)


def test_dice_leaves_out_classes_absent_from_the_target():
    target = torch.tensor([[[0, 0], [1, 1]]])
    prediction = torch.tensor([[[0, 2], [1, 1]]])  # class 2 predicted, absent from the target
    # class 0: 2·1 / (2 + 1) = 2/3;  class 1: 2·2 / (2 + 2) = 1;  class 2 left out of the mean.
    loss = DiceLoss(smooth=0.0)(hard_logits(prediction, 3), target)
    assert float(loss) == pytest.approx(1 - (2 / 3 + 1) / 2, abs=1e-6)


def test_dice_ignores_pixels_marked_255_in_both_sets():
    target = torch.tensor([[[0, 255], [1, 1]]])
    prediction = torch.tensor([[[0, 1], [1, 1]]])  # the wrong "1" sits on an ignored pixel
    assert float(DiceLoss(smooth=0.0)(hard_logits(prediction, 2), target)) == pytest.approx(0.0, abs=1e-6)


def test_dice_smoothing_term():
    target = torch.tensor([[[0, 0], [1, 1]]])
    prediction = torch.tensor([[[0, 1], [1, 1]]])
    # class 0: (2·1 + 1) / (2 + 1 + 1) = 3/4;  class 1: (2·2 + 1) / (2 + 3 + 1) = 5/6
    loss = DiceLoss(smooth=1.0)(hard_logits(prediction, 2), target)
    assert float(loss) == pytest.approx(1 - (3 / 4 + 5 / 6) / 2, abs=1e-6)


def test_dice_sums_over_the_whole_batch_not_per_image():
    target = torch.tensor([[[0, 0], [0, 0]], [[1, 1], [1, 1]]])
    prediction = torch.tensor([[[0, 0], [0, 1]], [[1, 1], [1, 1]]])
    # class 0: A = 4, B = 3, A∩B = 3 -> 6/7;  class 1: A = 4, B = 5, A∩B = 4 -> 8/9 (over both images)
    loss = DiceLoss(smooth=0.0)(hard_logits(prediction, 2), target)
    assert float(loss) == pytest.approx(1 - (6 / 7 + 8 / 9) / 2, abs=1e-6)


def test_soft_dice_with_probabilities_and_its_gradient():
    # Two pixels, two classes, probabilities (0.8, 0.2) and (0.4, 0.6); truth 0, 1.
    logits = torch.log(torch.tensor([[0.8, 0.4], [0.2, 0.6]])).view(1, 2, 1, 2).requires_grad_()
    target = torch.tensor([[[0, 1]]])
    # class 0: 2·0.8 / (1.2 + 1) ;  class 1: 2·0.6 / (0.8 + 1)
    expected = 1 - (1.6 / 2.2 + 1.2 / 1.8) / 2
    loss = DiceLoss(smooth=0.0)(logits, target)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad.abs().sum() > 0


def one_hot_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    """The definition, written out with a one-hot target: the reference for DiceLoss's bins."""
    valid = (target != 255).unsqueeze(1).float()
    probs = logits.float().softmax(1) * valid
    truth = F.one_hot(target.masked_fill(target == 255, 0), logits.shape[1]).permute(0, 3, 1, 2).float() * valid
    dice = (2 * (probs * truth).sum((0, 2, 3)) + smooth) / (probs.sum((0, 2, 3)) + truth.sum((0, 2, 3)) + smooth)
    present = truth.sum((0, 2, 3)) > 0
    return (1 - dice[present]).mean() if present.any() else logits.sum() * 0


def test_dice_and_its_gradient_equal_the_one_hot_definition_on_random_cases():
    generator = torch.Generator().manual_seed(0)
    for case in range(40):
        batch, classes = int(torch.randint(1, 4, (1,), generator=generator)), int(torch.randint(2, 7, (1,), generator=generator))
        height, width = (int(n) for n in torch.randint(1, 9, (2,), generator=generator))
        logits = (3 * torch.randn(batch, classes, height, width, generator=generator)).requires_grad_()
        # A random subset of the classes (some absent from the batch) and some pixels ignored.
        target = torch.randint(0, max(1, classes - case % 3), (batch, height, width), generator=generator)
        target[torch.rand(batch, height, width, generator=generator) < 0.2] = 255
        smooth = [0.0, 1.0][case % 2]
        loss = DiceLoss(smooth=smooth)(logits, target)
        reference_logits = logits.detach().clone().requires_grad_()
        reference = one_hot_dice(reference_logits, target, smooth)
        assert loss.item() == pytest.approx(reference.item(), abs=1e-5), f"case {case}"
        loss.backward()
        reference.backward()
        torch.testing.assert_close(logits.grad, reference_logits.grad, atol=1e-6, rtol=1e-4, msg=f"case {case}")


def test_binary_dice_scores_the_foreground():
    target = torch.tensor([[[1, 0], [1, 255]]])
    foreground = torch.tensor([[[1, 1], [0, 1]]])  # the last pixel is ignored
    # A = {(0,0), (1,0)}, B = {(0,0), (0,1)}: 2·1 / (2 + 2)
    loss = DiceLoss(mode="binary", smooth=0.0)(binary_logits(foreground), target)
    assert float(loss) == pytest.approx(1 - 2 / 4, abs=1e-6)
    perfect = DiceLoss(mode="binary", smooth=0.0)(binary_logits(torch.tensor([[[1, 0], [1, 0]]])), target)
    assert float(perfect) == pytest.approx(0.0, abs=1e-6)


def test_binary_dice_without_foreground_in_the_target_is_zero():
    target = torch.zeros(1, 2, 2, dtype=torch.long)
    assert float(DiceLoss(mode="binary")(binary_logits(torch.ones(1, 2, 2)), target)) == 0.0


# ---- focal, sums ----------------------------------------------------------------------------


def test_focal_by_hand_and_gamma_zero_is_ce():
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1).expand(1, 2, 1, 3).contiguous()
    target = torch.tensor([[[0, 1, 255]]])  # p_t = 1/4 and 3/4
    expected = ((3 / 4) ** 2 * math.log(4) + (1 / 4) ** 2 * math.log(4 / 3)) / 2
    assert float(FocalLoss(gamma=2.0)(logits, target)) == pytest.approx(expected)
    torch.manual_seed(3)
    logits, target = torch.randn(2, 4, 5, 5), torch.randint(0, 4, (2, 5, 5))
    target[0, 0] = 255
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    focal0 = FocalLoss(weight=weight, gamma=0.0)(logits, target)
    assert float(focal0) == pytest.approx(float(F.cross_entropy(logits, target, weight=weight, ignore_index=255)), rel=1e-6)


# ---- OHEM --------------------------------------------------------------------------------


def test_ohem_by_hand_keeps_the_pixels_below_the_threshold():
    # p(true) per pixel: 3/4 (easy), 1/4, 1/4 (hard), ignored. threshold 0.7, min_kept 0: the two hard ones.
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1).expand(1, 2, 1, 4).contiguous()
    target = torch.tensor([[[1, 0, 0, 255]]])
    loss = OhemCrossEntropyLoss(threshold=0.7, min_kept=0.0)(logits, target)
    assert float(loss) == pytest.approx(math.log(4))
    # min_kept 3/4 of the 4 pixels: the easy one is kept too (the ignored one never is).
    loss = OhemCrossEntropyLoss(threshold=0.7, min_kept=0.75)(logits, target)
    assert float(loss) == pytest.approx((2 * math.log(4) + math.log(4 / 3)) / 3)


def test_ohem_is_ce_when_every_pixel_counts_as_hard():
    # Over random cases: threshold 1 (every pixel is below it) or min_kept 1 (every pixel kept) is plain ce,
    # class weights included; and the loss never exceeds the mean over its own hardest pixels.
    for seed in range(20):
        torch.manual_seed(seed)
        logits, target = torch.randn(2, 4, 6, 5), torch.randint(0, 4, (2, 6, 5))
        target[0, :2] = 255
        weight = torch.rand(4) + 0.1 if seed % 2 else None
        ce = float(F.cross_entropy(logits, target, weight=weight, ignore_index=255))
        assert float(OhemCrossEntropyLoss(weight=weight, threshold=1.0, min_kept=0.0)(logits, target)) == pytest.approx(ce, rel=1e-5)
        assert float(OhemCrossEntropyLoss(weight=weight, threshold=0.01, min_kept=1.0)(logits, target)) == pytest.approx(ce, rel=1e-5)
        if weight is None:
            assert float(OhemCrossEntropyLoss(threshold=0.7, min_kept=0.1)(logits, target)) >= ce * (1 - 1e-6)


def test_ohem_gradient_reaches_only_the_kept_pixels():
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1).expand(1, 2, 1, 3).contiguous().requires_grad_()
    OhemCrossEntropyLoss(threshold=0.7, min_kept=0.0)(logits, torch.tensor([[[1, 0, 255]]])).backward()
    assert torch.equal(logits.grad[0, :, 0, 0], torch.zeros(2)) and torch.equal(logits.grad[0, :, 0, 2], torch.zeros(2))
    assert logits.grad[0, 0, 0, 1] < 0  # the hard pixel's true class is pushed up


def test_ce_plus_dice_is_the_weighted_sum():
    torch.manual_seed(4)
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    combined = build_loss("ce+dice", weights={"dice": 0.5})
    assert isinstance(combined, CombinedLoss)
    expected = CrossEntropyLoss()(logits, target) + 0.5 * DiceLoss()(logits, target)
    assert float(combined(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    combined = build_loss("ohem+dice", weights={"ohem": 2.0}, ohem_threshold=0.5, ohem_min_kept=0.2)
    expected = 2 * OhemCrossEntropyLoss(threshold=0.5, min_kept=0.2)(logits, target) + DiceLoss()(logits, target)
    assert float(combined(logits, target)) == pytest.approx(float(expected), rel=1e-6)


# ---- errors: say what was given and what is expected ---------------------------------------


@pytest.mark.parametrize(
    "logits, target, mode, words",
    [
        (torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), "multiclass", ["(2, 1, 4, 4)", "binary"]),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), "binary", ["(B, 1, H, W)", "(2, 3, 4, 4)"]),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4), "multiclass", ["(2, 4, 4) float32", "integer class ids"]),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 5, 4, dtype=torch.long), "multiclass", ["(2, 4, 4)", "(2, 5, 4) int64"]),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 2, 4, 4), "multiclass", ["(2, 3, 4, 4)", "(2, 2, 4, 4) float32"]),
        (torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), 3), "multiclass", ["holds 3", "0..2"]),
        (torch.randn(2, 3, 4), torch.zeros(2, 4, 4, dtype=torch.long), "multiclass", ["(B, C, H, W)", "(2, 3, 4)"]),
        (torch.randn(2, 3, 4, 4), 2 * to_one_hot(torch.zeros(2, 4, 4, dtype=torch.long), 3), "multiclass", ["one-hot"]),
    ],
)
def test_shape_and_dtype_errors_name_what_was_given_and_expected(logits, target, mode, words):
    for name in ("ce", "dice", "focal"):
        with pytest.raises(ValueError) as err:
            build_loss(name, mode=mode)(logits, target)
        for word in words:
            assert word in str(err.value), (name, str(err.value))


def test_wrong_number_of_class_weights_and_unknown_names():
    with pytest.raises(ValueError, match="2 class weights for 3 classes"):
        build_loss("ce", weight=torch.ones(2))(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown loss 'lovasz'"):
        build_loss("lovasz")
    with pytest.raises(ValueError, match="loss weights are for 'ohem' and 'dice'"):
        build_loss("ohem+dice", weights={"ce": 1.0})
    with pytest.raises(ValueError, match="ohem threshold"):
        build_loss("ohem", ohem_threshold=1.5)
    with pytest.raises(ValueError, match="loss mode"):
        build_loss("ce", mode="multilabel")

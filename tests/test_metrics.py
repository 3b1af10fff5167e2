import math

import pytest
import torch

from pixelseg.metrics import ConfusionMatrix, scores_from_confusion


def test_confusion_counts_pixels_and_leaves_out_ignore():
    target = torch.tensor([[0, 0, 1], [1, 2, 255]])
    prediction = torch.tensor([[0, 1, 1], [1, 0, 2]])
    cm = ConfusionMatrix(3)
    cm.update(prediction, target)
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_hand_computed_scores():
    # rows = truth, columns = prediction
    matrix = torch.tensor([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    s = scores_from_confusion(matrix)
    # class 0: TP 5, FP 2, FN 1 -> 5/8; class 1: TP 3, FP 1, FN 2 -> 3/6; class 2 absent everywhere -> None
    assert s.per_class_iou[0] == pytest.approx(5 / 8)
    assert s.per_class_iou[1] == pytest.approx(3 / 6)
    assert s.per_class_iou[2] is None
    assert s.miou == pytest.approx((5 / 8 + 3 / 6) / 2)
    assert s.pixel_accuracy == pytest.approx(8 / 11)
    assert s.mean_class_accuracy == pytest.approx((5 / 6 + 3 / 5) / 2)
    assert s.per_class_dice[0] == pytest.approx(10 / 13)
    # Dice = F1 = 2 TP / (2 TP + FP + FN): class 1 -> 6 / 9; mean over the same classes as mIoU (macro).
    assert s.per_class_dice[1] == pytest.approx(6 / 9)
    assert s.mean_dice == pytest.approx((10 / 13 + 6 / 9) / 2)
    assert s.per_class_accuracy == [pytest.approx(5 / 6), pytest.approx(3 / 5), None]


def test_macro_and_micro_averages_differ_on_imbalanced_classes():
    # 98 road pixels all right, 2 pole pixels all wrong: pixel accuracy (micro) 0.98, mean class
    # accuracy (macro) 0.5, mIoU (macro) (98/100 + 0) / 2.
    s = scores_from_confusion(torch.tensor([[98, 0], [2, 0]]))
    assert s.pixel_accuracy == pytest.approx(0.98)
    assert s.mean_class_accuracy == pytest.approx(0.5)
    assert s.miou == pytest.approx(0.49)


def test_as_dict_names_every_score():
    d = scores_from_confusion(torch.tensor([[5, 1], [2, 3]])).as_dict(["a", "b"])
    assert set(d) == {"miou", "pixel_accuracy", "mean_class_accuracy", "mean_dice", "per_class_iou", "per_class_dice", "per_class_accuracy"}
    assert list(d["per_class_iou"]) == ["a", "b"] and d["per_class_accuracy"]["b"] == pytest.approx(3 / 5)


def test_confusion_heatmap_png(tmp_path):
    from PIL import Image

    from pixelseg.viz.plots import plot_confusion

    path = plot_confusion(torch.tensor([[5, 1, 0], [2, 3, 0], [0, 0, 0]]).numpy(), ["a", "b", "c"], tmp_path / "confusion.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 200


def test_class_predicted_but_absent_from_truth_counts_as_zero():
    matrix = torch.tensor([[4, 2], [0, 0]])  # class 1 never true, predicted twice
    s = scores_from_confusion(matrix)
    assert s.per_class_iou == [pytest.approx(4 / 6), 0.0]
    assert s.miou == pytest.approx((4 / 6 + 0) / 2)


def test_accumulation_equals_one_big_batch_not_mean_of_batches():
    torch.manual_seed(0)
    targets = [torch.randint(0, 4, (2, 8, 8)) for _ in range(5)]
    predictions = [torch.randint(0, 4, (2, 8, 8)) for _ in range(5)]
    streamed = ConfusionMatrix(4)
    for p, t in zip(predictions, targets):
        streamed.update(p, t)
    whole = ConfusionMatrix(4)
    whole.update(torch.cat(predictions), torch.cat(targets))
    assert torch.equal(streamed.matrix, whole.matrix)
    per_batch = []
    for p, t in zip(predictions, targets):
        one = ConfusionMatrix(4)
        one.update(p, t)
        per_batch.append(one.compute().miou)
    assert not math.isclose(streamed.compute().miou, sum(per_batch) / len(per_batch), rel_tol=1e-9)


def test_perfect_prediction_scores_one():
    target = torch.randint(0, 3, (4, 16, 16))
    cm = ConfusionMatrix(3)
    cm.update(target.clone(), target)
    s = cm.compute()
    assert s.miou == 1.0 and s.pixel_accuracy == 1.0


def test_bad_input_is_refused():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="class ids"):
        cm.update(torch.zeros(4, dtype=torch.long), torch.tensor([0, 1, 7, 255]))


def test_edge_band_keeps_exactly_the_pixels_near_a_change_of_class():
    from pixelseg.metrics import edge_band

    target = torch.zeros(10, 12, dtype=torch.long)
    target[3:7, 4:9] = 1                                    # a 4×5 square
    band = edge_band(target, 1)
    expected = torch.full_like(target, 255)
    ring = torch.zeros(10, 12, dtype=torch.bool)
    ring[2:8, 3:10] = True                                  # within 1 pixel of the square, inside or out
    ring[4:6, 5:8] = False                                  # the square's inside, 2 or more pixels in
    expected[ring] = target[ring]
    assert torch.equal(band, expected)
    assert torch.equal(edge_band(torch.zeros(5, 5, dtype=torch.long), 2), torch.full((5, 5), 255))  # no edge, no band
    with_ignore = target.clone()
    with_ignore[0, :] = 255
    assert (edge_band(with_ignore, 1)[0] == 255).all() and (edge_band(with_ignore, 1)[1] == 255).all()  # ignore is not a class


def test_binary_confusion_from_the_thresholded_sigmoid_by_hand():
    """A binary model's one map, thresholded, gives the two-class matrix a hand count gives; 255 left out."""
    from pixelseg.runtime.outputs import class_ids

    p = torch.tensor([[0.9, 0.8, 0.2, 0.6],
                      [0.1, 0.4, 0.7, 0.3],
                      [0.95, 0.05, 0.55, 0.45]])                 # P(foreground) of 12 pixels
    z = torch.log(p / (1 - p))[None, None]                       # (1, 1, 3, 4) logits
    target = torch.tensor([[[1, 1, 0, 0],
                            [0, 1, 255, 255],
                            [1, 0, 1, 255]]])                    # (1, 3, 4); three ignored
    # by hand, at 0.5: counted pixels (truth, prediction): (1,1) (1,1) (0,0) (0,1) / (0,0) (1,0) / (1,1) (0,0) (1,1)
    confusion = ConfusionMatrix(2)
    confusion.update(class_ids(z), target)
    assert confusion.matrix.tolist() == [[3, 1], [1, 4]]
    scores = confusion.compute()
    assert scores.per_class_iou == pytest.approx([3 / 5, 4 / 6])
    assert scores.pixel_accuracy == pytest.approx(7 / 9)
    # at 0.35 the 0.4 pixel turns foreground (a hit) and so does the 0.45 one (ignored: no change)
    confusion = ConfusionMatrix(2)
    confusion.update(class_ids(z, 0.35), target)
    assert confusion.matrix.tolist() == [[3, 1], [0, 5]]

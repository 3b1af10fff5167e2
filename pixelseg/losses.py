"""Pixel-wise losses: cross-entropy, soft Dice, focal, and weighted sums of them.

Every loss takes logits and a target and returns a scalar:

    mode "multiclass"   logits (B, C, H, W), softmax over C
                        target (B, H, W) integer class ids, 255 = ignore,
                            or (B, C, H, W) one-hot (an all-zero pixel = ignore)
    mode "binary"       logits (B, 1, H, W), sigmoid: the probability of the foreground
                        target (B, H, W) integer 0 / 1, 255 = ignore,
                            or (B, 1, H, W) float 0. / 1. (no ignore in that form)

The mode is always explicit: a (B, 1, H, W) output is a binary model, never a one-class softmax,
and mixing them up is an error that says which shapes were given and which were expected.

Averaging (pixels marked ignore count nowhere, neither in numerators nor in denominators):
    ce       mean over the counted pixels; with class weights w, sum(w_t · nll) / sum(w_t), as
             torch.nn.functional.cross_entropy does.
    focal    the same weighted mean of (1 - p_t)^gamma · nll (gamma = 0 is exactly ce).
    dice     1 - mean over classes of (2 Σ p·y + s) / (Σ p + Σ y + s), sums over the whole batch
             (batch Dice: a small object in one image does not get an image's worth of weight),
             s = smoothing. A class absent from the batch's target is left out of the mean: it has
             no region to overlap, and its "Dice" would only measure how small its probabilities
             are, which cross-entropy already pushes down. Binary mode scores the foreground only.
    ohem     online hard example mining (Shrivastava et al., 2016; PSPNet's pixel form): the ce mean
             over the hard pixels only, those whose true class has probability below `threshold`,
             and at least the `min_kept` fraction of the counted pixels with the largest nll (so a
             batch that is already easy still teaches). Thin and rare classes are where the hard
             pixels are, so they weigh more than their area.
    ce+dice  w_ce · ce + w_dice · dice (both default 1); ohem+dice likewise.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.data.folder import IGNORE_INDEX
from pixelseg.runtime.outputs import MODES

LOSSES = ("ce", "dice", "ce+dice", "focal", "ohem", "ohem+dice")


def _shape(t: torch.Tensor) -> str:
    return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"


def prepare_target(logits: torch.Tensor, target: torch.Tensor, mode: str, ignore_index: int = IGNORE_INDEX, check_values: bool = True):
    """Check shapes and dtypes; return (index target (B, H, W) long with ignore_index, valid (B, H, W) bool).

    Raises ValueError naming what was given and what is expected. check_values: also check the
    target's values (class ids in range, one-hot really one-hot), which waits for the device; the
    training loop turns it off, since its dataset checked every mask once before the first step.
    """
    if mode not in MODES:
        raise ValueError(f"loss mode must be one of {', '.join(MODES)}, got {mode!r}")
    if logits.dim() != 4 or not logits.is_floating_point():
        raise ValueError(f"logits must be float (B, C, H, W), got {_shape(logits)}")
    batch, channels, height, width = logits.shape
    if mode == "binary" and channels != 1:
        raise ValueError(f"binary mode expects logits (B, 1, H, W) (one channel + sigmoid), got {_shape(logits)}; "
                         "for C-channel softmax outputs use mode='multiclass'")
    if mode == "multiclass" and channels < 2:
        raise ValueError(f"multiclass mode expects logits (B, C, H, W) with C >= 2, got {_shape(logits)}; "
                         "a one-channel output is a binary model: use mode='binary'")

    if target.dim() == 4:  # one-hot form
        if tuple(target.shape) != (batch, channels, height, width):
            raise ValueError(f"one-hot target must have the logits' shape {(batch, channels, height, width)}, got {_shape(target)}")
        onehot = target.float()
        if check_values and (not ((onehot == 0) | (onehot == 1)).all() or (onehot.sum(1) > 1).any()):
            raise ValueError(f"a (B, C, H, W) target must be one-hot (0/1, at most one 1 per pixel), got values outside that in {_shape(target)}")
        if mode == "binary":
            return onehot[:, 0].long(), torch.ones_like(onehot[:, 0], dtype=torch.bool)
        valid = onehot.sum(1) > 0                                       # (B, H, W)
        index = onehot.argmax(1).masked_fill(~valid, ignore_index)      # (B, H, W)
        return index, valid

    if target.dim() != 3 or target.is_floating_point() or target.dtype == torch.bool:
        raise ValueError(f"target must be integer class ids (B, H, W) or one-hot (B, C, H, W), got {_shape(target)} "
                         f"for logits {_shape(logits)}")
    if tuple(target.shape) != (batch, height, width):
        raise ValueError(f"target (B, H, W) must match the logits' batch and size {(batch, height, width)}, got {_shape(target)}")
    target = target.long()
    valid = target != ignore_index
    if not check_values:
        return target, valid
    classes = 2 if mode == "binary" else channels
    bad = valid & ((target < 0) | (target >= classes))
    if bad.any():
        raise ValueError(f"target holds {int(target[bad][0])}, not a class id of {mode} mode (0..{classes - 1}, {ignore_index} = ignore)")
    return target, valid


def _valid_mean(per_pixel: torch.Tensor, weight_per_pixel: torch.Tensor) -> torch.Tensor:
    # No counted pixel at all (a crop of pure ignore): 0, still attached to the graph.
    return (per_pixel * weight_per_pixel).sum() / weight_per_pixel.sum().clamp(min=torch.finfo(per_pixel.dtype).tiny)


class SegmentationLoss(nn.Module):
    """Base: holds mode, ignore index and optional class weights (C,) — (2,) = (background, foreground) in binary mode.

    check_targets: check every target's values on every call (see prepare_target); False where the
    data was checked once already (the training loop), so no step waits for the device.
    """

    def __init__(self, mode: str = "multiclass", weight: torch.Tensor | None = None, ignore_index: int = IGNORE_INDEX,
                 check_targets: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"loss mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode, self.ignore_index, self.check_targets = mode, ignore_index, check_targets
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def _pixel_weights(self, index: torch.Tensor, valid: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(B, H, W) float: the class weight of each counted pixel, 0 for ignored ones."""
        if self.weight is None:
            return valid.float()
        if self.weight.numel() != num_classes:
            raise ValueError(f"{self.weight.numel()} class weights for {num_classes} classes ({self.mode} mode)")
        return self.weight[index.masked_fill(~valid, 0)] * valid

    def _nll_and_pt(self, logits: torch.Tensor, index: torch.Tensor, valid: torch.Tensor):
        """Per-pixel negative log-likelihood of the true class and its probability, (B, H, W) each."""
        logits = logits.float()  # losses in fp32 even under autocast: log-softmax of bf16 loses digits
        safe = index.masked_fill(~valid, 0)
        if self.mode == "binary":
            z = logits[:, 0]                                                # (B, H, W)
            nll = F.binary_cross_entropy_with_logits(z, safe.float(), reduction="none")
        else:
            log_p = logits.log_softmax(1)                                   # (B, C, H, W)
            nll = -log_p.gather(1, safe.unsqueeze(1)).squeeze(1)           # (B, H, W)
        return nll, torch.exp(-nll)


class CrossEntropyLoss(SegmentationLoss):
    """Cross-entropy averaged over the counted pixels (class-weighted like F.cross_entropy); BCE in binary mode."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        index, valid = prepare_target(logits, target, self.mode, self.ignore_index, self.check_targets)
        if self.mode == "multiclass":
            if self.weight is not None and self.weight.numel() != logits.shape[1]:
                raise ValueError(f"{self.weight.numel()} class weights for {logits.shape[1]} classes (multiclass mode)")
            # The fused kernel: faster and leaner than log_softmax + gather. Summed, then divided by the
            # counted pixels' weight (what its "mean" does), clamped: an all-ignored batch gives 0, not
            # NaN, without asking the device whether any pixel counts.
            total = F.cross_entropy(logits.float(), index, weight=self.weight, ignore_index=self.ignore_index, reduction="sum")
            return total / self._pixel_weights(index, valid, logits.shape[1]).sum().clamp(min=torch.finfo(total.dtype).tiny)
        nll, _ = self._nll_and_pt(logits, index, valid)
        return _valid_mean(nll, self._pixel_weights(index, valid, 2))


class FocalLoss(SegmentationLoss):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by (1 - p_t)^gamma, so pixels already
    classified well count less and the hard ones (small, rare, boundaries) more. gamma = 0 is ce."""

    def __init__(self, mode: str = "multiclass", weight=None, ignore_index: int = IGNORE_INDEX, gamma: float = 2.0, check_targets: bool = True):
        super().__init__(mode, weight, ignore_index, check_targets)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        index, valid = prepare_target(logits, target, self.mode, self.ignore_index, self.check_targets)
        nll, p_t = self._nll_and_pt(logits, index, valid)
        classes = 2 if self.mode == "binary" else logits.shape[1]
        return _valid_mean((1 - p_t).pow(self.gamma) * nll, self._pixel_weights(index, valid, classes))


class OhemCrossEntropyLoss(SegmentationLoss):
    """Cross-entropy over the hard pixels: p(true class) < threshold, and at least min_kept of the counted
    pixels (a fraction, the highest nll first). Class weights weigh the kept pixels as in ce."""

    def __init__(self, mode: str = "multiclass", weight=None, ignore_index: int = IGNORE_INDEX, threshold: float = 0.7,
                 min_kept: float = 0.1, check_targets: bool = True):
        super().__init__(mode, weight, ignore_index, check_targets)
        if not 0 < threshold <= 1 or not 0 <= min_kept <= 1:
            raise ValueError(f"ohem threshold must be in (0, 1] and min_kept in [0, 1], got {threshold} and {min_kept}")
        self.threshold, self.min_kept = threshold, min_kept

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        index, valid = prepare_target(logits, target, self.mode, self.ignore_index, self.check_targets)
        classes = 2 if self.mode == "binary" else logits.shape[1]
        nll, _ = self._nll_and_pt(logits, index, valid)                     # (B, H, W)
        hardness = nll.detach().masked_fill(~valid, -1.0)                   # ignored pixels are never hard
        # The k-th largest nll among all pixels, k = min_kept of the pixels (counted or not: a count of
        # the counted ones would wait for the device); the threshold is whichever keeps more.
        k = max(1, int(self.min_kept * hardness.numel()))
        kth = hardness.flatten().kthvalue(hardness.numel() - k + 1).values
        cut = kth.clamp(max=-math.log(self.threshold))
        kept = valid & (hardness >= cut)
        return _valid_mean(nll, self._pixel_weights(index, valid, classes) * kept)


class DiceLoss(SegmentationLoss):
    """Soft Dice: 1 - mean over classes present in the target of (2 Σ p·y + s) / (Σ p + Σ y + s)."""

    def __init__(self, mode: str = "multiclass", weight=None, ignore_index: int = IGNORE_INDEX, smooth: float = 1.0, check_targets: bool = True):
        super().__init__(mode, None, ignore_index, check_targets)  # class weights are for the pixel losses, not Dice
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        index, valid = prepare_target(logits, target, self.mode, self.ignore_index, self.check_targets)
        logits = logits.float()
        v = valid.float()                                                   # (B, H, W)
        if self.mode == "binary":
            probs = logits[:, 0].sigmoid()                                  # (B, H, W): foreground only
            truth = (index == 1).float() * v                                # (B, H, W)
            intersection = (probs * truth).sum().view(1)                    # (1,)
            target_size = truth.sum().view(1)
            predicted_size = (probs * v).sum().view(1)
        else:
            # Per-class sums without a one-hot (B, C, H, W) target: the intersection only needs each
            # pixel's probability of its true class, added into that class's bin.
            classes = logits.shape[1]
            probs = logits.softmax(1)                                       # (B, C, H, W)
            safe = index.masked_fill(~valid, 0)                             # (B, H, W)
            pixel_class, counted = safe.flatten(), v.flatten()              # (B·H·W,) each
            p_true = probs.gather(1, safe.unsqueeze(1)).flatten() * counted # (B·H·W,)
            bins = torch.zeros(classes, device=logits.device)
            intersection = bins.index_add(0, pixel_class, p_true)           # (C,)
            target_size = bins.index_add(0, pixel_class, counted)           # (C,)
            predicted_size = torch.einsum("bchw,bhw->c", probs, v)         # (C,): ignored pixels count nowhere
        dice = (2 * intersection + self.smooth) / (predicted_size + target_size + self.smooth).clamp(min=1e-12)
        present = (target_size > 0).float()                                 # (C,)
        # The mean of 1 - dice over the present classes; 0 (still on the graph) when none is present.
        # Arithmetic instead of `if present.any()`: no step waits for the device.
        return ((1 - dice) * present).sum() / present.sum().clamp(min=1)


class CombinedLoss(nn.Module):
    """Σ weight_i · loss_i, e.g. ce + dice."""

    def __init__(self, parts: dict[str, nn.Module], weights: dict[str, float]):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.weights = {name: float(weights.get(name, 1.0)) for name in parts}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # once for all the terms (each would cast a bf16 output itself), and one cast back in backward
        return sum(self.weights[name] * part(logits, target) for name, part in self.parts.items())


def build_loss(name: str = "ce", weight: torch.Tensor | None = None, mode: str = "multiclass", weights: dict | None = None,
               ignore_index: int = IGNORE_INDEX, gamma: float = 2.0, smooth: float = 1.0, ohem_threshold: float = 0.7,
               ohem_min_kept: float = 0.1, check_targets: bool = True) -> nn.Module:
    """The loss `name`: one of LOSSES, a single loss or a sum of two ("ce+dice", "ohem+dice").

    weight: class weights (C,) for ce, ohem and focal. weights: the terms' factors of a sum, e.g. {"ce": 1, "dice": 0.5}.
    check_targets: see SegmentationLoss.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    check = check_targets
    single = {
        "ce": lambda: CrossEntropyLoss(mode, weight, ignore_index, check_targets=check),
        "focal": lambda: FocalLoss(mode, weight, ignore_index, gamma=gamma, check_targets=check),
        "ohem": lambda: OhemCrossEntropyLoss(mode, weight, ignore_index, ohem_threshold, ohem_min_kept, check_targets=check),
        "dice": lambda: DiceLoss(mode, None, ignore_index, smooth=smooth, check_targets=check),
    }
    terms = name.split("+")
    if len(terms) == 1:
        return single[name]()
    unknown = set(weights or {}) - set(terms)
    if unknown:
        raise ValueError(f"loss weights are for {' and '.join(repr(t) for t in terms)}, got {sorted(unknown)}")
    return CombinedLoss({term: single[term]() for term in terms}, weights or {})

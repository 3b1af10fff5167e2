"""Predictor: a checkpoint in, masks at each image's original size out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.data.folder import normalize
from pixelseg.engine.checkpoint import checkpoint_mode, inference_settings, load_checkpoint, model_from_checkpoint
from pixelseg.errors import PixelsegError
from pixelseg.inference.refine import REFINEMENTS, refined_log_probabilities, refined_probability
from pixelseg.runtime.device import resolve_device
from pixelseg.runtime.outputs import DEFAULT_THRESHOLD, MODES, check_threshold, class_ids, class_probabilities, mode_of
from pixelseg.runtime.precision import autocast
from pixelseg.runtime.sliding import check_scales, predict_logits, to_long_side


@dataclass
class NetworkOutput:
    """One batch's network pass, before anything is brought back to the images' size: the logits
    and the target's probability are both finished from it (and the server caches it per photo)."""

    logits: torch.Tensor   # (B, C, h, w) float32 at the network's input size
    small: torch.Tensor    # (B, 3, h, w) uint8: the network's input, before normalising
    full: torch.Tensor     # (B, 3, H, W) uint8: the images

    @property
    def nbytes(self) -> int:
        return self.logits.numel() * 4 + self.small.numel() + self.full.numel()


class Runtime:
    """What every runtime shares: the image's pre- and post-processing around `forward` (resizing,
    normalising, sliding windows, flip TTA, refinement, batching) and the answers built on it. A
    runtime provides `forward`: Predictor runs a torch module, OnnxPredictor
    (inference.onnx_predictor) an exported graph in ONNX Runtime. The options are Predictor's.

    mode: "multiclass" or "binary" (one output map; see runtime.outputs). Logits become class
    probabilities and class ids through `class_probabilities` and `class_ids` only, so both modes
    give the same kinds of answer (a binary model's classes are [background, foreground]).
    """

    runtime = "none"

    def __init__(self, classes: list[str], mean, std, window: tuple[int, int] | None = None, flip: bool = False,
                 max_size: int | None = None, input_size: int | None = None, refine: str = "none", threshold: float | None = None,
                 mode: str = "multiclass", scales: Sequence[float] | None = None, size_multiple: int | None = None):
        self.classes, self.mean, self.std = list(classes), tuple(mean), tuple(std)
        self.window, self.flip = window, flip  # sliding-window size (H, W) and flip TTA, see runtime.sliding
        self.scales = resolve_scales(scales)   # multi-scale TTA: factors of the network's input
        self.max_size, self.input_size, self.size_multiple = max_size, input_size, check_size_multiple(size_multiple)
        self.refine = check_refine(refine)
        self.mode, self.threshold = mode, resolve_threshold(threshold, mode, len(self.classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network alone: normalised (B, 3, h, w) float32 -> logits (B, C, h', w')."""
        raise NotImplementedError

    def window_for(self, height: int, width: int) -> tuple[int, int] | None:
        """The sliding window for an image of this size, or None to run it whole."""
        if self.max_size is None:
            return self.window
        if max(height, width) <= self.max_size:
            return None
        return self.window or (self.max_size, self.max_size)

    @torch.no_grad()
    def network(self, images: np.ndarray | Sequence[np.ndarray]) -> NetworkOutput:
        """The network's pass over B RGB uint8 images of one size (B, H, W, 3), before anything is
        brought back to their size; full_logits and full_target_probability finish it."""
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(images) if not isinstance(images, np.ndarray) else images))
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected RGB images (B, H, W, 3), got shape {tuple(batch.shape)}")
        full = batch.permute(0, 3, 1, 2)                                               # (B, 3, H, W) uint8, a view
        small = to_long_side(full, self.input_size, self.size_multiple)  # as uint8, before normalising: a quarter of the float work
        x = normalize(small, self.mean, self.std)                                      # (B, 3, h, w) float32
        out = predict_logits(self.forward, x, self.window_for(*x.shape[-2:]), flip=self.flip, scales=self.scales).float()  # (B, C, h, w)
        # Channels-last (the model's layout) makes the resize and a later softmax over C several times slower.
        return NetworkOutput(out.contiguous(), small, full)

    @torch.no_grad()
    def full_logits(self, out: NetworkOutput) -> torch.Tensor:
        """Logits (B, C, H, W) float32 on the CPU at the images' size (log-probabilities when refined)."""
        if self.refine == "guided":  # back to the image's size along the photo's edges
            return refined_log_probabilities(out.logits, out.small, out.full).cpu()
        if out.logits.shape[-2:] != out.full.shape[-2:]:  # back to the image's own size before any argmax
            return F.interpolate(out.logits, size=out.full.shape[-2:], mode="bilinear", align_corners=False).cpu()
        return out.logits.cpu()

    @torch.no_grad()
    def full_target_probability(self, out: NetworkOutput, target: int | Sequence[int]) -> torch.Tensor:
        """P(target) (B, H, W) float32 on the CPU at the images' size; `target` a class id, or
        several whose probabilities are summed (at most 1).

        What an effect needs (apply, live, serve): the class probabilities are taken at the
        network's resolution and only the target's map comes back to the image's size (guided
        filter or bilinear resize, as `refine` says). full_logits + class_probabilities brings
        every class's logits back first and takes the softmax on the full-size maps.

        Equal to class_probabilities(full_logits(out))[:, target] where nothing is resized; with
        guided refinement, equal to it for a two-class model (the filter is linear, and the two
        maps sum to 1 before and after it); with a plain resize, the resize of the probability
        instead of the probability of the resized logits (the same up to interpolation error)."""
        probabilities = class_probabilities(out.logits)                                 # (B, K, h, w)
        if np.ndim(target) == 0:
            p = probabilities[:, int(target) : int(target) + 1]                             # (B, 1, h, w), a view
        else:
            p = probabilities[:, list(target)].sum(1, keepdim=True).clamp_(max=1.0)
        if self.refine == "guided":
            p = refined_probability(p, out.small, out.full)                                 # (B, 1, H, W)
        elif p.shape[-2:] != out.full.shape[-2:]:
            p = F.interpolate(p, size=out.full.shape[-2:], mode="bilinear", align_corners=False)
        return p[:, 0].cpu()                                                                # (B, H, W)

    def logits_batch(self, images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """Logits (B, C, H, W) float32 on the CPU for B images of one size, RGB uint8 (B, H, W, 3)."""
        return self.full_logits(self.network(images))

    def target_probability_batch(self, images: np.ndarray | Sequence[np.ndarray], target: int | Sequence[int]) -> torch.Tensor:
        """P(target) (B, H, W) float32 for B images of one size (see full_target_probability)."""
        return self.full_target_probability(self.network(images), target)

    def target_probability(self, image: np.ndarray, target: int | Sequence[int]) -> np.ndarray:
        """P(target) (H, W) float32 for one RGB uint8 image (H, W, 3); see target_probability_batch."""
        return self.target_probability_batch(image[None], target)[0].numpy()

    def logits(self, image: np.ndarray) -> torch.Tensor:
        """Logits (C, H, W) float32 at the image's own size. Image: RGB uint8 (H, W, 3)."""
        return self.logits_batch(image[None])[0]

    def class_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (C, H, W) or (B, C, H, W) from this runtime -> class probabilities (one per class name)."""
        return class_probabilities(logits)

    def class_ids(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (C, H, W) or (B, C, H, W) from this runtime -> class ids uint8: argmax, or σ > threshold (binary)."""
        return class_ids(logits, DEFAULT_THRESHOLD if self.threshold is None else self.threshold)

    def predict_proba(self, image: np.ndarray) -> torch.Tensor:
        """Class probabilities (C, H, W) float32, summing to 1 at every pixel (C = 2 for a binary model)."""
        return self.class_probabilities(self.logits(image))

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class ids (H, W) uint8."""
        return self.class_ids(self.logits(image)).numpy()

    def predict_batch(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Class ids (H, W) uint8 for each image, images of any sizes; same-size images share forward passes."""
        return [self.class_ids(logits).numpy() for logits in self.logits_many(images, batch_size)]

    def logits_many(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[torch.Tensor]:
        """Logits (C, H, W) for each image, in order; images are grouped by size into batches of up to `batch_size`."""
        results: list[torch.Tensor | None] = [None] * len(images)
        for indices in group_by_size([image.shape for image in images], batch_size):
            for index, logits in zip(indices, self.logits_batch([images[i] for i in indices])):
                results[index] = logits
        return results

    def class_index(self, target: str | int) -> int:
        """The id of a class given by name or id; a PixelsegError lists the classes when it is neither."""
        if isinstance(target, str) and target in self.classes:
            return self.classes.index(target)
        try:
            index = int(target)
        except (TypeError, ValueError):
            index = -1
        if 0 <= index < len(self.classes):
            return index
        listing = ", ".join(f"{i}={name}" for i, name in enumerate(self.classes))
        raise PixelsegError(f"unknown class {target!r}; this model's classes are {listing}")


class Predictor(Runtime):
    """Wraps a model with its classes and normalisation, as stored in its checkpoint.

    >>> predictor = Predictor.from_checkpoint("runs/demo/run/best.pt")   # or a bundled model: "person"
    >>> probabilities = predictor.predict_proba(image)   # (C, H, W) float32, image (H, W, 3) uint8
    >>> mask = predictor.predict(image)                  # (H, W) uint8 class ids
    >>> masks = predictor.predict_batch([a, b, c])       # one forward pass per group of same-size images

    Options (all keep the output at the image's own size):
        window: sliding-window size (H, W); the network sees overlapping tiles of this size.
        max_size: slide windows only over images whose longer side exceeds this (windows of
            `window`, or max_size × max_size); smaller images run whole.
        flip: test-time augmentation, averaged with the prediction on the mirrored image.
        scales: multi-scale test-time augmentation, e.g. (0.75, 1, 1.25): the network's input
            resized by each factor, the logits resized back and averaged (None: (1,)).
        input_size: run the network on the image resized so its longer side is this many pixels
            (faster, for video); the logits are resized back before any argmax. None or 0: the
            image's own size.
        size_multiple: round the network input's sides to a multiple of this (the network's stride,
            e.g. 32) instead of letting the network pad them: less work (a 640×480 frame at 224 px
            runs at 224×160, not 224×168 padded to 224×192) for an aspect off by at most half a
            multiple per side. None: sides as the aspect gives them.
        refine: "none", or "guided": the probabilities brought back to the image's size by a guided
            filter on the photo (inference.refine), so edges follow the picture. Its logits are
            then log-probabilities.
        threshold: binary models only: a pixel is foreground where σ(logit) > threshold (default
            0.5); a multiclass model's mask is the argmax, and a threshold given for it is an error.
        A checkpoint's "inference" entry (e.g. input_size 320, refine "guided") sets the defaults of
        from_checkpoint; options given override it.
        precision: "fp32", or "bf16"/"fp16" autocast.

    OnnxPredictor (inference.onnx_predictor) has the same interface over an exported .onnx file:
    both are a Runtime, which holds everything but `forward`.
    """

    runtime = "torch"

    def __init__(self, model: torch.nn.Module, classes: list[str], mean, std, device="auto", precision: str = "fp32",
                 window: tuple[int, int] | None = None, flip: bool = False, max_size: int | None = None, input_size: int | None = None,
                 refine: str = "none", threshold: float | None = None, scales: Sequence[float] | None = None,
                 size_multiple: int | None = None):
        maps = getattr(model, "pixelseg_config", {}).get("num_classes", len(classes))  # a registry model records its output maps
        super().__init__(classes, mean, std, window, flip, max_size, input_size, refine, threshold, mode_of(maps), scales, size_multiple)
        self.device, self.precision = resolve_device(device), precision
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device="auto", precision: str = "fp32", **options) -> "Predictor":
        """`path`: a checkpoint file or a bundled model's name. Options left None take the checkpoint's "inference" entry."""
        checkpoint = load_checkpoint(path)
        checkpoint_mode(checkpoint)  # the recorded mode and the model agree
        options = inference_settings(checkpoint, **options)
        return cls(model_from_checkpoint(checkpoint), checkpoint["classes"], checkpoint["mean"], checkpoint["std"], device, precision, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network alone: normalised (B, 3, h, w) float32 -> logits (B, C, h', w')."""
        with autocast(self.device, self.precision):
            return self.model(x.to(self.device, memory_format=torch.channels_last))


def resolve_threshold(threshold: float | None, mode: str, num_classes: int) -> float | None:
    """A binary model's threshold (None: the default 0.5); None for a multiclass model, which takes
    the argmax: a threshold given for one is a PixelsegError, not quietly ignored."""
    if mode not in MODES:
        raise PixelsegError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "multiclass":
        if threshold is not None:
            raise PixelsegError(f"--threshold {threshold:g}: this model is multiclass ({num_classes} classes, one output map each) "
                                "and its mask is their argmax; a threshold is for binary models (one output map, trained with --binary)")
        return None
    try:
        return check_threshold(DEFAULT_THRESHOLD if threshold is None else threshold)
    except ValueError as err:
        raise PixelsegError(f"--threshold: {err}") from None


def resolve_scales(scales: Sequence[float] | None) -> tuple[float, ...]:
    """Test-time scales as a tuple ((1,) for None); a PixelsegError names a bad one."""
    try:
        return (1.0,) if scales is None else check_scales(scales)
    except ValueError as err:
        raise PixelsegError(f"--tta-scales: {err}") from None


def check_size_multiple(multiple: int | None) -> int | None:
    if multiple is not None and (isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 0):
        raise PixelsegError(f"size_multiple must be a whole number of pixels (0 or None: no rounding), not {multiple!r}")
    return multiple or None


def check_refine(refine: str) -> str:
    if refine not in REFINEMENTS:
        raise PixelsegError(f"refine must be one of {', '.join(REFINEMENTS)}, got {refine!r}")
    return refine


def group_by_size(shapes: Sequence[tuple], batch_size: int) -> list[list[int]]:
    """Indices grouped by shape (first-seen order), each group cut into runs of at most `batch_size`."""
    groups: dict[tuple, list[int]] = {}
    for index, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(index)
    size = max(1, batch_size)
    return [indices[i : i + size] for indices in groups.values() for i in range(0, len(indices), size)]

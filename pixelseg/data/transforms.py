"""Joint image + mask augmentation on top of torchvision.transforms.v2.

The image and its mask are wrapped as `tv_tensors.Image` / `tv_tensors.Mask`, so every geometric
transform moves both the same way, and torchvision resamples masks with nearest neighbour (no new
values: a mask only ever holds its own values and 255). Padding (crops larger than the image,
rotation corners) fills masks with 255 = ignore, never with a real class, so the loss does not
learn "border = background".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from pixelseg.data.folder import IGNORE_INDEX

FILL = {tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}


class RandomScale(v2.Transform):
    """Resize by a factor drawn uniformly from [min_scale, max_scale]; with `long_side`, a factor of
    the size whose longer side is `long_side` (the size the model will be run at: images of
    different sizes then reach the network at the scales it will see them).

    Images: bilinear with antialiasing. Masks: "nearest-exact", which picks the source pixel under
    each output pixel's centre, the same geometry bilinear uses; plain "nearest" (torch's legacy
    rule, floor(i * in / out)) would shift the mask up to half a source pixel up-left of its image.
    """

    def __init__(self, min_scale: float, max_scale: float, long_side: int | None = None):
        super().__init__()
        self.min_scale, self.max_scale, self.long_side = min_scale, max_scale, long_side

    def make_params(self, flat_inputs):
        return {"scale": float(torch.empty(1).uniform_(self.min_scale, self.max_scale))}

    def transform(self, inpt, params):
        height, width = TF.get_size(inpt)
        scale = params["scale"] * (self.long_side / max(height, width) if self.long_side else 1.0)
        size = [max(1, round(height * scale)), max(1, round(width * scale))]
        if isinstance(inpt, tv_tensors.Mask):
            return TF.resize(inpt, size, interpolation=v2.InterpolationMode.NEAREST_EXACT)
        return TF.resize(inpt, size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


class ClassAwareCrop(v2.RandomCrop):
    """RandomCrop (padding masks with 255) that, with probability `p`, makes sure of one class: a class
    drawn uniformly from those in the mask, and the crop placed at random among those that hold a
    random pixel of it. Drawing the class, not the pixel, uniformly is what favours the thin and rare
    ones (a pole or a cyclist is as likely as the road), without counting pixels over the data set
    (the class-uniform sampling of Panoptic-DeepLab and DAFormer's rare-class sampling, per crop).
    """

    def __init__(self, size, p: float):
        super().__init__(size, pad_if_needed=True, fill=FILL)
        self.p = p

    def make_params(self, flat_inputs):
        params = super().make_params(flat_inputs)
        if float(torch.rand(())) >= self.p:
            return params
        mask = next(x for x in flat_inputs if isinstance(x, tv_tensors.Mask))
        classes = [c for c in mask.unique().tolist() if c != IGNORE_INDEX]
        if not classes:
            return params
        chosen = classes[int(torch.randint(len(classes), ()))]
        where = (mask.reshape(mask.shape[-2:]) == chosen).nonzero()        # (N, 2) rows, columns
        y, x = where[int(torch.randint(len(where), ()))].tolist()
        pad_left, pad_top, pad_right, pad_bottom = params["padding"]
        y, x = y + pad_top, x + pad_left                                     # in the padded image
        padded_h = mask.shape[-2] + pad_top + pad_bottom
        padded_w = mask.shape[-1] + pad_left + pad_right
        crop_h, crop_w = params["height"], params["width"]
        # Tops (lefts) whose crop holds row y (column x) and stays inside the padded image.
        low_top, high_top = max(0, y - crop_h + 1), min(y, padded_h - crop_h)
        low_left, high_left = max(0, x - crop_w + 1), min(x, padded_w - crop_w)
        params["top"] = int(torch.randint(low_top, high_top + 1, ()))
        params["left"] = int(torch.randint(low_left, high_left + 1, ()))
        params["needs_crop"] = padded_h > crop_h or padded_w > crop_w
        return params


@dataclass
class AugmentConfig:
    """What the training augmentation does. Sizes are (H, W); None = keep the image size."""

    crop_size: tuple[int, int] | None = None
    scale: tuple[float, float] = (0.75, 1.25)
    long_side: int | None = None  # scale relative to this longer side instead of the image's own
    hflip: float = 0.5
    vflip: float = 0.0
    rotation: float = 0.0  # degrees, ±
    color_jitter: float = 0.2  # brightness, contrast and saturation ± this fraction
    class_aware_crop: float = 0.0  # probability that a crop holds a class drawn uniformly from the mask's (ClassAwareCrop)


class JointTransform:
    """Callable `(image uint8 (3,H,W), mask (H,W)) -> (image, mask)` running a v2 pipeline on both."""

    def __init__(self, pipeline: v2.Transform):
        self.pipeline = pipeline

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        image, mask = self.pipeline(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


def train_transform(config: AugmentConfig) -> JointTransform:
    """The training pipeline: scale, rotate, crop (padding 255 in masks; class-aware if asked), flip, colour jitter."""
    steps: list[v2.Transform] = []
    if tuple(config.scale) != (1.0, 1.0) or config.long_side:  # tuple(): a config file gives lists
        steps.append(RandomScale(*config.scale, long_side=config.long_side))
    if config.rotation:
        # Bilinear for the image (the default, nearest, makes jagged edges); torchvision always
        # rotates masks with nearest whatever this says.
        steps.append(v2.RandomRotation(config.rotation, interpolation=v2.InterpolationMode.BILINEAR, fill=FILL))
    if config.crop_size is not None:
        steps.append(ClassAwareCrop(config.crop_size, config.class_aware_crop))
    if config.hflip:
        steps.append(v2.RandomHorizontalFlip(config.hflip))
    if config.vflip:
        steps.append(v2.RandomVerticalFlip(config.vflip))
    if config.color_jitter:
        j = config.color_jitter
        steps.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j))
    return JointTransform(v2.Compose(steps) if steps else v2.Identity())

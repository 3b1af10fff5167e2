"""Data: the native folder format, the synthetic scene generator, converters, checks, augmentation."""
from pixelseg.data.folder import IGNORE_INDEX, SegmentationFolder, list_samples, load_image, load_mask, read_classes

__all__ = ["IGNORE_INDEX", "SegmentationFolder", "list_samples", "load_image", "load_mask", "read_classes"]

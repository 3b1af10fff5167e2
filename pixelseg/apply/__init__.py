"""Applications of a person (or any class) mask: virtual background, blur, colour retention, cut-outs.

Every effect takes an RGB image uint8 (H, W, 3) and a mask (H, W) — bool, 0/1 uint8 or a float
alpha in [0, 1], 1 = the target (kept) — so a webcam loop needs nothing else:

    mask = predictor.predict(frame) == person_id
    out = pixelseg.apply.replace_background(frame, mask, "#00ff00")
"""
from pixelseg.apply.effects import blur_background, cutout, feather, parse_color, replace_background, retain_color

__all__ = ["blur_background", "cutout", "feather", "parse_color", "replace_background", "retain_color"]

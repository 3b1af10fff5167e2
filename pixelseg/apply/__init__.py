"""Applications of a person (or any class) mask: virtual background, blur, colour retention, cut-outs.

Every effect takes an RGB image uint8 (H, W, 3) and a mask (H, W) — bool, 0/1 uint8 or a float
alpha in [0, 1], 1 = the target (kept) — so a webcam loop needs nothing else:

    mask = predictor.predict(frame) == person_id
    out = pixelseg.apply.replace_background(frame, mask, "#00ff00")

or, with soft edges and smoothing against flicker across frames:

    matte = pixelseg.apply.Matte(target=person_id, feather=2, smoothing=0.5)
    out = pixelseg.apply.replace_background(frame, matte.alpha(predictor.target_probability(frame, person_id), frame), "#00ff00")

`Effect("blur", strength=9)(frame, alpha)` is the same, by name; `apply_video(...)` runs a whole file.
"""
from pixelseg.apply.effects import EFFECTS, Effect, blur_background, cutout, feather, parse_color, replace_background, retain_color
from pixelseg.apply.image import apply_image, apply_probabilities, encode
from pixelseg.apply.matte import Matte, default_target


def __getattr__(name):
    # The file loops pull in PyAV and the predictor; the effects alone should not.
    if name in ("apply_video",):
        from pixelseg.apply.video import apply_video

        return apply_video
    if name == "apply_paths":
        from pixelseg.apply.files import apply_paths

        return apply_paths
    raise AttributeError(f"module 'pixelseg.apply' has no attribute {name!r}")


__all__ = ["EFFECTS", "Effect", "Matte", "apply_image", "apply_probabilities", "encode", "apply_paths", "apply_video", "blur_background", "cutout", "default_target", "feather", "parse_color",
           "replace_background", "retain_color"]

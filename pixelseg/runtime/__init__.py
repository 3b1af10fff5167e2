"""What training and inference share, below both: the device (`device.resolve_device`), the
precision (`precision.PRECISIONS`, `precision.autocast`) and the forward pass at an image's size
(`sliding.predict_logits`: whole or in windows, flip TTA). Imports torch and pixelseg.errors only."""

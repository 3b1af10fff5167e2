"""Fully convolutional networks (Long, Shelhamer & Darrell, 2015): a classifier's fully connected
layers turned into convolutions so it slides over an image of any size, a 1×1 convolution scoring
every class, and learned upsampling of the scores, initialised to bilinear interpolation.

FCN-32s upsamples the stride-32 scores at once; FCN-16s first fuses them with scores of pool4
(stride 16), FCN-8s also with scores of pool3 (stride 8): each skip brings finer detail back."""
from __future__ import annotations

import torch
import torch.nn as nn

from pixelseg.models.encoders import create_encoder
from pixelseg.models.encoders.vgg import vgg_state_dict
from pixelseg.models.registry import register_model
from pixelseg.nn.padding import crop_to, pad_to_multiple
from pixelseg.nn.upsample import make_upsample

FCN_UPSAMPLE_MODES = ("transposed", "nearest", "bilinear", "pixelshuffle")


class ConvClassifier(nn.Sequential):
    """VGG's fc6 and fc7 as convolutions: fc6 a k×k convolution over the stride-32 map (the 7×7
    window the fully connected layer saw), fc7 a 1×1 one; each with ReLU and dropout.

    (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self, in_channels: int, channels: int = 4096, kernel_size: int = 7, dropout: float = 0.5):
        super().__init__(
            nn.Conv2d(in_channels, channels, kernel_size, padding=kernel_size // 2), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )

    def load_torchvision_(self, state: dict[str, torch.Tensor]) -> None:
        """Reshape torchvision VGG's fc6 (4096, 512·7·7) and fc7 (4096, 4096) into these convolutions."""
        fc6, fc7 = self[0], self[3]
        with torch.no_grad():
            fc6.weight.copy_(state["classifier.0.weight"].view_as(fc6.weight))
            fc6.bias.copy_(state["classifier.0.bias"])
            fc7.weight.copy_(state["classifier.3.weight"].view_as(fc7.weight))
            fc7.bias.copy_(state["classifier.3.bias"])


class FCN(nn.Module):
    """FCN-32s, -16s or -8s on an encoder with maps at strides 8, 16 and 32.

    Args:
        num_classes: score maps produced.
        in_channels: 1 (grayscale) or 3 (RGB).
        stride: 32, 16 or 8, the stride of the finest scores fused (the paper's FCN-32s/16s/8s).
        encoder: "vgg16" (the paper's), another built-in encoder, or "timm:<name>".
        base_channels: width of a built-in encoder (64 for VGG).
        fc_channels, fc_kernel: width and kernel of the convolutionalised fc6/fc7 (VGG: 4096, 7).
        upsample: "transposed" (the paper's, bilinear-initialised), "nearest", "bilinear" or "pixelshuffle".
        pretrained: ImageNet weights (True or a file path) for the encoder, and for fc6/fc7 too when
            the encoder is a standard VGG with fc_channels=4096, fc_kernel=7 (then those come from
            torchvision's VGG classifier, as in the paper).

    Shapes: (B, in_channels, H, W) -> (B, num_classes, H, W).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, stride: int = 32, encoder: str = "vgg16", base_channels: int | None = None,
        fc_channels: int = 4096, fc_kernel: int = 7, upsample: str = "transposed", pretrained: bool | str = False,
    ):
        super().__init__()
        if stride not in (8, 16, 32):
            raise ValueError(f"FCN stride must be 8, 16 or 32, got {stride}")
        # VGG's weights file holds fc6/fc7 too: read it once, for both.
        vgg_weights = pretrained if pretrained and encoder.startswith("vgg") else False
        self.encoder = create_encoder(encoder, in_channels, False if vgg_weights else pretrained, base_channels)
        missing = {8, 16, 32} - set(self.encoder.reductions)
        if missing:
            raise ValueError(f"FCN needs maps at strides 8, 16 and 32; encoder {encoder!r} lacks {sorted(missing)}")
        self.taps = [self.encoder.reductions.index(r) for r in (8, 16, 32)]
        channels = [self.encoder.channels[i] for i in self.taps]
        self.classifier = ConvClassifier(channels[2], fc_channels, fc_kernel)
        self.score = nn.Conv2d(fc_channels, num_classes, 1)
        # Skip scores start at zero (as in the paper), so FCN-16s/8s start out as FCN-32s.
        self.skip_scores = nn.ModuleList(_zero_conv(channels[1 - i], num_classes) for i in range({32: 0, 16: 1, 8: 2}[stride]))
        self.skip_ups = nn.ModuleList(make_upsample(upsample, num_classes, num_classes, 2, scores=True) for _ in self.skip_scores)
        self.up = make_upsample(upsample, num_classes, num_classes, stride, scores=True)
        if vgg_weights:
            state = vgg_state_dict(self.encoder.layers, vgg_weights)
            self.encoder.load_torchvision_(state)
            if (fc_channels, fc_kernel) == (4096, 7):
                self.classifier.load_torchvision_(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.encoder.reductions[-1])
        features = self.encoder(x)
        pool3, pool4, pool5 = (features[i] for i in self.taps)
        scores = self.score(self.classifier(pool5))               # (B, num_classes, H/32, W/32)
        for up, score_skip, skip in zip(self.skip_ups, self.skip_scores, (pool4, pool3)):
            scores = up(scores) + score_skip(skip)                # (B, num_classes, H/16 then H/8, ...)
        return crop_to(self.up(scores), size)                    # (B, num_classes, H, W)


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


@register_model("fcn32s", upsample_modes=FCN_UPSAMPLE_MODES)
def fcn32s(num_classes: int, in_channels: int = 3, **options) -> FCN:
    return FCN(num_classes, in_channels, stride=32, **options)


@register_model("fcn16s", upsample_modes=FCN_UPSAMPLE_MODES)
def fcn16s(num_classes: int, in_channels: int = 3, **options) -> FCN:
    return FCN(num_classes, in_channels, stride=16, **options)


@register_model("fcn8s", upsample_modes=FCN_UPSAMPLE_MODES)
def fcn8s(num_classes: int, in_channels: int = 3, **options) -> FCN:
    return FCN(num_classes, in_channels, stride=8, **options)

"""Pretrained weights, fetched the standard way: torchvision's weights through the torch.hub cache,
timm's through the Hugging Face cache, or a local file. Without network and without a cached copy
the error says so and says where to put the file."""
from __future__ import annotations

from pathlib import Path

import torch

from pixelseg.errors import PixelsegError


class PretrainedWeightsError(PixelsegError):
    """Pretrained weights could not be found in a cache nor downloaded."""


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict saved with torch.save (bare, or under "state_dict" / "model")."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def torchvision_state_dict(weights, source: bool | str | Path) -> dict[str, torch.Tensor]:
    """The state dict of torchvision `weights` (an enum member such as ResNet18_Weights.DEFAULT):
    from the file `source` when it is a path, else from the torch.hub cache, downloading if needed."""
    if not isinstance(source, bool):
        return read_weights_file(source)
    try:
        return weights.get_state_dict(progress=False)
    except OSError as err:  # urllib's URLError and socket errors: no network
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise PretrainedWeightsError(
            f"cannot download pretrained weights {weights.url} ({err}); without network, put the file at "
            f"{cache} or pass pretrained='/path/to/{Path(weights.url).name}'"
        ) from err


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Fit a first convolution's (O, 3, k, k) RGB weight to `in_channels` inputs.

    Grayscale sums the RGB filters, so a gray image (R = G = B) gives the same response as before;
    other counts repeat the RGB filters and rescale them to keep the output's magnitude.
    """
    if in_channels == weight.shape[1]:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (weight.shape[1] / in_channels)

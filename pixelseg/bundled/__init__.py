"""Models that ship inside the package, used by name wherever a checkpoint is asked for:

    pixelseg apply blur photo.jpg --out blurred.jpg            # the person model is apply's default
    pixelseg evaluate --checkpoint person --data DIR
    Predictor.from_checkpoint("person")

Each records how to run it (input size and refinement): person is a slim checkpoint (fp16 weights,
no optimiser state); person-fast is the same network fine-tuned for camera frames, int8 ONNX at 384 px, the default of
`pixelseg live` (`pixelseg export --int8`, `make person-fast`). The model card is docs/models.md.
"""
from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent

# name -> (file in this folder, one line for --help)
BUNDLED = {
    "person": ("person.pt", "background/person, LR-ASPP on EfficientNet-Lite0, runs at 448 px with a guided filter (docs/models.md)"),
    "person-fast": ("person-fast.onnx", "the same network fine-tuned for camera frames, int8 ONNX at 384 px with the guided filter: live's default, for video calls"),
}


def bundled_names() -> list[str]:
    return list(BUNDLED)


def bundled_path(name: str) -> Path | None:
    """The file of bundled model `name`, or None when no bundled model has that name."""
    entry = BUNDLED.get(name)
    return FOLDER / entry[0] if entry else None


def describe() -> str:
    """For --help: "bundled models: person (background/person, ...)"."""
    return "bundled models: " + "; ".join(f"{name} ({line})" for name, (_, line) in BUNDLED.items())

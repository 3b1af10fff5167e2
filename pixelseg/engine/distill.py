"""Knowledge distillation: a trained teacher's probabilities as a second target for the student.

    pixelseg train ... --teacher person                 # a checkpoint, or a bundled model's name
    pixelseg train ... --teacher mediapipe              # MediaPipe's selfie segmenter (person sets)

A mask says only which class a pixel is; a good teacher also says how sure it is, on the very crop
the student sees after augmentation: soft edges on hair, low confidence where the label is doubtful.
The student's loss becomes `loss(logits, mask) + distill_weight · H(teacher, student)`, the cross-
entropy of the student's softmax against the teacher's probabilities (Hinton et al., 2015, at
temperature 1), averaged over pixels. The teacher runs without gradients on the normalised batch.

MediaPipe's selfie segmenter (Apache-2.0) ships as .tflite files inside the `mediapipe` wheel and runs
with `ai-edge-litert`; neither is a dependency of pixelseg (pip install ai-edge-litert, and
pip install --no-deps mediapipe==0.10.14 for the model file, as `make bench-deps` does).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint
from pixelseg.errors import PixelsegError, UsageError
from pixelseg.runtime.outputs import class_log_probabilities, class_probabilities
from pixelseg.runtime.precision import autocast

# name -> the model file inside the mediapipe wheel, its input size (H, W)
MEDIAPIPE_MODELS = {
    "mediapipe": ("selfie_segmentation.tflite", (256, 256)),
    "mediapipe-landscape": ("selfie_segmentation_landscape.tflite", (144, 256)),
}
INSTALL_MEDIAPIPE = "pip install ai-edge-litert && pip install --no-deps mediapipe==0.10.14 (or: make bench-deps)"


class Teacher(Protocol):
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, H, W) -> class probabilities (B, C, H, W), the student's classes."""


def distillation_loss(logits: torch.Tensor, teacher_probabilities: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student's class probabilities (softmax, or a binary student's 1 − σ, σ)
    against the teacher's, mean over pixels."""
    log_p = class_log_probabilities(logits)                                            # (B, K, H, W)
    return -(teacher_probabilities * log_p).sum(1).mean()


class CheckpointTeacher:
    """A pixelseg checkpoint (or bundled model) with the student's classes, in eval mode."""

    def __init__(self, name: str, classes: list[str], mean, std, device: torch.device, precision: str = "fp32"):
        checkpoint = load_checkpoint(name)
        if list(checkpoint["classes"]) != list(classes):
            raise UsageError(f"--teacher {name}: its classes {checkpoint['classes']} differ from the data's {classes}")
        # The batch is normalised with the student's statistics; x·std + mean undoes that, the teacher's redo it.
        student_mean, student_std = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in (mean, std))
        teacher_mean, teacher_std = (torch.tensor(checkpoint[k], device=device).view(1, 3, 1, 1) for k in ("mean", "std"))
        self.scale, self.shift = student_std / teacher_std, (student_mean - teacher_mean) / teacher_std
        self.model = model_from_checkpoint(checkpoint).to(device, memory_format=torch.channels_last)
        self.model.requires_grad_(False)
        self.device, self.precision = device, precision

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.precision):
            logits = self.model(images * self.scale + self.shift)                      # (B, C, H, W)
        return class_probabilities(logits)                                             # a binary teacher's too


class MediaPipeTeacher:
    """MediaPipe's selfie segmenter (P(person) at 256×256 or 144×256) for a (background, person) student."""

    def __init__(self, name: str, classes: list[str], mean, std):
        if len(classes) != 2 or "person" not in classes:
            raise UsageError(f"--teacher {name}: it segments people, so the data needs two classes, one named 'person'; it has {classes}")
        from ai_edge_litert.interpreter import Interpreter

        path = self.model_path(name)
        self.size = MEDIAPIPE_MODELS[name][1]
        self.interpreter = Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.person = classes.index("person")
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    @staticmethod
    def model_path(name: str) -> Path:
        """The .tflite file inside the installed mediapipe wheel; a UsageError saying how to install what is missing."""
        import importlib.util

        if importlib.util.find_spec("ai_edge_litert") is None:
            raise UsageError(f"--teacher {name}: needs ai-edge-litert, which is not installed ({INSTALL_MEDIAPIPE})")
        spec = importlib.util.find_spec("mediapipe")
        if spec is None or not spec.submodule_search_locations:
            raise UsageError(f"--teacher {name}: its model file ships in the mediapipe wheel, which is not installed ({INSTALL_MEDIAPIPE})")
        path = Path(list(spec.submodule_search_locations)[0]) / "modules" / "selfie_segmentation" / MEDIAPIPE_MODELS[name][0]
        if not path.is_file():
            raise UsageError(f"--teacher {name}: {path} is missing from the installed mediapipe ({INSTALL_MEDIAPIPE})")
        return path

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        rgb = (images.float().cpu() * self.std + self.mean).clamp(0, 1)               # (B, 3, H, W) in [0, 1], as MediaPipe feeds it
        small = F.interpolate(rgb, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        person = []
        for frame in small.permute(0, 2, 3, 1).contiguous().numpy():                  # (h, w, 3) each
            self.interpreter.set_tensor(self.input, frame[None].astype(np.float32))
            self.interpreter.invoke()
            person.append(torch.from_numpy(self.interpreter.get_tensor(self.output)[0, :, :, 0].copy()))
        p = F.interpolate(torch.stack(person)[:, None], size=(height, width), mode="bilinear", align_corners=False)  # (B, 1, H, W)
        p = p.clamp(0, 1).to(images.device)
        return torch.cat([1 - p, p], 1) if self.person == 1 else torch.cat([p, 1 - p], 1)  # (B, 2, H, W)


def check_teacher(name: str) -> None:
    """Before any work: the teacher can be loaded (its packages installed, its file there)."""
    if name in MEDIAPIPE_MODELS:
        MediaPipeTeacher.model_path(name)
        return
    from pixelseg.engine.checkpoint import resolve_checkpoint

    try:
        resolve_checkpoint(name)
    except PixelsegError as err:
        raise UsageError(f"--teacher {name}: {err} (or one of {', '.join(MEDIAPIPE_MODELS)})") from None


def load_teacher(name: str, classes: list[str], mean, std, device: torch.device, precision: str = "fp32") -> Teacher:
    """`name`: "mediapipe", "mediapipe-landscape", a checkpoint file or a bundled model's name."""
    if name in MEDIAPIPE_MODELS:
        return MediaPipeTeacher(name, classes, mean, std)
    try:
        return CheckpointTeacher(name, classes, mean, std, device, precision)
    except UsageError:
        raise
    except PixelsegError as err:
        raise UsageError(f"--teacher {name}: {err} (or one of {', '.join(MEDIAPIPE_MODELS)})") from None

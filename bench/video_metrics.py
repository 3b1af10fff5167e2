"""What a video call's segmentation is judged by, per frame, as the meet-matting benchmark measures it:

    IoU              intersection and union counted over all pixels of all frames (one count, not
                     a mean of per-frame IoUs: frames with nobody in them still count their errors)
    boundary F       the DAVIS protocol (Perazzi et al. 2016): the masks' boundary pixels, matched
                     within 0.008 × the image diagonal; F = 2PR / (P + R), the mean over frames
    warping error    Lai et al. 2018: the output of frame t−1 warped to frame t along the optical
                     flow of the *input* frames (OpenCV's DIS), and the mean squared difference from
                     the output of frame t over the pixels the flow sees in both (forward-backward
                     consistent, inside the frame); the mean over frame pairs. Flicker and a lagging
                     edge both raise it; a perfectly stable and correct mask scores what the truth
                     itself scores (the flow is not perfect)

Boundary F follows DAVIS's `seg2bmap` and `f_measure` (davis2017-evaluation), here without their
resizing and with OpenCV's elliptical kernel for the disk. OpenCV is a benchmark dependency
(`make bench-deps`).
"""
from __future__ import annotations

import math

import numpy as np

BOUNDARY_TOLERANCE = 0.008  # DAVIS: of the image diagonal


def boundary(mask: np.ndarray) -> np.ndarray:
    """DAVIS's seg2bmap: the pixels (H, W) bool where the mask changes to its right, below or diagonally."""
    seg = mask.astype(bool)
    east, south, south_east = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    edge = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    edge[-1, :] = seg[-1, :] ^ east[-1, :]
    edge[:, -1] = seg[:, -1] ^ south[:, -1]
    edge[-1, -1] = False
    return edge


def _dilate(edge: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(edge.astype(np.uint8), disk).astype(bool)


def boundary_f(predicted: np.ndarray, truth: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """DAVIS's boundary F-measure of one frame's predicted mask against the true one (both (H, W) bool)."""
    radius = tolerance if tolerance >= 1 else math.ceil(tolerance * math.hypot(*truth.shape))
    fg, gt = boundary(predicted), boundary(truth)
    n_fg, n_gt = int(fg.sum()), int(gt.sum())
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    precision = float((fg & _dilate(gt, int(radius))).sum()) / n_fg
    recall = float((gt & _dilate(fg, int(radius))).sum()) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


class Flow:
    """DIS optical flow between consecutive input frames, and the warp Lai et al. measure with."""

    def __init__(self):
        import cv2

        self.cv2 = cv2
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def pair(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For frame t (`current`) and t−1 (RGB uint8): (map_x, map_y) (H, W) float32 where each pixel
        of t was in t−1, and the mask (H, W) bool of pixels whose flow is consistent both ways and lands inside."""
        cv2 = self.cv2
        a, b = cv2.cvtColor(previous, cv2.COLOR_RGB2GRAY), cv2.cvtColor(current, cv2.COLOR_RGB2GRAY)
        backward = self.dis.calc(b, a, None)                                    # (H, W, 2): t -> t−1
        forward = self.dis.calc(a, b, None)                                     # t−1 -> t
        height, width = b.shape
        ys, xs = np.mgrid[:height, :width].astype(np.float32)
        map_x, map_y = xs + backward[..., 0], ys + backward[..., 1]
        forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Sundaram et al.'s consistency check, as Lai et al. use it for their occlusion masks.
        round_trip = ((backward + forward_there) ** 2).sum(-1)
        consistent = round_trip < 0.01 * ((backward ** 2).sum(-1) + (forward_there ** 2).sum(-1)) + 0.5
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        return map_x, map_y, consistent & inside

    def warp(self, output: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        return self.cv2.remap(output, map_x, map_y, self.cv2.INTER_LINEAR, borderMode=self.cv2.BORDER_REPLICATE)


def warping_error(previous_output: np.ndarray, output: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, valid: np.ndarray, flow: Flow) -> float:
    """Mean of (Oₜ − warp(Oₜ₋₁))² over the valid pixels; outputs (H, W) float32 in [0, 1]."""
    if not valid.any():
        return 0.0
    difference = output - flow.warp(previous_output, map_x, map_y)
    return float((difference[valid] ** 2).mean())


class Scores:
    """Running totals for one pipeline: IoU counts, boundary F per frame, warping error per frame pair."""

    def __init__(self):
        self.intersection = self.union = 0
        self.boundary_f: list[float] = []
        self.warping: list[float] = []

    def add_frame(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        self.intersection += int((predicted & truth).sum())
        self.union += int((predicted | truth).sum())
        self.boundary_f.append(boundary_f(predicted, truth))

    def add_pair(self, error: float) -> None:
        self.warping.append(error)

    def merge(self, other: "Scores") -> None:
        self.intersection += other.intersection
        self.union += other.union
        self.boundary_f += other.boundary_f
        self.warping += other.warping

    def summary(self) -> dict:
        return {"iou": self.intersection / self.union if self.union else 1.0,
                "boundary_f": float(np.mean(self.boundary_f)) if self.boundary_f else float("nan"),
                "warping_error": float(np.mean(self.warping)) if self.warping else float("nan"),
                "frames": len(self.boundary_f)}

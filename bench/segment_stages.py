"""Where a frame's segment step goes: the stages of Runtime.target_probability, timed one by one.

    python bench/segment_stages.py --checkpoint person.int8.onnx --input-size 256 --refine none
    python bench/segment_stages.py --checkpoint person --input-size 448 --refine guided --threads 2

For one 640×480 frame (scikit-image's astronaut, scaled and cropped): the network alone
(`forward` on the normalised input), the pass up to the network's output (`network`: resize,
normalise, network), bringing P(person) back to the frame's size (`full_target_probability`:
resize or guided filter), and the whole step (`target_probability`). Medians over --repeats calls
after a warm-up, in this process, with the runtime's own methods (nothing re-implemented here), so
the figures add up to what bench/realtime.py's segment column measures in its loop, give or take
the loop's noise. Run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelseg.data.folder import normalize  # noqa: E402
from pixelseg.inference.loading import load_predictor  # noqa: E402


def frame_640x480() -> np.ndarray:
    from PIL import Image
    from skimage import data

    return np.array(Image.fromarray(data.astronaut()).resize((640, 640), Image.BILINEAR))[80:560]  # (480, 640, 3), writable


def median_ms(call, repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="person", help="a .pt, an .onnx (int8 or float) or a bundled name")
    parser.add_argument("--input-size", type=int, default=None, help="the network's longer side (default: the model's)")
    parser.add_argument("--refine", choices=["none", "guided"], default=None)
    parser.add_argument("--size-multiple", type=int, default=None, help="the network input's sides rounded to a multiple of this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=80)
    args = parser.parse_args(argv)

    runtime = load_predictor(args.checkpoint, device="cpu", threads=args.threads, input_size=args.input_size, refine=args.refine,
                             size_multiple=args.size_multiple)
    person = runtime.class_index("person") if "person" in runtime.classes else 1
    frame = frame_640x480()
    batch = frame[None]
    out = runtime.network(batch)
    x = normalize(out.small, runtime.mean, runtime.std)  # the network's own input
    stages = {
        f"network alone ({x.shape[-2]}×{x.shape[-1]})": lambda: runtime.forward(x),
        "network(): resize + normalise + network": lambda: runtime.network(batch),
        f"full_target_probability(): P(person) to 640×480 ({runtime.refine})": lambda: runtime.full_target_probability(out, person),
        "target_probability(): the whole step": lambda: runtime.target_probability(frame, person),
        "logits + softmax at full size (the path before target_probability)": lambda: runtime.logits(frame).softmax(0)[person].numpy(),
    }
    print(f"{args.checkpoint} ({runtime.runtime}), input {runtime.input_size or 'own size'}, refine {runtime.refine}, {args.threads} threads")
    for name, call in stages.items():
        print(f"  {name:<70} {median_ms(call, args.repeats):6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

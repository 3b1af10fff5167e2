"""The video-call benchmark: pixelseg's live loop beside MediaPipe's selfie segmenter on clips made
like a video call, measured as a video-call product is judged (accuracy, edges, flicker, latency).

    python bench/video_call.py                                               # 10 clips × 90 frames, every pipeline
    python bench/video_call.py --frames 6 --sizes 640x480 --scenarios still,walk --pipelines int8-motion,mp-general   # a check
    python bench/video_call.py --json video_call.json --workdir runs/video-call  # results kept; models and clips reused

The clips (bench/video_clips.py): still, pan, zoom, walk in and out, two people; 640×480 and
1280×720, 30 frames/s, exact masks; made once from ../shared/datasets into --clips.

Each pipeline runs in its own process (see bench/realtime.py for why) through pixelseg's live loop
itself (pixelseg.apply.live: decode -> segment -> Matte (solid 0.2, feather 2, the smoothing named)
-> replace the background), MediaPipe's masks included, so every row pays for the same stages:

    int8-none / int8-fixed / int8-motion   the bundled person model as ONNX Runtime int8 (static QDQ,
                                           calibrated on a clip of its own, not a test clip), network
                                           at 320 px + guided filter; smoothing off, fixed 0.5, motion 0.5
    int8-norefine-motion                   the same without the guided filter (a plain resize back)
    int8-384-motion / int8-448-motion      the int8 model with the network at 384 / 448 px (its own size), motion 0.5
    torch-motion                           the checkpoint as it is (PyTorch, its 448 px + guided), motion 0.5
    mp-general / mp-landscape              MediaPipe 0.10.14's selfie segmenter (256×256, 144×256), no smoothing
    mp-general-motion                      MediaPipe general with pixelseg's motion smoothing 0.5

Scores (bench/video_metrics.py), per resolution over all its clips: IoU over all frames, DAVIS
boundary F, flow warping error (Lai et al. 2018, DIS flow of the input frames) and, from the loop,
P50/P95 latency per frame (segment + matte + composite, from the decoded frame to the composited
one) and frames/s end to end (decoding included). The truth's own warping error is given as the
floor a perfect mask would reach.

Needs `make bench-deps` (MediaPipe and OpenCV; without MediaPipe the run reports ours alone).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pixelseg.apply import Effect, Matte  # noqa: E402
from pixelseg.apply.live import FileSource, live_frames  # noqa: E402
from pixelseg.engine.checkpoint import load_checkpoint, resolve_checkpoint  # noqa: E402
from pixelseg.inference.loading import load_predictor  # noqa: E402
from pixelseg.inference.video_io import VideoReader  # noqa: E402
from realtime import MediaPipeSelfie, load_average, mediapipe_version, quantize_int8  # noqa: E402
from video_clips import SCENARIOS, SIZES, Clip, load_masks, make_clips, render, write_clip  # noqa: E402

DATASETS = HERE.parent / ".." / "shared" / "datasets"
WARMUP = 5  # frames run before the first timed one: allocations, weight packing, thread pools

PIPELINES = {
    "int8-none": {"label": "ours int8 320 px, no smoothing", "kind": "onnx", "file": "model.int8.onnx", "input_size": 320, "smoothing": 0.0},
    "int8-fixed": {"label": "ours int8 320 px, fixed 0.5", "kind": "onnx", "file": "model.int8.onnx", "input_size": 320, "smoothing": 0.5, "mode": "fixed"},
    "int8-motion": {"label": "ours int8 320 px, motion 0.5", "kind": "onnx", "file": "model.int8.onnx", "input_size": 320, "smoothing": 0.5, "mode": "motion"},
    "int8-norefine-motion": {"label": "ours int8 320 px no guided filter, motion 0.5", "kind": "onnx", "file": "model.int8.onnx", "input_size": 320,
                             "refine": "none", "smoothing": 0.5, "mode": "motion"},
    "int8-384-motion": {"label": "ours int8 384 px, motion 0.5", "kind": "onnx", "file": "model.int8.onnx", "input_size": 384, "smoothing": 0.5, "mode": "motion"},
    "int8-448-motion": {"label": "ours int8 448 px, motion 0.5", "kind": "onnx", "file": "model.int8.onnx", "input_size": 448, "smoothing": 0.5, "mode": "motion"},
    "torch-motion": {"label": "ours torch (its 448 px + guided), motion 0.5", "kind": "torch", "smoothing": 0.5, "mode": "motion"},
    "mp-general": {"label": "mediapipe general (256×256)", "kind": "mediapipe", "model": 0, "smoothing": 0.0},
    "mp-landscape": {"label": "mediapipe landscape (144×256)", "kind": "mediapipe", "model": 1, "smoothing": 0.0},
    "mp-general-motion": {"label": "mediapipe general, motion 0.5", "kind": "mediapipe", "model": 0, "smoothing": 0.5, "mode": "motion"},
}


class MediaPipeRuntime:
    """MediaPipe's selfie segmenter behind the Runtime interface the live loop calls
    (target_probability), so its masks go through the same Matte and effect as ours."""

    classes = ["background", "person"]

    def __init__(self, model: int):
        self.selfie = MediaPipeSelfie(model)

    def target_probability(self, frame: np.ndarray, target: int) -> np.ndarray:
        return self.selfie(frame)                                                # (H, W) P(person)


def build(spec: dict, workdir: Path):
    """(runtime, person class id) for a pipeline."""
    if spec["kind"] == "mediapipe":
        return MediaPipeRuntime(spec["model"]), 1
    info = json.loads((workdir / "ours.json").read_text())
    model = workdir / spec["file"] if spec["kind"] == "onnx" else info["checkpoint"]
    runtime = load_predictor(model, spec["kind"], device="cpu", threads=2, input_size=spec.get("input_size"), refine=spec.get("refine"))
    return runtime, runtime.class_index("person")


def worker(spec: dict, workdir: Path, clips: list[Clip], out: Path) -> dict:
    """Every clip through the live loop; the alphas saved to `out` per clip, the timings returned."""
    runtime, person = build(spec, workdir)
    rng = np.random.default_rng(0)  # a fixed virtual background
    backdrop = np.asarray(np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((64, 64, 1))), dtype=np.uint8)
    effect = Effect("replace", background=backdrop)
    matte = Matte(person, feather=2.0, solid=0.2, smoothing=spec.get("smoothing", 0.0), smoothing_mode=spec.get("mode", "motion"))
    with FileSource(clips[0].video) as source:
        for index, _ in enumerate(live_frames(runtime, effect, matte, source)):
            if index + 1 >= WARMUP:
                break
    timings = {}
    out.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        alphas, latencies = [], []
        with FileSource(clip.video) as source:
            started = time.perf_counter()
            for _, alpha, _, arrived in live_frames(runtime, effect, matte, source):
                latencies.append(time.perf_counter() - arrived)
                alphas.append(alpha)
            wall = time.perf_counter() - started
        np.savez_compressed(out / f"{clip.name}.npz", alphas=np.stack([np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8) for a in alphas]))
        timings[clip.name] = {"latencies": latencies, "wall": wall, "frames": len(latencies)}
    return timings


def run_worker(key: str, args, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--worker", key, "--workdir", str(workdir), "--clips", str(args.clips), "--frames", str(args.frames),
               "--sizes", args.sizes, "--scenarios", args.scenarios]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"worker {key} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def prepare_ours(checkpoint_name: str, workdir: Path, datasets: Path, keys: list[str]) -> dict:
    """The checkpoint's path and person id, and (for the int8 pipelines) its ONNX export quantized to int8."""
    checkpoint_path = resolve_checkpoint(checkpoint_name).resolve()
    checkpoint = load_checkpoint(checkpoint_path)
    info = {"checkpoint": str(checkpoint_path), "model": checkpoint["model"]["name"], "inference": checkpoint.get("inference")}
    (workdir / "ours.json").write_text(json.dumps(info))
    if any(PIPELINES[k].get("file") == "model.int8.onnx" for k in keys) and not (workdir / "model.int8.onnx").is_file():
        from pixelseg.inference.onnx import export_onnx
        from video_clips import People

        print(f"exporting to ONNX: {export_onnx(checkpoint, workdir / 'model.onnx').summary()}", flush=True)
        # Calibrated on a clip of its own (another seed), never on a test clip.
        calibration = write_clip(workdir, "calibration", render("walk", (480, 640), 32, People(datasets), seed=1000))
        quantize_int8(workdir / "model.onnx", workdir / "model.int8.onnx", calibration.video, checkpoint, 320)
    return info


def score(clips: list[Clip], keys: list[str], workdir: Path) -> dict:
    """{(key or "truth", size): Scores} over the clips, flows computed once per clip."""
    from video_metrics import Flow, Scores, warping_error

    flow, totals = Flow(), {}
    for clip in clips:
        size = clip.name.rsplit("-", 1)[1]
        truth = load_masks(clip)
        with VideoReader(clip.video) as reader:
            frames = list(reader)
        pairs = [flow.pair(frames[t - 1], frames[t]) for t in range(1, len(frames))]
        outputs = {"truth": truth.astype(np.float32)}
        for key in keys:
            with np.load(workdir / "alphas" / key / f"{clip.name}.npz") as data:
                outputs[key] = data["alphas"].astype(np.float32) / 255.0
        for key, alphas in outputs.items():
            scores = Scores()
            for t in range(len(truth)):
                scores.add_frame(alphas[t] >= 0.5, truth[t])
                if t:
                    scores.add_pair(warping_error(alphas[t - 1], alphas[t], *pairs[t - 1], flow))
            totals.setdefault((key, size), Scores()).merge(scores)
        print(f"scored {clip.name}", flush=True)
    return totals


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        width, height = (int(v) for v in part.lower().split("x"))
        sizes.append((height, width))
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="person", help="the person model (default: the bundled one)")
    parser.add_argument("--datasets", default=str(DATASETS), help="../shared/datasets: human_seg and person_cutouts")
    parser.add_argument("--clips", default="runs/video-call-clips", help="where the clips are made (once) and read from")
    parser.add_argument("--frames", type=int, default=90, help="frames per clip (default 90: 3 s at 30 frames/s)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for h, w in SIZES), help="WxH,... (default 640x480,1280x720)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"some of {', '.join(SCENARIOS)}")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help=f"some of {', '.join(PIPELINES)}")
    parser.add_argument("--workdir", default=None, help="models and alphas (default: a new temporary folder); an int8 model there is reused")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes, scenarios = parse_sizes(args.sizes), args.scenarios.split(",")
    clips = make_clips(Path(args.clips), Path(args.datasets), args.frames, scenarios=scenarios, sizes=sizes, progress=lambda m: print(m, flush=True))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pixelseg-video-call-"))
    if args.worker:
        timings = worker(PIPELINES[args.worker], workdir, clips, workdir / "alphas" / args.worker)
        print("RESULT " + json.dumps(timings), flush=True)
        return 0

    workdir.mkdir(parents=True, exist_ok=True)
    keys = [k for k in args.pipelines.split(",") if k]
    unknown = [k for k in keys if k not in PIPELINES]
    if unknown:
        parser.error(f"unknown pipelines {', '.join(unknown)}; choose from {', '.join(PIPELINES)}")
    mp = mediapipe_version()
    if not mp:
        print("mediapipe not importable (make bench-deps): reporting ours alone", flush=True)
        keys = [k for k in keys if PIPELINES[k]["kind"] != "mediapipe"]
    load_before = load_average()
    ours = prepare_ours(args.checkpoint, workdir, Path(args.datasets), keys)
    timings = {}
    for key in keys:
        timings[key] = run_worker(key, args, workdir)
        print(f"ran {key}", flush=True)
    totals = score(clips, keys, workdir)
    rows = []
    for key in ["truth", *keys]:
        for height, width in sizes:
            size = f"{width}x{height}"
            row = {"key": key, "label": "ground truth (the floor)" if key == "truth" else PIPELINES[key]["label"], "size": size,
                   **totals[(key, size)].summary()}
            if key != "truth":
                mine = [t for name, t in timings[key].items() if name.endswith(size)]
                latencies = np.array([v for t in mine for v in t["latencies"]]) * 1000
                row.update(p50_ms=float(np.percentile(latencies, 50)), p95_ms=float(np.percentile(latencies, 95)),
                           fps=sum(t["frames"] for t in mine) / sum(t["wall"] for t in mine))
            rows.append(row)
    report = {"command": " ".join(["python", "bench/video_call.py", *(argv if argv is not None else sys.argv[1:])]),
              "ours": ours, "mediapipe": mp, "torch": torch.__version__, "cores": os.cpu_count(), "frames_per_clip": args.frames,
              "scenarios": scenarios, "load_before": load_before, "load_after": load_average(), "results": rows}
    print(markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def markdown(report: dict) -> str:
    lines = ["| pipeline | size | IoU | boundary F | warping error ×10⁻³ | P50 ms | P95 ms | frames/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in report["results"]:
        speed = " | ".join(f"{row[k]:.1f}" for k in ("p50_ms", "p95_ms", "fps")) if "fps" in row else "— | — | —"
        lines.append(f"| {row['label']} | {row['size']} | {row['iou']:.3f} | {row['boundary_f']:.3f} | {1000 * row['warping_error']:.2f} | {speed} |")
    lines.append("")
    lines.append(f"{report['frames_per_clip']} frames per clip, scenarios {', '.join(report['scenarios'])}; ours = {report['ours']['model']} "
                 f"({report['ours']['checkpoint']}); torch {report['torch']} on {report['cores']} cores; mediapipe {report['mediapipe']}; "
                 f"load average (1/5/15 min) {report['load_before']} before, {report['load_after']} after.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

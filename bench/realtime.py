"""Real-time person segmentation on video, end to end, beside MediaPipe's selfie segmenter in the same run.

    python bench/realtime.py                                             # the bundled person model: speed and person IoU
    python bench/realtime.py --checkpoint runs/person/best.pt --int8     # another checkpoint, and its int8 ONNX beside
    python bench/realtime.py --checkpoint none                           # speed only (an untrained lraspp)
    python bench/realtime.py --checkpoint runs/person-fast-224/best.pt --int8 --int8-onnx person-fast --input-size 224 \
        --size-multiple 32 --refine none                                 # the bundled video graph itself, at 224 px
    python bench/realtime.py --frames 60 --json realtime.json            # a short run, results kept

Speed: frames per second at 640×480 through the whole loop a video call runs — decode an H.264
frame (PyAV), segment it, composite it over a new background (soft alpha, 2-pixel feather) — for

    ours/torch   the checkpoint (default: the bundled person model), PyTorch with 1 and with 2
                 threads, network at --input-size (longer side; default the checkpoint's own) and
                 its refinement (guided filter back to 640×480, or a plain resize)
    ours/onnx    the same model exported to ONNX, ONNX Runtime (2 threads spinning within a run only; PyTorch's
                 resizing around it on 1 thread); with --int8 also its static int8 quantization
                 (QDQ, calibrated on 32 frames of the test video)
    mediapipe    MediaPipe 0.10.14's selfie segmenter ("general" 256×256 and "landscape" 144×256
                 models, shipped inside the wheel), the legacy `solutions` API

each reading the same test video (skimage's public-domain astronaut, panned; made here, not shipped).
Time per stage is the median over frames; frames/s is frames over the loop's total wall-clock time,
the best of --repeats passes (the pipelines take turns, so a burst of other load hits them alike).

Accuracy: person IoU over the whole human_seg val split (one confusion over all pixels, as
pixelseg.metrics does), each model at its own real-time setting, masks at the photo's size.

MediaPipe is a benchmark-only dependency (pip install mediapipe==0.10.14 --no-deps, plus
opencv-python-headless and attrs: its declared protobuf<5 would break onnx); without it the run
reports ours alone. The machine is usually shared: the load average is printed beside the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pixelseg  # noqa: E402
from pixelseg.apply import Effect, feather  # noqa: E402
from pixelseg.data.folder import list_samples, load_image, load_mask, read_classes  # noqa: E402
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload, inference_settings, load_checkpoint, resolve_checkpoint  # noqa: E402
from pixelseg.inference.loading import load_predictor  # noqa: E402
from pixelseg.inference.predictor import Predictor  # noqa: E402
from pixelseg.inference.video_io import VideoReader  # noqa: E402

HEIGHT, WIDTH, FPS = 480, 640, 30
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "human_seg"


# -- the test video --------------------------------------------------------------------------------

def make_video(path: Path, frames: int) -> Path:
    """A 640×480 H.264 clip: the astronaut photo, scaled up and panned slowly (motion for the decoder)."""
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((800, 800), Image.BILINEAR)
    big = np.asarray(photo)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "20", "preset": "fast"}
        for i in range(frames):
            t = i / max(1, frames - 1)
            top, left = int(40 + 200 * t), int(80 * (1 - t))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[top : top + HEIGHT, left : left + WIDTH]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# -- the segmenters: RGB uint8 (H, W, 3) -> P(person) float32 (H, W) ---------------------------------

class Ours:
    def __init__(self, predictor: Predictor, person: int):
        self.predictor, self.person = predictor, person

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.predictor.target_probability(frame, self.person)  # what apply and live run

    def close(self) -> None:
        pass


class MediaPipeSelfie:
    def __init__(self, model_selection: int):
        import mediapipe as mp

        self.segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.segmenter.process(frame).segmentation_mask  # (H, W) float32 in [0, 1]

    def close(self) -> None:
        self.segmenter.close()


def mediapipe_version() -> str | None:
    try:
        import mediapipe as mp
    except Exception:  # not installed, or broken by a dependency: reported, not fatal
        return None
    return mp.__version__


# -- measurements ------------------------------------------------------------------------------------

def end_to_end(segment, video: Path, warmup: int = 5) -> dict:
    """Decode -> segment -> composite for every frame of `video`; per-stage medians and overall frames/s."""
    background = np.asarray(Image.open(video.with_suffix(".bg.png")))
    effect = Effect("replace", background=background)
    times = {"decode": [], "segment": [], "composite": []}
    with VideoReader(video) as reader:
        frames = iter(reader)
        for _ in range(warmup):  # first calls allocate, JIT-pack weights, spin up thread pools
            frame = next(frames)
            effect(frame, feather(segment(frame), 2.0))
        started = time.perf_counter()
        count = 0
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            t1 = time.perf_counter()
            alpha = segment(frame)
            t2 = time.perf_counter()
            effect(frame, feather(alpha, 2.0))
            t3 = time.perf_counter()
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key].append(value)
            count += 1
        total = time.perf_counter() - started
    return {"frames": count, "fps": count / total, **{f"{k}_ms": 1000 * statistics.median(v) for k, v in times.items()}}


def person_iou(segment, data: Path, person: int) -> float:
    """Person IoU over the whole val split: one count of intersection and union over all pixels."""
    intersection = union = 0
    for sample in list_samples(data, "val"):
        image = load_image(sample.image_path)
        truth = load_mask(sample.mask_path, size=image.shape[:2]) == person
        predicted = segment(image) >= 0.5
        intersection += int((predicted & truth).sum())
        union += int((predicted | truth).sum())
    return intersection / union


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the run: every measurement in a fresh process ------------------------------------------------------
#
# Each pipeline runs in its own process: PyTorch's OpenMP threads, ONNX Runtime's pool and MediaPipe's
# graph threads must not share one process, where one library's idle-spinning threads take the cores
# another needs (measured: ours/torch fell from ~60 to ~4 frames/s once a MediaPipe graph existed).

def pipelines(have_onnx: bool, have_mediapipe: bool, input_size: int, int8: bool = False) -> dict[str, dict]:
    """Name -> what a worker builds. ours/torch runs with 1 and with 2 threads (see the docs)."""
    found = {
        f"ours/torch 1 thread ({input_size}px)": {"kind": "torch", "threads": 1},
        f"ours/torch 2 threads ({input_size}px)": {"kind": "torch", "threads": 2},
    }
    if have_onnx:
        found[f"ours/onnx ({input_size}px)"] = {"kind": "onnx", "threads": 2}
        if int8:
            found[f"ours/onnx int8 ({input_size}px)"] = {"kind": "onnx", "threads": 2, "file": "model.int8.onnx"}
    if have_mediapipe:
        found["mediapipe general (256×256)"] = {"kind": "mediapipe", "model": 0}
        found["mediapipe landscape (144×256)"] = {"kind": "mediapipe", "model": 1}
    return found


def build(spec: dict, workdir: Path, input_size: int, size_multiple: int | None = None):
    if spec["kind"] == "mediapipe":
        return MediaPipeSelfie(spec["model"])
    info = json.loads((workdir / "ours.json").read_text())
    # load_predictor sets the threads as the CLI does: with ONNX Runtime, PyTorch (resizing around
    # the graph) gets one thread, so the two pools do not stall each other.
    model = workdir / spec.get("file", "model.onnx") if spec["kind"] == "onnx" else info["checkpoint"]
    predictor = load_predictor(model, spec["kind"], device="cpu", threads=spec["threads"], input_size=input_size, refine=info["refine"],
                               size_multiple=size_multiple)
    return Ours(predictor, info["person"])


def worker(args) -> int:
    """One measurement in this process; prints one JSON line."""
    workdir = Path(args.workdir)
    spec = json.loads(args.worker)
    segment = build(spec, workdir, args.input_size, args.size_multiple)
    if args.task == "speed":
        result = end_to_end(segment, workdir / "astronaut.mp4")
    else:
        data = Path(args.data)
        result = {"person_iou": person_iou(segment, data, read_classes(data).index("person"))}
    segment.close()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def in_process(spec: dict, task: str, args, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--worker", json.dumps(spec), "--task", task, "--workdir", str(workdir),
               "--input-size", str(args.input_size or 0), "--data", str(args.data)]
    if args.size_multiple:
        command += ["--size-multiple", str(args.size_multiple)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"worker {spec} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def prepare_ours(args, workdir: Path) -> tuple[bool, dict]:
    """Save (or point at) the checkpoint and export it; returns (trained, model record)."""
    if args.checkpoint != "none":
        checkpoint_path, trained = resolve_checkpoint(args.checkpoint).resolve(), True
    else:  # speed needs no training: an untrained network costs the same
        torch.manual_seed(0)
        model = pixelseg.create_model("lraspp", 2)
        checkpoint_path = atomic_save(checkpoint_payload(model, ["background", "person"], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                      workdir / "untrained.pt")
        trained = False
    checkpoint = load_checkpoint(checkpoint_path)
    classes = checkpoint["classes"]
    person = classes.index("person") if "person" in classes else 1
    settings = inference_settings(checkpoint, input_size=args.input_size, refine=args.refine)
    args.input_size = settings.get("input_size") or 0
    (workdir / "ours.json").write_text(json.dumps({"checkpoint": str(checkpoint_path), "person": person, "refine": settings.get("refine", "none")}))
    if not args.no_onnx:
        if args.onnx:
            shutil.copyfile(args.onnx, workdir / "model.onnx")
        else:
            from pixelseg.inference.onnx import export_onnx

            check = export_onnx(checkpoint, workdir / "model.onnx")
            print(f"exported the ONNX model: {check.summary()}", flush=True)
        if args.int8_onnx:  # an int8 graph made elsewhere (the bundled person-fast.onnx), run as it is
            shutil.copyfile(resolve_checkpoint(args.int8_onnx), workdir / "model.int8.onnx")
        elif args.int8:
            quantize_int8(workdir / "model.onnx", workdir / "model.int8.onnx", workdir / "astronaut.mp4", checkpoint, args.input_size)
    return trained, checkpoint["model"]


def quantize_int8(model: Path, out: Path, video: Path, checkpoint: dict, input_size: int, frames: int = 32) -> None:
    """Static int8 quantization (pixelseg.inference.quantize: QDQ, per-channel weights) calibrated on
    the network inputs of `frames` frames of `video`, as `pixelseg export --int8 --calibrate` does."""
    from pixelseg.inference.quantize import calibration_inputs, quantize_int8 as quantize

    quantize(model, out, calibration_inputs([video], checkpoint["mean"], checkpoint["std"], input_size, frames))
    print(f"int8 model: {out.stat().st_size / 1e6:.1f} MB (float {model.stat().st_size / 1e6:.1f} MB)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="person", help="a person model (.pt or a bundled name; default: the bundled person); none: an untrained lraspp, speed only")
    parser.add_argument("--onnx", default=None, help="its ONNX export (default: exported now into a temporary folder)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="human_seg in the folder format, for person IoU on its val split")
    parser.add_argument("--frames", type=int, default=300, help="frames in the test video (after 5 warm-up frames)")
    parser.add_argument("--input-size", type=int, default=None, help="longer side the network sees (ours; default: the checkpoint's, 0 = 640)")
    parser.add_argument("--size-multiple", type=int, default=None,
                        help="ours: the network input's sides rounded to a multiple of this (pixelseg's --size-multiple; e.g. 32)")
    parser.add_argument("--refine", choices=["none", "guided"], default=None, help="ours: refinement (default: the checkpoint's)")
    parser.add_argument("--int8", action="store_true", help="also the int8-quantized ONNX model")
    parser.add_argument("--int8-onnx", default=None, metavar="FILE",
                        help="with --int8: this int8 graph (a file or a bundled name, e.g. person-fast) instead of quantizing the checkpoint's export")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the video per pipeline, taken in turns; the best counts")
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--task", default="speed", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    workdir = Path(tempfile.mkdtemp(prefix="pixelseg-realtime-"))
    load_before = load_average()
    video = make_video(workdir / "astronaut.mp4", args.frames + 5)
    rng = np.random.default_rng(0)  # a fixed "virtual background"
    Image.fromarray(rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)).resize((WIDTH, HEIGHT)).save(video.with_suffix(".bg.png"))
    trained, model_record = prepare_ours(args, workdir)
    mp_version = mediapipe_version()
    if not mp_version:
        print("mediapipe not importable: reporting ours alone", flush=True)
    specs = pipelines(not args.no_onnx, bool(mp_version), args.input_size, args.int8)

    best: dict[str, dict] = {}
    for repeat in range(args.repeats):
        # Round-robin, best of the repeats: on a shared machine other processes only ever add time,
        # and taking turns spreads a burst of their load over all pipelines rather than one.
        for name, spec in specs.items():
            row = in_process(spec, "speed", args, workdir)
            print(json.dumps({"repeat": repeat, "name": name, **row}), flush=True)
            if name not in best or row["fps"] > best[name]["fps"]:
                best[name] = row

    data = Path(args.data)
    have_data = (data / "classes.txt").is_file() and "person" in read_classes(data)
    results = []
    scored: dict[str, float] = {}
    for name, spec in specs.items():
        row = {"name": name, **best[name]}
        ours = spec["kind"] != "mediapipe"
        if have_data and (trained or not ours):
            key = json.dumps({**spec, "threads": 2}) if spec["kind"] == "torch" else json.dumps(spec)  # thread count cannot change a mask
            if key not in scored:
                scored[key] = in_process(spec, "iou", args, workdir)["person_iou"]
            row["person_iou"] = scored[key]
        results.append(row)

    report = {
        "command": " ".join(["python", "bench/realtime.py", *(argv if argv is not None else sys.argv[1:])]),
        "model": model_record["name"], "checkpoint": args.checkpoint, "refine": json.loads((workdir / "ours.json").read_text())["refine"], "torch": torch.__version__, "cores": os.cpu_count(), "mediapipe": mp_version,
        "load_before": load_before, "load_after": load_average(), "trained": trained, "frames": args.frames, "repeats": args.repeats,
        "results": results,
    }
    print(markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def markdown(report: dict) -> str:
    lines = [
        "| pipeline (640×480, decode → segment → composite) | frames/s | decode ms | segment ms | composite ms | person IoU (human_seg val) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        iou = f"{row['person_iou']:.3f}" if "person_iou" in row else ("needs the trained person model" if row["name"].startswith("ours") else "—")
        lines.append(f"| {row['name']} | {row['fps']:.1f} | {row['decode_ms']:.1f} | {row['segment_ms']:.1f} | {row['composite_ms']:.1f} | {iou} |")
    lines.append("")
    lines.append(f"ours = {report['model']} ({report['checkpoint']}, refine {report['refine']}){'' if report['trained'] else ' (untrained: speed only)'}; {report['frames']} frames, best of {report['repeats']} passes taken in turns, "
                 f"each pass in a fresh process; torch {report['torch']} on {report['cores']} cores; "
                 f"mediapipe {report['mediapipe']}; load average (1/5/15 min) {report['load_before']} before, {report['load_after']} after.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

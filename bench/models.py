"""Speed of pixelseg's models on this machine, beside two peers measured in the same run.

    python bench/models.py            # everything (about 25 minutes on 2 cores)
    python bench/models.py --quick    # one round, fewer repetitions: a smoke test
    python bench/models.py --models unet,lraspp,smp_unet_resnet18,tv_lraspp_mobilenet_v3_large
    python bench/models.py --quick --models unet,smp_unet_resnet18 --profile   # and where each step's time goes

Per model: parameters, forward GFLOPs at 1×3×256×256 (FLOPs = 2 × multiply-adds, counted by
torch.utils.flop_counter), latency at 1×3×256² and 1×3×512², inference throughput at batch 8, and a
training step's throughput (forward, cross-entropy, backward, AdamW step) at 8×3×256², in fp32 and in
bf16 autocast with channels_last. The machine's ceiling is a 4096³ matmul in fp32 and in bf16; each
model's achieved GFLOP/s is given as a fraction of the ceiling of its precision.

Peers (installed for the benchmark only: `make bench-deps`): segmentation_models_pytorch's
Unet(resnet18) and torchvision's lraspp_mobilenet_v3_large, both without pretrained weights.

With --profile, each model's bf16 + channels_last training step is also run under torch.profiler
and its time split by the kind of operator (convolutions forward and backward, with their GFLOP/s;
batch norm; the loss; copies and casts; ...), so a low % can be traced to what is not arithmetic.

Like `pixelseg train` on a CPU, the run first makes malloc keep the memory a step frees
(pixelseg/runtime/allocator.py), for every model alike; --default-malloc measures without that.

Every figure is the best over 3 rounds through all the models (1 with --quick): on a shared machine
other processes only ever add time, so the best is the steadiest estimate of what a model costs, and
rounds spread each model's chances over the whole run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import pixelseg
from pixelseg.runtime.allocator import keep_freed_memory

NUM_CLASSES = 21  # PASCAL VOC's, the FCN paper's setting
# Precision settings: name -> (bf16 autocast, channels_last).
SETTINGS = {"fp32": (False, False), "fp32_cl": (False, True), "bf16_cl": (True, True)}


def peer_smp_unet() -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.Unet("resnet18", encoder_weights=None, classes=NUM_CLASSES)


def peer_tv_lraspp() -> nn.Module:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    tv = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=NUM_CLASSES)
    return _OutputOnly(tv)


class _OutputOnly(nn.Module):
    """torchvision's segmentation models return {"out": logits}; the benchmark wants the logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


# Each of ours beside its peer, so that both see the same moment of a shared machine.
MODELS = {
    "unet": lambda: pixelseg.create_model("unet", NUM_CLASSES),
    "smp_unet_resnet18": peer_smp_unet,
    "lraspp": lambda: pixelseg.create_model("lraspp", NUM_CLASSES),
    "tv_lraspp_mobilenet_v3_large": peer_tv_lraspp,
    "fcn32s": lambda: pixelseg.create_model("fcn32s", NUM_CLASSES),
    "fcn16s": lambda: pixelseg.create_model("fcn16s", NUM_CLASSES),
    "fcn8s": lambda: pixelseg.create_model("fcn8s", NUM_CLASSES),
    "segnet": lambda: pixelseg.create_model("segnet", NUM_CLASSES),
}


@dataclass
class Result:
    name: str
    params_m: float = 0.0
    gflops_256: float = 0.0                                       # forward, 1×3×256×256
    train_gflops_per_image: float = 0.0                           # forward + backward, 256×256 (3 × forward)
    latency_ms: dict = field(default_factory=dict)                # "256/fp32" -> ms
    infer_images_per_s: dict = field(default_factory=dict)        # "fp32" -> images/s at batch 8
    train_images_per_s: dict = field(default_factory=dict)        # "fp32" -> images/s, 8×3×256²


def best_time(fn, repeats: int, warmup: int = 1, budget_s: float = float("inf")) -> float:
    """Best of `repeats` timed calls after `warmup` untimed ones; stops early (after at least
    three) once `budget_s` seconds are spent, so slow models do not take all afternoon."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < repeats and (len(times) < 3 or sum(times) < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_ceiling(dtype: torch.dtype, repeats: int) -> float:
    """GFLOP/s of a 4096³ matrix product: what the cores can do at best in `dtype`."""
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    return 2 * 4096**3 / best_time(lambda: a @ b, repeats) / 1e9


def forward_gflops(model: nn.Module) -> float:
    """GFLOPs of one 1×3×256×256 forward."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.randn(1, 3, 256, 256))
    return counter.get_total_flops() / 1e9


def prepare(model: nn.Module, x: torch.Tensor, setting: str):
    bf16, channels_last = SETTINGS[setting]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        model = model.to(memory_format=torch.contiguous_format)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    return model, x, autocast


def inference_time(model: nn.Module, shape: tuple, setting: str, repeats: int, budget_s: float = float("inf")) -> float:
    model, x, autocast = prepare(model.eval(), torch.randn(shape), setting)

    def run():
        with torch.inference_mode(), autocast:
            model(x)

    return best_time(run, repeats, warmup=2, budget_s=budget_s)


def training_step(model: nn.Module, setting: str, batch: int = 8):
    """The step every training figure here times: forward, cross-entropy on fp32 logits, backward, AdamW,
    at batch×3×256×256 with random targets."""
    model, x, autocast = prepare(model.train(), torch.randn(batch, 3, 256, 256), setting)
    target = torch.randint(0, NUM_CLASSES, (batch, 256, 256))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def train_time(model: nn.Module, setting: str, repeats: int, batch: int = 8) -> float:
    seconds = best_time(training_step(model, setting, batch), repeats)
    model.zero_grad(set_to_none=True)  # the models stay loaded between rounds; their gradients need not
    return seconds


# The parts of a training step -> fragments of the operator names that belong to it (the first
# part with a matching fragment wins, so backward convolutions are not counted as forward ones).
STEP_PARTS = {
    "convolutions, backward": ("convolution_backward",),
    "convolutions, forward": ("convolution",),
    "batch norm": ("batch_norm",),
    "loss (log-softmax, NLL)": ("softmax", "nll_loss"),
    "copies and casts (layouts, dtypes)": ("copy",),
    "activations": ("threshold", "clamp", "relu", "hardswish", "hardsigmoid", "sigmoid"),
    "pooling, resizing, concatenation": ("pool", "upsample", "cat"),
    "fills (zeroed gradients)": ("fill",),
}
OTHER_PART = "everything else (optimizer, adds, ...)"


def step_part(operator: str) -> str:
    return next((part for part, fragments in STEP_PARTS.items() if any(f in operator for f in fragments)), OTHER_PART)


def step_profile(model: nn.Module, result: Result, batch: int = 8, steps: int = 3) -> list[tuple[str, float, float | None]]:
    """(part, ms per step, GFLOP/s or None) for the bf16 + channels_last training step, by operator
    self time under torch.profiler (which adds a little overhead of its own)."""
    from torch.profiler import ProfilerActivity, profile

    step = training_step(model, "bf16_cl", batch)
    step(), step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    model.zero_grad(set_to_none=True)
    parts: dict[str, float] = {}
    for event in prof.key_averages():
        part = step_part(event.key)
        parts[part] = parts.get(part, 0.0) + event.self_cpu_time_total / 1e3 / steps
    # FLOPs as the training figures count them (describe): the counted forward, the rest backward.
    flops = {"convolutions, forward": result.gflops_256 * batch,
             "convolutions, backward": (result.train_gflops_per_image - result.gflops_256) * batch}
    return [(part, ms, flops[part] / ms * 1e3 if part in flops else None) for part, ms in sorted(parts.items(), key=lambda kv: -kv[1])]


def profile_report(profiles: dict, ceiling: float) -> list[str]:
    lines = ["", "Where a bf16 + channels_last training step's time goes (torch.profiler, operator self time, "
             f"ms per 8×3×256² step; GFLOP/s of the convolutions against the {ceiling:.0f} GFLOP/s ceiling):"]
    for name, parts in profiles.items():
        total = sum(ms for _, ms, _ in parts)
        lines += ["", f"{name} (profiled step {total:.0f} ms)", "", "| part | ms | share | GFLOP/s (% of ceiling) |", "|---|---:|---:|---:|"]
        for part, ms, gflops in parts:
            rate = f"{gflops:.0f} ({gflops / ceiling:.0%})" if gflops is not None else ""
            lines.append(f"| {part} | {ms:.1f} | {ms / total:.0%} | {rate} |")
    return lines


def describe(name: str, model: nn.Module) -> Result:
    result = Result(name, params_m=sum(p.numel() for p in model.parameters()) / 1e6)
    result.gflops_256 = forward_gflops(model)
    # A backward pass costs about twice the forward. (torch's counter is not used for it: it
    # overcounts the backward of grouped convolutions by the number of groups.)
    result.train_gflops_per_image = 3 * result.gflops_256
    return result


def keep_best(table: dict, key: str, value: float, better=max) -> None:
    table[key] = better(table[key], value) if key in table else value


def measure_round(model: nn.Module, result: Result, quick: bool) -> None:
    """One round of every measurement of one model; the best over rounds is kept."""
    for size in (256, 512):
        for setting in SETTINGS:
            seconds = inference_time(model, (1, 3, size, size), setting, repeats=3 if quick else 10, budget_s=3.0)
            keep_best(result.latency_ms, f"{size}/{setting}", seconds * 1e3, better=min)
    # One timed step per round of the full run (3 rounds); --quick's single round times 3 steps, so
    # that its figure too is a best of 3 rather than whatever one step met.
    for setting in ("fp32", "bf16_cl"):
        keep_best(result.infer_images_per_s, setting, 8 / inference_time(model, (8, 3, 256, 256), setting, repeats=3 if quick else 1))
        keep_best(result.train_images_per_s, setting, 8 / train_time(model, setting, repeats=3 if quick else 1))


def fraction(gflops_per_image: float, images_per_s: float, ceiling: float) -> str:
    return f"{gflops_per_image * images_per_s / ceiling:.0%}"


def report(results: list[Result], ceilings: dict, command: str, load: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; {load}  ",
        f"Ceiling (4096³ matmul): fp32 {ceilings['fp32']:.0f} GFLOP/s, bf16 {ceilings['bf16']:.0f} GFLOP/s.",
        "",
        "Inference. Latency in ms at batch 1 (fp32; fp32 + channels_last; bf16 autocast + channels_last), "
        "throughput at batch 8 in images/s, % = achieved GFLOP/s over the ceiling of that precision.",
        "",
        "| model | params (M) | GFLOPs 256² | 256² fp32 | 256² fp32 CL | 256² bf16 CL | 512² fp32 | 512² fp32 CL | 512² bf16 CL "
        "| b8 fp32 img/s (%) | b8 bf16 CL img/s (%) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = [f"{r.latency_ms[f'{s}/{p}']:.1f}" for s in (256, 512) for p in SETTINGS]
        infer = [
            f"{r.infer_images_per_s[p]:.1f} ({fraction(r.gflops_256, r.infer_images_per_s[p], ceilings[p[:4]])})"
            for p in ("fp32", "bf16_cl")
        ]
        lines.append(f"| {r.name} | {r.params_m:.2f} | {r.gflops_256:.2f} | " + " | ".join(lat + infer) + " |")
    lines += [
        "",
        "Training step (forward, cross-entropy, backward, AdamW) at 8×3×256×256, images/s; "
        "% = achieved GFLOP/s (forward + backward, taken as 3 × forward FLOPs) over the ceiling.",
        "",
        "| model | train GFLOPs / image | fp32 img/s (%) | bf16 CL img/s (%) |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        cells = [
            f"{r.train_images_per_s[p]:.2f} ({fraction(r.train_gflops_per_image, r.train_images_per_s[p], ceilings[p[:4]])})"
            for p in ("fp32", "bf16_cl")
        ]
        lines.append(f"| {r.name} | {r.train_gflops_per_image:.1f} | " + " | ".join(cells) + " |")
    lines += ["", *ratios({r.name: r for r in results})]
    return "\n".join(lines)


def ratios(by_name: dict[str, Result]) -> list[str]:
    lines = ["Ratios against the peers (higher is better for pixelseg):", ""]
    smp, tv = by_name.get("smp_unet_resnet18"), by_name.get("tv_lraspp_mobilenet_v3_large")
    unet, fast = by_name.get("unet"), by_name.get("lraspp")
    if unet and smp:
        same = unet.train_images_per_s["bf16_cl"] / smp.train_images_per_s["bf16_cl"]
        default = unet.train_images_per_s["bf16_cl"] / smp.train_images_per_s["fp32"]
        fp32 = unet.train_images_per_s["fp32"] / smp.train_images_per_s["fp32"]
        lines += [
            f"- unet training step, bf16 + channels_last, vs smp Unet(resnet18) with the same flags: **{same:.2f}×** (aim ≥ 1.5×)",
            f"- unet training step, bf16 + channels_last, vs smp Unet(resnet18) in its fp32 default: **{default:.2f}×** (aim ≥ 4.5×)",
            f"- unet training step, both fp32: {fp32:.2f}×",
        ]
    if fast and tv:
        for size in (256, 512):
            cells = ", ".join(f"{p} {tv.latency_ms[f'{size}/{p}'] / fast.latency_ms[f'{size}/{p}']:.2f}×" for p in SETTINGS)
            lines.append(f"- lraspp per frame at {size}², vs torchvision lraspp_mobilenet_v3_large (its latency / ours): {cells} (aim > 1×)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, fewer repetitions (a smoke test; numbers are rough)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from: {', '.join(MODELS)}")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--profile", action="store_true", help="also split each model's bf16 training step by kind of operator")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (pixelseg train makes it keep freed memory: runtime/allocator.py)")
    args = parser.parse_args()
    names = args.models.split(",")
    unknown = set(names) - set(MODELS)
    if unknown:
        parser.error(f"unknown models: {', '.join(sorted(unknown))}")
    if not args.default_malloc:
        keep_freed_memory()  # as `pixelseg train` does on a CPU, for every model alike
    load_before = os.getloadavg()
    repeats = 1 if args.quick else 3
    # Measured before and after the models, the better kept: a busy moment lowers it.
    ceilings = {"fp32": matmul_ceiling(torch.float32, repeats), "bf16": matmul_ceiling(torch.bfloat16, repeats)}
    torch.manual_seed(0)
    models = {name: MODELS[name]() for name in names}
    results = {name: describe(name, model) for name, model in models.items()}
    # Rounds over all models rather than one model at a time: another process's busy minute then
    # spoils one round of every model, not every round of one, and the best round survives.
    rounds = 1 if args.quick else 3
    for round_ in range(rounds):
        for name, model in models.items():
            print(f"round {round_ + 1}/{rounds}: {name} ...", file=sys.stderr, flush=True)
            measure_round(model, results[name], args.quick)
    results = list(results.values())
    ceilings = {"fp32": max(ceilings["fp32"], matmul_ceiling(torch.float32, repeats)), "bf16": max(ceilings["bf16"], matmul_ceiling(torch.bfloat16, repeats))}
    load = "load average (1, 5, 15 min) before the run: {:.2f}, {:.2f}, {:.2f}; after: {:.2f}, {:.2f}, {:.2f}".format(*load_before, *os.getloadavg())
    command = "python bench/models.py" + " ".join(["", *sys.argv[1:]]).rstrip()
    print(report(results, ceilings, command, load))
    if args.profile:
        profiles = {r.name: step_profile(models[r.name], r) for r in results}
        print("\n".join(profile_report(profiles, ceilings["bf16"])))
    if args.json:
        args.json.write_text(json.dumps({"ceilings": ceilings, "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()

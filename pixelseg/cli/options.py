"""Flag parsing shared by several commands."""
from __future__ import annotations

import argparse
import ast

from pixelseg.runtime.precision import PRECISIONS
from pixelseg.runtime.sliding import check_scales


def parse_key_value(text: str) -> tuple[str, object]:
    """`key=value` with value read as a Python literal when it is one (3, 0.5, True, "x"), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def whole_number(text: str, minimum: int, meaning: str) -> int:
    """`text` as an int of at least `minimum`; `meaning` completes "expected ..." in the error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {meaning}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A count: a whole number, at least 1."""
    return whole_number(text, 1, "at least 1")


def size_or_zero(text: str) -> int:
    """A size in pixels, or 0 for "the image's own size"."""
    return whole_number(text, 0, "0 (the image's own size) or more pixels")


def group_list(text: str) -> list[str]:
    """--val-groups, --groups: names separated by commas (data/groups.py)."""
    groups = [g.strip() for g in text.split(",") if g.strip()]
    if not groups:
        raise argparse.ArgumentTypeError(f"expected group names separated by commas, got {text!r}")
    return groups


def probability(text: str) -> float:
    """A number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def add_threshold_argument(parser: argparse.ArgumentParser) -> None:
    """--threshold of the commands that write or score masks (predict, evaluate, serve): a binary
    model's cut on its sigmoid. Default None, which is 0.5 for a binary model; given for a
    multiclass model (whose mask is the argmax) it is refused when the model is loaded."""
    parser.add_argument("--threshold", type=probability, default=None, metavar="P",
                        help="binary models (one output map): a pixel is foreground where its probability exceeds P (default 0.5)")


def port(text: str) -> int:
    """A TCP port, 1..65535, or 0 for one the system picks (an out-of-range number must not quietly
    become a random port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535 (or 0 for a free one), got {value}")
    return value


def device_name(text: str) -> str:
    """--device: checked here, before any work, that the device exists on this machine."""
    from pixelseg.runtime.device import resolve_device
    from pixelseg.errors import UsageError

    try:
        resolve_device(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--device ")) from None  # argparse names the flag itself
    return text


def parse_scales(text: str) -> tuple[float, ...]:
    """`0.75,1,1.25`: multi-scale test-time factors."""
    try:
        return check_scales(float(part) for part in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err}" if "factors" in str(err) else f"expected factors like 0.75,1,1.25, got {text!r}") from None


def parse_size(text: str) -> tuple[int, int]:
    """`256` or `256x320` (H x W)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 256 or 256x320, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 256 or 256x320, got {text!r}")
    return parts[0], parts[1]


def add_runtime_arguments(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    """--device and --precision. defaults=False: a flag not given leaves no attribute (so a config
    file's value can stand; see cli/train.py)."""
    device_default = "auto" if defaults else argparse.SUPPRESS
    precision_default = "fp32" if defaults else argparse.SUPPRESS
    parser.add_argument("--device", type=device_name, default=device_default, help="cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)")
    parser.add_argument("--precision", choices=PRECISIONS, default=precision_default,
                        help="autocast precision: bf16 is fast on CPUs with AMX/AVX512-bf16; fp16 on CUDA only (default: fp32)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """--threads: the network's CPU threads in this process (`predict`, `apply`, `evaluate`). Under
    torchrun it is per process: N processes on one machine want about cores / N each."""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="CPU threads for the network, per process under torchrun (default: the runtime's choice; torchrun's: 1)")

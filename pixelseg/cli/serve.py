"""pixelseg serve"""
from __future__ import annotations

import ipaddress
from pathlib import Path

from pixelseg.bundled import describe
from pixelseg.cli.options import add_runtime_arguments, add_threshold_argument, port
from pixelseg.cli.predict import add_sizing_arguments
from pixelseg.errors import PixelsegError

HELP = "a local web page (and HTTP API) to try a model on photos: masks, overlays, background effects"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", default="person", help=f"a .pt checkpoint (train's best.pt) or a bundled model's name (default: person); {describe()}")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=port, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--max-mb", type=float, default=20.0, help="largest upload per request in MB (default: 20)")
    parser.add_argument("--max-megapixels", type=float, default=16.8, help="largest image in megapixels, W·H/10⁶ (default: 16.8, 4096×4096)")
    add_sizing_arguments(parser)
    add_threshold_argument(parser)
    add_runtime_arguments(parser)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checkpoint_info(path: Path) -> dict:
    """What GET /api/model shows about the checkpoint besides the model itself: file, epoch, score, training crop."""
    from pixelseg.engine.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    info: dict = {"checkpoint": path.name}
    if checkpoint.get("inference"):
        info["inference"] = checkpoint["inference"]
    if "epoch" in checkpoint:
        info["epoch"] = checkpoint["epoch"]
    metrics = checkpoint.get("metrics") or {}
    for key in ("val_miou", "miou"):
        if isinstance(metrics.get(key), (int, float)):
            info["val_miou"] = float(metrics[key])
            break
    crop = ((checkpoint.get("config") or {}).get("augment") or {}).get("crop_size")
    if crop:
        info["input"] = {"train_crop": list(crop)}
    return info


def run(args) -> int:
    from pixelseg.inference.predictor import Predictor
    from pixelseg.serve import LOOPBACK_NAMES, create_app, listen, url_of, uvicorn_server

    if args.max_mb <= 0 or args.max_megapixels <= 0:
        raise PixelsegError("--max-mb and --max-megapixels must be positive")
    path = Path(args.checkpoint)
    info = _checkpoint_info(path)
    predictor = Predictor.from_checkpoint(path, args.device, args.precision, window=args.window, flip=args.tta == "flip",
                                          max_size=args.max_size, input_size=args.input_size, refine=args.refine, threshold=args.threshold,
                                          scales=args.tta_scales, size_multiple=args.size_multiple)
    local = _is_loopback(args.host)
    app = create_app(predictor, max_bytes=int(args.max_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6), info=info,
                     allowed_hosts=list(LOOPBACK_NAMES) if local else None)
    sock = listen(args.host, args.port)  # bind first: a busy port is one clear line, before uvicorn starts
    url = url_of(sock)
    name = app.state.info["name"]
    print(f"pixelseg serve: {name} ({len(predictor.classes)} classes: {', '.join(predictor.classes)}) from {path}")
    if not local:
        print(f"pixelseg serve: listening on {args.host}: other machines on your network can use this page and API")
    print(f"pixelseg serve: open {url}/  (API: {url}/api/model, docs/serve.md; Ctrl+C to stop)", flush=True)
    try:
        uvicorn_server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn has shut down cleanly and passes Ctrl+C on: the way to stop a server
        print("pixelseg serve: stopped")
    finally:
        sock.close()
    return 0

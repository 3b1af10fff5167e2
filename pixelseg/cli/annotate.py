"""pixelseg annotate"""
from __future__ import annotations

from pixelseg.bundled import describe
from pixelseg.cli.options import add_runtime_arguments, port
from pixelseg.errors import PixelsegError

HELP = "label a folder of images in the browser (polygon, brush, fill, snap), optionally starting from a model's masks"


def add_arguments(parser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a folder of photos, or a folder-format data set (DIR/images/<split>/); masks go to DIR/masks/<split>/")
    parser.add_argument("--classes", default=None, help="class names, comma-separated, class 0 first (background,cat); "
                        "written to DIR/classes.txt (needed when it is missing; default: the file, else the model's classes)")
    parser.add_argument("--checkpoint", default=None,
                        help=f"a .pt checkpoint or a bundled model's name: each unlabelled image starts from its mask; {describe()}")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=port, default=8001, help="port (default: 8001; 0 picks a free one)")
    parser.add_argument("--max-megapixels", type=float, default=67.1, help="largest image in megapixels (default: 67.1, 8192×8192)")
    add_runtime_arguments(parser)


def run(args) -> int:
    from pathlib import Path

    from pixelseg.annotate import AnnotationStore, create_app
    from pixelseg.cli.serve import _is_loopback
    from pixelseg.serve import LOOPBACK_NAMES, listen, url_of, uvicorn_server

    if args.max_megapixels <= 0:
        raise PixelsegError("--max-megapixels must be positive")
    root = Path(args.dir)
    predictor = None
    if args.checkpoint:
        from pixelseg.inference.loading import load_predictor

        predictor = load_predictor(args.checkpoint, None, args.device, args.precision)
    classes = args.classes
    if classes is None and predictor is not None and not (root / "classes.txt").exists():
        classes = list(predictor.classes)
    store = AnnotationStore(root, classes, max_pixels=int(args.max_megapixels * 1e6))
    local = _is_loopback(args.host)
    app = create_app(store, predictor, allowed_hosts=list(LOOPBACK_NAMES) if local else None,
                     info={"model": str(args.checkpoint)} if args.checkpoint else None)
    sock = listen(args.host, args.port)
    url = url_of(sock)
    labelled, total = store.counts()
    if store.converted:
        print(f"pixelseg annotate: linked {store.converted} photos into {root / 'images'}/train and /val (the folder format); the originals stay")
    print(f"pixelseg annotate: {total} images in {root}, {labelled} labelled; classes: {', '.join(store.classes)}"
          + (f"; suggestions from {args.checkpoint}" if predictor is not None else ""))
    if not local:
        print(f"pixelseg annotate: listening on {args.host}: other machines on your network can see and change these masks")
    print(f"pixelseg annotate: open {url}/  (docs/annotate.md; Ctrl+C to stop)", flush=True)
    try:
        uvicorn_server(app, log_level="warning").run(sockets=[sock])
    except KeyboardInterrupt:
        print("pixelseg annotate: stopped")
    finally:
        sock.close()
    return 0

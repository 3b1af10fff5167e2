"""The web app behind `pixelseg serve`: a page to try a model on photos, and the HTTP API it uses.

    app = create_app(Predictor.from_checkpoint("best.pt"))
    uvicorn.run(app, host="127.0.0.1", port=8000)

API (errors are JSON `{"detail": "one clear line"}` with a 4xx status; the server keeps serving):

    GET  /api/model                     classes and their colours, model name, input size, limits
    POST /api/segment?format=png        multipart `image` -> index-mask PNG (palette: values are class ids)
                        format=json     -> {"width", "height", "classes", "counts", "mask": rows of ids, "inference_ms"}
                        format=overlay  -> the photo with the class colours blended over it (PNG)
    POST /api/apply                     multipart `image`, `effect` (replace | blur | retain-color | cutout) and
                                        the options of `pixelseg apply`, with its defaults -> PNG (RGBA for cutout):
                                        the same bytes `pixelseg apply` writes (apply/image.py runs both)
    WS   /api/live?effect=&background=  a webcam's JPEG/PNG frames in, composited JPEG frames out (serve/live.py)

Requests are checked before any decoding: a body over `max_bytes` gets 413 without being read, an
upload that is not an image 415, a corrupt one 400, one over `max_pixels` 413 (from its header,
before its pixels are decoded). Inference is serialised by a lock (one model, one forward pass at
a time) and runs in worker threads, so the event loop keeps answering; at most `max_jobs` requests
decode, run effects and encode at once, which bounds memory. The logits of the last few photos are
kept (by the upload's SHA-256), so the page's /api/apply after its /api/segment of the same photo
does not run the model again.
"""
from __future__ import annotations

import collections
import errno
import hashlib
import io
import json
import logging
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pixelseg import __version__
from pixelseg.apply.effects import EFFECTS, Effect, parse_color
from pixelseg.apply.image import DEFAULT_FEATHER, DEFAULT_SOLID, DEFAULT_STRENGTH, apply_probabilities, apply_target_probability, encode
from pixelseg.apply.matte import Matte, default_target
from pixelseg.data.folder import class_id_problem, image_to_rgb
from pixelseg.errors import PixelsegError
from pixelseg.serve.live import LIVE_EFFECTS, add_live_route
from pixelseg.viz.palette import PALETTE, mask_to_palette_image, overlay

log = logging.getLogger("pixelseg.serve")

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_BYTES = 20 * 2**20          # 20 MiB per request (the photo plus, for /api/apply, a background and a mask)
DEFAULT_MAX_PIXELS = 4096 * 4096        # 16.8 megapixels
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # what PIL may open here; never EPS/PDF and the like
CACHED_PHOTOS = 2                       # the network's output kept for this many recent photos ...
CACHED_BYTES = 256 * 2**20              # ... each at most this large (NetworkOutput.nbytes)
SEGMENT_FORMATS = ("png", "json", "overlay")
# The Host names a browser sends to a server on this machine (see create_app's allowed_hosts).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# The page's own files only: no CDN, no inline script, so it works offline and nothing else runs in it.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_page(app: FastAPI, static: Path, logger: logging.Logger) -> None:
    """What every pixelseg page server has (this one and `pixelseg annotate`'s): its page at `/`, and
    an unexpected error logged with its traceback and answered as a 500 that names it."""

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        logger.exception("error while answering %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(static / "index.html", headers=PAGE_HEADERS)


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.1f} MP"


class _BodyLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes, before the app parses any of it.

    A declared Content-Length over the limit is answered at once, unread; a body sent without one
    (chunked) is counted as it arrives and cut off at the limit.
    """

    class _TooLarge(BaseException):
        """A BaseException so that no `except Exception` on the way (FastAPI's body parsing has one) turns it into a 400."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def _message(self, size: str) -> bytes:
        detail = f"upload too large: {size}; this server takes at most {_megabytes(self.limit)} per request (pixelseg serve --max-mb)"
        return json.dumps({"detail": detail}).encode()

    async def _reject(self, send, size: str) -> None:
        body = self._message(size)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send, _megabytes(int(declared)))
        received, started = 0, False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except self._TooLarge:
            if not started:
                await self._reject(send, f"over {_megabytes(self.limit)}")


def _open(data: bytes, field: str, max_pixels: int, formats=FORMATS) -> Image.Image:
    """Open an upload lazily (header only) and check it: 400 empty, 415 not an image, 413 too many pixels."""
    if not data:
        raise HTTPException(400, f"{field}: the uploaded file is empty")
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        raise HTTPException(415, f"{field}: not an image this server reads (send {', '.join(formats)})") from None
    except Image.DecompressionBombError as err:  # over PIL's own limit: it refuses before we see the size
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = _megapixels(int(found.group(1))) if found else "more pixels than PIL opens"
        raise HTTPException(413, f"{field}: image is {size}; this server takes at most {_megapixels(max_pixels)} "
                                 "(pixelseg serve --max-megapixels)") from None
    except Exception as err:  # a header PIL recognises but cannot parse
        raise HTTPException(400, f"{field}: corrupt or truncated image ({err})") from None
    width, height = img.size
    if width < 1 or height < 1:
        raise HTTPException(400, f"{field}: image has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise HTTPException(413, f"{field}: image is {width}×{height} ({_megapixels(width * height)}); "
                                 f"this server takes at most {_megapixels(max_pixels)} (pixelseg serve --max-megapixels)")
    return img


def decode_image(data: bytes, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Uploaded bytes -> RGB uint8 (H, W, 3), or an HTTPException with a clear 4xx message."""
    img = _open(data, field, max_pixels)
    try:
        return image_to_rgb(img)
    except Exception as err:  # truncated or damaged pixel data: PIL raises a zoo of types
        raise HTTPException(400, f"{field}: corrupt or truncated {img.format} image ({err})") from None


def decode_mask(data: bytes, size: tuple[int, int], num_classes: int, max_pixels: int) -> np.ndarray:
    """An uploaded index mask (single-channel PNG of class ids, as /api/segment returns) for an image of `size` (H, W)."""
    img = _open(data, "mask", max_pixels, formats=("PNG",))
    if img.mode not in ("L", "P"):
        raise HTTPException(400, f"mask: mode {img.mode}; a mask is a single-channel PNG of class ids, as /api/segment?format=png returns")
    try:
        mask = np.array(img)
    except Exception as err:
        raise HTTPException(400, f"mask: corrupt or truncated PNG ({err})") from None
    if mask.shape != tuple(size):
        raise HTTPException(400, f"mask: {mask.shape[1]}×{mask.shape[0]} but the image is {size[1]}×{size[0]} (W×H)")
    problem = class_id_problem(mask, num_classes)
    if problem:
        raise HTTPException(400, f"mask: {problem}")
    return mask


def _png(array_or_image, **save) -> bytes:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3, **save)
    return buffer.getvalue()


def _mask_json(mask: np.ndarray, classes: list[str], inference_ms: float) -> bytes:
    """JSON written row by row: a mask of millions of pixels never becomes one Python list of lists."""
    counts = np.bincount(mask.ravel(), minlength=256)
    head = {
        "width": int(mask.shape[1]),
        "height": int(mask.shape[0]),
        "classes": classes,
        "counts": {name: int(counts[i]) for i, name in enumerate(classes)},
        "inference_ms": round(inference_ms, 2),
    }
    if counts[255]:
        head["counts"]["ignore"] = int(counts[255])
    digits = np.array([str(i) for i in range(256)], dtype=object)
    rows = ",".join("[" + ",".join(digits[row]) + "]" for row in mask)
    return (json.dumps(head)[:-1] + ', "mask": [' + rows + "]}").encode()


def _timing_headers(inference_ms: float | None, effect_ms: float | None = None, **extra) -> dict:
    headers, timing = {}, []
    if inference_ms is not None:
        headers["X-Inference-Ms"] = f"{inference_ms:.2f}"
        timing.append(f"inference;dur={inference_ms:.2f}")
    if effect_ms is not None:
        headers["X-Effect-Ms"] = f"{effect_ms:.2f}"
        timing.append(f"effect;dur={effect_ms:.2f}")
    if timing:
        headers["Server-Timing"] = ", ".join(timing)
    headers.update({k.replace("_", "-").title(): v for k, v in extra.items()})
    return headers


def model_info(predictor, extra: dict | None = None) -> dict:
    """What GET /api/model reports, from the predictor (and, from the CLI, its checkpoint)."""
    model = getattr(predictor, "model", None)
    model = getattr(model, "_orig_mod", model)
    config = getattr(model, "pixelseg_config", None) or {}
    classes = list(predictor.classes)
    info = {
        "name": config.get("name", type(model).__name__ if model is not None else "unknown"),
        "options": config.get("options", {}),
        # binary: one output map, a sigmoid; a pixel is class 1 where it exceeds the threshold
        "mode": getattr(predictor, "mode", "multiclass"),
        "threshold": getattr(predictor, "threshold", None),
        "classes": [{"id": i, "name": name, "color": "#%02x%02x%02x" % tuple(int(c) for c in PALETTE[i])} for i, name in enumerate(classes)],
        "input": {
            # pixelseg models are fully convolutional: by default each image runs at its own size
            # (size null) and the mask always comes back at the image's size. A predictor built with
            # input_size runs the network on the image resized so its longer side is that many pixels.
            "size": getattr(predictor, "input_size", None),
            "window": getattr(predictor, "window", None),
            "channels": config.get("in_channels", 3),
            "formats": list(FORMATS),
        },
        "device": str(getattr(predictor, "device", "cpu")),
        "precision": getattr(predictor, "precision", "fp32"),
        "effects": {name: {"label": label, "description": text} for name, (label, text) in EFFECTS.items()},
        "pixelseg": __version__,
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(info.get(key), dict):
            info[key] = {**info[key], **value}
        else:
            info[key] = value
    return info


def create_app(predictor, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS, *,
               max_jobs: int = 2, info: dict | None = None, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app for one model.

    Args:
        predictor: an `inference.Runtime` (normally `inference.Predictor`): `.classes`,
            `.network(images)`, finished by `.full_logits` (for `.class_ids`: argmax, or a binary
            model's threshold) or `.full_target_probability` (the effects' matte), and
            `.target_probability` for live frames.
        max_bytes: the largest request body (413 above it, unread).
        max_pixels: the most pixels (W·H) an uploaded image may have (413 above it, undecoded).
        max_jobs: requests decoding / applying effects / encoding at once (memory); the model
            itself runs one request at a time.
        info: extra fields for GET /api/model (the CLI adds the checkpoint's name, epoch, score).
        allowed_hosts: Host headers to answer (others get 400), e.g. LOOPBACK_NAMES for a server on
            127.0.0.1, so that a web page elsewhere cannot reach it by DNS rebinding. None: any.
    """
    app = FastAPI(title="pixelseg", version=__version__, docs_url=None, redoc_url=None,
                  description="Semantic segmentation of photos with a pixelseg model. See docs/serve.md.")
    app.add_middleware(_BodyLimit, limit=max_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))  # added last: runs first
    classes = list(predictor.classes)
    num_classes = len(classes)
    infer_lock = threading.Lock()
    jobs = threading.BoundedSemaphore(max(1, max_jobs))
    about = model_info(predictor, info)
    about["limits"] = {"max_bytes": max_bytes, "max_pixels": max_pixels}
    about["live"] = {"path": "/api/live", "effects": list(LIVE_EFFECTS)}
    app.state.predictor, app.state.info = predictor, about

    recent: collections.OrderedDict[str, tuple] = collections.OrderedDict()  # digest -> (network output, inference ms)

    def infer(data: bytes, image: np.ndarray):
        """(the network's output on the uploaded image (inference.predictor.NetworkOutput), inference
        ms, whether it came from the cache): /api/segment finishes it as logits, /api/apply as the
        target's probability, so a photo segmented and then applied runs the network once."""
        digest = hashlib.sha256(data).hexdigest()
        with infer_lock:  # one model, one forward pass at a time
            if digest in recent:
                recent.move_to_end(digest)
                return (*recent[digest], True)
            start = time.perf_counter()
            out = predictor.network(image[None])
            inference_ms = (time.perf_counter() - start) * 1000
            if out.nbytes <= CACHED_BYTES:
                recent[digest] = (out, inference_ms)
                while len(recent) > CACHED_PHOTOS:
                    recent.popitem(last=False)
            return out, inference_ms, False

    def targets(text: str) -> list[int]:
        """'' (as `pixelseg apply`: "person" if the model has it, else class 1), or names / ids separated by commas."""
        if not text.strip():
            return [default_target(classes)]
        ids = []
        for part in (p.strip() for p in text.split(",")):
            if part in classes:
                ids.append(classes.index(part))
            elif part.isdigit() and int(part) < num_classes:
                ids.append(int(part))
            else:
                raise HTTPException(400, f"target: {part!r} is not a class; choose from {', '.join(classes)} (names or ids 0..{num_classes - 1})")
        return ids

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
            message = error.get("msg", "invalid")
            if error.get("type") == "missing":
                message = "required" + (" (a file: curl -F 'image=@photo.jpg')" if where in ("image", "background", "mask") else "")
            parts.append(f"{where}: {message}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    add_page(app, STATIC, log)

    @app.get("/api/model", summary="The model: classes and their colours, name, input size, limits")
    async def get_model():
        return about

    @app.post("/api/segment", summary="Segment an image: index-mask PNG, JSON, or an overlay PNG")
    async def segment(image: UploadFile = File(..., description="the photo"),
                      format: str = Query("png", description="png (index mask), json, or overlay")):
        if format not in SEGMENT_FORMATS:
            raise HTTPException(400, f"format: {format!r}; choose one of {', '.join(SEGMENT_FORMATS)}")
        data = await image.read()

        def work():
            with jobs:
                picture = decode_image(data, "image", max_pixels)
                out, inference_ms, cached = infer(data, picture)
                mask = predictor.class_ids(predictor.full_logits(out)[0]).numpy()  # as Predictor.predict
                headers = _timing_headers(inference_ms, x_image_size=f"{mask.shape[1]}x{mask.shape[0]}", x_cache="hit" if cached else "miss")
                if format == "json":
                    return Response(_mask_json(mask, classes, inference_ms), media_type="application/json", headers=headers)
                if format == "overlay":
                    return Response(_png(overlay(picture, mask)), media_type="image/png", headers=headers)
                return Response(_png(mask_to_palette_image(mask)), media_type="image/png", headers=headers)

        return await run_in_threadpool(work)

    @app.post("/api/apply", summary="Apply an effect to the target classes: PNG out, as `pixelseg apply` writes it")
    async def apply(image: UploadFile = File(..., description="the photo"),
                    effect: str = Form(..., description=", ".join(EFFECTS)),
                    target: str = Form("", description="class names or ids, comma-separated (default: 'person' if the model has it, else class 1)"),
                    color: str = Form("#00b140", description="replace: the new background colour, #RRGGBB"),
                    background: UploadFile | None = File(None, description="replace: a background image (instead of color)"),
                    strength: float = Form(DEFAULT_STRENGTH, description="blur: Gaussian radius in pixels"),
                    feather_radius: float = Form(DEFAULT_FEATHER, alias="feather", description="soften the mask's edges by this many pixels"),
                    threshold: float | None = Form(None, description="hard mask: keep pixels whose target probability is >= this"),
                    solid: float = Form(DEFAULT_SOLID, description="probabilities within this of 1 or 0 become exactly 1 or 0"),
                    mask: UploadFile | None = File(None, description="an index mask (as /api/segment returns) instead of the model's probabilities")):
        if effect not in EFFECTS:
            raise HTTPException(400, f"effect: {effect!r}; choose one of {', '.join(EFFECTS)}")
        target_ids = targets(target)
        colour = None
        if effect == "replace" and background is None:
            try:
                colour = parse_color(color)
            except ValueError as err:
                raise HTTPException(400, f"color: {err}") from None
        if not 0 < strength <= 200:
            raise HTTPException(400, f"strength: {strength}; a blur radius in pixels, more than 0 and at most 200")
        if not 0 <= feather_radius <= 100:
            raise HTTPException(400, f"feather: {feather_radius}; an edge radius in pixels from 0 to 100")
        try:
            matte = Matte(target_ids[0] if len(target_ids) == 1 else target_ids, threshold=threshold, feather=feather_radius, solid=solid)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None
        data = await image.read()
        background_data = await background.read() if background is not None and effect == "replace" else None
        mask_data = await mask.read() if mask is not None else None

        def work():
            with jobs:
                picture = decode_image(data, "image", max_pixels)
                backdrop = decode_image(background_data, "background", max_pixels) if background_data is not None else colour
                fx = Effect(effect, background=backdrop, strength=strength)
                start = time.perf_counter()
                if mask_data is not None:  # a known mask: probability 1 for its class (none where it is 255)
                    ids = decode_mask(mask_data, picture.shape[:2], num_classes, max_pixels)
                    probabilities, inference_ms, source = (ids[None] == np.arange(num_classes)[:, None, None]).astype(np.float32), None, "upload"
                    body = encode(apply_probabilities(fx, matte, picture, probabilities))
                else:  # as `pixelseg apply` (apply.image.apply_image): the target's probability alone
                    out, inference_ms, cached = infer(data, picture)
                    start, source = time.perf_counter(), "model"
                    p = predictor.full_target_probability(out, target_ids)[0].numpy()  # (H, W)
                    body = encode(apply_target_probability(fx, matte, picture, p))
                extra = {"x_cache": "hit" if cached else "miss"} if mask_data is None else {}
                headers = _timing_headers(inference_ms, (time.perf_counter() - start) * 1000, x_mask_source=source,
                                          x_target_ids=",".join(map(str, target_ids)), **extra)
                return Response(body, media_type="image/png", headers=headers)

        return await run_in_threadpool(work)

    add_live_route(app, predictor, infer_lock, targets, _open, max_bytes, max_pixels)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def listen(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port), or a PixelsegError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, IndexError) as err:
        raise PixelsegError(f"cannot listen on {host}:{port}: {getattr(err, 'strerror', None) or err}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop (TIME_WAIT); never shares a live port
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        hint = " (another server is using it: pick another with --port)" if err.errno == errno.EADDRINUSE else ""
        raise PixelsegError(f"cannot listen on {host}:{port}: {err.strerror or err}{hint}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app, log_level: str = "info", limit_concurrency: int | None = 64):
    """A uvicorn.Server for `app`; run it on a socket from `listen` with `server.run(sockets=[sock])`.

    limit_concurrency: connections served at once; more get 503 at once instead of queueing
    uploads in memory.
    """
    import uvicorn

    # A WebSocket message (a /api/live frame) may be as large as an upload, no larger.
    max_bytes = getattr(getattr(app, "state", None), "info", {}).get("limits", {}).get("max_bytes", DEFAULT_MAX_BYTES)
    config = uvicorn.Config(app, log_level=log_level, limit_concurrency=limit_concurrency, timeout_graceful_shutdown=5, ws_max_size=max_bytes)
    return uvicorn.Server(config)

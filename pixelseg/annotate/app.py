"""The web app behind `pixelseg annotate`: a page to label a folder of images, and the HTTP API it uses.

    store = AnnotationStore("data/cats", classes="background,cat")
    app = create_app(store, predictor=None)             # a Predictor for model assist
    uvicorn_server(app).run(sockets=[listen("127.0.0.1", 8001)])

API (errors are JSON `{"detail": "one clear line"}`; ids are "<split>/<stem>", as GET /api/images lists them):

    GET  /api/images                      classes and colours, every image (id, split, labelled), counts, tools
    GET  /api/images/{id}                 its size, mask version ("" = none), and why it cannot be labelled, if so
    GET  /api/images/{id}/image           the photo (PNG when it needs EXIF orientation or is not JPEG/PNG/WebP)
    GET  /api/images/{id}/mask            the mask: palette PNG (format=png) or raw uint8 H·W bytes (format=raw);
                                          header X-Mask-Version. 404 when none yet, 422 when the one on disk is bad
    PUT  /api/images/{id}/mask?version=V  save: body a PNG of class ids, or raw H·W bytes (gzip allowed),
                                          Content-Type image/png or application/octet-stream. 409 when the mask
                                          is no longer version V. Returns {"version", "labelled", "images"}
    GET  /api/images/{id}/suggestion      the model's mask (with --checkpoint): what `pixelseg predict` writes
    GET  /api/images/{id}/superpixels     SLIC superpixels as an RGB PNG: segment = R + 256·G (for the snap tool)

Only the page's own files run in it (a Content-Security-Policy, as for `pixelseg serve`); on
127.0.0.1 only loopback Host names are answered, and a save must say its Content-Type, which a
web page elsewhere cannot send without a CORS pre-flight this server never grants.
"""
from __future__ import annotations

import gzip
import io
import logging
import threading
import zlib
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pixelseg import __version__
from pixelseg.annotate.store import AnnotationStore, BadMask, Entry, NotFound, StaleVersion, TooLarge
from pixelseg.errors import DataError
from pixelseg.serve.app import _BodyLimit, add_page
from pixelseg.viz.palette import PALETTE, mask_to_palette_image

log = logging.getLogger("pixelseg.annotate")
STATIC = Path(__file__).parent / "static"
SAVE_TYPES = ("image/png", "application/octet-stream")
SUPERPIXELS = 600  # SLIC segments per image
_PASS_THROUGH = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _raw(mask: np.ndarray, version: str | None = None) -> Response:
    headers = {"Content-Encoding": "gzip", "X-Mask-Width": str(mask.shape[1]), "X-Mask-Height": str(mask.shape[0])}
    if version is not None:
        headers["X-Mask-Version"] = version
    return Response(gzip.compress(np.ascontiguousarray(mask, dtype=np.uint8).tobytes(), compresslevel=1),
                    media_type="application/octet-stream", headers=headers)


def _decode_upload(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """A save's body -> uint8 (H, W): a PNG of class ids, or raw bytes (gzip-compressed or not)."""
    height, width = size
    if not body:
        raise HTTPException(400, "the mask is empty")
    if body.startswith(b"\x89PNG"):
        try:
            with Image.open(io.BytesIO(body), formats=("PNG",)) as img:
                if img.size != (width, height):
                    raise HTTPException(400, f"the mask is {img.size[0]}×{img.size[1]} but the image is {width}×{height} (W×H)")
                if img.mode not in ("L", "P"):
                    raise HTTPException(400, f"the mask PNG has mode {img.mode}; it must be single-channel class ids (L or P)")
                return np.array(img)
        except HTTPException:
            raise
        except Exception as err:
            raise HTTPException(400, f"the mask is a corrupt PNG ({err})") from None
    if body.startswith(b"\x1f\x8b"):
        decompressor = zlib.decompressobj(wbits=31)
        try:
            body = decompressor.decompress(body, height * width + 1)  # never more than one byte too many: no gzip bomb
        except zlib.error as err:
            raise HTTPException(400, f"the mask is corrupt gzip ({err})") from None
    if len(body) != height * width:
        raise HTTPException(400, f"the mask has {len(body)} bytes but the image has {width}×{height} = {width * height} pixels")
    return np.frombuffer(body, dtype=np.uint8).reshape(height, width)


def create_app(store: AnnotationStore, predictor=None, *, allowed_hosts: list[str] | None = None, max_bytes: int = 256 * 2**20,
               info: dict | None = None) -> FastAPI:
    """The app for one folder.

    Args:
        store: the folder (AnnotationStore).
        predictor: an inference Predictor for model assist (unlabelled images start from its mask), or None.
        allowed_hosts: Host headers to answer (LOOPBACK_NAMES for a server on 127.0.0.1), None: any.
        max_bytes: the largest request body (a save).
    """
    if predictor is not None and len(predictor.classes) != len(store.classes):
        raise DataError(f"the model has {len(predictor.classes)} classes ({', '.join(predictor.classes)}) but the folder has "
                        f"{len(store.classes)} ({', '.join(store.classes)}); its masks would not be this folder's")
    app = FastAPI(title="pixelseg annotate", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(_BodyLimit, limit=max_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    infer_lock, slic_lock = threading.Lock(), threading.Lock()
    superpixel_cache: dict[str, tuple[float, bytes]] = {}
    try:
        import skimage.segmentation  # noqa: F401
        snap = True
    except ImportError:
        snap = False
    app.state.store, app.state.predictor = store, predictor

    def entry_of(image_id: str) -> Entry:
        try:
            return store.entry(image_id)
        except NotFound as err:
            raise HTTPException(404, str(err)) from None

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        status = 413 if isinstance(exc, TooLarge) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(StaleVersion)
    async def _stale(request: Request, exc: StaleVersion):
        return JSONResponse({"detail": str(exc), "version": exc.current}, status_code=409)

    add_page(app, STATIC, log)

    def listing() -> dict:
        entries = store.scan()
        labelled = [store.labelled(e) for e in entries]
        return {
            "root": str(store.root),
            "classes": [{"id": i, "name": name, "color": "#%02x%02x%02x" % tuple(int(c) for c in PALETTE[i])}
                        for i, name in enumerate(store.classes)],
            "ignore": {"id": 255, "color": "#ffffff"},
            "images": [{"id": e.id, "split": e.split, "name": e.image.name, "labelled": done} for e, done in zip(entries, labelled)],
            "labelled": sum(labelled),
            "total": len(entries),
            "assist": predictor is not None,
            "snap": snap,
            **(info or {}),
        }

    @app.get("/api/images", summary="Classes, images and how many are labelled")
    async def images():
        return await run_in_threadpool(listing)

    @app.get("/api/images/{image_id:path}/image", summary="The photo")
    async def image(image_id: str):
        entry = entry_of(image_id)

        def work():
            with store.open_image(entry) as img:
                kind = _PASS_THROUGH.get(img.format)
                if kind and img.getexif().get(0x0112, 1) == 1 and img.mode in ("RGB", "L"):
                    return Response(entry.image.read_bytes(), media_type=kind)
            return Response(_png(Image.fromarray(store.load_image(entry))), media_type="image/png")

        return await run_in_threadpool(work)

    @app.get("/api/images/{image_id:path}/mask", summary="The mask: palette PNG or raw bytes")
    async def get_mask(image_id: str, format: str = Query("png", description="png or raw")):
        entry = entry_of(image_id)
        if format not in ("png", "raw"):
            raise HTTPException(400, f"format: {format!r}; choose png or raw")

        def work():
            mask, version = store.load(entry)
            if mask is None:
                return JSONResponse({"detail": f"{entry.id} has no mask yet", "version": ""}, status_code=404, headers={"X-Mask-Version": ""})
            if format == "raw":
                return _raw(mask, version)
            return Response(_png(mask_to_palette_image(mask)), media_type="image/png", headers={"X-Mask-Version": version})

        return await run_in_threadpool(work)

    @app.put("/api/images/{image_id:path}/mask", summary="Save the mask, if it is still `version`")
    async def put_mask(image_id: str, request: Request, version: str | None = Query(None, description='the version it was made from; "" for a first mask')):
        entry = entry_of(image_id)
        if version is None:
            raise HTTPException(428, 'version: required (the X-Mask-Version it was made from; "" for an image without a mask)')
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in SAVE_TYPES:
            raise HTTPException(415, f"Content-Type {kind or '(none)'}; send the mask as {' or '.join(SAVE_TYPES)}")
        body = await request.body()

        def work():
            mask = _decode_upload(body, store.size(entry))
            new = store.save(entry, mask, version)
            labelled, total = store.counts()
            return {"id": entry.id, "version": new, "labelled": labelled, "images": total}

        return await run_in_threadpool(work)

    @app.get("/api/images/{image_id:path}/suggestion", summary="The model's mask for the image (with --checkpoint)")
    async def suggestion(image_id: str, format: str = Query("png", description="png or raw")):
        entry = entry_of(image_id)
        if predictor is None:
            raise HTTPException(404, "no model: start pixelseg annotate with --checkpoint for suggestions")

        def work():
            picture = store.load_image(entry)
            with infer_lock:
                mask = predictor.predict(picture)
            if format == "raw":
                return _raw(mask)
            return Response(_png(mask_to_palette_image(mask)), media_type="image/png")

        return await run_in_threadpool(work)

    @app.get("/api/images/{image_id:path}/superpixels", summary="SLIC superpixels, segment = R + 256·G")
    async def superpixels(image_id: str):
        entry = entry_of(image_id)
        if not snap:
            raise HTTPException(501, "the snap tool needs scikit-image: pip install scikit-image")

        def work():
            stamp = entry.image.stat().st_mtime
            cached = superpixel_cache.get(entry.id)
            if cached and cached[0] == stamp:
                return Response(cached[1], media_type="image/png")
            from skimage.segmentation import slic

            picture = store.load_image(entry)
            with slic_lock:
                labels = slic(picture, n_segments=SUPERPIXELS, compactness=10, start_label=0)
            rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
            rgb[..., 0], rgb[..., 1] = labels & 255, (labels >> 8) & 255
            data = _png(Image.fromarray(rgb))
            if len(superpixel_cache) > 32:
                superpixel_cache.clear()
            superpixel_cache[entry.id] = (stamp, data)
            return Response(data, media_type="image/png")

        return await run_in_threadpool(work)

    @app.get("/api/images/{image_id:path}", summary="An image's size, mask version, and any problem with it")
    async def describe(image_id: str):
        entry = entry_of(image_id)

        def work():
            out = {"id": entry.id, "name": entry.image.name, "split": entry.split, "labelled": store.labelled(entry)}
            try:
                height, width = store.size(entry)
                out.update(width=width, height=height)
                _, out["version"] = store.load(entry)
            except DataError as err:
                out["error"] = str(err)
            return out

        return await run_in_threadpool(work)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

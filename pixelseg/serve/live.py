"""WebSocket /api/live: a webcam's frames in, composited frames out, as fast as the model runs.

    ws://127.0.0.1:8000/api/live?effect=replace&background=%2300b140&strength=15&target=person

Protocol (docs/serve.md):
    query       effect (replace | blur | retain-color; default replace), background (#RRGGBB, replace;
                default #00b140), strength (blur radius, px), target (class names or ids, commas)
    client ->   binary: one JPEG or PNG frame. text: JSON with any of the query's keys, to change the
                effect while the stream runs ({"effect": "blur", "strength": 9})
    server ->   binary: one JPEG frame of the same size, for each frame it ran.
                text: JSON {"error": "..."} for a frame or a message it cannot use (the stream goes
                on), {"settings": {...}} after a change, {"dropped": n} with the total whenever
                frames were dropped since the last reply
    frames arriving while the model is busy replace each other: only the newest waits, the rest are
    dropped (counted, never queued). A client that sends its next frame when the last reply came
    (as the page does) never loses one.

Every frame is checked before it is decoded: at most `max_bytes`, a JPEG or PNG, at most
`max_pixels` by its header (the same limits as /api/segment). The smoothing (motion, 0.5) runs
across the frames of one connection. A connection whose Origin is another site's is refused (a
WebSocket is not bound by CORS: without this any web page could use the server).
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from urllib.parse import urlsplit

import numpy as np
from fastapi import HTTPException, WebSocket, WebSocketDisconnect
from PIL import Image
from starlette.concurrency import run_in_threadpool

from pixelseg.apply.effects import Effect, parse_color
from pixelseg.apply.image import DEFAULT_FEATHER, DEFAULT_SMOOTHING, DEFAULT_SOLID, DEFAULT_STRENGTH
from pixelseg.apply.matte import Matte
from pixelseg.data.folder import image_to_rgb

log = logging.getLogger("pixelseg.serve")

LIVE_EFFECTS = ("replace", "blur", "retain-color")  # a cut-out's transparency has no place in a JPEG
LIVE_FORMATS = ("JPEG", "PNG")
DEFAULT_BACKGROUND = "#00b140"
JPEG_QUALITY = 85
POLICY_VIOLATION = 1008  # WebSocket close code


class LiveSettings:
    """The effect of one connection, from the query and later text messages; ValueError names the bad key."""

    KEYS = ("effect", "background", "strength", "target")

    def __init__(self, targets):
        self.targets = targets  # text -> class ids (serve.app's, raising HTTPException 400)
        self.values = {"effect": "replace", "background": DEFAULT_BACKGROUND, "strength": DEFAULT_STRENGTH, "target": ""}
        self.effect: Effect | None = None
        self.matte: Matte | None = None

    def update(self, changes: dict) -> dict:
        unknown = sorted(set(changes) - set(self.KEYS))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(self.KEYS)}")
        values = {**self.values, **{k: v for k, v in changes.items() if v is not None}}
        if values["effect"] not in LIVE_EFFECTS:
            raise ValueError(f"effect: {values['effect']!r}; live takes {', '.join(LIVE_EFFECTS)}")
        try:
            colour = parse_color(str(values["background"]))
        except ValueError as err:
            raise ValueError(f"background: {err}") from None
        try:
            strength = float(values["strength"])
        except (TypeError, ValueError):
            raise ValueError(f"strength: {values['strength']!r} is not a number") from None
        if not 0 < strength <= 200:
            raise ValueError(f"strength: {strength}; a blur radius in pixels, more than 0 and at most 200")
        try:
            ids = self.targets(str(values["target"]))
        except HTTPException as err:
            raise ValueError(err.detail) from None
        target = ids[0] if len(ids) == 1 else ids
        if self.matte is None or target != self.matte.target:  # a new target starts the smoothing afresh
            self.matte = Matte(target, feather=DEFAULT_FEATHER, solid=DEFAULT_SOLID, smoothing=DEFAULT_SMOOTHING)
        self.effect = Effect(values["effect"], background=colour, strength=strength)
        self.values = {**values, "strength": strength}
        return dict(self.values)


class _Newest:
    """The one frame waiting for the model: a newer one replaces it, and the replaced one is counted."""

    def __init__(self):
        self.frame: bytes | None = None
        self.dropped = 0
        self.ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        if self.frame is not None:
            self.dropped += 1
        self.frame = data
        self.ready.set()

    async def take(self) -> bytes:
        await self.ready.wait()
        self.ready.clear()
        data, self.frame = self.frame, None
        return data


def _check_origin(websocket: WebSocket) -> str | None:
    """None when the Origin (if any) is this server's own host; else why not."""
    origin = websocket.headers.get("origin")
    if not origin:
        return None  # not a browser: a script or a command-line client
    host = websocket.headers.get("host", "")
    if urlsplit(origin).netloc.lower() != host.lower():
        return f"origin {origin} is not this server ({host}); /api/live answers pages it served"
    return None


def add_live_route(app, predictor, infer_lock: threading.Lock, targets, open_image, max_bytes: int, max_pixels: int) -> None:
    """WebSocket /api/live on `app` (serve.app.create_app calls this with its predictor, its model
    lock, its target parser and its header-checking image opener)."""

    def decode(data: bytes) -> np.ndarray:
        """A frame's bytes -> RGB (H, W, 3), checked by header first; ValueError with the reason."""
        if len(data) > max_bytes:
            raise ValueError(f"frame: {len(data) / 2**20:.1f} MB; this server takes at most {max_bytes / 2**20:.1f} MB per frame")
        try:
            img = open_image(data, "frame", max_pixels, formats=LIVE_FORMATS)
        except HTTPException as err:
            raise ValueError(err.detail) from None
        try:
            return image_to_rgb(img)
        except Exception as err:  # truncated or damaged pixel data: PIL raises a zoo of types
            raise ValueError(f"frame: corrupt or truncated {img.format} image ({err})") from None

    def run(settings: LiveSettings, data: bytes) -> bytes:
        frame = decode(data)
        with infer_lock:  # one model, one forward pass at a time (shared with /api/segment)
            p = predictor.target_probability(frame, settings.matte.target)  # (H, W)
        out = settings.effect(frame, settings.matte.alpha(p, frame))
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue()

    @app.websocket("/api/live")
    async def live(websocket: WebSocket):
        problem = _check_origin(websocket)
        await websocket.accept()
        if problem:
            await websocket.send_text(json.dumps({"error": problem}))
            await websocket.close(POLICY_VIOLATION)
            return
        settings = LiveSettings(targets)
        try:
            settings.update({k: websocket.query_params.get(k) for k in LiveSettings.KEYS})
        except ValueError as err:
            await websocket.send_text(json.dumps({"error": str(err)}))
            await websocket.close(POLICY_VIOLATION)
            return
        newest, sending, closed = _Newest(), asyncio.Lock(), asyncio.Event()

        async def send(kind: str, payload) -> None:
            async with sending:
                await (websocket.send_bytes(payload) if kind == "bytes" else websocket.send_text(json.dumps(payload)))

        async def receive() -> None:
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    if message.get("bytes") is not None:
                        newest.put(message["bytes"])
                    elif message.get("text") is not None:
                        await send("text", _settings_reply(settings, message["text"]))
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                closed.set()
                newest.ready.set()  # wake the worker to see the end

        async def work() -> None:
            reported = 0
            while not closed.is_set():
                data = await newest.take()
                if data is None:
                    continue
                try:
                    reply = await run_in_threadpool(run, settings, data)
                except ValueError as err:
                    await send("text", {"error": str(err)})
                    continue
                except Exception as err:  # a bug: logged with its traceback, the stream goes on
                    log.exception("error while running a /api/live frame")
                    await send("text", {"error": f"internal error: {type(err).__name__}: {err}"})
                    continue
                if closed.is_set():
                    break
                try:
                    if newest.dropped != reported:
                        reported = newest.dropped
                        await send("text", {"dropped": reported})
                    await send("bytes", reply)
                except Exception:  # the client went away while its frame ran: nobody to answer
                    break

        receiver, worker = asyncio.create_task(receive()), asyncio.create_task(work())
        try:
            await receiver
            await asyncio.wait_for(worker, timeout=30)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away mid-reply: nothing to answer
        except asyncio.TimeoutError:
            worker.cancel()
        finally:
            for task in (receiver, worker):
                if not task.done():
                    task.cancel()


def _settings_reply(settings: LiveSettings, text: str) -> dict:
    """A text message: JSON settings -> {"settings": ...}; anything else -> {"error": ...}."""
    try:
        changes = json.loads(text)
    except ValueError:
        return {"error": f"text message {text[:40]!r} is not JSON settings; send frames as binary messages, settings as JSON like {{\"effect\": \"blur\"}}"}
    if not isinstance(changes, dict):
        return {"error": "a text message is a JSON object of settings, like {\"effect\": \"blur\"}"}
    try:
        return {"settings": settings.update(changes)}
    except ValueError as err:
        return {"error": str(err)}

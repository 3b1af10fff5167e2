"""WebSocket /api/live: frames composited as they come, settings switched mid-stream, and abuse
(1,000 frames, floods, a bomb's header, garbage, a client vanishing mid-frame) leaves it serving."""
from __future__ import annotations

import base64
import io
import json
import os
import socket
import tracemalloc

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from pixelseg.inference.predictor import Predictor
from pixelseg.serve import create_app
from tests.serve import running_server, scene, torch_threads, write_checkpoint
from tests.serve.test_api import png, png_header_only

COLOUR = (255, 200, 61)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    with torch_threads(1):
        # A decisive model (gain 40): alpha exactly 0 or 1 on every painted pixel, as a good person model's.
        yield Predictor.from_checkpoint(write_checkpoint(tmp_path_factory.mktemp("live") / "colour.pt", gain=40.0), "cpu")


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, max_pixels=400 * 400)) as client:
        yield client


def jpeg_reply(ws) -> np.ndarray:
    """The next binary reply as RGB, skipping {"dropped": n} notes."""
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            image = Image.open(io.BytesIO(message["bytes"]))
            assert image.format == "JPEG"
            return np.asarray(image.convert("RGB"))
        assert "dropped" in json.loads(message["text"]), message


def away_from_edges(mask: np.ndarray, margin: int = 4) -> np.ndarray:
    """Pixels whose whole (2·margin+1)² neighbourhood is inside `mask`."""
    inside = mask.copy()
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            inside &= np.roll(np.roll(mask, dy, 0), dx, 1)
    return inside


def test_a_frame_comes_back_composited_at_its_size(client):
    image, mask = scene(27, 120, 160)
    with client.websocket_connect("/api/live?background=%23ffc83d&target=person") as ws:
        ws.send_bytes(png(image))
        out = jpeg_reply(ws)
    assert out.shape == image.shape
    person, background = away_from_edges(mask == 1), away_from_edges(mask != 1)  # "thing" is background here
    assert np.abs(out[background].astype(int) - COLOUR).mean() < 3
    assert np.abs(out[person].astype(int) - image[person]).mean() < 6  # JPEG's loss only


def test_the_effect_switches_while_the_stream_runs(client):
    image, mask = scene(5, 96, 128)
    with client.websocket_connect("/api/live") as ws:
        ws.send_bytes(png(image))
        jpeg_reply(ws)
        ws.send_text(json.dumps({"effect": "retain-color"}))
        assert json.loads(ws.receive_text())["settings"]["effect"] == "retain-color"
        ws.send_bytes(png(image))
        out = jpeg_reply(ws).astype(int)
    grey = away_from_edges(mask != 1)
    assert np.abs(out[grey][:, 0] - out[grey][:, 2]).mean() < 4  # R = B outside the person: grey


@pytest.mark.parametrize("message, named", [
    ("hello", "not JSON settings"),
    ("[1, 2]", "a JSON object of settings"),
    ('{"effect": "cutout"}', "live takes replace, blur, retain-color"),
    ('{"colour": "#000000"}', "unknown setting 'colour'"),
    ('{"background": "#12"}', "background: colour '#12' is not #RRGGBB"),
    ('{"strength": "strong"}', "strength: 'strong' is not a number"),
    ('{"target": "dog"}', "'dog' is not a class"),
])
def test_a_bad_text_message_gets_an_error_and_the_stream_goes_on(client, message, named):
    image, _ = scene(3, 48, 64)
    with client.websocket_connect("/api/live") as ws:
        ws.send_text(message)
        assert named in json.loads(ws.receive_text())["error"]
        ws.send_bytes(png(image))
        assert jpeg_reply(ws).shape == image.shape


@pytest.mark.parametrize("data, named", [
    (b"garbage, not a picture", "not an image"),
    (b"", "empty"),
    (png(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))[:-200], "corrupt or truncated"),
    (base64.b64decode("R0lGODlhAQABAAAAACw="), "not an image"),  # a GIF: not a frame format here
])
def test_a_frame_that_cannot_be_decoded_gets_an_error_and_the_stream_goes_on(client, data, named):
    image, _ = scene(4, 48, 64)
    with client.websocket_connect("/api/live") as ws:
        ws.send_bytes(data)
        assert named in json.loads(ws.receive_text())["error"]
        ws.send_bytes(png(image))
        assert jpeg_reply(ws).shape == image.shape


def test_a_60000_by_60000_header_is_refused_without_decoding(client):
    tracemalloc.start()
    try:
        with client.websocket_connect("/api/live") as ws:
            ws.send_bytes(png_header_only(60000, 60000))
            error = json.loads(ws.receive_text())["error"]
            ws.send_bytes(png(scene(1, 48, 64)[0]))
            jpeg_reply(ws)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "frame: image is" in error and "at most 0.2 MP" in error
    assert peak < 50 * 2**20  # 60000² RGB would be 10 GB


def test_bad_query_and_foreign_pages_are_refused(client):
    for query, named in (("effect=sparkle", "effect: 'sparkle'"), ("background=green", "background"), ("strength=0", "strength: 0.0")):
        with client.websocket_connect(f"/api/live?{query}") as ws:
            assert named in json.loads(ws.receive_text())["error"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008
    with client.websocket_connect("/api/live", headers={"origin": "https://evil.example"}) as ws:
        assert "is not this server" in json.loads(ws.receive_text())["error"]


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_a_thousand_frames_and_no_memory_growth(client):
    frames = [png(scene(seed, 48, 64)[0]) for seed in range(4)]
    with client.websocket_connect("/api/live?effect=blur&strength=3") as ws:
        for index in range(100):  # warm-up: caches, allocator pools
            ws.send_bytes(frames[index % 4])
            jpeg_reply(ws)
        tracemalloc.start()
        before, rss_before = tracemalloc.take_snapshot(), rss_bytes()
        for index in range(1000):
            ws.send_bytes(frames[index % 4])
            assert jpeg_reply(ws).shape == (48, 64, 3)
        after, rss_after = tracemalloc.take_snapshot(), rss_bytes()
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 512 * 1024, [str(s) for s in after.compare_to(before, "lineno")[:5]]
    assert rss_after - rss_before < 20 * 2**20


def test_a_flood_of_frames_is_dropped_to_the_newest_never_queued(client):
    """30 frames sent without waiting: the newest always runs, the others may be dropped and counted.
    Frame i is 40 + i pixels wide, so each reply says which frame it was."""
    frames = [png(np.full((32, 40 + i, 3), 120, np.uint8)) for i in range(30)]
    with client.websocket_connect("/api/live") as ws:
        for data in frames:
            ws.send_bytes(data)
        answered, dropped = [], 0
        while not answered or answered[-1] != 40 + 29:
            message = ws.receive()
            if message.get("bytes") is not None:
                answered.append(Image.open(io.BytesIO(message["bytes"])).size[0])
            else:
                dropped = json.loads(message["text"])["dropped"]
    assert answered == sorted(answered) and len(answered) + dropped == 30
    assert dropped > 0


def handshake(url: str) -> socket.socket:
    """A raw WebSocket upgrade on the server at `url`; returns the socket after the 101."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /api/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in sock.recv(4096)
    return sock


@pytest.mark.slow
def test_clients_that_vanish_mid_frame_leave_the_server_serving(predictor):
    from websockets.sync.client import connect

    image, _ = scene(8, 96, 128)
    with running_server(create_app(predictor)) as url:
        # 1. Half a frame: a binary frame header that promises 10,000 bytes, 100 sent, then gone.
        sock = handshake(url)
        sock.sendall(bytes([0x82, 0xFE]) + (10_000).to_bytes(2, "big") + os.urandom(4) + os.urandom(100))
        sock.close()
        # 2. A whole frame, and gone before its answer.
        with connect(url.replace("http", "ws") + "/api/live") as ws:
            ws.send(png(image))
        # 3. Someone else is served as ever.
        with connect(url.replace("http", "ws") + "/api/live?effect=blur") as ws:
            for _ in range(3):
                ws.send(png(image))
                reply = ws.recv(timeout=30)
                assert isinstance(reply, bytes) and Image.open(io.BytesIO(reply)).size == (128, 96)

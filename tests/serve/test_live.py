"""WS /v1/live: frames in, faces with stable ids, smoothed probabilities and engagement out; drops, not queues."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
import websockets

from tests.serve.conftest import clip_frames, jpeg

ONE_FACE = "expressions_man.mp4"


@pytest.fixture(scope="module")
def frames(media):
    return [jpeg(f) for f in clip_frames(media / "videos" / ONE_FACE, 40)]


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/live"


async def _lockstep(url, frames):
    """Send a frame, wait for its answer, repeat (what the dashboard does with one frame in flight)."""
    out, rtts = [], []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        for data in frames:
            t = time.perf_counter()
            await ws.send(data)
            out.append(json.loads(await ws.recv()))
            rtts.append(time.perf_counter() - t)
    return out, rtts


def test_live_session_tracks_one_face_with_smoothed_probabilities(server, frames, artifacts):
    results, rtts = asyncio.run(_lockstep(ws_url(server), frames))
    assert [r["type"] for r in results] == ["result"] * len(frames)
    assert [r["frame"] for r in results] == list(range(1, len(frames) + 1))
    with_face = [r for r in results if r["faces"]]
    assert len(with_face) >= len(frames) - 3  # a new face is confirmed on its second frame
    ids = {f["track_id"] for r in with_face for f in r["faces"]}
    assert len(ids) == 1, ids  # one person, one stable id
    face = with_face[-1]["faces"][0]
    assert {"x1", "y2", "label", "p_happiness", "raw_p_happiness", "engagement", "state", "yaw", "top3"} <= set(face)
    assert 0 <= face["engagement"] <= 100 and face["state"] in ("engaged", "disengaged")
    assert face["top3"][0][0] == face["label"] and len(face["top3"]) == 3
    classes = [k[2:] for k in face if k.startswith("p_")]
    assert len(classes) == 8 and sum(face[f"p_{c}"] for c in classes) == pytest.approx(1, abs=1e-3)
    # smoothing: each smoothed value is the EMA of this frame's raw value and the last smoothed one, with the
    # weight of one frame (alpha 0.5) at 30 fps (every stream's reference rate) applied per second of stream time
    raw = np.array([r["faces"][0]["raw_p_happiness"] for r in with_face])
    smooth = np.array([r["faces"][0]["p_happiness"] for r in with_face])
    a = 1 - 0.5 ** (np.diff([r["time_s"] for r in with_face]) * 30.0)
    np.testing.assert_allclose(smooth[1:], a * raw[1:] + (1 - a) * smooth[:-1], atol=2e-3)
    assert not np.allclose(smooth, raw, atol=1e-3)  # and it really differs from the raw series
    ms = np.array(rtts[5:]) * 1000
    fps = 1000 / ms.mean()
    p50, p95 = np.percentile(ms, [50, 95])
    note = f"live lockstep 640x480, 1 face: {fps:.1f} frames/s, p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    (artifacts / "live_latency.txt").write_text(note + "\n")
    print(note)
    assert fps > 3  # the figure to quote comes from benchmarks/serve_load.py --live on an idle machine


async def _flood(url, frames):
    """Send every frame at once without reading: the server must drop, not queue, and answer the newest."""
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        for data in frames:
            await ws.send(data)
        answers = []
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
            answers.append(msg)
            if msg.get("frame") == len(frames):
                return answers


def test_frames_sent_faster_than_analysed_are_dropped_not_queued(server, frames):
    answers = asyncio.run(_flood(ws_url(server), frames))
    assert answers[-1]["frame"] == len(frames)  # the newest frame is always analysed
    assert len(answers) < len(frames) / 2
    assert answers[-1]["dropped"] == len(frames) - len(answers) > 0


async def _bad_then_good(url, good):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(b"this is not a jpeg")  # no handshake asked for: the first answer is this frame's
        bad = json.loads(await ws.recv())
        await ws.send(b"\xff\xd8\xff\xe0 truncated")
        corrupt = json.loads(await ws.recv())
        await ws.send(_png_bomb(30000, 30000))
        bomb = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "reset"}))
        await ws.send(good)
        ok = json.loads(await ws.recv())
        return bad, corrupt, bomb, ok


def _png_bomb(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )


def test_unreadable_frames_get_an_error_and_the_session_goes_on(server, frames):
    bad, corrupt, bomb, ok = asyncio.run(_bad_then_good(ws_url(server), frames[0]))
    assert bad["type"] == "error" and bad["status"] == 415 and bad["frame"] == 1
    assert corrupt["type"] == "error" and corrupt["status"] == 422
    assert bomb["type"] == "error" and bomb["status"] == 413 and "MP" in bomb["message"]
    assert ok["type"] == "result" and ok["frame"] == 4
    assert "Traceback" not in server.log_tail()


def test_pages_of_other_origins_cannot_open_the_websocket(server):
    async def attempt():
        async with websockets.connect(ws_url(server), origin="http://evil.example") as ws:
            await ws.recv()

    with pytest.raises((websockets.ConnectionClosed, websockets.InvalidStatus)):
        asyncio.run(attempt())

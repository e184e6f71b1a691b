"""``WS /v1/live``: camera frames in (binary JPEG/PNG/WebP messages), faces out (one JSON per analysed frame).

A reader task takes every message as it arrives and keeps only the newest frame; the analysis
loop takes that one when it is free. Frames arriving meanwhile replace it and are counted as
``dropped``: memory stays bounded whatever rate the client sends at.

Server → client messages: per analysed frame ``{"type": "result", "frame": <n-th frame received,
from 1>, "time_s", "width", "height", "faces": [face row + "top3"], "dropped", "latency_ms"}``, and
``{"type": "error", "frame", "status", "message"}`` for a frame that could not be read (the session goes
on), so every binary message is answered in order by a result, an error or a drop count. Client text
messages: ``{"type": "hello"}`` is answered ``{"type": "ready", "labels": [...]}`` (a handshake for
clients that want one); ``{"type": "reset"}`` starts new tracks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import cv2
import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from affectlens.serve.errors import ApiError
from affectlens.serve.keys import key_active
from affectlens.serve.live import LiveSession
from affectlens.serve.payload import face_payload
from affectlens.serve.security import authorized, key_id_authorizing, origin_allowed
from affectlens.serve.state import ServeState
from affectlens.serve.uploads import header_size, sniff

KEY_CHECK_S = 5.0  # how often a live session checks that the key it was opened with still stands
REVOKED = "the API key this session was opened with has been revoked"

router = APIRouter()


class LatestFrame:
    """A one-frame mailbox: ``put`` replaces an unread frame (counted as dropped)."""

    def __init__(self) -> None:
        self.item: tuple[int, bytes, float] | None = None
        self.received = 0
        self.dropped = 0
        self.closed = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        self.received += 1
        if self.item is not None:
            self.dropped += 1
        self.item = (self.received, data, time.monotonic())
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> tuple[int, bytes, float] | None:
        while self.item is None and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        item, self.item = self.item, None
        return None if self.closed and item is None else item


def decode_frame(data: bytes, max_side: int) -> np.ndarray:
    found = sniff(data[:64])
    if found is None or found[0] != "image":
        raise ApiError(415, "a live frame must be a JPEG, PNG or WebP image")
    w, h = header_size(data)
    if max(w, h) > max_side:
        raise ApiError(413, f"frame {w}x{h} larger than {max_side} px on a side")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ApiError(422, "the frame could not be decoded (corrupt image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@router.websocket("/v1/live")
async def live(ws: WebSocket) -> None:
    state: ServeState = ws.app.state.serve
    if not origin_allowed(ws):
        await ws.close(code=4403, reason="cross-origin WebSocket refused")
        return
    await ws.accept()
    if not authorized(ws):
        message = "missing or invalid API key: send X-API-Key, or open /v1/live?ticket=… from POST /v1/tickets"
        await ws.send_json({"type": "error", "status": 401, "message": message})
        await ws.close(code=4401, reason="missing or invalid API key")
        return
    pool = state.pool
    if pool is None:
        await ws.close(code=1011, reason="models not loaded")
        return
    key_id = key_id_authorizing(ws)
    box = LatestFrame()
    t0 = time.monotonic()
    session = LiveSession(pool.config, pool.labels)

    async def read() -> None:
        nonlocal session
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if msg.get("bytes") is not None:
                    box.put(msg["bytes"])
                elif msg.get("text"):
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        kind = json.loads(msg["text"]).get("type")
                        if kind == "reset":
                            session = LiveSession(pool.config, pool.labels)
                        elif kind == "hello":
                            await ws.send_json({"type": "ready", "labels": list(pool.labels)})
        finally:
            box.close()

    def analyse(data: bytes, t: float) -> dict:
        image = decode_frame(data, state.settings.live_max_side)
        with pool.borrow() as analyzer:
            result = session.push(analyzer, image, t)
        return {
            "width": result.width,
            "height": result.height,
            "faces": [face_payload(r, pool.labels) for r in result.rows()],
        }

    reader = asyncio.create_task(read())
    checked = time.monotonic()
    try:
        while (item := await box.get()) is not None:
            n, data, t_recv = item
            if key_id and time.monotonic() - checked > KEY_CHECK_S:  # a key revoked mid-session ends it
                checked = time.monotonic()
                if not await run_in_threadpool(key_active, state.db, key_id):
                    await ws.send_json({"type": "error", "status": 401, "message": REVOKED})
                    await ws.close(code=4401, reason="API key revoked")
                    return
            try:
                out = await run_in_threadpool(analyse, data, t_recv - t0)
            except ApiError as exc:
                await ws.send_json({"type": "error", "frame": n, "status": exc.status_code, "message": exc.detail})
                continue
            latency = (time.monotonic() - t_recv) * 1000
            msg = {"type": "result", "frame": n, "time_s": round(t_recv - t0, 4)} | out
            await ws.send_json(msg | {"dropped": box.dropped, "latency_ms": round(latency, 1)})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader

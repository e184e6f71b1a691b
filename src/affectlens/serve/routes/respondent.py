"""The remote respondent's page and its endpoints, opened by an invite link's token (no API key).

``GET /r/{token}`` serves the page (or a plain error page: 404 for an unknown or forged link, 410
for an expired, revoked or used one). Under it, and nowhere else, the token opens:
``GET /r/{token}/session`` (consent text, stimulus length), ``POST /r/{token}/consent``,
``GET /r/{token}/stimulus`` (the video, with range requests) and ``WS /r/{token}/live``.

The WebSocket carries binary frames: 16 bytes of header, two little-endian float64 (the
stimulus's playback time at capture, NaN before the start; the camera's own time), then a JPEG.
Before ``{"type": "start"}`` a frame gets the camera check; after it, the frame is analysed into
the respondent's recording and acknowledged (``{"type": "ack", "t", "faces"}``): the page sends
its next frame only then, so the server never holds a backlog. ``{"type": "progress", "t"}``
keeps the session alive (and saves the rows when a save is due); ``{"type": "end", "t"}``
settles the recording (``{"type": "saved", "state"}``); a page that closes after the start (close
code 1000 or 1001) leaves it ``partial``. A connection that drops without a close (a network blip) keeps the
session waiting for the server's reconnect grace (``--reconnect-grace``, 30 s): the page connects again to
``WS /r/{token}/live?resume=1`` and, answered ``{"type": "resumed", "t"}`` (the stimulus time watched so
far), goes on with the same tracks and recording; too late, it gets an error 410.
"""

from __future__ import annotations

import html
import json
import math
import mimetypes
import struct
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from affectlens.errors import AffectlensError, Gone, NotFound
from affectlens.serve.errors import ApiError
from affectlens.serve.respondent import (
    DEFAULT_CONSENT,
    TOO_LATE,
    Link,
    RespondentSession,
    camera_check,
    model_mismatch,
)
from affectlens.serve.routes.live import decode_frame
from affectlens.serve.routes.ui import STATIC
from affectlens.serve.security import origin_allowed
from affectlens.serve.state import ServeState
from affectlens.studies.invites import USED

router = APIRouter(include_in_schema=False)
HEADER = struct.Struct("<dd")


def _state(conn: Request | WebSocket) -> ServeState:
    return conn.app.state.serve


def _open(conn: Request | WebSocket, token: str, allow_started: bool = False) -> Link:
    try:
        return _state(conn).links.open(token, allow_started=allow_started)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except Gone as exc:
        raise ApiError(410, str(exc)) from None


def _shell(title: str, body: str, script: bool = False, status: int = 200) -> HTMLResponse:
    """A respondent-facing page: our stylesheet, no referrer, never cached (the URL holds the token)."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">'
        f'<title>{html.escape(title)}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/respondent.css"></head><body>{body}'
        + ('<script src="/static/respondent.js"></script>' if script else "")
        + "</body></html>"
    )
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


@lru_cache(maxsize=1)
def _page_body() -> str:
    return (STATIC / "respondent-body.html").read_text(encoding="utf-8")


def error_page(status: int, message: str) -> HTMLResponse:
    title = "Link not valid" if status == 404 else "Link no longer valid"
    body = f'<main class="card"><h1>{title}</h1><p data-testid="link-error">{html.escape(message)}</p></main>'
    return _shell(title, body, status=status)


@router.get("/r/{token}")
def page(token: str, request: Request) -> Response:
    try:
        link = _open(request, token)
    except ApiError as exc:
        return error_page(exc.status_code, str(exc.detail))
    link.book.opened(link.invite)
    return _shell("Study", _page_body(), script=True)


@router.get("/r/{token}/session")
def session_info(token: str, request: Request) -> dict:
    link = _open(request, token)
    return {
        "consent_text": link.study.consent_text or DEFAULT_CONSENT,
        "stimulus_duration_s": round(link.study.stimulus_duration_s, 3),
        "consented": link.invite.consent_at is not None,
        "models_loaded": _state(request).pool is not None,
        "reconnect_grace_s": _state(request).settings.reconnect_grace_s,
    }


@router.post("/r/{token}/consent", status_code=204)
def consent(token: str, request: Request) -> Response:
    link = _open(request, token)
    link.book.consented(link.invite)
    return Response(status_code=204)


@router.get("/r/{token}/stimulus")
def stimulus(token: str, request: Request) -> FileResponse:
    link = _open(request, token, allow_started=True)
    if link.invite.consent_at is None:
        raise ApiError(403, "agree to the study's terms first")
    path = Path(link.study.stimulus_path)
    if not path.is_file():
        raise ApiError(404, "the study's video is missing on the server")
    kind = mimetypes.guess_type(path.name)[0] or "video/mp4"
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-store"})


@router.websocket("/r/{token}/live")
async def live(ws: WebSocket, token: str) -> None:
    if not origin_allowed(ws):
        await ws.close(code=4403, reason="cross-origin WebSocket refused")
        return
    await ws.accept()
    resume = bool(ws.query_params.get("resume"))
    try:
        link = await run_in_threadpool(_open, ws, token, True)
    except ApiError as exc:
        # a page back too late finds its link used (its session was settled meanwhile): say why
        message = TOO_LATE if resume and exc.detail == USED else exc.detail
        await ws.send_json({"type": "error", "status": exc.status_code, "message": message})
        await ws.close(code=4000 + exc.status_code)
        return
    pool = _state(ws).pool
    if pool is None:
        await ws.close(code=1011, reason="models not loaded")
        return
    if (mismatch := model_mismatch(link.study, _state(ws).settings)) is not None:
        await ws.send_json({"type": "error", "status": 409, "message": mismatch})
        await ws.close(code=4409)
        return
    sessions = _state(ws).sessions
    session = None
    silent = True
    try:  # from the resume on: a connection that drops again at once must not leave its session unowned
        session = await _take_over(ws, link) if resume else RespondentSession(link, pool)
        if session is not None and resume:
            await ws.send_json({"type": "resumed", "t": round(session.watched_s, 3)})
        if session is not None:
            silent = await _serve(ws, session)
    finally:
        if session is not None and session.recording is not None and session.state is None:
            await run_in_threadpool(sessions.release, session, ws, wait=silent)
        elif session is not None and session.recording is not None:  # settled (or erased) while held here
            sessions.forget(session)


async def _take_over(ws: WebSocket, link: Link) -> RespondentSession | None:
    """Take the link's waiting (or still held) session over for this connection; None, said, when there is none."""
    try:
        session, dropped = _state(ws).sessions.resume(link.invite.token_sha256, ws)
    except Gone as exc:
        await ws.send_json({"type": "error", "status": 410, "message": str(exc)})
        await ws.close(code=4410)
        return None
    if dropped is not None:  # a connection the server still thought alive: the page has left it
        with suppress(Exception):
            await dropped.close(code=4001, reason="replaced by a reconnection")
    return session


async def _serve(ws: WebSocket, session: RespondentSession) -> bool:
    """Answer the page until it ends the session or goes; False when it went saying so (close 1000, 1001)."""
    max_side = _state(ws).settings.live_max_side
    sessions = _state(ws).sessions
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return msg.get("code") not in (1000, 1001)
        try:
            if msg.get("bytes") is not None:
                await ws.send_json(await run_in_threadpool(_frame, session, msg["bytes"], max_side))
            elif msg.get("text"):
                reply = await run_in_threadpool(_command, session, msg["text"])
                if reply is not None and reply["type"] == "started":
                    sessions.hold(session, ws)
                if reply is not None:
                    await ws.send_json(reply)
                    if reply["type"] == "saved":
                        sessions.forget(session)
                        await ws.close()
                        return False
        except ApiError as exc:
            await ws.send_json({"type": "error", "status": exc.status_code, "message": exc.detail})
        except (Gone, NotFound, AffectlensError) as exc:
            await ws.send_json({"type": "error", "status": 410 if isinstance(exc, Gone) else 422, "message": str(exc)})


def _frame(session: RespondentSession, data: bytes, max_side: int) -> dict:
    if len(data) < HEADER.size + 8:
        raise ApiError(400, "a frame is 16 bytes of times followed by a JPEG")
    stimulus_t, camera_t = HEADER.unpack_from(data)
    if session.link.invite.consent_at is None and session.link.refresh(allow_started=True).invite.consent_at is None:
        raise ApiError(403, "agree to the study's terms first: no frame is looked at before consent")
    image = decode_frame(data[HEADER.size :], max_side)
    if session.recording is None:
        return camera_check(session.pool, image)
    if not (math.isfinite(stimulus_t) and math.isfinite(camera_t)) or stimulus_t < 0:
        raise ApiError(400, "a frame after the start needs the stimulus's playback time")
    return session.analyse(image, stimulus_t, camera_t)


def _command(session: RespondentSession, text: str) -> dict | None:
    try:
        cmd = json.loads(text)
        kind = cmd.get("type")
        t = float(cmd.get("t", 0.0))
    except (ValueError, TypeError, AttributeError):
        raise ApiError(400, 'a command is JSON: {"type": "start" | "progress" | "end", "t"}') from None
    if not math.isfinite(t):
        raise ApiError(400, "t must be a number of seconds")
    if kind == "start":
        if session.recording is None:
            session.start()
        return {"type": "started", "stimulus_duration_s": session.link.study.stimulus_duration_s}
    if kind in ("progress", "end") and session.recording is None:
        raise ApiError(409, "the session has not started")
    if kind == "progress":
        session.progress(t)
        return None
    if kind == "end":
        return {"type": "saved", "state": session.finish(t)}
    raise ApiError(400, f"unknown command {kind!r}")

"""One JSON shape for every error: ``{"error": {"status", "code", "message"}}``; never a 500 for bad input."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from affectlens.errors import AffectlensError

log = logging.getLogger("affectlens.serve")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(StarletteHTTPException):
    """An HTTP error with a machine-readable ``code`` and a plain-words ``message``."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(status_code=status, detail=message)
        self.code = code or _CODES.get(status, "error")


async def send_error(send, status: int, message: str, code: str | None = None) -> None:
    """The same JSON error sent from pure ASGI middleware (before routing: no Response object there)."""
    body = json.dumps({"error": {"status": status, "code": code or _CODES.get(status, "error"), "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body.encode())).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


def error_response(status: int, message: str, code: str | None = None, **extra) -> JSONResponse:
    body = {"status": status, "code": code or _CODES.get(status, "error"), "message": message} | extra
    headers = {"WWW-Authenticate": "X-API-Key"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "code", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        return error_response(422, f"{first['where']}: {first['problem']}", "invalid", problems=problems)

    @app.exception_handler(AffectlensError)
    async def _affectlens(_: Request, exc: AffectlensError) -> JSONResponse:
        return error_response(422, str(exc), "invalid")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # a bug, not bad input
        log.exception("internal error", exc_info=exc)
        return error_response(500, "internal error (see the server log)", "internal")

"""The FastAPI app: database, job queue and analyzers on start-up; routes; middleware."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from affectlens import __version__
from affectlens.serve import errors
from affectlens.serve.db import open_database
from affectlens.serve.inference import AnalyzerPool
from affectlens.serve.jobs import JobQueue
from affectlens.serve.keys import verify_key
from affectlens.serve.limits import BodyLimit
from affectlens.serve.respondent import Links, Sessions
from affectlens.serve.routes import analyze, jobs, live, respondent, studies, tickets, ui
from affectlens.serve.security import NoAuthGuard, key_from_headers, scope_headers
from affectlens.serve.settings import ServeSettings
from affectlens.serve.state import ServeState

log = logging.getLogger("affectlens.serve")

CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
]


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


class StripQuery(logging.Filter):
    """Log lines show request paths without their query strings (tickets, filters) or respondents' link
    tokens: secrets in URLs stay out of logs.

    uvicorn logs HTTP requests on ``uvicorn.access`` and WebSocket connections on ``uvicorn.error``,
    each with the path as one argument of the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_shown_path(a) if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return True


def _shown_path(path: str) -> str:
    """A path as logged: no query string, and a respondent link's token replaced by ``…``."""
    path = path.split("?", 1)[0]
    if path.startswith("/r/"):
        rest = path[3:].split("/", 1)
        path = "/r/…" + (f"/{rest[1]}" if len(rest) > 1 else "")
    return path


def _header_key_ok(state: ServeState):
    """For the body limit, before routing: does the request carry a valid key in its headers?"""

    def check(scope) -> bool:
        if not state.settings.auth:
            return True
        return verify_key(state.db, key_from_headers(scope_headers(scope)))

    return check


def _analyzer_factory(settings: ServeSettings, keep_images: bool, batch_frames: int, threads: int | None = None):
    def make():
        from affectlens.pipeline import Analyzer

        return Analyzer(
            keep_images=keep_images,
            batch_frames=batch_frames,
            threads=settings.threads or threads,
            model=settings.model,
        )

    return make


def create_app(settings: ServeSettings) -> FastAPI:
    settings.validate()
    db = open_database(settings.database_url)
    queue = JobQueue(
        db,
        settings.data_dir / "jobs",
        _analyzer_factory(settings, keep_images=True, batch_frames=8),
        workers=settings.workers,
        max_queued=settings.max_queued,
        max_attempts=settings.max_attempts,
    )
    state = ServeState(
        settings=settings,
        db=db,
        jobs=queue,
        links=Links(settings.db_url),
        sessions=Sessions(settings.reconnect_grace_s),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        for name in ("uvicorn.access", "uvicorn.error"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, StripQuery) for f in logger.filters):
                logger.addFilter(StripQuery())
        if settings.load_models:
            # one frame at a time: one ONNX Runtime thread per analyzer and several analyzers beat one analyzer
            # on every core (whose idle threads spin: 78 vs 23 ms of CPU per frame, benchmarks/remote_respondents.py)
            state.pool = AnalyzerPool(settings.inference_workers, _analyzer_factory(settings, False, 1, threads=1))
        queue.recover()
        queue.start()
        try:
            yield
        finally:
            queue.stop()
            state.sessions.close()

    app = FastAPI(
        title="affectlens",
        version=__version__,
        summary="Facial expression and engagement analysis over HTTP and WebSocket",
        description=(
            "Send an API key in the `X-API-Key` header (from `affectlens keys create`) unless the server "
            'runs with `--no-auth` on loopback. Errors are JSON: `{"error": {"status", "code", "message"}}`. '
            "The live WebSocket `/v1/live` takes binary JPEG frames and answers each analysed one with JSON."
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by routes.ui (FastAPI's pages load Swagger UI from a CDN)
        redoc_url=None,
    )
    app.state.serve = state
    errors.install(app)
    routers = (analyze.router, jobs.router, studies.router, live.router, tickets.router, respondent.router, ui.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=ui.STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, authorized=_header_key_ok(state))
    if not settings.auth:
        app.add_middleware(NoAuthGuard, settings=settings)
    app.add_middleware(SecurityHeaders)
    return app

"""The dashboard (static files shipped in the package), Plotly's bundled script, and a health check."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from affectlens import __version__

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
def docs() -> FileResponse:
    """The API reference, rendered from /openapi.json in the browser by our own script (works offline)."""
    return FileResponse(STATIC / "docs.html", media_type="text/html")


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> Response:
    return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/v1/health", tags=["service"], summary="Is the service up; does it need a key")
def health(request: Request) -> dict:
    s = request.app.state.serve
    return {
        "status": "ok",
        "version": __version__,
        "auth": s.settings.auth,
        "models_loaded": s.pool is not None,
        "labels": list(s.pool.labels) if s.pool is not None else [],
    }

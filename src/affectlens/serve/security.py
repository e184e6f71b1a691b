"""Who may call: an API key in the ``X-API-Key`` header (or ``Authorization: Bearer``), unless the server
runs with ``--no-auth`` on loopback. The key is never accepted in a URL: links and WebSockets a browser
cannot add headers to carry a short-lived ``?ticket=`` scoped to their one path (:mod:`.tickets`).
WebSockets also refuse pages of other origins (cross-site WebSocket hijacking)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Security, WebSocket
from fastapi.security import APIKeyHeader

from affectlens.serve.errors import ApiError
from affectlens.serve.keys import HEADER, verify_key

api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="a key from `affectlens keys create` (not needed with --no-auth)"
)


def presented_key(conn: Request | WebSocket, header_value: str | None = None) -> str | None:
    key = header_value or conn.headers.get(HEADER)
    auth = conn.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


def authorized(conn: Request | WebSocket, header_value: str | None = None) -> bool:
    state = conn.app.state.serve
    if not state.settings.auth:
        return True
    read_only = isinstance(conn, WebSocket) or conn.method in ("GET", "HEAD")
    if read_only and state.tickets.valid(conn.query_params.get("ticket"), conn.url.path):
        return True
    return verify_key(state.db, presented_key(conn, header_value))


def require_key(request: Request, key: str | None = Security(api_key_header)) -> None:
    """Dependency of every /v1 route."""
    if not authorized(request, key):
        if request.query_params.get("ticket"):
            raise ApiError(401, "expired or invalid ticket: ask POST /v1/tickets for a new one")
        missing = presented_key(request, key) is None
        raise ApiError(401, f"{'missing' if missing else 'invalid'} API key: send it in the {HEADER} header")


def origin_allowed(ws: WebSocket) -> bool:
    """Browsers send Origin on WebSockets: only the dashboard's own origin (or --cors-origin ones) may connect."""
    origin = ws.headers.get("origin")
    if not origin:
        return True  # not a browser
    settings = ws.app.state.serve.settings
    if origin in settings.cors_origins:
        return True
    netloc = urlsplit(origin).netloc.lower()
    public = urlsplit(settings.public_url).netloc.lower() if settings.public_url else None
    return netloc == ws.headers.get("host", "").lower() or netloc == public  # behind a proxy: the public URL

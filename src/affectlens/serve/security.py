"""Who may call: an API key in the ``X-API-Key`` header (or ``Authorization: Bearer``), unless the server
runs with ``--no-auth`` on loopback. The key is never accepted in a URL: links and WebSockets a browser
cannot add headers to carry a short-lived ``?ticket=`` scoped to their one path (:mod:`.tickets`).
WebSockets also refuse pages of other origins (cross-site WebSocket hijacking)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Security, WebSocket
from fastapi.security import APIKeyHeader

from affectlens.serve.errors import ApiError, send_error
from affectlens.serve.keys import HEADER, key_active, key_id_of, verify_key
from affectlens.serve.settings import is_loopback

api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="a key from `affectlens keys create` (not needed with --no-auth)"
)


def scope_headers(scope) -> dict[str, str]:
    """An ASGI scope's headers by lower-case name (middleware, before routing)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}


def key_from_headers(headers) -> str | None:
    """The API key a request presents: ``X-API-Key``, else ``Authorization: Bearer`` (any case of the scheme).
    ``headers``: Starlette's (case-insensitive) or :func:`scope_headers`'s."""
    key = headers.get(HEADER.lower())
    auth = headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


def presented_key(conn: Request | WebSocket, header_value: str | None = None) -> str | None:
    return header_value or key_from_headers(conn.headers)


def authorized(conn: Request | WebSocket, header_value: str | None = None) -> bool:
    state = conn.app.state.serve
    if not state.settings.auth:
        return True
    read_only = isinstance(conn, WebSocket) or conn.method in ("GET", "HEAD")
    if read_only:
        key_id = state.tickets.key_of(conn.query_params.get("ticket"), conn.url.path)
        if key_id is not None and key_active(state.db, key_id):
            return True
    return verify_key(state.db, presented_key(conn, header_value))


def key_id_authorizing(conn: Request | WebSocket) -> str | None:
    """The id of the key a connection was let in with (its ticket's or its header's), None with auth off: a long
    connection checks it again, so that revoking a key ends the sessions opened with it."""
    state = conn.app.state.serve
    if not state.settings.auth:
        return None
    return state.tickets.key_of(conn.query_params.get("ticket"), conn.url.path) or key_id_of(presented_key(conn))


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


class NoAuthGuard:
    """With ``--no-auth`` (loopback only) nothing but the machine's own pages may drive the server (pure ASGI).

    Without keys, two browser attacks remain: DNS rebinding (a site's name resolved to 127.0.0.1, so its
    pages read the API as "same origin": their ``Host`` names that site) and cross-site requests (any page
    can POST a form to 127.0.0.1). So requests must name a loopback host (or ``--public-url``'s), and a
    request that changes something must come from this origin (or a ``--cors-origin``) when a browser says
    where it comes from.
    """

    SAFE = ("GET", "HEAD", "OPTIONS")

    def __init__(self, app, settings):
        self.app = app
        self.cors = {o.lower() for o in settings.cors_origins}
        self.public = urlsplit(settings.public_url).hostname if settings.public_url else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope)
        host = headers.get("host", "")
        why = self._refused(headers, host, scope.get("method", "GET"))
        if why is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": why[:120]})
        else:
            await send_error(send, 403, why)

    def _refused(self, headers: dict, host: str, method: str) -> str | None:
        if not self._local(host):
            return f"host {host!r} is not this machine: --no-auth serves loopback names only"
        origin = headers.get("origin")
        foreign = origin and origin.lower() not in self.cors and urlsplit(origin).netloc.lower() != host.lower()
        if foreign and method not in self.SAFE:
            return f"a page of {origin} may not change anything here (--no-auth)"
        return None

    def _local(self, host: str) -> bool:
        name = urlsplit(f"//{host}").hostname or ""
        return name == self.public or is_loopback(name)

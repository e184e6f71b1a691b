"""Signed, short-lived tickets: how a browser opens a link or a WebSocket without the API key in a URL.

A page that holds the key asks ``POST /v1/tickets`` (key in the header) for a ticket to one path
(``/v1/live``, ``/v1/jobs/ID/annotated``, ``/v1/studies/NAME/report``…); the ticket is an expiry time
and an HMAC of that path and time under a secret that lives only in the server's memory. It opens
exactly that path until it expires (default 10 minutes) and nothing else, so a URL that lands in a
log, the browser's history or a shared report link gives no lasting access and never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

DEFAULT_TTL_S = 600
MAX_TTL_S = 24 * 3600


class Tickets:
    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, path: str, expires: int, key_id: str) -> str:
        msg = f"{path}\n{expires}\n{key_id}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:40]

    def issue(
        self, path: str, ttl_s: int = DEFAULT_TTL_S, now: float | None = None, key_id: str = ""
    ) -> tuple[str, int]:
        """A ticket for ``path`` and its expiry (Unix seconds), on behalf of API key ``key_id`` (revoking the
        key ends its tickets too)."""
        expires = int((now or time.time()) + max(1, min(ttl_s, MAX_TTL_S)))
        return f"{expires}.{key_id}.{self._mac(path, expires, key_id)}", expires

    def key_of(self, ticket: str | None, path: str, now: float | None = None) -> str | None:
        """The id of the key a valid, unexpired ticket for ``path`` was issued under; None otherwise."""
        if not ticket or ticket.count(".") != 2:
            return None
        expires_s, key_id, mac = ticket.split(".")
        if not (expires_s.isascii() and expires_s.isdigit() and mac.isascii() and key_id.isascii()):
            return None  # ("²".isdigit() is True)
        if int(expires_s) < (now or time.time()):
            return None
        return key_id if hmac.compare_digest(mac, self._mac(path, int(expires_s), key_id)) else None

    def valid(self, ticket: str | None, path: str, now: float | None = None) -> bool:
        return self.key_of(ticket, path, now) is not None

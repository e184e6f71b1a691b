"""A request-body size limit enforced before any upload is parsed or spooled to disk (pure ASGI)."""

from __future__ import annotations

from affectlens.serve.errors import ApiError, send_error

DRAIN_MAX = 32 << 20  # read (and drop) up to this much of a refused body so the client sees the 413
CHECK_KEY_OVER = 64 << 10  # bodies larger than this (or of unknown length) to /v1 wait for a valid key


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 (declared length or counted while streaming).

    ``limit`` is what the client is told (``--max-upload-mb``); ``slack`` more bytes are allowed for the
    multipart framing around the file. A caller without a valid key is answered 401 before any of an
    oversized body is read, and before any large body to the API is parsed or spooled to disk.
    """

    def __init__(self, app, limit: int, slack: int = 1 << 20, authorized=None):
        self.app = app
        self.limit = limit
        self.slack = slack
        self.authorized = authorized or (lambda scope: True)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = None
        if length is not None and length > self.limit + self.slack:
            if not self.authorized(scope):
                await send_error(send, 401, "missing or invalid API key: send it in the X-API-Key header")
                return
            await self._drain(receive, min(length, DRAIN_MAX))
            await send_error(send, 413, self._message())
            return
        if self._large_upload(scope, length) and not self.authorized(scope):
            await self._drain(receive, min(length or DRAIN_MAX, DRAIN_MAX))  # read and dropped, never stored
            await send_error(send, 401, "missing or invalid API key: send it in the X-API-Key header")
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit + self.slack:
                    raise ApiError(413, self._message(), "too_large")
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _large_upload(scope, length: int | None) -> bool:
        if scope.get("method") not in ("POST", "PUT", "PATCH") or not scope.get("path", "").startswith("/v1/"):
            return False
        return length is None or length > CHECK_KEY_OVER

    def _message(self) -> str:
        return f"request body larger than the limit of {self.limit / 1024 / 1024:g} MB"

    @staticmethod
    async def _drain(receive, budget: int) -> None:
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body"):
                return

"""ASGI middleware: the request body size limit."""

from __future__ import annotations

from typing import Any

import orjson

from .exceptions import PayloadTooLargeError

__all__ = ["BodySizeLimitMiddleware"]


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than *max_bytes* with HTTP 413.

    A declared ``Content-Length`` over the limit is refused before reading; a streamed
    body is counted as it arrives and the read fails with `PayloadTooLargeError`, which
    the application's error handler turns into the same 413 response.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than the limit of {self.max_bytes} bytes"
            " (VIGIL_MAX_REQUEST_BYTES).",
            field="body",
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Any) -> None:
        error = self._error()
        body = orjson.dumps({"detail": error.to_dict()})
        await send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

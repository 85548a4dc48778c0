"""ASGI middleware: the request body size limit, trusted hosts and security headers.

Security headers (`SecurityHeadersMiddleware`): every response is sent with
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``; every HTML
response also with a Content-Security-Policy and ``X-Frame-Options``. The policies are
the constants below; a response that sets its own (a page embedding Bokeh, the explorer's
relay, an artifact download) keeps it. See docs/reliability.md, "Pages and links".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import MutableHeaders

from .exceptions import InvalidRequestError, PayloadTooLargeError, VigilError

__all__ = [
    "BOKEH_POLICY",
    "EXPLORER_APP_HEADERS",
    "EXPLORER_PAGE_POLICY",
    "PAGE_POLICY",
    "BodySizeLimitMiddleware",
    "SecurityHeadersMiddleware",
    "TrustedHostMiddleware",
    "content_security_policy",
]


def content_security_policy(**changes: str) -> str:
    """The pages' policy, with the directives named in *changes* replaced.

    Keyword names are directives with ``_`` for ``-`` (``script_src="'self'"``).
    """
    directives = {
        "default-src": "'none'",
        # Scripts: only files of this server (/static, BokehJS under /static/bokeh);
        # no inline script, no event-handler attribute, no eval.
        "script-src": "'self'",
        # BokehJS sets styles on the elements it creates.
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    directives.update({name.replace("_", "-"): value for name, value in changes.items()})
    return "; ".join(f"{name} {value}" for name, value in directives.items())


PAGE_POLICY = content_security_policy()
"""Every HTML page without a Bokeh plot (and any HTML response that sets no policy)."""

BOKEH_POLICY = content_security_policy(script_src="'self' 'unsafe-eval'")
"""Pages that embed Bokeh: BokehJS compiles the figures' `CustomJS` callbacks, hover
and tick formatters with ``new Function``, which needs ``'unsafe-eval'``."""

EXPLORER_PAGE_POLICY = content_security_policy(frame_src="'self'")
"""``/explore/{name}``: the page framing the explorer app served under ``/explore/app/``."""

EXPLORER_APP_HEADERS = {
    # The Panel app's pages are Bokeh server documents: inline scripts, eval'd
    # callbacks, its websocket (same origin), framed only by this server's pages.
    "Content-Security-Policy": content_security_policy(
        default_src="'self'",
        script_src="'self' 'unsafe-inline' 'unsafe-eval' blob:",
        img_src="'self' data: blob:",
        font_src="'self' data:",
        base_uri="'self'",
        frame_ancestors="'self'",
    ),
    "X-Frame-Options": "SAMEORIGIN",
}
"""The headers of every response relayed from the explorer app (``/explore/app/``)."""


class SecurityHeadersMiddleware:
    """Send the security headers on every HTTP response (those it sets itself win).

    - all responses: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``;
    - HTML responses: ``Content-Security-Policy`` (`PAGE_POLICY` unless the response
      set one) and ``X-Frame-Options: DENY``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", PAGE_POLICY)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedHostMiddleware:
    """Refuse (HTTP 400; a websocket: close 1008) a request whose ``Host`` header names
    a host this server does not answer to.

    URLs in responses are built from ``VIGIL_BASE_URL`` or else from the request's
    ``Host``: only trusted names reach the application, so no response carries a URL to
    a host the client made up, and a page of another site reaching this server through
    a DNS name of its own (DNS rebinding) is refused.

    A host is trusted when it is in *hosts* (``*.example.org``: any subdomain; ``*``:
    every host), is the host of *base_url*, or is the address the connection came in on
    (``http://10.0.0.5:8000/`` to a server listening there). A request without ``Host``
    (HTTP/1.0) is answered: URLs then name the address it came in on.
    """

    def __init__(self, app: Any, hosts: Iterable[str], base_url: str | None = None) -> None:
        self.app = app
        names = [h.strip().lower() for h in hosts if h.strip()]
        if base_url and urlsplit(base_url).hostname:
            names.append(str(urlsplit(base_url).hostname).lower())
        self.any_host = "*" in names
        self.names = frozenset(_bare(n) for n in names if not n.startswith("*."))
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self.any_host or self._trusted(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_error(
            send,
            InvalidRequestError(
                "The Host header names a host this server does not answer to: use its"
                " address, or add the name to VIGIL_TRUSTED_HOSTS (or set VIGIL_BASE_URL).",
                field="Host",
            ),
        )

    def _trusted(self, scope: Any) -> bool:
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1").strip().lower()
                break
        if host is None:
            return True
        try:
            parts = urlsplit(f"//{host}")
            hostname, port = parts.hostname, parts.port
        except ValueError:
            return False
        if not hostname or parts.path or parts.username is not None:
            return False
        if hostname in self.names or hostname.endswith(self.suffixes):
            return True
        server = scope.get("server")
        if server and server[0] and str(server[0]).lower().strip("[]") == hostname:
            default = 443 if scope.get("scheme") in ("https", "wss") else 80
            return (port or default) == (server[1] or default)
        return False


def _bare(name: str) -> str:
    # "[::1]" and "::1" name the same host; a configured port is ignored.
    if name.startswith("["):
        return name[1:].partition("]")[0]
    if name.count(":") == 1:
        return name.partition(":")[0]
    return name


async def _send_error(send: Any, error: VigilError, *, close: bool = False) -> None:
    """Answer *error* in the API's error shape; *close* the connection after it (the
    rest of a refused body is not read)."""
    body = orjson.dumps({"detail": error.to_dict()})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
        await _send_error(send, self._error(), close=True)

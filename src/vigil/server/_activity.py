"""Whether the process is answering requests: what its background thread gives way to.

The server's analysis thread shares the process, and Python's interpreter lock, with the
requests. `RequestActivity` is told by `ActivityMiddleware` when each request starts and
ends; the thread asks `RequestActivity.busy` after each round of its work and waits when
the answer is yes, so that people and pipelines are answered first and the analysis
runs in the gaps.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

__all__ = ["STREAM_PATHS", "ActivityMiddleware", "RequestActivity"]

STREAM_PATHS = frozenset({"/api/logs/stream", "/api/monitor/stream"})
"""Requests that stay open for as long as someone watches: they do not count as work."""


class RequestActivity:
    """The requests in flight and when the last one started or ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last = -math.inf

    def begin(self) -> None:
        """A request started."""
        with self._lock:
            self._in_flight += 1
            self._last = time.monotonic()

    def end(self) -> None:
        """A request ended."""
        with self._lock:
            self._in_flight -= 1
            self._last = time.monotonic()

    def busy(self, within: float) -> bool:
        """Whether a request is in flight, or one started or ended in the last *within*
        seconds."""
        with self._lock:
            return self._in_flight > 0 or time.monotonic() - self._last < within


class ActivityMiddleware:
    """Tells *activity* when each HTTP request (but the event streams) starts and ends."""

    def __init__(self, app: Any, activity: RequestActivity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in STREAM_PATHS:
            await self.app(scope, receive, send)
            return
        self.activity.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.end()

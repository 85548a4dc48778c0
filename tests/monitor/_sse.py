"""A server-sent-events client for tests: collects events in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class EventListener:
    """Reads ``text/event-stream`` from *url* in a thread, keeping ``(event, data, received)``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = False

    def __enter__(self) -> EventListener:
        self._thread.start()
        if not self.connected.wait(10):
            raise RuntimeError(f"no answer from {self.url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._client.close()
        # The reading thread ends with the next bytes the server sends, or with the test
        # process (a daemon): no need to wait for either.
        self._thread.join(0.2)

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self.url) as response:
                kind, data = "message", list[str]()
                for line in response.iter_lines():
                    if self._stop:
                        return
                    if line == "":
                        if data:
                            self.events.append(
                                (kind, json.loads("\n".join(data)), time.monotonic())
                            )
                            if kind == "hello":
                                self.connected.set()
                        kind, data = "message", []
                    elif line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except (httpx.HTTPError, RuntimeError, ValueError):
            return

    def wait_for(
        self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 20
    ) -> tuple[str, dict[str, Any]]:
        """The first event satisfying *predicate* (waiting for it)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for kind, data, _ in self.events[seen:]:
                if predicate(kind, data):
                    return kind, data
            seen = len(self.events)
            time.sleep(0.02)
        raise AssertionError(
            f"no such event within {timeout} s; got {[e[0] for e in self.events][:50]}"
        )

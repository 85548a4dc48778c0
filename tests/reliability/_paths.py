"""Paths that try to leave a served folder, and the check that none of them does.

Reusable by every handler that serves files by a path taken from the request: artifacts
today, the explorer's repository files next. Put a file holding `SECRET` outside the
served root (`plant_secret`), then call `assert_confined` with a function that requests
one path through the handler under test::

    from reliability._paths import assert_confined, plant_secret, raw_get

    plant_secret(repo_root.parent)
    assert_confined(lambda path: raw_get(app, f"/explore/files/{path}"))

`raw_get` sends the path exactly as given: HTTP clients remove ``..`` segments before
sending, an attacker's client does not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ESCAPES", "SECRET", "RawResponse", "assert_confined", "plant_secret", "raw_get"]

SECRET = b"vigil-reliability-secret-7f3a9c"
"""Content of the planted files: it must never appear in a response."""

_NAME = "secret.txt"

ESCAPES: tuple[str, ...] = (
    f"../{_NAME}",
    f"../../{_NAME}",
    f"../../../{_NAME}",
    f"a/../../{_NAME}",
    f"a/b/../../../{_NAME}",
    f"..%2f{_NAME}",
    f"%2e%2e/{_NAME}",
    f"%2e%2e%2f{_NAME}",
    f"%2e%2e%2f%2e%2e%2f{_NAME}",
    f"%252e%252e%252f{_NAME}",
    f"..%5c{_NAME}",
    f"..\\{_NAME}",
    f"....//{_NAME}",
    f"..;/{_NAME}",
    f"{_NAME}%00.png",
    f"/{_NAME}",
    f"//{_NAME}",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "../../../../../../../../etc/passwd",
    "file:///etc/passwd",
    "C:%5cWindows%5cwin.ini",
    f"%c0%ae%c0%ae/{_NAME}",
)
"""Relative paths (as they would follow the handler's prefix) that point outside it."""


def plant_secret(*folders: Path) -> list[Path]:
    """Write `SECRET` to ``secret.txt`` in each folder (the parents of the served root)."""
    planted = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _NAME
        path.write_bytes(SECRET)
        planted.append(path)
    return planted


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Status, headers and body of a response to `raw_get`."""

    status_code: int
    headers: dict[str, str]
    content: bytes


def raw_get(app: Any, raw_path: str, headers: Iterable[tuple[str, str]] = ()) -> RawResponse:
    """GET *raw_path* from an ASGI *app* byte for byte: no client normalises it first.

    ``%xx`` escapes are decoded into ``path`` as uvicorn does (invalid UTF-8 becomes
    U+FFFD); ``raw_path`` keeps them.
    """
    from urllib.parse import unquote

    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(path),
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query.encode("latin-1", "replace"),
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    async def call() -> None:
        try:
            await app(scope, receive, send)
        except Exception:  # an error inside the app is a 500 to the client
            messages.append({"type": "http.response.start", "status": 500, "headers": []})

    # A thread of its own: after a Playwright test an event loop may run in this one.
    runner = threading.Thread(target=asyncio.run, args=(call(),))
    runner.start()
    runner.join()
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    found = {k.decode().lower(): v.decode(errors="replace") for k, v in start.get("headers", [])}
    return RawResponse(start["status"], found, body)


def assert_confined(fetch: Callable[[str], RawResponse], escapes: Iterable[str] = ESCAPES) -> None:
    """Every escape attempt is answered 4xx, and no answer contains `SECRET`.

    Raises
    ------
    AssertionError
        Naming the first path that got out or broke the server.
    """
    for attempt in escapes:
        response = fetch(attempt)
        assert SECRET not in response.content, f"{attempt!r} served a file outside the root"
        assert b"root:" not in response.content, f"{attempt!r} served /etc/passwd"
        assert 400 <= response.status_code < 500, (attempt, response.status_code)

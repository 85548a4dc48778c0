"""Synthetic jobs, a real SMTP server and a local webhook receiver for the regression tests."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from vigil.server.domain import User
from vigil.server.factory import Factory

START = datetime(2026, 1, 1, tzinfo=UTC)
DATASET = "validation_data_hsc"
METRICS: dict[str, dict[str, Any]] = {
    "validate_drp.PA1": {"unit": "mmag", "level": 10.0},
    "validate_drp.AM1": {"unit": "marcsec", "level": 8.0},
}
AUTHORS = ["ada@example.org", "bruno@example.org", "chen@example.org"]


def make_job(
    night: int,
    values: dict[str, float],
    *,
    branch: str = "main",
    seed: int = 0,
    noise: float = 0.01,
    specs: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A job of *night* measuring each metric of *values* at that level, with noise."""
    rng = random.Random(f"{seed}:{night}:{branch}")
    author = AUTHORS[night % len(AUTHORS)]
    return {
        "identifier": f"job-{seed}-{branch}-{night}",
        "measurements": [
            {
                "metric": name,
                "value": round(level * (1.0 + noise * rng.gauss(0.0, 1.0)), 6),
                "unit": METRICS[name]["unit"],
                "identifier": f"m-{seed}-{branch}-{night}-{name}",
                "blob_refs": [],
            }
            for name, level in values.items()
        ],
        "blobs": [],
        "metrics": [
            {
                "name": name,
                "description": name,
                "unit": spec["unit"],
                "tags": ["photometry"],
                "direction": "lower",
            }
            for name, spec in METRICS.items()
        ],
        "specs": list(specs),
        "meta": {
            "instrument": "HSC",
            "dataset": DATASET,
            "date": (START + timedelta(days=night)).isoformat(),
            "git": {
                "branch": branch,
                "commit": f"{night:04d}" + "c0ffee" * 6,
                "author": author.split("@")[0].title(),
                "author_email": author,
            },
            "packages": {
                "pipe_tasks": {"git_sha": f"{night // 10:040x}", "eups_version": f"w.{night // 10}"}
            },
        },
    }


def history(
    baseline: int = 20,
    after: int = 6,
    *,
    regressed: Iterable[str] = ("validate_drp.PA1",),
    factor: float = 1.2,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """*baseline* nights at every metric's level, then *after* nights with *regressed* up."""
    changed = set(regressed)
    jobs = []
    for night in range(baseline + after):
        values = {
            name: spec["level"] * (factor if night >= baseline and name in changed else 1.0)
            for name, spec in METRICS.items()
        }
        jobs.append(make_job(night, values, seed=seed))
    return jobs


def ingest(factory: Factory, jobs: Iterable[dict[str, Any]], user: User | None = None) -> list[int]:
    """Store *jobs*; their ids."""
    service = factory.create_job_service()
    return [service.ingest(job, user).id for job in jobs]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a fixed local port that can be stopped and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)


def text_of(message: Message) -> str:
    """The plain-text part of a received email (decoded)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the email has no text/plain part")


@dataclass
class WebhookReceiver:
    """A local HTTP server recording every POST body (JSON) and its headers."""

    status: int = 200
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

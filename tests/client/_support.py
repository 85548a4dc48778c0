"""A real HTTP receiver standing in for the Vigil server, conformance paths, sample jobs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
VERIFY_JOB = CONFORMANCE / "squash" / "verify_job.json"
CFHT_JOB = CONFORMANCE / "squash" / "Cfht_output_r.json"
REPOS_YAML = CONFORMANCE / "lsst-verify" / "verify-tests" / "lsstsw" / "etc" / "repos.yaml"

# Variables that make the client believe it runs in a CI: cleared so tests see a laptop.
CI_VARIABLES = (
    "GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_HEAD_REF", "GITHUB_REPOSITORY", "GITLAB_CI",
    "CI_MERGE_REQUEST_IID", "CI_COMMIT_BRANCH", "CI_PROJECT_URL", "JENKINS_URL",
    "JENKINS_HOME", "CHANGE_ID", "CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH", "GIT_URL",
    "ghprbPullId", "VIGIL_URL", "VIGIL_TOKEN", "VIGIL_ENV", "VIGIL_SPOOL_DIR", "VIGIL_DATASET",
)  # fmt: skip


@dataclass
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        body = self.raw
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)


class Receiver:
    """A tiny job server: stores jobs by identifier, or answers what it is told to.

    ``answer("500", "close", "422", ...)`` queues one behaviour per coming request;
    with an empty queue it behaves like Vigil: 201 for a new identifier, 200 for a
    known one.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.stored: dict[str, int] = {}
        self.script: deque[str] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw
                )
                with receiver._lock:
                    receiver.requests.append(request)
                    action = receiver.script.popleft() if receiver.script else "store"
                receiver.handle(self, action, request)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    @property
    def identifiers(self) -> list[str]:
        """Identifiers of the jobs received, in order (every attempt counts)."""
        return [request.json["identifier"] for request in self.requests]

    def answer(self, *actions: str) -> None:
        self.script.extend(actions)

    def handle(self, handler: BaseHTTPRequestHandler, action: str, request: Request) -> None:
        if action == "close":
            handler.close_connection = True
            return  # nothing written: the client sees the connection drop
        if action == "slow":
            time.sleep(0.5)
            action = "store"
        if action == "store":
            identifier = request.json["identifier"]
            with self._lock:
                created = identifier not in self.stored
                job_id = self.stored.setdefault(identifier, len(self.stored) + 1)
            body: Any = {
                "id": job_id,
                "identifier": identifier,
                "url": f"{self.url}/jobs/{job_id}",
                "created": "2026-11-21T22:00:00+00:00",  # the job's creation time
            }
            status = 201 if created else 200
        elif action == "500":
            status, body = 500, {"detail": {"code": "internal", "message": "boom"}}
        elif action == "422":
            status, body = (
                422,
                {
                    "detail": {
                        "code": "invalid_unit",
                        "message": "unit 'furlong' is not an astropy unit",
                        "field": "measurements.3.unit",
                    }
                },
            )
        elif action == "422-fastapi":
            status, body = (
                422,
                {
                    "detail": [
                        {
                            "type": "missing",
                            "loc": ["body", "measurements", 0, "metric"],
                            "msg": "Field required",
                        }
                    ]
                },
            )
        elif action in ("401", "403"):
            status, body = int(action), {"detail": {"code": "bad_token", "message": "no"}}
        else:
            raise AssertionError(f"unknown action {action}")
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def small_job(**extra: Any) -> dict[str, Any]:
    """A valid little job with one NaN measurement."""
    return {
        "measurements": [
            {"metric": "validate_drp.PA1", "value": 12.5, "unit": "mmag", "blob_refs": ["b1"]},
            {"metric": "validate_drp.AM1", "value": float("nan"), "unit": "marcsec"},
        ],
        "blobs": [{"identifier": "b1", "name": "PA1", "data": {}}],
        "metrics": [],
        "specs": [],
        "meta": {"instrument": "HSC"},
        **extra,
    }


AUTHOR = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_AUTHOR_DATE": "2024-03-01T12:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-03-01T12:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **AUTHOR},
    )
    return completed.stdout.strip()


def make_repo(path: Path) -> Path:
    """A git working tree on branch tickets/DM-42 with one commit by Ada Lovelace."""
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch", "tickets/DM-42")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "--quiet", "--no-gpg-sign", "-m", "First light")
    git(path, "remote", "add", "origin", "https://bot:s3cret@github.com/lsst/pipeline.git")
    return path

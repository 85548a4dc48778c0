"""The server over real HTTP: uvicorn in a thread, and ``vigil serve`` killed mid-ingest."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from vigil.server.config import Settings
from vigil.server.factory import Factory
from vigil.server.main import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free port."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_ingest_and_read_over_http(
    live_url: str, auth_headers: dict[str, str], verify_job_bytes: bytes
) -> None:
    with httpx.Client(base_url=live_url, timeout=30) as http:
        headers = {**auth_headers, "Content-Type": "application/json"}
        created = http.post("/api/jobs", content=verify_job_bytes, headers=headers)
        assert created.status_code == 201, created.text
        again = http.post("/api/jobs", content=verify_job_bytes, headers=headers)
        assert again.status_code == 200 and again.json() == created.json()
        job = http.get(created.json()["url"]).json()
        assert len(job["measurements"]) == 30
        assert http.get("/api/openapi.json").json()["openapi"].startswith("3.")
        docs = http.get("/api/docs")
        assert docs.status_code == 200
        # The docs page loads nothing from the internet: every asset is served here.
        assets = [a for a in _asset_urls(docs.text) if not a.startswith("/")]
        assert assets == []
        assert http.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200


def _asset_urls(html: str) -> list[str]:
    import re

    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)


# `vigil serve` as a user runs it: zero configuration, then killed in the middle of ingests.


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir)}
    env.pop("VIGIL_DATABASE_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from vigil.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"vigil serve exited: {output}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("vigil serve did not start")


def _big_job(verify_job_bytes: bytes, copies: int) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(verify_job_bytes)
    measurements = job["measurements"]
    job["measurements"] = [
        {**m, "identifier": f"{m['identifier'][:24]}-{i}", "data_id": {"visit": i}}
        for i in range(copies)
        for m in measurements
    ]
    job["identifier"] = "killed-mid-ingest"
    return job


@pytest.mark.slow
def test_a_killed_server_keeps_all_of_a_job_or_none(
    tmp_path: Path, verify_job_bytes: bytes
) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    data_dir = tmp_path / "vigil-data"
    port = free_port()
    server = _serve(data_dir, port)  # creates the SQLite database by itself
    with Factory.standalone(Settings(data_dir=data_dir)) as factory:
        service = factory.create_user_service()
        service.create_user("ci")
        token = service.create_token("ci").text
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    job = _big_job(verify_job_bytes, copies=100)  # 3,000 measurements
    body = json.dumps(job).replace("NaN", "null")
    url = f"http://127.0.0.1:{port}/api/jobs"
    try:
        for delay in (0.15, 0.3):
            sender = threading.Thread(
                target=_post_ignoring_errors, args=(url, body, headers), daemon=True
            )
            sender.start()
            time.sleep(delay)
            server.send_signal(signal.SIGKILL)
            server.wait()
            sender.join(timeout=30)
            server = _serve(data_dir, port)
            found = httpx.get(url, params={"limit": 10}).json()["items"]
            assert len(found) <= 1
            if found:
                assert found[0]["measurement_count"] == 3000  # all of it, or nothing
        # The client retries: exactly one copy in the end.
        final = httpx.post(url, content=body, headers=headers, timeout=60)
        assert final.status_code in (200, 201)
        assert final.json()["measurement_count"] == 3000
        found = httpx.get(url).json()["items"]
        assert [j["identifier"] for j in found] == ["killed-mid-ingest"]
    finally:
        server.kill()
        server.wait()


def _post_ignoring_errors(url: str, body: str, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, content=body, headers=headers, timeout=30)

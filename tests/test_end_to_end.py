"""A pipeline's whole journey over real HTTP, the way users run it.

``vigil serve`` in its own process on a fresh data folder; ``vigil user create`` and
``vigil token create`` for a token; ``vigil dispatch`` sends the real lsst.verify job,
resends it (stored once), keeps it in its spool while the server is down and delivers it
on the next call; the job reads back through the native and the SQuaSH APIs.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

VIGIL = [sys.executable, "-m", "vigil"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``vigil serve`` as a child process that can be stopped and started again."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*VIGIL, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    self.process.stderr.read().decode()
                    if self.process.stderr
                    else "vigil serve exited"
                )
            try:
                if httpx.get(f"{self.url}/api/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("vigil serve did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VIGIL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIGIL_", "GITHUB_", "GITLAB_", "CI"))
    }
    environ.pop("BUILD_ID", None)
    environ.update(
        {
            "VIGIL_DATA_DIR": str(tmp_path / "server"),
            "VIGIL_SPOOL_DIR": str(tmp_path / "spool"),
            "HOME": str(tmp_path / "home"),
        }
    )
    return environ


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Server]:
    assert _run(env, "db", "upgrade").returncode == 0
    running = Server(env)
    running.start()
    yield running
    running.stop()


def test_dispatch_store_once_spool_and_read_back(
    server: Server, env: dict[str, str], conformance: Path, tmp_path: Path
) -> None:
    created = _run(env, "user", "create", "pipeline")
    assert created.returncode == 0, created.stderr
    token_run = _run(env, "token", "create", "pipeline", "--name", "ci")
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1].strip()
    env = {**env, "VIGIL_URL": server.url, "VIGIL_TOKEN": token}

    # The real job of 2018, enriched and sent; the identifier is fixed so a resend is known.
    job_file = tmp_path / "validate_drp.verify.json"
    job = json.loads((conformance / "squash/verify_job.json").read_text())
    job["identifier"] = "nightly-2018-07-30-cfht-r"
    job_file.write_text(json.dumps(job))  # bare NaN tokens, as dispatch_verify wrote them

    first = _run(env, "dispatch", str(job_file), "--timeout", "30")
    assert first.returncode == 0, first.stdout + first.stderr
    second = _run(env, "dispatch", str(job_file), "--timeout", "30")
    assert second.returncode == 0 and "already" in second.stdout.lower(), second.stdout

    jobs = httpx.get(f"{server.url}/api/jobs").json()
    assert len(jobs["items"]) == 1
    stored = httpx.get(f"{server.url}/api/jobs/{jobs['items'][0]['id']}").json()
    assert len(stored["measurements"]) == 30
    values = [m["value"] for m in stored["measurements"]]
    assert values.count(None) == 7 and 0 not in values  # NaN stays NaN, never 0
    assert all(v is None or math.isfinite(v) for v in values)

    # Server down: the job waits in the spool; the next call delivers it.
    server.stop()
    other = dict(job, identifier="nightly-2018-07-31-cfht-r")
    other_file = tmp_path / "next.verify.json"
    other_file.write_text(json.dumps(other))
    spooled = _run(env, "dispatch", str(other_file), "--retries", "1", "--backoff", "0.05")
    assert spooled.returncode == 2, spooled.stdout + spooled.stderr
    assert list((tmp_path / "spool").glob("*.json"))
    server.start()
    flushed = _run(env, "dispatch", "--flush", "--timeout", "30")
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    assert not list((tmp_path / "spool").glob("*.json"))

    # Both jobs through the SQuaSH surface too, with the environment dispatch detected.
    squash = {"Accept": "application/json"}
    ids = httpx.get(f"{server.url}/jobs", headers=squash).json()["ids"]
    assert len(ids) == 2
    second_job = httpx.get(f"{server.url}/job/{ids[1]}", headers=squash).json()
    assert second_job["meta"]["env"]["env_name"] == "jenkins"  # kept from the job file
    assert len(second_job["measurements"]) == 30

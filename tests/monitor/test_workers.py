"""Several server processes: live events reach a browser connected to any of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from vigil.server.config import Settings

from ._events import Runner
from ._sse import EventListener
from .conftest import ServerThread, free_port


@pytest.fixture
def two_servers(settings: Settings) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Two applications on one database, as two processes behind a proxy would be."""
    first, second = ServerThread(settings).start(), ServerThread(settings).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_a_change_committed_by_one_server_reaches_the_clients_of_the_other(
    two_servers: tuple[ServerThread, ServerThread], auth_headers: dict[str, str]
) -> None:
    writer, reader = two_servers
    runner = Runner("ql")
    _, events = runner.processing("00000001", ["b0", "r0"], lines={"b0": ["flat field done"]})
    with (
        EventListener(f"{reader.url}/api/monitor/stream?pipeline=ql&logs=true") as live,
        httpx.Client(base_url=writer.url, headers=auth_headers) as api,
    ):
        assert api.post("/api/monitor/events", json=runner.batch(events)).status_code == 200
        live.wait_for(lambda kind, data: kind == "processing" and data["status"] == "succeeded")
        live.wait_for(lambda kind, data: kind == "log" and data["message"] == "flat field done")
        run_id = api.get("/api/monitor/processings").json()["items"][0]["log_run_id"]
        # A run's live tail on the reader; its lines posted to the writer.
        with EventListener(f"{reader.url}/api/logs/stream?run={run_id}&unit=b0") as tail:
            record = {"time": "2026-05-01T03:00:00Z", "message": "late line", "unit": "b0"}
            batch = {"source": uuid.uuid4().hex, "sequence": 1, "run": "unused", "records": []}
            processing = api.get("/api/monitor/processings").json()["items"][0]
            key = api.get(f"/api/logs/runs/{run_id}").json()["key"]
            assert processing["log_run_id"] == run_id
            response = api.post("/api/logs", json={**batch, "run": key, "records": [record]})
            assert response.status_code == 200, response.text
            tail.wait_for(lambda kind, data: kind == "log" and data["message"] == "late line")
    hello = next(data for kind, data, _ in live.events if kind == "hello")
    ids = [int(data["id"]) for kind, data, _ in live.events if kind == "log"]
    assert hello["last_event_id"] >= 0 and ids == sorted(ids)


@pytest.mark.slow
def test_vigil_serve_with_two_workers_streams_every_change_to_every_worker(
    settings: Settings, token: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=str(settings.database_url or settings.effective_database_url),
        VIGIL_DATA_DIR=str(settings.data_dir),
        VIGIL_ARTIFACT_URL=str(settings.artifact_url),
        VIGIL_MONITOR_RECORD_JOBS="false",
    )
    command = [sys.executable, "-m", "vigil", "serve", "--port", str(port), "--workers", "2"]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
        with ExitStack() as stack:
            # Connections land on either worker: keep opening until both serve a stream.
            listeners: dict[int, EventListener] = {}
            for _ in range(40):
                listener = stack.enter_context(EventListener(f"{url}/api/monitor/stream"))
                listeners.setdefault(listener.events[0][1]["process"], listener)
                if len(listeners) == 2:
                    break
            assert len(listeners) == 2, "every stream landed on one worker"
            runner = Runner("ql")
            headers = {"Authorization": f"Bearer {token}"}
            for n in range(1, 4):
                _, events = runner.processing(f"{n:08d}", ["b0"])
                response = httpx.post(
                    f"{url}/api/monitor/events", json=runner.batch(events), headers=headers
                )
                assert response.status_code == 200, response.text
            for listener in listeners.values():
                listener.wait_for(
                    lambda kind, data: (
                        kind == "processing"
                        and data["exposure"] == "00000003"
                        and data["status"] == "succeeded"
                    )
                )
                seen = {d["exposure"] for k, d, _ in listener.events if k == "exposure"}
                assert seen == {"00000001", "00000002", "00000003"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()

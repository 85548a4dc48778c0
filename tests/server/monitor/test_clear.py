"""Clearing a processing's logs and reduction files: administrators only, asked first,
recorded in the audit log; the processing itself stays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner
from vigil.server.config import Settings
from vigil.server.domain import Role
from vigil.server.factory import Factory

from ..conftest import login


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    """Settings whose reduction files live under ``work``."""
    return make_settings(monitor_output_roots=[tmp_path / "work"])


@pytest.fixture
def admin_token(factory: Factory) -> str:
    service = factory.create_user_service()
    service.create_user("boss", "boss@example.org", roles=frozenset({Role.ADMIN}))
    return service.create_token("boss").text


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "frame.fits").write_bytes(b"x" * 100)
    return path


def _store(
    client: TestClient, headers: dict[str, str], outputs: dict[str, str], *, end: bool = True
) -> int:
    runner = Runner()
    _, events = runner.processing(
        "00000001", ["b0", "r0"], lines={"b0": ["INFO: reduced"]}, end=end
    )
    started = next(e for e in events if e["type"] == "processing_started")
    started["outputs"] = outputs
    answer = client.post("/api/monitor/events", json=runner.batch(events), headers=headers)
    assert answer.status_code == 200, answer.text
    [row] = client.get("/api/monitor/processings").json()["items"]
    return int(row["id"])


def test_an_admin_clears_the_logs_and_the_folders_that_name_the_exposure(
    client: TestClient, auth_headers: dict[str, str], admin_token: str, tmp_path: Path
) -> None:
    mine = _folder(tmp_path / "work" / "20260501" / "00000001" / "b0")
    shared = _folder(tmp_path / "work" / "r0")  # no exposure in its path: others' files too
    outside = _folder(tmp_path / "elsewhere" / "00000001")
    pid = _store(
        client,
        auth_headers,
        {"b0": str(mine), "r0": str(shared), "x": str(outside)},
    )
    run_id = client.get(f"/api/monitor/processings/{pid}").json()["processing"]["log_run_id"]
    assert client.get(f"/api/logs/runs/{run_id}").status_code == 200
    admin = {"Authorization": f"Bearer {admin_token}"}

    # The confirmation step says what goes and what stays.
    plan = client.get(f"/monitor/processings/{pid}/clear", params={"format": "json"}).json()
    assert plan["log_run_id"] == run_id and plan["log_lines"] > 0
    assert plan["folders"] == [str(mine.resolve())]
    assert f"{shared} (does not name exposure 00000001" in plan["files_note"]
    assert f"{outside} (not under VIGIL_MONITOR_OUTPUT_ROOTS)" in plan["files_note"]

    # Not an administrator: refused, nothing deleted.
    refused = client.post(f"/api/monitor/processings/{pid}/clear", headers=auth_headers)
    assert refused.status_code == 403
    assert "needs the admin role" in refused.json()["detail"]["message"]
    assert mine.exists()

    done = client.post(f"/api/monitor/processings/{pid}/clear", headers=admin)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["folders_removed"] == [str(mine.resolve())] and body["errors"] == []
    assert body["cleared"]["log_lines"] == plan["log_lines"]
    assert not mine.exists() and shared.exists() and outside.exists()
    assert client.get(f"/api/logs/runs/{run_id}").status_code == 404
    detail = client.get(f"/api/monitor/processings/{pid}").json()
    assert detail["processing"]["log_run_id"] is None
    assert [u["name"] for u in detail["units"]] == ["b0", "r0"]  # the processing stays

    [entry] = client.get("/api/audit", params={"action": "processing.clear"}, headers=admin).json()[
        "items"
    ]
    assert entry["id"] == body["audit_id"] and entry["actor"] == "boss"
    assert entry["summary"]["log_lines"] == plan["log_lines"]
    assert entry["summary"]["folders"] == [str(mine.resolve())]

    # Cleared again: nothing left to delete, said so.
    again = client.post(f"/api/monitor/processings/{pid}/clear", headers=admin).json()
    assert again["cleared"]["log_run_id"] is None and again["cleared"]["log_lines"] == 0
    assert again["folders_removed"] == []


def test_the_page_asks_before_clearing(
    client: TestClient, auth_headers: dict[str, str], admin_token: str, tmp_path: Path
) -> None:
    mine = _folder(tmp_path / "work" / "00000001" / "b0")
    pid = _store(client, auth_headers, {"b0": str(mine), "r0": str(mine)})
    login(client, admin_token)
    page = client.get(f"/monitor/processings/{pid}")
    assert f'href="/monitor/processings/{pid}/clear"' in page.text
    ask = client.get(f"/monitor/processings/{pid}/clear")
    assert ask.status_code == 200
    assert 'data-testid="clear-form"' in ask.text and 'name="confirm"' in ask.text
    assert str(mine.resolve()) in ask.text
    csrf = client.cookies.get("vigil_csrf")
    url = f"/monitor/processings/{pid}/clear"

    unticked = client.post(url, data={"csrf_token": csrf})
    assert unticked.status_code == 400 and mine.exists()
    assert "Tick the confirmation box" in unticked.text
    cleared = client.post(url, data={"csrf_token": csrf, "confirm": "yes"})
    assert cleared.status_code == 200 and 'data-testid="clear-done"' in cleared.text
    assert not mine.exists()


def test_a_running_processing_or_unknown_folders_keep_their_files(
    client: TestClient, auth_headers: dict[str, str], admin_token: str, tmp_path: Path
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    pid = _store(client, auth_headers, {}, end=False)
    running = client.post(f"/api/monitor/processings/{pid}/clear", headers=admin)
    assert running.status_code == 409
    assert "still running" in running.json()["detail"]["message"]
    assert client.post("/api/monitor/processings/999/clear", headers=admin).status_code == 404


def test_without_output_roots_only_the_logs_go(
    make_app: Callable[..., Any], factory: Factory, auth_headers: dict[str, str], tmp_path: Path
) -> None:
    service = factory.create_user_service()
    service.create_user("boss", None, roles=frozenset({Role.ADMIN}))
    admin = {"Authorization": f"Bearer {service.create_token('boss').text}"}
    mine = _folder(tmp_path / "work" / "00000001" / "b0")
    with TestClient(make_app(monitor_output_roots=[])) as client:
        pid = _store(client, auth_headers, {"b0": str(mine)})
        body = client.post(f"/api/monitor/processings/{pid}/clear", headers=admin).json()
    assert body["folders_removed"] == [] and mine.exists()
    assert "VIGIL_MONITOR_OUTPUT_ROOTS is not set" in body["cleared"]["files_note"]
    assert body["cleared"]["log_lines"] > 0

"""Artifacts: upload, safe serving, content addressing and the per-branch storage policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<html><script>alert(1)</script></html>"


def make_job(client: TestClient, headers: dict[str, str], identifier: str, branch: str) -> int:
    payload = {
        "identifier": identifier,
        "measurements": [{"metric": "demo.m", "value": 1.0, "unit": ""}],
        "meta": {"git": {"branch": branch}},
    }
    response = client.post(
        "/api/jobs",
        content=json.dumps(payload),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def upload(
    client: TestClient,
    headers: dict[str, str],
    job_id: int,
    files: list[tuple[str, bytes, str]],
    names: list[str] | None = None,
) -> Any:
    data = {"names": names} if names else None
    return client.post(
        f"/api/jobs/{job_id}/artifacts",
        files=[("files", f) for f in files],
        data=data,
        headers=headers,
    )


def stored_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_upload_list_and_download(
    client: TestClient, auth_headers: dict[str, str], tmp_path: Path
) -> None:
    job_id = make_job(client, auth_headers, "j", "main")
    response = upload(
        client,
        auth_headers,
        job_id,
        [("residuals.png", PNG, "image/png"), ("plot.svg", SVG, "image/svg+xml")],
        names=["plots/residuals.png", "plots/plot.svg"],
    )
    assert response.status_code == 201, response.text
    stored = {a["name"]: a for a in response.json()}
    assert stored["plots/residuals.png"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert stored["plots/residuals.png"]["inline"] is True
    assert stored["plots/plot.svg"]["inline"] is False

    listed = client.get(f"/api/jobs/{job_id}/artifacts").json()
    assert [a["name"] for a in listed] == ["plots/plot.svg", "plots/residuals.png"]

    image = client.get(stored["plots/residuals.png"]["url"])
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.headers["x-content-type-options"] == "nosniff"

    svg = client.get(stored["plots/plot.svg"]["url"])
    assert svg.content == SVG
    assert svg.headers["content-disposition"].startswith("attachment")
    assert svg.headers["x-content-type-options"] == "nosniff"
    assert "svg" not in svg.headers["content-type"]
    assert stored_files(tmp_path / "artifacts") == {
        hashlib.sha256(PNG).hexdigest(),
        hashlib.sha256(SVG).hexdigest(),
    }


def test_a_file_that_claims_to_be_an_image_is_not_inline(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    job_id = make_job(client, auth_headers, "j", "main")
    response = upload(client, auth_headers, job_id, [("fake.png", HTML, "image/png")])
    artifact = response.json()[0]
    assert artifact["inline"] is False
    served = client.get(artifact["url"])
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("name", ["../escape.png", "/etc/passwd", "a/../../b", "bad\x07name"])
def test_unsafe_names_are_refused(
    client: TestClient, auth_headers: dict[str, str], name: str, tmp_path: Path
) -> None:
    job_id = make_job(client, auth_headers, "j", "main")
    response = upload(client, auth_headers, job_id, [("x.png", PNG, "image/png")], names=[name])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_artifact" and detail["field"] == "name"
    assert client.get(f"/api/jobs/{job_id}/artifacts").json() == []


def test_uploads_need_a_token_and_a_job(client: TestClient, auth_headers: dict[str, str]) -> None:
    job_id = make_job(client, auth_headers, "j", "main")
    assert upload(client, {}, job_id, [("a.png", PNG, "image/png")]).status_code == 401
    assert upload(client, auth_headers, 999, [("a.png", PNG, "image/png")]).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/artifacts/nothing.png").status_code == 404


def test_artifact_size_limit(
    make_app: Callable[..., FastAPI], auth_headers: dict[str, str]
) -> None:
    with TestClient(make_app(max_artifact_bytes=1000)) as client:
        job_id = make_job(client, auth_headers, "j", "main")
        response = upload(client, auth_headers, job_id, [("big.bin", b"x" * 1001, "")])
        assert response.status_code == 413
        assert response.json()["detail"]["field"] == "file"


def test_same_content_is_stored_once_and_replacing_frees_it(
    client: TestClient, auth_headers: dict[str, str], tmp_path: Path
) -> None:
    a = make_job(client, auth_headers, "a", "main")
    b = make_job(client, auth_headers, "b", "main")
    upload(client, auth_headers, a, [("p.png", PNG, "image/png")])
    upload(client, auth_headers, b, [("p.png", PNG, "image/png")])
    assert len(stored_files(tmp_path / "artifacts")) == 1
    # Replacing a's file keeps the content b still uses.
    upload(client, auth_headers, a, [("p.png", PNG + b"v2", "image/png")])
    assert len(stored_files(tmp_path / "artifacts")) == 2
    upload(client, auth_headers, b, [("p.png", PNG + b"v2", "image/png")])
    assert stored_files(tmp_path / "artifacts") == {hashlib.sha256(PNG + b"v2").hexdigest()}


def test_branches_keep_only_their_last_jobs_artifacts(
    make_app: Callable[..., FastAPI], auth_headers: dict[str, str], tmp_path: Path
) -> None:
    with TestClient(make_app(artifact_keep_per_branch=2)) as client:
        main_jobs = [make_job(client, auth_headers, f"main-{i}", "main") for i in range(3)]
        branch_jobs = [make_job(client, auth_headers, f"br-{i}", "tickets/DM-9") for i in range(4)]
        for i, job_id in enumerate(main_jobs + branch_jobs):
            upload(client, auth_headers, job_id, [("plot.png", PNG + bytes([i]), "image/png")])

        def names(job_id: int) -> list[str]:
            return [a["name"] for a in client.get(f"/api/jobs/{job_id}/artifacts").json()]

        assert all(names(j) == ["plot.png"] for j in main_jobs)  # the default branch keeps all
        assert [bool(names(j)) for j in branch_jobs] == [False, False, True, True]
        # Content no longer referenced is deleted from the store.
        assert len(stored_files(tmp_path / "artifacts")) == 3 + 2

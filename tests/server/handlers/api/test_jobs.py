"""Ingesting and reading jobs through the native API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

JSON = {"Content-Type": "application/json"}


def small_job(identifier: str | None = "job-1", **meta: Any) -> dict[str, Any]:
    """A job of two measurements of one metric, one of them per dataId."""
    job: dict[str, Any] = {
        "measurements": [
            {"metric": "demo.rms", "identifier": "m1", "value": 1.5, "unit": "mmag"},
            {
                "metric": "demo.rms",
                "identifier": "m2",
                "value": 2.5,
                "unit": "mmag",
                "data_id": {"band": "i", "tract": 9813},
                "notes": {"n_sources": 120},
            },
        ],
        "metrics": [{"name": "demo.rms", "unit": "mmag", "description": "RMS", "tags": ["x"]}],
        "meta": {"instrument": "HSC", "dataset": "rc2", **meta},
    }
    if identifier is not None:
        job["identifier"] = identifier
    return job


def post(client: TestClient, headers: dict[str, str], job: Any) -> Any:
    return client.post("/api/jobs", content=json.dumps(job), headers={**headers, **JSON})


def job_count(client: TestClient) -> int:
    return len(client.get("/api/jobs").json()["items"])


def test_ingest_the_real_dispatched_job(
    client: TestClient, auth_headers: dict[str, str], verify_job_bytes: bytes
) -> None:
    response = client.post("/api/jobs", content=verify_job_bytes, headers={**auth_headers, **JSON})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "identifier", "url", "created", "measurement_count"}
    assert created["measurement_count"] == 30
    assert response.headers["location"] == created["url"]

    job = client.get(created["url"]).json()
    assert len(job["measurements"]) == 30
    assert len(job["packages"]) == 124
    assert "packages" not in job["meta"]
    assert job["environment"] == "jenkins"
    assert job["dataset"] == "validation_data_cfht"
    assert job["instrument"] == "CFHT"
    assert job["run_at"].startswith("2018-07-30T18:25:52")
    assert job["submitted_by"] == "tester"

    source = json.loads(verify_job_bytes)  # Python's json reads the bare NaN tokens
    nan_ids = {m["identifier"] for m in source["measurements"] if math.isnan(m["value"])}
    assert nan_ids, "the conformance file is expected to contain NaN values"
    by_id = {m["identifier"]: m for m in job["measurements"]}
    assert set(by_id) == {m["identifier"] for m in source["measurements"]}
    for m in source["measurements"]:
        stored = by_id[m["identifier"]]
        if m["identifier"] in nan_ids:
            assert stored["value"] is None  # NaN is null, never 0
        else:
            assert stored["value"] == pytest.approx(m["value"])
        assert stored["blob_refs"] == m["blob_refs"]

    blobs = client.get(f"{created['url']}/blobs").json()
    assert len(blobs) == 33
    am1 = next(b for b in blobs if b["identifier"] == "fcff2cbaae9f4971948d256fcaa7926f")
    assert am1["data"]["magRange"]["value"] == [17.0, 21.5]
    one = client.get(f"{created['url']}/blobs/{am1['identifier']}").json()
    assert one == am1

    assert client.get("/api/metrics", params={"limit": 1000}).json()["items"].__len__() == 62
    specs = client.get("/api/specifications", params={"limit": 1000}).json()["items"]
    assert len(specs) == 628
    pa1 = client.get("/api/metrics/validate_drp.PA1").json()
    assert pa1["unit"] == "mmag" and pa1["tags"] == ["photometry"]
    assert pa1["reference"]["doc"] == "LPM-17"
    assert pa1["specifications"] and all(s["metric"] == pa1["name"] for s in pa1["specifications"])


def test_ingest_the_raw_validate_drp_job(
    client: TestClient, auth_headers: dict[str, str], cfht_job_bytes: bytes
) -> None:
    response = client.post("/api/jobs", content=cfht_job_bytes, headers={**auth_headers, **JSON})
    assert response.status_code == 201, response.text
    job = client.get(response.json()["url"]).json()
    assert job["dataset"] == "validation_data_cfht"
    assert job["filter_name"] == "r"
    assert job["environment"] is None
    assert len(job["measurements"]) == 30


def test_same_identifier_is_stored_once(client: TestClient, auth_headers: dict[str, str]) -> None:
    first = post(client, auth_headers, small_job("same"))
    second = post(client, auth_headers, small_job("same"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert job_count(client) == 1


def test_without_identifier_the_content_hash_is_the_key(
    client: TestClient, auth_headers: dict[str, str], verify_job_bytes: bytes
) -> None:
    headers = {**auth_headers, **JSON}
    first = client.post("/api/jobs", content=verify_job_bytes, headers=headers)
    # The same content re-serialised (other key order, NaN as null) is the same job.
    reordered = json.dumps(json.loads(verify_job_bytes), sort_keys=True).replace("NaN", "null")
    second = client.post("/api/jobs", content=reordered, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["identifier"] == second.json()["identifier"]
    assert len(first.json()["identifier"]) == 64


def test_concurrent_duplicates_end_as_one_job(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        response = post(client, auth_headers, small_job("raced"))
        statuses.append(response.status_code)
        bodies.append(response.json())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    assert len({b["id"] for b in bodies}) == 1
    assert job_count(client) == 1


@pytest.mark.parametrize(
    ("job", "status", "code", "field"),
    [
        ({"measurements": []}, 422, "invalid_job", "measurements"),
        ({"meta": {}}, 422, "invalid_job", "measurements"),
        ([1, 2], 422, "invalid_job", "body"),
        (
            {"measurements": [{"metric": "demo.rms", "value": "high", "unit": "mmag"}]},
            422,
            "invalid_job",
            "measurements[0].value",
        ),
        (
            {"measurements": [{"metric": "demo.rms", "value": True, "unit": "mmag"}]},
            422,
            "invalid_job",
            "measurements[0].value",
        ),
        (
            {"measurements": [{"metric": "demo.rms", "value": 1.0, "unit": "furlongs/fortnight"}]},
            422,
            "invalid_job",
            "measurements[0].unit",
        ),
        ({"identifier": "x" * 129, **small_job(None)}, 422, "invalid_job", "identifier"),
    ],
)
def test_bad_jobs_are_refused_with_the_field(
    client: TestClient,
    auth_headers: dict[str, str],
    job: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = post(client, auth_headers, job)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code
    assert detail.get("field") == field
    assert detail["message"]
    assert job_count(client) == 0


def test_unit_must_convert_to_the_metric_unit(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    job = small_job("bad-unit")
    job["measurements"].append({"metric": "demo.rms", "value": 3.0, "unit": "s"})
    response = post(client, auth_headers, job)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "measurements[2].unit"
    assert job_count(client) == 0
    # Against a metric stored by an earlier job, too.
    assert post(client, auth_headers, small_job("first")).status_code == 201
    later = {"measurements": [{"metric": "demo.rms", "value": 1.0, "unit": "deg"}]}
    response = post(client, auth_headers, later)
    assert response.json()["detail"]["field"] == "measurements[0].unit"
    # A convertible unit is fine.
    ok = {"measurements": [{"metric": "demo.rms", "value": 0.001, "unit": "mag"}]}
    assert post(client, auth_headers, ok).status_code == 201


def test_malformed_json_names_the_body(client: TestClient, auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/jobs", content=b'{"measurements": [', headers={**auth_headers, **JSON}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_json" and detail["field"] == "body"
    assert "line 1" in detail["message"]


def test_blob_over_the_limit_is_refused(
    make_app: Callable[..., FastAPI], factory: Factory, auth_headers: dict[str, str]
) -> None:
    job = small_job("big-blob")
    job["blobs"] = [
        {"identifier": "b1", "name": "ok", "data": {}},
        {"identifier": "b2", "name": "big", "data": {"x": {"value": [0.5] * 1000, "unit": ""}}},
    ]
    with TestClient(make_app(max_blob_bytes=2000)) as client:
        response = post(client, auth_headers, job)
        assert response.status_code == 413
        assert response.json()["detail"]["field"] == "blobs[1]"
        assert job_count(client) == 0


def test_request_body_limit(
    make_app: Callable[..., FastAPI], auth_headers: dict[str, str], verify_job_bytes: bytes
) -> None:
    with TestClient(make_app(max_request_bytes=100_000)) as client:
        response = client.post(
            "/api/jobs", content=verify_job_bytes, headers={**auth_headers, **JSON}
        )
        assert response.status_code == 413
        assert response.json()["detail"]["code"] == "payload_too_large"

        def chunks() -> Any:  # no Content-Length: counted as it streams
            for start in range(0, len(verify_job_bytes), 65536):
                yield verify_job_bytes[start : start + 65536]

        response = client.post("/api/jobs", content=chunks(), headers={**auth_headers, **JSON})
        assert response.status_code == 413
        assert job_count(client) == 0


def test_unknown_metrics_are_created_from_measurements(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    long_name = "faro." + "very_long_metric_name_" * 8  # > 64 characters
    job = {"measurements": [{"metric": long_name, "value": 0.25, "unit": "arcsec"}]}
    assert post(client, auth_headers, job).status_code == 201
    metric = client.get(f"/api/metrics/{long_name}").json()
    assert metric["unit"] == "arcsec" and metric["package"] == "faro"
    assert len(metric["name"]) > 64


def test_metrics_from_a_job_update_the_stored_definition(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    post(client, auth_headers, small_job("a"))
    job = small_job("b")
    job["metrics"][0]["description"] = "Better description"
    job["specs"] = [
        {
            "name": "demo.rms.design",
            "type": "threshold",
            "threshold": {"value": 5.0, "unit": "mmag", "operator": "<="},
            "tags": ["design"],
        }
    ]
    post(client, auth_headers, job)
    metric = client.get("/api/metrics/demo.rms").json()
    assert metric["description"] == "Better description"
    assert metric["direction"] == "lower"  # from the specification's operator
    spec = client.get("/api/specifications/demo.rms.design").json()
    assert (spec["threshold_value"], spec["threshold_operator"]) == (5.0, "<=")


def test_measurement_keeps_identifier_data_id_and_notes(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    url = post(client, auth_headers, small_job()).json()["url"]
    measurements = {m["identifier"]: m for m in client.get(url).json()["measurements"]}
    assert measurements["m2"]["data_id"] == {"band": "i", "tract": 9813}
    assert measurements["m2"]["notes"] == {"n_sources": 120}
    assert measurements["m1"]["data_id"] == {}
    # Two dataIds: two series of one metric.
    assert measurements["m1"]["series_key"] != measurements["m2"]["series_key"]


def test_writes_need_a_valid_token(
    client: TestClient, factory: Factory, auth_headers: dict[str, str]
) -> None:
    assert post(client, {}, small_job()).status_code == 401
    response = post(client, {"Authorization": "Bearer vgl_1_" + "x" * 43}, small_job())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert post(client, {"Authorization": "Basic abc"}, small_job()).status_code == 401
    # SQuaSH clients send "JWT <token>".
    jwt = {"Authorization": auth_headers["Authorization"].replace("Bearer", "JWT")}
    assert post(client, jwt, small_job("jwt")).status_code == 201
    assert client.get("/api/me", headers=auth_headers).json()["name"] == "tester"
    # A revoked token stops working.
    factory.create_user_service().revoke_token(auth_headers["Authorization"].split()[1])
    assert post(client, auth_headers, small_job("after")).status_code == 401


def test_reading_can_require_a_token(
    make_app: Callable[..., FastAPI], auth_headers: dict[str, str]
) -> None:
    with TestClient(make_app(public_read=False)) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers=auth_headers).status_code == 200
        assert client.get("/api/openapi.json").status_code == 200


def test_list_filters_and_pages(client: TestClient, auth_headers: dict[str, str]) -> None:
    for i in range(5):
        git = {"branch": "main" if i % 2 == 0 else "tickets/DM-7", "commit": f"c0ffee{i}"}
        env = {"env_name": "github-actions" if i < 3 else "local"}
        assert post(client, auth_headers, small_job(f"j{i}", git=git, env=env)).status_code == 201

    page = client.get("/api/jobs", params={"limit": 2}).json()
    assert [j["identifier"] for j in page["items"]] == ["j4", "j3"]  # newest first
    page2 = client.get(page["next_url"]).json()
    assert [j["identifier"] for j in page2["items"]] == ["j2", "j1"]
    page3 = client.get("/api/jobs", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    assert [j["identifier"] for j in page3["items"]] == ["j0"]
    assert page3["next_cursor"] is None

    def ids(**params: Any) -> list[str]:
        return [j["identifier"] for j in client.get("/api/jobs", params=params).json()["items"]]

    assert ids(branch="main") == ["j4", "j2", "j0"]
    assert ids(environment="local") == ["j4", "j3"]
    assert ids(commit="c0ffee3") == ["j3"]
    assert ids(dataset="rc2", instrument="HSC", branch="tickets/DM-7") == ["j3", "j1"]
    assert ids(dataset="nope") == []
    job = client.get("/api/jobs", params={"limit": 1}).json()["items"][0]
    assert job["measurement_count"] == 2
    assert client.get("/api/jobs", params={"cursor": "zzz"}).status_code == 400


def test_measurements_list(client: TestClient, auth_headers: dict[str, str]) -> None:
    job_id = post(client, auth_headers, small_job()).json()["id"]
    page = client.get("/api/measurements", params={"job": job_id, "limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(page["next_url"]).json()
    assert [m["identifier"] for m in page["items"] + rest["items"]] == ["m1", "m2"]


def test_code_changes_between_two_jobs(client: TestClient, auth_headers: dict[str, str]) -> None:
    def with_packages(identifier: str, packages: dict[str, Any]) -> dict[str, Any]:
        return small_job(identifier, packages=packages)

    base = post(
        client,
        auth_headers,
        with_packages(
            "base",
            {
                "afw": {"name": "afw", "git_sha": "aaa", "eups_version": "1"},
                "meas": {"name": "meas", "git_sha": "mmm", "eups_version": "1"},
                "old": {"name": "old", "git_sha": "ooo", "eups_version": "1"},
            },
        ),
    ).json()["id"]
    head = post(
        client,
        auth_headers,
        with_packages(
            "head",
            {
                "afw": {"name": "afw", "git_sha": "bbb", "eups_version": "2"},
                "meas": {"name": "meas", "git_sha": "mmm", "eups_version": "1"},
                "new": {"name": "new", "git_sha": "nnn", "eups_version": "1"},
            },
        ),
    ).json()["id"]
    changes = client.get(f"/api/jobs/{head}/changes", params={"base": base}).json()
    assert [p["name"] for p in changes["added"]] == ["new"]
    assert [p["name"] for p in changes["removed"]] == ["old"]
    assert [
        (c["name"], c["before"]["git_sha"], c["after"]["git_sha"]) for c in changes["changed"]
    ] == [("afw", "aaa", "bbb")]
    assert client.get(f"/api/jobs/{head}/changes", params={"base": 999}).status_code == 404


def test_missing_things_are_404_with_a_code(client: TestClient) -> None:
    for url, code in [
        ("/api/jobs/12345", "job_not_found"),
        ("/api/metrics/no.such", "metric_not_found"),
        ("/api/specifications/no.such.spec", "specification_not_found"),
        ("/api/series/abc", "series_not_found"),
    ]:
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == code


def test_datasets(client: TestClient, auth_headers: dict[str, str]) -> None:
    post(client, auth_headers, small_job("a"))
    post(client, auth_headers, small_job("b", dataset="hsc_pdr2", instrument="HSC"))
    post(client, auth_headers, small_job("c", dataset="hsc_pdr2", instrument="LSSTCam"))
    datasets = client.get("/api/datasets").json()
    assert [(d["name"], d["job_count"], d["instruments"]) for d in datasets] == [
        ("hsc_pdr2", 2, ["HSC", "LSSTCam"]),
        ("rc2", 1, ["HSC"]),
    ]

"""``POST /api/jobs/batch``: many jobs in one request, each with its own outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.client.importer import DEFAULT_BATCH, MAX_BATCH
from vigil.server.services import MAX_BATCH_JOBS

from ..._jobs import two_metric_job

JSON = {"Content-Type": "application/json"}


def _batch(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.post("/api/jobs/batch", content=json.dumps(body), headers={**headers, **JSON})


def _stored(client: TestClient) -> list[str]:
    return sorted(job["identifier"] for job in client.get("/api/jobs?limit=100").json()["items"])


def test_each_job_of_a_batch_gets_what_post_jobs_would_answer(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    first = client.post(
        "/api/jobs", content=json.dumps(two_metric_job("first")), headers={**auth_headers, **JSON}
    )
    assert first.status_code == 201
    body = [
        two_metric_job("a"),
        two_metric_job("bad-unit", unit="s"),  # demo.PA1 is stored in mmag: fails inside the write
        two_metric_job("b", 2.0),
        {"identifier": "no-measurements", "measurements": "many"},  # fails its checks
        two_metric_job("first"),  # stored before, same content
        two_metric_job("first-changed", 3.0),
        two_metric_job("first", 9.0),  # stored before, other content
        two_metric_job("twice", 4.0),
        two_metric_job("twice", 5.0),  # the same identifier with other content in one batch
        [1, 2],
    ]
    response = _batch(client, auth_headers, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    statuses = [(item["index"], item["identifier"], item["status"]) for item in answer["jobs"]]
    assert statuses == [
        (0, "a", 201),
        (1, "bad-unit", 422),
        (2, "b", 201),
        (3, "no-measurements", 422),
        (4, "first", 200),
        (5, "first-changed", 201),
        (6, "first", 409),
        (7, "twice", 201),
        (8, "twice", 409),
        (9, None, 422),
    ]
    assert (answer["stored"], answer["already_stored"], answer["failed"]) == (4, 1, 5)
    jobs = answer["jobs"]
    assert jobs[1]["error"]["field"] == "measurements[0].unit"
    assert jobs[3]["error"]["code"] == "invalid_job"
    assert jobs[6]["error"]["code"] == "conflict"
    assert jobs[9]["error"]["message"] == "A job must be a JSON object, not list."
    assert jobs[4]["job"]["id"] == first.json()["id"]
    assert jobs[0]["job"]["measurement_count"] == 2
    assert client.get(jobs[0]["job"]["url"]).json()["identifier"] == "a"
    assert all(item["job"] is None for item in jobs if item["error"] is not None)
    # What failed left nothing behind; what passed is stored once.
    assert _stored(client) == ["a", "b", "first", "first-changed", "twice"]


def test_sending_a_batch_again_stores_nothing_twice(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    body = [two_metric_job(f"job-{i}", float(i)) for i in range(5)]
    once = _batch(client, auth_headers, body).json()
    again = _batch(client, auth_headers, body).json()
    assert [item["status"] for item in once["jobs"]] == [201] * 5
    assert [item["status"] for item in again["jobs"]] == [200] * 5
    assert [item["job"]["id"] for item in again["jobs"]] == [
        item["job"]["id"] for item in once["jobs"]
    ]
    assert _stored(client) == [f"job-{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"identifier": "x"}, "A batch must be a JSON array of jobs, not dict"),
        ([], "The batch holds no job"),
        (
            [two_metric_job(f"j{i}") for i in range(MAX_BATCH_JOBS + 1)],
            f"more than the {MAX_BATCH_JOBS}",
        ),
    ],
    ids=["object", "empty", "too-many"],
)
def test_a_batch_that_is_not_one_is_refused_whole(
    client: TestClient, auth_headers: dict[str, str], body: Any, message: str
) -> None:
    response = _batch(client, auth_headers, body)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert message in detail["message"] and detail["field"] == "body"
    assert _stored(client) == []


def test_a_batch_needs_a_submitter(client: TestClient) -> None:
    response = _batch(client, {}, [two_metric_job("anonymous")])
    assert response.status_code == 401
    assert _stored(client) == []


def test_the_client_batches_within_the_servers_limit() -> None:
    assert MAX_BATCH == MAX_BATCH_JOBS
    assert 1 <= DEFAULT_BATCH <= MAX_BATCH

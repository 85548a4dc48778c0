"""Fuzzing the API live from ``/api/openapi.json``: no 5xx, responses as declared.

The shorter, deterministic form of ``bench/fuzz.py`` (which runs more than 1,000
cases): every operation the application declares (native API, SQuaSH surface, and any
added later) in schemathesis' positive and negative modes, a few cases each, with a
fixed seed, on SQLite and PostgreSQL. Below it, each 5xx that fuzzing found, kept as a
regression test.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fuzz import fuzz, prepare_app

from vigil.server.config import Settings
from vigil.server.main import create_app

from ._paths import raw_get


def test_fuzzing_every_operation_finds_no_5xx_and_no_response_outside_its_schema(
    settings: Settings,
) -> None:
    token = prepare_app(settings)
    app = create_app(settings.model_copy(update={"background_worker": False}))
    # Positive cases of event streams wait for the stream's end (30 s): bench/fuzz.py runs them.
    result = fuzz(app, token, examples=3, seed=20261121, open_streams=False)
    failures = list(result.failures.values())
    report = "\n\n".join(
        f"{f.kind} in {f.operation} ({f.mode}, {f.status}): {f.message.strip()[:800]}\n{f.curl}"
        for f in failures
    )
    print(f"{result.operations} operations, {result.cases} cases, statuses {result.statuses}")
    assert result.operations >= 30
    assert result.cases >= 150
    assert result.server_errors == 0, report
    assert result.nonconformances == 0, report
    assert failures == [], report


# 5xx found by fuzzing, kept as regression tests. -------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/99999999999999999999",
        "/api/jobs/99999999999999999999/blobs",
        "/api/jobs/99999999999999999999/blobs/x",
        "/api/jobs/99999999999999999999/artifacts",
        "/api/jobs/1/changes?base=99999999999999999999",
        "/api/measurements?job=99999999999999999999",
        "/api/jobs?pull_request=99999999999999999999",
        "/job/99999999999999999999",
        "/measurement/99999999999999999999",
        "/blob/99999999999999999999",
        "/measurements?job_id=99999999999999999999",
    ],
)
def test_an_id_beyond_64_bits_is_a_4xx_not_a_crash(path: str, quiet_app: FastAPI) -> None:
    # SQLite cannot bind such an integer (OverflowError), PostgreSQL's integer columns
    # cannot be compared with it (out of range): it was a 500 on both.
    response = raw_get(quiet_app, path, [("accept", "application/json")])
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs?branch=main%00",
        "/api/metrics/demo.PA1%00",
        "/api/jobs/1/artifacts/a%00.png",
        "/api/series?metric=x%00",
        "/metric/x%00",
        "/jenkins/1%00",
    ],
)
def test_a_nul_in_a_path_or_parameter_is_a_4xx_not_a_crash(path: str, quiet_app: FastAPI) -> None:
    # PostgreSQL cannot even compare with a text holding U+0000: it was a 500 there.
    # SQLite finds nothing (200, empty) or refuses it; PostgreSQL refuses it (400).
    response = raw_get(quiet_app, path, [("accept", "application/json")])
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert response.status_code >= 400 or b"demo" not in response.content


@pytest.mark.parametrize("path", ["/status/%C2%B2", "/jobs?cursor=%C2%B2"])
def test_a_unicode_digit_is_not_taken_for_an_id(path: str, quiet_app: FastAPI) -> None:
    # '²'.isdigit() is True but int('²') fails: it was a 500.
    response = raw_get(quiet_app, path, [("accept", "application/json")])
    assert response.status_code in (400, 404), response.content[:300]


def test_a_form_body_where_json_is_expected_gets_the_squash_error_shape(
    quiet_client: TestClient,
) -> None:
    # FastAPI's own "error parsing the body" escaped the SQuaSH error format.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = quiet_client.post("/auth", content=b"username=a", headers=form)
    assert response.status_code == 400
    assert set(response.json()) >= {"message", "code"}


@pytest.mark.parametrize(
    ("path", "route", "body", "shape"),
    [
        ("/api/jobs/1/artifacts", "/api/jobs/{job_id}/artifacts", None, list),
        ("/api/subscriptions", "/api/subscriptions", {}, list),
        ("/api/subscriptions", "/api/subscriptions", {"channel": 1}, list),
        ("/api/subscriptions", "/api/subscriptions", {"channel": "pigeon"}, dict),
        ("/api/gate", "/api/gate", {"baseline": "b" * 300}, list),
        ("/api/gate", "/api/gate", {"job": {"measurements": 1}}, dict),
    ],
    ids=[
        "artifacts-without-files",
        "subscription-without-channel",
        "subscription-channel-not-a-string",
        "subscription-unknown-channel",
        "gate-baseline-too-long",
        "gate-invalid-job",
    ],
)
def test_a_422_matches_its_declared_schema_whoever_refuses_the_input(
    path: str,
    route: str,
    body: object,
    shape: type,
    quiet_client: TestClient,
    auth_headers: dict[str, str],
) -> None:
    # FastAPI refuses a body that does not fit the model with its own list before the
    # handler runs; the service refuses the rest with an ErrorModel. Both were sent where
    # only ErrorModel was declared (subscriptions, gate), or no file at all (artifacts).
    response = quiet_client.post(path, json=body, headers=auth_headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, shape), detail
    declared = quiet_client.get("/api/openapi.json").json()["paths"]
    schema = declared[route]["post"]["responses"]["422"]["content"]["application/json"]
    refs = [s["$ref"].rsplit("/", 1)[1] for s in schema["schema"]["anyOf"]]
    assert refs == ["ErrorModel", "HTTPValidationError"]
    if isinstance(detail, dict):
        assert set(detail) >= {"code", "message"}


@pytest.mark.parametrize(
    "date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", 1e300, "nonsense"]
)
def test_a_job_date_out_of_range_is_ignored_not_a_crash(
    date: object, quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # datetime.astimezone overflowed on the first and last days of the calendar: a 500.
    job = {
        "identifier": f"date-{date}",
        "measurements": [{"metric": "demo.PA1", "value": 1.0, "unit": "mmag"}],
        "meta": {"env": {"env_name": "local", "date": date}},
    }
    created = quiet_client.post("/api/jobs", json=job, headers=auth_headers)
    assert created.status_code == 201, created.text
    assert quiet_client.get(created.json()["url"]).json()["run_at"] is None


def test_a_body_nested_too_deeply_for_python_is_a_400(
    quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # Bare NaN sends the body to Python's json module, whose recursion overflowed: a 500.
    content = b'{"v": NaN, "meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {**auth_headers, "Content-Type": "application/json"}
    response = quiet_client.post("/api/jobs", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"]["field"] == "body"


@pytest.mark.parametrize(
    ("where", "value"),
    [("meta", {"env": {"env_name": "local", "x": "a\x00b"}}), ("metric", "demo.PA\x00")],
)
def test_a_nul_character_is_a_422_on_every_database(
    where: str, value: object, quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # PostgreSQL cannot store U+0000 in text or JSONB: it was a 500 there, a 201 on SQLite.
    job: dict[str, object] = {
        "identifier": "nul",
        "measurements": [{"metric": "demo.PA1", "value": math.pi, "unit": "mmag"}],
    }
    if where == "meta":
        job["meta"] = value
    else:
        job["measurements"] = [{"metric": value, "value": 1.0, "unit": "mmag"}]
    response = quiet_client.post("/api/jobs", json=job, headers=auth_headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("path", ["/api/logs", "/api/jobs", "/api/gate", "/api/subscriptions"])
def test_a_body_that_is_not_utf8_is_a_4xx_not_a_crash(
    path: str, quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # POST /api/logs validated the raw bytes with pydantic, whose 422 echoed them back:
    # no JSON answer can hold them, so answering failed (a 500).
    headers = {**auth_headers, "Content-Type": "application/json"}
    response = quiet_client.post(path, content=b"Y\x98Y\xe6h", headers=headers)
    assert 400 <= response.status_code < 500, response.text[:300]
    if path == "/api/logs":
        assert response.status_code == 400
        assert response.json()["detail"]["field"] == "body"


def test_the_fuzz_reads_the_schema_of_endpoints_added_later(tmp_path: Path) -> None:
    # The schema is read from the application, not from a copy: a route added later is
    # fuzzed too, and its 5xx found.
    settings = Settings(data_dir=tmp_path, background_worker=False)
    token = prepare_app(settings)
    app = create_app(settings)

    @app.get("/api/added-later", response_model=dict[str, int])
    def added_later(n: int) -> dict[str, int]:
        return {"n": 1 // (n % 2)}  # a 5xx for every even n

    result = fuzz(app, token, examples=10, seed=1, only=lambda label: "added-later" in label)
    assert result.operations == 1
    assert result.server_errors > 0
    assert any(f.kind == "5xx" for f in result.failures.values())


@pytest.mark.parametrize(
    "meta", [{"n": 2**70}, {"text": "\ud800"}], ids=["integer-beyond-64-bits", "lone-surrogate"]
)
def test_a_json_column_value_no_database_can_hold_is_a_400(
    meta: dict[str, object], settings: Settings
) -> None:
    # POST /api/logs and /api/monitor/exposures stored such values in JSON columns, where
    # json_dumps failed inside the insert: a 500. Any endpoint storing JSON gets a 400.
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from vigil.server.database import create_database_engine
    from vigil.server.dbschema import Base
    from vigil.server.exceptions import InvalidRequestError

    engine = create_database_engine(settings)
    jobs = Base.metadata.tables["jobs"]
    row = {"identifier": "json-column", "created_at": datetime.now(UTC)}
    try:
        with (
            engine.begin() as connection,
            pytest.raises(InvalidRequestError, match="cannot be stored as JSON"),
        ):
            connection.execute(insert(jobs).values(**row, meta=meta))
        with engine.begin() as connection:  # the same row with a value JSON can hold
            connection.execute(insert(jobs).values(**row, meta={"n": 1}))
    finally:
        engine.dispose()


@pytest.mark.parametrize("level", [-2020568, 32768, "-1", "99999"])
def test_a_log_level_no_column_holds_is_a_400_naming_the_record(
    level: int | str, quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # Levels are stored as 16-bit integers: PostgreSQL's COPY refused -2020568 (a 500),
    # SQLite stored it. Both now refuse it before anything is written.
    batch = {
        "source": "fuzz-level",
        "sequence": 1,
        "run": "levels/1",
        "kind": "ci",
        "records": [
            {"time": "2026-05-02T00:00:00Z", "message": "fine", "level": 20},
            {"time": "2026-05-02T00:00:01Z", "message": "out of range", "level": level},
        ],
    }
    response = quiet_client.post("/api/logs", json=batch, headers=auth_headers)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail["field"] == "records[1].level"
    assert "from 0 to 32767" in detail["message"]
    runs = quiet_client.get("/api/logs/runs", headers=auth_headers)
    assert runs.status_code == 200, runs.text
    assert runs.json()["items"] == []


def test_a_nul_escape_in_an_exposure_header_is_a_4xx_on_every_database(
    quiet_client: TestClient, auth_headers: dict[str, str]
) -> None:
    # The header is a JSON column: PostgreSQL's JSONB refuses the escape \u0000 that
    # U+0000 becomes (a 500 there, a 201 on SQLite).
    exposure = {"pipeline": "ql", "exposure": "00000042", "header": {"OBJECT": "a\x00b"}}
    response = quiet_client.post("/api/monitor/exposures", json=exposure, headers=auth_headers)
    assert 400 <= response.status_code < 500, response.text
    assert "U+0000" in response.text
    listed = quiet_client.get("/api/monitor/exposures", headers=auth_headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []

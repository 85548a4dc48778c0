"""lsst.verify's dispatch_verify.py, unchanged, uploads to Vigil.

`_dispatch_verify.DispatchVerifyConversation` replays its HTTP conversation call for
call (endpoint discovery at the API root, ``POST /auth``, ``POST /job`` with
``Authorization: JWT``); these tests run it against the server and read the upload back.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ._dispatch_verify import (
    DispatchVerifyConversation,
    DispatchVerifyError,
    insert_env_metadata,
    jenkins_env,
)

API_URL = "http://testserver"
NAN_METRICS = {
    "validate_drp.AM3",
    "validate_drp.AD3_design",
    "validate_drp.AF3_design",
    "validate_drp.AD3_minimum",
    "validate_drp.AF3_minimum",
    "validate_drp.AD3_stretch",
    "validate_drp.AF3_stretch",
}


def _jenkins_job(job: dict[str, Any], build_id: str = "1234") -> dict[str, Any]:
    # dispatchverify.main with --env=jenkins: the job's meta gets the Jenkins env block.
    env = jenkins_env(
        build_id,
        f"https://ci.lsst.codes/job/validate_drp/{build_id}/",
        "validate_drp",
        "validation_data_cfht",
    )
    return insert_env_metadata(copy.deepcopy(job), "jenkins", env, "2018-07-30T18:25:52Z")


def test_dispatch_verify_conversation_uploads_the_job(
    client: TestClient, user_token: tuple[str, str], verify_job: dict[str, Any]
) -> None:
    user, token = user_token
    run = DispatchVerifyConversation(client)

    response = run.main(_jenkins_job(verify_job), user, token, API_URL)

    # The exchange dispatch_verify has: discover, authenticate, upload.
    assert [(r.method, r.url, r.status_code) for r in run.requests] == [
        ("GET", API_URL, 200),
        ("POST", f"{API_URL}/auth", 200),
        ("POST", f"{API_URL}/job", 202),
    ]
    discover, login, upload = run.requests
    assert discover.headers == {"Accept": "application/json; version=1.0"}
    assert "Authorization" not in login.headers
    assert login.body == {"username": user, "password": token}
    assert upload.headers["Authorization"].startswith("JWT ")
    assert set(upload.body) == {"measurements", "blobs", "meta"}
    assert b'"value": NaN' in upload.raw  # as lsst.verify's Job JSON carries it

    # What main() logs, then the status URL SQuaSH clients follow.
    accepted = response.json()
    assert run.log_messages == [accepted["message"]]
    status = client.get(accepted["status"])
    assert status.status_code == 200
    assert status.json()["status"] == "SUCCESS"

    job = client.get(status.json()["url"]).json()
    assert len(job["measurements"]) == 30
    values = {m["metric"]: m["value"] for m in job["measurements"]}
    assert {name for name, v in values.items() if v is None} == NAN_METRICS
    assert values["validate_drp.AM1"] == pytest.approx(7.761596740329379)
    assert job["meta"]["env"]["ci_id"] == "1234"
    assert job["meta"]["env"]["env_name"] == "jenkins"
    assert job["meta"]["instrument"] == "CFHT"
    assert len(job["meta"]["packages"]) == 124
    afw = next(p for p in job["meta"]["packages"] if p["name"] == "afw")
    assert afw["git_sha"] == verify_job["meta"]["packages"]["afw"]["git_sha"]
    assert afw["eups_version"] == verify_job["meta"]["packages"]["afw"]["eups_version"]


def test_an_api_url_with_a_trailing_slash_works(
    client: TestClient, user_token: tuple[str, str], cfht_job: dict[str, Any]
) -> None:
    user, token = user_token
    run = DispatchVerifyConversation(client)
    run.main(_jenkins_job(cfht_job), user, token, API_URL + "/")
    assert run.requests[-1].status_code == 202
    assert client.get("/stats").json()["stats"]["number_of_measurements"] == 30


def test_dispatching_the_same_job_twice_stores_it_once(
    client: TestClient, user_token: tuple[str, str], verify_job: dict[str, Any]
) -> None:
    user, token = user_token
    job = _jenkins_job(verify_job)
    first = DispatchVerifyConversation(client).main(job, user, token, API_URL).json()
    second = DispatchVerifyConversation(client).main(job, user, token, API_URL).json()

    assert second["job_id"] == first["job_id"]
    assert (first["created"], second["created"]) == (True, False)
    assert client.get("/jobs").json()["ids"] == [first["job_id"]]
    assert client.get("/stats").json()["stats"]["number_of_measurements"] == 30


def test_a_wrong_password_stops_dispatch_verify_at_auth(
    client: TestClient, user_token: tuple[str, str], verify_job: dict[str, Any]
) -> None:
    user, _token = user_token
    run = DispatchVerifyConversation(client)
    with pytest.raises(DispatchVerifyError, match="401"):
        run.main(_jenkins_job(verify_job), user, "hunter2", API_URL)
    assert [r.status_code for r in run.requests] == [200, 401]
    assert client.get("/jobs").json()["ids"] == []

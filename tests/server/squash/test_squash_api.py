"""Behaviours SQuaSH clients rely on, checked on the real jobs uploaded through POST /job."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from starlette.requests import Request

from vigil.server.factory import Factory
from vigil.server.handlers.squash import prefers_json

from ._support import job_document, post_job

NAN_METRICS = {
    "validate_drp.AM3",
    "validate_drp.AD3_design",
    "validate_drp.AF3_design",
    "validate_drp.AD3_minimum",
    "validate_drp.AF3_minimum",
    "validate_drp.AD3_stretch",
    "validate_drp.AF3_stretch",
}


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def test_nan_measurements_read_back_as_null_never_zero(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    job_id = post_job(client, token, job_document(verify_job, ci_id="11"))["job_id"]

    for url in (f"/job/{job_id}", f"/measurement/{job_id}", "/measurements"):
        response = client.get(url)
        assert "NaN" not in response.text
        values = {m["metric"]: m["value"] for m in response.json()["measurements"]}
        assert len(values) == 30
        assert {name for name, value in values.items() if value is None} == NAN_METRICS, url
        assert all(values[name] != 0 for name in values)
    monitor = client.get("/monitor", params={"metric": "validate_drp.AM3", "period": "All"}).json()
    assert monitor["value"] == [None]


def test_a_blob_reads_back_as_sent_with_nan_as_null(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    job_id = post_job(client, token, job_document(verify_job, ci_id="12"))["job_id"]
    for metric, name in [
        ("validate_drp.AM1", "MatchedMultiVisitDataset"),  # large arrays
        ("validate_drp.AF3_design", "validate_drp.AF3_design"),  # its ADx datum is NaN
    ]:
        sent = next(b for b in verify_job["blobs"] if b["name"] == name)
        response = client.get(f"/blob/{job_id}", params={"metric": metric, "name": name})
        assert response.status_code == 200
        data = response.json()
        assert {k: d["value"] for k, d in data.items()} == {
            k: _nan_to_none(d["value"]) for k, d in sent["data"].items()
        }
    assert data["ADx"]["value"] is None

    wrong_metric = client.get(
        f"/blob/{job_id}",
        params={"metric": "validate_drp.PA1", "name": "validate_drp.AM1"},
    )
    assert wrong_metric.status_code == 404
    assert "validate_drp.PA1" in wrong_metric.json()["message"]


def test_long_metric_names_work_everywhere(client: TestClient, token: str) -> None:
    metric = "validate_drp." + "photometricRepeatability_" * 12 + "HSC_i"
    spec = metric + ".design_" + "x" * 100
    assert len(metric) > 300 and len(spec) > 400
    doc = {
        "measurements": [
            {
                "metric": metric,
                "identifier": "a" * 32,
                "value": 4.25,
                "unit": "mmag",
                "blob_refs": ["b" * 32],
            }
        ],
        "blobs": [{"identifier": "b" * 32, "name": metric, "data": {"n": {"value": 3}}}],
        "metrics": [{"name": metric, "description": "long", "unit": "mmag", "tags": ["x"]}],
        "specs": [
            {
                "name": spec,
                "type": "threshold",
                "threshold": {"value": 5.0, "unit": "mmag", "operator": "<="},
                "metadata_query": {"filter_name": "HSC-I"},
                "tags": ["design"],
            }
        ],
        "meta": {"env": {"env_name": "jenkins", "ci_id": "1", "ci_name": "long"}},
    }
    job_id = post_job(client, token, doc)["job_id"]

    assert client.get(f"/metric/{metric}").json()["name"] == metric
    measured = client.get("/measurements", params={"metric": metric}).json()["measurements"]
    assert [(m["metric"], m["value"]) for m in measured] == [(metric, 4.25)]
    blob = client.get(f"/blob/{job_id}", params={"metric": metric, "name": metric})
    assert blob.json()["n"]["value"] == 3
    specs = client.get("/specs", params={"metric": metric, "filter_name": "HSC-I"}).json()
    assert [s["name"] for s in specs["specs"]] == [spec]
    assert client.get(f"/spec/{spec}").json()["metric"] == metric


def test_the_same_job_sent_twice_is_stored_once(
    client: TestClient, token: str, cfht_job: dict[str, Any]
) -> None:
    doc = job_document(cfht_job, full=True)
    first = post_job(client, token, doc)
    post_job(client, token, job_document(cfht_job, ci_id="77"))  # another job in between
    again = post_job(client, token, doc)

    assert again["job_id"] == first["job_id"]
    assert (first["created"], again["created"]) == (True, False)
    assert "already stored" in again["message"]
    stats = client.get("/stats").json()["stats"]
    assert (stats["number_of_jobs"], stats["number_of_measurements"]) == (2, 60)


def test_code_changes_list_the_packages_changed_since_the_previous_run(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    before = copy.deepcopy(verify_job["meta"]["packages"])
    after = copy.deepcopy(before)
    after["afw"].update(git_sha="f" * 40, eups_version="16.0-12-gffffffff")
    after["new_pkg"] = {
        "name": "new_pkg",
        "git_sha": "1" * 40,
        "git_url": "https://github.com/lsst/new_pkg.git",
        "git_branch": None,
        "eups_version": "1.0",
    }
    del after["xpa"]

    first = post_job(client, token, job_document(verify_job, ci_id="201", packages=before))
    # A run of another CI job in between is not "the previous run".
    post_job(client, token, job_document(verify_job, ci_id="900", ci_name="ap_verify"))
    second = post_job(client, token, job_document(verify_job, ci_id="202", packages=after))

    changes = client.get("/code_changes/202", params={"ci_name": "validate_drp"}).json()
    assert changes["id"] == second["job_id"]
    assert changes["previous_id"] == first["job_id"]
    assert sorted(map(tuple, changes["packages"])) == [
        ("afw", "f" * 40, before["afw"]["git_url"]),
        ("new_pkg", "1" * 40, "https://github.com/lsst/new_pkg.git"),
    ]
    assert changes["counts"] == 2
    # ci_name defaults to that of the run.
    assert client.get("/code_changes/202").json() == changes

    first_run = client.get("/code_changes/201").json()
    assert (first_run["id"], first_run["previous_id"], first_run["counts"]) == (
        first["job_id"],
        None,
        0,
    )
    unknown = client.get("/code_changes/999").json()
    assert unknown == {"id": None, "previous_id": None, "packages": [], "counts": 0}


def test_specs_filter_on_metric_metadata_query_and_tag(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    post_job(client, token, job_document(verify_job, ci_id="5", full=True))

    def names(**query: str) -> list[str]:
        response = client.get("/specs", params=query)
        assert response.status_code == 200
        return [s["name"] for s in response.json()["specs"]]

    assert len(names(metric="validate_drp.PA1")) == 60
    assert names(metric="validate_drp.PA1", filter_name="r") == [
        "validate_drp.PA1.cfht_design_r",
        "validate_drp.PA1.cfht_minimum_r",
        "validate_drp.PA1.cfht_stretch_r",
        "validate_drp.PA1.decam_design_r",
        "validate_drp.PA1.decam_minimum_r",
        "validate_drp.PA1.decam_stretch_r",
    ]
    assert names(
        metric="validate_drp.PA1", filter_name="r", dataset_name="validation_data_decam"
    ) == [
        "validate_drp.PA1.decam_design_r",
        "validate_drp.PA1.decam_minimum_r",
        "validate_drp.PA1.decam_stretch_r",
    ]
    assert names(metric="validate_drp.PA1", filter_name="r", tag="stretch") == [
        "validate_drp.PA1.cfht_stretch_r",
        "validate_drp.PA1.decam_stretch_r",
    ]
    assert names(metric="validate_drp.PA1", filter_name="HSC-R", tag="design") == [
        "validate_drp.PA1.hsc_design_r"
    ]
    assert names(metric="validate_drp.PA1", tag="no-such-tag") == []


def test_jenkins_finds_the_job_of_a_run(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    ours = post_job(client, token, job_document(verify_job, ci_id="301"))["job_id"]
    other = post_job(client, token, job_document(verify_job, ci_id="301", ci_name="other"))[
        "job_id"
    ]
    found = client.get("/jenkins/301", params={"ci_name": "validate_drp"}).json()
    assert found["id"] == ours
    assert found["meta"]["env"]["ci_name"] == "validate_drp"
    assert client.get("/jenkins/301").json()["id"] == other
    missing = client.get("/jenkins/302", params={"ci_name": "validate_drp"})
    assert missing.status_code == 404
    assert "302" in missing.json()["message"]


def test_real_jobs_read_back_with_their_metadata(
    client: TestClient, token: str, verify_job_bytes: bytes, cfht_job_bytes: bytes
) -> None:
    headers = {"Authorization": f"JWT {token}", "Content-Type": "application/json"}
    ids = []
    for raw in (verify_job_bytes, cfht_job_bytes):  # the files as they are, bare NaN and all
        response = client.post("/job", content=raw, headers=headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])

    verify, cfht = (client.get(f"/job/{i}").json() for i in ids)
    assert verify["meta"]["env"]["env_name"] == "jenkins"
    assert verify["meta"]["filter_name"] == "r"
    assert len(verify["meta"]["packages"]) == 124
    assert cfht["meta"]["env"] == {}
    assert cfht["meta"]["packages"] == []
    assert cfht["ci_dataset"] == verify["ci_dataset"] == "validation_data_cfht"
    assert len(cfht["measurements"]) == 30
    assert client.get("/datasets").json() == {"datasets": ["validation_data_cfht"]}
    packages = client.get("/packages").json()["packages"]
    assert "validate_drp" in packages and "jointcal" in packages
    stats = client.get("/stats").json()["stats"]
    assert (stats["number_of_jobs"], stats["number_of_measurements"]) == (2, 60)
    assert stats["number_of_metrics"] >= 62


def test_lists_are_bounded_and_page_through_everything(
    make_app: Callable[..., FastAPI], factory: Factory, token: str, verify_job: dict[str, Any]
) -> None:
    with TestClient(make_app(page_size_max=7)) as client:
        job_id = post_job(client, token, job_document(verify_job, ci_id="1"))["job_id"]
        post_job(client, token, job_document(verify_job, ci_id="2"))

        seen: list[str] = []
        url: str | None = "/measurements?job_id=" + str(job_id)
        pages = 0
        while url:
            page = client.get(url).json()
            assert len(page["measurements"]) <= 7
            seen += [m["identifier"] for m in page["measurements"]]
            assert page["truncated"] == (page["next"] is not None)
            url, pages = page["next"], pages + 1
        assert pages == 5
        assert sorted(seen) == sorted(m["identifier"] for m in verify_job["measurements"])

        job = client.get(f"/job/{job_id}").json()
        assert (len(job["measurements"]), job["measurements_truncated"]) == (7, True)
        jobs = client.get("/jobs", params={"limit": 1}).json()
        assert (jobs["ids"], jobs["truncated"]) == ([job_id], True)
        assert client.get(jobs["next"]).json()["ids"] == [job_id + 1]
        assert client.get("/metrics", params={"limit": 1000}).json()["truncated"] is True
        assert client.get("/jobs", params={"limit": 0}).status_code == 400


def test_upload_errors_are_4xx_naming_the_field(
    client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    jwt = {"Authorization": f"JWT {token}"}

    def post(body: Any, headers: dict[str, str] = jwt, raw: bytes | None = None) -> Any:
        content = raw if raw is not None else json.dumps(body).encode()
        return client.post("/job", content=content, headers=headers)

    doc = job_document(verify_job, ci_id="3")
    no_token = post(doc, headers={})
    assert no_token.status_code == 401
    assert "token" in no_token.json()["message"]
    assert post(doc, headers={"Authorization": "JWT vgl_1_" + "x" * 43}).status_code == 401

    cases = [
        ({"measurements": doc["measurements"]}, "meta"),
        ({"measurements": {}, "meta": {}}, "measurements"),
        ({"measurements": [{"value": 1.0, "unit": ""}], "meta": {}}, "measurements[0]"),
        ({"measurements": doc["measurements"], "meta": {"env": {"ci_id": "3"}}}, "env_name"),
    ]
    for body, field in cases:
        response = post(body)
        assert response.status_code == 400, response.text
        error = response.json()
        assert field in (error.get("field") or "") or field in error["message"], error
    not_json = post(None, raw=b'{"measurements": [')
    assert not_json.status_code == 400
    assert not_json.json()["code"] == "invalid_json"
    assert client.get("/jobs").json()["ids"] == []


def test_auth_accepts_only_a_token_of_that_user(
    client: TestClient, factory: Factory, token: str
) -> None:
    ok = client.post("/auth", json={"username": "tester", "password": token})
    assert ok.status_code == 200
    access = ok.json()["access_token"]
    assert (
        client.post(
            "/job",
            json={"measurements": [], "meta": {"env": {}}},
            headers={"Authorization": f"JWT {access}"},
        ).status_code
        == 400
    )  # past authentication: the body is what is wrong

    users = factory.create_user_service()
    users.create_user("someone-else")
    other = users.create_token("someone-else").text
    wrong_user = client.post("/auth", json={"username": "tester", "password": other})
    assert wrong_user.status_code == 401
    assert "does not belong to 'tester'" in wrong_user.json()["message"]
    not_a_token = client.post("/auth", json={"username": "tester", "password": "secret"})
    assert not_a_token.status_code == 401
    assert "vigil token create tester" in not_a_token.json()["message"]
    users.revoke_token(other)
    revoked = client.post("/auth", json={"username": "someone-else", "password": other})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["message"]
    missing = client.post("/auth", json={"username": "tester"})
    assert (missing.status_code, missing.json()["field"]) == (400, "password")


def test_a_private_server_still_lets_dispatch_verify_discover_and_log_in(
    make_app: Callable[..., FastAPI], token: str
) -> None:
    with TestClient(make_app(public_read=False)) as client:
        assert client.get("/").json()["job"].endswith("/job")
        assert (
            client.post("/auth", json={"username": "tester", "password": token}).status_code == 200
        )
        assert client.get("/jobs").status_code == 401
        assert client.get("/jobs", headers={"Authorization": f"JWT {token}"}).status_code == 200


def test_status_of_an_unknown_upload_is_404(client: TestClient) -> None:
    response = client.get("/status/12345")
    assert response.status_code == 404
    assert response.json()["field"] == "task_id"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json; version=1.0", True),  # lsst.verify's squash.get
        ("*/*", True),
        ("", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json, text/html", True),
    ],
)
def test_the_root_is_json_for_json_clients(accept: str, expected: bool) -> None:
    request = Request({"type": "http", "headers": [(b"accept", accept.encode())]})
    assert prefers_json(request) is expected


def test_reads_cost_the_same_number_of_queries_whatever_the_size(
    make_app: Callable[..., FastAPI], token: str, verify_job: dict[str, Any]
) -> None:
    # No background worker: its passes over the analysis queue share the engine and
    # would be counted with the page's own statements.
    app = make_app(background_worker=False)
    with TestClient(app) as client:
        _count_read_queries(app, client, token, verify_job)


def _count_read_queries(
    app: FastAPI, client: TestClient, token: str, verify_job: dict[str, Any]
) -> None:
    engine = app.state.process_context.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def queries(url: str) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    first = post_job(client, token, job_document(verify_job, ci_id="1"))["job_id"]
    urls = [f"/job/{first}", "/measurements", "/specs", "/metrics", "/default", "/jobs"]
    small = {url: queries(url) for url in urls}
    for ci_id in ("2", "3"):
        post_job(client, token, job_document(verify_job, ci_id=ci_id, full=True))
    assert {url: queries(url) for url in urls} == small

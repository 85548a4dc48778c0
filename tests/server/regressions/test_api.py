"""The regressions, subscriptions and gate API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ._support import history, ingest, make_job


@pytest.fixture
def regression_id(factory: Factory, run_worker: Callable[[], Any]) -> int:
    ingest(factory, history())
    run_worker()
    return int(
        factory.create_regression_service()
        .list_regressions(
            __import__("vigil.server.domain.regressions", fromlist=["x"]).RegressionFilter(
                kind="regression"
            ),
            limit=1,
        )
        .items[0]
        .id
    )


def test_list_and_detail(client: TestClient, regression_id: int) -> None:
    page = client.get("/api/regressions", params={"status": "open", "kind": "regression"})
    assert page.status_code == 200
    [item] = page.json()["items"]
    assert item["id"] == regression_id
    assert item["series"]["metric"] == "validate_drp.PA1"
    assert item["html_url"].endswith(f"/regressions/{regression_id}")
    detail = client.get(f"/api/regressions/{regression_id}").json()
    assert detail["commits"][0]["author_email"] == "chen@example.org"
    assert detail["packages"][0]["name"] == "pipe_tasks"
    assert detail["last_good"]["id"] == detail["first_bad"]["id"] - 1
    assert client.get("/api/regressions", params={"metric": "nope"}).json()["items"] == []
    bad = client.get("/api/regressions", params={"status": "closed"})
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "status"
    assert client.get("/api/regressions/999999").json()["detail"]["code"] == (
        "regression_not_found"
    )


def test_status_changes_need_a_token_and_record_who(
    client: TestClient, regression_id: int, auth_headers: dict[str, str]
) -> None:
    url = f"/api/regressions/{regression_id}"
    assert client.patch(url, json={"status": "acknowledged"}).status_code == 401
    answer = client.patch(
        url, json={"status": "acknowledged", "note": "Looking at it"}, headers=auth_headers
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "acknowledged"
    event = body["events"][-1]
    assert (event["user"], event["from_status"], event["to_status"], event["note"]) == (
        "tester",
        "open",
        "acknowledged",
        "Looking at it",
    )
    note = client.patch(url, json={"note": "PR #12 reverts it"}, headers=auth_headers).json()
    assert note["events"][-1]["action"] == "note" and note["status"] == "acknowledged"
    wrong = client.patch(url, json={"status": "gone"}, headers=auth_headers)
    assert wrong.status_code == 400 and "false_positive" in wrong.json()["detail"]["message"]
    assert client.patch(url, json={}, headers=auth_headers).status_code == 400


def test_subscriptions_crud(
    client: TestClient, auth_headers: dict[str, str], factory: Factory
) -> None:
    created = client.post(
        "/api/subscriptions",
        json={"channel": "email", "metric_pattern": "validate_drp.PA*", "dataset": "hsc"},
        headers=auth_headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["target"] == "tester@example.org" and body["user"] == "tester"
    listed = client.get("/api/subscriptions", headers=auth_headers).json()
    assert [s["id"] for s in listed] == [body["id"]]
    users = factory.create_user_service()
    users.create_user("other", "other@example.org")
    other = {"Authorization": f"Bearer {users.create_token('other').text}"}
    assert client.get("/api/subscriptions", headers=other).json() == []
    assert client.get(f"/api/subscriptions/{body['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/subscriptions/{body['id']}", headers=other).status_code == 404
    users.create_user("root", is_admin=True)
    admin = {"Authorization": f"Bearer {users.create_token('root').text}"}
    everyone = client.get("/api/subscriptions", params={"all": True}, headers=admin).json()
    assert [s["user"] for s in everyone] == ["tester"]
    assert (
        client.delete(f"/api/subscriptions/{body['id']}", headers=auth_headers).status_code == 204
    )
    assert client.get("/api/subscriptions", headers=auth_headers).json() == []
    assert client.get("/api/subscriptions").status_code == 401


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"metric_pattern": "validate_drp.[PA1"}, "metric_pattern", "never closed"),
        ({"metric_pattern": "re:PA1(("}, "metric_pattern", "missing )"),
        ({"metric_pattern": "x]"}, "metric_pattern", "without a '['"),
        ({"channel": "pigeon"}, "channel", "email, webhook, slack"),
        ({"channel": "webhook", "target": "ftp://example.org/x"}, "target", "http(s) URL"),
        ({"target": "not-an-address"}, "target", "not an email address"),
    ],
)
def test_a_malformed_subscription_is_refused_with_the_reason(
    client: TestClient,
    auth_headers: dict[str, str],
    fields: dict[str, str],
    field: str,
    reason: str,
) -> None:
    answer = client.post(
        "/api/subscriptions", json={"channel": "email", **fields}, headers=auth_headers
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail["code"] == "invalid_subscription" and detail["field"] == field
    assert reason in detail["message"]
    assert client.get("/api/subscriptions", headers=auth_headers).json() == []


def test_the_gate_judges_a_job_document_against_main(client: TestClient, factory: Factory) -> None:
    ingest(factory, history(after=0))
    branch_job = make_job(
        25, {"validate_drp.PA1": 12.5, "validate_drp.AM1": 8.0}, branch="tickets/DM-2"
    )
    answer = client.post("/api/gate", json={"job": branch_job, "baseline": "main"})
    assert answer.status_code == 200
    report = answer.json()
    assert report["regression_count"] == 1
    verdicts = {v["metric"]: v for v in report["verdicts"]}
    assert verdicts["validate_drp.PA1"]["verdict"] == "regression"
    assert verdicts["validate_drp.PA1"]["baseline_count"] == 20
    assert verdicts["validate_drp.AM1"]["verdict"] == "no change"
    stored = ingest(factory, [branch_job])[0]
    by_id = client.post("/api/gate", json={"job_id": stored, "baseline": "fork-point"}).json()
    assert by_id["regression_count"] == 1
    assert "first job of tickets/DM-2" in by_id["baseline_description"]
    bad = client.post("/api/gate", json={"job": {"measurements": []}})
    assert bad.status_code == 422
    assert client.post("/api/gate", json={"baseline": "main"}).status_code == 400

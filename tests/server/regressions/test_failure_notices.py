"""Failure notices: a failed processing, a silent runner and a failed CI job reach the
subscribers (a real SMTP server, a real webhook receiver) once per event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner, now
from vigil.server.config import Settings
from vigil.server.domain import User
from vigil.server.domain.regressions import SubscriptionDraft
from vigil.server.factory import Factory

from ._support import AUTHORS, SmtpServer, WebhookReceiver, ingest, make_job, text_of


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], smtp: SmtpServer, webhook: WebhookReceiver
) -> Settings:
    """The regression tests' settings, with authors and a stakeholder told and a silence
    of a minute."""
    return make_settings(
        webhook_allowed_hosts=[f"127.0.0.1:{webhook.port}"],
        background_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="vigil@example.org",
        notify_authors=True,
        stakeholders=["qa-lead@example.org"],
        outbox_backoff_seconds=0.0,
        notification_timeout=5.0,
        base_url="http://vigil.example.org",
        monitor_silent_seconds=60,
    )


def _subscribe(factory: Factory, user: User, **fields: Any) -> None:
    factory.create_subscription_service().create(user, SubscriptionDraft(**fields))


def _post(client: TestClient, headers: dict[str, str], batch: dict[str, Any]) -> None:
    response = client.post("/api/monitor/events", json=batch, headers=headers)
    assert response.status_code == 200, response.text


def _failures(webhook: WebhookReceiver) -> list[dict[str, Any]]:
    return [body for _, body in webhook.received if body.get("event") == "failure"]


def test_a_failed_processing_reaches_email_and_webhook_subscribers_once(
    client: TestClient,
    auth_headers: dict[str, str],
    factory: Factory,
    tester: User,
    smtp: SmtpServer,
    webhook: WebhookReceiver,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="email")
    _subscribe(factory, tester, channel="webhook", target=webhook.url, dataset="ql")
    # Filters that name another pipeline, or metrics only, do not hear of failures.
    _subscribe(factory, tester, channel="webhook", target=webhook.url + "/other", package="qlf2")
    _subscribe(factory, tester, channel="webhook", target=webhook.url + "/m", metric_pattern="x.*")
    runner = Runner("ql")
    key, events = runner.processing(
        "00000042", ["b0", "b1", "r2"], fail={"b1": 3, "r2": -9}, lines={"b1": ["Error: no arc"]}
    )
    batch = runner.batch(events)
    _post(client, auth_headers, batch)
    _post(client, auth_headers, batch)  # the same batch again: applied once
    again = {"type": "processing_ended", "time": now(), "processing": key, "status": "failed"}
    _post(client, auth_headers, runner.batch([again]))  # a repeated end: told once
    report = run_worker()
    assert report.delivery.delivered == 2
    assert run_worker().delivery.delivered == 0

    [mail] = smtp.messages
    assert mail["To"] == "tester@example.org"
    assert "ql: processing of exposure 00000042 failed (2 of 3 units)" in mail["Subject"]
    body = text_of(mail)
    assert "b1: failed, exit status 3" in body
    assert "r2: failed, exit status -9" in body
    assert "| ValueError: boom" in body
    assert "b0:" not in body
    assert "http://vigil.example.org/monitor/processings/" in body

    [(headers, notice)] = [(h, b) for h, b in webhook.received if b.get("event") == "failure"]
    assert headers["X-Vigil-Event"] == f"failure:processing:{key}"
    assert notice["kind"] == "processing" and notice["pipeline"] == "ql"
    units = {u["name"]: u for u in notice["units"]}
    assert set(units) == {"b1", "r2"}
    assert units["b1"]["exit_status"] == 3
    assert units["b1"]["last_lines"] == ["Traceback (most recent call last):", "ValueError: boom"]
    assert units["r2"]["exit_status"] == -9


def test_a_unit_killed_on_its_timeout_fails_its_processing_and_is_told(
    client: TestClient,
    auth_headers: dict[str, str],
    factory: Factory,
    tester: User,
    smtp: SmtpServer,
    webhook: WebhookReceiver,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="email")
    _subscribe(factory, tester, channel="webhook", target=webhook.url, package="ql")
    runner = Runner("ql")
    _, events = runner.processing("00000044", ["b0", "r2"], fail={"r2": -15})
    for event in events:
        if event["type"] == "unit_ended" and event["unit"] == "r2":
            event.update(status="killed", message="killed after 2 s (run.timeout)")
    _post(client, auth_headers, runner.batch(events))

    [row] = client.get("/api/monitor/processings").json()["items"]
    assert row["status"] == "failed" and row["failed_count"] == 1
    units = {
        u["name"]: u for u in client.get(f"/api/monitor/processings/{row['id']}").json()["units"]
    }
    assert units["r2"]["status"] == "killed" and units["r2"]["exit_status"] == -15
    alerts = client.get("/api/monitor/live", params={"pipeline": "ql"}).json()["alerts"]
    assert [(a["unit"], a["kind"]) for a in alerts if a["kind"] == "failed"] == [("r2", "failed")]
    page = client.get(f"/monitor/processings/{row['id']}")
    assert 'data-testid="failed-units"' in page.text and ">killed</span>" in page.text

    assert run_worker().delivery.delivered == 2
    [notice] = _failures(webhook)
    assert notice["title"] == "ql: processing of exposure 00000044 failed (1 of 2 units)"
    assert [(u["name"], u["status"], u["exit_status"]) for u in notice["units"]] == [
        ("r2", "killed", -15)
    ]
    [mail] = smtp.messages
    body = text_of(mail)
    assert "r2: killed (its timeout fired), exit status -15" in body
    assert "killed after 2 s (run.timeout)" in body and "b0:" not in body


def test_a_succeeded_processing_tells_nobody(
    client: TestClient,
    auth_headers: dict[str, str],
    factory: Factory,
    tester: User,
    smtp: SmtpServer,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="email")
    runner = Runner("ql")
    _, events = runner.processing("00000043", ["b0"])
    _post(client, auth_headers, runner.batch(events))
    run_worker()
    assert smtp.messages == []


def test_a_silent_runner_is_announced_once_per_silence(
    client: TestClient,
    auth_headers: dict[str, str],
    factory: Factory,
    tester: User,
    webhook: WebhookReceiver,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="webhook", target=webhook.url, package="ql")
    runner = Runner("ql")
    beat = {"type": "heartbeat", "time": now(), "pipeline": "ql"}
    _post(client, auth_headers, runner.batch([beat]))
    failures = factory.create_failure_notice_service()
    assert failures.announce_silences() == 0  # heard just now
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert failures.announce_silences(later) == 1
    assert failures.announce_silences(later + timedelta(minutes=5)) == 0  # the same silence
    assert run_worker().delivery.delivered == 1
    [notice] = _failures(webhook)
    assert notice["kind"] == "silent" and notice["pipeline"] == "ql"
    assert notice["limit_seconds"] == 60
    assert "the runner is silent since" in notice["title"]

    # Heard again, then silent again: a new silence, told again.
    _post(client, auth_headers, runner.batch([beat]))
    assert failures.announce_silences(datetime.now(UTC) + timedelta(minutes=5)) == 1
    # A pipeline stopped on purpose is not a silent runner.
    client.put("/api/monitor/pipelines/ql/state", json={"state": "stopped"}, headers=auth_headers)
    _post(client, auth_headers, runner.batch([beat]))
    assert failures.announce_silences(datetime.now(UTC) + timedelta(minutes=5)) == 0


def test_a_failed_ci_job_reaches_subscribers_and_the_suspect_author(
    factory: Factory,
    tester: User,
    smtp: SmtpServer,
    webhook: WebhookReceiver,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="email", dataset="validation_data_hsc")
    _subscribe(factory, tester, channel="webhook", target=webhook.url, package="validate_drp")
    jobs = [make_job(night, {"validate_drp.PA1": 10.0}) for night in range(6)]
    for job in jobs:
        job["meta"]["env"] = {"status": 0, "ci_url": "https://ci.example.org/run"}
    jobs[4]["meta"]["env"]["status"] = 1  # failed, and so did the next one
    jobs[5]["meta"]["env"]["status"] = "FAILURE"
    ids = ingest(factory, jobs)
    ingest(factory, [make_job(9, {"validate_drp.PA1": 10.0}, branch="ticket/DM-1")])
    report = run_worker()
    # Two events (jobs 4 and 5); the subscriber's email and webhook, and the authors.
    assert report.delivery.delivered == report.queued_messages
    assert run_worker().queued_messages == 0

    events = {h["X-Vigil-Event"] for h, b in webhook.received if b.get("event") == "failure"}
    assert events == {f"failure:job:{ids[4]}", f"failure:job:{ids[5]}"}
    latest = next(b for b in _failures(webhook) if b["job"]["id"] == ids[5])
    assert latest["status"] == "FAILURE"
    assert latest["last_good_job_id"] == ids[3]
    suspects = [c["author_email"] for c in latest["suspect_commits"]]
    assert suspects == [AUTHORS[4 % len(AUTHORS)], AUTHORS[5 % len(AUTHORS)]]

    to = sorted(m["To"] for m in smtp.messages)
    # tester twice (two events); job 4's author once, job 5's authors once each.
    assert to.count("tester@example.org") == 2
    # The stakeholder hears of each failed main-line job, not as a suspect author.
    told = [m for m in smtp.messages if m["To"] == "qa-lead@example.org"]
    assert sorted(m["Subject"].split(" with ")[0] for m in told) == sorted(
        f"[Vigil] FAILED: CI job {ids[n]} failed" for n in (4, 5)
    )
    assert all("a commit of yours" not in text_of(m) for m in told)
    author = AUTHORS[5 % len(AUTHORS)]
    [personal] = [m for m in smtp.messages if m["To"] == author]
    assert f"CI job {ids[5]} failed with status FAILURE" in personal["Subject"]
    text = text_of(personal)
    assert "a commit of yours is a suspect" in text
    assert "https://ci.example.org/run" in text
    assert f"last main-line job that did not fail: job {ids[3]}" in text

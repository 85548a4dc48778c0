"""Notifications: one digest per job and channel, delivered at least once and never twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.server.domain import User
from vigil.server.domain.regressions import SubscriptionDraft
from vigil.server.factory import Factory

from ._support import AUTHORS, SmtpServer, WebhookReceiver, history, ingest, text_of


def _subscribe(factory: Factory, user: User, **fields: Any) -> None:
    factory.create_subscription_service().create(user, SubscriptionDraft(**fields))


def test_an_email_arrives_at_a_real_smtp_server(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="email", metric_pattern="validate_drp.PA*")
    ingest(factory, history(regressed=["validate_drp.PA1"]))
    report = run_worker()
    assert report.analysis.created >= 1
    assert report.delivery.delivered == 1
    [mail] = smtp.messages
    assert mail["To"] == "tester@example.org"
    assert "1 regression after job" in mail["Subject"]
    body = text_of(mail)
    assert "REGRESSION: validate_drp.PA1 on validation_data_hsc" in body
    assert "http://vigil.example.org/regressions/" in body
    assert run_worker().delivery.delivered == 0


def test_one_digest_per_job_not_one_message_per_metric(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="email", dataset="validation_data_hsc")
    ingest(factory, history(regressed=["validate_drp.PA1", "validate_drp.AM1"]))
    run_worker()
    [mail] = smtp.messages
    assert "2 regressions after job" in mail["Subject"]
    assert "validate_drp.PA1" in text_of(mail)
    assert "validate_drp.AM1" in text_of(mail)


def test_subscriptions_filter_by_pattern(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="email", metric_pattern="re:.*AM[0-9]")
    ingest(factory, history(regressed=["validate_drp.PA1"]))
    run_worker()
    assert smtp.messages == []


def test_webhooks_plain_json_and_slack(
    factory: Factory, tester: User, webhook: WebhookReceiver, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="webhook", target=webhook.url)
    _subscribe(factory, tester, channel="slack", target=webhook.url + "/slack")
    ingest(factory, history())
    report = run_worker()
    assert report.delivery.delivered == 2
    events = {headers["X-Vigil-Event"] for headers, _ in webhook.received}
    assert len(events) == 1, "both messages are the same event"
    plain = next(b for _, b in webhook.received if "event" in b)
    slack = next(b for _, b in webhook.received if "blocks" in b)
    assert plain["event"] == "regressions"
    [regression] = plain["regressions"]
    assert regression["metric"] == "validate_drp.PA1"
    assert regression["kind"] == "regression"
    assert 0.15 < regression["relative_size"] < 0.25
    assert regression["first_bad_job_id"] == plain["job"]["id"] - 5
    assert "1 regression after job" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"


def test_an_unreachable_smtp_server_gets_the_email_once_when_back(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="email")
    smtp.stop()
    ingest(factory, history())
    report = run_worker()
    assert report.delivery.delivered == 0 and report.delivery.retried == 1
    [waiting] = factory.create_outbox_service().pending()
    assert waiting.attempts == 1 and waiting.last_error
    smtp.inbox.messages.clear()
    smtp.start()
    assert run_worker().delivery.delivered == 1
    assert run_worker().delivery.delivered == 0
    assert len(smtp.messages) == 1
    assert factory.create_outbox_service().pending() == []


def test_a_failing_webhook_is_retried_until_it_answers(
    factory: Factory, tester: User, webhook: WebhookReceiver, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="webhook", target=webhook.url)
    webhook.status = 503
    ingest(factory, history())
    assert run_worker().delivery.retried == 1
    assert run_worker().delivery.retried == 1
    webhook.status = 200
    assert run_worker().delivery.delivered == 1
    assert run_worker().delivery.delivered == 0
    assert len(webhook.received) == 3
    [message] = factory.create_outbox_service().messages()
    assert message.attempts == 3 and message.delivered_at is not None


def test_announcing_twice_queues_nothing_twice(
    factory: Factory, tester: User, smtp: SmtpServer
) -> None:
    _subscribe(factory, tester, channel="email")
    ingest(factory, history())
    factory.create_regression_service().process_queue()
    notifications = factory.create_notification_service()
    assert notifications.announce() == 1
    assert notifications.announce() == 0
    assert len(factory.create_outbox_service().messages()) == 1


def test_authors_of_suspect_commits_and_stakeholders_are_told(
    make_settings: Callable[..., Any], smtp: SmtpServer
) -> None:
    settings = make_settings(
        background_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        notify_authors=True,
        stakeholders="boss@example.org, qa@example.org",
        requirement_tags="requirement",
    )
    spec = {
        "name": "validate_drp.PA1.srd",
        "type": "threshold",
        "threshold": {"value": 11.0, "unit": "mmag", "operator": "<="},
        "tags": ["requirement"],
    }
    jobs = history()
    for job in jobs:
        job["specs"] = [spec]
    with Factory.standalone(settings) as factory:
        ingest(factory, jobs)
        factory.create_worker_service().run_once()
    recipients = sorted(m["To"] for m in smtp.messages)
    first_bad_author = AUTHORS[20 % len(AUTHORS)]
    assert recipients == sorted(["boss@example.org", "qa@example.org", first_bad_author])
    # Stakeholders hear of the change point, with the requirement it makes fail inside
    # it: one change, one entry (not one more for the specification); the author of the
    # suspect commit of the change point too.
    boss = next(m for m in smtp.messages if m["To"] == "boss@example.org")
    assert "1 regression after" in boss["Subject"]
    assert "REGRESSION: validate_drp.PA1" in text_of(boss)
    assert "now fails validate_drp.PA1.srd" in text_of(boss)
    assert "FAILS" not in text_of(boss)
    author = next(m for m in smtp.messages if m["To"] == first_bad_author)
    assert "1 regression after" in author["Subject"]

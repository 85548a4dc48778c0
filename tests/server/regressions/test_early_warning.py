"""Early warning: a jump far outside the noise is suspected on its first run, then
confirmed (the same record) or dissolved; subscriptions choose when they are told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.domain import User
from vigil.server.domain.regressions import Regression, RegressionFilter, SubscriptionDraft
from vigil.server.factory import Factory
from vigil.server.services.notifications import InvalidSubscriptionError

from ._support import (
    METRICS,
    SmtpServer,
    WebhookReceiver,
    history,
    ingest,
    make_job,
    text_of,
)

PA1 = "validate_drp.PA1"
LEVELS = {name: spec["level"] for name, spec in METRICS.items()}


def _night(night: int, factor: float) -> dict[str, Any]:
    """Night *night* with PA1 at *factor* times its level (noise 1 %: 1.2 is 20 sigma)."""
    return make_job(night, {**LEVELS, PA1: LEVELS[PA1] * factor})


def _pa1_records(factory: Factory, *, dissolved: bool = False) -> list[Regression]:
    found = factory.create_regression_service().list_regressions(
        RegressionFilter(metric=PA1, include_dissolved=dissolved), limit=100
    )
    return [r for r in found.items if r.kind != "spec_failure"]


def _jump(factory: Factory, run_worker: Callable[[], Any]) -> Regression:
    """20 quiet nights, then a 20-sigma jump of PA1 on night 20; its record."""
    ingest(factory, history(baseline=20, after=1, factor=1.2))
    run_worker()
    [record] = _pa1_records(factory)
    return record


def test_a_jump_is_suspected_on_its_first_run_and_confirmed_later(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    record = _jump(factory, run_worker)
    assert record.suspected and record.kind == "regression" and record.status == "open"
    assert record.effect_size is not None and record.effect_size > 10
    assert record.p_value is not None and record.p_value < 1e-6
    assert 0.15 < (record.relative_size or 0) < 0.25
    assert record.first_bad.id - 1 == (record.last_good.id if record.last_good else None)
    for night in (21, 22):  # 3 points at the new level: too few to confirm
        ingest(factory, [_night(night, 1.2)])
        run_worker()
        [still] = _pa1_records(factory)
        assert still.id == record.id and still.suspected
    for night in (23, 24):  # 5 points at the new level: a change point
        ingest(factory, [_night(night, 1.2)])
        run_worker()
    [confirmed] = _pa1_records(factory)
    assert confirmed.id == record.id
    assert not confirmed.suspected and confirmed.first_bad.id == record.first_bad.id
    actions = [e.action for e in factory.create_regression_service().get(record.id).events]
    assert actions[0] == "created" and actions.count("confirmed") == 1


def test_a_jump_whose_values_go_back_dissolves(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    record = _jump(factory, run_worker)
    for night in range(21, 27):
        ingest(factory, [_night(night, 1.0)])
        run_worker()
    assert _pa1_records(factory) == [], "a dissolved suspicion is not an open regression"
    [gone] = _pa1_records(factory, dissolved=True)
    assert gone.id == record.id and gone.dissolved
    detail = factory.create_regression_service().get(record.id)
    assert detail.events[-1].action == "dissolved"
    assert detail.events[-1].note == "Later data no longer show it."
    series = factory.create_regression_service().markers(record.series.series_key)
    assert record.id not in [m.id for m in series]


def test_the_api_and_the_pages_say_suspected(
    factory: Factory, run_worker: Callable[[], Any], client: TestClient
) -> None:
    record = _jump(factory, run_worker)
    listed = client.get("/api/regressions", params={"metric": PA1}).json()
    assert [r["suspected"] for r in listed["items"] if r["id"] == record.id] == [True]
    assert client.get(f"/api/regressions/{record.id}").json()["suspected"] is True
    page = client.get("/regressions").text
    assert 'data-testid="suspected"' in page
    detail = client.get(f"/regressions/{record.id}").text
    assert 'data-testid="suspected-note"' in detail


def _subscribe(factory: Factory, user: User, **fields: Any) -> None:
    factory.create_subscription_service().create(user, SubscriptionDraft(**fields))


def test_suspected_subscribers_hear_at_once_confirmed_ones_at_confirmation(
    factory: Factory,
    tester: User,
    webhook: WebhookReceiver,
    smtp: SmtpServer,
    run_worker: Callable[[], Any],
) -> None:
    _subscribe(factory, tester, channel="email", notify_on="suspected")
    _subscribe(factory, tester, channel="webhook", target=webhook.url)
    listed = factory.create_subscription_service().list(tester)
    assert [s.notify_on for s in listed] == ["suspected", "confirmed"]

    record = _jump(factory, run_worker)
    assert record.suspected
    assert webhook.received == [], "the subscriber of confirmed changes waits"
    [mail] = smtp.messages
    assert "1 suspected regression after job" in mail["Subject"]
    assert "SUSPECTED REGRESSION: validate_drp.PA1" in text_of(mail)
    assert f"/regressions/{record.id}" in text_of(mail)

    for night in (21, 22):
        ingest(factory, [_night(night, 1.2)])
        run_worker()
    assert webhook.received == [] and len(smtp.messages) == 1, "nothing new yet"
    for night in (23, 24):
        ingest(factory, [_night(night, 1.2)])
        run_worker()
    assert len(smtp.messages) == 1, "the suspicion's subscriber is not told twice"
    [(_, body)] = webhook.received
    [confirmation] = body["regressions"]
    assert confirmation["id"] == record.id and confirmation["suspected"] is False
    assert body["job"]["id"] > record.first_bad.id, "in the digest of the confirming job"
    for night in range(25, 28):
        ingest(factory, [_night(night, 1.2)])
        run_worker()
    assert len(webhook.received) == 1 and len(smtp.messages) == 1, "once each"


def test_a_confirmed_subscriber_is_not_told_of_a_suspicion_that_dissolves(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    _subscribe(factory, tester, channel="email")
    _jump(factory, run_worker)
    for night in range(21, 27):
        ingest(factory, [_night(night, 1.0)])
        run_worker()
    assert smtp.messages == []


def test_notify_on_is_checked(factory: Factory, tester: User) -> None:
    with pytest.raises(InvalidSubscriptionError, match="notify_on must be one of"):
        _subscribe(factory, tester, channel="email", notify_on="sometimes")

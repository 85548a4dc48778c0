"""One record per change: specifications inside it, one per series otherwise, revert links,
and the list grouped by commit or job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.demo import DemoHistory
from vigil.server.domain import User, series_key
from vigil.server.domain.regressions import Regression, RegressionFilter
from vigil.server.factory import Factory

from ._support import ingest, make_job


def _spec(name: str, value: float) -> dict[str, Any]:
    return {
        "name": f"validate_drp.PA1.{name}",
        "type": "threshold",
        "threshold": {"value": value, "unit": "mmag", "operator": "<="},
        "tags": [],
    }


SPECS = [_spec("design", 11.0), _spec("minimum", 11.5), _spec("stretch", 10.5)]


def _records(factory: Factory, **filters: Any) -> list[Regression]:
    return (
        factory.create_regression_service()
        .list_regressions(RegressionFilter(**filters), limit=1000)
        .items
    )


def _jobs(levels: list[float], *, specs: list[dict[str, Any]] = SPECS) -> list[dict[str, Any]]:
    """One main-line job per night measuring PA1 at *levels* (AM1 flat), with *specs*."""
    jobs = [
        make_job(night, {"validate_drp.PA1": level, "validate_drp.AM1": 8.0}, specs=specs)
        for night, level in enumerate(levels)
    ]
    return jobs


def test_a_change_is_one_record_with_the_specifications_it_makes_fail(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    ingest(factory, _jobs([10.0] * 20 + [12.0] * 8))
    run_worker()
    [record] = _records(factory)
    assert record.kind == "regression"
    # Three specifications fail from the change on: inside it, not three more records.
    assert record.specifications == [
        "validate_drp.PA1.design",
        "validate_drp.PA1.minimum",
        "validate_drp.PA1.stretch",
    ]
    assert record.specification == "validate_drp.PA1.design"


def test_failures_seen_before_their_change_fold_into_it(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    # The specifications fail after two values, the change of level shows after five:
    # the early failure record gives way to the change's record.
    ingest(factory, _jobs([10.0] * 20 + [12.0] * 2))
    run_worker()
    # The jump is suspected already (a record of its own, see test_early_warning.py).
    [early] = _records(factory, kind="spec_failure")
    assert [r.suspected for r in _records(factory, kind="regression")] == [True]
    ingest(factory, [make_job(22 + i, {"validate_drp.PA1": 12.0}, specs=SPECS) for i in range(6)])
    run_worker()
    [record] = _records(factory)
    assert record.kind == "regression" and len(record.specifications) == 3
    gone = factory.create_regression_service().get(early.id)
    assert gone.regression.dissolved
    assert gone.events[-1].note == "Part of a change of level of the series."


def test_failures_no_change_explains_are_one_record_per_series(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    # Two nights above every threshold: too short for a change of level (five values).
    ids = ingest(factory, _jobs([10.0] * 20 + [11.8] * 2))
    run_worker()
    # (The jump is also suspected, as a record of its own: see test_early_warning.py.)
    [record] = _records(factory, kind="spec_failure")
    assert record.first_bad.id == ids[20]
    assert record.specifications == [
        "validate_drp.PA1.design",
        "validate_drp.PA1.minimum",
        "validate_drp.PA1.stretch",
    ]
    # Back under the thresholds for two nights: the one record is fixed.
    ingest(factory, [make_job(22 + i, {"validate_drp.PA1": 10.0}, specs=SPECS) for i in range(2)])
    report = run_worker()
    assert report.analysis.fixed == 1
    [fixed] = _records(factory, kind="spec_failure")
    assert fixed.id == record.id and fixed.status == "fixed"
    assert _records(factory, kind="regression") == [], "the suspicion dissolved"


def test_a_change_undone_later_is_fixed_by_the_change_back(
    factory: Factory,
    run_worker: Callable[[], Any],
    tester: User,
    client: TestClient,
    auth_headers: dict[str, str],
) -> None:
    ids = ingest(factory, _jobs([10.0] * 20 + [12.0] * 10))
    run_worker()
    [record] = _records(factory)
    assert record.kind == "regression" and record.status == "open"
    factory.create_regression_service().update_status(
        record.id, tester, status="acknowledged", note="looking"
    )
    # The change is reverted: the series steps back down.
    ingest(factory, [make_job(30 + i, {"validate_drp.PA1": 10.0}, specs=SPECS) for i in range(10)])
    report = run_worker()
    assert report.analysis.created == 0 and report.analysis.fixed >= 1
    # One record, closed as fixed, linked to the job of the change back; no improvement.
    [fixed] = _records(factory, include_dissolved=True)
    assert fixed.id == record.id and fixed.kind == "regression"
    assert fixed.status == "fixed"
    assert fixed.fixed_by is not None and fixed.fixed_by.id == ids[-1] + 1
    detail = factory.create_regression_service().get(record.id)
    assert detail.events[-1].from_status == "acknowledged"
    assert detail.events[-1].to_status == "fixed" and detail.events[-1].user_name is None
    # Both ways: the record names the job, and the job finds the record.
    body = client.get(f"/api/regressions/{record.id}", headers=auth_headers).json()
    assert body["fixed_by"]["id"] == fixed.fixed_by.id
    by_job = client.get(f"/api/regressions?job={fixed.fixed_by.id}", headers=auth_headers).json()
    assert [r["id"] for r in by_job["items"]] == [record.id]
    page = client.get(f"/regressions/{record.id}", headers={"Accept": "text/html"})
    assert 'data-testid="fixed-by"' in page.text
    assert f'href="/jobs/{fixed.fixed_by.id}"' in page.text


def test_a_step_up_and_down_in_stored_history_is_one_fixed_record(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    ids = ingest(factory, _jobs([10.0] * 20 + [12.0] * 10 + [10.0] * 10))
    run_worker()
    [record] = _records(factory, include_dissolved=True)
    assert record.kind == "regression" and record.status == "fixed"
    assert record.first_bad.id == ids[20]
    assert record.fixed_by is not None and record.fixed_by.id == ids[30]


def test_the_list_groups_by_commit_and_by_job(
    factory: Factory,
    run_worker: Callable[[], Any],
    client: TestClient,
    auth_headers: dict[str, str],
) -> None:
    jobs = [
        make_job(night, {"validate_drp.PA1": level, "validate_drp.AM1": 0.8 * level})
        for night, level in enumerate([10.0] * 20 + [12.0] * 8)
    ]
    ids = ingest(factory, jobs)
    run_worker()
    body = client.get("/api/regressions?group=commit", headers=auth_headers).json()
    [group] = body["groups"]
    assert group["label"] == "commit 0020c0f: 2 series regressed"
    assert group["commit_sha"].startswith("0020c0ffee") and group["job"]["id"] == ids[20]
    assert group["series"] == 2 and group["counts"] == {"regression": 2}
    assert sorted(group["regression_ids"]) == sorted(r["id"] for r in body["items"])
    by_job = client.get("/api/regressions?group=job", headers=auth_headers).json()
    assert [g["label"] for g in by_job["groups"]] == [f"job {ids[20]}: 2 series regressed"]
    page = client.get("/regressions?group=commit", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "commit 0020c0f: 2 series regressed" in page.text
    bad = client.get("/api/regressions?group=author", headers=auth_headers)
    assert bad.status_code == 400 and "commit, job" in bad.text


# The demo: one record per injected change --------------------------------------------

# Up to night 146: every main-line change the demo injects (nights 52, 97, 120 and 131).
_DEMO_DAYS = 146


@pytest.fixture(scope="module")
def demo_main_line() -> tuple[list[dict[str, Any]], DemoHistory]:
    history = DemoHistory(days=_DEMO_DAYS)
    jobs = [job for job in history.jobs() if job["meta"]["git"]["branch"] == "main"]
    return jobs, history


def test_the_demo_has_one_level_record_per_injected_change(
    factory: Factory,
    run_worker: Callable[[], Any],
    demo_main_line: tuple[list[dict[str, Any]], DemoHistory],
) -> None:
    jobs, history = demo_main_line
    injected = [
        c
        for c in history.injected_changes()
        if c.branch == "main" and c.kind in ("regression", "improvement")
    ]
    assert len(injected) == 24
    ingest(factory, jobs)
    run_worker()
    records = _records(factory)
    levels = [r for r in records if r.kind != "spec_failure"]
    failures = [r for r in records if r.kind == "spec_failure"]
    # About one level record per injected change (each on its own series).
    assert abs(len(levels) - len(injected)) <= 2, Counter(r.kind for r in levels)
    keys = {series_key(c.metric, c.dataset, c.instrument, c.data_id) for c in injected}
    assert len({r.series.series_key for r in levels} & keys) >= len(injected) - 1
    # Failing specifications are inside those records or one record per series.
    per_series = Counter(r.series.series_key for r in failures)
    assert all(count == 1 for count in per_series.values()), per_series
    assert len(records) <= len(injected) + 10
    assert any(len(r.specifications) > 1 for r in levels)

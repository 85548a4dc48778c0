"""Detection on stored history: the demo's injected changes, moves, dissolution, spec failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from vigil.demo import DEFAULT_START, DemoHistory, InjectedChange
from vigil.server.domain import series_key
from vigil.server.domain.regressions import Regression, RegressionFilter
from vigil.server.factory import Factory
from vigil.server.storage.regressions import RegressionStore

from ._support import history, ingest, make_job

# A shortened demo: up to night 145 (past the CFHT jointcal change at 131 and the PA2
# outlier at 140), one band per validate_drp dataset and the deblender's main line.
_DAYS = 146
_BANDS = {"validation_data_hsc": "HSC-G", "validation_data_cfht": "r"}


def _kept(job: dict[str, Any]) -> bool:
    meta = job["meta"]
    if meta["git"]["branch"] != "main":
        return False
    wanted = _BANDS.get(meta["dataset_name"])
    return wanted is None or meta.get("filter_name") == wanted


@pytest.fixture(scope="module")
def demo() -> tuple[list[dict[str, Any]], list[InjectedChange]]:
    """The shortened demo's jobs and the injected changes of the series they measure."""
    history = DemoHistory(days=_DAYS)
    jobs = [job for job in history.jobs() if _kept(job)]
    bands = {"g", "r"}
    changes = [
        c
        for c in history.injected_changes()
        if c.branch == "main"
        and (c.dataset == "deblend_benchmark_hsc" or c.data_id.get("band") in bands)
        and (c.dataset != "validation_data_hsc" or c.data_id.get("band") == "g")
        and (c.dataset != "validation_data_cfht" or c.data_id.get("band") == "r")
    ]
    return jobs, changes


def _records(factory: Factory) -> list[Regression]:
    return (
        factory.create_regression_service().list_regressions(RegressionFilter(), limit=1000).items
    )


def test_the_demo_injected_changes_are_found(
    factory: Factory,
    run_worker: Callable[[], Any],
    demo: tuple[list[dict[str, Any]], list[InjectedChange]],
) -> None:
    jobs, changes = demo
    ingest(factory, jobs)
    run_worker()
    records = [r for r in _records(factory) if r.kind != "spec_failure"]
    by_series: dict[str, list[Regression]] = {}
    for r in records:
        by_series.setdefault(r.series.series_key, []).append(r)
    checked = {"regression": 0, "improvement": 0, "outlier": 0}
    for change in changes:
        key = series_key(change.metric, change.dataset, change.instrument, change.data_id)
        found = by_series.get(key, [])
        checked[change.kind] += 1
        if change.kind == "outlier":
            assert found == [], f"{change.description}: {found}"
            continue
        near = [
            r for r in found if abs((r.first_bad.time.date() - _night_date(change.index)).days) <= 1
        ]
        assert near, f"{change.kind} {change.metric} {change.data_id} not found: {found}"
        [record] = near
        assert record.kind == change.kind, change.description
        assert record.relative_size == pytest.approx(change.size, abs=0.06)
        assert record.p_value is not None and record.p_value < 1e-3
    # PA1 on HSC-G and its four patches, the deblender runtime, AM1 on CFHT r.
    assert checked == {"regression": 5 + 1 + 1, "improvement": 2, "outlier": 1}


def _night_date(night: int) -> date:
    return DEFAULT_START + timedelta(days=night)


def test_suspects_are_the_commits_and_packages_between_good_and_bad(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    ingest(factory, history())
    run_worker()
    [record] = [r for r in _records(factory) if r.kind == "regression"]
    detail = factory.create_regression_service().get(record.id)
    assert detail.regression.last_good is not None
    assert detail.regression.first_bad.time - detail.regression.last_good.time == timedelta(days=1)
    [commit] = detail.commits
    assert commit.sha.startswith("0020") and commit.author_email == "chen@example.org"
    assert [j.id for j in detail.jobs] == [detail.regression.first_bad.id]
    [package] = detail.packages
    assert package.name == "pipe_tasks" and package.change == "changed"
    assert [e.action for e in detail.events] == ["created"]


def test_a_branch_job_does_not_change_the_main_line(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    jobs = history(after=0)
    jobs += [make_job(20 + i, {"validate_drp.PA1": 13.0}, branch="tickets/DM-1") for i in range(8)]
    ingest(factory, jobs)
    report = run_worker()
    assert report.analysis.created == 0
    assert _records(factory) == []


def test_a_record_follows_a_moving_change_point_and_dissolves(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    ids = ingest(factory, history(baseline=20, after=8))
    run_worker()
    [record] = [r for r in _records(factory) if r.kind == "regression"]
    assert record.first_bad.id == ids[20]
    store = RegressionStore(factory.session)
    # Pretend an earlier analysis had put the change three jobs late: the next one moves it.
    store.update(record.id, {"first_bad_job_id": ids[23], "last_good_job_id": ids[22]})
    # And a change point no data support any more: it dissolves.
    ghost = store.insert(
        {
            **{k: None for k in ("before", "after", "size", "relative_size", "p_value")},
            "series_id": record.series.id,
            "kind": "improvement",
            "status": "open",
            "first_bad_job_id": ids[10],
            "last_good_job_id": ids[9],
            "unit": "mmag",
            "dissolved": False,
            "announced": True,
            "created_at": record.created_at,
            "updated_at": record.created_at,
        }
    )
    factory.session.commit()
    report = factory.create_regression_service().analyse(record.series.id)
    assert (report.moved, report.dissolved, report.created) == (1, 1, 0)
    moved = factory.create_regression_service().get(record.id)
    assert moved.regression.first_bad.id == ids[20]
    assert moved.events[-1].action == "moved"
    gone = factory.create_regression_service().get(ghost)
    assert gone.regression.dissolved and gone.events[-1].action == "dissolved"
    assert ghost not in [r.id for r in _records(factory)]


def test_a_failing_specification_is_reported_and_closes_when_it_passes(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    spec = {
        "name": "validate_drp.PA1.design",
        "type": "threshold",
        "threshold": {"value": 1.1, "unit": "cmag", "operator": "<="},
        "metadata_query": {"instrument": "HSC"},
        "tags": ["design"],
    }
    other = {**spec, "name": "validate_drp.PA1.cfht", "metadata_query": {"instrument": "CFHT"}}
    jobs = history(baseline=20, after=2)
    for job in jobs:
        job["specs"] = [spec, other]
    ids = ingest(factory, jobs)
    run_worker()
    [failure] = [r for r in _records(factory) if r.kind == "spec_failure"]
    assert failure.specification == "validate_drp.PA1.design"
    assert failure.first_bad.id == ids[20] and failure.last_good is not None
    assert failure.last_good.id == ids[19]
    assert failure.after is not None and failure.after > 11.0
    ingest(factory, [make_job(22 + i, {"validate_drp.PA1": 10.0}) for i in range(2)])
    report = run_worker()
    assert report.analysis.fixed == 1
    fixed = factory.create_regression_service().get(failure.id)
    assert fixed.regression.status == "fixed"
    assert fixed.events[-1].user_name is None and "passes" in (fixed.events[-1].note or "")

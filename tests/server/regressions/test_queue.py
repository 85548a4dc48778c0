"""The analysis queue: a series queued again while it was being analysed stays queued.

A worker that analysed version 1 of a series must not remove version 2, queued by a job
that arrived meanwhile: it releases the row, which the next pass analyses.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from vigil.server._activity import RequestActivity
from vigil.server.background import BUSY_SHARE, BUSY_WINDOW, BackgroundWorker
from vigil.server.config import Settings
from vigil.server.dbschema import SqlAnalysisQueueItem, SqlSeries, SqlSpecification
from vigil.server.factory import Factory, ProcessContext
from vigil.server.main import create_app
from vigil.server.services.regressions import QUEUE_CHUNK
from vigil.server.storage.analysis_queue import AnalysisQueueStore


def _rows(factory: Factory) -> list[tuple[int, int | None, int, datetime | None]]:
    q = SqlAnalysisQueueItem
    rows = factory.session.execute(select(q.series_id, q.job_id, q.version, q.claimed_until))
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_series_queued_again_during_its_analysis_is_released_not_removed(
    factory: Factory,
) -> None:
    factory.create_job_service().ingest(
        {
            "identifier": "queue-1",
            "measurements": [
                {"metric": "demo.PA1", "value": 1.0, "unit": "mmag", "data_id": {"band": "r"}},
                {"metric": "demo.AM1", "value": 2.0, "unit": "arcsec", "data_id": {"tract": 1}},
            ],
        },
        None,
    )
    first, second = sorted(factory.session.scalars(select(SqlSeries.id)))
    store = AnalysisQueueStore(factory.session)
    factory.session.execute(delete(SqlAnalysisQueueItem))
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    store.enqueue([first, second], None, now)
    factory.session.commit()
    claimed = store.claim(now, now + timedelta(minutes=5), limit=10)
    assert sorted(i.series_id for i in claimed) == [first, second]
    factory.session.commit()
    # The second series is queued again (a new job) while the worker analyses version 1.
    store.enqueue([second], None, now + timedelta(seconds=1))
    factory.session.commit()
    for item in claimed:
        store.complete(item)
    factory.session.commit()
    rows = _rows(factory)
    assert [(r[0], r[2], r[3]) for r in rows] == [(second, 2, None)]
    # The next pass takes it, and completing it empties the queue.
    again = store.claim(now + timedelta(seconds=2), now + timedelta(minutes=5), limit=10)
    assert [(i.series_id, i.version) for i in again] == [(second, 2)]
    store.complete(again[0])
    factory.session.commit()
    assert _rows(factory) == []


def _job(identifier: str, value: float) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "measurements": [
            {"metric": "demo.PA1", "value": value, "unit": "mmag"},
            {"metric": "demo.AM1", "value": value, "unit": "arcsec"},
            *(
                {"metric": "demo.TE1", "value": value, "unit": "", "data_id": {"patch": p}}
                for p in range(40)
            ),
        ],
        "specs": [
            {
                "name": "demo.AM1.design",
                "type": "threshold",
                "threshold": {"value": 10.0, "unit": "arcsec", "operator": "<="},
            }
        ],
        "metrics": [{"name": "demo.AM1", "unit": "arcsec"}],
    }


def test_a_series_whose_analysis_fails_stays_queued_alone(factory: Factory) -> None:
    """One pass analyses the queue in chunks; a chunk with a failing series is analysed
    again one series at a time: the others are done, the failing one stays claimed."""
    jobs = factory.create_job_service()
    for i in range(3):
        jobs.ingest(_job(f"chunk-{i}", 1.0 + i), None)
    # A specification whose metadata query is not an object (written by hand in the
    # database) makes the analysis of its metric's series fail.
    factory.session.execute(
        update(SqlSpecification)
        .where(SqlSpecification.name == "demo.AM1.design")
        .values(metadata_query=[1, 2])
    )
    factory.session.commit()
    broken = factory.session.scalar(select(SqlSeries.id).where(SqlSeries.metric_name == "demo.AM1"))
    assert len(_rows(factory)) == 42 > QUEUE_CHUNK

    report = factory.create_worker_service().run_once()

    assert report.analysis.series == 41
    rows = _rows(factory)
    assert [r[0] for r in rows] == [broken]
    assert rows[0][3] is not None  # still claimed: tried again when its lease ends


def test_a_pass_that_is_told_to_stop_leaves_the_rest_of_the_queue(factory: Factory) -> None:
    """`run_once(pace=...)` asks after each round whether to go on; the series it did not
    reach stay queued, unclaimed, for the next pass."""
    jobs = factory.create_job_service()
    for i in range(2):
        jobs.ingest(_job(f"pace-{i}", 1.0 + i), None)
    rounds: list[float] = []

    def pace(spent: float) -> bool:
        rounds.append(spent)
        return False

    report = factory.create_worker_service().run_once(batch=10, pace=pace)

    assert report.analysis.series == 10
    assert len(rounds) == 1 and rounds[0] >= 0
    rows = _rows(factory)
    assert len(rows) == 32 and all(r[3] is None for r in rows)
    assert factory.create_worker_service().run_once().analysis.series == 32
    assert _rows(factory) == []


def test_the_background_thread_gives_way_while_requests_come(
    settings: Settings, token: str
) -> None:
    """While requests come the server's analysis thread waits three times as long as
    each round took (a quarter of the time); when none come it does not wait. An open
    event stream is not a request it waits for."""
    app = create_app(settings)
    context: ProcessContext = app.state.process_context
    worker = BackgroundWorker(context)
    # No request yet: no wait, even after a round of a thousand seconds.
    assert worker._pace(1000.0) is True
    with TestClient(app) as client:
        answer = client.post(
            "/api/jobs", json=_job("busy", 1.0), headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 201
    assert context.activity.busy(BUSY_WINDOW)
    began = time.monotonic()
    assert worker._pace(0.05) is True
    assert time.monotonic() - began >= 0.05 * (1 - BUSY_SHARE) / BUSY_SHARE


def test_request_activity_counts_requests_in_flight() -> None:
    activity = RequestActivity()
    assert not activity.busy(1.0)
    activity.begin()
    assert activity.busy(0.0)  # in flight, however long ago it started
    activity.end()
    assert activity.busy(1.0) and not activity.busy(0.0)

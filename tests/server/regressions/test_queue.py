"""The analysis queue: a series queued again while it was being analysed stays queued.

A worker that analysed version 1 of a series must not remove version 2, queued by a job
that arrived meanwhile: it releases the row, which the next pass analyses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from vigil.server.dbschema import SqlAnalysisQueueItem, SqlSeries
from vigil.server.factory import Factory
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

"""Series reads with the job facts the process keeps: the same points as the join, and
never the facts of a deleted job whose id was given again."""

from __future__ import annotations

from typing import Any

from vigil.server.domain.audit import Actor
from vigil.server.factory import Factory
from vigil.server.services import SeriesQuery
from vigil.server.services._job_facts import JobFactsCache
from vigil.server.storage.audit import AuditStore
from vigil.server.storage.series import PointFilter, SeriesStore


def _job(day: int, branch: str = "main", commit: str = "a" * 40) -> dict[str, Any]:
    return {
        "identifier": f"facts-{day}-{branch}",
        "measurements": [{"metric": "demo.PA1", "value": float(day), "unit": "mmag"}],
        "metrics": [{"name": "demo.PA1", "unit": "mmag"}],
        "meta": {
            "dataset": "rc2",
            "date": f"2024-01-{day:02d}T12:00:00+00:00",
            "git": {"branch": branch, "commit": commit},
        },
    }


def _read(factory: Factory, key: str, **query: Any) -> dict[str, list[Any]]:
    history = factory.create_series_service().history_columns(key, SeriesQuery(**query), limit=100)
    factory.session.rollback()
    return history.columns.as_dict()


def test_kept_facts_give_the_points_the_join_gives(factory: Factory) -> None:
    jobs = factory.create_job_service()
    for day in (1, 2, 3, 4):
        jobs.ingest(_job(day, branch="main" if day % 2 else "tickets/DM-1"), None)
    store = SeriesStore(factory.session)
    (series,) = store.find(metric="demo.PA1")
    joined = store.point_columns(series.id, PointFilter(), 101).as_dict()
    factory.session.rollback()

    first = _read(factory, series.series_key)  # facts read from the database
    again = _read(factory, series.series_key)  # facts the process kept
    assert first == again == joined
    generation = AuditStore(factory.session).data_generation()
    assert len(factory._context.job_facts.table(generation)) == 4
    # A filter on the jobs' columns is read by the join, with the same answer.
    assert _read(factory, series.series_key, branch="main")["branch"] == ["main", "main"]


def test_a_deleted_job_whose_id_is_given_again_shows_its_new_facts(factory: Factory) -> None:
    jobs = factory.create_job_service()
    jobs.ingest(_job(1), None)
    newest = jobs.ingest(_job(2, commit="b" * 40), None).id
    (series,) = SeriesStore(factory.session).find(metric="demo.PA1")
    assert _read(factory, series.series_key)["commit_sha"] == ["a" * 40, "b" * 40]

    factory.create_deletion_service().delete_job(newest, Actor("test"))
    again = jobs.ingest(_job(3, branch="tickets/DM-2", commit="c" * 40), None).id
    # SQLite gives the newest id again once its row is gone; either way the read is true.
    if factory.session.get_bind().dialect.name == "sqlite":
        assert again == newest
    read = _read(factory, series.series_key)
    assert read["job_id"][-1] == again
    assert read["commit_sha"] == ["a" * 40, "c" * 40]
    assert read["branch"] == ["main", "tickets/DM-2"]


def test_the_cache_starts_afresh_on_a_new_generation_and_when_full() -> None:
    cache = JobFactsCache(max_jobs=2)
    table = cache.table(0)
    JobFactsCache.add(table, [(1, "t1", "main", "a", None, "local")])
    assert cache.table(0) is table
    assert cache.table(1) is not table  # something was removed: forget everything
    full = cache.table(1)
    JobFactsCache.add(full, [(i, "t", None, None, None, None) for i in range(3)])
    assert JobFactsCache.missing(full, [0, 5, 5, 6]) == [5, 6]
    assert cache.table(1) == {}  # over max_jobs: forgotten
    assert table[1] == ("t1", "main", "a", None, "local")  # a table handed out stays whole

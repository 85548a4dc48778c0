"""The point reads of a series, on the database itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from vigil.server.factory import Factory
from vigil.server.storage.series import PointFilter, SeriesStore


def job(day: int) -> dict[str, Any]:
    return {
        "identifier": f"job-{day}",
        "measurements": [
            {"metric": "demo.psf_fwhm", "value": float(day), "unit": "arcsec", "data_id": {}}
        ],
        "metrics": [{"name": "demo.psf_fwhm", "unit": "arcsec"}],
        "meta": {"dataset": "rc2", "date": f"2024-01-{day:02d}T00:00:00+00:00"},
    }


@pytest.fixture
def store(factory: Factory) -> SeriesStore:
    """A series of three points, at midnight UTC on the 1st, 2nd and 3rd of January 2024."""
    jobs = factory.create_job_service()
    for day in (1, 2, 3):
        jobs.ingest(job(day), None)
    return SeriesStore(factory.session)


def test_a_naive_since_is_utc_whatever_the_session_time_zone(
    factory: Factory, store: SeriesStore
) -> None:
    (series,) = store.find(metric="demo.psf_fwhm")
    if factory.session.get_bind().dialect.name == "postgresql":
        # Five hours behind UTC: read as local time, 22:00 would fall after midnight UTC.
        factory.session.execute(text("SET LOCAL TIME ZONE 'Etc/GMT+5'"))
    naive = PointFilter(since=datetime(2024, 1, 1, 22))
    columns = store.point_columns(series.id, naive, 10)
    points = store.points(series.id, naive, 10)
    factory.session.rollback()
    assert columns.value == [2.0, 3.0]
    assert columns.time == ["2024-01-02T00:00:00.000000Z", "2024-01-03T00:00:00.000000Z"]
    assert [p.time for p in points] == [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3)]
    assert all(p.time.utcoffset() is not None for p in points)

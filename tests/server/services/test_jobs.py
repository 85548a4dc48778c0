"""JobService as the SQuaSH surface and the CLI call it, without HTTP."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select

from vigil.server.dbschema import SqlAnalysisQueueItem
from vigil.server.exceptions import InvalidJobError
from vigil.server.factory import Factory
from vigil.server.services import client_identifier
from vigil.server.services.jobs import IngestResult

from .._jobs import two_metric_job


def test_ingest_twice_through_the_factory(factory: Factory, verify_job_bytes: bytes) -> None:
    users = factory.create_user_service()
    user = users.create_user("robot")
    payload = json.loads(verify_job_bytes)
    service = factory.create_job_service()
    first = service.ingest(payload, user)
    second = service.ingest(payload, user)
    assert (first.created, second.created) == (True, False)
    assert first.id == second.id and first.identifier == second.identifier
    assert second.measurement_count == 30
    detail = service.get_job(first.id)
    values = [m.value for m in detail.measurements]
    assert None in values and not any(isinstance(v, float) and math.isnan(v) for v in values)


def test_identifier_is_the_given_one_or_a_content_hash() -> None:
    assert client_identifier({"identifier": "abc", "measurements": []}) == "abc"
    a = client_identifier({"measurements": [1, 2], "meta": {"x": float("nan")}})
    b = client_identifier({"meta": {"x": None}, "measurements": [1, 2]})
    assert a == b and len(a) == 64
    with pytest.raises(InvalidJobError):
        client_identifier({"identifier": 12})


def test_a_job_with_an_invalid_measurement_stores_nothing(factory: Factory) -> None:
    service = factory.create_job_service()
    payload = {
        "identifier": "half",
        "measurements": [
            {"metric": "demo.a", "value": 1.0, "unit": "mag"},
            {"metric": "demo.b", "value": 1.0, "unit": "not-a-unit"},
        ],
    }
    with pytest.raises(InvalidJobError) as error:
        service.ingest(payload, None)
    assert error.value.field == "measurements[1].unit"
    assert factory.create_metric_service().list_metrics(limit=10).items == []


def _job(identifier: str, unit: str, description: str, value: float = 1.0) -> dict[str, object]:
    return {
        "identifier": identifier,
        "measurements": [
            {"metric": "demo.PA1", "value": value, "unit": unit, "data_id": {"band": "r"}}
        ],
        "metrics": [{"name": "demo.PA1", "unit": unit, "description": description}],
        "meta": {"dataset": "hsc"},
    }


def test_definitions_follow_the_jobs_through_the_ingest_cache(factory: Factory) -> None:
    # The process remembers definitions it stored; a job carrying a different one must
    # still rewrite it, and one carrying the first again must bring it back.
    service = factory.create_job_service()
    metrics = factory.create_metric_service()
    service.ingest(_job("a", "mmag", "first"), None)
    service.ingest(_job("b", "mmag", "first"), None)
    service.ingest(_job("c", "mag", "second", 0.001), None)
    assert metrics.get_metric("demo.PA1")[0].description == "second"
    service.ingest(_job("d", "mmag", "first"), None)
    assert metrics.get_metric("demo.PA1")[0].description == "first"
    # Every job landed on the one series: the cached series id is the stored one.
    series = factory.create_series_service()
    (found,) = series.list_series(metric="demo.PA1", limit=10).items
    assert series.get(found.series_key).point_count == 4


def test_a_failed_ingest_leaves_nothing_in_the_cache(factory: Factory) -> None:
    service = factory.create_job_service()
    bad = _job("bad", "mmag", "x")
    bad["measurements"].append({"metric": "demo.PA1", "value": 1.0, "unit": "arcsec"})  # type: ignore[attr-defined]
    with pytest.raises(InvalidJobError):
        service.ingest(bad, None)
    service.ingest(_job("good", "mmag", "x"), None)
    assert service.get_summary(1).measurement_count == 1


def test_a_batch_queues_each_series_once_with_its_newest_job(factory: Factory) -> None:
    on_branch = two_metric_job("branch", 9.0)
    on_branch["meta"]["env"]["branch"] = "tickets/DM-1"
    payloads = [two_metric_job("a"), two_metric_job("b", 2.0), on_branch]
    outcomes = factory.create_job_service().ingest_each(payloads, None)
    stored = {o.identifier: o.id for o in outcomes if isinstance(o, IngestResult)}
    assert set(stored) == {"a", "b", "branch"}
    rows = factory.session.execute(
        select(SqlAnalysisQueueItem.job_id, SqlAnalysisQueueItem.version)
    ).all()
    # Both series, queued once each (one version), for the newer main-line job; the
    # branch's job is judged by the gate, not queued.
    assert sorted(rows) == [(stored["b"], 1), (stored["b"], 1)]

"""JobService as the SQuaSH surface and the CLI call it, without HTTP."""

from __future__ import annotations

import json
import math

import pytest

from vigil.server.exceptions import InvalidJobError
from vigil.server.factory import Factory
from vigil.server.services import client_identifier


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

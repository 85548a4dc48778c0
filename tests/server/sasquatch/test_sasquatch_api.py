"""The Sasquatch surface, driven by requests shaped as ``SasquatchDispatcher`` sends them.

Every test runs on SQLite and, with VIGIL_TEST_POSTGRES_URL set, on PostgreSQL (the
``client`` and ``token`` fixtures of ``tests/server/conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ._dispatcher import AVRO, Dispatcher, avro_schema, prepare_bundle

BUNDLE_ID = "8f0d5c1e-3b52-4c8e-9a4b-2f8a6f0b1c11"
RUN = "u/someone/DM-40000/20240105T120000Z"
STAMP = 1704456000.0  # 2024-01-05T12:00:00Z


def bundle() -> dict[str, list[dict[str, Any]]]:
    """A MetricMeasurementBundle's metrics: analysis tool → measurements' json."""
    return {
        "skyObjectSky": [
            {"metric": "g_medianSky", "value": 0.25},
            {"metric": "g_sigmaMADSky", "value": 1.5},
        ],
        "psfCModelScatter": [{"metric": "i_psfCModelScatter", "value": 3}],
    }


def dispatch(dispatcher: Dispatcher, **overrides: Any) -> list[Any]:
    kwargs: dict[str, Any] = {
        "run": RUN,
        "dataset_type": "objectTableCore_metrics",
        "bundle_id": BUNDLE_ID,
        "timestamp": STAMP,
        "identifier_fields": {"skymap": "hsc_rings_v1", "tract": 9813, "patch": 40, "band": "i"},
        "dataset_identifier": "HSC-RC2",
    }
    kwargs.update(overrides)
    return dispatcher.dispatch(bundle(), **kwargs)


@pytest.fixture
def dispatcher(client: TestClient, token: str) -> Dispatcher:
    """The dispatcher with ``http://tester:TOKEN@host/sasquatch`` as its URL."""
    return Dispatcher(client, ("tester", token))


def job_count(client: TestClient, token: str) -> int:
    r = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def test_bundle_is_stored_with_its_data_ids(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    answers = dispatch(dispatcher)
    assert [a.status_code for a in answers] == [200, 200]
    body = answers[0].json()
    assert isinstance(body["value_schema_id"], int)
    (offset,) = body["offsets"]
    assert offset["created"] is True

    job = client.get(f"/api/jobs/{offset['offset']}").json()
    data_id = {"skymap": "hsc_rings_v1", "tract": 9813, "patch": 40, "band": "i"}
    values = {m["metric"]: (m["value"], m["data_id"]) for m in job["measurements"]}
    assert values == {
        "skyObjectSky.g_medianSky": (0.25, data_id),
        "skyObjectSky.g_sigmaMADSky": (1.5, data_id),
    }
    assert job["dataset"] == "HSC-RC2"
    assert job["run_at"].startswith("2024-01-05T12:00:00")
    assert job["meta"]["butler_run"] == RUN
    assert job["meta"]["sasquatch"]["topic"] == "skyObjectSky"

    other = answers[1].json()["offsets"][0]["offset"]
    r = client.get("/api/measurements", params={"metric": "psfCModelScatter.i_psfCModelScatter"})
    (m,) = r.json()["items"]
    assert (m["job_id"], m["value"], m["data_id"]) == (other, 3.0, data_id)


def test_resent_bundle_is_stored_once(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    first = [a.json()["offsets"][0]["offset"] for a in dispatch(dispatcher)]
    again = dispatch(dispatcher)
    assert [a.status_code for a in again] == [200, 200]
    assert [a.json()["offsets"][0]["offset"] for a in again] == first
    assert all(a.json()["offsets"][0]["created"] is False for a in again)
    assert job_count(client, token) == 2


def test_same_id_other_content_is_a_conflict(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    dispatch(dispatcher)
    records = prepare_bundle(
        {"skyObjectSky": [{"metric": "g_medianSky", "value": 9.0}]},
        run=RUN,
        dataset_type="objectTableCore_metrics",
        bundle_id=BUNDLE_ID,
        timestamp=STAMP,
        identifier_fields={"tract": 9813},
        dataset_identifier="HSC-RC2",
    )["skyObjectSky"]
    r = dispatcher.produce("skyObjectSky", records)
    assert r.status_code == 409, r.text
    assert job_count(client, token) == 2


def _two_records() -> list[dict[str, Any]]:
    records = []
    for n, tract in enumerate((9813, 9697)):
        records += prepare_bundle(
            {"skyObjectSky": [{"metric": "g_medianSky", "value": 0.5}]},
            run=RUN,
            dataset_type="objectTableCore_metrics",
            bundle_id=f"{BUNDLE_ID[:-1]}{n}",
            timestamp=STAMP,
            identifier_fields={"tract": tract},
            dataset_identifier=None,
        )["skyObjectSky"]
    return records


@pytest.mark.parametrize(
    ("field", "bad"),
    [("tract", None), ("g_medianSky", "high"), ("run", 3), ("timestamp", "noon")],
)
def test_record_breaking_its_schema_stores_nothing(
    client: TestClient, token: str, dispatcher: Dispatcher, field: str, bad: Any
) -> None:
    records = _two_records()
    if bad is None:
        del records[1]["value"][field]
    else:
        records[1]["value"][field] = bad
    # The schema comes from the first, good, record, as in the dispatcher.
    r = dispatcher.produce("skyObjectSky", records)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["error_code"] == 422
    assert error["field"] == f"records[1].value.{field}"
    assert "Record 1" in error["message"]
    assert job_count(client, token) == 0


def test_several_records_make_one_job_each(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    r = dispatcher.produce("skyObjectSky", _two_records())
    assert r.status_code == 200, r.text
    ids = [o["offset"] for o in r.json()["offsets"]]
    tracts = [client.get(f"/api/jobs/{i}").json()["measurements"][0]["data_id"] for i in ids]
    assert tracts == [{"tract": 9813}, {"tract": 9697}]
    assert client.get(f"/api/jobs/{ids[0]}").json()["dataset"] == "Generic"


def test_unknown_cluster_id(dispatcher: Dispatcher) -> None:
    r = dispatcher.create_topic("skyObjectSky", cluster_id="not-a-cluster")
    assert r.status_code == 404
    assert r.json()["field"] == "cluster_id"
    assert dispatcher.cluster_id() == "vigil"


def test_topic_created_twice_is_400(dispatcher: Dispatcher) -> None:
    assert dispatcher.create_topic("skyObjectSky").status_code == 201
    again = dispatcher.create_topic("skyObjectSky")
    assert again.status_code == 400
    assert again.json()["code"] == "topic_exists"


def test_topic_without_namespace(client: TestClient, token: str) -> None:
    bare = Dispatcher(client, ("tester", token), namespace="")
    r = bare.client.post(
        "/sasquatch/v3/clusters/vigil/topics",
        json={"topic_name": "skyObjectSky"},
        auth=bare.auth,
    )
    assert r.status_code == 422
    assert r.json()["field"] == "topic_name"
    record = prepare_bundle(
        bundle(),
        run=RUN,
        dataset_type="x",
        bundle_id=BUNDLE_ID,
        timestamp=STAMP,
        identifier_fields=None,
        dataset_identifier=None,
    )["skyObjectSky"]
    schema = json.loads(avro_schema("", "skyObjectSky", record[0]["value"]))
    del schema["namespace"]
    r = client.post(
        "/sasquatch/topics/skyObjectSky",
        content=json.dumps({"value_schema": json.dumps(schema), "records": record}),
        headers=AVRO,
        auth=bare.auth,
    )
    assert r.status_code == 422
    assert "no namespace" in r.json()["message"]
    assert job_count(client, token) == 0


def test_no_credentials_is_401(client: TestClient, token: str) -> None:
    anonymous = Dispatcher(client, None)
    records = prepare_bundle(
        bundle(),
        run=RUN,
        dataset_type="x",
        bundle_id=BUNDLE_ID,
        timestamp=STAMP,
        identifier_fields=None,
        dataset_identifier=None,
    )["skyObjectSky"]
    assert anonymous.produce("skyObjectSky", records).status_code == 401
    assert anonymous.create_topic("skyObjectSky", cluster_id="vigil").status_code == 401
    assert job_count(client, token) == 0


def test_wrong_token_or_user_is_401(client: TestClient, token: str) -> None:
    wrong_user = Dispatcher(client, ("someone-else", token))
    r = wrong_user.create_topic("skyObjectSky", cluster_id="vigil")
    assert r.status_code == 401
    assert r.json()["field"] == "username"
    bad_token = Dispatcher(client, ("tester", "not-a-token"))
    assert bad_token.create_topic("skyObjectSky", cluster_id="vigil").status_code == 401


def test_conflict_in_one_record_stores_none(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    records = _two_records()
    assert dispatcher.produce("skyObjectSky", records[1:]).status_code == 200
    records[1]["value"]["g_medianSky"] = 7.0  # same id as the stored one, other value
    r = dispatcher.produce("skyObjectSky", records)
    assert r.status_code == 409, r.text
    assert job_count(client, token) == 1


def test_stored_metric_unit_is_used(client: TestClient, token: str, dispatcher: Dispatcher) -> None:
    native = {
        "measurements": [{"metric": "skyObjectSky.g_medianSky", "value": 0.1, "unit": "mag"}],
        "meta": {"dataset": "HSC-RC2"},
    }
    r = client.post("/api/jobs", json=native, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201), r.text
    answers = dispatch(dispatcher)
    assert answers[0].status_code == 200, answers[0].text
    job = client.get(f"/api/jobs/{answers[0].json()['offsets'][0]['offset']}").json()
    units = {m["metric"]: m["unit"] for m in job["measurements"]}
    assert units["skyObjectSky.g_medianSky"] == "mag"


def test_every_route_is_documented(client: TestClient) -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "sasquatch.md").read_text()
    schema = client.app.openapi()  # type: ignore[attr-defined]
    paths = [p for p in schema["paths"] if p.startswith("/sasquatch/")]
    assert len(paths) == 3
    for path in paths:
        for method in schema["paths"][path]:
            documented = path.replace("{topic_name}", "{namespace}.{topic}")
            assert f"`{method.upper()} {documented}`" in text, f"{method.upper()} {path}"


def test_topic_must_match_its_schema(
    client: TestClient, token: str, dispatcher: Dispatcher
) -> None:
    records = _two_records()[:1]
    data = {"value_schema": avro_schema("lsst.dm", "skyObjectSky", records[0]["value"])}
    data["records"] = records  # type: ignore[assignment]
    r = client.post(
        "/sasquatch/topics/lsst.dm.otherTool",
        content=json.dumps(data),
        headers=AVRO,
        auth=dispatcher.auth,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_topic"
    assert job_count(client, token) == 0

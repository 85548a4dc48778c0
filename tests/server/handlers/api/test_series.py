"""One series' history through the native API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

JSON = {"Content-Type": "application/json"}


def job(i: int, *, branch: str, env: str = "github-actions", value: Any = None) -> dict[str, Any]:
    return {
        "identifier": f"job-{i}",
        "measurements": [
            {
                "metric": "demo.psf_fwhm",
                "value": float(i) if value is None else value,
                "unit": "arcsec",
                "data_id": {"band": "i", "tract": 9813},
            },
            {
                "metric": "demo.psf_fwhm",
                "value": 10.0 + i,
                "unit": "arcsec",
                "data_id": {"band": "r", "tract": 9813},
            },
        ],
        "metrics": [{"name": "demo.psf_fwhm", "unit": "arcsec"}],
        "meta": {
            "dataset": "rc2",
            "instrument": "HSC",
            "date": f"2024-01-{i + 1:02d}T00:00:00+00:00",
            "env": {"env_name": env},
            "git": {"branch": branch, "commit": f"c{i:02d}" + "a" * 37},
        },
    }


@pytest.fixture
def series_client(client: TestClient, auth_headers: dict[str, str]) -> TestClient:
    """Six jobs: main and one branch, two environments, a NaN and a value in mas."""
    for i in range(6):
        branch = "main" if i != 3 else "tickets/DM-1"
        env = "local" if i == 5 else "github-actions"
        value: Any = "NaN" if i == 2 else None
        payload = job(i, branch=branch, env=env, value=value)
        response = client.post(
            "/api/jobs", content=json.dumps(payload), headers={**auth_headers, **JSON}
        )
        assert response.status_code == 201, response.text
    # One job measured in milliarcseconds: converted to the metric's unit on the way out.
    payload = job(6, branch="main")
    payload["measurements"][0].update(value=6000.0, unit="marcsec")
    client.post("/api/jobs", content=json.dumps(payload), headers={**auth_headers, **JSON})
    return client


def i_band_key(client: TestClient) -> str:
    found = client.get(
        "/api/series", params={"metric": "demo.psf_fwhm", "data_id": '{"band": "i"}'}
    ).json()["items"]
    assert len(found) == 1
    return str(found[0]["series_key"])


def values(client: TestClient, key: str, **params: Any) -> list[float | None]:
    response = client.get(f"/api/series/{key}/points", params=params)
    assert response.status_code == 200, response.text
    return [p["value"] for p in response.json()["items"]]


def test_find_series_by_metric_and_data_id(series_client: TestClient) -> None:
    everything = series_client.get("/api/series", params={"metric": "demo.psf_fwhm"}).json()
    assert len(everything["items"]) == 2  # two dataIds; branches share series
    key = i_band_key(series_client)
    series = series_client.get(f"/api/series/{key}").json()
    assert series["point_count"] == 7
    assert series["data_id"] == {"band": "i", "tract": 9813}
    bad = series_client.get("/api/series", params={"data_id": "[1]"})
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "data_id"


def test_history_in_job_order_with_nan_as_null(series_client: TestClient) -> None:
    key = i_band_key(series_client)
    body = series_client.get(f"/api/series/{key}/points").json()
    assert body["unit"] == "arcsec"
    assert [p["value"] for p in body["items"]] == [0.0, 1.0, None, 3.0, 4.0, 5.0, 6.0]
    assert body["items"][6]["unit"] == "arcsec"  # 6000 marcsec converted
    assert body["items"][0]["time"].startswith("2024-01-01")
    assert body["items"][3]["branch"] == "tickets/DM-1"


def test_history_filters(series_client: TestClient) -> None:
    key = i_band_key(series_client)
    assert values(series_client, key, branch="tickets/DM-1") == [3.0]
    assert values(series_client, key, branch="main", environment="local") == [5.0]
    assert values(
        series_client, key, since="2024-01-02T00:00:00Z", until="2024-01-04T00:00:00Z"
    ) == [
        1.0,
        None,
    ]
    assert values(series_client, key, from_commit="c01", to_commit="c03" + "a" * 37) == [
        1.0,
        None,
        3.0,
    ]
    missing = series_client.get(f"/api/series/{key}/points", params={"from_commit": "deadbeef"})
    assert missing.status_code == 404


def test_history_pages(series_client: TestClient) -> None:
    key = i_band_key(series_client)
    first = series_client.get(f"/api/series/{key}/points", params={"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    second = series_client.get(first["next_url"]).json()
    assert [p["value"] for p in first["items"] + second["items"]] == values(series_client, key)
    assert second["next_cursor"] is None


def test_history_by_identity(series_client: TestClient) -> None:
    params = {
        "metric": "demo.psf_fwhm",
        "dataset": "rc2",
        "instrument": "HSC",
        "data_id": json.dumps({"tract": 9813, "band": "r"}),
        "branch": "main",
    }
    body = series_client.get("/api/series/points", params=params).json()
    assert [p["value"] for p in body["items"]] == [10.0, 11.0, 12.0, 14.0, 15.0, 16.0]
    ambiguous = series_client.get("/api/series/points", params={"metric": "demo.psf_fwhm"})
    assert ambiguous.status_code == 409
    none = series_client.get("/api/series/points", params={"metric": "demo.nothing"})
    assert none.status_code == 404


ARROW = "application/vnd.apache.arrow.stream"


def arrow_page(client: TestClient, url: str, **params: Any) -> tuple[Any, dict[str, Any]]:
    """The table and the envelope (schema metadata ``vigil``) of an Arrow answer."""
    import pyarrow as pa

    response = client.get(url, params=params, headers={"Accept": ARROW})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(response.content).read_all()
    return table, json.loads(table.schema.metadata[b"vigil"])


def test_three_forms_give_the_same_points(series_client: TestClient) -> None:
    import pyarrow as pa

    key = i_band_key(series_client)
    url = f"/api/series/{key}/points"
    rows = series_client.get(url).json()
    columns = series_client.get(url, params={"form": "columns"}).json()
    table, envelope = arrow_page(series_client, url)

    fields = list(rows["items"][0])
    assert list(columns["columns"]) == fields == table.column_names
    as_columns = {name: [p[name] for p in rows["items"]] for name in fields}
    assert columns["columns"] == as_columns
    for part in ("series", "unit", "next_cursor", "next_url"):
        assert columns[part] == rows[part] == envelope[part]

    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("value").type == pa.float64()
    # The NaN measurement is null, not a number that would pass for a value.
    assert table.column("value").to_pylist() == [0.0, 1.0, None, 3.0, 4.0, 5.0, 6.0]
    assert table.column("value").null_count == 1
    times = [datetime.fromisoformat(t) for t in as_columns["time"]]
    assert table.column("time").to_pylist() == times
    for name in ("job_id", "measurement_id", "unit", "branch", "commit_sha", "pull_request"):
        assert table.column(name).to_pylist() == as_columns[name], name


def test_every_form_pages_with_the_same_cursor(series_client: TestClient) -> None:
    key = i_band_key(series_client)
    url = f"/api/series/{key}/points"
    first = series_client.get(url, params={"limit": 4, "form": "columns"}).json()
    assert len(first["columns"]["job_id"]) == 4
    assert first["next_url"] and "form=columns" in first["next_url"]
    second = series_client.get(first["next_url"]).json()
    values_ = first["columns"]["value"] + second["columns"]["value"]
    assert values_ == values(series_client, key)
    assert second["next_cursor"] is None

    table, envelope = arrow_page(series_client, url, limit=4)
    assert table.num_rows == 4 and envelope["next_cursor"] == first["next_cursor"]
    rest, last = arrow_page(series_client, url, limit=4, cursor=envelope["next_cursor"])
    assert table.column("value").to_pylist() + rest.column("value").to_pylist() == values_
    assert last["next_cursor"] is None


def test_empty_page_in_every_form(series_client: TestClient) -> None:
    key = i_band_key(series_client)
    url = f"/api/series/{key}/points"
    params = {"branch": "no-such-branch"}
    assert series_client.get(url, params=params).json()["items"] == []
    empty = series_client.get(url, params={**params, "form": "columns"}).json()["columns"]
    assert all(column == [] for column in empty.values())
    table, _ = arrow_page(series_client, url, **params)
    assert table.num_rows == 0
    bad = series_client.get(url, params={"form": "parquet"})
    assert bad.status_code == 422

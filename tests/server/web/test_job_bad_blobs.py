"""Blobs no plot can show as they are: ragged, text, NaN only, a million values.

Each page answers, with the data truncated, thinned or in the values table with a note.
"""

from __future__ import annotations

import base64
import gzip
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vigil.plots.blob import MAX_SCATTER_POINTS
from vigil.server.factory import Factory
from vigil.server.handlers.web._job_arrays import MAX_TWIN_VALUES

from ._web_data import HTML, make_job
from .test_metric_page import column_length, models_of, plot_item, source_named

MILLION = 1_000_000


def datum(value: Any, unit: str = "") -> dict[str, Any]:
    return {"value": value, "unit": unit, "label": None, "description": ""}


BLOBS = {
    "ragged": {"rows": datum([[1.0, 2.0], [3.0]]), "deep": datum([[[1.0]], [[2.0]]])},
    "text": {
        "names": datum(["a", "b", "c", "d"]),
        "mixed": datum([1.0, "x", 3.0]),
        "long": datum("<b>" + "x" * 5000),
    },
    "nan": {"nothing": datum([None, None, None, None], "mag")},
    "huge": {
        "mag": datum([15 + (i % 1000) / 100 for i in range(MILLION)], "mag"),
        "magrms": datum([(i % 997) / 1000 for i in range(MILLION)], "mag"),
        "labels": datum(["a", "b", "c"]),
    },
}


@pytest.fixture
def job_id(factory: Factory) -> int:
    document = make_job(0, rms=5.0, extras=False).to_dict()
    document["blobs"] = [
        {"identifier": f"bad{name}", "name": name, "data": data} for name, data in BLOBS.items()
    ]
    return factory.create_job_service().ingest(document, None).id


def column_values(column: Any) -> np.ndarray:
    """A Bokeh-serialised column (a list, or an ndarray in base64) as numbers."""
    if isinstance(column, dict) and column.get("type") == "ndarray":
        raw = column["array"]
        data = base64.b64decode(raw["data"]) if isinstance(raw, dict) else raw
        if data[:2] == b"\x1f\x8b":  # Bokeh gzips buffers (at level 0 for the pages)
            data = gzip.decompress(data)
        return np.frombuffer(data, dtype=column["dtype"])
    return np.asarray(column, dtype=float)


def figure_of(html: str, name: str) -> dict[str, Any]:
    found = re.search(rf"<strong>{name}</strong>.*?data-bokeh-item=\"(blob-plot-\d+)\"", html, re.S)
    assert found is not None, f"no figure of {name}"
    return plot_item(html, found.group(1))


def test_bad_blobs_leave_the_page_whole(client: TestClient, job_id: int) -> None:
    page = client.get(f"/jobs/{job_id}", headers=HTML)
    assert page.status_code == 200
    html = page.text
    # A million points are thinned evenly, and the title says so.
    huge = figure_of(html, "huge")
    drawn = column_length(source_named(huge, "blob"), "x")
    assert MAX_SCATTER_POINTS // 2 < drawn <= MAX_SCATTER_POINTS
    titles = [m["attributes"]["text"] for m in models_of(huge, "Title")]
    assert any("one point in 50 of 1,000,000" in t for t in titles)
    # NaN only: listed as not drawn, with the reason.
    undrawn = re.search(r'data-testid="blobs-not-drawn">(.*?)</div>', html, re.S)
    assert undrawn is not None and "nothing: no finite value" in undrawn.group(1)
    # Ragged arrays and text are in the values table with a note, cut and escaped.
    table = re.search(r'data-testid="blob-datums">(.*?)</details>', html, re.S)
    assert table is not None
    rows = table.group(1)
    assert "nested arrays of different lengths, not drawn" in rows
    assert rows.count("text, not drawn") == 3  # names, mixed, labels
    assert "&lt;b&gt;xxx" in rows and "x" * 200 not in rows and "<b>x" not in html


def test_bad_blobs_chosen_on_purpose(client: TestClient, job_id: int) -> None:
    # The histogram of a million values counts them all.
    hist = client.get(f"/jobs/{job_id}?blob_x.badhuge=magrms&blob_y.badhuge=", headers=HTML)
    assert hist.status_code == 200
    counts = dict(source_named(figure_of(hist.text, "huge"), "blob")["entries"])["count"]
    assert int(column_values(counts).sum()) == MILLION
    # An all-NaN array drawn anyway: an empty histogram, not an error.
    nan = client.get(f"/jobs/{job_id}?blob_x.badnan=nothing", headers=HTML)
    assert nan.status_code == 200 and figure_of(nan.text, "nan")
    # Text is not a numeric array: a notice, not a 500.
    page = client.get(f"/jobs/{job_id}?blob_x.badhuge=labels", headers=HTML)
    assert page.status_code == 200
    assert "is not a numeric array of this blob" in page.text
    # A blob without numeric arrays has nothing to choose: its datums stay in the table.
    for blob, name in (("ragged", "rows"), ("text", "names"), ("text", "long")):
        page = client.get(f"/jobs/{job_id}?blob_x.bad{blob}={name}", headers=HTML)
        assert page.status_code == 200 and 'data-testid="blob-datums"' in page.text


def test_the_twin_truncates_huge_arrays(client: TestClient, job_id: int) -> None:
    answer = client.get(f"/jobs/{job_id}?format=json")
    assert answer.status_code == 200
    body = answer.json()
    huge = next(b for b in body["blobs"] if b["name"] == "huge")
    keys = [huge["data"][n]["value"]["array"] for n in ("mag", "magrms")]
    assert sorted(body["truncated_arrays"]) == sorted(keys)
    assert all(len(body["arrays"][k]) == MAX_TWIN_VALUES for k in keys)
    nan = next(b for b in body["blobs"] if b["name"] == "nan")
    assert body["arrays"][nan["data"]["nothing"]["value"]["array"]] == [None] * 4
    ragged = next(b for b in body["blobs"] if b["name"] == "ragged")
    assert body["arrays"][ragged["data"]["rows"]["value"]["array"]] == [[1.0, 2.0], [3.0]]

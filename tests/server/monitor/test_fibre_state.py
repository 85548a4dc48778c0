"""Fibre state: the layout says which QA value lists a unit's fibres (DESI's GOOD_FIBERS);
the focal plane counts the good ones, names the bad ones, and colours a unit by them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner, now
from vigil.demo._ql_pipeline import FIBRES, good_fibres
from vigil.monitor.errors import MonitorConfigError
from vigil.monitor.layout import FibreSpec, Layout, parse_layout
from vigil.monitor.qafiles import QaCollector
from vigil.monitor.steps import QaSpec, StepSpec
from vigil.server.monitor.domain import QaValue
from vigil.server.monitor.services._focal_plane import fibre_state

DESI_UNITS = [f"{arm}{petal}" for petal in range(10) for arm in "brz"]
SPEC = FibreSpec("GOOD_FIBERS", 10, warning=2, alarm=4)


def _value(values: list[float | None]) -> QaValue:
    return QaValue(
        "b0", "CHECK_FIBERS", "GOOD_FIBERS", None, "missing", None, values, [], None, None, None
    )


def test_desis_layout_has_its_500_fibres_and_announces_them() -> None:
    desi = parse_layout("desi")
    assert desi.fibres == FibreSpec("GOOD_FIBERS", 500, warning=5, alarm=10)
    assert Layout.from_description(desi.describe()) == desi


@pytest.mark.parametrize(
    ("fibres", "key"),
    [
        ("GOOD_FIBERS", "layout.fibres"),
        ({"count": 500}, "layout.fibres.key"),
        ({"key": "GOOD_FIBERS", "count": 0}, "layout.fibres.count"),
        ({"key": "GOOD_FIBERS", "count": True}, "layout.fibres.count"),
        ({"key": "GOOD_FIBERS", "count": 10, "warning": 11}, "layout.fibres.warning"),
        ({"key": "GOOD_FIBERS", "count": 10, "warning": 5, "alarm": 3}, "layout.fibres.alarm"),
        ({"key": "GOOD_FIBERS", "count": 10, "colour": "red"}, "layout.fibres.colour"),
    ],
)
def test_a_malformed_fibre_description_names_its_key(fibres: Any, key: str) -> None:
    document = {"kind": "grid", "units": ["b0"], "fibres": fibres}
    with pytest.raises(MonitorConfigError) as caught:
        parse_layout(document, source="ql.yaml")
    assert f"ql.yaml: {key}" in str(caught.value)


@pytest.mark.parametrize(
    ("values", "bad", "status"),
    [
        ([1.0] * 10, [], "normal"),
        ([1.0] * 8 + [0.0, 1.0], [8], "normal"),
        ([0.0, 1.0, 0.0] + [1.0] * 7, [0, 2], "warning"),
        # NaN and None are not good; a short list leaves the missing fibres bad.
        ([float("nan"), None] + [1.0] * 4, [0, 1, 6, 7, 8, 9], "alarm"),
        # More entries than fibres: the extra ones are ignored.
        ([1.0] * 12 + [0.0], [], "normal"),
        ([], list(range(10)), "alarm"),
    ],
)
def test_fibre_state_counts_good_fibres_and_names_bad_ones(
    values: list[float | None], bad: list[int], status: str
) -> None:
    state = fibre_state(SPEC, _value(values))
    assert state.bad == bad
    assert state.good == 10 - len(bad) and state.total == 10
    assert state.status == status


def test_the_demo_pipeline_writes_as_many_good_fibres_as_it_counts() -> None:
    import random

    written = good_fibres(497, random.Random(3))
    assert len(written) == FIBRES and sum(written) == 497
    assert sum(good_fibres(503, random.Random(3))) == FIBRES


def test_the_collector_keeps_the_fibres_with_the_step_of_their_file(tmp_path: Path) -> None:
    step = StepSpec(
        name="CHECK_FIBERS",
        display_name="CHECK FIBERS",
        start="a",
        end="b",
        qa=(QaSpec(key="NGOODFIB", display_name="NGOODFIB"),),
    )
    collector = QaCollector((step,), {}, [(None, "GOOD_FIBERS")])
    document = {
        "METRICS": {"NGOODFIB": 8, "NGOODFIB_STATUS": "NORMAL", "GOOD_FIBERS": [1] * 8 + [0, 0]},
        "PARAMS": {},
    }
    (tmp_path / "ql-countbins-b0-00000001.json").write_text(json.dumps(document))
    events = {e["key"]: e for e in collector.collect(tmp_path, "ql-*.json")}
    assert events["GOOD_FIBERS"]["step"] == "CHECK_FIBERS"
    assert events["GOOD_FIBERS"]["values"] == [1] * 8 + [0, 0]
    # A file holding only the kept key has no step to give it: nothing is sent.
    (tmp_path / "ql-other-b0-00000001.json").write_text(
        json.dumps({"METRICS": {"GOOD_FIBERS": [1]}, "PARAMS": {}})
    )
    assert collector.collect(tmp_path, "ql-other-*.json") == []


def _fibre_qa(key: str, unit: str, values: list[float]) -> dict[str, Any]:
    return {
        "type": "qa",
        "time": now(),
        "processing": key,
        "unit": unit,
        "step": "CHECK_FIBERS",
        "key": "GOOD_FIBERS",
        "display_name": "GOOD_FIBERS",
        "status": "missing",
        "value": values[0],
        "values": values,
        "statuses": [],
        "normal": None,
        "warning": None,
        "reference": None,
    }


def test_the_focal_plane_shows_each_units_fibres(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    description = {
        "units": DESI_UNITS,
        "flavors": {},
        "trends": [],
        "layout": parse_layout("desi").describe(),
    }
    announce = {
        "type": "pipeline",
        "time": now(),
        "pipeline": runner.pipeline,
        "description": description,
    }
    response = client.post(
        "/api/monitor/events", json=runner.batch([announce]), headers=auth_headers
    )
    assert response.status_code == 200, response.text
    key, events = runner.processing("00000009", ["b0", "r0", "z0"])
    good = [1.0] * 500
    r0 = list(good)
    for fibre in (3, 77, 401):
        r0[fibre] = 0.0
    z0 = list(good)
    for fibre in range(20):
        z0[fibre] = 0.0
    for unit, values in (("b0", good), ("r0", r0), ("z0", z0)):
        events.insert(-1, _fibre_qa(key, unit, values))
    response = client.post("/api/monitor/events", json=runner.batch(events), headers=auth_headers)
    assert response.status_code == 200, response.text
    pid = client.get("/api/monitor/processings").json()["items"][0]["id"]

    twin = client.get(f"/api/monitor/processings/{pid}").json()
    plane = twin["focal_plane"]
    assert plane["fibres"] == {"key": "GOOD_FIBERS", "count": 500, "warning": 5, "alarm": 10}
    units = {u["name"]: u for u in plane["units"]}
    assert units["b0"]["fibres"]["bad"] == [] and units["b0"]["fibres"]["colour"] == "green"
    assert units["r0"]["fibres"] == {
        "good": 497,
        "total": 500,
        "bad": [3, 77, 401],
        "status": "normal",
        "colour": "green",
    }
    assert units["z0"]["fibres"]["status"] == "alarm"
    assert units["b5"]["fibres"] is None
    # The tooltip names the bad fibres instead of listing 500 values.
    assert "fibres: 497 of 500 good (bad: 3, 77, 401)" in units["r0"]["tooltip"]
    assert "GOOD_FIBERS" not in units["r0"]["tooltip"]
    assert "and 0 more" not in units["z0"]["tooltip"] and "20 more" not in units["z0"]["tooltip"]

    page = client.get(f"/monitor/processings/{pid}", headers={"Accept": "text/html"}).text
    rows = re.findall(r'<tr data-unit="([^"]+)" data-testid="fibre-row">', page)
    assert rows == ["r0", "z0"]
    assert 'data-unit="z0" data-testid="fp-z0" data-qa="green" data-fibres="red"' in page
    assert "yellow from 5 bad, red from 10" in page

"""The focal plane, per-amplifier QA, and the observer's history pages.

Layouts compile from YAML (DESI's ring of petals, LSST's rafts, any list of units); the
processing page draws the pipeline's layout with each unit coloured by its worst QA, a
tooltip of its values and a link to its drill-down; unit names and QA keys from a runner
are encoded; the histories show tile, RA and Dec, filter by days and sort.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner, now
from vigil.monitor.errors import MonitorConfigError
from vigil.monitor.layout import Layout, layout_for_units, parse_layout

DESI_UNITS = [f"{arm}{petal}" for petal in range(10) for arm in "brz"]


def test_the_shipped_layouts_hold_desi_and_lsst_units() -> None:
    desi = parse_layout("desi")
    assert sorted(desi.names()) == sorted(DESI_UNITS)
    assert [label.text for label in desi.labels] == [f"petal {i}" for i in range(10)]
    lsst = parse_layout("lsst")
    assert len(lsst.units) == 21 * 9
    rafts = {name.split("_")[0] for name in lsst.names()}
    assert len(rafts) == 21 and not rafts & {"R00", "R04", "R40", "R44"}
    # Row 0 at the bottom: R01's CCDs are drawn below R41's.
    y = {u.name: u.y for u in lsst.units}
    assert y["R01_S00"] > y["R41_S00"] and y["R22_S00"] > y["R22_S20"]
    # What a runner announces comes back whole.
    assert Layout.from_description(desi.describe()) == desi


def test_a_pipeline_without_a_layout_gets_one_from_its_units() -> None:
    desi_subset = layout_for_units(["b0", "r0", "z0"])
    assert desi_subset is not None and desi_subset.name == "desi"
    plain = layout_for_units(["ccd1", "ccd2", "ccd3"])
    assert plain is not None and plain.names() == ["ccd1", "ccd2", "ccd3"]
    assert layout_for_units([]) is None


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"kind": "hexagon"}, "layout.kind"),
        ({"kind": "ring", "groups": 0, "members": ["b{group}"]}, "layout.groups"),
        ({"kind": "ring", "groups": 2, "members": ["b{petal}"]}, "layout.members"),
        ({"kind": "ring", "groups": 2, "members": ["b"]}, "layout.members"),
        ({"kind": "grid", "units": []}, "layout.units"),
        ({"kind": "grid", "origin": "middle", "units": ["a"]}, "layout.origin"),
    ],
)
def test_a_malformed_layout_names_its_key(document: dict[str, Any], key: str) -> None:
    with pytest.raises(MonitorConfigError) as caught:
        parse_layout(document, source="ql.yaml")
    assert f"ql.yaml: {key}" in str(caught.value)


def test_an_unknown_layout_name_lists_the_shipped_ones() -> None:
    with pytest.raises(MonitorConfigError, match="desi, lsst"):
        parse_layout("hsc")


def test_announced_path_data_is_checked() -> None:
    layout = parse_layout({"kind": "grid", "units": ["a"]}).describe()
    layout["units"][0]["path"] = 'M0 0" onmouseover="alert(1)'
    assert Layout.from_description(layout) is None


def _post(client: TestClient, headers: dict[str, str], runner: Runner, events: list[Any]) -> None:
    response = client.post("/api/monitor/events", json=runner.batch(events), headers=headers)
    assert response.status_code == 200, response.text


def _announce(runner: Runner, units: list[str], layout: dict[str, Any] | None) -> dict[str, Any]:
    description: dict[str, Any] = {"units": units, "flavors": {}, "trends": []}
    if layout is not None:
        description["layout"] = layout
    return {
        "type": "pipeline",
        "time": now(),
        "pipeline": runner.pipeline,
        "description": description,
    }


def _amp_qa(key: str, unit: str) -> dict[str, Any]:
    return {
        "type": "qa",
        "time": now(),
        "processing": key,
        "unit": unit,
        "step": "CHECK_CCDs",
        "key": "BIAS_AMP",
        "display_name": "Bias AMP",
        "status": "alarm",
        "value": 3.0,
        "values": [0.1, 0.6, 0.2, 3.0],
        "statuses": ["normal", "warning", "normal", "alarm"],
        "normal": [-0.5, 0.5],
        "warning": [-1, 1],
        "reference": None,
    }


def _page(client: TestClient, url: str, **params: Any) -> str:
    response = client.get(url, params=params, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text[:500]
    text: str = response.text
    return text


def test_the_processing_page_draws_the_focal_plane_coloured_by_worst_qa(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    _post(
        client,
        auth_headers,
        runner,
        [_announce(runner, DESI_UNITS, parse_layout("desi").describe())],
    )
    key, events = runner.processing(
        "00000007",
        ["b0", "r0", "z0"],
        qa={("b0", "NOISE_AMP"): ("warning", 4.2)},
        fail={"z0": 1},
        ra=150.25,
        dec=2.5,
        header={"TILEID": 1234},
    )
    events.insert(-1, _amp_qa(key, "r0"))
    _post(client, auth_headers, runner, events)
    processing = client.get("/api/monitor/processings").json()["items"][0]
    pid = processing["id"]
    assert (processing["tile"], processing["ra"], processing["dec"]) == ("1234", 150.25, 2.5)

    twin = client.get(f"/api/monitor/processings/{pid}").json()
    units = {u["name"]: u for u in twin["focal_plane"]["units"]}
    assert twin["focal_plane"]["layout"] == "desi" and len(units) == 30
    assert units["b0"]["colour"] == "yellow"  # its worst QA, a warning
    assert units["r0"]["colour"] == "red"  # one amplifier in alarm
    assert units["z0"]["colour"] == "green"  # failed in its second step; its QA was normal
    assert units["b5"]["colour"] == "grey" and not units["b5"]["found"]
    assert "Bias AMP: 0.1, 0.6, 0.2, 3 (alarm)" in units["r0"]["tooltip"]

    page = _page(client, f"/monitor/processings/{pid}")
    figure = re.search(r'<figure class="focal-plane".*?</figure>', page, re.S)
    assert figure is not None
    drawn = figure.group(0)
    assert drawn.count('class="fp-unit') == 30
    r0 = re.search(r'<a class="fp-unit qa-red"[^>]*data-unit="r0"[^>]*>(.*?)</a>', drawn, re.S)
    assert r0 is not None
    assert f'href="/monitor/processings/{pid}?unit=r0#qa-drill"' in r0.group(0)
    assert "Bias AMP: 0.1, 0.6, 0.2, 3 (alarm)" in html_lib.unescape(r0.group(1))
    assert 'data-unit="b5"' in drawn and "fp-unit qa-grey absent" in drawn
    assert "petal 0" in drawn
    # Per-amplifier statuses kept and shown, not only the worst; tile, RA and Dec shown.
    assert twin["qa"][-1]["statuses"] == ["normal", "warning", "normal", "alarm"] or any(
        q["statuses"] == ["normal", "warning", "normal", "alarm"] for q in twin["qa"]
    )
    assert 'title="element 1: warning"' in page and 'title="element 3: alarm"' in page
    assert "tile 1234" in page and "RA 150.2500" in page and "run time" in page


def test_unit_names_and_qa_keys_from_a_runner_are_encoded(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    hostile = '<img src=x onerror="alert(1)">'
    _post(client, auth_headers, runner, [_announce(runner, ["b0", hostile], None)])
    _, events = runner.processing("00000008", ["b0", hostile])
    _post(client, auth_headers, runner, events)
    pid = client.get("/api/monitor/processings").json()["items"][0]["id"]
    page = _page(client, f"/monitor/processings/{pid}")
    assert hostile not in page
    assert "&lt;img src=x onerror=" in page
    live = _page(client, "/monitor")
    assert hostile not in live.replace("\\u003c", "<").split('id="monitor-state"')[0]


def test_histories_show_tile_ra_dec_filter_by_days_and_sort_by_last_qa(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    _post(client, auth_headers, runner, [_announce(runner, ["b0", "r0"], None)])
    _, first = runner.processing(
        "00000001",
        ["b0", "r0"],
        qa={("b0", "NOISE_AMP"): ("alarm", 9.0)},
        observed_at="2026-05-01T03:00:00Z",
        ra=10.0,
        dec=-5.0,
        header={"TILEID": 80605},
    )
    _, second = runner.processing(
        "00000002", ["b0", "r0"], observed_at="2026-05-02T03:00:00Z", ra=20.0, dec=5.0
    )
    _post(client, auth_headers, runner, first + second)
    _post(client, auth_headers, runner, [runner.exposure("00000003", flavor="science")])

    history = _page(client, "/monitor/processings")
    assert 'data-testid="date-from"' in history and 'data-testid="sort-ra"' in history
    assert ">80605<" in history and "10.0000" in history
    started = client.get("/api/monitor/processings").json()["items"][0]["started_at"][:10]
    chosen = client.get(
        "/monitor/processings", params={"format": "json", "from": started, "to": started}
    ).json()
    assert chosen["total"] == 2 and chosen["filters"]["from"] == started
    none = client.get(
        "/api/monitor/processings", params={"from": "2020-01-01", "to": "2020-01-02"}
    ).json()
    assert none["total"] == 0
    backwards = client.get(
        "/api/monitor/processings", params={"from": "2026-05-02", "to": "2026-05-01"}
    )
    assert backwards.status_code == 400 and "swap" in backwards.text
    typo = client.get("/api/monitor/processings", params={"from": "01/05/2026"})
    assert typo.status_code == 400 and "YYYY-MM-DD" in typo.text
    assert client.get("/api/monitor/processings", params={"from": "", "to": ""}).status_code == 200
    by_ra = client.get("/api/monitor/processings", params={"sort": "ra", "order": "asc"}).json()
    assert [p["exposure"] for p in by_ra["items"]] == ["00000001", "00000002"]

    exposures = client.get(
        "/api/monitor/exposures", params={"sort": "last_qa_status", "order": "asc"}
    ).json()
    rows = [(e["exposure"], e["last_qa_status"]) for e in exposures["items"]]
    assert rows == [("00000001", "alarm"), ("00000002", "normal"), ("00000003", None)]
    assert exposures["items"][0]["tile"] == "80605"
    page = _page(client, "/monitor/exposures", sort="exposure", order="asc")
    links = re.findall(
        r'href="/monitor/processings/(\d+)#qa-drill" data-testid="exposure-qa"', page
    )
    assert len(links) == 2 and 'data-testid="sort-last_qa_status"' in page
    one = client.get("/api/monitor/exposures", params={"limit": 1, "sort": "exposure"}).json()
    following = client.get(one["next_url"]).json()
    assert [e["exposure"] for e in following["items"]] == ["00000002"]


def test_the_live_page_lists_the_most_recent_ten(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    events: list[Any] = [_announce(runner, ["b0"], None)]
    for i in range(12):
        events += runner.processing(f"{i:08d}", ["b0"])[1]
    _post(client, auth_headers, runner, events)
    live = client.get("/api/monitor/live").json()
    assert [p["exposure"] for p in live["recent"]] == [f"{i:08d}" for i in range(11, 1, -1)]
    page = _page(client, "/monitor")
    assert page.count('data-testid="recent-item"') == 10
    assert 'data-testid="focal-plane"' in page and 'data-layout="desi"' in page

"""The monitor's processing page shows the plot a QA plot plugin draws for a QA key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient

from vigil.plugins import PluginQaValue, Plugins

HTML = {"Accept": "text/html"}
STEP = {
    "name": "CHECK_CCDs",
    "display_name": "CHECK CCDS",
    "start": "Starting to run step Initialize",
    "end": "Pipeline completed",
    "qa": [{"key": "NOISE_AMP", "display_name": "Noise AMP"}],
}


def _processing(client: TestClient, auth_headers: dict[str, str]) -> int:
    """A processing of two units, each reporting the noise of its four amplifiers."""
    key, clock = uuid.uuid4().hex, iter(range(100))

    def at() -> str:
        return f"2026-05-01T03:00:{next(clock):02d}Z"

    events: list[dict[str, Any]] = [
        {"type": "exposure", "time": at(), "pipeline": "ql", "exposure": "00000001"},
        {
            "type": "processing_started",
            "time": at(),
            "pipeline": "ql",
            "processing": key,
            "exposure": "00000001",
            "flavor": "science",
            "units": ["b0", "r0"],
            "steps": [STEP],
        },
    ]
    for unit, noise in (("b0", [3.5, 3.4, 3.6, 3.5]), ("r0", [3.9, 4.4, 3.6, 3.5])):
        base = {"processing": key, "unit": unit}
        events += [
            {"type": "unit_started", "time": at(), **base, "command": ["ql", unit]},
            {"type": "step", "time": at(), **base, "step": "CHECK_CCDs", "state": "running"},
            {
                "type": "qa",
                "time": at(),
                **base,
                "step": "CHECK_CCDs",
                "key": "NOISE_AMP",
                "display_name": "Noise AMP",
                "status": "normal",
                "value": max(noise),
                "values": noise,
                "statuses": ["normal"] * 4,
                "normal": [-1, 1],
                "warning": [-2, 2],
                "reference": 3.5,
            },
            {"type": "step", "time": at(), **base, "step": "CHECK_CCDs", "state": "succeeded"},
            {"type": "unit_ended", "time": at(), **base, "status": "succeeded", "exit_status": 0},
        ]
    batch = {"source": uuid.uuid4().hex, "sequence": 1, "events": events}
    posted = client.post("/api/monitor/events", json=batch, headers=auth_headers)
    assert posted.status_code == 200, posted.text
    (item,) = client.get("/api/monitor/processings").json()["items"]
    return int(item["id"])


def test_a_qa_plot_plugin_draws_in_the_drill_down(
    example_plugins: Plugins, client: TestClient, auth_headers: dict[str, str]
) -> None:
    given: list[Sequence[PluginQaValue]] = []
    example = example_plugins.qa_plots["NOISE_AMP"]

    def recording(key: str, values: Sequence[PluginQaValue]) -> Any:
        given.append(values)
        return example(key, values)

    example_plugins.qa_plots["NOISE_AMP"] = recording
    processing = _processing(client, auth_headers)
    page = client.get(f"/monitor/processings/{processing}", headers=HTML)
    assert page.status_code == 200
    assert "'unsafe-eval'" in page.headers["content-security-policy"]
    section = page.text[page.text.index('data-testid="qa-plots"') :]
    assert 'data-testid="qa-plot-NOISE_AMP"' in section
    assert 'data-bokeh-item="qa-plot-0"' in section
    assert "NOISE_AMP per amplifier" in section
    ((b0, r0),) = given
    assert (b0.unit, b0.step, b0.values, b0.reference) == (
        "b0",
        "CHECK_CCDs",
        (3.5, 3.4, 3.6, 3.5),
        [3.5],
    )
    assert (r0.unit, r0.value, r0.normal) == ("r0", 4.4, (-1, 1))
    # The JSON twin is the same with or without plugins.
    twin = client.get(f"/monitor/processings/{processing}", params={"format": "json"})
    assert "qa_plots" not in twin.json()


def test_without_the_plugin_the_page_has_no_qa_plots(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    processing = _processing(client, auth_headers)
    page = client.get(f"/monitor/processings/{processing}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="qa-plots"' not in page.text
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]

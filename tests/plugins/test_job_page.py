"""The job page draws a blob with the renderer a plugin gives for its name or its metric,
sanitised, and falls back to Vigil's own plot."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from vigil.plugins import PluginBlob, Plugins
from vigil.server.factory import Factory
from vigil.verify import Blob, Datum, Job

HTML = {"Accept": "text/html"}


def _job(factory: Factory) -> int:
    job = Job(meta={"dataset": "plugins", "instrument": "HSC"}, identifier="plugin-job")
    job.measure(
        "example.fit",
        0.2,
        blobs=[
            Blob(
                "example.residuals",
                {
                    "x": Datum([1.0, 2.0, 3.0, 4.0], unit="mm"),
                    "residual": Datum([0.1, -0.2, 0.05, 0.0], unit="mm"),
                },
            )
        ],
    )
    job.measure(
        "example.summary_metric",
        7.0,
        blobs=[Blob("summary", {"count": Datum(12), "band": Datum("<i>r</i>")})],
    )
    job.measure(
        "example.plain",
        1.0,
        blobs=[Blob("plain", {"mag": Datum([17.0, 18.0, 19.0]), "rms": Datum([3.0, 4.0, 6.0])})],
    )
    return factory.create_job_service().ingest(job.to_dict(), None).id


def _drill_down(page: str) -> dict[str, str]:
    """Each blob's name and the markup drawn for it, in the drill-down card."""
    card = page[page.index("<h2>Drill-down</h2>") : page.index('data-testid="artifacts"')]
    blocks = re.split(r"<strong>", card)[1:]
    return {block[: block.index("</strong>")]: block for block in blocks}


def test_renderers_by_blob_name_and_by_metric(
    example_plugins: Plugins, client: TestClient, factory: Factory
) -> None:
    job_id = _job(factory)
    page = client.get(f"/jobs/{job_id}", headers=HTML)
    assert page.status_code == 200
    assert "'unsafe-eval'" in page.headers["content-security-policy"]  # BokehJS, no inline
    drawn = _drill_down(page.text)
    # By blob name: the plugin's Bokeh figure, without Vigil's axis choice.
    assert "Residuals by position" in drawn["example.residuals"]
    assert "example-residuals" in drawn["example.residuals"]
    assert "blob_x." not in drawn["example.residuals"]
    # By metric name: the plugin's HTML, its strings escaped by the plugin.
    assert '<table class="example-summary">' in drawn["summary"]
    assert "&lt;i&gt;r&lt;/i&gt;" in drawn["summary"]
    # No plugin for this one: Vigil's scatter with its axis choice.
    assert 'name="blob_x.' in drawn["plain"] and "Distribution of" not in drawn["plain"]


def test_plugin_html_is_sanitised_and_a_failure_falls_back(
    example_plugins: Plugins, client: TestClient, factory: Factory
) -> None:
    def hostile(blob: PluginBlob) -> str:
        return (
            f"<p class='ok'>{len(blob.data)} datums</p><script>alert(1)</script>"
            "<img src=x onerror=alert(2)><a href='javascript:alert(3)'>x</a>"
        )

    def broken(blob: PluginBlob) -> Any:
        raise RuntimeError("no fit converged")

    example_plugins.blob_renderers["summary"] = hostile
    example_plugins.blob_renderers["plain"] = broken
    job_id = _job(factory)
    page = client.get(f"/jobs/{job_id}", headers=HTML)
    assert page.status_code == 200
    drawn = _drill_down(page.text)
    # The blob's own name wins over its metric's renderer.
    assert '<p class="ok">2 datums</p>' in drawn["summary"]
    assert "alert" not in drawn["summary"] and "onerror" not in drawn["summary"]
    assert "example-summary" not in drawn["summary"]
    # A renderer that fails: Vigil's plot, and the reason.
    note = html.unescape(drawn["plain"])
    assert "the plugin 'plain' failed: RuntimeError: no fit converged" in note
    assert 'data-bokeh-item="blob-plot-2"' in drawn["plain"]


def test_without_the_plugin_the_default_plots_are_drawn(
    client: TestClient, factory: Factory
) -> None:
    job_id = _job(factory)
    drawn = _drill_down(client.get(f"/jobs/{job_id}", headers=HTML).text)
    assert set(drawn) == {"example.residuals", "plain"}  # "summary" has no array to plot
    assert "Residuals by position" not in drawn["example.residuals"]

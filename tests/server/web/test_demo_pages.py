"""The dashboard on a slice of the demo history (20 nights, ingested like `vigil demo`)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from fastapi.testclient import TestClient

from vigil.demo import generate_history
from vigil.server.factory import Factory

from ._web_data import HTML
from .test_metric_page import models_of, plot_item


def test_demo_history_pages(client: TestClient, factory: Factory) -> None:
    jobs = factory.create_job_service()
    ids = [jobs.ingest(job, None).id for job in generate_history(days=20)]
    assert len(ids) > 50

    overview = client.get("/?format=json").json()
    assert overview["counts"]["jobs"] == len(ids)
    assert overview["failing_specifications"]  # the demo fails design specifications
    assert client.get("/", headers=HTML).status_code == 200

    hsc = "validation_data_hsc"
    body = client.get(f"/metrics/validate_drp.PA1?dataset={hsc}&band=r&format=json").json()
    assert body["series"]["data_id"] == {"band": "r"}
    assert body["point_count"] >= 15
    # The HSC design specification of the r band applies (metadata_query on the
    # instrument, dataset and filter), the CFHT ones do not.
    names = {t["spec"]["name"] for t in body["thresholds"]}
    assert "validate_drp.PA1.hsc_design_r" in names
    assert not any("cfht" in n for n in names)
    html = client.get(f"/metrics/validate_drp.PA1?dataset={hsc}&band=r", headers=HTML).text
    assert models_of(plot_item(html), "Span")

    # Deblender pull requests: branches beside main.
    branches = client.get("/metrics/deblend.runtime?format=json").json()["branches"]
    assert branches[0] == "main" and len(branches) > 1
    by_branch = client.get("/metrics/deblend.runtime?view=branch", headers=HTML)
    assert by_branch.status_code == 200 and plot_item(by_branch.text)

    # Per patch of tract 9813.
    grid = client.get(f"/metrics/validate_drp.PA1/dataids?dataset={hsc}&format=json").json()
    assert (grid["row_key"], grid["col_key"]) == ("tract", "patch")
    patch = next(r["data_id"] for r in grid["rows"] if "patch" in r["data_id"])
    history = client.get(
        f"/metrics/validate_drp.PA1?dataset={hsc}&data_id={quote(json.dumps(patch))}&format=json"
    ).json()
    assert history["series"]["data_id"] == patch

    # A job with blobs and the deblender's residual images are listed.
    job = client.get(f"/jobs/{ids[-1]}", headers=HTML)
    assert job.status_code == 200
    assert re.search(r'data-testid="job-measurements"', job.text)

"""Helpers of the SQuaSH surface tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.testclient import TestClient

__all__ = ["job_document", "post_job"]


def job_document(
    base: dict[str, Any],
    *,
    ci_id: str | None = None,
    ci_name: str = "validate_drp",
    packages: dict[str, dict[str, Any]] | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """A copy of *base* as dispatch_verify sends it, with a Jenkins env if *ci_id* is given.

    dispatch_verify sends only measurements, blobs and meta; with *full* the metric and
    specification definitions of the Job JSON file are kept, which Vigil stores too.
    """
    keys = ("measurements", "blobs", "meta") + (("metrics", "specs") if full else ())
    doc = {k: copy.deepcopy(base[k]) for k in keys}
    if ci_id is not None:
        doc["meta"]["env"] = {
            "env_name": "jenkins",
            "ci_id": ci_id,
            "ci_name": ci_name,
            "ci_dataset": "validation_data_cfht",
            "ci_label": "centos-7",
            "ci_url": f"https://ci.example.org/job/{ci_name}/{ci_id}/",
            "status": 0,
            "date": "2018-07-30T18:25:52+00:00",
        }
    if packages is not None:
        doc["meta"]["packages"] = packages
    return doc


def post_job(client: TestClient, token: str, doc: dict[str, Any]) -> dict[str, Any]:
    """POST a job as dispatch_verify does (bare NaN on the wire) and return the 202 body."""
    response = client.post(
        "/job",
        content=json.dumps(doc).encode(),
        headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body

"""The spec-driven client rejects what the spec rejects (so its passing means something)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ._swagger_client import SpecViolationError, SwaggerClient, load_spec, to_json_schema

SPEC, _ = load_spec()


def _job(**changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": 1,
        "date_created": "2018-07-30T18:25:52Z",
        "ci_dataset": None,
        "s3_uri": None,
        "measurements": [
            {"value": None, "unit": "mmag", "metric": "validate_drp.PA1", "blobs": []}
        ],
        "meta": {"packages": [], "env": {}},
    }
    job.update(changes)
    return job


def _offline(handler: Any = None) -> SwaggerClient:
    transport = httpx.MockTransport(handler or (lambda request: httpx.Response(500)))
    return SwaggerClient(httpx.Client(transport=transport, base_url="http://squash"), SPEC)


def test_x_nullable_becomes_a_null_type() -> None:
    assert to_json_schema({"type": "number", "x-nullable": True}) == {"type": ["number", "null"]}
    assert to_json_schema({"$ref": "#/definitions/A", "x-nullable": True}) == {
        "anyOf": [{"$ref": "#/definitions/A"}, {"type": "null"}]
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"date_created": "2018-07-30 18:25:52"},
        {"measurements": [{"value": "NaN", "unit": "", "metric": "a.b", "blobs": []}]},
        {"measurements": [{"value": 1.0, "unit": "", "metric": "a.b"}]},
        {"meta": {"env": {}}},
    ],
)
def test_a_job_body_off_the_schema_is_a_violation(bad: dict[str, Any]) -> None:
    schema = SPEC["paths"]["/job/{job_id}"]["get"]["responses"]["200"]["schema"]
    client = _offline()
    client.validate(_job(), schema, "job")
    with pytest.raises(SpecViolationError):
        client.validate(_job(**bad), schema, "job")


def test_calls_outside_the_spec_are_refused_before_sending() -> None:
    client = _offline()
    with pytest.raises(SpecViolationError, match="not an operation"):
        client.call("get", "/kpms")
    with pytest.raises(SpecViolationError, match="undeclared query parameter"):
        client.call("get", "/jobs", query={"secret": "1"})
    with pytest.raises(SpecViolationError, match="must be an integer"):
        client.call("get", "/job/{job_id}", path_params={"job_id": "1"})
    with pytest.raises(SpecViolationError, match="required parameter"):
        client.call("get", "/blob/{job_id}", path_params={"job_id": 1}, query={"metric": "a.b"})
    with pytest.raises(SpecViolationError, match="request body"):
        client.call("post", "/job", body={"meta": {}})


def test_an_undeclared_status_is_a_violation() -> None:
    client = _offline(lambda request: httpx.Response(418, json={"message": "teapot"}))
    with pytest.raises(SpecViolationError, match="answered 418"):
        client.call("get", "/version")

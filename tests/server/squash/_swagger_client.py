"""A SQuaSH client generated from the Swagger 2.0 description of the SQuaSH API.

The client knows nothing of Vigil: every call is looked up in the spec (path template,
method, parameters and where they go), the request body is checked against the body
parameter's schema, and the response must carry a status the spec declares for that
operation and a body that validates against that status's schema.

``squash-openapi-v2.json`` (the flasgger output of lsst-sqre/squash-rest-api) declares
no response schemas and leaves out the routes registered outside flasgger, so it is
completed by ``squash-response-schemas.json`` beside this file, written from
squash-rest-api's response builders. Swagger 2.0 schema objects are turned into JSON
Schema (Draft 4) here: ``#/definitions/...`` references are kept and resolved against
the converted definitions, ``x-nullable`` becomes a ``null`` type and the spec's
``in: url`` parameters are query parameters.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

__all__ = [
    "SPEC_PATH",
    "SUPPLEMENT_PATH",
    "Operation",
    "SpecViolationError",
    "SwaggerClient",
    "load_spec",
    "spec_operations",
    "to_json_schema",
]

SPEC_PATH = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "conformance"
    / "squash"
    / "squash-openapi-v2.json"
)
SUPPLEMENT_PATH = Path(__file__).with_name("squash-response-schemas.json")

_METHODS = ("get", "post", "put", "delete", "patch")


class SpecViolationError(AssertionError):
    """A request or a response does not conform to the spec."""


@dataclass(frozen=True)
class Operation:
    """One path and method of the spec."""

    path: str
    method: str
    definition: dict[str, Any]

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return list(self.definition.get("parameters", []))

    @property
    def responses(self) -> dict[str, Any]:
        return dict(self.definition.get("responses", {}))


def _merge_operation(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    known = {(p.get("in"), p.get("name")) for p in merged.get("parameters", [])}
    for param in extra.get("parameters", []):
        if (param.get("in"), param.get("name")) not in known:
            merged.setdefault("parameters", []).append(param)
    for status, response in extra.get("responses", {}).items():
        target = merged.setdefault("responses", {}).setdefault(status, {})
        target.setdefault("description", response.get("description", ""))
        if "schema" in response:
            target["schema"] = response["schema"]
    return merged


def load_spec(
    spec_path: Path = SPEC_PATH, supplement_path: Path = SUPPLEMENT_PATH
) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """Load the SQuaSH spec completed by the supplement.

    Returns
    -------
    spec, original_operations
        The merged Swagger document and the ``(path, method)`` pairs of the original
        spec file alone.
    """
    spec = json.loads(spec_path.read_text())
    original = spec_operations(spec)
    supplement = json.loads(supplement_path.read_text())
    spec.setdefault("definitions", {}).update(supplement["definitions"])
    for path, item in supplement["paths"].items():
        target = spec["paths"].setdefault(path, {})
        for method, operation in item.items():
            target[method] = _merge_operation(target.get(method, {}), operation)
    return spec, original


def spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """The ``(path, method)`` pairs of a Swagger document."""
    return {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in _METHODS
    }


def to_json_schema(schema: Any) -> Any:
    """Turn a Swagger 2.0 schema object into JSON Schema (Draft 4)."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        key: to_json_schema(value)
        for key, value in schema.items()
        if key != "x-nullable" and not key.startswith("x-")
    }
    if schema.get("x-nullable"):
        if "$ref" in converted:
            converted = {"anyOf": [{"$ref": converted.pop("$ref")}, {"type": "null"}]}
        elif "type" in converted:
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
    return converted


class SwaggerClient:
    """Call a server through the operations of a Swagger 2.0 spec.

    Parameters
    ----------
    http
        The HTTP client, its base URL set to the API root.
    spec
        The Swagger document (see `load_spec`).
    """

    def __init__(self, http: httpx.Client, spec: dict[str, Any]) -> None:
        self.http = http
        self.spec = spec
        self._definitions = {
            name: to_json_schema(schema) for name, schema in spec.get("definitions", {}).items()
        }
        self.operations: dict[tuple[str, str], Operation] = {
            (path, method): Operation(path, method, definition)
            for path, item in spec["paths"].items()
            for method, definition in item.items()
            if method in _METHODS
        }

    def schema_for(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A standalone JSON Schema for a Swagger schema object of this spec."""
        converted = to_json_schema(schema)
        return {**converted, "definitions": self._definitions}

    def validate(self, instance: Any, schema: dict[str, Any], what: str) -> None:
        """Validate *instance* against a Swagger *schema*, naming *what* on failure."""
        validator = jsonschema.Draft4Validator(self.schema_for(schema))
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            lines = [f"{what} does not match the spec:"]
            for error in errors[:10]:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                lines.append(f"  at {where}: {error.message[:300]}")
            raise SpecViolationError("\n".join(lines))

    def call(
        self,
        method: str,
        path: str,
        *,
        path_params: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Perform the operation *method* *path* and check the exchange against the spec.

        Parameters
        ----------
        method, path
            The operation, as written in the spec (``"get"``, ``"/job/{job_id}"``).
        path_params, query, body
            Parameter values; each must be declared by the operation.
        raw_body
            The body bytes to send instead of ``json.dumps(body)`` (to send bare
            ``NaN`` as lsst.verify's jobs contain), still checked as *body*.
        headers
            Extra headers (``Authorization``).
        """
        method = method.lower()
        operation = self.operations.get((path, method))
        if operation is None:
            raise SpecViolationError(f"{method.upper()} {path} is not an operation of the spec")
        path_params = dict(path_params or {})
        query = {k: v for k, v in (query or {}).items() if v is not None}
        declared = {(p["in"], p["name"]): p for p in operation.parameters}

        url = path
        for name in re.findall(r"{(\w+)}", path):
            if name not in path_params:
                raise SpecViolationError(f"{path}: path parameter {name!r} missing")
            value = path_params.pop(name)
            param = declared.get(("path", name), {"type": "string"})
            if param.get("type") == "integer" and not isinstance(value, int):
                raise SpecViolationError(f"{path}: {name} must be an integer, got {value!r}")
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        if path_params:
            raise SpecViolationError(f"{path}: undeclared path parameters {sorted(path_params)}")
        for name in query:
            if ("url", name) not in declared and ("query", name) not in declared:
                raise SpecViolationError(
                    f"{method.upper()} {path}: undeclared query parameter {name!r}"
                )
        for (where, name), param in declared.items():
            if where in ("url", "query") and param.get("required") and name not in query:
                raise SpecViolationError(
                    f"{method.upper()} {path}: required parameter {name!r} missing"
                )

        body_params = [p for p in operation.parameters if p.get("in") == "body"]
        content: bytes | None = None
        request_headers = {"Accept": "application/json"}
        if body is not None or raw_body is not None:
            if not body_params:
                raise SpecViolationError(f"{method.upper()} {path} takes no body")
            if body is not None and "schema" in body_params[0]:
                self.validate(
                    body, body_params[0]["schema"], f"request body of {method.upper()} {path}"
                )
            content = raw_body if raw_body is not None else json.dumps(body).encode()
            request_headers["Content-Type"] = "application/json"
        request_headers.update(headers or {})

        response = self.http.request(
            method.upper(), url, params=query, content=content, headers=request_headers
        )
        status = str(response.status_code)
        if status not in operation.responses:
            raise SpecViolationError(
                f"{method.upper()} {url} answered {status}, not one of the statuses the spec"
                f" declares ({sorted(operation.responses)}): {response.text[:500]}"
            )
        schema = operation.responses[status].get("schema")
        if schema is not None:
            try:
                document = response.json()
            except ValueError as error:
                raise SpecViolationError(
                    f"{method.upper()} {url}: body is not JSON: {error}"
                ) from None
            self.validate(document, schema, f"{status} response of {method.upper()} {url}")
        return response

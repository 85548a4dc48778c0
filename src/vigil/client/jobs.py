"""lsst.verify Job JSON documents as plain dicts: read, merge, serialise.

The client works on the wire format (the dicts of ``Job.json``) rather than on
`vigil.verify` objects: a pipeline can dispatch a file written by any version of
lsst.verify without the client understanding every field.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.client.errors import JobFileError

__all__ = [
    "JOB_LIST_KEYS",
    "dump_job",
    "ensure_identifier",
    "load_job",
    "merge_jobs",
    "without_blobs",
]

#: Top-level keys of a Job whose values are lists.
JOB_LIST_KEYS = ("measurements", "blobs", "metrics", "specs")


def load_job(path: str | Path) -> dict[str, Any]:
    """Read one lsst.verify Job JSON file.

    Bare ``NaN`` tokens, which lsst.verify wrote before 2021, are accepted.

    Parameters
    ----------
    path
        The Job JSON file.

    Returns
    -------
    dict
        The job, as parsed.

    Raises
    ------
    JobFileError
        If the file cannot be read, is not JSON, or is not shaped like a Job.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobFileError(f"Cannot read job file {path}: {exc.strerror or exc}.") from exc
    try:
        job: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "pass a Job file written by lsst.verify's Job.write or vigil.verify."
        ) from exc
    _check_job_shape(job, str(path))
    return job


def _check_job_shape(job: object, origin: str) -> None:
    if not isinstance(job, dict):
        raise JobFileError(
            f"{origin} does not hold a Job: expected a JSON object with keys "
            f"'measurements', 'blobs', 'metrics', 'specs', 'meta', got {type(job).__name__}."
        )
    for key in JOB_LIST_KEYS:
        if key in job and not isinstance(job[key], list):
            raise JobFileError(f"{origin}: '{key}' must be a list, got {type(job[key]).__name__}.")
    if "meta" in job and not isinstance(job["meta"], dict):
        raise JobFileError(f"{origin}: 'meta' must be an object, got {type(job['meta']).__name__}.")


def merge_jobs(jobs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge several jobs into one, the way ``dispatch_verify.py`` combined its inputs.

    Measurements are concatenated; blobs are concatenated and deduplicated by
    ``identifier``; metrics and specifications are deduplicated by ``name``; ``meta``
    dicts are merged recursively. In every dedup, a later job wins. The inputs are not
    modified.

    The merged job keeps a top-level ``identifier`` only when every input that carries
    one carries the same one: a combination of different jobs is a new job.

    Parameters
    ----------
    jobs
        One or more jobs (wire-format dicts).

    Returns
    -------
    dict
        A new job.

    Raises
    ------
    ValueError
        If *jobs* is empty.
    """
    if not jobs:
        raise ValueError("merge_jobs needs at least one job.")
    measurements: list[Any] = []
    blobs: dict[object, Any] = {}
    metrics: dict[object, Any] = {}
    specs: dict[object, Any] = {}
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    identifiers = set()
    for job in jobs:
        measurements.extend(copy.deepcopy(job.get("measurements") or []))
        _merge_keyed(blobs, job.get("blobs") or [], "identifier")
        _merge_keyed(metrics, job.get("metrics") or [], "name")
        _merge_keyed(specs, job.get("specs") or [], "name")
        _deep_update(meta, job.get("meta") or {})
        if job.get("identifier"):
            identifiers.add(job["identifier"])
        for key, value in job.items():
            if key not in (*JOB_LIST_KEYS, "meta", "identifier"):
                extra[key] = copy.deepcopy(value)
    merged: dict[str, Any] = {
        "measurements": measurements,
        "blobs": list(blobs.values()),
        "metrics": list(metrics.values()),
        "specs": list(specs.values()),
        "meta": meta,
        **extra,
    }
    if len(identifiers) == 1:
        merged["identifier"] = identifiers.pop()
    return merged


def _merge_keyed(into: dict[object, Any], items: Sequence[Any], key: str) -> None:
    """Add *items* to *into* keyed by ``item[key]``; items without the key are all kept."""
    for item in items:
        name = item.get(key) if isinstance(item, dict) else None
        # A dict keeps the first insertion position on update: order follows first sight.
        into[name if name is not None else object()] = copy.deepcopy(item)


def _deep_update(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def without_blobs(job: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of *job* with no blobs and no blob references.

    Parameters
    ----------
    job
        A job.

    Returns
    -------
    dict
        The job without its blobs (``--ignore-blobs``).
    """
    stripped = copy.deepcopy(dict(job))
    stripped["blobs"] = []
    for measurement in stripped.get("measurements") or []:
        if isinstance(measurement, dict):
            # References to blobs that are not sent would dangle on the server.
            measurement.pop("blob_refs", None)
    return stripped


def ensure_identifier(job: dict[str, Any]) -> str:
    """Give *job* a top-level ``identifier`` (uuid4 hex) if it has none.

    The identifier is the idempotency key: the server stores a job once per
    identifier, so resending the same job (from the spool) cannot duplicate it.

    Parameters
    ----------
    job
        The job, modified in place.

    Returns
    -------
    str
        The job's identifier.
    """
    identifier = job.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        identifier = uuid.uuid4().hex
        job["identifier"] = identifier
    return identifier


def dump_job(
    job: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, indent: int | None = None
) -> str:
    """Serialise *job* as strict JSON, writing NaN and infinities as ``null``.

    Parameters
    ----------
    job
        The job, or a list of jobs.
    indent
        Indentation, as for `json.dumps`; compact when None.

    Returns
    -------
    str
        The JSON text.
    """
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(_finite(job), indent=indent, separators=separators, allow_nan=False)


def _finite(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

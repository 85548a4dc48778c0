"""Gen3 measurements in a Butler repository, gathered into Vigil jobs.

Two kinds of dataset hold metric values in today's LSST pipelines:

- lsst.verify ``Measurement`` YAML files, written by Gen3 ``MetricTask`` subclasses as
  ``metricvalue_<package>_<metric>`` datasets (storage class ``MetricValue``);
- analysis_tools metric bundles (storage class ``MetricMeasurementBundle``, dataset types
  such as ``objectTableCore_metrics``): JSON, each tool's name mapped to its list of
  measurements, with ``__``-prefixed keys for the bundle's reference package, timestamp
  version and dataset identifier.

Both are read through the Butler's URIs with Vigil's own parsers, so neither lsst.verify
nor analysis_tools need be installed. The datasets of one run collection make one job;
each measurement keeps its dataset's dataId. A bundle's measurements are named
``<tool>.<metric>``, as the Sasquatch surface names what ``SasquatchDispatcher`` sends
(topic, then field), so the same values reach the same series either way.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.lsst._butler import check_collections, open_butler, query_refs
from vigil.lsst.errors import ButlerError
from vigil.verify.errors import DocumentError, InvalidNameError
from vigil.verify.measurement import Measurement, measurement_document
from vigil.verify.naming import check_metric_name

if TYPE_CHECKING:
    from lsst.daf.butler import Butler, DatasetRef

__all__ = [
    "BUNDLE_STORAGE_CLASS",
    "MEASUREMENT_STORAGE_CLASS",
    "MeasurementJobs",
    "find_measurement_jobs",
    "read_bundle",
]

MEASUREMENT_STORAGE_CLASS = "MetricValue"
BUNDLE_STORAGE_CLASS = "MetricMeasurementBundle"
_METRICVALUE = "metricvalue_"
_IDENTIFIERS = uuid.UUID("6f0c3b5e-2a6d-4f1e-9a53-7c1d2b8e4f60")
"""The namespace of the identifiers made for measurements their files give none."""
_RUN_TIMESTAMP = re.compile(r"(?:^|/)(\d{8}T\d{6}Z)(?:$|/)")
"""The timestamp pipetask puts in a run collection's name (``u/me/DM-1/20240102T030405Z``)."""

Progress = Callable[[str, int, int], None]


@dataclass
class MeasurementJobs:
    """What `find_measurement_jobs` found: one job per run collection."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    datasets: int = 0
    measurements: int = 0
    dataset_types: list[str] = field(default_factory=list)
    skipped_types: list[str] = field(default_factory=list)
    """Measurement dataset types left out: they lack a dimension ``where`` names."""


def repository_root(repo: str | Path) -> str:
    """*repo* spelled one way whatever way it was given: the absolute folder of a local
    repository (not its ``butler.yaml``), else the URI as given."""
    text = str(repo)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        return text.rstrip("/")
    path = Path(text).resolve()
    return str(path.parent if path.name.endswith((".yaml", ".json")) else path)


_IDENTIFIER_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\b([A-Za-z_][A-Za-z0-9_]*)")


def where_dimensions(butler: Butler, where: str) -> set[str]:
    """The dimensions a ``--where`` expression names (``visit.day_obs`` names visit)."""
    known = set(butler.dimensions.getStaticDimensions().names)
    words = {m[1] for m in _IDENTIFIER_TOKEN.finditer(where) if m[1]}
    return words & known


def _check_job(job: dict[str, Any]) -> None:
    """Refuse, before anything is sent, a job the server would refuse."""
    from vigil.verify.job import Job

    try:
        Job.from_dict(job, source=f"run {job['meta']['butler_run']}")
    except DocumentError as exc:
        raise ButlerError(str(exc)) from None


def _package_from_type(dataset_type: str, metric: str) -> str | None:
    """``verify`` for ``metricvalue_verify_testing`` and metric ``testing``."""
    if not dataset_type.startswith(_METRICVALUE):
        return None
    rest = dataset_type[len(_METRICVALUE) :]
    if rest.endswith(f"_{metric}") and len(rest) > len(metric) + 1:
        return rest[: -len(metric) - 1]
    return rest.split("_", 1)[0] or None


def _stable_identifier(*parts: str) -> str:
    """An identifier for a measurement its file gives none: the same at every reading."""
    return uuid.uuid5(_IDENTIFIERS, "/".join(parts)).hex


def read_measurement(text: str, dataset_type: str, where: str, key: str = "") -> Measurement:
    """One lsst.verify Measurement YAML document, its metric named ``package.metric``.

    *key* (the dataset's id) makes the identifier of a measurement that has none.
    """
    try:
        data = measurement_document(where, text)
        measurement = Measurement.from_dict(data)
        if not data.get("identifier"):
            measurement.identifier = _stable_identifier(key or where, measurement.metric)
    except DocumentError as exc:
        raise ButlerError(f"{dataset_type} at {where}: {exc}") from None
    if "." not in measurement.metric:
        package = _package_from_type(dataset_type, measurement.metric)
        if package is None:
            raise ButlerError(
                f"{dataset_type} at {where}: metric {measurement.metric!r} names no package"
            )
        measurement.metric = f"{package}.{measurement.metric}"
    return measurement


def _full_name(name: str, where: str) -> str:
    try:
        return check_metric_name(name)
    except InvalidNameError as exc:
        raise ButlerError(f"{where}: {exc.reason}") from None


def read_bundle(text: str, where: str, key: str = "") -> tuple[list[Measurement], dict[str, Any]]:
    """The measurements of an analysis_tools metric bundle, and its ``__`` fields.

    *key* (the dataset's id) makes the identifier of a measurement that has none.

    Raises
    ------
    ButlerError
        Not a JSON object of tool names to lists of measurements; a measurement without a
        numeric value.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ButlerError(f"{where} is not a metric bundle: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ButlerError(f"{where} is not a metric bundle: not a JSON object")
    fields = {k[2:]: v for k, v in document.items() if isinstance(k, str) and k.startswith("__")}
    prefix = fields.get("metricNamePrefix") or fields.get("metric_name_prefix") or ""
    measurements: list[Measurement] = []
    for tool, values in document.items():
        if tool.startswith("__"):
            continue
        if not isinstance(values, list):
            raise ButlerError(f"{where}: tool {tool!r} holds {type(values).__name__}, not a list")
        for index, value in enumerate(values):
            try:
                measurement = Measurement.from_dict(value, f"{tool}[{index}]")
            except DocumentError as exc:
                raise ButlerError(f"{where}: {exc}") from None
            if not value.get("identifier"):
                measurement.identifier = _stable_identifier(key or where, tool, str(index))
            measurement.metric = _full_name(f"{prefix}{tool}.{measurement.metric}", where)
            measurements.append(measurement)
    return measurements, fields


def _run_at(run: str, bundle_fields: Sequence[Mapping[str, Any]]) -> str | None:
    match = _RUN_TIMESTAMP.search(run)
    if match is not None:
        return datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    for fields in bundle_fields:
        version = str(fields.get("timestamp_version") or "")
        if version.startswith("explicit_timestamp:"):
            stamp = version.split(":", 1)[1]
            try:
                return datetime.strptime(stamp, "%Y%m%dT%H%M%S%z").isoformat()
            except ValueError:
                continue
    return None


def _measurement_types(butler: Butler) -> list[tuple[str, str]]:
    found = []
    for dataset_type in butler.registry.queryDatasetTypes("*"):
        storage = dataset_type.storageClass_name
        if storage == BUNDLE_STORAGE_CLASS:
            found.append((dataset_type.name, "bundle"))
        elif storage == MEASUREMENT_STORAGE_CLASS or dataset_type.name.startswith(_METRICVALUE):
            found.append((dataset_type.name, "measurement"))
    return sorted(found)


def _data_id(ref: DatasetRef) -> dict[str, Any]:
    return {str(k): v for k, v in dict(ref.dataId.required).items()}


class _RunJob:
    """The job of one run collection, filled dataset by dataset."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.measurements: list[dict[str, Any]] = []
        self.blobs: dict[str, dict[str, Any]] = {}
        self.ids: list[str] = []
        self.bundle_fields: list[dict[str, Any]] = []
        self.instruments: set[str] = set()

    def add(self, ref: DatasetRef, measurements: list[Measurement]) -> None:
        data_id = _data_id(ref)
        self.ids.append(str(ref.id))
        if isinstance(data_id.get("instrument"), str):
            self.instruments.add(data_id["instrument"])
        for measurement in measurements:
            measurement.data_id = {**data_id, **measurement.data_id}
            measurement.notes = {
                **measurement.notes,
                "butler.dataset_type": ref.datasetType.name,
                "butler.dataset_id": str(ref.id),
            }
            for blob in measurement.blobs:
                self.blobs[blob.identifier] = blob.to_dict()
            self.measurements.append(measurement.to_dict())

    def job(self, repo: str, dataset: str | None) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join([self.run, *sorted(self.ids)]).encode()).hexdigest()
        meta: dict[str, Any] = {"butler_run": self.run, "butler_repo": repo}
        if dataset:
            meta["dataset"] = dataset
        else:
            for fields in self.bundle_fields:
                if isinstance(fields.get("dataset_identifier"), str):
                    meta["dataset"] = fields["dataset_identifier"]
                    break
        if len(self.instruments) == 1:
            meta["instrument"] = next(iter(self.instruments))
        run_at = _run_at(self.run, self.bundle_fields)
        if run_at is not None:
            meta["run_at"] = run_at
        return {
            "identifier": f"butler-{digest[:40]}",
            "measurements": self.measurements,
            "blobs": list(self.blobs.values()),
            "meta": meta,
        }


def find_measurement_jobs(
    repo: str | Path,
    collections: Sequence[str],
    *,
    where: str = "",
    dataset: str | None = None,
    progress: Progress | None = None,
) -> MeasurementJobs:
    """The measurements of *collections* in *repo* as Vigil jobs, one per run collection.

    Parameters
    ----------
    repo
        The Butler repository.
    collections
        Collections to search (runs, chains, tags); every matching dataset of each is
        taken, not only the first found.
    where
        A Butler query expression on the dataIds (``instrument = 'HSC' AND visit = 1228``).
    dataset
        The job's dataset (``meta.dataset``); default: the bundles' dataset identifier.
    progress
        Called as ``progress("read", done, total)``.

    A job's identifier is derived from its run collection and the ids of its datasets:
    reading the same datasets again gives the same job, which the server stores once.

    Raises
    ------
    ButlerError
        Not a repository, an unknown collection, a bad ``where``, or a dataset that does
        not read as measurements (it is named; no job is made then).
    """
    butler = open_butler(repo)
    names = check_collections(butler, collections)
    found = MeasurementJobs()
    refs: list[tuple[DatasetRef, str]] = []
    seen: set[str] = set()
    named = where_dimensions(butler, where)
    for name, kind in _measurement_types(butler):
        dimensions = set(butler.registry.getDatasetType(name).dimensions.names)
        if not named <= dimensions:
            # The Butler would join the missing dimensions in and keep every dataset of
            # this type: a --where on detectors does not select instrument-wide values.
            found.skipped_types.append(name)
            continue
        matched = query_refs(butler, name, names, where=where, find_first=False)
        if matched:
            found.dataset_types.append(name)
        for ref in matched:
            if str(ref.id) not in seen:
                seen.add(str(ref.id))
                refs.append((ref, kind))
    runs: dict[str, _RunJob] = {}
    for index, (ref, kind) in enumerate(refs):
        uri = butler.getURI(ref)
        where_read = str(uri)
        try:
            text = uri.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ButlerError(
                f"{ref.datasetType.name} at {where_read} cannot be read: {exc}"
            ) from None
        run = runs.setdefault(ref.run, _RunJob(ref.run))
        if kind == "bundle":
            measurements, fields = read_bundle(text, where_read, str(ref.id))
            run.bundle_fields.append(fields)
        else:
            measurements = [read_measurement(text, ref.datasetType.name, where_read, str(ref.id))]
        run.add(ref, measurements)
        found.measurements += len(measurements)
        if progress is not None:
            progress("read", index + 1, len(refs))
    found.datasets = len(refs)
    root = repository_root(repo)
    found.jobs = [runs[name].job(root, dataset) for name in sorted(runs) if runs[name].measurements]
    for job in found.jobs:
        _check_job(job)
    return found

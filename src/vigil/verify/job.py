"""Jobs: one verification run's measurements, blobs, metrics, specifications and metadata.

The JSON shape is lsst.verify's (top-level ``measurements``, ``blobs``, ``metrics``,
``specs``, ``meta``), read and written as is. Vigil adds, only where used, a top-level
``identifier`` (the idempotency key the server deduplicates on) and, per measurement,
``data_id`` and ``notes``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.verify import _json
from vigil.verify._fields import as_mapping
from vigil.verify.datum import Blob, Datum
from vigil.verify.errors import DocumentError, UnitError, UnknownMetricError
from vigil.verify.measurement import Measurement, check_data_id
from vigil.verify.metric import Metric, MetricSet
from vigil.verify.spec import ThresholdSpecification
from vigil.verify.specset import SpecificationSet
from vigil.verify.units import convertible

__all__ = ["Job", "SpecVerdict"]

logger = logging.getLogger(__name__)

_TOP_LEVEL = ("measurements", "blobs", "metrics", "specs", "meta", "identifier")


@dataclass(frozen=True, slots=True)
class SpecVerdict:
    """How one measurement fares against one specification.

    ``passed`` is None when the measured value is not a number: there is no verdict.
    """

    measurement: Measurement
    spec: ThresholdSpecification
    passed: bool | None

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``nan``."""
        return "nan" if self.passed is None else ("pass" if self.passed else "fail")


class Job:
    """A verification run.

    Build one in a pipeline in a few lines::

        job = Job(meta={"instrument": "HSC", "filter_name": "r"})
        job.measure("validate_drp.PA1", 16.7 * u.mmag, data_id={"tract": 9813})
        job.write("PA1.verify.json")

    Parameters
    ----------
    measurements, blobs, metrics, specs
        Initial content.
    meta
        Free metadata (instrument, filter, dataset, environment, packages...).
    identifier
        The client identifier the server deduplicates on; None lets the dispatcher add one.
    """

    def __init__(
        self,
        measurements: Iterable[Measurement] = (),
        *,
        blobs: Iterable[Blob] = (),
        metrics: Iterable[Metric] | MetricSet = (),
        specs: Iterable[ThresholdSpecification] | SpecificationSet = (),
        meta: Mapping[str, Any] | None = None,
        identifier: str | None = None,
    ) -> None:
        self.metrics = metrics if isinstance(metrics, MetricSet) else MetricSet(metrics)
        self.specs = (
            specs
            if isinstance(specs, SpecificationSet)
            else SpecificationSet(specs.values() if isinstance(specs, Mapping) else specs)
        )
        self.meta: dict[str, Any] = dict(meta or {})
        self.identifier = identifier
        self.blobs: dict[str, Blob] = {}
        for blob in blobs:
            self.blobs[blob.identifier] = blob
        self.measurements: list[Measurement] = []
        for measurement in measurements:
            self._add_measurement(measurement)

    def __repr__(self) -> str:
        return (
            f"<Job: {len(self.measurements)} measurements, {len(self.blobs)} blobs, "
            f"{len(self.metrics)} metrics, {len(self.specs)} specs>"
        )

    # Building -----------------------------------------------------------------------
    def measure(
        self,
        metric: str | Metric,
        value: Any,
        unit: str | None = None,
        *,
        data_id: Mapping[str, Any] | None = None,
        notes: Mapping[str, Any] | None = None,
        blobs: Mapping[str, Any] | Iterable[Blob] | None = None,
        identifier: str | None = None,
    ) -> Measurement:
        """Record a measurement of *metric* and return it.

        *value* is an astropy Quantity, or a number in *unit* (default: the metric's unit).
        *blobs* is a mapping of datum names to values (stored as one blob named after the
        metric) or a list of `Blob`.

        Raises
        ------
        UnknownMetricError
            The job has metric definitions and *metric* is not one of them.
        UnitError
            The value's unit does not convert to the metric's unit.
        """
        if isinstance(metric, Metric):
            self.metrics.insert(metric)
            name = metric.name
        else:
            name = metric
            if len(self.metrics) and name not in self.metrics:
                raise UnknownMetricError(name, known=len(self.metrics))
        definition = self.metrics.get(name) if name in self.metrics else None
        if unit is None and definition is not None and not hasattr(value, "unit"):
            unit = definition.unit
        extra: dict[str, Any] = {}
        if identifier:
            extra["identifier"] = identifier
        measurement = Measurement.from_quantity(
            name,
            value,
            unit,
            data_id=check_data_id(dict(data_id or {})),
            notes=dict(notes or {}),
            **extra,
        )
        if blobs:
            if isinstance(blobs, Mapping):
                blob = Blob(name=name)
                for key, datum in blobs.items():
                    blob[key] = datum if isinstance(datum, Datum) else Datum.from_quantity(datum)
                measurement.blobs.append(blob)
            else:
                measurement.blobs.extend(blobs)
        self._add_measurement(measurement)
        return measurement

    def _add_measurement(self, measurement: Measurement, field: str | None = None) -> None:
        definition = (
            self.metrics.get(measurement.metric) if measurement.metric in self.metrics else None
        )
        if definition is not None and not convertible(measurement.unit, definition.unit):
            raise UnitError(
                f"unit '{measurement.unit}' of {measurement.metric} does not convert to the "
                f"metric's unit '{definition.unit or 'dimensionless'}'",
                field=f"{field}.unit" if field else "unit",
            )
        for blob in measurement.blobs:
            self.blobs[blob.identifier] = blob
            if blob.identifier not in measurement.blob_refs:
                measurement.blob_refs.append(blob.identifier)
        measurement.blobs = []
        self.measurements.append(measurement)

    # Reading ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "<request>", *, strict: bool = False) -> Job:
        """Read a job from its JSON shape.

        Parameters
        ----------
        data
            The parsed JSON.
        source
            Where it came from, for error messages (a path or ``<request>``).
        strict
            Also require every measured metric to be defined in the job's ``metrics``.

        Raises
        ------
        DocumentError
            A field is missing or malformed (``UnitError`` for units); the message names
            the source and the field, such as ``measurements[3].unit``.
        UnknownMetricError
            With *strict*, a measurement names a metric the job does not define.
        """
        try:
            return cls._from_dict(data, strict=strict)
        except DocumentError as exc:
            raise exc.located(source=source) from None
        except UnknownMetricError as exc:
            raise UnknownMetricError(exc.metric, source=source, known=0) from None

    @classmethod
    def _from_dict(cls, data: Any, *, strict: bool) -> Job:
        if not isinstance(data, Mapping):
            raise DocumentError(f"a job must be a JSON object, not {type(data).__name__}")
        for key in data.keys() - set(_TOP_LEVEL):
            logger.debug("job: top-level key %r is not part of a job and was ignored", key)
        for key in ("measurements", "blobs", "metrics", "specs"):
            if data.get(key) is not None and not isinstance(data[key], list):
                raise DocumentError(f"must be a list, not {type(data[key]).__name__}", field=key)
        metrics = [
            Metric.from_dict(m, field_name=f"metrics[{i}]")
            for i, m in enumerate(data.get("metrics") or [])
        ]
        specs = [
            ThresholdSpecification.from_dict(s, field_name=f"specs[{i}]")
            for i, s in enumerate(data.get("specs") or [])
        ]
        blobs = [
            Blob.from_dict(b, field_name=f"blobs[{i}]")
            for i, b in enumerate(data.get("blobs") or [])
        ]
        identifier = data.get("identifier")
        if identifier is not None and (not isinstance(identifier, str) or not identifier.strip()):
            raise DocumentError("must be a non-empty string", field="identifier")
        job = cls(
            blobs=blobs,
            metrics=metrics,
            specs=specs,
            meta=as_mapping(data.get("meta"), "meta"),
            identifier=identifier,
        )
        for i, raw in enumerate(data.get("measurements") or []):
            field = f"measurements[{i}]"
            measurement = Measurement.from_dict(raw, field_name=field)
            if strict and measurement.metric not in job.metrics:
                raise UnknownMetricError(measurement.metric, known=len(job.metrics))
            for ref in measurement.blob_refs:
                if ref not in job.blobs:
                    logger.debug("%s: blob %s is referenced but not in the job", field, ref)
            job._add_measurement(measurement, field)
        return job

    @classmethod
    def read(cls, path: str | Path, *, strict: bool = False) -> Job:
        """Read a Job JSON file (``*.verify.json``); see `from_dict`."""
        return cls.from_dict(_json.read_json(path), source=str(path), strict=strict)

    @classmethod
    def from_measurement_files(
        cls, paths: Iterable[str | Path], meta: Mapping[str, Any] | None = None
    ) -> Job:
        """Gather measurement YAML files written by lsst.verify into one job."""
        return cls([Measurement.read(p) for p in paths], meta=meta)

    # Writing ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify JSON shape (NaN left as float nan; `to_json` writes null)."""
        data: dict[str, Any] = {
            "measurements": [m.to_dict() for m in self.measurements],
            "blobs": [b.to_dict() for b in self.blobs.values()],
            "metrics": self.metrics.to_list(),
            "specs": self.specs.to_list(),
            "meta": self.meta,
        }
        if self.identifier:
            data["identifier"] = self.identifier
        return data

    def to_json(self, *, indent: bool = True) -> bytes:
        """The job as JSON bytes; NaN written as ``null``."""
        return _json.dumps(self.to_dict(), indent=indent)

    def write(self, path: str | Path) -> Path:
        """Write the job as JSON to *path* (``*.verify.json`` by convention)."""
        target = Path(path)
        target.write_bytes(self.to_json())
        return target

    # Evaluating ---------------------------------------------------------------------
    def evaluate(self, specs: SpecificationSet | None = None) -> list[SpecVerdict]:
        """Every measurement against every specification that applies to it.

        A specification applies when it is for the measurement's metric and its
        ``metadata_query`` matches the job's metadata together with the measurement's
        dataId. *specs* defaults to the job's own specifications.
        """
        spec_set = specs if specs is not None else self.specs
        by_metric: dict[str, list[ThresholdSpecification]] = {}
        for spec in spec_set.values():
            by_metric.setdefault(spec.metric_name, []).append(spec)
        verdicts = []
        for measurement in self.measurements:
            context = {**self.meta, **measurement.data_id}
            for spec in by_metric.get(measurement.metric, ()):
                if spec.query_metadata(context):
                    passed = spec.check(measurement.value, measurement.unit)
                    verdicts.append(SpecVerdict(measurement, spec, passed))
        return verdicts

    @property
    def nan_count(self) -> int:
        """How many measurements are not a number."""
        return sum(1 for m in self.measurements if math.isnan(m.value))

"""Measurements: one value of a metric, optionally for one dataId, with notes and blobs."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u

from vigil.verify._fields import as_float, as_mapping, as_str
from vigil.verify._json import fits_64_bits, plain
from vigil.verify._yaml import TaggedMapping, load_yaml_documents
from vigil.verify.datum import Blob
from vigil.verify.errors import DocumentError, InvalidNameError
from vigil.verify.naming import check_metric_name
from vigil.verify.units import parse_unit, unit_string

__all__ = ["DataId", "Measurement"]

DataId = dict[str, Any]
"""Where a measurement applies: ``{"tract": 9813, "patch": 40, "band": "i"}``, or empty."""

_DATA_ID_TYPES = (str, int, float)


def check_data_id(data: Any, field_name: str = "data_id") -> DataId:
    """Validate a dataId: a flat mapping of names to strings or numbers."""
    mapping = as_mapping(data, field_name)
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise DocumentError("keys must be non-empty strings", field=field_name)
        if isinstance(value, bool) or not isinstance(value, _DATA_ID_TYPES):
            raise DocumentError(
                f"must be a string or a number, not {type(value).__name__}",
                field=f"{field_name}.{key}",
            )
        if isinstance(value, int) and not fits_64_bits(value):
            # No database stores it as a number, and as a float it would no longer be
            # the same dataId (10**30 + 1 == 10**30 as floats).
            raise DocumentError(
                "is an integer beyond 64 bits; a dataId value must fit in 64 bits",
                field=f"{field_name}.{key}",
            )
    return mapping


def measurement_document(source: str | Path, text: str | None = None) -> Mapping[str, Any]:
    """The one document of a measurement YAML file (``!<lsst.verify.Measurement>``).

    *text* is the file's content when it was read elsewhere (a Butler URI); *source*
    names it in errors.

    Raises
    ------
    DocumentError
        The file holds more or fewer than one document, or one that is not a measurement.
    """
    documents = list(load_yaml_documents(source, text))
    if len(documents) != 1:
        raise DocumentError(
            f"holds {len(documents)} documents; a measurement file holds one", source=str(source)
        )
    data = documents[0].data
    if isinstance(data, TaggedMapping) and data.tag not in ("", "lsst.verify.Measurement"):
        raise DocumentError(f"is a {data.tag}, not a measurement", source=str(source), document=1)
    if not isinstance(data, Mapping):
        raise DocumentError("is not a measurement document", source=str(source), document=1)
    return data


@dataclass(slots=True)
class Measurement:
    """A value of a metric in a unit, with its identifier, dataId, notes and blobs.

    ``value`` is a float in ``unit``; NaN means "not a number" (it is never 0).
    ``blob_refs`` are the identifiers of the blobs that back it in its job; ``blobs``
    holds blob objects when the measurement was read on its own (a measurement YAML file).
    """

    metric: str
    value: float
    unit: str = ""
    identifier: str = field(default_factory=lambda: uuid.uuid4().hex)
    data_id: DataId = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    blob_refs: list[str] = field(default_factory=list)
    blobs: list[Blob] = field(default_factory=list)

    @classmethod
    def from_quantity(
        cls, metric: str, quantity: Any, unit: str | None = None, **kwargs: Any
    ) -> Measurement:
        """Make a measurement from an astropy Quantity, or a number and its *unit*."""
        if isinstance(quantity, u.Quantity):
            if not quantity.isscalar:
                raise DocumentError("a measurement is one value, not an array", field="value")
            value, unit_text = float(quantity.value), unit_string(quantity.unit)
            if unit is not None:
                value, unit_text = float(quantity.to_value(parse_unit(unit))), unit
        else:
            value, unit_text = as_float(quantity, "value"), unit or ""
        parse_unit(unit_text)
        # A measurement file may leave the package out; a job sent to a server may not.
        check_metric_name(metric, partial=True)
        return cls(metric=metric, value=value, unit=unit_text, **kwargs)

    @property
    def quantity(self) -> u.Quantity:
        """The value as an astropy Quantity."""
        return self.value * parse_unit(self.unit)

    @property
    def is_nan(self) -> bool:
        """True when the value is not a number."""
        return math.isnan(self.value)

    @classmethod
    def from_dict(cls, data: Any, field_name: str = "") -> Measurement:
        """Read a measurement in the Job JSON shape, or a measurement YAML document.

        Raises
        ------
        DocumentError
            A field is missing or malformed; the error names it.
        """
        doc = as_mapping(data, field_name)
        prefix = f"{field_name}." if field_name else ""
        metric = as_str(doc.get("metric"), f"{prefix}metric")
        try:
            check_metric_name(metric, partial=True)
        except InvalidNameError as exc:
            raise InvalidNameError(exc.reason, field=f"{prefix}metric") from None
        if "value" not in doc:
            raise DocumentError("is missing", field=f"{prefix}value")
        value = as_float(doc["value"], f"{prefix}value")
        unit = doc.get("unit") or ""
        if not isinstance(unit, str):
            raise DocumentError(f"must be a unit string, not {unit!r}", field=f"{prefix}unit")
        try:
            parse_unit(unit)
        except DocumentError as exc:
            raise exc.located(field_prefix=f"{prefix}unit") from None
        identifier = doc.get("identifier") or uuid.uuid4().hex
        blob_refs = doc.get("blob_refs") or []
        if not isinstance(blob_refs, list) or not all(isinstance(b, str) for b in blob_refs):
            raise DocumentError("must be a list of blob identifiers", field=f"{prefix}blob_refs")
        blobs = []
        for i, blob in enumerate(doc.get("blobs") or []):
            blobs.append(Blob.from_dict(blob, f"{prefix}blobs[{i}]"))
        return cls(
            metric=metric,
            value=value,
            unit=unit,
            identifier=as_str(str(identifier), f"{prefix}identifier"),
            data_id=check_data_id(doc.get("data_id"), f"{prefix}data_id"),
            notes=as_mapping(doc.get("notes"), f"{prefix}notes"),
            blob_refs=list(blob_refs),
            blobs=blobs,
        )

    @classmethod
    def read(cls, path: str | Path) -> Measurement:
        """Read a measurement YAML file written by lsst.verify (``!<lsst.verify.Measurement>``).

        Raises
        ------
        DocumentError
            The file is not one measurement document, or a field is malformed.
        """
        data = measurement_document(path)
        try:
            return cls.from_dict(data)
        except DocumentError as exc:
            raise exc.located(source=str(path), document=1) from None

    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify Job JSON shape; ``data_id`` and ``notes`` only when not empty."""
        data: dict[str, Any] = {
            "metric": self.metric,
            "identifier": self.identifier,
            "value": self.value,
            "unit": self.unit,
            "blob_refs": list(self.blob_refs)
            + [b.identifier for b in self.blobs if b.identifier not in self.blob_refs],
        }
        if self.data_id:
            data["data_id"] = {k: plain(v) for k, v in self.data_id.items()}
        if self.notes:
            data["notes"] = dict(self.notes)
        return data

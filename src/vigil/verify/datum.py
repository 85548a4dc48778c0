"""Datum and Blob: named values that back a measurement's drill-down plots."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np

from vigil.verify._fields import as_mapping, as_str, optional_str
from vigil.verify._json import plain
from vigil.verify.errors import DocumentError
from vigil.verify.units import parse_unit, unit_string

__all__ = ["Blob", "Datum"]


@dataclass(slots=True)
class Datum:
    """One named value: a scalar, an array or a string, with a unit, label and description."""

    value: Any
    unit: str = ""
    label: str | None = None
    description: str | None = None

    @classmethod
    def from_quantity(
        cls, quantity: Any, label: str | None = None, description: str | None = None
    ) -> Datum:
        """Make a datum from an astropy Quantity, a numpy array or a plain value."""
        if isinstance(quantity, u.Quantity):
            return cls(plain(quantity.value), unit_string(quantity.unit), label, description)
        return cls(plain(quantity), "", label, description)

    @classmethod
    def from_dict(cls, data: Any, field_name: str = "") -> Datum:
        """Read a datum document ``{value, unit, label, description}``."""
        doc = as_mapping(data, field_name)
        unit = doc.get("unit") or ""
        if not isinstance(unit, str):
            raise DocumentError(f"unit must be a string, not {unit!r}", field=f"{field_name}.unit")
        parse_unit(unit)
        return cls(
            value=doc.get("value"),
            unit=unit,
            label=optional_str(doc.get("label"), f"{field_name}.label"),
            description=optional_str(doc.get("description"), f"{field_name}.description"),
        )

    @property
    def quantity(self) -> Any:
        """The value as an astropy Quantity (arrays become Quantity arrays; None is NaN)."""
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, list):
            array = np.array([math.nan if v is None else v for v in self.value], dtype=float)
            return array * parse_unit(self.unit)
        if self.value is None:
            return math.nan * parse_unit(self.unit)
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            return float(self.value) * parse_unit(self.unit)
        return self.value

    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify JSON shape of this datum."""
        return {
            "value": self.value,
            "unit": self.unit,
            "label": self.label,
            "description": self.description,
        }


@dataclass(slots=True)
class Blob(Mapping[str, Datum]):
    """A named set of datums, referenced by measurements through its identifier."""

    name: str
    data: dict[str, Datum] = field(default_factory=dict)
    identifier: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_dict(cls, data: Any, field_name: str = "") -> Blob:
        """Read a blob document ``{identifier, name, data: {key: datum}}``."""
        doc = as_mapping(data, field_name)
        prefix = f"{field_name}." if field_name else ""
        datums = {}
        for key, value in as_mapping(doc.get("data"), f"{prefix}data").items():
            datums[str(key)] = Datum.from_dict(value, f"{prefix}data.{key}")
        identifier = doc.get("identifier") or uuid.uuid4().hex
        return cls(
            name=as_str(doc.get("name"), f"{prefix}name"),
            data=datums,
            identifier=as_str(str(identifier), f"{prefix}identifier"),
        )

    def __getitem__(self, key: str) -> Datum:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value if isinstance(value, Datum) else Datum.from_quantity(value)

    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify JSON shape of this blob."""
        return {
            "identifier": self.identifier,
            "name": self.name,
            "data": {key: datum.to_dict() for key, datum in self.data.items()},
        }

"""Metrics and sets of metrics, read from lsst.verify metric YAML files as they are.

A metrics package holds one YAML file per package (``metrics/validate_drp.yaml``) whose
top-level keys are metric names::

    PA1:
      description: The maximum rms of the unresolved source magnitude distribution ...
      unit: mmag
      reference: {doc: LPM-17, url: http://ls.st/lpm-17, page: 21}
      tags: photometry
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.verify._fields import as_mapping, as_str, as_tags, optional_str
from vigil.verify._yaml import load_yaml_documents
from vigil.verify.errors import DocumentError, UnknownMetricError
from vigil.verify.naming import Name, check_metric_name
from vigil.verify.units import parse_unit

__all__ = ["Direction", "Metric", "MetricSet"]

logger = logging.getLogger(__name__)

Direction = str  # "lower" or "higher": which way is better
_DIRECTIONS = ("lower", "higher")
_METRIC_KEYS = {"description", "unit", "reference", "tags", "name", "direction"}


@dataclass(slots=True)
class Metric:
    """A quantity a pipeline measures: ``package.metric`` with a unit and a description.

    ``direction`` says whether a ``lower`` or ``higher`` value is better; when not given
    it can be inferred from the metric's specifications (see `SpecificationSet.direction`).
    """

    name: str
    unit: str = ""
    description: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    reference: dict[str, Any] = field(default_factory=dict)
    direction: Direction | None = None

    def __post_init__(self) -> None:
        check_metric_name(self.name)
        try:
            parse_unit(self.unit)
        except DocumentError as exc:
            raise exc.located(field_prefix="unit") from None
        if self.direction is not None and self.direction not in _DIRECTIONS:
            raise DocumentError(
                f"must be 'lower' or 'higher', not {self.direction!r}", field="direction"
            )
        self.tags = frozenset(self.tags)

    @property
    def package(self) -> str:
        """The package component of the name."""
        return self.name.split(".", 1)[0]

    @property
    def astropy_unit(self) -> Any:
        """The unit as an astropy unit."""
        return parse_unit(self.unit)

    @classmethod
    def from_dict(cls, data: Any, name: str | None = None, field_name: str = "") -> Metric:
        """Read a metric document; *name* overrides the document's ``name``."""
        doc = as_mapping(data, field_name)
        prefix = f"{field_name}." if field_name else ""
        for key in doc.keys() - _METRIC_KEYS:
            logger.debug("metric %s: unknown key %r ignored", name or doc.get("name"), key)
        metric_name = name if name is not None else as_str(doc.get("name"), f"{prefix}name")
        unit = doc.get("unit", "")
        if unit is None:
            unit = ""
        if not isinstance(unit, str):
            raise DocumentError(f"must be a unit string, not {unit!r}", field=f"{prefix}unit")
        description = doc.get("description") or ""
        reference = as_mapping(doc.get("reference"), f"{prefix}reference")
        try:
            return cls(
                name=metric_name,
                unit=unit,
                description=str(description).strip(),
                tags=as_tags(doc.get("tags"), f"{prefix}tags"),
                reference=reference,
                direction=optional_str(doc.get("direction"), f"{prefix}direction"),
            )
        except DocumentError as exc:
            raise exc.located(field_prefix=field_name or None) from None

    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify JSON shape (plus ``direction`` when known)."""
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "unit": self.unit,
            "tags": sorted(self.tags),
            "reference": dict(self.reference),
        }
        if self.direction:
            data["direction"] = self.direction
        return data


class MetricSet(Mapping[str, Metric]):
    """Metrics by fully-qualified name."""

    def __init__(self, metrics: Iterable[Metric] = ()) -> None:
        self._metrics: dict[str, Metric] = {}
        for metric in metrics:
            self.insert(metric)

    def insert(self, metric: Metric) -> None:
        """Add or replace *metric*."""
        self._metrics[metric.name] = metric

    def __getitem__(self, name: str | Name) -> Metric:
        key = str(name)
        try:
            return self._metrics[key]
        except KeyError:
            raise UnknownMetricError(key, known=len(self._metrics)) from None

    def __contains__(self, name: object) -> bool:
        return str(name) in self._metrics

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def __repr__(self) -> str:
        return f"<MetricSet: {len(self)} metrics>"

    @property
    def packages(self) -> set[str]:
        """The package names of the metrics."""
        return {metric.package for metric in self._metrics.values()}

    @classmethod
    def load(cls, path: str | Path) -> MetricSet:
        """Load metric YAML files.

        *path* is a metrics package (a folder with a ``metrics/`` folder, such as
        ``verify_metrics``), a folder of ``<package>.yaml`` files, or one such file.

        Raises
        ------
        DocumentError
            A file is not valid YAML or a metric definition is malformed; the message
            names the file, the metric and the field.
        FileNotFoundError
            *path* does not exist.
        """
        root = Path(path)
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or folder of metric definitions")
        if root.is_dir() and (root / "metrics").is_dir():
            root = root / "metrics"
        if root.is_dir():
            files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
        else:
            files = [root]
        instance = cls()
        for file in files:
            instance._load_file(file)
        return instance

    def _load_file(self, file: Path) -> None:
        package = file.stem
        for document in load_yaml_documents(file):
            if document.data is None:
                continue
            if not isinstance(document.data, Mapping):
                raise DocumentError(
                    "must be a mapping of metric names to definitions",
                    source=str(file),
                    document=document.index,
                )
            for short_name, definition in document.data.items():
                try:
                    metric = Metric.from_dict(
                        definition, name=f"{package}.{short_name}", field_name=str(short_name)
                    )
                except DocumentError as exc:
                    raise exc.located(source=str(file), document=document.index) from None
                self.insert(metric)

    def to_list(self) -> list[dict[str, Any]]:
        """Every metric in its JSON shape."""
        return [metric.to_dict() for metric in self._metrics.values()]

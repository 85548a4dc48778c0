"""Vigil keeps watch over the quality of scientific data pipelines."""

from vigil.verify import (
    Blob,
    Datum,
    Job,
    Measurement,
    Metric,
    MetricSet,
    Specification,
    SpecificationSet,
    ThresholdSpecification,
)

__version__ = "0.1.0"

__all__ = [
    "Blob",
    "Datum",
    "Job",
    "Measurement",
    "Metric",
    "MetricSet",
    "Specification",
    "SpecificationSet",
    "ThresholdSpecification",
    "__version__",
]

"""lsst.verify-compatible metrics, specifications, measurements and jobs.

Read and write the files astronomers already have (metric and specification YAML,
measurement YAML, Job JSON) without changing them, evaluate measurements against
specifications with unit conversion, and build jobs in a pipeline.
"""

from vigil.verify._json import fits_64_bits, loads_exact
from vigil.verify.datum import Blob, Datum
from vigil.verify.errors import (
    DocumentError,
    InvalidNameError,
    SpecificationResolutionError,
    UnitError,
    UnknownMetricError,
    VerifyError,
)
from vigil.verify.job import Job, SpecVerdict
from vigil.verify.measurement import DataId, Measurement
from vigil.verify.metric import Metric, MetricSet
from vigil.verify.naming import Name, check_metric_name
from vigil.verify.spec import (
    Specification,
    SpecStatus,
    ThresholdSpecification,
    operator_direction,
    passes_threshold,
    query_metadata,
)
from vigil.verify.specset import SpecificationPartial, SpecificationSet

__all__ = [
    "Blob",
    "DataId",
    "Datum",
    "DocumentError",
    "InvalidNameError",
    "Job",
    "Measurement",
    "Metric",
    "MetricSet",
    "Name",
    "SpecStatus",
    "SpecVerdict",
    "Specification",
    "SpecificationPartial",
    "SpecificationResolutionError",
    "SpecificationSet",
    "ThresholdSpecification",
    "UnitError",
    "UnknownMetricError",
    "VerifyError",
    "check_metric_name",
    "fits_64_bits",
    "loads_exact",
    "operator_direction",
    "passes_threshold",
    "query_metadata",
]

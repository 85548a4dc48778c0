"""Metrics at full granularity: compute -> select -> aggregate, over tidy Parquet.

A metric is a composition of small actions (`vigil.compute.actions`): a compute action
gives one value per source, select actions keep some sources, an aggregator summarises a
group. Each declares the columns it reads, templated over bands, so that only those are
read. `compute_repository` fills a data repository's metric tables with DuckDB; the query
engine (`vigil.explorer.query.Repository`) aggregates them at any level on demand.
The formats are in docs/repository.md, the actions in docs/compute.md.
"""

from vigil.compute.actions import BAND, Action, Aggregator, Quantity, Selector, expand
from vigil.compute.aggregators import (
    Count,
    Mean,
    Median,
    OutlierFraction,
    Percentile,
    SigmaMAD,
    aggregator_from_name,
)
from vigil.compute.errors import (
    ComputeError,
    GranularityError,
    MappingError,
    MissingColumnsError,
    RepositoryConfigError,
    RepositoryError,
    UnknownMetricError,
)
from vigil.compute.fits import StellarLocusWidth
from vigil.compute.granularity import (
    DATA_ID_COLUMNS,
    GROUP_KEYS,
    ID_COLUMN,
    LEVELS,
    PARTITION_COLUMN,
    TABLES,
    Level,
    Table,
    check_group_keys,
)
from vigil.compute.metric import AcceptableRange, BoundMetric, GroupReducer, MetricDefinition
from vigil.compute.quantities import (
    NJY_ZERO_POINT,
    Color,
    MagDiff,
    Magnitude,
    PsfSizeResidual,
    SignalToNoise,
    flux_to_mag,
    mag_to_flux,
)
from vigil.compute.registry import STANDARD_METRICS, MetricRegistry, default_registry
from vigil.compute.repository import (
    CONFIG_FILE,
    FORMAT_VERSION,
    MetricEntry,
    Provenance,
    RepoConfig,
    RepoLayout,
)
from vigil.compute.run import ComputeReport, MetricOutcome, compute_repository
from vigil.compute.selectors import FlagSelector, GalaxySelector, MagRange, SNRange, StarSelector

__all__ = [
    "BAND",
    "CONFIG_FILE",
    "DATA_ID_COLUMNS",
    "FORMAT_VERSION",
    "GROUP_KEYS",
    "ID_COLUMN",
    "LEVELS",
    "NJY_ZERO_POINT",
    "PARTITION_COLUMN",
    "STANDARD_METRICS",
    "TABLES",
    "AcceptableRange",
    "Action",
    "Aggregator",
    "BoundMetric",
    "Color",
    "ComputeError",
    "ComputeReport",
    "Count",
    "FlagSelector",
    "GalaxySelector",
    "GranularityError",
    "GroupReducer",
    "Level",
    "MagDiff",
    "MagRange",
    "Magnitude",
    "MappingError",
    "Mean",
    "Median",
    "MetricDefinition",
    "MetricEntry",
    "MetricOutcome",
    "MetricRegistry",
    "MissingColumnsError",
    "OutlierFraction",
    "Percentile",
    "Provenance",
    "PsfSizeResidual",
    "Quantity",
    "RepoConfig",
    "RepoLayout",
    "RepositoryConfigError",
    "RepositoryError",
    "SNRange",
    "Selector",
    "SigmaMAD",
    "SignalToNoise",
    "StarSelector",
    "StellarLocusWidth",
    "Table",
    "UnknownMetricError",
    "aggregator_from_name",
    "check_group_keys",
    "compute_repository",
    "default_registry",
    "expand",
    "flux_to_mag",
    "mag_to_flux",
]

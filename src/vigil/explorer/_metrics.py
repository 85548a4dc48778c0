"""The metrics of a repository: stored, listed in ``vigil-repo.yaml``, or computable."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.compute.errors import ComputeError, UnknownMetricError
from vigil.compute.files import FileProblem
from vigil.compute.granularity import LEVELS, TABLES, Level, Table
from vigil.compute.metric import AcceptableRange, BoundMetric
from vigil.compute.plan import missing_columns
from vigil.compute.registry import MetricRegistry
from vigil.compute.repository import MetricEntry, RepoConfig

from ._files import RepositoryFiles

__all__ = ["MetricInfo", "RepoSummary", "bound_metric", "metric_infos"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric of a repository.

    Attributes
    ----------
    name
        Concrete name (``psf_size_residual_i``).
    table
        ``objects`` or ``sources``.
    band
        Its band (None for a metric over several bands).
    unit, description, aggregate, granularity, selection
        From the definition or ``vigil-repo.yaml``.
    acceptable
        The acceptable range of its aggregates (None: no range).
    stored
        Whether ``metrics/<name>/`` has values; otherwise it is computed from the table
        on demand.
    rows
        Stored values (None when not stored).
    definition
        The registry's definition name, None for a stored metric Vigil does not know.
    """

    name: str
    table: Table
    band: str | None
    unit: str
    description: str
    aggregate: str
    granularity: Level
    selection: tuple[str, ...]
    acceptable: AcceptableRange | None
    stored: bool
    rows: int | None
    definition: str | None


@dataclass(frozen=True)
class RepoSummary:
    """The header figures of a repository."""

    name: str | None
    tracts: list[int]
    patches: int
    visits_per_band: dict[str, int]
    objects: int
    sources: int
    bands: list[str]
    metrics: int
    inferred: bool
    problems: list[FileProblem] = field(default_factory=list)


def bound_metric(registry: MetricRegistry, name: str) -> BoundMetric | None:
    """The definition of the concrete metric *name*, None when *registry* does not know it."""
    try:
        return registry.resolve(name)
    except UnknownMetricError:
        return None


def metric_infos(
    config: RepoConfig | None,
    files: RepositoryFiles,
    registry: MetricRegistry,
    bands: list[str],
) -> dict[str, MetricInfo]:
    """Every metric of a repository by name: those its *config* lists, those stored, then
    those of *registry* its tables have the columns for."""
    entries: dict[str, MetricEntry] = dict(config.metrics) if config else {}
    stored = set(files.layout.stored_metrics())
    tables = files.tables()
    names: list[str] = [n for n in entries if "{band}" not in n]
    names += [n for n in sorted(stored) if n not in names]
    for metric in registry.instances(bands):
        if metric.name in names:
            continue
        index = tables[metric.table]
        if index.files and not missing_columns(metric, index.columns):
            names.append(metric.name)
    infos: dict[str, MetricInfo] = {}
    for name in names:
        bound = bound_metric(registry, name)
        info = _info(name, entries.get(name), name in stored, bound, files)
        if info is not None:
            infos[name] = info
    return infos


def _info(
    name: str,
    entry: MetricEntry | None,
    stored: bool,
    bound: BoundMetric | None,
    files: RepositoryFiles,
) -> MetricInfo | None:
    table: Table
    if entry is not None and entry.table is not None:
        table = entry.table
    elif bound is not None:
        table = bound.table
    else:
        table = next((t for t in TABLES if files.layout.metric_files(name, t)), "objects")
    rows = None
    if stored:
        # vigil compute records the count; reading every footer is the fallback.
        recorded = entry.rows if entry is not None else None
        rows = recorded if recorded is not None else files.metric_index(name, table).rows
    description = bound.describe() if bound is not None else {}
    acceptable = entry.acceptable if entry and entry.acceptable else None
    if acceptable is None and bound is not None:
        acceptable = bound.definition.acceptable
    if not stored and bound is None:
        return None

    def pick(key: str, default: str = "") -> str:
        value = getattr(entry, key, None) if entry else None
        return str(value if value is not None else description.get(key, default))

    selection = (
        tuple(entry.selection)
        if entry and entry.selection
        else tuple(description.get("selection", ()))
    )
    return MetricInfo(
        name=name,
        table=table,
        band=(entry.band if entry and entry.band else None)
        or (bound.band if bound is not None else None),
        unit=pick("unit"),
        description=pick("description"),
        aggregate=pick("aggregate", "median"),
        granularity=_level(name, pick("granularity", "source")),
        selection=selection,
        acceptable=acceptable,
        stored=stored,
        rows=rows,
        definition=bound.definition.name if bound is not None else None,
    )


def _level(name: str, value: str) -> Level:
    """*value*, the granularity of metric *name*, as a `Level`.

    Raises
    ------
    ComputeError
        *value* is not a level (`RepoConfig` and the definitions allow no other).
    """
    for level in LEVELS:
        if level == value:
            return level
    raise ComputeError(
        f"metric {name!r} has granularity {value!r}; expected one of {', '.join(LEVELS)}"
    )

"""Tables, dataId columns and the granularity rules of aggregation.

A repository has two kinds of table: coadd ``objects`` (one file per tract; dataId
columns ``tract``, ``patch``) and visit ``sources`` (one file per visit; ``visit``,
``detector``, and the ``tract`` and ``patch`` that contain each source). Levels nest
within a table: ``patch`` < ``tract`` < ``dataset`` and ``detector`` < ``visit`` <
``dataset``; ``band`` is orthogonal to both.

A per-source metric aggregates at any level of its table. A metric that is not per source
(a fit over many sources) declares its *maximum granularity*, the finest level at which it
means something; it can be aggregated at that level or a coarser one of the same
hierarchy, never finer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from vigil.compute.errors import GranularityError

__all__ = [
    "DATA_ID_COLUMNS",
    "DRILL_KEYS",
    "GROUP_KEYS",
    "ID_COLUMN",
    "LEVELS",
    "PARTITION_COLUMN",
    "TABLES",
    "Level",
    "Table",
    "check_group_keys",
    "level_keys",
    "table_of_level",
]

Table = Literal["objects", "sources"]
Level = Literal["source", "patch", "tract", "detector", "visit", "dataset"]

TABLES: Final[tuple[Table, ...]] = ("objects", "sources")
LEVELS: Final[tuple[Level, ...]] = ("source", "patch", "tract", "detector", "visit", "dataset")

PARTITION_COLUMN: Final[dict[Table, str]] = {"objects": "tract", "sources": "visit"}
"""The dataId that names a table's files (``objects/tract=9813.parquet``)."""

ID_COLUMN: Final[dict[Table, str]] = {"objects": "objectId", "sources": "sourceId"}
"""The column that identifies a row of a table."""

DATA_ID_COLUMNS: Final[dict[Table, tuple[str, ...]]] = {
    "objects": ("tract", "patch"),
    "sources": ("visit", "detector", "tract", "patch"),
}
"""The dataId columns every row of a table has (besides ``band``)."""

DRILL_KEYS: Final[dict[Table, tuple[str, ...]]] = {
    "objects": ("tract", "patch"),
    "sources": ("visit", "detector"),
}
"""The dataIds a table is drilled down through, coarse to fine."""

GROUP_KEYS: Final[dict[Table, tuple[str, ...]]] = {
    table: (*columns, "band") for table, columns in DATA_ID_COLUMNS.items()
}
"""What an aggregation of a table may group by."""

_RANK: Final[dict[Table, dict[str, int]]] = {
    "objects": {"source": 0, "patch": 1, "tract": 2, "dataset": 3},
    "sources": {"source": 0, "detector": 1, "visit": 2, "dataset": 3},
}


def table_of_level(level: Level) -> Table | None:
    """The table whose hierarchy has *level* (None for ``source`` and ``dataset``)."""
    for table, ranks in _RANK.items():
        if level in ranks and level not in ("source", "dataset"):
            return table
    return None


def check_group_keys(
    metric: str, table: Table, max_granularity: Level, by: Sequence[str]
) -> tuple[str, ...]:
    """Validate the grouping *by* of *metric* and return it as a tuple.

    Raises
    ------
    GranularityError
        When a key is not a dataId of the metric's table, when ``patch`` comes without
        ``tract``, or when the grouping is finer than the metric's maximum granularity.
    """
    keys = tuple(by)
    allowed = GROUP_KEYS[table]
    unknown = [key for key in keys if key not in allowed]
    if unknown:
        raise GranularityError(
            f"metric {metric!r} is computed on the {table} table: group it by"
            f" {', '.join(allowed)} (not {', '.join(unknown)})"
        )
    if len(set(keys)) != len(keys):
        raise GranularityError(f"group keys of {metric!r} repeat: {', '.join(keys)}")
    if "patch" in keys and "tract" not in keys:
        raise GranularityError(
            "patch numbers repeat in every tract: group by ['tract', 'patch'], not ['patch']"
        )
    if max_granularity == "source":
        return keys
    ranks = _RANK[table]
    if max_granularity not in ranks:
        raise GranularityError(
            f"metric {metric!r} has maximum granularity {max_granularity!r}, which is not"
            f" a level of the {table} table ({', '.join(ranks)})"
        )
    levels = [key for key in keys if key != "band"]
    foreign = [key for key in levels if key not in ranks]
    if foreign:
        raise GranularityError(
            f"metric {metric!r} is a fit at {max_granularity} granularity: it cannot be"
            f" grouped by {', '.join(foreign)}"
        )
    finest = min((ranks[key] for key in levels), default=ranks["dataset"])
    if finest < ranks[max_granularity]:
        coarser = [level for level, rank in ranks.items() if rank >= ranks[max_granularity]]
        raise GranularityError(
            f"metric {metric!r} is computed per {max_granularity} at the finest: group it"
            f" by {' or '.join(coarser)}, not by {', '.join(levels)}"
        )
    return keys


def level_keys(level: Level) -> tuple[str, ...]:
    """The grouping of one level (``patch``: ``("tract", "patch")``; ``dataset``: none)."""
    return {
        "source": (),
        "patch": ("tract", "patch"),
        "tract": ("tract",),
        "detector": ("visit", "detector"),
        "visit": ("visit",),
        "dataset": (),
    }[level]

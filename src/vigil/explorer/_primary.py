"""Why a coadd metric has no data: a table whose rows are all non-primary.

A coadd metric counts primary rows only (``detect_isPrimary``,
`vigil.compute.selectors.PrimarySelector`). A table where no row is primary (a sample
cut from a patch overlap, as the real HSC sample of the conformance data is) leaves such
a metric without a single value; the quick look then says so instead of a bare
"no data".
"""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.compute.selectors import PrimarySelector
from vigil.explorer._metrics import bound_metric
from vigil.explorer.query import MetricInfo, Repository

__all__ = ["no_primary_reason"]


def _primary_column(repo: Repository, info: MetricInfo) -> str | None:
    """The primary flag column *info*'s selection requires, None when it has none."""
    bound = bound_metric(repo.registry, info.name)
    if bound is None:
        return None
    for selector in bound.definition.selectors:
        if isinstance(selector, PrimarySelector) and not selector.optional:
            return selector.column
    return None


def no_primary_reason(repo: Repository, info: MetricInfo) -> str:
    """``no primary objects: 0 of N rows have detect_isPrimary`` when *info* keeps
    primary rows only and no row of its table is primary; empty otherwise.

    Only the flag column is read (from the readable files of the table).
    """
    column = _primary_column(repo, info)
    index = repo.tables()[info.table]
    if column is None or column not in index.columns or not index.files:
        return ""
    primary = 0
    for found in index.files.values():
        flags = pq.read_table(found.path, columns=[column]).column(column)
        primary += int(pc.sum(pc.fill_null(flags, False)).as_py() or 0)
        if primary:
            return ""
    return f"no primary objects: 0 of {index.rows:,} rows have {column}"

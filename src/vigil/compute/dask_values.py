"""Per-source values on Dask: `ValuesPlan` run as `vigil.compute.engine.run_values` runs it.

The rows are those DuckDB returns, in the files' order: computed and selected in each
partition (`vigil.compute.dask_engine.source_rows`), extra catalogue columns joined on
the id for stored values, the first *limit* rows kept. A sample takes the rows with the
smallest hash of the id and the seed, a uniform random sample the same for the same
seed: the hash is SplitMix64's finaliser, not DuckDB's ``hash``, so the two engines draw
different samples of the same rows. `tail_counts_dask` counts the values beyond
thresholds in one pass, as the quick look's ranking asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from vigil.compute.dask_engine import compute, read_rows, source_rows
from vigil.compute.granularity import ID_COLUMN
from vigil.compute.plan import ValuesPlan, _Inner

__all__ = ["run_values_dask", "sample_keys", "tail_counts_dask"]

_KEY = "__sample_key__"
_ORDER = "__row_order__"
_MASK = (1 << 64) - 1


def sample_keys(ids: npt.ArrayLike, seed: int) -> npt.NDArray[np.uint64]:
    """A pseudo-random 64-bit key of each id for *seed* (SplitMix64's finaliser)."""
    offset = np.uint64((int(seed) * 0x9E3779B97F4A7C15) & _MASK)
    z = np.asarray(ids).astype(np.int64).view(np.uint64) + offset
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _inner(plan: ValuesPlan) -> _Inner:
    own = plan.source == "catalogue"
    return _Inner(plan.metric, plan.source, plan.files, plan.available, plan.extra if own else ())


def _rows(plan: ValuesPlan) -> Any:
    """The Dask DataFrame of *plan*'s rows before sampling, limit and fields."""
    import dask.dataframe as dd

    plan.sql()  # the same checks of filters and fields as DuckDB's
    inner = _inner(plan)
    columns = inner.output_columns()
    own = plan.source == "catalogue"

    def rows(part: pd.DataFrame) -> pd.DataFrame:
        out = source_rows(plan.metric, plan.source, part, plan.where, inner.extra)
        for name in columns:
            if name not in out:
                out[name] = None
        return out[columns]

    frame = read_rows(plan.files, inner.read_columns(), rows)
    if plan.extra and not own:
        # The join shuffles the rows: their place in the files is kept to order them back.
        def number(part: pd.DataFrame, partition_info: Any = None) -> pd.DataFrame:
            first = (partition_info or {}).get("number", 0) << 40
            return part.assign(**{_ORDER: np.arange(first, first + len(part), dtype=np.int64)})

        meta = frame._meta.assign(**{_ORDER: np.zeros(0, dtype=np.int64)})
        ident = ID_COLUMN[plan.metric.table]
        joined = dd.read_parquet(
            [str(p) for p in plan.join_files], columns=[ident, *plan.extra]
        ).drop_duplicates(subset=[ident])
        frame = frame.map_partitions(number, meta=meta).merge(joined, on=ident, how="left")
    return frame


def run_values_dask(plan: ValuesPlan, client: Any = None) -> pd.DataFrame:
    """The per-source rows of *plan*, computed by Dask (on *client* when given)."""
    frame = _rows(plan)
    if plan.sample is not None:
        ident = ID_COLUMN[plan.metric.table]
        seed, fraction = plan.seed, plan.sample_fraction
        threshold = None
        if fraction is not None and fraction < 1.0:
            threshold = np.uint64(min(_MASK, int(fraction * 2**64)))

        def keyed(part: pd.DataFrame) -> pd.DataFrame:
            keys = sample_keys(part[ident].to_numpy(), seed)
            out = part.assign(**{_KEY: keys})
            return out if threshold is None else out[keys < threshold]

        meta = frame._meta.assign(**{_KEY: np.zeros(0, dtype=np.uint64)})
        frame = frame.map_partitions(keyed, meta=meta).nsmallest(plan.sample, _KEY)
        result = compute(frame, client).sort_values(_KEY, kind="stable").drop(columns=[_KEY])
    elif _ORDER in frame.columns:
        if plan.limit is not None:
            frame = frame.nsmallest(plan.limit, _ORDER)
        result = compute(frame, client).sort_values(_ORDER, kind="stable")
    elif plan.limit is not None:
        result = compute(frame.head(plan.limit, npartitions=-1, compute=False), client)
    else:
        result = compute(frame, client)
    result = result.drop(columns=[_ORDER], errors="ignore")
    if plan.limit is not None:
        result = result.iloc[: plan.limit]
    if plan.fields is not None:
        result = result[list(plan.fields)]
    return result.reset_index(drop=True)


def tail_counts_dask(
    plan: ValuesPlan, bounds: Sequence[tuple[float, bool]], client: Any = None
) -> tuple[int, list[int]]:
    """The rows of *plan* and, per ``(threshold, above)`` bound, those at or beyond it
    (``>= threshold`` when *above*, else ``<=``), in one pass."""
    names = ["rows", *(f"beyond_{i}" for i in range(len(bounds)))]

    def counts(part: pd.DataFrame) -> pd.DataFrame:
        values = part["value"].to_numpy(dtype="float64")
        row = [len(values)]
        for threshold, above in bounds:
            row.append(int(np.count_nonzero(values >= threshold if above else values <= threshold)))
        return pd.DataFrame([row], columns=names, dtype="int64")

    meta = pd.DataFrame({name: pd.Series([], dtype="int64") for name in names})
    totals = compute(_rows(plan).map_partitions(counts, meta=meta).sum(), client)
    return int(totals["rows"]), [int(totals[name]) for name in names[1:]]

"""A dataset's aggregate over values spread across Dask workers, without gathering them.

Gathering a large metric's values into one partition, for its median over the whole
dataset, needs one worker to hold the whole column several times over: 20 million
values are 160 MB, and pandas' concatenation and the transfer copy them again. Here
each worker keeps its own partitions' values, sorted (`sorted_values`), and the built-in
aggregators are computed from small answers about them:

- ``count``, ``mean`` and ``outlier_fraction`` from each partition's count and sums;
- ``median`` and the percentiles from one or two order statistics, each found by
  `order_statistic`: every pass asks each partition how many of its values lie below
  `BINS` edges that split the range still in question, and keeps the bin that holds the
  wanted rank, until that bin has few enough values (`GATHER`) to be fetched and sorted,
  or holds one value only;
- ``sigma_mad`` from the median, then the median of the distances to it (each worker
  computes its own partitions' distances).

The edges split the range of the values' bit patterns, ordered as the values are, not the
range of the values: a pass narrows any range of float64 numbers by `BINS`, outliers or
not, so that six passes at most isolate one value. The numbers are NumPy's to the last
bit: ``np.median`` and ``np.quantile``'s linear interpolation are done on the order
statistics found, in NumPy's arithmetic; means sum each partition's values, then the
sums (so they can differ from a single NumPy sum in the last bits, as DuckDB's do).

`Parts` is what the values are: `ArrayParts` holds arrays in this process (for tests, and
for a local scheduler); `vigil.compute.dask_engine` gives one whose arrays are futures on
a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

import numpy as np

from vigil.compute.actions import Aggregator, FloatArray
from vigil.compute.aggregators import (
    SIGMA_MAD_SCALE,
    Count,
    Mean,
    Median,
    OutlierFraction,
    Percentile,
    SigmaMAD,
)

__all__ = [
    "BINS",
    "GATHER",
    "ArrayParts",
    "Parts",
    "dataset_aggregate",
    "order_statistic",
    "reducible",
    "sorted_values",
]

BINS = 4096
"""Bins a pass of `order_statistic` splits the range in question into."""

GATHER = 1 << 18
"""Values (2 MB) few enough for `order_statistic` to fetch and sort them itself."""

T = TypeVar("T")

_SIGN = np.uint64(1 << 63)
_TOP = (1 << 64) - 1


class Parts(Protocol):
    """Arrays of sorted float64 values (NaN last), wherever they are held."""

    def each(self, function: Callable[[FloatArray], T]) -> list[T]:
        """``function(part)`` of every part, computed where the part is held."""
        ...

    def derived(self, function: Callable[[FloatArray], FloatArray]) -> Parts:
        """New parts, ``function(part)`` of every part, kept where the part is held."""
        ...


@dataclass(frozen=True)
class ArrayParts:
    """Parts held in this process."""

    arrays: Sequence[FloatArray]

    def each(self, function: Callable[[FloatArray], T]) -> list[T]:
        return [function(part) for part in self.arrays]

    def derived(self, function: Callable[[FloatArray], FloatArray]) -> ArrayParts:
        return ArrayParts([function(part) for part in self.arrays])


def sorted_values(values: np.ndarray) -> FloatArray:
    """*values* as sorted float64 (NaN last): what a part holds."""
    return np.sort(np.asarray(values, dtype=np.float64))


def reducible(aggregator: Aggregator) -> bool:
    """Whether `dataset_aggregate` computes *aggregator* (the built-in ones)."""
    return isinstance(aggregator, Count | Mean | OutlierFraction | Median | Percentile | SigmaMAD)


def dataset_aggregate(aggregator: Aggregator, parts: Parts) -> tuple[float, int]:
    """The value of *aggregator* over the values of every part, and how many there are:
    ``aggregator.reduce`` of all the values, without bringing them together.

    Raises
    ------
    TypeError
        For an aggregator that `reducible` refuses.
    """
    if not reducible(aggregator):
        raise TypeError(f"the aggregate {aggregator.name!r} needs the values in one place")
    summaries = parts.each(_summary)
    count = sum(s.count for s in summaries)
    finite = sum(s.count - s.nan for s in summaries)
    if count == 0:
        return float("nan"), 0
    if isinstance(aggregator, Count):
        return float(count), count
    if isinstance(aggregator, Mean):
        return sum(s.total for s in summaries) / count, count
    if isinstance(aggregator, OutlierFraction):
        far = parts.each(partial(_far, aggregator.center, aggregator.threshold))
        return float(sum(far)) / count, count
    if finite < count:  # NumPy's median and quantiles of values with a NaN are NaN
        return float("nan"), count
    low = min(s.low for s in summaries if s.count > s.nan)
    high = max(s.high for s in summaries if s.count > s.nan)
    if isinstance(aggregator, SigmaMAD):
        center = _median(parts, count, low, high)
        distances = parts.derived(partial(_distances, center))
        spread = _median(distances, count, 0.0, max(center - low, high - center))
        return SIGMA_MAD_SCALE * spread, count
    if isinstance(aggregator, Median):
        return _median(parts, count, low, high), count
    assert isinstance(aggregator, Percentile)
    return _quantile(parts, count, low, high, aggregator.q / 100.0), count


def order_statistic(
    parts: Parts, count: int, rank: int, low: float, high: float
) -> tuple[float, float | None]:
    """The *rank*-th smallest (from 0) of the *count* values of *parts*, all finite and
    between *low* and *high* (their least and greatest), and the next one, ``rank + 1``
    (None for the greatest).

    Each pass counts, in every part, the values below the edges that split the bit
    patterns still in question into `BINS`, and keeps the bin holding *rank*.
    """
    if not 0 <= rank < count:
        raise ValueError(f"rank {rank} of {count} values")
    first, last = _key(low), _key(high)  # the keys in question, both included
    below, upto = 0, count  # values before the bin, and up to its end
    upper: float | None = None  # the bin's values are below this; None: no bound
    while upto - below > GATHER and last > first:
        edges = _edges(first, last)
        counts = np.sum(parts.each(partial(_below, _value(edges))), axis=0)
        bounds = [below, *(int(c) for c in counts), upto]
        j = next(i for i in range(len(bounds) - 1) if bounds[i + 1] > rank)
        starts = [first, *edges.tolist()]
        if j < len(edges):
            upper = float(_value(edges[j : j + 1])[0])
        first, last = starts[j], (int(edges[j]) - 1 if j < len(edges) else last)
        below, upto = bounds[j], bounds[j + 1]
    bottom = float(_value(np.array([first], dtype=np.uint64))[0])
    if last == first:
        value = bottom
        following = value if rank + 1 < upto else None
    else:
        found = np.sort(np.concatenate(parts.each(partial(_between, bottom, upper))))
        value = float(found[rank - below])
        following = float(found[rank + 1 - below]) if rank + 1 < upto else None
    if following is None and rank + 1 < count and upper is not None:
        following = min(x for x in parts.each(partial(_first_from, upper)) if x is not None)
    return value, following


def _median(parts: Parts, count: int, low: float, high: float) -> float:
    """``np.median`` of the values of *parts* (finite)."""
    half = count // 2
    if count % 2:
        return order_statistic(parts, count, half, low, high)[0]
    a, b = order_statistic(parts, count, half - 1, low, high)
    assert b is not None
    return float((np.float64(a) + np.float64(b)) / 2)


def _quantile(parts: Parts, count: int, low: float, high: float, q: float) -> float:
    """``np.quantile(values, q)`` (linear) of the values of *parts* (finite)."""
    # NumPy's virtual index, neighbours and interpolation, in its order of operations:
    # at the greatest value, both neighbours are it (and the weight is off the end).
    virtual = (count - 1) * q
    if virtual >= count - 1:
        a, b, gamma = high, high, np.float64(virtual + 1)
    else:
        previous = math.floor(virtual)
        a, following = order_statistic(parts, count, previous, low, high)
        assert following is not None
        b, gamma = following, np.float64(virtual - previous)
    diff = np.float64(b) - np.float64(a)
    if gamma >= 0.5:
        return float(np.float64(b) - diff * (1 - gamma))
    return float(np.float64(a) + diff * gamma)


@dataclass(frozen=True)
class _Summary:
    count: int
    nan: int
    low: float
    high: float
    total: float


def _summary(part: FloatArray) -> _Summary:
    nan = int(np.isnan(part).sum()) if part.size else 0
    finite = part[: part.size - nan]
    return _Summary(
        count=int(part.size),
        nan=nan,
        low=float(finite[0]) if finite.size else math.inf,
        high=float(finite[-1]) if finite.size else -math.inf,
        total=float(np.sum(part)) if part.size else 0.0,
    )


def _far(center: float, threshold: float, part: FloatArray) -> int:
    return int(np.count_nonzero(np.abs(part - center) > threshold))


def _distances(center: float, part: FloatArray) -> FloatArray:
    return np.sort(np.abs(part - center))


def _below(edges: FloatArray, part: FloatArray) -> np.ndarray:
    return np.searchsorted(part, edges, side="left")


def _between(bottom: float, upper: float | None, part: FloatArray) -> FloatArray:
    start = int(np.searchsorted(part, bottom, side="left"))
    end = part.size if upper is None else int(np.searchsorted(part, upper, side="left"))
    return part[start:end]


def _first_from(upper: float, part: FloatArray) -> float | None:
    start = int(np.searchsorted(part, upper, side="left"))
    return float(part[start]) if start < part.size and not np.isnan(part[start]) else None


def _key(value: float) -> int:
    """The bit pattern of *value* as an integer in the values' order."""
    bits = int(np.array([value], dtype=np.float64).view(np.uint64)[0])
    return (_TOP ^ bits) if bits >> 63 else bits | (1 << 63)


def _value(keys: np.ndarray) -> FloatArray:
    """The float64 values whose `_key` are *keys* (uint64)."""
    keys = keys.astype(np.uint64)
    negative = keys < _SIGN
    bits = np.where(negative, ~keys, keys ^ _SIGN)
    return bits.view(np.float64)


def _edges(first: int, last: int) -> np.ndarray:
    """Up to ``BINS - 1`` keys splitting the keys *first* to *last* into bins: each edge
    starts a bin, the first bin starts at *first*."""
    span = last - first + 1
    edges = sorted({first + span * i // BINS for i in range(1, BINS)} - {first})
    return np.array(edges, dtype=np.uint64)

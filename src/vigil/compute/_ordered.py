"""Quantiles of rows stored in order: read off where DuckDB would select them.

`vigil compute` writes a per-source metric's values sorted, one file per tract or visit
(`vigil.compute.repository.SORTED_BY_KEY` in its metadata says so). Read back in that
order, a tract's or visit's values are a sorted run, so its median is two positions of the
run whatever its size. The groups of a finer level (patches, detectors) become sorted runs
through one stable radix sort by their keys. The dataset is every row: its order
statistics are selected with `numpy.partition` within a bracket that a sample of the
values finds, or, with no rows read yet, that the row groups' minima and maxima find
(`stats_bracket`), so that only the row groups around the quantile are read.

DuckDB's holistic aggregates select every group's values once per grouping set; here one
pass over the rows checks the order and finds the runs. The numbers are DuckDB's:
``quantile_cont`` (and ``median``) take ``RN = (n - 1) * q`` and interpolate
``lo * (1 - d) + hi * d`` with ``d = RN - floor(RN)`` between the order statistics around
it, and so does `ordered_quantiles`. For the median (``d`` is 0 or 1/2, the products
exact) that is the same number to the last bit; for another quantile DuckDB's build may
fuse a multiply-add and round the last bit the other way. Rows that turn out not to be in
order give None, and the caller asks DuckDB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "OrderedLevel",
    "ordered_quantiles",
    "quantile_in_bracket",
    "quantile_ranks",
    "stats_bracket",
]

MAX_BLOCKS = 200_000
"""Groups of a level that are not sorted runs, at most, for the rows to be used here: each
is selected on its own."""

_BRACKET_MIN = 1 << 17
"""Values from which a selection looks for a bracket first (below, one partition is as
quick as the sample)."""

_SAMPLE = 1 << 14
"""Values of the sample that brackets a large selection."""


@dataclass(frozen=True)
class OrderedLevel:
    """One level's groups: the key values of each group, its quantile and its size."""

    keys: list[npt.NDArray[np.integer]]
    values: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]


def ordered_quantiles(
    keys: Sequence[npt.NDArray[np.integer]],
    values: npt.NDArray[np.float64],
    depths: Sequence[int],
    q: float,
    grouped: int | None = None,
) -> list[OrderedLevel] | None:
    """The *q*-quantile of every group of several nested levels, from rows in key order.

    Parameters
    ----------
    keys
        Integer key columns, coarse to fine (``tract``, ``patch``), of rows in the order
        they are stored.
    values
        The rows' finite values.
    depths
        The levels wanted, each as its number of leading keys (0: every row).
    q
        The quantile, 0 to 1 (0.5: the median).
    grouped
        How many leading keys the rows are in order of (default: all). The rows of
        each group of those keys are first regrouped by the other keys with a stable
        sort (a radix sort when the groups are few), which keeps the values of each new
        group in their order.

    Returns
    -------
    list of OrderedLevel or None
        One per depth, groups in key order (like SQL's ``GROUP BY ... ORDER BY``; level
        0 has one group, of size 0 and value NaN when there are no rows). None when the
        rows are not sorted by the keys, or a level has more than `MAX_BLOCKS` groups
        that are not sorted runs.
    """
    deepest = max(depths, default=0)
    grouped = deepest if grouped is None else grouped
    # The levels the rows are in order of first, then the others once regrouped.
    shallow = [depth for depth in depths if depth <= grouped]
    found = _in_order(keys, values, shallow, q)
    if found is None:
        return None
    deep = [depth for depth in depths if depth > grouped]
    if deep:
        order = _regroup(keys[: max(deep)], grouped)
        if order is None:
            return None
        regrouped = _in_order([column[order] for column in keys], values[order], deep, q)
        if regrouped is None:
            return None
        found.update(regrouped)
    return [found[depth] for depth in depths]


def _in_order(
    keys: Sequence[npt.NDArray[np.integer]],
    values: npt.NDArray[np.float64],
    depths: Sequence[int],
    q: float,
) -> dict[int, OrderedLevel] | None:
    """`ordered_quantiles` of rows sorted by the keys of every depth."""
    n = len(values)
    deepest = max(depths, default=0)
    descending = values[1:] < values[:-1]
    # tie[i]: rows i and i + 1 share every key so far; ties[d] after d keys.
    tie = np.ones(max(n - 1, 0), dtype=bool)
    ties = [tie]
    for column in keys[:deepest]:
        before, after = column[:-1], column[1:]
        if np.any(tie & (after < before)):
            return None
        tie = tie & (after == before)
        ties.append(tie)
    out = {}
    for depth in depths:
        starts = np.concatenate(([0], np.flatnonzero(~ties[depth]) + 1)) if n else np.zeros(0, int)
        ends = np.append(starts[1:], n).astype(np.int64)
        if depth == 0 and n == 0:
            out[depth] = OrderedLevel([], np.array([np.nan]), np.zeros(1, dtype=np.int64))
            continue
        runs = not np.any(ties[depth] & descending)
        if not runs and len(starts) > MAX_BLOCKS:
            return None
        quantiles = _group_quantiles(values, starts, ends, q, runs)
        group_keys = [column[starts] for column in keys[:depth]]
        out[depth] = OrderedLevel(group_keys, quantiles, (ends - starts).astype(np.int64))
    return out


def _regroup(keys: Sequence[npt.NDArray[np.integer]], grouped: int) -> npt.NDArray[np.intp] | None:
    """The stable order that groups rows by all *keys*, within the runs of the first
    *grouped* (whose order is checked afterwards); None when the keys' ranges are too
    wide to combine."""
    n = len(keys[0]) if keys else 0
    run = np.zeros(n, dtype=np.int64)
    if n and grouped:
        change = np.zeros(n - 1, dtype=bool)
        for column in keys[:grouped]:
            change |= column[1:] != column[:-1]
        run[1:] = np.cumsum(change)
    code, width = run, int(run[-1]) + 1 if n else 1
    for column in keys[grouped:]:
        low, high = (int(column.min()), int(column.max())) if n else (0, 0)
        span = high - low + 1
        if width * span >= 2**62:
            return None
        code = code * span + (column - low)
        width *= span
    # NumPy sorts 16-bit integers with a radix sort: one pass, stable.
    small = code.astype(np.int16) if width <= 2**15 else code
    return np.argsort(small, kind="stable")


def stats_bracket(
    low: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    first: int,
    last: int,
) -> tuple[float, float]:
    """Values ``a <= b`` between which the *first*-th to *last*-th smallest values lie,
    from the minimum, maximum and row count of each row group alone.

    At most *first* values are below ``a`` (the row groups whose minimum is below it
    hold no more rows than that) and more than *last* are at most ``b`` (the row groups
    whose maximum is at most ``b`` hold more). Values sorted within their files make the
    row groups that reach into ``[a, b]`` few.
    """
    by_low = np.argsort(low, kind="stable")
    start = np.concatenate(([0], np.cumsum(rows[by_low])))
    # The first row group whose minimum would put more than `first` rows below a.
    index = int(np.searchsorted(start, first, side="right")) - 1
    a = float(low[by_low[index]]) if index < len(by_low) else math.inf
    by_high = np.argsort(high, kind="stable")
    end = np.cumsum(rows[by_high])
    b = float(high[by_high[int(np.searchsorted(end, last + 1, side="left"))]])
    return min(a, b), b


def quantile_in_bracket(
    inside: npt.NDArray[np.float64], below: int, total: int, q: float
) -> float | None:
    """The *q*-quantile of *total* values of which *below* are less than the values
    *inside* a bracket; None when the quantile's order statistics are not inside it."""
    low, high, fraction = _positions(np.array([total], dtype=np.int64), q)
    first, last = int(low[0]) - below, int(high[0]) - below
    if first < 0 or last >= len(inside):
        return None
    picked = np.partition(inside, [first, last])
    return float(_interpolate(picked[[first]], picked[[last]], fraction)[0])


def quantile_ranks(total: int, q: float) -> tuple[int, int]:
    """The ranks of the two order statistics the *q*-quantile of *total* values is
    interpolated between."""
    low, high, _ = _positions(np.array([total], dtype=np.int64), q)
    return int(low[0]), int(high[0])


def _positions(
    count: npt.NDArray[np.int64], q: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The ranks below and above ``RN = (count - 1) * q``, and how far past the lower
    one ``RN`` lies, as DuckDB computes them."""
    rn = (count - 1).astype(np.float64) * q
    low = np.floor(rn)
    return low.astype(np.int64), np.ceil(rn).astype(np.int64), rn - low


def _interpolate(
    lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64], fraction: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    # DuckDB: lo * (1 - d) + hi * d, and the lower value itself when the ranks meet.
    return np.where(fraction == 0.0, lo, lo * (1.0 - fraction) + hi * fraction)


def _group_quantiles(
    values: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    q: float,
    runs: bool,
) -> npt.NDArray[np.float64]:
    """Quantiles of the groups ``values[start:end]``: two positions of each when they
    are sorted *runs*, else two order statistics selected in each."""
    low, high, fraction = _positions(ends - starts, q)
    if runs:
        return _interpolate(values[starts + low], values[starts + high], fraction)
    lo = np.empty(len(starts))
    hi = np.empty(len(starts))
    for i, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        lo[i], hi[i] = _select(values[start:end], int(low[i]), int(high[i]))
    return _interpolate(lo, hi, fraction)


def _select(values: npt.NDArray[np.float64], low: int, high: int) -> tuple[float, float]:
    """The *low*-th and *high*-th smallest of *values* (which are left untouched).

    A large selection first brackets the two ranks between two values of an even sample
    and partitions only the values between them; when the bracket misses (an unlucky
    sample), it partitions them all.
    """
    n = len(values)
    if n >= _BRACKET_MIN:
        step = n // _SAMPLE
        sample = np.sort(values[::step])
        m = len(sample)
        margin = 4 * math.isqrt(m) + 2
        a = sample[max(low * m // n - margin, 0)]
        b = sample[min(high * m // n + margin, m - 1)]
        below = int(np.count_nonzero(values < a))
        inside = values[(values >= a) & (values <= b)]
        if below <= low and high < below + len(inside):
            picked = np.partition(inside, [low - below, high - below])
            return float(picked[low - below]), float(picked[high - below])
    picked = np.partition(values, [low, high])
    return float(picked[low]), float(picked[high])

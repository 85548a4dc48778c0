"""A dataset's aggregate from values spread over parts equals NumPy's over them all.

`vigil.compute._dask_select` finds medians and percentiles by counting, pass by pass, how
many values of each part lie below a set of edges. Its answers are checked to the last
bit against ``Aggregator.reduce`` (NumPy) on the values brought together, on data whose
answer is known to be hard: one value, two, a constant, ties, huge and tiny magnitudes,
infinities, signed zeros, a trend, a NaN, and parts that are empty; with the bin that is
fetched at the end as small as one value, so that every pass is exercised. Then, on a
LocalCluster, the dataset's value of every built-in aggregate is computed this way and
equals DuckDB's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.compute import _dask_select, dask_engine
from vigil.compute._dask_select import (
    ArrayParts,
    dataset_aggregate,
    order_statistic,
    reducible,
    sorted_values,
)
from vigil.compute.actions import Aggregator, FloatArray
from vigil.compute.aggregators import (
    Count,
    Mean,
    Median,
    OutlierFraction,
    Percentile,
    SigmaMAD,
)
from vigil.demo.catalog import generate_catalog
from vigil.explorer import Repository

AGGREGATORS: list[Aggregator] = [
    Median(),
    Mean(),
    SigmaMAD(),
    Count(),
    OutlierFraction(threshold=0.5),
    Percentile(q=0),
    Percentile(q=5),
    Percentile(q=33.3),
    Percentile(q=90),
    Percentile(q=100),
]

_RNG = np.random.default_rng(11)

DATA: dict[str, FloatArray] = {
    "normal, odd count": _RNG.normal(20, 3, 20001),
    "normal, even count": _RNG.normal(0, 1, 20000),
    "one value": np.array([7.0]),
    "two values": np.array([2.0, 1.0]),
    "constant": np.full(3000, 3.25),
    "ties": _RNG.integers(0, 5, 20000).astype(np.float64),
    "huge": _RNG.normal(0, 1, 5000) * 1e300,
    "tiny": _RNG.normal(0, 1, 5000) * 1e-300,
    "outliers and infinities": np.concatenate(
        [_RNG.normal(0, 1e-3, 5000), [1e308, -1e308, np.inf, -np.inf]]
    ),
    "signed zeros": np.concatenate([np.zeros(500), -np.zeros(500), _RNG.normal(0, 1, 99)]),
    "trend": np.arange(20000) * 1e-3 + _RNG.normal(0, 1e-6, 20000),
    "lognormal": _RNG.lognormal(0, 4, 20000),
    "a NaN": np.concatenate([_RNG.normal(0, 1, 100), [np.nan]]),
}


def _parts(values: FloatArray, count: int, seed: int = 0) -> ArrayParts:
    """*values* cut into *count* parts (some empty) at random places."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, len(values) + 1, count - 1))
    return ArrayParts([sorted_values(part) for part in np.split(values, cuts)])


def _same(got: float, want: float) -> bool:
    return (math.isnan(got) and math.isnan(want)) or got == want


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("gather", [_dask_select.GATHER, 16, 1])
@pytest.mark.parametrize("name", list(DATA))
def test_every_aggregate_equals_numpy_to_the_last_bit(
    name: str, gather: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dask_select, "GATHER", gather)
    values = DATA[name]
    for count in (1, 3, 17):
        parts = _parts(values, count)
        for aggregator in AGGREGATORS:
            got, n = dataset_aggregate(aggregator, parts)
            want = aggregator.reduce(values.copy())
            assert n == len(values)
            if isinstance(aggregator, Mean):
                # Each part is summed, then the sums: the last bits may differ.
                assert got == pytest.approx(want, rel=1e-12, nan_ok=True)
            else:
                assert _same(got, want), (aggregator.name, count, got, want)


def test_no_values_is_nan_and_none_counted() -> None:
    parts = ArrayParts([np.zeros(0), np.zeros(0)])
    for aggregator in AGGREGATORS:
        value, count = dataset_aggregate(aggregator, parts)
        assert math.isnan(value)
        assert count == 0


class _Counting(ArrayParts):
    """Parts that count the passes made over them."""

    passes = 0

    def each(self, function: Callable[[FloatArray], Any]) -> list[Any]:
        _Counting.passes += 1
        return super().each(function)


@pytest.mark.parametrize("name", ["normal, odd count", "lognormal", "ties", "huge"])
def test_an_order_statistic_takes_at_most_seven_passes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pass narrows the bit patterns in question 4,096-fold: 64 bits in 6 passes, and
    # one more to fetch the last bin, whatever the values.
    monkeypatch.setattr(_dask_select, "GATHER", 1)
    values = np.sort(DATA[name])
    parts = _Counting([sorted_values(p) for p in np.array_split(values, 7)])
    for rank in (0, len(values) // 2, len(values) - 1):
        _Counting.passes = 0
        value, following = order_statistic(parts, len(values), rank, values[0], values[-1])
        assert value == values[rank]
        assert following == (values[rank + 1] if rank + 1 < len(values) else None)
        assert _Counting.passes <= 7


def test_a_rank_outside_the_values_is_refused() -> None:
    with pytest.raises(ValueError, match="rank 3 of 3 values"):
        order_statistic(ArrayParts([np.arange(3.0)]), 3, 3, 0.0, 2.0)


def test_an_aggregator_of_a_plugin_is_not_reducible() -> None:
    class Midrange(Aggregator):
        name = "midrange"

        def sql(self, value: str) -> str:
            return f"(min({value}) + max({value})) / 2"

        def reduce(self, values: FloatArray) -> float:
            return float((values.min() + values.max()) / 2)

    assert not reducible(Midrange())
    with pytest.raises(TypeError, match="'midrange' needs the values in one place"):
        dataset_aggregate(Midrange(), ArrayParts([np.arange(3.0)]))


# -- on a cluster -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tracts of 2,000 objects, nothing computed: values come from the catalogue."""
    path = tmp_path_factory.mktemp("select") / "demo"
    generate_catalog(path, tracts=3, objects_per_tract=2000, visits=3, seed=7)
    return path


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_the_dataset_value_on_a_cluster_is_computed_in_place_and_equals_duckdb(
    root: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []

    def spied(aggregator: Aggregator, parts: Any) -> tuple[float, int]:
        assert isinstance(parts, dask_engine.FutureParts)
        used.append(aggregator.name)
        return dataset_aggregate(aggregator, parts)

    monkeypatch.setattr(dask_engine, "dataset_aggregate", spied)
    stats = ["median", "mean", "sigma_mad", "count", "p5", "p90"]
    with Repository(root) as duck, Repository(root, engine="dask", dask_client=client) as dask:
        (info,) = [i for i in duck.metrics() if i.name == "psf_cmodel_mag_diff_i"]
        for stat in stats:
            expected = duck.aggregate(info.name, [], stat=stat)
            got = dask.aggregate(info.name, [], stat=stat)
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
        # The quick look's levels together: the dataset's from the parts, the others
        # read in the same pass.
        levels: list[list[str]] = [[], ["tract"], ["tract", "patch"]]
        for got, expected in zip(
            dask.aggregate_levels(info.name, levels),
            duck.aggregate_levels(info.name, levels),
            strict=True,
        ):
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert used == [*stats, "median"]

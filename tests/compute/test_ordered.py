"""Quantiles read off rows stored in order equal DuckDB's ``quantile_cont``.

The median to the last bit; another quantile to within the last bit, which DuckDB's build
may round the other way by fusing a multiply-add."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.compute import default_registry
from vigil.compute._ordered import (
    MAX_BLOCKS,
    ordered_quantiles,
    quantile_in_bracket,
    quantile_ranks,
    stats_bracket,
)
from vigil.compute.engine import METRIC_ROW_GROUP, _indexed_quantile, connect, run_aggregate
from vigil.compute.plan import AggregatePlan
from vigil.compute.repository import SORTED_BY_KEY, RepoLayout
from vigil.demo.catalog import DemoCatalog

QUANTILES = [0.5, 0.1, 0.25, 0.9, 0.0, 1.0]
_CON = duckdb.connect()


def _duckdb(frame: pd.DataFrame, keys: list[str], q: float) -> pd.DataFrame:
    """DuckDB's own answer: ``quantile_cont`` and ``count`` per group, in key order."""
    con = _CON.cursor()
    con.register("rows", frame)
    head = ", ".join(keys)
    group = f" GROUP BY {head} ORDER BY {head}" if keys else ""
    select = f"{head}, " if keys else ""
    return con.execute(
        f"SELECT {select}quantile_cont(value, {q!r}) AS value, count(*) AS count FROM rows{group}"
    ).df()


def assert_like_duckdb(actual: np.ndarray, expected: np.ndarray, q: float) -> None:
    """Equal to the bit for the median and the extremes, else within one unit of the
    last place."""
    if q in (0.0, 0.5, 1.0):
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_array_max_ulp(actual, expected, maxulp=1)


def _rows(draw: st.DrawFn, order: list[str]) -> pd.DataFrame:
    n = draw(st.integers(1, 400))
    tract = np.sort(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    patch = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    # Few distinct values: ties at the quantile are common.
    values = np.array(
        draw(
            st.lists(
                st.sampled_from([-2.5, -1.0, 0.0, 0.1, 1e-9, 3.25, 7.0, 1e6]),
                min_size=n,
                max_size=n,
            )
        )
    )
    frame = pd.DataFrame({"tract": tract, "patch": patch, "value": values})
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


# Rows in the order of (tract, patch, value), of (tract, patch), or of (tract, value) as
# vigil compute stores them (grouped by the first key only).
ORDERS = [(["tract", "patch", "value"], 2), (["tract", "patch"], 2), (["tract", "value"], 1)]


@st.composite
def sorted_rows(draw: st.DrawFn) -> tuple[pd.DataFrame, int]:
    order, grouped = draw(st.sampled_from(ORDERS))
    return _rows(draw, order), grouped


@settings(max_examples=40, deadline=None)
@given(rows=sorted_rows(), q=st.sampled_from(QUANTILES))
def test_every_level_equals_duckdb(rows: tuple[pd.DataFrame, int], q: float) -> None:
    frame, grouped = rows
    keys = [frame["tract"].to_numpy(), frame["patch"].to_numpy()]
    levels = ordered_quantiles(keys, frame["value"].to_numpy(), [0, 1, 2], q, grouped)
    assert levels is not None
    for depth, level in enumerate(levels):
        expected = _duckdb(frame, ["tract", "patch"][:depth], q)
        for i, key in enumerate(["tract", "patch"][:depth]):
            np.testing.assert_array_equal(level.keys[i], expected[key].to_numpy())
        assert_like_duckdb(level.values, expected["value"].to_numpy(), q)
        np.testing.assert_array_equal(level.counts, expected["count"].to_numpy())


def test_rows_out_of_key_order_are_refused() -> None:
    keys = [np.array([9813, 9813, 9814, 9813])]
    assert ordered_quantiles(keys, np.array([1.0, 2.0, 3.0, 4.0]), [1], 0.5) is None
    patch = [np.array([1, 1, 1, 1]), np.array([0, 2, 1, 3])]
    assert ordered_quantiles(patch, np.array([1.0, 2.0, 3.0, 4.0]), [2], 0.5) is None


def test_too_many_unsorted_groups_are_refused() -> None:
    n = 2 * (MAX_BLOCKS + 1)
    keys = [np.repeat(np.arange(MAX_BLOCKS + 1), 2)]
    values = np.tile([2.0, 1.0], MAX_BLOCKS + 1)  # each pair out of order
    assert ordered_quantiles(keys, values[:n], [1], 0.5) is None
    assert ordered_quantiles(keys, np.sort(values)[:n], [1], 0.5) is not None


@pytest.mark.parametrize("shape", ["normal", "ties", "constant", "sorted", "skewed"])
@pytest.mark.parametrize("q", [0.5, 0.01, 0.999])
def test_a_large_selection_equals_duckdb(shape: str, q: float) -> None:
    # Over 2**17 values the selection is bracketed by a sample first.
    rng = np.random.default_rng(5)
    n = 300_001
    values = {
        "normal": rng.normal(size=n),
        "ties": rng.integers(0, 3, size=n).astype(float),
        "constant": np.full(n, 4.5),
        "sorted": np.sort(rng.normal(size=n)),
        "skewed": np.exp(rng.normal(0, 3, size=n)),
    }[shape]
    kept = values.copy()
    (level,) = ordered_quantiles([], values, [0], q)  # type: ignore[misc]
    np.testing.assert_array_equal(values, kept)  # the caller's array is left as it was
    expected = _duckdb(pd.DataFrame({"value": values}), [], q)
    assert_like_duckdb(level.values, expected["value"].to_numpy(), q)
    assert level.counts[0] == n


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
    q=st.sampled_from(QUANTILES),
    sort=st.booleans(),
)
def test_the_row_group_bracket_holds_the_quantile(
    sizes: list[int], seed: int, q: float, sort: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(-5, 6, size=sum(sizes)).astype(float)
    values = np.sort(values) if sort else values
    bounds = np.cumsum([0, *sizes])
    groups = [values[start:end] for start, end in itertools.pairwise(bounds)]
    low = np.array([g.min() for g in groups])
    high = np.array([g.max() for g in groups])
    first, last = quantile_ranks(len(values), q)
    a, b = stats_bracket(low, high, np.array(sizes), first, last)
    assert np.count_nonzero(values < a) <= first
    assert np.count_nonzero(values <= b) > last
    below = int(np.count_nonzero(values < a))
    found = quantile_in_bracket(values[(values >= a) & (values <= b)], below, len(values), q)
    expected = _duckdb(pd.DataFrame({"value": values}), [], q)["value"].to_numpy()
    assert_like_duckdb(np.array([found]), expected, q)


# Through the engine, on files written by vigil compute. ---------------------------------

# What vigil compute stores: metrics with an acceptable range by their finest drill level
# and value, the others by value (test_compute_stores_each_metric_in_its_order).
ORDER = {
    "psf_cmodel_mag_diff_i": ("tract", "patch", "value"),
    "psf_size_residual_r": ("tract", "patch", "value"),
    "visit_psf_size_residual_g": ("visit", "detector", "value"),
    "psf_snr_g": ("tract", "value"),
}


def _plan(
    demo_catalog: DemoCatalog, name: str, sorted_by: tuple[str, ...], levels: int = 3
) -> AggregatePlan:
    metric = default_registry().resolve(name)
    layout = RepoLayout(demo_catalog.root)
    files = tuple(layout.metric_files(name, metric.table).values())
    columns = tuple(pq.read_schema(files[0]).names)
    keys: tuple[str, ...] = (
        ("tract", "patch") if metric.table == "objects" else ("visit", "detector")
    )
    sets = ((), keys[:1], keys)[:levels]
    keys = keys[: max(levels - 1, 0)]
    return AggregatePlan(metric, "stored", files, columns, keys, sets=sets, sorted_by=sorted_by)


@pytest.mark.parametrize("name", sorted(ORDER))
def test_compute_stores_each_metric_in_its_order_and_says_so(
    demo_catalog: DemoCatalog, name: str
) -> None:
    metric = default_registry().resolve(name)
    order = list(ORDER[name])
    for path in RepoLayout(demo_catalog.root).metric_files(name, metric.table).values():
        parquet = pq.ParquetFile(path)
        metadata = parquet.schema_arrow.metadata
        assert metadata[SORTED_BY_KEY.encode()] == ",".join(order).encode()
        frame = parquet.read(columns=order).to_pandas()
        resorted = frame.sort_values(order, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, resorted)
        groups = [parquet.metadata.row_group(i) for i in range(parquet.metadata.num_row_groups)]
        assert all(group.num_rows <= METRIC_ROW_GROUP for group in groups)


@pytest.mark.parametrize("name", ["psf_snr_g", "visit_psf_size_residual_g"])
def test_values_sorted_otherwise_are_regrouped_to_the_same_answer(
    demo_catalog: DemoCatalog, name: str, tmp_path: Path
) -> None:
    """A metric stored by value alone, drilled to its finest level all the same."""
    metric = default_registry().resolve(name)
    keys = ("tract", "patch") if metric.table == "objects" else ("visit", "detector")
    plan = _plan(demo_catalog, name, (keys[0], "value"))
    copies = []
    for path in plan.files:
        table = pq.read_table(path).sort_by([(keys[0], "ascending"), ("value", "ascending")])
        copies.append(tmp_path / path.name)
        pq.write_table(table, copies[-1])
    by_value = replace(plan, files=tuple(copies))
    assert by_value.ordered_depths() == [0, 1, 2] and by_value.grouped_depth == 1
    con = connect()
    key = ["grouping", *plan.keys]
    fast = run_aggregate(con, by_value).sort_values(key).reset_index(drop=True)
    sql = run_aggregate(con, replace(plan, sorted_by=())).sort_values(key).reset_index(drop=True)
    np.testing.assert_array_equal(fast["value"].to_numpy(), sql["value"].to_numpy())
    np.testing.assert_array_equal(fast["count"].to_numpy(), sql["count"].to_numpy())


@pytest.mark.parametrize("name", ["psf_cmodel_mag_diff_i", "visit_psf_size_residual_g"])
def test_the_ordered_path_equals_duckdb_on_stored_values(
    demo_catalog: DemoCatalog, name: str
) -> None:
    ordered = _plan(demo_catalog, name, ORDER[name])
    assert ordered.ordered_depths() == [0, 1, 2]
    unordered = _plan(demo_catalog, name, ())
    assert unordered.ordered_depths() is None
    con = connect()
    fast = run_aggregate(con, ordered)
    sql = run_aggregate(con, unordered)
    key = ["grouping", *ordered.keys]
    fast = fast.sort_values(key).reset_index(drop=True)
    sql = sql.sort_values(key).reset_index(drop=True)
    np.testing.assert_array_equal(fast["value"].to_numpy(), sql["value"].to_numpy())
    np.testing.assert_array_equal(fast["count"].to_numpy(), sql["count"].to_numpy())
    np.testing.assert_array_equal(fast["grouping"].to_numpy(), sql["grouping"].to_numpy())


@pytest.mark.parametrize("name", ["psf_snr_g", "psf_size_residual_g"])
@pytest.mark.parametrize("stat", ["median", "p10", "p99"])
def test_a_dataset_quantile_read_through_the_row_group_index_equals_duckdb(
    demo_catalog: DemoCatalog, name: str, stat: str, tmp_path: Path
) -> None:
    metric = default_registry().resolve(name)
    plan = replace(_plan(demo_catalog, name, ORDER["psf_snr_g"], levels=1), sets=())
    # Row groups of 64 rows: the small files of the test index their values as the
    # large files of a survey do with 8,192.
    plan = _rewritten(plan, tmp_path, shuffle=False)
    plan = replace(plan, aggregator=metric.aggregator(stat))
    assert plan.ordered_depths() == [0]
    q = plan.reducer.quantile
    assert q is not None
    found = _indexed_quantile(plan.files, q)
    assert found is not None  # sorted files: a few row groups around the quantile
    expected = run_aggregate(connect(), replace(plan, sorted_by=(), aggregator=None))
    if stat == "median":
        assert found == (expected["value"].iloc[0], expected["count"].iloc[0])
    sql = (
        connect()
        .execute(
            f"SELECT quantile_cont(value, {q!r}) FROM read_parquet(?)",
            [[str(p) for p in plan.files]],
        )
        .fetchone()
    )
    assert sql is not None
    assert_like_duckdb(np.array([found[0]]), np.array([sql[0]]), q)


def _rewritten(plan: AggregatePlan, folder: Path, *, shuffle: bool) -> AggregatePlan:
    """*plan* over copies of its files in row groups of 64 rows, with their rows
    shuffled or sorted by value (the metadata kept)."""
    copies = []
    for path in plan.files:
        table = pq.read_table(path)
        if shuffle:
            table = table.take(np.random.default_rng(1).permutation(table.num_rows))
        else:
            table = table.sort_by("value")
        target = folder / path.name
        pq.write_table(table, target, row_group_size=64)
        copies.append(target)
    return replace(plan, files=tuple(copies))


def test_files_that_lose_their_order_are_answered_by_duckdb(
    demo_catalog: DemoCatalog, tmp_path: Path
) -> None:
    plan = _plan(demo_catalog, "psf_size_residual_r", ORDER["psf_size_residual_r"])
    lying = _rewritten(plan, tmp_path, shuffle=True)
    assert pq.read_schema(lying.files[0]).metadata[SORTED_BY_KEY.encode()] == b"tract,patch,value"
    con = connect()
    answer = run_aggregate(con, lying).sort_values(["grouping", "tract", "patch"])
    expected = run_aggregate(con, plan).sort_values(["grouping", "tract", "patch"])
    np.testing.assert_array_equal(answer["value"].to_numpy(), expected["value"].to_numpy())
    dataset = replace(lying, keys=(), sets=())
    assert _indexed_quantile(dataset.files, 0.5) is None  # row groups all reach the median
    whole = run_aggregate(con, dataset)["value"].iloc[0]
    assert whole == expected[expected["grouping"] == 3]["value"].iloc[0]

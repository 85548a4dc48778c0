"""What changed between two reruns: sizes, ranks and statuses on known values, then on two
demo repositories with a planted change."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import pyarrow.parquet as pq
import pytest
from panel.models.tabulator import CellClickEvent

from vigil.compute import compute_repository
from vigil.compute.metric import AcceptableRange
from vigil.demo.catalog import generate_catalog
from vigil.explorer import _rerun_views
from vigil.explorer._rerun import (
    MISSING,
    OVERVIEW_COLUMNS,
    SCALE_RELATIVE,
    SCALE_SIGMA,
    SUMMARY_COLUMNS,
    rank_changes,
    rerun_overview,
    robust_sigma,
    selection_title,
    side_status,
    summarise,
)
from vigil.explorer._rollup import RangeStatus
from vigil.explorer.app import ALL, Explorer, create_explorer
from vigil.explorer.query import MetricInfo, Repository

PLANTED = "psf_cmodel_mag_diff_i"
"""The metric whose values B shifts: B's i-band CModel fluxes are 1 % brighter."""

ONLY_IN_A = "psf_snr_copy_i"
"""A stored metric that only the first repository has."""


def _summary(rows: list[tuple[str, float, float, str]]) -> pd.DataFrame:
    """A `summarise` frame of (metric, value, spread, status) rows."""
    frame = pd.DataFrame(rows, columns=["metric", "value", "spread", "status"])
    return frame.assign(table="objects", note="")[SUMMARY_COLUMNS]


# -- robust sigma ---------------------------------------------------------------------------


def test_robust_sigma_of_known_values() -> None:
    # Median 3, absolute deviations 2 1 0 1 2: MAD 1.
    assert robust_sigma([1, 2, 3, 4, 5]) == pytest.approx(1.482602218505602)
    # One wild value does not move it much, unlike the standard deviation.
    assert robust_sigma([1, 2, 3, 4, 5000]) == pytest.approx(1.482602218505602)
    assert robust_sigma([1e-12, 2e-12, 3e-12]) == pytest.approx(1.482602218505602e-12)
    assert robust_sigma([1e15, 2e15, 3e15]) == pytest.approx(1.482602218505602e15)


def test_robust_sigma_edges() -> None:
    assert math.isnan(robust_sigma([]))
    assert math.isnan(robust_sigma([4.0]))  # one value has no spread
    assert math.isnan(robust_sigma([np.nan, np.nan, 3.0]))
    assert robust_sigma([np.nan, 1.0, 3.0, np.inf]) == pytest.approx(1.482602218505602)
    assert robust_sigma([7.0, 7.0, 7.0]) == 0.0


# -- statuses -------------------------------------------------------------------------------


def _info(acceptable: AcceptableRange | None) -> MetricInfo:
    return MetricInfo(
        name="m",
        table="objects",
        band="i",
        unit="mmag",
        description="",
        aggregate="median",
        granularity="source",
        selection=(),
        acceptable=acceptable,
        stored=True,
        rows=10,
        definition=None,
    )


def test_side_status_against_the_range() -> None:
    ranged = _info(AcceptableRange(min=-5.0, max=5.0))
    assert side_status(1.0, 0, ranged) == RangeStatus.OK
    assert side_status(6.0, 0, ranged) == RangeStatus.BAD
    assert side_status(1.0, 2, ranged) == RangeStatus.BAD  # a group out of range
    assert side_status(math.nan, 0, ranged) == RangeStatus.NO_DATA
    assert side_status(6.0, 0, _info(None)) == RangeStatus.NO_RANGE
    assert side_status(math.nan, 0, _info(None)) == RangeStatus.NO_DATA
    assert side_status(math.inf, 0, ranged) == RangeStatus.NO_DATA


# -- ranking --------------------------------------------------------------------------------


def test_sizes_are_in_a_sigmas_or_relative() -> None:
    a = _summary(
        [
            ("wide", 10.0, 5.0, "ok"),  # change 5 = 1 sigma
            ("narrow", 10.0, 0.5, "ok"),  # change 1 = 2 sigmas
            ("no_spread", 20.0, math.nan, "ok"),  # change 2 = 10 % of A
            ("constant", 3.0, 0.0, "no range"),  # equal groups: relative, unchanged
        ]
    )
    b = _summary(
        [
            ("wide", 15.0, 5.0, "bad"),
            ("narrow", 11.0, 0.5, "ok"),
            ("no_spread", 18.0, math.nan, "ok"),
            ("constant", 3.0, 0.0, "no range"),
        ]
    )
    out = rank_changes(a, b)
    assert list(out.columns) == OVERVIEW_COLUMNS
    assert list(out["metric"]) == ["narrow", "wide", "no_spread", "constant"]
    rows = out.set_index("metric")
    assert rows.loc["narrow", "size"] == pytest.approx(2.0)
    assert rows.loc["narrow", "scale"] == SCALE_SIGMA
    assert rows.loc["wide", "size"] == pytest.approx(1.0)
    assert rows.loc["no_spread", "change"] == pytest.approx(-2.0)
    assert rows.loc["no_spread", "size"] == pytest.approx(0.1)
    assert rows.loc["no_spread", "scale"] == SCALE_RELATIVE
    assert rows.loc["constant", "size"] == 0.0
    assert (rows.loc["wide", "status_a"], rows.loc["wide", "status_b"]) == ("ok", "bad")


def test_a_metric_on_one_side_is_missing_never_zero() -> None:
    a = _summary([("both", 1.0, 0.1, "ok"), ("only_a", 5.0, 1.0, "ok")])
    b = _summary([("both", 1.05, 0.1, "ok"), ("only_b", 0.0, 1.0, "ok")])
    out = rank_changes(a, b).set_index("metric")
    assert list(out.index) == ["both", "only_a", "only_b"]  # sized changes first
    assert math.isnan(out.loc["only_a", "value_b"]) and math.isnan(out.loc["only_a", "change"])
    assert math.isnan(out.loc["only_b", "value_a"]) and out.loc["only_b", "value_b"] == 0.0
    assert (out.loc["only_a", "status_b"], out.loc["only_a", "note"]) == (MISSING, "missing in B")
    assert (out.loc["only_b", "status_a"], out.loc["only_b", "note"]) == (MISSING, "missing in A")
    assert math.isnan(out.loc["only_a", "size"])


def test_nan_values_and_a_zero_a_rank_after_sized_changes() -> None:
    a = _summary(
        [
            ("nan_a", math.nan, math.nan, "no data"),
            ("zero_a", 0.0, math.nan, "ok"),  # no spread, no relative change: no size
            ("tiny", 1e-9, 1e-12, "ok"),
            ("nan_both", math.nan, math.nan, "no data"),
            ("huge", 1e12, 1e10, "ok"),
        ]
    )
    b = _summary(
        [
            ("nan_a", 4.0, math.nan, "ok"),
            ("zero_a", 3.0, math.nan, "ok"),
            ("tiny", 1.001e-9, 1e-12, "ok"),  # 1 sigma
            ("nan_both", math.nan, math.nan, "no data"),
            ("huge", 1.05e12, 1e10, "ok"),  # 5 sigmas
        ]
    )
    out = rank_changes(a, b)
    assert list(out["metric"]) == ["huge", "tiny", "zero_a", "nan_a", "nan_both"]
    rows = out.set_index("metric")
    assert rows.loc["tiny", "size"] == pytest.approx(1.0)
    assert rows.loc["huge", "size"] == pytest.approx(5.0)
    assert math.isnan(rows.loc["zero_a", "size"]) and rows.loc["zero_a", "change"] == 3.0
    assert math.isnan(rows.loc["nan_a", "change"])


def test_empty_summaries_give_an_empty_overview() -> None:
    empty = pd.DataFrame(columns=SUMMARY_COLUMNS)
    out = rank_changes(empty, empty)
    assert list(out.columns) == OVERVIEW_COLUMNS and out.empty


def test_the_title_names_the_selection() -> None:
    assert selection_title(9813, None) == "coadd metrics: tract 9813; visit metrics: every visit"
    assert selection_title(None, 1228) == "coadd metrics: every tract; visit metrics: visit 1228"


# -- two demo repositories ------------------------------------------------------------------


def make_reruns(base: Path) -> tuple[Path, Path]:
    """``a`` and ``b``: one demo drawn twice with the same seed; B's i-band CModel fluxes
    are 1 % brighter (`PLANTED` moves by about +10.8 mmag, nothing else moves), and A
    alone has `ONLY_IN_A`."""
    a, b = base / "a", base / "b"
    for root in (a, b):
        generate_catalog(root, tracts=2, objects_per_tract=4000, visits=6, seed=11)
    for path in sorted((b / "objects").rglob("*.parquet")):
        table = pq.read_table(path).to_pandas()
        table["i_cModelFlux"] = table["i_cModelFlux"] * 1.01
        table.to_parquet(path, index=False)
    for root in (a, b):
        compute_repository(root)
    shutil.copytree(a / "metrics" / "psf_snr_i", a / "metrics" / ONLY_IN_A)
    return a, b


@pytest.fixture(scope="module")
def reruns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_reruns(tmp_path_factory.mktemp("reruns"))


def test_the_planted_change_ranks_first_and_the_missing_metric_says_so(
    reruns: tuple[Path, Path],
) -> None:
    a, b = reruns
    with Repository(a) as repo_a, Repository(b) as repo_b:
        out = rerun_overview(repo_a, repo_b)
        names = {info.name for info in repo_a.metrics()} | {i.name for i in repo_b.metrics()}
    assert set(out["metric"]) == names  # every metric of either, none dropped
    top = out.iloc[0]
    assert top["metric"] == PLANTED
    assert top["change"] == pytest.approx(2.5 * np.log10(1.01) * 1000, abs=1.5)
    assert top["scale"] == SCALE_SIGMA and top["size"] > 3
    missing = out.set_index("metric").loc[ONLY_IN_A]
    assert (missing["status_b"], missing["note"]) == (MISSING, "missing in B")
    assert missing["status_a"] != MISSING and math.isnan(missing["value_b"])
    # Metrics the plant does not touch did not change.
    others = out[~out["metric"].isin([PLANTED, ONLY_IN_A, "stellar_locus_width"])]
    assert (others["change"].abs() < 1e-9).all()


def test_the_chosen_tract_and_visit_are_respected(reruns: tuple[Path, Path]) -> None:
    a, _ = reruns
    with Repository(a) as repo_a:
        whole = summarise(repo_a).set_index("metric")
        tract = summarise(repo_a, tract=9813).set_index("metric")
        expected = repo_a.aggregate(PLANTED, [], {"tract": 9813})["value"].iloc[0]
        patches = repo_a.aggregate(PLANTED, ["tract", "patch"], {"tract": 9813})["value"]
        visit = int(repo_a.visits(band="i")["visit"].iloc[0])
        one_visit = summarise(repo_a, visit=visit).set_index("metric")
        visit_metric = "visit_psf_size_residual_i"
        visit_value = repo_a.aggregate(visit_metric, [], {"visit": visit})["value"].iloc[0]
    assert tract.loc[PLANTED, "value"] == pytest.approx(expected)
    assert tract.loc[PLANTED, "value"] != whole.loc[PLANTED, "value"]
    assert tract.loc[PLANTED, "spread"] == pytest.approx(robust_sigma(patches))
    assert one_visit.loc[visit_metric, "value"] == pytest.approx(visit_value)
    # The tract does not filter the visit metrics, nor the visit the coadd ones.
    assert tract.loc[visit_metric, "value"] == pytest.approx(whole.loc[visit_metric, "value"])
    assert one_visit.loc[PLANTED, "value"] == pytest.approx(whole.loc[PLANTED, "value"])


def _overview_table(explorer: Explorer) -> pn.widgets.Tabulator:
    column: Any = explorer.overview()
    table: pn.widgets.Tabulator = next(p for p in column if isinstance(p, pn.widgets.Tabulator))
    return table


def test_a_click_on_a_row_opens_its_per_group_comparison(reruns: tuple[Path, Path]) -> None:
    a, b = reruns
    explorer: Explorer = create_explorer(a, b).explorer  # type: ignore[attr-defined]
    explorer.tract = 9814
    table = _overview_table(explorer)
    title: Any = explorer.overview()[0]  # type: ignore[index]
    assert "tract 9814" in title.object and "every visit" in title.object
    assert table.value["metric"].iloc[0] == PLANTED
    row = int(table.value.index[table.value["metric"] == PLANTED][0])
    event = CellClickEvent(model=None, column="metric", row=row)  # type: ignore[no-untyped-call]
    table._process_event(event)
    assert explorer.metric == PLANTED and explorer.tract == 9814
    compared: Any = explorer.comparison()
    frame = next(p for p in compared if p.name == "comparison").object
    assert set(frame["tract"]) == {9814} and (frame["delta"] > 0).all()
    # A metric only B has is listed but cannot be opened in A: the click changes nothing.
    explorer_b: Explorer = create_explorer(b, a).explorer  # type: ignore[attr-defined]
    table_b = _overview_table(explorer_b)
    only = int(table_b.value.index[table_b.value["metric"] == ONLY_IN_A][0])
    before = explorer_b.metric
    table_b._process_event(CellClickEvent(model=None, column="metric", row=only))  # type: ignore[no-untyped-call]
    assert explorer_b.metric == before
    assert table_b.value.set_index("metric").loc[ONLY_IN_A, "note"] == "missing in A"


def test_without_a_second_repository_there_is_no_overview(reruns: tuple[Path, Path]) -> None:
    explorer: Explorer = create_explorer(reruns[0]).explorer  # type: ignore[attr-defined]
    assert _rerun_views.overview_frame(explorer, ALL).empty


def test_a_metric_without_primary_rows_says_why(conformance: Path, tmp_path: Path) -> None:
    from vigil.compute.mapping import import_catalog

    root = tmp_path / "legacy"
    import_catalog(conformance / "catalogs/hsc_coadd_tract9615_sample.parq", root, band="i")
    compute_repository(root)
    with Repository(root) as repo:
        row = summarise(repo).set_index("metric").loc["psf_snr_i"]
    assert row["status"] == RangeStatus.NO_DATA and math.isnan(row["value"])
    assert row["note"] == "no primary objects: 0 of 100 rows have detect_isPrimary"

"""The quick look's roll-up: one scan per metric, and the worst group named right."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from vigil.compute import compute_repository
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer._ranking import median_tail_log_probability
from vigil.explorer._rollup import ROLLUP_COLUMNS, _cost, rank_groups, rollup, rollup_levels
from vigil.explorer.query import Repository


def test_one_odd_source_is_less_unlikely_than_three() -> None:
    # One source beyond a value that 1 in 600 values pass, against three sources whose
    # median is beyond a value 3 in 600 values pass: the three are far less likely.
    single = median_tail_log_probability(1, 1, 600)
    three = median_tail_log_probability(3, 3, 600)
    assert single == pytest.approx(math.log(1 / 600))
    q = 3 / 600
    assert three == pytest.approx(math.log(3 * q**2 * (1 - q) + q**3))
    assert three < single
    assert median_tail_log_probability(0, 0, 600) == 0.0
    assert median_tail_log_probability(2000, 300, 30000) < -100  # a large group far out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """One tract of 5,000 objects: about three bright stars per CCD of a visit."""
    root = tmp_path_factory.mktemp("rollup") / "small"
    # With this seed a CCD of another visit holds one misclassified galaxy 180 mmag off,
    # farther out of range than the planted CCD's three stars (about 70 mmag).
    made = generate_catalog(root, tracts=1, objects_per_tract=5000, seed=5)
    compute_repository(root)
    return made


def test_quick_look_names_the_planted_ccd_in_a_small_repository(small: DemoCatalog) -> None:
    ccd = small.problem("bad_ccd")
    with Repository(small.root) as repo:
        ccds = repo.aggregate(ccd.metric, ["visit", "detector"])
        bad = ccds[ccds["acceptable"].eq(False).fillna(False)]
        farthest = bad.loc[bad["value"].abs().idxmax()]
        # The trap is there: the farthest out of range is a single odd source elsewhere.
        assert (int(farthest["visit"]), int(farthest["detector"])) != (
            ccd.data_id["visit"],
            ccd.data_id["detector"],
        )
        assert farthest["count"] == 1
        table = rollup(repo).set_index("metric")
    row = table.loc[ccd.metric]
    assert row["worst"] == f"visit {ccd.data_id['visit']}, detector {ccd.data_id['detector']}"
    assert row["worst_count"] >= 2
    assert row["status"] == "bad"
    for kind in ("bad_patch", "bad_visit"):
        problem = small.problem(kind)
        expected = ", ".join(f"{k} {v}" for k, v in problem.data_id.items())
        assert table.loc[problem.metric, "worst"] == expected


def test_rank_groups_orders_out_of_range_by_significance(small: DemoCatalog) -> None:
    ccd = small.problem("bad_ccd")
    with Repository(small.root) as repo:
        info = repo.metric(ccd.metric)
        where = {"visit": ccd.data_id["visit"]}
        frame = repo.aggregate(ccd.metric, ["visit", "detector"], where)
        ranked = rank_groups(repo, info, frame, where)
    assert len(ranked) == len(frame)
    assert int(ranked["detector"].iloc[0]) == ccd.data_id["detector"]
    assert ranked["log_p"].iloc[0] < 0 and ranked["excess"].iloc[0] > 0
    inside = ranked[ranked["excess"] <= 0]
    assert inside["log_p"].isna().all()
    # In range: closest to leaving it first.
    assert list(inside["excess"]) == sorted(inside["excess"], reverse=True)


def test_rollup_aggregates_each_metric_in_one_scan(small: DemoCatalog) -> None:
    with Repository(small.root) as repo:
        info = repo.metric("psf_size_residual_i")
        levels = rollup_levels(info)
        assert levels == [(), ("tract",), ("tract", "patch")]
        assert rollup_levels(repo.metric("psf_snr_i")) == [()]  # no range: no groups
        assert rollup_levels(repo.metric("stellar_locus_width")) == [(), ("tract", "patch")]
        together = repo.aggregate_levels("psf_size_residual_i", levels)
    with Repository(small.root) as fresh:
        for level, frame in zip(levels, together, strict=True):
            pd.testing.assert_frame_equal(
                frame, fresh.aggregate("psf_size_residual_i", list(level))
            )
    with Repository(small.root) as repo:
        table = rollup(repo)
    assert list(table.columns) == ROLLUP_COLUMNS
    snr = table.set_index("metric").loc["psf_snr_i"]
    assert snr["status"] == "no range" and pd.isna(snr["groups"]) and snr["value"] > 0


def test_tail_counts(small: DemoCatalog, tmp_path: Path) -> None:
    with Repository(small.root) as repo:
        values = repo.values("psf_size_residual_i", limit=None)["value"]
        total, (above, below) = repo.tail_counts(
            "psf_size_residual_i", [(1.0, True), (-1.0, False)]
        )
    assert total == len(values)
    assert above == int((values >= 1.0).sum()) and below == int((values <= -1.0).sum())


def test_the_fit_refitted_from_its_table_is_rolled_up_first(small: DemoCatalog) -> None:
    # The stellar locus stores a few values per patch, but its dataset value is a refit
    # from every row of the catalogue: started last, the quick look waits for it alone.
    with Repository(small.root) as repo:
        infos = repo.metrics()
        first = min(infos, key=_cost)
        assert first.name == "stellar_locus_width"
        others = sorted((i for i in infos if i is not first), key=_cost)
        sizes = [(i.rows or 0) * len(rollup_levels(i)) for i in others]
        assert sizes == sorted(sizes, reverse=True)

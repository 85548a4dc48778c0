"""The by-branch view compares each branch with the main line of the same period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil import plots
from vigil.plots.branches import same_period


def history() -> pd.DataFrame:
    """Main nightly from June to October, 10.0 until September then 7.0 (30 % faster);
    a June branch at 10.0 (no change of its own) and an October branch at 7.0."""
    main_days = pd.date_range("2026-06-01", "2026-10-31", freq="D", tz="UTC")
    main = pd.DataFrame(
        {
            "time": main_days,
            "value": np.where(main_days < pd.Timestamp("2026-09-01", tz="UTC"), 10.0, 7.0),
            "branch": "main",
        }
    )
    june = pd.DataFrame(
        {
            "time": pd.date_range("2026-06-10 12:00", periods=4, freq="2D", tz="UTC"),
            "value": 10.0,
            "branch": "tickets/DM-june",
        }
    )
    october = pd.DataFrame(
        {
            "time": pd.date_range("2026-10-20 12:00", periods=3, freq="D", tz="UTC"),
            "value": 7.0,
            "branch": "tickets/DM-october",
        }
    )
    df = pd.concat([main, june, october]).sort_values("time", kind="stable")
    df["job_id"] = np.arange(1, len(df) + 1)
    return df.reset_index(drop=True)


def boxes(df: pd.DataFrame, last: int = 10) -> dict[str, tuple[float, int]]:
    data = plots.branch_data(df, last=last).sources["boxes"]
    return {b: (q2, n) for b, q2, n in zip(data["branch"], data["q2"], data["n"], strict=True)}


def test_a_june_branch_is_compared_with_the_main_line_of_june() -> None:
    found = boxes(history())
    # The main line's own latest jobs ran after its September change...
    assert found["main"] == (7.0, 10)
    # ...but beside the June branch stands main of June 10 to 16: the branch is no faster.
    assert found["tickets/DM-june"] == (10.0, 4)
    assert found["main (tickets/DM-june)"] == (10.0, 6)
    # The October branch's three days hold two main-line jobs: fewer than three, so the
    # last ten main-line jobs up to its last one stand beside it.
    assert found["tickets/DM-october"] == (7.0, 3)
    assert found["main (tickets/DM-october)"] == (7.0, 10)


def test_the_main_line_of_a_branch_period_is_a_box_of_that_period() -> None:
    df = history()
    data = plots.branch_data(df, last=10).sources
    june = list(data["boxes"]["branch"]).index("main (tickets/DM-june)")
    # June 11 to 16 at midnight: six main-line jobs, all at the June level.
    assert data["boxes"]["n"][june] == 6
    assert data["boxes"]["lo"][june] == data["boxes"]["hi"][june] == 10.0
    assert data["boxes"]["label"][june] == "main over the period of tickets/DM-june"
    # Its points are main-line points, drawn in main's own group only.
    assert "main (tickets/DM-june)" not in set(data["points"]["x"])


def test_same_period_falls_back_to_the_main_line_as_the_branch_knew_it() -> None:
    times = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    main = np.array([0, 1, 2, 3, 4, 5])
    assert list(same_period(main, times, 15.0, 35.0, 10)) == [0, 1, 2, 3]  # only 2 inside
    assert list(same_period(main, times, 5.0, 45.0, 3)) == [1, 2, 3, 4]  # 4 inside
    assert list(same_period(main, times, -9.0, -5.0, 3)) == [0, 1, 2]  # before any

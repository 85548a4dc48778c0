"""The focal-plane geometry on synthetic visits whose layout is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vigil.compute.metric import AcceptableRange
from vigil.explorer._focal_plane import (
    FRAME_COLUMNS,
    LAYOUT_COLUMNS,
    SUM_COLUMNS,
    boresights,
    combine_frames,
    combine_sums,
    detector_frames,
    detector_medians,
    gnomonic,
    layout,
    vector_sums,
    worst_visit,
)

Box = tuple[float, float, float, float]

# A 2x2 camera in the tangent plane (degrees): detector -> (x_min, x_max, y_min, y_max).
GRID: dict[int, Box] = {
    0: (-0.5, -0.02, -0.5, -0.02),
    1: (0.02, 0.5, -0.5, -0.02),
    2: (-0.5, -0.02, 0.02, 0.5),
    3: (0.02, 0.5, 0.02, 0.5),
}
# Pointings across RA 0/360, at the equator, at mid latitude, next to both poles.
POINTINGS = [(10.0, 0.0), (359.9, 30.0), (200.0, -45.0), (123.0, 89.0), (0.0, -89.2)]


def _deproject(x: np.ndarray, y: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, ...]:
    """The sky positions (degrees) whose tangent-plane coordinates about (ra0, dec0) are
    (x, y) degrees: the point t + x e + y n, with t the centre and e, n the unit vectors
    east and north there, put back on the sphere."""
    a, d = math.radians(ra0), math.radians(dec0)
    t = np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
    e = np.array([-math.sin(a), math.cos(a), 0.0])
    n = np.array([-math.sin(d) * math.cos(a), -math.sin(d) * math.sin(a), math.cos(d)])
    u, v = np.radians(x)[:, None], np.radians(y)[:, None]
    p = t + u * e + v * n
    p /= np.linalg.norm(p, axis=1)[:, None]
    ra = np.degrees(np.arctan2(p[:, 1], p[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(p[:, 2]))
    return ra, dec


def _visit(visit: int, ra0: float, dec0: float, grid: dict[int, Box] = GRID) -> pd.DataFrame:
    """Sources on a regular 5x5 lattice spanning each detector of *grid*, edges included,
    pointed at (ra0, dec0): symmetric, so their mean position is the pointing."""
    parts = []
    for detector, (x_min, x_max, y_min, y_max) in grid.items():
        xs, ys = np.meshgrid(np.linspace(x_min, x_max, 5), np.linspace(y_min, y_max, 5))
        ra, dec = _deproject(xs.ravel(), ys.ravel(), ra0, dec0)
        parts.append(
            pd.DataFrame({"visit": visit, "detector": detector, "coord_ra": ra, "coord_dec": dec})
        )
    return pd.concat(parts, ignore_index=True)


def _boxes(frame: pd.DataFrame) -> dict[int, Box]:
    return {
        int(row.detector): (row.x_min, row.x_max, row.y_min, row.y_max)
        for row in frame.itertuples()
    }


def test_gnomonic_of_known_points() -> None:
    x, y = gnomonic([10.0, 10.0, 11.0], [20.0, 21.0, 20.0], 10.0, 20.0)
    assert (x[0], y[0]) == pytest.approx((0.0, 0.0), abs=1e-12)
    # Along the meridian, the tangent plane stretches by tan: 1 degree -> tan(1 deg) rad.
    assert x[1] == pytest.approx(0.0, abs=1e-12)
    assert y[1] == pytest.approx(math.degrees(math.tan(math.radians(1.0))))
    assert x[2] > 0  # east is +x
    # Across RA 0/360 the same offset gives the same place.
    wrapped = gnomonic([0.3], [20.0], 359.7, 20.0)
    plain = gnomonic([10.3], [20.0], 9.7, 20.0)
    assert wrapped[0][0] == pytest.approx(plain[0][0])
    assert wrapped[1][0] == pytest.approx(plain[1][0])
    # A point 90 degrees away or more has no projection.
    far_x, far_y = gnomonic([190.0, 100.0], [-20.0, -20.0], 10.0, 20.0)
    assert np.isnan(far_x).all() and np.isnan(far_y).all()


@pytest.mark.parametrize(("ra0", "dec0"), POINTINGS)
def test_a_2x2_camera_is_found_wherever_it_points(ra0: float, dec0: float) -> None:
    sources = _visit(7, ra0, dec0)
    centre = boresights(vector_sums(sources)).iloc[0]
    # The mean position of a symmetric visit is its pointing (RA is undefined at a pole).
    assert centre["dec"] == pytest.approx(dec0, abs=1e-9)
    assert math.cos(math.radians(centre["ra"] - ra0)) == pytest.approx(1.0, abs=1e-9)
    frames = detector_frames(sources)
    assert tuple(frames.columns) == FRAME_COLUMNS
    assert frames["sources"].tolist() == [25] * 4
    for detector, box in _boxes(frames).items():
        assert box == pytest.approx(GRID[detector], abs=1e-9)


def test_the_layout_is_the_median_box_over_visits() -> None:
    visits = [_visit(visit, ra0, dec0) for visit, (ra0, dec0) in enumerate(POINTINGS[:3])]
    # In a fourth visit detector 3 saw only its lower-left quarter.
    clipped = dict(GRID)
    clipped[3] = (0.02, 0.26, 0.02, 0.26)
    visits.append(_visit(3, 50.0, 10.0, clipped))
    # Built in two parts, as from two files: the same boxes.
    half = len(visits) // 2
    parts = [pd.concat(visits[:half]), pd.concat(visits[half:])]
    sums = combine_sums(vector_sums(part) for part in parts)
    assert tuple(sums.columns) == SUM_COLUMNS
    pd.testing.assert_frame_equal(sums, vector_sums(pd.concat(parts)), check_dtype=False)
    frames = combine_frames(detector_frames(part, boresights(sums)) for part in parts)
    placed = layout(frames)
    assert tuple(placed.columns) == LAYOUT_COLUMNS
    assert placed["visits"].tolist() == [4, 4, 4, 4]
    # The clipped visit moves its boresight a little, but the median keeps every box.
    for detector, box in _boxes(placed).items():
        assert box == pytest.approx(GRID[detector], abs=1e-9)
    assert placed["x"].tolist() == pytest.approx([-0.26, 0.26, -0.26, 0.26])
    assert placed["y"].tolist() == pytest.approx([-0.26, -0.26, 0.26, 0.26])
    # Only the clipped visit: its own (shifted, smaller) box for detector 3.
    alone = _boxes(layout(frames, [3]))
    assert alone[3][1] - alone[3][0] == pytest.approx(0.24, abs=1e-3)
    assert layout(frames, [99]).empty


def test_a_part_of_a_visit_needs_the_visits_boresight() -> None:
    sources = _visit(1, 80.0, 40.0)
    part = sources[sources["detector"] == 3]
    # Alone, detector 3 is (about) centred on itself; with the visit's boresight it is
    # in place.
    own = _boxes(detector_frames(part))[3]
    assert (own[0] + own[1]) / 2 == pytest.approx(0.0, abs=1e-4)
    assert (own[2] + own[3]) / 2 == pytest.approx(0.0, abs=1e-4)
    placed = _boxes(detector_frames(part, boresights(vector_sums(sources))))[3]
    assert placed == pytest.approx(GRID[3], abs=1e-9)


def test_edges_empty_single_missing_and_cancelling() -> None:
    empty = pd.DataFrame({"visit": [], "detector": [], "coord_ra": [], "coord_dec": []})
    assert detector_frames(empty).empty and tuple(detector_frames(empty).columns) == FRAME_COLUMNS
    assert vector_sums(empty).empty and boresights(vector_sums(empty)).empty
    assert combine_sums([]).empty and combine_frames([]).empty
    assert layout(detector_frames(empty)).empty
    # One source: a box of no size, at the boresight.
    one = pd.DataFrame({"visit": [1], "detector": [5], "coord_ra": [33.0], "coord_dec": [-5.0]})
    box = _boxes(detector_frames(one))[5]
    assert box == pytest.approx((0.0, 0.0, 0.0, 0.0), abs=1e-12)
    # NaN positions are left out; two antipodal sources have no mean position.
    rows = {
        "visit": [1, 1, 2, 2],
        "detector": [1, 1, 1, 2],
        "coord_ra": [33.0, np.nan, 0.0, 180.0],
        "coord_dec": [-5.0, 1.0, 0.0, 0.0],
    }
    frames = detector_frames(pd.DataFrame(rows))
    assert frames["visit"].tolist() == [1]
    assert frames["sources"].tolist() == [1]
    centres = boresights(vector_sums(pd.DataFrame(rows)))
    assert centres["ra"].isna().tolist() == [False, True]


def test_detector_medians() -> None:
    values = pd.DataFrame(
        {
            "visit": [1, 2, 3, 1, 2, 1, 2, 1],
            "detector": [0, 0, 0, 1, 1, 2, 2, 3],
            "value": [1.0, 3.0, 100.0, np.nan, 2.0, np.inf, 1e300, 1e-300],
            "count": [5, 6, 7, 0, 3, 1, 1, 2],
        }
    )
    out = detector_medians(values)
    assert out["detector"].tolist() == [0, 1, 2, 3]
    assert out["value"].tolist() == [3.0, 2.0, 1e300, 1e-300]
    assert out["count"].tolist() == [18, 3, 2, 2]
    assert out["visits"].tolist() == [3, 1, 1, 1]
    constant = detector_medians(values.assign(value=4.0))
    assert constant["value"].tolist() == [4.0] * 4
    nothing = detector_medians(values.assign(value=np.nan))
    assert nothing["value"].isna().all() and nothing["visits"].tolist() == [0] * 4
    assert detector_medians(values.iloc[:0]).empty


def test_worst_visit() -> None:
    values = pd.DataFrame(
        {
            "visit": [10, 11, 12, 13, 10, 11],
            "detector": [1, 1, 1, 1, 2, 2],
            "value": [0.5, 2.5, -3.0, np.nan, np.nan, np.nan],
        }
    )
    both = AcceptableRange(min=-1.0, max=1.0)
    assert worst_visit(values, 1, both) == 12  # 2 below the range beats 1.5 above
    assert worst_visit(values, 1, AcceptableRange(max=2.0)) == 11
    assert worst_visit(values, 1, AcceptableRange(min=0.0)) == 12
    # All inside: the one closest to leaving the range.
    assert worst_visit(values, 1, AcceptableRange(min=-10.0, max=3.0)) == 11
    # No range: the farthest from the detector's median (0.5).
    assert worst_visit(values, 1, None) == 12
    assert worst_visit(values, 2, both) == 10  # no value: the first visit
    assert worst_visit(values, 9, both) is None
    ties = pd.DataFrame({"visit": [5, 4], "detector": [1, 1], "value": [2.0, 2.0]})
    assert worst_visit(ties, 1, None) == 4

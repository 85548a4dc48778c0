"""PSF residuals, rho statistics and the residual map on data with known truth."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from vigil.compute._pair_sums import unit_vectors
from vigil.compute.psf_stats import (
    RHO_NAMES,
    Shapes,
    residual_map,
    rho_statistics,
    shapes,
    summarize,
)

Array = npt.NDArray[np.float64]


def field(
    n: int, *, seed: int = 1, size: float = 1.0, ra0: float = 150.0
) -> tuple[Array, Array, np.random.Generator]:
    """*n* positions uniform over *size* x *size* degrees."""
    rng = np.random.default_rng(seed)
    return rng.uniform(ra0, ra0 + size, n), rng.uniform(2.0, 2.0 + size, n), rng


def psf_moments(e1: Array, e2: Array, trace: float | Array = 2.5) -> tuple[Array, Array, Array]:
    """Second moments of trace *trace* and distortion (*e1*, *e2*)."""
    return trace / 2 * (1 + e1), trace / 2 * (1 - e1), trace / 2 * e2


def residual_stars(de1: Array, de2: Array, e1_psf: Array, e2_psf: Array) -> Shapes:
    """Stars whose ellipticity is the PSF's plus (*de1*, *de2*), at the PSF's size."""
    star = psf_moments(e1_psf + de1, e2_psf + de2)
    return shapes(*star, *psf_moments(e1_psf, e2_psf))


def brute_force(
    ra: Array, dec: Array, a: tuple[Array, Array], b: tuple[Array, Array], edges: Array
) -> Array:
    """xi+ of (a, b) over every ordered pair of distinct points, bin by bin."""
    xyz = unit_vectors(ra, dec)
    angle = np.degrees(np.arccos(np.clip(xyz @ xyz.T, -1, 1))) * 60
    i, j = np.nonzero(~np.eye(len(ra), dtype=bool))
    out = []
    for low, high in itertools.pairwise(edges):
        inside = (angle[i, j] >= low) & (angle[i, j] < high)
        first, second = i[inside], j[inside]
        products = a[0][first] * b[0][second] + a[1][first] * b[1][second]
        out.append(products.mean() if inside.any() else np.nan)
    return np.array(out)


def test_ellipticities_follow_the_distortion_convention() -> None:
    stars = shapes([3.0], [1.0], [0.5], [2.0], [2.0], [0.0])
    assert stars.e1[0] == pytest.approx(0.5)  # (3 - 1) / 4
    assert stars.e2[0] == pytest.approx(0.25)  # 2 * 0.5 / 4
    assert (stars.e1_psf[0], stars.e2_psf[0]) == (0.0, 0.0)
    assert stars.de1[0] == pytest.approx(0.5)
    assert stars.dsize[0] == pytest.approx(0.0)  # T = 4 = T_psf
    larger = shapes([2.2], [2.2], [0.0], [2.0], [2.0], [0.0])
    assert larger.dsize[0] == pytest.approx(0.1)


def test_a_psf_model_equal_to_the_star_leaves_no_residual() -> None:
    ra, dec, rng = field(500)
    e1, e2 = rng.normal(0, 0.05, 500), rng.normal(0, 0.05, 500)
    moments = psf_moments(e1, e2, rng.uniform(2, 4, 500))
    stars = shapes(*moments, *moments)
    assert stars.valid.all()
    assert np.all(stars.de1 == 0) and np.all(stars.de2 == 0) and np.all(stars.dsize == 0)
    summary = summarize(stars)
    assert summary.stars == 500
    assert summary.rms_de1 == summary.rms_de2 == summary.rms_dsize == 0.0
    rho = rho_statistics(ra, dec, stars, min_sep=1, max_sep=60, bins=6)
    assert (rho.pairs > 0).all()
    for name in RHO_NAMES:
        assert np.all(rho.rho[name] == 0.0), name


@pytest.mark.parametrize("exact_pairs", [2_000_000, 0], ids=["exact", "grid"])
def test_a_constant_residual_gives_its_square_at_every_separation(exact_pairs: int) -> None:
    n = 3000
    ra, dec, rng = field(n)
    e1_psf, e2_psf = rng.normal(0, 0.03, n), rng.normal(0, 0.03, n)
    stars = residual_stars(np.full(n, 0.01), np.zeros(n), e1_psf, e2_psf)
    assert np.allclose(stars.de1, 0.01, rtol=0, atol=1e-15)
    rho = rho_statistics(ra, dec, stars, exact_pairs=exact_pairs)
    assert (rho.pairs > 0).all()
    np.testing.assert_allclose(rho.rho["rho1"], 1e-4, rtol=1e-9)
    # A constant field has no variance: no shot noise.
    np.testing.assert_allclose(rho.sigma["rho1"], 0.0, atol=1e-15)
    # No size residual: rho3-5 vanish.
    for name in ("rho3", "rho4", "rho5"):
        np.testing.assert_allclose(rho.rho[name], 0.0, atol=1e-15)


@pytest.mark.parametrize("exact_pairs", [2_000_000, 0], ids=["exact", "grid"])
def test_an_uncorrelated_residual_gives_rho1_consistent_with_zero(exact_pairs: int) -> None:
    n = 3000
    ra, dec, rng = field(n, seed=4)
    noise = 0.01
    stars = residual_stars(
        rng.normal(0, noise, n), rng.normal(0, noise, n), np.zeros(n), np.zeros(n)
    )
    rho = rho_statistics(ra, dec, stars, exact_pairs=exact_pairs)
    pulls = rho.rho["rho1"] / rho.sigma["rho1"]
    assert np.all(np.abs(pulls) < 4), pulls
    assert np.mean(pulls**2) < 3, pulls  # chi-square per bin near 1
    # The error is the shot noise: 2 sigma^4 / pairs per bin.
    np.testing.assert_allclose(rho.sigma["rho1"], np.sqrt(2 / rho.pairs) * noise**2, rtol=0.1)


def test_the_exact_pairs_equal_a_brute_force_sum() -> None:
    n = 300
    ra, dec, rng = field(n, seed=2)
    e1_psf, e2_psf = 0.02 * np.sin(ra * 11), 0.02 * np.cos(dec * 13)
    stars = shapes(
        *psf_moments(e1_psf + rng.normal(0, 0.01, n), e2_psf, rng.uniform(2.3, 2.7, n)),
        *psf_moments(e1_psf, e2_psf),
    )
    rho = rho_statistics(ra, dec, stars, min_sep=2, max_sep=60, bins=5)
    e, de = (stars.e1, stars.e2), (stars.de1, stars.de2)
    q = (stars.e1 * stars.dsize, stars.e2 * stars.dsize)
    truth = {"rho1": (de, de), "rho2": (e, de), "rho3": (q, q), "rho4": (de, q), "rho5": (e, q)}
    for name, (a, b) in truth.items():
        np.testing.assert_allclose(rho.rho[name], brute_force(ra, dec, a, b, rho.edges), rtol=1e-9)


def test_the_grid_agrees_with_the_exact_count() -> None:
    n = 2500
    ra, dec, rng = field(n, seed=3)
    e1_psf, e2_psf = 0.02 * np.sin(ra * 11), 0.02 * np.cos(dec * 13)
    star = psf_moments(e1_psf + rng.normal(0, 0.01, n), e2_psf + rng.normal(0, 0.01, n), 2.5 * 1.01)
    stars = shapes(*star, *psf_moments(e1_psf, e2_psf))
    exact = rho_statistics(ra, dec, stars, exact_pairs=10**9)
    grid = rho_statistics(ra, dec, stars, exact_pairs=0)
    # Pairs move between neighbouring bins by at most sqrt(2) cells.
    np.testing.assert_allclose(grid.pairs, exact.pairs, rtol=0.03)
    for name in RHO_NAMES:
        allowed = 0.1 * np.abs(exact.rho[name]) + 2 * exact.sigma[name]
        assert np.all(np.abs(grid.rho[name] - exact.rho[name]) <= allowed), name


def test_pairs_are_formed_within_groups_only() -> None:
    # Two visits of the same stars, with opposite residuals: within each visit rho1 is
    # +1e-4; pairs across the visits would pull it down.
    n = 500
    ra, dec, _ = field(n)
    zeros = np.zeros(2 * n)
    de1 = np.r_[np.full(n, 0.01), np.full(n, -0.01)]
    stars = residual_stars(de1, zeros, zeros, zeros)
    both_ra, both_dec = np.r_[ra, ra], np.r_[dec, dec]
    grouped = rho_statistics(both_ra, both_dec, stars, groups=np.repeat([7, 9], n))
    np.testing.assert_allclose(grouped.rho["rho1"], 1e-4, rtol=1e-9)
    assert grouped.groups == 2 and "each of 2 visits" in grouped.describe("visits")
    mixed = rho_statistics(both_ra, both_dec, stars, min_sep=1)
    assert np.all(np.abs(mixed.rho["rho1"]) < 5e-5)


def test_a_large_sample_is_bounded_uniform_and_seeded() -> None:
    n = 5000
    ra, dec, rng = field(n)
    stars = residual_stars(rng.normal(0, 0.01, n), rng.normal(0, 0.01, n), np.zeros(n), np.zeros(n))
    first = rho_statistics(ra, dec, stars, max_stars=1000, seed=3)
    assert (first.stars, first.available, first.sampled) == (1000, 5000, True)
    assert "uniform sample (seed 3) of 1,000 of 5,000 stars" in first.describe()
    again = rho_statistics(ra, dec, stars, max_stars=1000, seed=3)
    np.testing.assert_array_equal(first.rho["rho1"], again.rho["rho1"])
    other = rho_statistics(ra, dec, stars, max_stars=1000, seed=4)
    assert not np.array_equal(first.rho["rho1"], other.rho["rho1"])
    # A uniform sample of a fifth of the stars has about a 25th of the pairs.
    full = rho_statistics(ra, dec, stars)
    assert first.pairs.sum() == pytest.approx(full.pairs.sum() / 25, rel=0.05)


def test_no_star_and_one_star() -> None:
    none = shapes([], [], [], [], [], [])
    summary = summarize(none)
    assert summary.stars == 0 and np.isnan(summary.mean_de1) and np.isnan(summary.rms_dsize)
    rho = rho_statistics([], [], none)
    assert rho.stars == 0 and rho.pairs.sum() == 0
    assert all(np.isnan(rho.rho[name]).all() for name in RHO_NAMES)
    assert len(residual_map([], [], [], []).ra) == 0
    one = shapes([2.2], [1.8], [0.0], [2.0], [2.0], [0.0])
    single = summarize(one)
    assert single.stars == 1 and single.rms_de1 == pytest.approx(0.1)
    assert single.mean_de1 == single.median_de1 == pytest.approx(0.1)
    alone = rho_statistics([150.0], [2.0], one)
    assert alone.stars == 1 and alone.pairs.sum() == 0 and np.isnan(alone.rho["rho1"]).all()
    cell = residual_map([150.0], [2.0], one.de1, one.de2)
    assert len(cell.ra) == 1 and cell.stars[0] == 1 and cell.de1[0] == pytest.approx(0.1)


def test_unusable_moments_are_left_out() -> None:
    nan = float("nan")
    stars = shapes(
        [2.2, nan, 1.0, -1.0, 0.0, 1.0, 1.0],
        [1.8, 1.0, 1.0, -1.0, 0.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [2.0, 1.0, nan, 1.0, 1.0, 0.0, float("inf")],
        [2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    )
    # NaN moments, a negative trace, zero moments, a zero or infinite PSF: all invalid.
    assert stars.valid.tolist() == [True, False, False, False, False, False, False]
    assert np.isnan(stars.de1[1:]).all() and np.isnan(stars.dsize[1:]).all()
    summary = summarize(stars)
    assert summary.stars == 1 and summary.mean_de1 == pytest.approx(0.1)
    ra = [150.0, 150.01, 150.02, 150.03, 150.04, 150.05, 150.06]
    rho = rho_statistics(ra, [2.0] * 7, stars)
    assert rho.stars == 1 and rho.available == 1


@pytest.mark.parametrize("scale", [1e-150, 1e-30, 1e30, 1e150, 1e300])
def test_huge_and_tiny_moments_give_the_same_residuals(scale: float) -> None:
    moments = ([3.0, 2.2], [1.0, 1.8], [0.5, -0.1], [2.0, 2.0], [2.1, 2.0], [0.1, 0.0])
    reference = shapes(*moments)
    scaled = shapes(*(np.asarray(m) * scale for m in moments))
    assert scaled.valid.all()
    for name in ("e1", "e2", "de1", "de2", "dsize"):
        np.testing.assert_allclose(
            getattr(scaled, name), getattr(reference, name), rtol=1e-12, atol=1e-15
        )
    # A PSF model 1e300 times smaller than the star: a residual, not an overflow.
    apart = shapes([1e150], [1e150], [0.0], [1e-150], [1e-150], [0.0])
    assert apart.valid[0] and apart.dsize[0] == pytest.approx(1e300)


def test_float32_columns_are_read_as_they_are() -> None:
    moments = [np.asarray(m, dtype=np.float32) for m in ([2.2], [1.8], [0.1], [2.0], [2.0], [0.0])]
    stars = shapes(*moments)
    assert stars.e1.dtype == np.float64
    assert stars.e1[0] == pytest.approx(0.1, rel=1e-6)


def test_bad_bins_are_refused() -> None:
    stars = shapes([2.0], [2.0], [0.0], [2.0], [2.0], [0.0])
    for kwargs in ({"min_sep": 0.0}, {"min_sep": 10.0, "max_sep": 5.0}, {"bins": 0}):
        with pytest.raises(ValueError, match="min_sep"):
            rho_statistics([150.0], [2.0], stars, **kwargs)
    with pytest.raises(ValueError, match="max_stars"):
        rho_statistics([150.0], [2.0], stars, max_stars=0)
    with pytest.raises(ValueError, match="same length"):
        rho_statistics([150.0, 151.0], [2.0], stars)


def test_the_residual_map_averages_each_cell() -> None:
    # Four quadrants of a square degree, each with its own residual.
    ra, dec, _ = field(4000)
    east, north = ra > 150.5, dec > 2.5
    de1 = np.where(east, 0.01, -0.01)
    de2 = np.where(north, 0.02, 0.0)
    cells = residual_map(ra, dec, de1, de2, cells=2)
    assert len(cells.ra) == 4 and cells.stars.sum() == 4000
    for i in range(4):
        assert cells.de1[i] == pytest.approx(0.01 if cells.ra[i] > 150.5 else -0.01)
        assert cells.de2[i] == pytest.approx(0.02 if cells.dec[i] > 2.5 else 0.0)
    np.testing.assert_allclose(cells.magnitude, np.hypot(cells.de1, cells.de2))
    # A pure e2 residual lies at 45 degrees; a pure -e1 at 90.
    rotated = residual_map([150.0, 150.0], [2.0, 2.0], [0.0, -0.01], [0.01, 0.0], cells=1)
    assert rotated.angle[0] == pytest.approx(np.arctan2(0.01, -0.01) / 2)
    quarter = residual_map([150.0], [2.0], [0.0], [0.01])
    assert quarter.angle[0] == pytest.approx(np.pi / 4)


def test_the_residual_map_keeps_a_field_across_ra_zero_together() -> None:
    ra = np.array([359.8, 359.9, 0.1, 0.2])
    cells = residual_map(ra, np.full(4, 1.0), np.full(4, 0.01), np.zeros(4), cells=4)
    assert cells.stars.sum() == 4
    assert np.ptp(cells.ra) < 0.5  # not spread over 360 degrees
    nan_star = residual_map([150.0, np.nan], [2.0, 2.0], [0.01, 0.01], [0.0, 0.0])
    assert nan_star.stars.sum() == 1

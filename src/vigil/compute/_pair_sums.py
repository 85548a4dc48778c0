"""Pair sums of the rho statistics (`vigil.compute.psf_stats`): exact and on a grid.

Both give, per separation bin, the ordered pair count and the sum over ordered pairs
(i, j) of ``a_i b_j`` for each product of two components; the estimator and its cost are
described in `vigil.compute.psf_stats`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft as sf
from scipy.spatial import cKDTree

__all__ = [
    "ARCMIN_PER_RADIAN",
    "EXACT_CELLS",
    "bin_sums",
    "exact_sums",
    "grid_sums",
    "tangent_plane",
    "unit_vectors",
]

FloatArray = npt.NDArray[np.float64]

ARCMIN_PER_RADIAN = np.degrees(1.0) * 60.0

EXACT_CELLS = 16
"""Below this many grid cells of separation, pairs are counted exactly (`grid_sums`)."""


def unit_vectors(ra: FloatArray, dec: FloatArray) -> FloatArray:
    """Points on the unit sphere at *ra*, *dec* (degrees)."""
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    return np.column_stack(
        [np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)]
    )


def exact_sums(
    xyz: FloatArray,
    chords: FloatArray,
    components: list[FloatArray],
    products: list[tuple[int, int]],
    below: float,
) -> tuple[FloatArray, list[FloatArray]]:
    """Ordered pair counts and product sums per bin, from every pair closer than the
    chord *below*, each pair counted in both orders.

    *products* are pairs of indices into *components*; *chords* the bin edges as chords
    of the unit sphere.
    """
    bins = len(chords) - 1
    tree = cKDTree(xyz)
    pairs = tree.query_pairs(below, output_type="ndarray")
    first, second = pairs[:, 0], pairs[:, 1]
    step = xyz[first] - xyz[second]
    chord = np.sqrt(np.einsum("ij,ij->i", step, step))
    index = np.searchsorted(chords, chord, side="right") - 1
    inside = (index >= 0) & (index < bins) & (chord < below)
    first, second, index = first[inside], second[inside], index[inside]
    counts = 2.0 * np.bincount(index, minlength=bins).astype(np.float64)
    # Each component gathered once per end of the pairs, not once per product.
    stacked = np.vstack(components) if components else np.empty((0, len(xyz)))
    near, far = stacked[:, first], stacked[:, second]
    sums = [bin_sums(index, near[i] * far[j] + near[j] * far[i], bins) for i, j in products]
    return counts, sums


def bin_sums(index: npt.NDArray[np.intp], weights: FloatArray, bins: int) -> FloatArray:
    """The sums of *weights* in each of *bins* bins by *index*."""
    return np.bincount(index, weights=weights, minlength=bins).astype(np.float64)


def tangent_plane(xyz: FloatArray) -> FloatArray:
    """Gnomonic coordinates (arcmin) about the points' mean direction."""
    centre = xyz.mean(axis=0)
    centre /= np.linalg.norm(centre)
    # Two unit vectors orthogonal to the centre: east-like and north-like.
    pole = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(pole, centre)
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)
    depth = xyz @ centre
    plane: FloatArray = np.column_stack([xyz @ east, xyz @ north]) / depth[:, None]
    plane *= ARCMIN_PER_RADIAN
    return plane


def grid_sums(
    xyz: FloatArray,
    edges: FloatArray,
    components: list[FloatArray],
    products: list[tuple[int, int]],
    cells: int,
) -> tuple[FloatArray, list[FloatArray], float]:
    """Ordered pair counts and product sums per bin from a grid, for the separations of
    `EXACT_CELLS` cells and more, and that separation (arcmin).

    The stars are summed into *cells* x *cells* cells of side ``h`` over their extent on
    the tangent plane; the correlation of two gridded fields at every cell offset comes
    from FFTs (zero-padded so that no offset up to the largest separation wraps round);
    an offset counts at the distance of its cell centres, off by at most ``h sqrt(2)``.
    """
    bins = len(edges) - 1
    plane = tangent_plane(xyz)
    low = plane.min(axis=0)
    extent = float(np.max(plane.max(axis=0) - low))
    side = max(extent / cells, 1e-9)
    index = np.minimum(((plane - low) / side).astype(np.int64), cells - 1)
    reach = min(int(np.ceil(edges[-1] / side)), cells)
    size = sf.next_fast_len(cells + reach + 1, real=True)
    flat = index[:, 0] * size + index[:, 1]

    def gridded(values: FloatArray) -> npt.NDArray[np.complex128]:
        grid = np.bincount(flat, weights=values, minlength=size * size).reshape(size, size)
        transformed: npt.NDArray[np.complex128] = sf.rfft2(grid, workers=-1)
        return transformed

    offsets = np.arange(-reach, reach + 1)
    dx, dy = np.meshgrid(offsets, offsets, indexing="ij")
    distance = side * np.hypot(dx, dy)
    start = EXACT_CELLS * side
    bin_of = np.searchsorted(edges, distance, side="right") - 1
    use = (distance >= start) & (bin_of >= 0) & (bin_of < bins)
    rows, cols = dx[use] % size, dy[use] % size
    bin_used = bin_of[use]

    def binned(first: npt.NDArray[np.complex128], second: npt.NDArray[np.complex128]) -> FloatArray:
        # sum_x A(x) B(x + d) for every offset d: the inverse transform of conj(A) B.
        correlation = sf.irfft2(np.conj(first) * second, s=(size, size), workers=-1)
        return bin_sums(bin_used, correlation[rows, cols], bins)

    transforms = [gridded(values) for values in components]
    everywhere = gridded(np.ones(len(xyz)))
    counts = binned(everywhere, everywhere)
    sums = [binned(transforms[i], transforms[j]) for i, j in products]
    return np.rint(counts), sums, start

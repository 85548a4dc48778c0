"""What a blob's drill-down plot shows by default, from what its datums mean.

lsst.verify blobs written by validate_drp and faro name their datums by convention:
``MatchedMultiVisitDataset`` holds per-star ``mag``, ``magrms``, ``magerr``, ``snr`` and
``dist``; a ``PA1`` blob ``magMean`` and ``magDiff``; ``TE1``/``TE2`` ``radius`` and
``xip``; the astrometry blobs (``AM1``, ``AD1_design``...) ``rmsDistMas`` beside their
two-value ``magRange`` and ``annulus`` parameters. The default is the plot their own
authors drew (a scatter against magnitude or radius, or the distribution of the metric's
own quantity), and no plot at all when every array is a parameter (two values),
constant or not a number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .blob import BlobArray

__all__ = ["KNOWN_PAIRS", "MIN_POINTS", "X_NAMES", "choose_axes", "why_not_drawn"]

MIN_POINTS = 3
"""Arrays with fewer values are parameters of the blob (ranges, annulus radii), not data."""

KNOWN_PAIRS: tuple[tuple[str, str], ...] = (
    ("mag", "magrms"),
    ("magMean", "magDiff"),
    ("radius", "xip"),
    ("mag", "magerr"),
    ("mag", "dist"),
    ("snr", "dist"),
)
"""(x, y) datum pairs of lsst.verify blobs, in order of preference (validate_drp's plots)."""

X_NAMES: tuple[str, ...] = (
    "mag",
    "magMean",
    "radius",
    "snr",
    "magnitude",
    "mjd",
    "time",
    "visit",
)
"""Datum names of independent variables, drawn on the x axis, in order of preference."""


def why_not_drawn(array: BlobArray) -> str | None:
    """Why *array* is not worth a plot of its own (None when it is)."""
    values = array.values
    if len(values) < MIN_POINTS:
        return f"{len(values)} value{'s' if len(values) != 1 else ''}"
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return "no finite value"
    if float(np.min(finite)) == float(np.max(finite)):
        return "constant"
    return None


@lru_cache(maxsize=256)
def _equivalent(a: str, b: str) -> bool:
    if a == b:
        return True
    if not a or not b:
        return False
    from astropy import units as u

    try:
        return bool(u.Unit(a).is_equivalent(u.Unit(b)))
    except (ValueError, TypeError):
        return False


def _is_error(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(("err", "_err", "error", "_sigma"))


def choose_axes(
    arrays: Mapping[str, BlobArray], units: Collection[str] = ()
) -> tuple[str | None, str | None]:
    """The datums a blob's plot shows by default: (x, y), (name, None) or (None, None).

    Parameters
    ----------
    arrays
        The blob's numeric arrays (`vigil.plots.blob_arrays`).
    units
        The units of the metrics whose measurements refer to the blob: an array in one
        of them is the metric's own quantity.

    Returns
    -------
    tuple
        A known pair (`KNOWN_PAIRS`) when the blob has it; else an independent variable
        (`X_NAMES`) against the metric's own quantity, or the first other array of its
        length that is not an error column; else the distribution (histogram) of the
        metric's own quantity; else a scatter of two arrays of one length, or the
        histogram of the longest. Arrays that `why_not_drawn` refuses are never chosen:
        (None, None) when none is left.
    """
    usable = {n: a for n, a in arrays.items() if why_not_drawn(a) is None}
    if not usable:
        return None, None
    for x, y in KNOWN_PAIRS:
        if x in usable and y in usable and len(usable[x].values) == len(usable[y].values):
            return x, y
    own = [n for n, a in usable.items() if any(_equivalent(a.unit, unit) for unit in units)]
    by_length: dict[int, list[str]] = {}
    for name, array in usable.items():
        by_length.setdefault(len(array.values), []).append(name)
    for x in X_NAMES:
        if x not in usable:
            continue
        others = [n for n in by_length[len(usable[x].values)] if n != x]
        mine = [n for n in others if n in own and n not in X_NAMES]
        plain = [n for n in others if not _is_error(n)]
        if mine or plain:
            return x, (mine or plain)[0]
    if own:
        return max(own, key=lambda n: len(usable[n].values)), None
    groups = [names for names in by_length.values() if len(names) >= 2]
    if groups:
        names = max(groups, key=lambda n: len(usable[n[0]].values))
        return names[0], names[1]
    return max(usable, key=lambda n: len(usable[n].values)), None

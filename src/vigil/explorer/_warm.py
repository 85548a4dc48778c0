"""What the first clicks of the first session would otherwise wait for, done at start.

Datashader's aggregations are compiled by Numba the first time a process rasterises
(seconds, on the click that opens a large metric), and the outlines of every patch and
detector of a repository are read once per process (on the first drill to a patch or
the first toggle of the outlines). `warm` does both before ``vigil explore`` serves its
first page, so that no click pays for them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import holoviews as hv
import numpy as np
import pandas as pd

from vigil.compute.errors import ComputeError

from . import _outlines, _views

if TYPE_CHECKING:
    from .query import Repository

__all__ = ["warm"]

_log = logging.getLogger(__name__)

_ROWS = 64
"""Points of the plots drawn to compile the aggregations (any number compiles them)."""


def _compile_rasterising() -> None:
    """Draw the metric view's rasterised plots once, in the column types the
    repository's values have (Numba compiles one aggregation per type)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {name: rng.uniform(0.0, 1.0, _ROWS) for name in ("coord_ra", "coord_dec", "mag", "value")}
    )
    renderer = hv.renderer("bokeh")
    for pane in _views.metric_plots(frame, "warm-up", datashade_rows=0):
        renderer.get_plot(getattr(pane, "object", None))


def warm(repo: Repository | None = None) -> None:
    """Compile the rasterising and, with *repo*, read its outlines into the caches."""
    _compile_rasterising()
    if repo is None:
        return
    try:
        _outlines.patch_boxes(repo)
        _outlines.detector_boxes(repo)
    except ComputeError as exc:  # the app says so where the outlines are drawn
        _log.info("outlines not read ahead: %s", exc)

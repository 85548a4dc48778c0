"""The default axes of a blob's plot, from lsst.verify datum names and units."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bokeh.models import ColumnDataSource
from bokeh.models.annotations import Title

from vigil.plots.blob import (
    MAX_SCATTER_POINTS,
    blob_arrays,
    blob_plot,
    clean_label,
    default_axes,
    scatter_step,
    why_not_drawn,
)


def datum(value: Any, unit: str = "") -> dict[str, Any]:
    return {"value": value, "unit": unit}


def axes(data: dict[str, Any], units: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    return default_axes(blob_arrays(data), units)


def test_known_lsst_verify_pairs_come_first() -> None:
    stars = np.linspace(17, 24, 10).tolist()
    matched = {
        "snr": datum(stars),
        "mag": datum(stars, "mag"),
        "magrms": datum(stars, "mag"),
        "magerr": datum(stars, "mag"),
        "dist": datum(stars, "marcsec"),
    }
    assert axes(matched) == ("mag", "magrms")
    assert axes({"xip": datum(stars), "radius": datum(stars, "arcmin")}) == ("radius", "xip")


def test_parameters_are_never_the_default() -> None:
    astrometry = {
        "D": datum(5.0, "arcmin"),
        "magRange": datum([17.5, 21.5], "mag"),
        "annulus": datum([4.0, 6.0], "arcmin"),
        "rmsDistMas": datum(list(np.linspace(5, 30, 50)), "marcsec"),
    }
    # The metric's own quantity (marcsec, equivalent to mas): its distribution.
    assert axes(astrometry, ("mas",)) == ("rmsDistMas", None)
    assert axes({**astrometry, "rmsDistMas": datum(None)}) == (None, None)
    arrays = blob_arrays(astrometry)
    assert why_not_drawn(arrays["annulus"]) == "2 values"
    assert why_not_drawn(arrays["rmsDistMas"]) is None


def test_constant_and_nan_only_arrays_are_not_drawn() -> None:
    data = {"flat": datum([1.0] * 5), "nan": datum([None] * 5)}
    arrays = blob_arrays(data)
    assert why_not_drawn(arrays["flat"]) == "constant"
    assert why_not_drawn(arrays["nan"]) == "no finite value"
    assert axes(data) == (None, None)


def test_x_names_pair_with_the_metrics_quantity_then_a_non_error_column() -> None:
    values = list(np.linspace(0, 1, 8))
    data = {"mag": datum(values, "mag"), "err": datum(values), "offset": datum(values, "mas")}
    assert axes(data) == ("mag", "offset")
    assert axes(data, ("marcsec",)) == ("mag", "offset")
    plain = {"a": datum(values), "b": datum(values)}
    assert axes(plain) == ("a", "b")


def test_tables_of_samples_are_drawn_by_their_first_row() -> None:
    rows = [list(np.linspace(0, 1, 6) + i) for i in range(4)]
    arrays = blob_arrays({"magMean": datum(rows, "mag"), "magDiff": datum(rows, "mmag")})
    assert arrays["magMean"].rows == 4 and len(arrays["magMean"].values) == 6
    assert arrays["magMean"].title == "magMean (row 1 of 4) [mag]"
    ragged = blob_arrays({"r": datum([[1.0, 2.0], [3.0]]), "s": datum(["a", "b", "c"])})
    assert ragged == {}


def test_huge_scatters_are_thinned() -> None:
    n = 3 * MAX_SCATTER_POINTS + 1
    assert scatter_step(n) == 4 and scatter_step(MAX_SCATTER_POINTS) == 1
    values = np.arange(n, dtype=float).tolist()
    fig = blob_plot({"mag": datum(values, "mag"), "magrms": datum(values, "mag")})
    source = fig.select_one({"name": "blob"})
    assert isinstance(source, ColumnDataSource) and isinstance(fig.title, Title)
    assert len(source.data["x"]) == len(range(0, n, 4))
    assert "one point in 4 of" in str(fig.title.text)


@pytest.mark.parametrize(
    ("label", "clean"),
    [
        ("RMS(r\nFilter name)", "RMS(r)"),
        ("r\nFilter name", "r"),
        ("SNR(r\nFilter name)", "SNR(r)"),
        ("d", "d"),
        (None, ""),
    ],
)
def test_validate_drp_labels_with_a_datum_inside_are_cleaned(label: str | None, clean: str) -> None:
    assert clean_label(label) == clean

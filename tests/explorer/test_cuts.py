"""Live cuts on synthetic frames whose kept rows are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.compute.quantities import NJY_ZERO_POINT
from vigil.explorer._cuts import Cuts


def flux_of(mag: float) -> float:
    """The flux in nJy of an AB magnitude."""
    return float(10 ** ((NJY_ZERO_POINT - mag) / 2.5))


def objects() -> pd.DataFrame:
    """Six coadd objects, i band: S/N 1, 5, 10, 50, NaN (no error), inf (zero error);
    magnitudes 17 to 22; extendedness 0, 1, NaN, 0, 1, 0."""
    mags = [17.0, 18.0, 19.0, 20.0, 21.0, 22.0]
    flux = [flux_of(m) for m in mags]
    snr = [1.0, 5.0, 10.0, 50.0]
    error = [f / s for f, s in zip(flux, snr, strict=False)] + [np.nan, 0.0]
    return pd.DataFrame(
        {
            "objectId": np.arange(6, dtype="int64") + 2**60,
            "mag": mags,
            "value": np.linspace(0.0, 1.0, 6),
            "i_psfFlux": flux,
            "i_psfFluxErr": error,
            "i_extendedness": [0.0, 1.0, np.nan, 0.0, 1.0, 0.0],
        }
    )


def test_no_cuts_keep_every_row_and_say_so() -> None:
    frame = objects()
    kept = Cuts().apply(frame, "objects", "i")
    assert len(kept) == 6
    assert kept.attrs == {"cuts": "no cuts", "before": 6, "not_applied": []}
    assert not Cuts().active
    assert Cuts().columns("objects", "i") == []


def test_snr_minimum_cuts_low_and_undefined_signal_to_noise() -> None:
    kept = Cuts(snr_min=10).apply(objects(), "objects", "i")
    # S/N 10 (the edge, kept) and 50; NaN and a zero error's inf are not numbers.
    assert kept["mag"].tolist() == [19.0, 20.0]
    assert kept.attrs["before"] == 6
    assert Cuts(snr_min=10).columns("objects", "i") == ["i_psfFlux", "i_psfFluxErr"]


def test_magnitude_range_includes_both_ends() -> None:
    kept = Cuts(mag_min=18, mag_max=20).apply(objects(), "objects", "i")
    assert kept["mag"].tolist() == pytest.approx([18.0, 19.0, 20.0])
    assert Cuts(mag_max=17.5).apply(objects(), "objects", "i")["mag"].tolist() == [17.0]
    assert len(Cuts(mag_min=22.5).apply(objects(), "objects", "i")) == 0


def test_magnitude_from_mag_when_no_flux_column() -> None:
    frame = objects().drop(columns=["i_psfFlux"])
    frame.loc[2, "mag"] = np.nan
    kept = Cuts(mag_min=18).apply(frame, "objects", "i")
    assert kept["mag"].tolist() == [18.0, 20.0, 21.0, 22.0]  # NaN magnitude cut
    assert kept.attrs["not_applied"] == []


def test_stars_and_galaxies_leave_out_nan_extendedness() -> None:
    stars = Cuts(extendedness="stars").apply(objects(), "objects", "i")
    galaxies = Cuts(extendedness="galaxies").apply(objects(), "objects", "i")
    assert stars["mag"].tolist() == [17.0, 20.0, 22.0]
    assert galaxies["mag"].tolist() == [18.0, 21.0]
    assert len(stars) + len(galaxies) == 5  # the NaN row is neither


def test_cuts_combine() -> None:
    kept = Cuts(snr_min=5, mag_max=21, extendedness="stars").apply(objects(), "objects", "i")
    assert kept["mag"].tolist() == [20.0]
    assert kept["objectId"].tolist() == [3 + 2**60]  # ids kept exactly


def test_missing_column_is_reported_not_silently_ignored() -> None:
    frame = objects().drop(columns=["i_extendedness", "i_psfFluxErr"])
    kept = Cuts(snr_min=5, extendedness="stars").apply(frame, "objects", "i")
    assert len(kept) == 6
    assert kept.attrs["not_applied"] == [
        "no i_psfFluxErr column: S/N cut not applied",
        "no i_extendedness column: stars cut not applied",
    ]


def test_band_chooses_the_columns_of_the_objects_table() -> None:
    frame = objects().rename(columns=lambda c: c.replace("i_", "g_"))
    assert len(Cuts(extendedness="stars", band="g").apply(frame, "objects", "i")) == 3
    reported = Cuts(extendedness="stars").apply(frame, "objects", "i").attrs["not_applied"]
    assert reported == ["no i_extendedness column: stars cut not applied"]
    assert Cuts(extendedness="stars", band="g").columns("objects", "i") == ["g_extendedness"]


def test_a_multi_band_metric_needs_a_band() -> None:
    kept = Cuts(snr_min=5).apply(objects(), "objects", None)
    assert len(kept) == 6
    assert kept.attrs["not_applied"] == [
        "no band to read fluxes and extendedness from: cuts not applied"
    ]


def test_sources_table_has_unprefixed_columns_and_a_band_per_row() -> None:
    frame = objects().rename(columns=lambda c: c.removeprefix("i_"))
    frame["band"] = ["g", "i", "i", "i", "r", "i"]
    assert Cuts(snr_min=5).columns("sources", "i") == ["psfFlux", "psfFluxErr"]
    assert Cuts(snr_min=5).apply(frame, "sources", "i")["mag"].tolist() == [18.0, 19.0, 20.0]
    in_i = Cuts(band="i").apply(frame, "sources", None)
    assert in_i["mag"].tolist() == [18.0, 19.0, 20.0, 22.0]
    no_band = Cuts(band="i").apply(frame.drop(columns=["band"]), "sources", None)
    assert len(no_band) == 6
    assert no_band.attrs["not_applied"] == ["no band column: band cut not applied"]


def test_edges_empty_one_row_constant_and_huge_values() -> None:
    empty = objects().iloc[:0]
    kept = Cuts(snr_min=5, mag_min=18, extendedness="galaxies").apply(empty, "objects", "i")
    assert len(kept) == 0 and kept.attrs["before"] == 0
    one = objects().iloc[[3]]
    assert len(Cuts(snr_min=50).apply(one, "objects", "i")) == 1
    constant = pd.concat([one] * 4, ignore_index=True)
    assert len(Cuts(snr_min=50.0001).apply(constant, "objects", "i")) == 0
    huge = objects().assign(i_psfFlux=1e200, i_psfFluxErr=1e-100)  # S/N 1e300
    assert len(Cuts(snr_min=1e30).apply(huge, "objects", "i")) == 6
    overflow = objects().assign(i_psfFlux=1e300, i_psfFluxErr=1e-300)  # S/N overflows
    assert len(Cuts(snr_min=1e30).apply(overflow, "objects", "i")) == 0
    tiny = objects().assign(i_psfFlux=1e-300)  # magnitude about 780
    assert len(Cuts(mag_max=30).apply(tiny, "objects", "i")) == 0


def test_describe_names_every_active_cut() -> None:
    cuts = Cuts(snr_min=10, mag_min=18, mag_max=22.5, extendedness="stars", band="i")
    assert cuts.describe() == "S/N ≥ 10, 18 ≤ mag ≤ 22.5, stars, band i"
    assert cuts.active
    assert Cuts(mag_max=23).describe() == "mag ≤ 23"
    assert Cuts(mag_min=17).describe() == "mag ≥ 17"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"extendedness": "planets"}, "extendedness cut 'planets' is not one of"),
        ({"mag_min": 22, "mag_max": 18}, "the lower end is above the upper one"),
        ({"snr_min": float("nan")}, "cut snr_min must be a finite number"),
    ],
)
def test_invalid_cuts_are_refused_with_what_is_wrong(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Cuts(**options)  # type: ignore[arg-type]

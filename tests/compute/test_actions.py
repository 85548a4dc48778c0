"""Actions: the SQL and NumPy forms agree, and each declares exactly what it reads."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pytest

from vigil.compute import (
    Aggregator,
    Color,
    Count,
    FlagSelector,
    GalaxySelector,
    MagDiff,
    Magnitude,
    MagRange,
    Mean,
    Median,
    OutlierFraction,
    Percentile,
    PsfSizeResidual,
    Quantity,
    Selector,
    SigmaMAD,
    SignalToNoise,
    SNRange,
    StarSelector,
    aggregator_from_name,
    flux_to_mag,
    mag_to_flux,
)
from vigil.compute.plan import quote

rng = np.random.default_rng(1)
N = 500


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """An object table in band i with nulls, NaN, negative fluxes and flags."""
    flux = mag_to_flux(rng.uniform(17, 26, N))
    data = {
        "i_psfFlux": flux * rng.normal(1, 0.05, N),
        "i_psfFluxErr": flux * 0.01 + 20,
        "i_cModelFlux": flux * rng.normal(1, 0.05, N),
        "i_extendedness": rng.choice([0.0, 1.0, np.nan], N),
        "i_ixx": rng.uniform(2, 4, N),
        "i_iyy": rng.uniform(2, 4, N),
        "i_ixy": rng.normal(0, 0.1, N),
        "i_ixxPSF": rng.uniform(2, 3, N),
        "i_iyyPSF": rng.uniform(2, 3, N),
        "i_ixyPSF": rng.normal(0, 0.05, N),
        "g_psfFlux": flux * 2,
        "i_psfFlux_flag": rng.random(N) < 0.1,
        "i_pixelFlags_edge": pd.array(
            rng.choice(np.array([True, False, None], dtype=object), N, p=[0.1, 0.8, 0.1]),
            dtype="boolean",
        ),
    }
    out = pd.DataFrame(data)
    out.loc[::37, "i_psfFlux"] = -5.0
    out.loc[::41, "i_cModelFlux"] = np.nan
    return out


def _sql_values(frame: pd.DataFrame, expression: str) -> np.ndarray:
    con = duckdb.connect()
    con.register("t", frame)
    values = con.execute(f"SELECT {expression} AS v FROM t").df()["v"]
    found: np.ndarray = values.to_numpy(dtype=float, na_value=np.nan)
    return found


def _get(frame: pd.DataFrame) -> Callable[[str], np.ndarray]:
    def get(name: str) -> np.ndarray:
        column = frame[name]
        if str(column.dtype) == "boolean":
            found: np.ndarray = column.to_numpy(dtype=object, na_value=None)
        else:
            found = column.to_numpy()
        return found

    return get


@pytest.mark.parametrize(
    "quantity",
    [
        Magnitude(),
        MagDiff(),
        MagDiff(unit="mag"),
        PsfSizeResidual(),
        SignalToNoise(),
        Color("g", "i"),
    ],
)
def test_quantity_sql_equals_numpy(frame: pd.DataFrame, quantity: Quantity) -> None:
    sql = _sql_values(frame, quantity.sql(quote, "i"))
    numpy = quantity.evaluate(_get(frame), "i")
    assert np.array_equal(np.isfinite(sql), np.isfinite(numpy))
    finite = np.isfinite(numpy)
    assert finite.sum() > N / 2
    np.testing.assert_allclose(sql[finite], numpy[finite], rtol=1e-9)


@pytest.mark.parametrize(
    "selector",
    [
        StarSelector(),
        GalaxySelector(),
        SNRange(low=50.0),
        SNRange(low=10.0, high=100.0),
        MagRange(low=18.0, high=22.0),
        FlagSelector(flags=("{band}_psfFlux_flag", "{band}_pixelFlags_edge")),
    ],
)
def test_selector_sql_equals_numpy(frame: pd.DataFrame, selector: Selector) -> None:
    sql = _sql_values(frame, f"CASE WHEN {selector.sql(quote, 'i')} THEN 1 ELSE 0 END") == 1
    numpy = selector.mask(_get(frame), "i")
    assert 0 < numpy.sum() < N
    assert np.array_equal(sql, numpy)


def test_selectors_reject_nan_and_null(frame: pd.DataFrame) -> None:
    nan = np.isnan(frame["i_extendedness"].to_numpy())
    get = _get(frame)
    assert not (StarSelector().mask(get, "i") & nan).any()
    assert not (GalaxySelector().mask(get, "i") & nan).any()
    null_edge = frame["i_pixelFlags_edge"].isna().to_numpy()
    assert not (FlagSelector(flags=("{band}_pixelFlags_edge",)).mask(get, "i") & null_edge).any()


@pytest.mark.parametrize(
    "aggregator",
    [Median(), Mean(), SigmaMAD(), Percentile(5), Percentile(95), Count(), OutlierFraction(1.0)],
)
def test_aggregator_sql_equals_numpy(aggregator: Aggregator) -> None:
    values = rng.normal(0.3, 1.0, 1001)
    con = duckdb.connect()
    con.register("t", pd.DataFrame({"v": values}))
    row = con.execute(f"SELECT {aggregator.sql('v')} FROM t").fetchone()
    assert row is not None
    (sql,) = row
    assert float(sql) == pytest.approx(aggregator.reduce(values), rel=1e-12)


def test_sigma_mad_of_a_gaussian_is_its_sigma() -> None:
    values = np.random.default_rng(3).normal(5.0, 2.0, 200_000)
    assert SigmaMAD().reduce(values) == pytest.approx(2.0, rel=0.01)


def test_aggregators_by_name() -> None:
    assert aggregator_from_name("p95") == Percentile(95)
    assert aggregator_from_name("sigma_mad") == SigmaMAD()
    outliers = aggregator_from_name("outlier_fraction", outlier_threshold=3)
    assert isinstance(outliers, OutlierFraction) and outliers.threshold == 3
    with pytest.raises(ValueError, match="unknown aggregator 'mode'"):
        aggregator_from_name("mode")
    with pytest.raises(ValueError, match="between 0 and 100"):
        Percentile(120)


def test_columns_are_templated_over_bands() -> None:
    assert MagDiff().columns("r") == {"r_psfFlux", "r_cModelFlux"}
    assert PsfSizeResidual().columns("z") == {
        "z_ixx",
        "z_iyy",
        "z_ixy",
        "z_ixxPSF",
        "z_iyyPSF",
        "z_ixyPSF",
    }
    assert SNRange(low=5).columns("g") == {"g_psfFlux", "g_psfFluxErr"}
    assert Color("g", "r").columns("i") == {"g_psfFlux", "r_psfFlux"}
    with pytest.raises(ValueError, match="templated over bands"):
        MagDiff().columns(None)


def test_magnitudes_use_the_njy_zero_point() -> None:
    assert flux_to_mag(np.array([1.0, 3630.78e6 / 1e0]))[0] == pytest.approx(31.4)
    assert flux_to_mag(mag_to_flux(np.array([20.0])))[0] == pytest.approx(20.0)
    assert np.isnan(flux_to_mag(np.array([0.0, -1.0]))).all()

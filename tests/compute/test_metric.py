"""Metric definitions: composition, band templating, granularity rules, the registry."""

from __future__ import annotations

import pytest

from vigil.compute import (
    STANDARD_METRICS,
    AcceptableRange,
    GranularityError,
    MagDiff,
    Median,
    MetricDefinition,
    MetricRegistry,
    SNRange,
    StarSelector,
    StellarLocusWidth,
    UnknownMetricError,
    check_group_keys,
    default_registry,
)


def test_template_binds_one_metric_per_band() -> None:
    definition = MetricDefinition(
        name="psf_cmodel_{band}_x", description="d", quantity=MagDiff(), selectors=(StarSelector(),)
    )
    assert definition.templated
    assert definition.match("psf_cmodel_r_x") == "r"
    assert definition.match("psf_cmodel_x") is False
    bound = definition.bind("r")
    assert bound.name == "psf_cmodel_r_x"
    assert bound.columns() == {"r_psfFlux", "r_cModelFlux", "r_extendedness"}
    assert bound.selection() == ["r_extendedness < 0.5"]
    with pytest.raises(ValueError, match="give a band"):
        definition.bind(None)


def test_metric_columns_are_the_union_of_its_actions() -> None:
    bound = default_registry().resolve("psf_cmodel_mag_diff_i")
    assert bound.columns() == {
        "i_psfFlux",
        "i_cModelFlux",
        "i_extendedness",
        "i_psfFluxErr",
        "i_psfFlux_flag",
        "i_cModel_flag",
        "i_pixelFlags_saturated",
        "i_pixelFlags_edge",
        "detect_isPrimary",
    }


def test_a_fit_must_declare_its_granularity() -> None:
    with pytest.raises(ValueError, match="declare its max_granularity"):
        MetricDefinition(name="w", description="d", reducer=StellarLocusWidth())
    with pytest.raises(ValueError, match="either a quantity or a reducer"):
        MetricDefinition(name="w", description="d")
    with pytest.raises(GranularityError, match="not a level of the objects table"):
        MetricDefinition(
            name="w", description="d", reducer=StellarLocusWidth(), max_granularity="visit"
        )


@pytest.mark.parametrize(
    ("table", "granularity", "by"),
    [
        ("objects", "source", ["tract", "patch"]),
        ("objects", "source", ["band"]),
        ("objects", "patch", ["tract", "patch"]),
        ("objects", "patch", ["tract"]),
        ("objects", "patch", []),
        ("objects", "tract", ["tract", "band"]),
        ("sources", "source", ["visit", "detector"]),
        ("sources", "source", ["tract"]),
        ("sources", "visit", ["visit"]),
        ("sources", "detector", ["visit", "detector"]),
    ],
)
def test_allowed_groupings(table: str, granularity: str, by: list[str]) -> None:
    assert check_group_keys("m", table, granularity, by) == tuple(by)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "granularity", "by", "message"),
    [
        ("objects", "tract", ["tract", "patch"], "per tract at the finest"),
        ("objects", "dataset", ["tract"], "per dataset at the finest"),
        ("sources", "visit", ["visit", "detector"], "per visit at the finest"),
        ("objects", "source", ["visit"], "objects table: group it by tract, patch, band"),
        ("objects", "source", ["patch"], "patch numbers repeat"),
        ("sources", "visit", ["tract"], "cannot be grouped by tract"),
        ("objects", "source", ["tract", "tract"], "repeat"),
    ],
)
def test_forbidden_groupings(table: str, granularity: str, by: list[str], message: str) -> None:
    with pytest.raises(GranularityError, match=message):
        check_group_keys("m", table, granularity, by)  # type: ignore[arg-type]


def test_registry_resolves_and_expands() -> None:
    registry = default_registry()
    assert [m.name for m in registry.expand("psf_size_residual_{band}", ["g", "r"])] == [
        "psf_size_residual_g",
        "psf_size_residual_r",
    ]
    assert registry.resolve("stellar_locus_width").max_granularity == "patch"
    assert registry.resolve("visit_psf_size_residual_z").table == "sources"
    with pytest.raises(UnknownMetricError, match="did you mean psf_size_residual_"):
        registry.resolve("psf_size_residul_{band}")
    with pytest.raises(ValueError, match="already registered"):
        MetricRegistry([*STANDARD_METRICS, STANDARD_METRICS[0]])


def test_custom_metrics_compose() -> None:
    custom = MetricDefinition(
        name="bright_star_mag_diff_{band}",
        description="d",
        quantity=MagDiff(unit="mag"),
        selectors=(StarSelector(), SNRange(low=100)),
        aggregator=Median(),
        acceptable=AcceptableRange(max=0.01),
        bands=("i",),
    )
    registry = MetricRegistry([custom])
    assert [m.name for m in registry.instances(["g", "i"])] == ["bright_star_mag_diff_i"]
    assert registry.resolve("bright_star_mag_diff_i").unit == "mag"
    with pytest.raises(UnknownMetricError):
        registry.resolve("bright_star_mag_diff_g")


def test_acceptable_range() -> None:
    assert AcceptableRange(-1, 1).contains(0.5) is True
    assert AcceptableRange(max=1).contains(2) is False
    assert AcceptableRange(min=0).contains(float("nan")) is None
    with pytest.raises(ValueError, match="above max"):
        AcceptableRange(2, 1)


def test_coadd_metrics_keep_primary_detections_unless_told_otherwise() -> None:
    import numpy as np

    from vigil.compute.registry import standard_metrics
    from vigil.compute.selectors import PrimarySelector

    registry = default_registry()
    for name in ("psf_cmodel_mag_diff_i", "psf_size_residual_i", "psf_snr_i", "star_count_i"):
        bound = registry.resolve(name)
        assert "detect_isPrimary" in bound.columns(), name
        assert bound.selection()[0] == "detect_isPrimary"
        assert '("detect_isPrimary" = true)' in bound.where_sql(lambda c: f'"{c}"')
    visit = registry.resolve("visit_psf_size_residual_i")
    assert "detect_isPrimary" not in visit.columns()  # one row per source already
    everything = MetricRegistry(standard_metrics(primary_only=False))
    assert "detect_isPrimary" not in everything.resolve("psf_snr_i").columns()
    assert (
        "detect_isPrimary"
        not in default_registry(primary_only=False).resolve("psf_snr_i").columns()
    )
    flags = np.array([True, False, None, True], dtype=object)
    assert PrimarySelector().mask(lambda _: flags, None).tolist() == [True, False, False, True]

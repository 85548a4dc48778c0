"""The standard metrics, and the registry that turns metric names into concrete metrics.

================================  ========  ===========================================
metric                            table     what
================================  ========  ===========================================
``psf_cmodel_mag_diff_{band}``    objects   PSF - CModel magnitude of bright stars (mmag)
``psf_size_residual_{band}``      objects   star size vs PSF model size (%)
``psf_snr_{band}``                objects   PSF-flux S/N of every unflagged object
``star_count_{band}``             objects   number of stars with S/N >= 10
``stellar_locus_width``           objects   (g-r, r-i) stellar locus width (mmag), per patch
``visit_psf_cmodel_mag_diff_…``   sources   as above, on the visit tables
``visit_psf_size_residual_…``     sources   as above, on the visit tables
================================  ========  ===========================================

The per-band coadd metrics count primary detections only (``detect_isPrimary``, the
one row of each object that counts: patch overlaps and deblended parents left out),
unless a registry is made with ``primary_only=False`` (`standard_metrics`,
`default_registry`). The stellar-locus fit keeps primary rows too when the table has
``detect_isPrimary``, and every row of a table without it (a multi-band star catalogue
such as faro's); ``vigil compute`` notes that in the metric's selection.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from vigil.compute.actions import Selector
from vigil.compute.aggregators import Count, Median
from vigil.compute.errors import UnknownMetricError
from vigil.compute.fits import StellarLocusWidth
from vigil.compute.granularity import Table
from vigil.compute.metric import AcceptableRange, BoundMetric, MetricDefinition
from vigil.compute.quantities import MagDiff, Magnitude, PsfSizeResidual, SignalToNoise
from vigil.compute.selectors import (
    FlagSelector,
    MagRange,
    PrimarySelector,
    SNRange,
    StarSelector,
)

__all__ = ["STANDARD_METRICS", "MetricRegistry", "default_registry", "standard_metrics"]

_BRIGHT_STARS = (
    StarSelector(),
    SNRange(low=50.0),
    FlagSelector(
        flags=(
            "{band}_psfFlux_flag",
            "{band}_cModel_flag",
            "{band}_pixelFlags_saturated",
            "{band}_pixelFlags_edge",
        )
    ),
)
_PSF_STARS = (
    StarSelector(),
    SNRange(low=50.0),
    FlagSelector(
        flags=("{band}_psfFlux_flag", "{band}_pixelFlags_saturated", "{band}_pixelFlags_edge")
    ),
)


def _psf_metric(
    name: str, table: Table, where: str, size: bool, primary: tuple[Selector, ...] = ()
) -> MetricDefinition:
    """A PSF-model metric of bright stars: PSF - CModel magnitude, or size residual
    (with the *primary* selection in front of the stars')."""
    if size:
        description = (
            f"Size of bright unflagged stars relative to the PSF model's ({where}),"
            " from the determinant radius of the second moments."
        )
        return MetricDefinition(
            name=name,
            description=description,
            quantity=PsfSizeResidual(),
            selectors=(*primary, *_PSF_STARS),
            table=table,
            acceptable=AcceptableRange(-1.5, 1.5),
            outlier_threshold=5.0,
        )
    return MetricDefinition(
        name=name,
        description=f"PSF minus CModel magnitude of bright unflagged stars ({where}); zero"
        " when the PSF model is right.",
        quantity=MagDiff(),
        selectors=(*primary, *_BRIGHT_STARS),
        table=table,
        acceptable=AcceptableRange(-15.0, 15.0),
        outlier_threshold=50.0,
    )


def standard_metrics(primary_only: bool = True) -> tuple[MetricDefinition, ...]:
    """The metrics Vigil computes unless told otherwise.

    Parameters
    ----------
    primary_only
        Whether the per-band coadd metrics keep primary detections only (their
        selection starts with ``detect_isPrimary``, a column the object table must
        have). False counts every row of the table.
    """
    primary: tuple[Selector, ...] = (PrimarySelector(),) if primary_only else ()
    return (
        _psf_metric("psf_cmodel_mag_diff_{band}", "objects", "coadd", False, primary),
        _psf_metric("psf_size_residual_{band}", "objects", "coadd", True, primary),
        MetricDefinition(
            name="psf_snr_{band}",
            description="Signal-to-noise ratio of the PSF flux of every unflagged object.",
            quantity=SignalToNoise(),
            selectors=(*primary, FlagSelector(flags=("{band}_psfFlux_flag",))),
            aggregator=Median(),
        ),
        MetricDefinition(
            name="star_count_{band}",
            description="Number of unflagged stars detected at S/N >= 10.",
            quantity=Magnitude(),
            unit="",
            selectors=(*primary, StarSelector(), SNRange(low=10.0), FlagSelector()),
            aggregator=Count(),
        ),
        _stellar_locus(primary_only),
        *_COMMON_METRICS,
    )


def _stellar_locus(primary_only: bool) -> MetricDefinition:
    """The stellar-locus fit; with *primary_only*, of primary rows where the table says
    which rows are primary (a multi-band star catalogue may not: every row counts)."""
    primary = (PrimarySelector(optional=True),) if primary_only else ()
    return MetricDefinition(
        name="stellar_locus_width",
        description="Width of the (g-r, r-i) stellar locus of stars with 17 <= r <= 23,"
        " perpendicular to its principal axis.",
        reducer=StellarLocusWidth(),
        selectors=(
            *primary,
            StarSelector(column="i_extendedness"),
            MagRange(low=17.0, high=23.0, flux="r_psfFlux"),
        ),
        max_granularity="patch",
        acceptable=AcceptableRange(max=60.0),
    )


_COMMON_METRICS: tuple[MetricDefinition, ...] = (
    _psf_metric("visit_psf_cmodel_mag_diff_{band}", "sources", "single visits", size=False),
    _psf_metric("visit_psf_size_residual_{band}", "sources", "single visits", size=True),
)
"""The standard metrics whose selection does not depend on ``primary_only``: the visit
metrics (a visit table has one row per source)."""

STANDARD_METRICS: tuple[MetricDefinition, ...] = standard_metrics()
"""The metrics Vigil computes unless told otherwise (primary detections only)."""


class MetricRegistry:
    """Metric definitions by name, and their concrete instances by concrete name.

    Parameters
    ----------
    definitions
        The definitions to start with (default: `STANDARD_METRICS`).
    """

    def __init__(self, definitions: Iterable[MetricDefinition] = STANDARD_METRICS) -> None:
        self._definitions: dict[str, MetricDefinition] = {}
        for definition in definitions:
            self.register(definition)

    def register(self, definition: MetricDefinition) -> None:
        """Add *definition*.

        Raises
        ------
        ValueError
            When a definition of that name exists.
        """
        if definition.name in self._definitions:
            raise ValueError(f"metric {definition.name!r} is already registered")
        self._definitions[definition.name] = definition

    def definitions(self) -> list[MetricDefinition]:
        """Every definition, in registration order."""
        return list(self._definitions.values())

    def get(self, name: str) -> MetricDefinition:
        """The definition called *name* (a template keeps its ``{band}``)."""
        try:
            return self._definitions[name]
        except KeyError:
            raise self._unknown(name) from None

    def resolve(self, name: str) -> BoundMetric:
        """The concrete metric called *name* (``psf_size_residual_i``).

        Raises
        ------
        UnknownMetricError
            When no definition matches.
        """
        for definition in self._definitions.values():
            band = definition.match(name)
            if band is not False:
                return definition.bind(band if isinstance(band, str) else None)
        raise self._unknown(name)

    def expand(self, name: str, bands: Sequence[str]) -> list[BoundMetric]:
        """The concrete metrics that *name* stands for in a repository with *bands*.

        A template (``psf_size_residual_{band}``) stands for one metric per band it
        applies to; a concrete name for itself.
        """
        if name in self._definitions and self._definitions[name].templated:
            definition = self._definitions[name]
            return [definition.bind(b) for b in bands if _applies(definition, b)]
        return [self.resolve(name)]

    def instances(self, bands: Sequence[str]) -> list[BoundMetric]:
        """Every concrete metric for a repository with *bands*."""
        out: list[BoundMetric] = []
        for definition in self._definitions.values():
            if definition.templated:
                out.extend(definition.bind(b) for b in bands if _applies(definition, b))
            else:
                out.append(definition.bind(None))
        return out

    def _unknown(self, name: str) -> UnknownMetricError:
        known = [d.name for d in self._definitions.values()]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        return UnknownMetricError(f"unknown metric {name!r}{hint}")


def _applies(definition: MetricDefinition, band: str) -> bool:
    return definition.bands is None or band in definition.bands


def default_registry(primary_only: bool = True) -> MetricRegistry:
    """A registry of the standard metrics and of those that installed plugins add
    (``vigil.metrics`` entry points, `vigil.plugins`).

    Parameters
    ----------
    primary_only
        Whether the per-band coadd metrics keep primary detections only
        (`standard_metrics`).
    """
    from vigil.plugins import load_plugins

    return MetricRegistry([*standard_metrics(primary_only), *load_plugins().metrics])

"""The explorer's "PSF & repeatability" tab: PA1, AM1, PSF residuals and rho statistics.

For one band (the current metric's, or chosen in the tab) a button computes, from the
visit sources, PA1 and AM1 (`vigil.compute.repeatability`) and the PSF residual report
(`vigil.compute.psf`); the answers are kept per band for the life of the tab, so that
going back to a band shows them at once. Each part that cannot be computed (one visit
per object, no star, missing columns) says why in its place, and the others still show.

Titles and Markdown carry repository strings (bands, messages) through `plain`; Bokeh
titles and hover values are text, never HTML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import holoviews as hv
import numpy as np
import panel as pn

from vigil.compute.errors import ComputeError
from vigil.compute.psf import PsfReport, psf_report
from vigil.compute.psf_stats import RHO_NAMES
from vigil.compute.repeatability import RepeatabilityResult, am1, pa1

from ._metrics import MetricInfo
from ._panel import button, holoviews_pane, markdown, plain
from .query import Repository

__all__ = ["PsfResults", "PsfView", "compute_results", "psf_tab", "rho_plot", "whisker_map"]

# Select's constructor takes unannotated **params (see `._panel`).
_select = cast("Callable[..., pn.widgets.Select]", pn.widgets.Select)

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
"""A colour per rho (Category10), its points and error bars alike."""

TAB_NAME = "PSF & repeatability"
"""The tab's title."""


class _ExplorerLike(Protocol):
    """What the tab reads of the explorer: its repository and current metric."""

    repo: Repository
    infos: dict[str, MetricInfo]

    @property
    def metric(self) -> Any: ...


@dataclass(frozen=True)
class PsfResults:
    """The answers of one band: each a result, or the reason it could not be computed."""

    band: str
    pa1: RepeatabilityResult | str
    am1: RepeatabilityResult | str
    psf: PsfReport | str


def _attempt(compute: Callable[[], Any]) -> Any:
    """``compute()``, or the message of the `ComputeError` it raised."""
    try:
        return compute()
    except ComputeError as exc:
        return exc.message


def compute_results(repo: Repository, band: str) -> PsfResults:
    """PA1, AM1 and the PSF report of *band* in *repo*, each or its failure."""
    return PsfResults(
        band=band,
        pa1=_attempt(lambda: pa1(repo, band)),
        am1=_attempt(lambda: am1(repo, band)),
        psf=_attempt(lambda: psf_report(repo, band)),
    )


def _sign_label(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def rho_plot(report: PsfReport) -> hv.Overlay:
    """rho1-rho5 against separation (log x) with their errors, titled with what they
    used. Each rho is shifted a little in x so that the error bars do not overlap."""
    rho = report.rho
    layers: list[Any] = []
    for index, name in enumerate(RHO_NAMES):
        theta = rho.theta * 1.04 ** (index - 2)
        keep = np.isfinite(rho.rho[name])
        points = (theta[keep], rho.rho[name][keep], rho.sigma[name][keep])
        colour = _COLOURS[index]
        layers.append(
            hv.ErrorBars(points, "theta", ["rho", "sigma"], label=name).opts(color=colour)
        )
        layers.append(
            hv.Scatter(points[:2], "theta", "rho", label=name).opts(
                color=colour, size=6, tools=["hover"]
            )
        )
    overlay: hv.Overlay = hv.Overlay(layers).opts(
        logx=True,
        width=640,
        height=360,
        title=f"Rho statistics (xi+), {report.describe()}",
        xlabel="separation (arcmin)",
        ylabel="rho",
        legend_position="right",
    )
    return overlay


def whisker_map(report: PsfReport) -> hv.Overlay:
    """The mean ellipticity residual per cell as headless whiskers (length |de| up to its
    95th percentile, angle atan2(de2, de1) / 2 in the frame of the moments), over points
    coloured by |de|."""
    cells = report.map
    # Whisker lengths relative to the 95th percentile of |de| (capped there), so that a
    # cell of few noisy stars does not shrink every other whisker to a dot.
    scale = float(np.percentile(cells.magnitude, 95)) if len(cells.magnitude) else 1.0
    length = np.minimum(cells.magnitude / scale, 1.0) if scale > 0 else cells.magnitude
    data = {
        "ra": cells.ra,
        "dec": cells.dec,
        "angle": cells.angle,
        "magnitude": cells.magnitude,
        "length": length,
        "de1": cells.de1,
        "de2": cells.de2,
        "stars": cells.stars,
    }
    title = f"Mean ellipticity residual per cell, {report.describe()}"
    whiskers = hv.VectorField(data, ["ra", "dec"], ["angle", "length"]).opts(
        magnitude="length", pivot="mid", arrow_heads=False, line_width=2, color="black"
    )
    points = hv.Points(data, ["ra", "dec"], ["magnitude", "de1", "de2", "stars"]).opts(
        color="magnitude",
        cmap="Viridis",
        colorbar=True,
        clabel="|de|",
        size=7,
        tools=["hover"],
    )
    overlay: hv.Overlay = (points * whiskers).opts(
        width=640,
        height=360,
        title=title,
        xlabel="RA (deg)",
        ylabel="Dec (deg)",
        invert_xaxis=True,
    )
    return overlay


def _repeatability_text(result: RepeatabilityResult | str, name: str) -> str:
    if isinstance(result, str):
        return f"**{name}**: not available: {plain(result)}"
    return (
        f"**{name}** = {result.value:.2f} {result.unit} ({result.stars:,} stars,"
        f" {result.pairs:,} pairs, {result.visits} visits)"
    )


def _summary_text(report: PsfReport) -> str:
    rows = "\n".join(
        f"| {quantity} | {_sign_label(mean)} | {_sign_label(median)} | {_sign_label(rms)} |"
        for quantity, mean, median, rms in report.summary.rows()
    )
    cuts = report.cut_text()
    left_out = f"\n\nLeft out: {plain(cuts)}." if cuts else ""
    return (
        f"**PSF residuals (star - model), {plain(report.describe())}**; rho statistics on"
        f" {plain(report.rho.describe('visits'))}.{left_out}\n\n"
        "| quantity | mean | median | RMS |\n|---|---:|---:|---:|\n" + rows
    )


def results_view(results: PsfResults) -> pn.Column:
    """The answers of one band: PA1 and AM1, the residual summary, the rho plot and the
    residual map (or why each is missing)."""
    band = plain(results.band)
    parts: list[Any] = [
        markdown(
            f"### Band {band}\n\n"
            + _repeatability_text(results.pa1, "PA1")
            + "  \n"
            + _repeatability_text(results.am1, "AM1"),
            name="repeatability",
        )
    ]
    if isinstance(results.psf, str):
        parts.append(markdown(f"**PSF residuals**: not available: {plain(results.psf)}"))
    else:
        parts.append(markdown(_summary_text(results.psf), name="psf-summary"))
        parts.append(
            pn.Row(
                holoviews_pane(rho_plot(results.psf), name="rho-plot"),
                holoviews_pane(whisker_map(results.psf), name="residual-map"),
            )
        )
    return pn.Column(*parts, sizing_mode="stretch_width")


class PsfView:
    """The tab: a band, a button that computes, and the answers kept per band.

    Parameters
    ----------
    repo
        The repository.
    band
        The band shown first (None: the first band with visit sources).
    """

    def __init__(self, repo: Repository, band: str | None) -> None:
        self.repo = repo
        try:
            visits = repo.visits()
            present = set(visits["band"].astype(str)) if len(visits) else set()
        except ComputeError:  # unreadable visit tables: no band to compute on
            present = set()
        bands = [b for b in repo.bands() if b in present]
        self.results: dict[str, PsfResults] = {}
        self.band = _select(
            label="Band",
            options=bands,
            value=band if band in bands else (bands[0] if bands else None),
            width=120,
        )
        self.compute_button = button(label="Compute", color="primary", width=120)
        self.compute_button.on_click(self._on_click)
        self.output = pn.Column(sizing_mode="stretch_width")
        self.band.param.watch(lambda _: self.show(), "value")
        self.show()

    def _on_click(self, _: object) -> None:
        self.compute()

    def compute(self) -> PsfResults | None:
        """Compute (or take from the kept answers) the current band's results, and show."""
        band = self.band.value
        if band is None:
            return None
        if band not in self.results:
            self.output.loading = True
            try:
                self.results[band] = compute_results(self.repo, band)
            finally:
                self.output.loading = False
        self.show()
        return self.results[band]

    def show(self) -> None:
        """Show the current band's kept results, or what the button will compute."""
        band = self.band.value
        if band is None:
            self.output.objects = [markdown("*The repository has no visit sources.*")]
        elif band in self.results:
            self.output.objects = [results_view(self.results[band])]
        else:
            self.output.objects = [
                markdown(
                    f"Press **Compute** for PA1, AM1, the PSF residuals and the rho statistics"
                    f" of band {plain(band)}, from its visit sources.",
                    name="psf-hint",
                )
            ]

    def panel(self) -> pn.Column:
        """The tab's layout."""
        return pn.Column(
            pn.Row(self.band, self.compute_button),
            self.output,
            sizing_mode="stretch_width",
            name=TAB_NAME,
        )


def psf_tab(explorer: _ExplorerLike) -> pn.Column:
    """The "PSF & repeatability" tab of *explorer*, on the current metric's band."""
    info: Mapping[str, MetricInfo] = explorer.infos
    metric = info.get(explorer.metric) if explorer.metric else None
    view = PsfView(explorer.repo, metric.band if metric is not None else None)
    return view.panel()

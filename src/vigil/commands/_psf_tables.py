"""The tables ``vigil compute REPO --psf BAND`` prints: the residual summary and rho."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigil.compute.psf import PsfReport
from vigil.compute.psf_stats import RHO_NAMES

__all__ = ["print_psf_report"]


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def _with_error(value: float, error: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2e} ± {error:.1e}"


def print_psf_report(console: Console, report: PsfReport) -> None:
    """Print *report*: what it used, the residual summary, and the rho statistics."""
    cuts = report.cut_text()
    console.print(
        escape(f"PSF residuals: {report.describe()}" + (f" (left out: {cuts})" if cuts else ""))
    )
    summary = Table(title="Residuals (star - PSF model; distortion e, trace T)")
    for name in ("quantity", "mean", "median", "RMS"):
        summary.add_column(name, justify="left" if name == "quantity" else "right")
    for quantity, mean, median, rms in report.summary.rows():
        summary.add_row(quantity, _number(mean), _number(median), _number(rms))
    console.print(summary)
    rho = report.rho
    table = Table(title=escape(f"Rho statistics (xi+), {rho.describe('visits')}"))
    table.add_column("theta (arcmin)", justify="right")
    table.add_column("pairs", justify="right")
    for name in RHO_NAMES:
        table.add_column(name, justify="right")
    for index, theta in enumerate(rho.theta):
        table.add_row(
            f"{theta:.3g}",
            f"{int(rho.pairs[index]):,}",
            *(_with_error(rho.rho[n][index], rho.sigma[n][index]) for n in RHO_NAMES),
        )
    console.print(table)

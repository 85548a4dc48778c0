"""The plot of a regression's page: the main line with the change marked."""

from __future__ import annotations

from datetime import datetime

from ...domain.regressions import Regression, SeriesValue
from ._format import embed_json

__all__ = ["regression_plot"]

_CHANGE_COLOURS = {"regression": "#c62f2f", "spec_failure": "#c62f2f", "improvement": "#1b8a4b"}


def _ms(value: datetime) -> float:
    return value.timestamp() * 1000.0


def regression_plot(
    regression: Regression, values: list[SeriesValue], unit: str | None, target: str
) -> str:
    """`vigil.plots.series_plot` of the main line, a band between the last good and the
    first bad job, and the levels before and after the change: the JSON of a Bokeh
    ``json_item`` for the element *target*, safe inside ``<script>``."""
    import pandas as pd
    from bokeh.core.types import ID
    from bokeh.embed import json_item
    from bokeh.models.annotations import BoxAnnotation, Span

    from vigil.plots import series_plot

    df = pd.DataFrame(
        {
            "job_id": [v.job_id for v in values],
            "time": [v.time for v in values],
            "value": [float("nan") if v.value is None else v.value for v in values],
            "branch": [regression.first_bad.branch or "main"] * len(values),
        }
    )
    fig = series_plot(
        df,
        x="time",
        unit=unit,
        title=f"{regression.series.metric_name} on the main line",
        height=340,
    )
    colour = _CHANGE_COLOURS.get(regression.kind, "#b26a00")
    bad = _ms(regression.first_bad.time)
    good = _ms(regression.last_good.time) if regression.last_good is not None else bad
    fig.add_layout(
        BoxAnnotation(left=good, right=bad, fill_color=colour, fill_alpha=0.12, line_alpha=0)
    )
    fig.add_layout(
        Span(location=bad, dimension="height", line_color=colour, line_dash="dashed", line_width=2)
    )
    if values and regression.before is not None and regression.after is not None:
        start, end = _ms(values[0].time), _ms(values[-1].time)
        x0, y0 = [start, bad], [regression.before, regression.after]
        x1, y1 = [good, end], [regression.before, regression.after]
        colours = ["#5d6778", colour]
        if regression.fixed_by is not None:
            # Undone by a later change: the new level ends there, the old one is back.
            fixed = _ms(regression.fixed_by.time)
            x1[1] = fixed
            x0.append(fixed)
            y0.append(regression.before)
            x1.append(end)
            y1.append(regression.before)
            colours.append("#1b8a4b")
            fig.add_layout(
                Span(location=fixed, dimension="height", line_color="#1b8a4b", line_width=2)
            )
        fig.segment(
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
            line_color=colours,
            line_width=2,
            line_dash="dotted",
        )
    return embed_json(json_item(fig, ID(target)))

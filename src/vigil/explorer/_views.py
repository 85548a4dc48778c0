"""The explorer's views: Panel and HoloViews objects made from the frames `Explorer` computes.

Each function takes what it shows and the callbacks its clicks and taps call; the
`Explorer` (`vigil.explorer.app`) keeps the selection and decides what each click does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter
from panel.models.tabulator import CellClickEvent

from vigil.compute.files import FileProblem

from ._metrics import RepoSummary
from ._panel import alert, button, dataframe_pane, holoviews_pane, markdown, tabulator
from ._rollup import RangeStatus

__all__ = [
    "GROUP_COLUMNS",
    "comparison_view",
    "groups_table",
    "header_pane",
    "metric_plots",
    "path_bar",
    "problems_banner",
    "quicklook_table",
    "sky_points",
    "sources_table",
]

GROUP_COLUMNS = ["group", "value", "count", "status", "below"]
"""The columns of the metric tab's list of groups, besides the groups' keys."""

_STATUS_COLOURS: dict[str, str] = {
    RangeStatus.OK: "#d4edda",
    RangeStatus.BAD: "#f8d7da",
    RangeStatus.NO_RANGE: "#eeeeee",
    RangeStatus.NO_DATA: "#eeeeee",
}
_NUMBER = NumberFormatter(format="0.[0000]")
_PLAIN = {"type": "plaintext"}  # ids and dataIds without thousands separators
_FLOAT_COLUMNS = ("coord_ra", "coord_dec", "mag", "value")

OpenMetric = Callable[[str, Mapping[str, int] | None], None]
SelectGroup = Callable[[Mapping[str, Any]], None]


def _status_style(row: pd.Series) -> list[str]:
    colour = _STATUS_COLOURS.get(str(row.get("status")), "#fff3cd")
    return [f"background-color: {colour}"] * len(row)


def _status_table(frame: pd.DataFrame, **options: Any) -> pn.widgets.Tabulator:
    """A read-only table of *frame* whose rows are coloured by their ``status``."""
    table = tabulator(frame, show_index=False, disabled=True, selectable=False, **options)
    if table.style is not None:  # Panel gives every DataFrame value a Styler
        table.style.apply(_status_style, axis=1)
    return table


def header_pane(summary: RepoSummary) -> pn.pane.Markdown:
    """Tracts, visits per band, sources."""
    visits = ", ".join(f"{b}: {n}" for b, n in summary.visits_per_band.items()) or "none"
    lines = [
        f"## {summary.name}",
        f"**{len(summary.tracts)}** tracts · **{summary.patches}** patches · visits per band"
        f" {visits} · **{summary.objects:,}** objects · **{summary.sources:,}** sources ·"
        f" **{summary.metrics}** metrics",
    ]
    if summary.inferred:
        lines.append("*No vigil-repo.yaml: metrics are inferred from the columns.*")
    return markdown("\n\n".join(lines), name="header")


def problems_banner(problems: Sequence[FileProblem]) -> pn.pane.Alert | None:
    """A warning naming every file of *problems* (None when there is none)."""
    if not problems:
        return None
    lines = [f"**{len(problems)} unreadable file(s)**, left out of every figure:"]
    lines += [f"- `{problem.path}`: {problem.message}" for problem in problems]
    return alert("\n".join(lines), alert_type="warning", name="problems")


def quicklook_table(frame: pd.DataFrame, open_metric: OpenMetric) -> pn.widgets.Tabulator:
    """The metrics rolled up (`vigil.explorer._rollup.rollup`), coloured by status.

    A click on a row calls ``open_metric(metric, None)``; a click on its worst group
    ``open_metric(metric, worst_data_id)``.
    """
    table = _status_table(
        frame,
        hidden_columns=["worst_data_id"],
        formatters={"value": _NUMBER, "worst_value": _NUMBER, "worst_count": _PLAIN},
        sizing_mode="stretch_width",
        layout="fit_data_table",
    )

    def on_click(event: CellClickEvent) -> None:
        row = frame.iloc[event.row]
        if event.column in ("worst", "worst_value", "worst_count") and row["worst_data_id"]:
            open_metric(str(row["metric"]), row["worst_data_id"])
        else:
            open_metric(str(row["metric"]), None)

    table.on_click(on_click)
    return table


def path_bar(metric: str, chosen: Sequence[str], up: Callable[[], None]) -> pn.Row:
    """Where the metric tab is (*metric*, the groups *chosen*) and a button calling *up*."""
    text = " / ".join([f"**{metric}**", *(chosen or ["every group"])])
    up_button = button(label="Up one level", disabled=not chosen, width=140)
    up_button.on_click(lambda _: up())
    return pn.Row(markdown(text, name="path"), up_button, sizing_mode="stretch_width")


def groups_table(frame: pd.DataFrame, level: Sequence[str], select_group: SelectGroup) -> pn.Column:
    """The groups of *level* in *frame*, in its order; a click calls *select_group*."""
    table = _status_table(
        frame[[*level, *GROUP_COLUMNS]],
        hidden_columns=list(level),
        pagination="local",
        page_size=12,
        width=420,
    )

    def on_click(event: CellClickEvent) -> None:
        select_group(frame.iloc[event.row])

    table.on_click(on_click)
    noun = "patches" if level[-1] == "patch" else f"{level[-1]}s"
    title = f"**{len(frame)} {noun}**, worst first (click one to drill down)"
    return pn.Column(markdown(title), table)


def sources_table(frame: pd.DataFrame, group: str) -> pn.Column:
    """The sources of *group* (``attrs["total"]`` of them, ``attrs["truncated"]`` or not)."""
    total, truncated = frame.attrs["total"], frame.attrs["truncated"]
    shown = f"the {len(frame):,} farthest from the median" if truncated else "all"
    title = f"**Sources of {group}**: {total:,} ({shown}{'; truncated' if truncated else ''})"
    table = tabulator(
        frame,
        show_index=False,
        disabled=True,
        selectable=False,
        pagination="local",
        page_size=15,
        formatters={c: _PLAIN for c in frame.columns if c not in _FLOAT_COLUMNS},
        sizing_mode="stretch_width",
    )
    return pn.Column(markdown(title, name="sources-title"), table)


def sky_points(
    frame: pd.DataFrame, level: Sequence[str], metric: str | None, select_group: SelectGroup
) -> hv.Points:
    """The groups of *frame* (``ra``, ``dec``, ``value``) on the sky; a tap selects one."""
    points = hv.Points(frame, ["ra", "dec"], ["value", *level, "count"]).opts(
        color="value",
        cmap="RdYlBu_r",
        colorbar=True,
        size=9,
        tools=["hover", "tap"],
        invert_xaxis=True,
        width=640,
        height=340,
        title=f"{metric} per {' / '.join(level)}",
        xlabel="RA (deg)",
        ylabel="Dec (deg)",
    )
    tap = hv.streams.Selection1D(source=points)

    def on_tap(index: list[int]) -> None:
        if index:
            select_group(frame.iloc[index[0]])

    tap.add_subscriber(on_tap)
    return points


def metric_plots(frame: pd.DataFrame, metric: str | None, datashade_rows: int) -> pn.Row:
    """*metric* against magnitude beside its RA/Dec map, rasterised above *datashade_rows*."""
    title = f"{metric} ({len(frame):,} sources)"
    scatter = hv.Points(frame, ["mag", "value"]).opts(
        width=520, height=340, title=title, xlabel="magnitude", ylabel=metric
    )
    sky = hv.Points(frame, ["coord_ra", "coord_dec"], ["value"]).opts(
        width=520, height=340, invert_xaxis=True, xlabel="RA", ylabel="Dec"
    )
    if len(frame) > datashade_rows:
        import datashader as ds
        from holoviews.operation.datashader import dynspread, rasterize

        left: Any = dynspread(rasterize(scatter)).opts(cmap="Viridis", cnorm="eq_hist")
        right: Any = rasterize(sky, aggregator=ds.mean("value")).opts(
            cmap="RdYlBu_r", colorbar=True
        )
    else:
        left = scatter.opts(size=3, alpha=0.5)
        right = sky.opts(color="value", cmap="RdYlBu_r", colorbar=True, size=4)
    return pn.Row(
        holoviews_pane(left, name="scatter"),
        holoviews_pane(right, name="skymap"),
        sizing_mode="stretch_width",
    )


def comparison_view(frame: pd.DataFrame, level: Sequence[str]) -> pn.Column:
    """The differences of `Repository.compare`'s *frame* per group of *level*."""
    bars = hv.Bars(
        frame.assign(group=frame[list(level)].astype(str).agg(" ".join, axis=1)),
        "group",
        "delta",
    ).opts(width=900, height=280, title="other - this", xrotation=90, tools=["hover"])
    return pn.Column(
        holoviews_pane(bars),
        dataframe_pane(frame, name="comparison", index=False, sizing_mode="stretch_width"),
    )

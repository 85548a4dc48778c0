"""The explorer's views: Panel and HoloViews objects made from the frames `Explorer` computes.

Each function takes what it shows and the callbacks its clicks and taps call; the
`Explorer` (`vigil.explorer.app`) keeps the selection and decides what each click does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter
from panel.models.tabulator import CellClickEvent

from vigil.compute.files import FileProblem

from ._metrics import RepoSummary
from ._panel import alert, button, dataframe_pane, holoviews_pane, markdown, plain, tabulator
from ._rollup import RangeStatus

__all__ = [
    "GROUP_COLUMNS",
    "GroupsTable",
    "PathBar",
    "comparison_view",
    "exact_ids",
    "header_pane",
    "metric_plots",
    "problems_banner",
    "quicklook_table",
    "rank_differences",
    "robust_limits",
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
    RangeStatus.UNKNOWN: "#d6d8db",
}
_NUMBER = NumberFormatter(format="0.[0000]")
_PLAIN = {"type": "plaintext"}  # ids and dataIds without thousands separators
_FLOAT_COLUMNS = ("coord_ra", "coord_dec", "mag", "value")
_EXACT_INTEGERS = 2**53
"""Integers beyond this are rounded by a JavaScript number: ids above it travel as text."""
_COMPARED_BARS = 40
"""Groups drawn in the comparison's bar chart at most (the table lists them all)."""
_SCATTER_AREA = (430, 270)
"""Pixels of the plotting area of the metric against magnitude (its axes around it)."""
_SKY_AREA = (350, 270)
"""Pixels of the plotting area of the metric's map (its axes and colour bar around it)."""
_ROBUST_PERCENTILES = (1.0, 99.0)
"""The colour scales span these percentiles of the values, so outliers do not stretch them."""

OpenMetric = Callable[[str, Mapping[str, int] | None], None]
SelectGroup = Callable[[Mapping[str, Any]], None]


def exact_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* with every integer column that holds a value JavaScript would round
    (64-bit object and source ids) as text, so that the browser shows it exactly."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_integer_dtype(values.dtype) or values.empty:
            continue
        if int(values.abs().max()) > _EXACT_INTEGERS:
            out[column] = values.map(lambda v: "" if pd.isna(v) else str(int(v))).astype(object)
    return out


def robust_limits(values: pd.Series) -> tuple[float, float] | None:
    """The 1st and 99th percentiles of the finite *values* (None when there are none)."""
    finite = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return None
    low, high = (float(v) for v in np.percentile(finite, _ROBUST_PERCENTILES))
    if low == high:
        low, high = low - 0.5, high + 0.5
    return low, high


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
        f"## {plain(summary.name)}",
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
        formatters={
            "value": _NUMBER,
            "worst_value": _NUMBER,
            "worst_count": _PLAIN,
            "reason": _PLAIN,
        },
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


class PathBar:
    """Where the metric tab is: the metric and the groups chosen, a button one level up
    and, when given, a link back; one bar, redrawn in place by `show`.

    Parameters
    ----------
    up
        What the button one level up calls.
    """

    def __init__(self, up: Callable[[], None]) -> None:
        self.text = markdown("", name="path")
        self.up = button(label="Up one level", disabled=True, width=140)
        self.up.on_click(lambda _: up())
        self.panel = pn.Row(self.text, self.up, sizing_mode="stretch_width")

    def show(self, metric: str, chosen: Sequence[str], back: pn.widgets.Button | None) -> pn.Row:
        """The bar showing *metric* and the groups *chosen*, with the link *back* (None:
        no link)."""
        self.text.object = " / ".join(
            [f"**{plain(metric)}**", *(plain(c) for c in chosen or ["every group"])]
        )
        self.up.disabled = not chosen
        objects = [self.text, self.up, *([back] if back is not None else [])]
        if self.panel.objects != objects:
            self.panel.objects = objects
        return self.panel


class GroupsTable:
    """The groups of a level, worst first: one table, redrawn in place by `show`.

    Parameters
    ----------
    select_group
        Called with the row of the group clicked, of the groups shown at that moment.
    """

    def __init__(self, select_group: SelectGroup) -> None:
        self.select_group = select_group
        self.title = markdown("", name="groups-title")
        self.table = _status_table(
            pd.DataFrame(columns=GROUP_COLUMNS), pagination="local", page_size=12, width=420
        )
        self.table.on_click(self._clicked)
        self.panel = pn.Column(self.title, self.table)
        self._rows = pd.DataFrame(columns=GROUP_COLUMNS)

    def show(
        self, frame: pd.DataFrame, level: Sequence[str] | None, keys: Sequence[str] = ()
    ) -> pn.Column:
        """The table of the groups of *level* in *frame*, in its order (None: no level
        left to list, an empty view). *keys*: the keys of every level of the table (its
        finest level's), each a hidden column at every level."""
        if level is None:
            self.title.object = ""
            self.table.visible = False
            return self.panel
        noun = "patches" if level[-1] == "patch" else f"{level[-1]}s"
        self.title.object = f"**{len(frame)} {noun}**, worst first (click one to drill down)"
        # The new groups from their first page, in the order given. The table gets the
        # same columns at every level (a key the level lacks is NaN there; a click takes
        # the row's own keys, kept here), so that the browser gives it new rows instead
        # of building it again.
        self._rows = frame[[*level, *GROUP_COLUMNS]].reset_index(drop=True)
        hidden = list(dict.fromkeys([*keys, *level]))
        shown = self._rows.reindex(columns=[*hidden, *GROUP_COLUMNS])
        shown[hidden] = shown[hidden].astype("float64")
        self.table.param.update(
            value=shown, hidden_columns=hidden, page=1, sorters=[], visible=True
        )
        return self.panel

    def _clicked(self, event: CellClickEvent) -> None:
        self.select_group(self._rows.iloc[event.row])


def sources_table(frame: pd.DataFrame, group: str) -> pn.Column:
    """The sources of *group* (``attrs["total"]`` of them, ``attrs["truncated"]`` or not)."""
    total, truncated = frame.attrs["total"], frame.attrs["truncated"]
    shown = f"the {len(frame):,} farthest from the median" if truncated else "all"
    title = f"**Sources of {group}**: {total:,} ({shown}{'; truncated' if truncated else ''})"
    table = tabulator(
        exact_ids(frame),
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
    frame: pd.DataFrame,
    level: Sequence[str],
    metric: str | None,
    select_group: SelectGroup | None,
) -> hv.Points:
    """The groups of *frame* (``ra``, ``dec``, ``value``) on the sky; a tap calls
    *select_group* with one (None: the caller listens to taps itself)."""
    limits = robust_limits(frame["value"])
    points = hv.Points(frame, ["ra", "dec"], ["value", *level, "count"]).opts(
        color="value",
        cmap="RdYlBu_r",
        colorbar=True,
        clabel=metric or "value",
        **({"clim": limits} if limits is not None else {}),
        size=9,
        tools=["hover", "tap"],
        invert_xaxis=True,
        width=640,
        height=340,
        title=f"{metric} per {' / '.join(level)}",
        xlabel="RA (deg)",
        ylabel="Dec (deg)",
    )
    if select_group is None:
        return points
    tap = hv.streams.Selection1D(source=points)

    def on_tap(index: list[int]) -> None:
        if index and select_group is not None:
            select_group(frame.iloc[index[0]])

    tap.add_subscriber(on_tap)
    return points


def metric_plots(frame: pd.DataFrame, metric: str | None, datashade_rows: int) -> pn.Row:
    """*metric* against magnitude beside its RA/Dec map, rasterised above *datashade_rows*.

    Either way the plots keep their titles and axis names, RA grows to the left, and the
    map's colours span the 1st to 99th percentiles of the values (`robust_limits`).
    Rasterised, the plot against magnitude is shaded by Datashader (counts, histogram
    equalised) into the colours the browser draws; the map sends the mean value per pixel,
    coloured in the browser along its colour bar. Both are computed one bin per pixel of
    their plotting area, over the data's extent or the range zoomed to.
    """
    title = f"{metric} ({len(frame):,} sources)"
    scatter_labels = {"title": title, "xlabel": "magnitude", "ylabel": metric or "value"}
    sky_labels = {
        "title": f"{metric} on the sky",
        "xlabel": "RA (deg)",
        "ylabel": "Dec (deg)",
        "invert_xaxis": True,
    }
    colours: dict[str, Any] = {"cmap": "RdYlBu_r", "colorbar": True, "clabel": metric or "value"}
    limits = robust_limits(frame["value"]) if "value" in frame else None
    if limits is not None:
        colours["clim"] = limits
    scatter = hv.Points(frame, ["mag", "value"])
    sky = hv.Points(frame, ["coord_ra", "coord_dec"], ["value"])
    scatter_area, sky_area = _plot_area(*_SCATTER_AREA), _plot_area(*_SKY_AREA)
    if len(frame) > datashade_rows:
        import datashader as ds
        from holoviews.operation.datashader import datashade, dynspread, rasterize

        left: Any = dynspread(
            datashade(scatter, cmap="Viridis", cnorm="eq_hist", **_raster(*_SCATTER_AREA))
        ).opts(**scatter_area, **scatter_labels)
        right: Any = rasterize(sky, aggregator=ds.mean("value"), **_raster(*_SKY_AREA)).opts(
            **colours, **sky_area, **sky_labels
        )
    else:
        left = scatter.opts(size=3, alpha=0.5, **scatter_area, **scatter_labels)
        right = sky.opts(color="value", size=4, **colours, **sky_area, **sky_labels)
    return pn.Row(
        holoviews_pane(left, name="scatter"),
        holoviews_pane(right, name="skymap"),
        sizing_mode="stretch_width",
    )


def _plot_area(width: int, height: int) -> dict[str, int]:
    """The plot options giving a plotting area of *width* by *height* pixels."""
    return {"frame_width": width, "frame_height": height}


def _raster(width: int, height: int) -> dict[str, Any]:
    """Datashader's options for a plotting area of *width* by *height* pixels: a bin per
    pixel, computed again for the range zoomed to (the area's size is fixed)."""
    return {"width": width, "height": height, "streams": [hv.streams.RangeXY]}


def rank_differences(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* (`Repository.compare`) ranked by change: groups one side lacks first,
    then by the size of the difference, largest first (ties in the groups' order)."""
    size = frame["delta"].abs().to_numpy(dtype="float64")
    missing = frame["missing"].notna().to_numpy()
    order = np.lexsort((-np.nan_to_num(size, nan=-np.inf), ~missing))
    return frame.iloc[order].reset_index(drop=True)


def comparison_view(
    frame: pd.DataFrame,
    level: Sequence[str],
    metric: str,
    chosen: str,
    names: tuple[str, str],
) -> pn.Column:
    """The differences of `Repository.compare`'s *frame* per group of *level*.

    The groups (of the selection *chosen*) are ranked by the size of their difference,
    those one side lacks first; a metric or group missing on a side says so instead of
    drawing nothing.
    """
    this, other, name = plain(names[0]), plain(names[1]), plain(metric)
    ranked = rank_differences(frame)
    lines = [
        f"**{name}** in **{other}** minus in **{this}**, {plain(chosen)}, largest change first."
    ]
    if len(ranked) and ranked["value"].isna().all():
        lines.append(f"*{name} is missing in {this}.*")
    if len(ranked) and ranked["value_other"].isna().all():
        lines.append(f"*{name} is missing in {other}.*")
    lacking = int(ranked["missing"].notna().sum())
    if lacking:
        lines.append(f"{lacking} group(s) missing on one side (listed first, marked missing).")
    if ranked.empty:
        lines.append("*Neither repository has a value here.*")
    parts: list[Any] = [markdown("\n\n".join(lines), name="comparison-title")]
    drawn = ranked[ranked["delta"].notna()].head(_COMPARED_BARS)
    if len(drawn):
        labels = drawn[list(level)].astype(str).agg(" ".join, axis=1) if level else "dataset"
        bars = hv.Bars(drawn.assign(group=labels), "group", "delta").opts(
            width=900,
            height=280,
            title=f"{names[1]} - {names[0]} (the {len(drawn)} largest changes)",
            xlabel=" / ".join(level) or "dataset",
            ylabel=f"difference of {metric}",
            xrotation=90,
            tools=["hover"],
        )
        parts.append(holoviews_pane(bars))
    shown = ranked.assign(missing=ranked["missing"].map(_missing_text(names)))
    parts.append(dataframe_pane(shown, name="comparison", index=False, sizing_mode="stretch_width"))
    return pn.Column(*parts)


def _missing_text(names: tuple[str, str]) -> Callable[[object], str]:
    """``missing in <name>`` for `Repository.compare`'s ``missing`` (``this``/``other``)."""

    def text(side: object) -> str:
        if side == "this":
            return f"missing in {names[0]}"
        if side == "other":
            return f"missing in {names[1]}"
        return ""

    return text

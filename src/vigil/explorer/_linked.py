"""Linked selection across metrics, and the live cuts every per-source view follows.

The "Linked" tab draws two to four per-source metrics of one table and band, each
against magnitude, and one RA/Dec map, all from one Bokeh ``ColumnDataSource``: the rows
are the selection's objects (or sources), joined on their id in pandas, so a box or
lasso selection on any plot highlights the same rows on every plot and on the map in the
browser, with no round trip. The server hears the selection and lists the selected rows
(ids as text: a 64-bit id never passes through a JavaScript number).

The cuts (`vigil.explorer._cuts.Cuts`) come from the `Explorer`'s parameters named in
`CUT_PARAMS`; `cut_values` reads a metric's values with the columns the cuts need and
applies them, and `with_cuts` names the active cuts in a view's title.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, GridBox
from bokeh.models.annotations import Title
from bokeh.models.ui import UIElement
from bokeh.plotting import figure

from vigil.compute.granularity import DATA_ID_COLUMNS, ID_COLUMN, Table
from vigil.compute.plan import WhereValue

from ._cuts import Cuts
from ._metrics import MetricInfo
from ._panel import markdown, param_controls, plain, tabulator
from .query import Repository

__all__ = [
    "CUT_PARAMS",
    "LINKED_ROWS",
    "SELECTED_ROWS",
    "LinkedView",
    "cut_controls",
    "cut_lines",
    "cut_values",
    "cuts_of",
    "linked_choices",
    "linked_frame",
    "with_cuts",
]

CUT_PARAMS = ("snr_min", "mag_min", "mag_max", "extendedness", "cut_band")
"""The `Explorer` parameters that hold the live cuts."""

LINKED_ROWS = 20_000
"""Rows of a metric the linked plots draw at most: above it, a uniform sample."""

SELECTED_ROWS = 200
"""Selected rows listed under the linked plots at most."""

# Panel's constructors take unannotated **params (see `vigil.explorer._panel`).
_multi_choice = cast("Callable[..., pn.widgets.MultiChoice]", pn.widgets.MultiChoice)
_bokeh_pane = cast("Callable[..., pn.pane.Bokeh]", pn.pane.Bokeh)
_param_function = cast("Callable[..., pn.param.ParamFunction]", pn.param.ParamFunction)

ViewT = TypeVar("ViewT", pn.Row, pn.Column)

_SELECTION = ("metric", "tract", "patch", "visit", "detector")
_SUBTITLE = "cuts"
_UNCUT = "The table of groups and the sky map per group count every source, before the cuts."
_MAX_METRICS = 4
_PER_ROW = 3
_PLAIN_COLUMNS = (*ID_COLUMN.values(), "tract", "patch", "visit", "detector")
_ALL = "all"


class Selection(Protocol):
    """What the cuts and the linked view read of the `Explorer`."""

    repo: Repository
    infos: dict[str, MetricInfo]
    metric: Any
    param: Any
    snr_min: Any
    mag_min: Any
    mag_max: Any
    extendedness: Any
    cut_band: Any

    @property
    def table(self) -> str: ...

    def where(self) -> dict[str, WhereValue]: ...


def cuts_of(explorer: Selection) -> Cuts:
    """The cuts the explorer's parameters set.

    Raises
    ------
    ValueError
        When they contradict each other (a magnitude range upside down).
    """
    band = explorer.cut_band
    return Cuts(
        snr_min=explorer.snr_min,
        mag_min=explorer.mag_min,
        mag_max=explorer.mag_max,
        extendedness=str(explorer.extendedness),
        band=None if band in (None, _ALL) else str(band),
    )


def _cut_columns(repo: Repository, cuts: Cuts, table: Table, band: str | None) -> list[str]:
    """The columns the cuts read that *table* has (`Cuts.apply` reports the others)."""
    present = set(repo.tables()[table].columns)
    return [column for column in cuts.columns(table, band) if column in present]


def cut_values(explorer: Selection, fields: Sequence[str] | None = None) -> pd.DataFrame:
    """The current metric's per-source values in the current selection, cut.

    Parameters
    ----------
    explorer
        The explorer (its metric, selection and cut parameters).
    fields
        The output columns (`Repository.values`' *fields*), None for all of them.

    Returns
    -------
    pandas.DataFrame
        The rows the cuts keep, with `vigil.explorer._cuts.Cuts.apply`'s ``attrs``.
        Cuts that contradict each other are not applied, and ``attrs["not_applied"]``
        says why.
    """
    metric = str(explorer.metric)
    info = explorer.infos[metric]
    where = explorer.where() or None
    try:
        cuts = cuts_of(explorer)
    except ValueError as exc:
        frame = explorer.repo.values(metric, where, fields=fields, limit=None)
        frame.attrs.update(cuts="no cuts", before=len(frame), not_applied=[str(exc)])
        return frame
    extra = _cut_columns(explorer.repo, cuts, info.table, info.band)
    wanted = None if fields is None else [*fields, *extra]
    frame = explorer.repo.values(metric, where, columns=extra, fields=wanted, limit=None)
    kept = cuts.apply(frame, info.table, info.band)
    return kept if fields is None else kept[[f for f in fields if f in kept]]


def cut_lines(explorer: Selection, frame: pd.DataFrame) -> list[str]:
    """The active cuts and the rows they kept, in words, for a view of *frame*
    (`cut_values`); empty when no cut is set."""
    if "cuts" not in frame.attrs:  # a fit, or a view above the finest level
        try:
            active = cuts_of(explorer).active
        except ValueError:
            active = True
        return ["The cuts apply to per-source values only: none here."] if active else []
    notes = [str(note) for note in frame.attrs.get("not_applied", [])]
    if frame.attrs["cuts"] == "no cuts":
        return notes
    before = int(frame.attrs.get("before", len(frame)))
    kept = f"Cuts: {frame.attrs['cuts']} ({len(frame):,} of {before:,} sources kept)"
    return [kept, *notes]


def with_cuts(explorer: Selection, frame: pd.DataFrame, view: ViewT) -> ViewT:
    """*view* of *frame* (`cut_values`) naming the active cuts: a line under each plot's
    title (a row of HoloViews panes), or a caption under the title of a column."""
    lines = cut_lines(explorer, frame)
    if not lines:
        return view
    if isinstance(view, pn.Column):
        if "cuts" in frame.attrs and frame.attrs["cuts"] != "no cuts":
            lines.append(_UNCUT)
        view.insert(1, markdown("  \n".join(plain(line) for line in lines), name="cuts"))
        return view
    for pane in view:
        if isinstance(pane, pn.pane.HoloViews):
            pane.object = pane.object.opts(hooks=[_subtitles(lines)])
    return view


def _subtitles(lines: Sequence[str]) -> Callable[[Any, Any], None]:
    """A HoloViews hook putting *lines* under a Bokeh plot's title, in place of those
    of the previous frame of a plot redrawn in place."""

    def hook(plot: Any, _: Any) -> None:
        figure = plot.state
        drawn = [p for p in figure.above if getattr(p, "name", None) == _SUBTITLE]
        if [p.text for p in reversed(drawn)] == list(lines):
            return
        figure.above = [p for p in figure.above if p not in drawn]
        for line in reversed(lines):  # the last added is drawn highest
            title = Title(text=line, text_font_style="italic", name=_SUBTITLE)
            figure.add_layout(title, "above")

    return hook


# -- the linked plots ---------------------------------------------------------------------


def linked_choices(infos: Mapping[str, MetricInfo], metric: str | None) -> list[str]:
    """The per-source metrics that can be linked with *metric*: same table, same band."""
    if metric is None or metric not in infos:
        return []
    chosen = infos[metric]
    return [
        name
        for name, info in infos.items()
        if info.granularity == "source" and info.table == chosen.table and info.band == chosen.band
    ]


def _read(
    repo: Repository,
    metric: str,
    where: Mapping[str, WhereValue] | None,
    fields: list[str],
    extra: list[str],
    rows: int,
) -> tuple[pd.DataFrame, int]:
    """*metric*'s rows (a uniform sample of *rows* above that many) and how many it has."""
    frame = repo.values(metric, where, columns=extra, fields=fields, limit=rows)
    if not frame.attrs["truncated"]:
        return frame, len(frame)
    counts = repo.aggregate(metric, [], where)
    total = int(counts["count"].iloc[0]) if len(counts) else rows
    sample = repo.values(metric, where, columns=extra, fields=fields, limit=None, sample=rows)
    return sample, max(total, len(sample))


def linked_frame(
    repo: Repository,
    metrics: Sequence[str],
    where: Mapping[str, WhereValue] | None,
    cuts: Cuts,
    rows: int = LINKED_ROWS,
) -> pd.DataFrame:
    """The rows of *metrics* (one table, one band) in a selection, joined on the id, cut.

    One row per object (or source) any of the metrics has, a column per metric (NaN
    where that metric has no value), the id, dataId, ``coord_ra``, ``coord_dec`` and
    ``mag``. Each metric is read whole up to *rows* rows (`LINKED_ROWS`), a uniform
    sample of that many above it.

    Returns
    -------
    pandas.DataFrame
        ``attrs["totals"]``: each metric's rows in the selection;
        ``attrs["sampled"]``: the metrics read as a sample; and the cuts' ``attrs``.
    """
    infos = {info.name: info for info in repo.metrics()}
    table, band = infos[metrics[0]].table, infos[metrics[0]].band
    key = ID_COLUMN[table]
    extra = _cut_columns(repo, cuts, table, band)
    fields = [key, "coord_ra", "coord_dec", "mag", "value", *extra]
    fields += [k for k in DATA_ID_COLUMNS[table][:2] if k not in fields]
    totals: dict[str, int] = {}
    sampled: list[str] = []
    parts: dict[str, pd.DataFrame] = {}
    for metric in metrics:
        frame, totals[metric] = _read(repo, metric, where, fields, extra, rows)
        if totals[metric] > len(frame):
            sampled.append(metric)
        parts[metric] = frame.drop_duplicates(key)
    shared = [c for c in fields if c != "value"]
    joined = pd.concat([p[shared] for p in parts.values()], ignore_index=True)
    joined = joined.drop_duplicates(key).reset_index(drop=True)
    for metric, part in parts.items():
        values = part[[key, "value"]].rename(columns={"value": metric})
        joined = joined.merge(values, on=key, how="left")
    kept = cuts.apply(joined, table, band)
    kept.attrs.update(totals=totals, sampled=sampled)
    return kept


def _figure(title: str, cuts: str, x: str, y: str, *, flipped: bool = False) -> Any:
    plot = figure(
        title=title,
        width=370,
        height=300,
        x_axis_label=x,
        y_axis_label=y,
        tools="box_select,lasso_select,pan,wheel_zoom,reset",
        active_drag="box_select",
        output_backend="canvas",
        x_range=DataRange1d(flipped=flipped),  # RA grows to the left on the sky
    )
    plot.add_layout(Title(text=f"cuts: {cuts}", text_font_style="italic"), "above")
    return plot


def linked_plots(frame: pd.DataFrame, metrics: Sequence[str]) -> tuple[Any, ColumnDataSource]:
    """The linked figures of *frame* (`linked_frame`) and the one source they share."""
    data = {c: frame[c].to_numpy(dtype="float64") for c in ("coord_ra", "coord_dec", "mag")}
    data.update({f"m{i}": frame[m].to_numpy(dtype="float64") for i, m in enumerate(metrics)})
    source = ColumnDataSource(data)
    cuts = str(frame.attrs.get("cuts", "no cuts"))
    totals: dict[str, int] = frame.attrs.get("totals", {})
    sampled: list[str] = frame.attrs.get("sampled", [])
    figures = []
    style = {"size": 4, "alpha": 0.6, "selection_color": "crimson", "nonselection_alpha": 0.08}
    for i, metric in enumerate(metrics):
        drawn = int(frame[metric].notna().sum())
        total = totals.get(metric, drawn)
        count = f"sample of {drawn:,} of {total:,}" if metric in sampled else f"{drawn:,}"
        plot = _figure(f"{metric}: {count} sources", cuts, "magnitude", metric)
        plot.scatter("mag", f"m{i}", source=source, name=f"linked-{i}", **style)
        figures.append(plot)
    sky = _figure(f"{len(frame):,} sources on the sky", cuts, "RA (deg)", "Dec (deg)", flipped=True)
    sky.scatter("coord_ra", "coord_dec", source=source, name="linked-sky", **style)
    figures.append(sky)
    # A grid box of figures, each with its tools: Bokeh never lays out the figures of a
    # grid plot (one toolbar for all) built while the metric tab's plots wait in a hidden tab.
    cells: list[tuple[UIElement, int, int] | tuple[UIElement, int, int, int, int]] = [
        (plot, i // _PER_ROW, i % _PER_ROW) for i, plot in enumerate(figures)
    ]
    return GridBox(children=cells), source


class LinkedView:
    """The "Linked" tab of an `Explorer`: the metrics chosen, their linked plots, and
    the rows selected on any of them.

    Parameters
    ----------
    explorer
        The explorer whose metric, selection and cuts the tab follows.
    """

    def __init__(self, explorer: Selection) -> None:
        self.explorer = explorer
        self.choice = _multi_choice(
            label=f"Metrics to link (2 to {_MAX_METRICS}, one table and band)",
            max_items=_MAX_METRICS,
            width=640,
        )
        self.count = markdown("Select points on any plot (box or lasso).", name="linked-count")
        self.rows = tabulator(
            pd.DataFrame(),
            show_index=False,
            disabled=True,
            height=300,
            formatters={key: {"type": "plaintext"} for key in _PLAIN_COLUMNS},
        )
        self.frame = pd.DataFrame()
        self.shown: list[str] = []
        self._follow_metric()
        explorer.param.watch(lambda _: self._follow_metric(), ["metric"])

    def _follow_metric(self) -> None:
        """Offer the metrics that can be linked with the explorer's, and start with up
        to three of them, the explorer's first."""
        metric = self.explorer.metric
        options = linked_choices(self.explorer.infos, metric)
        others = [name for name in options if name != metric]
        self.choice.options = options
        self.choice.value = ([metric] if metric in options else []) + others[:2]

    def panel(self) -> pn.Column:
        """The tab."""
        watched = [self.explorer.param[name] for name in (*_SELECTION, *CUT_PARAMS)]
        # Lazy: drawn when the tab is shown, not on every click elsewhere.
        plots = _param_function(pn.bind(self._plots, self.choice, *watched), lazy=True)
        return pn.Column(self.choice, plots, self.count, self.rows, sizing_mode="stretch_width")

    def _plots(self, metrics: list[str], *_: object) -> pn.viewable.Viewable:
        explorer = self.explorer
        if len(metrics) < 2:
            return markdown("*Choose at least two metrics to link.*", name="linked-summary")
        try:
            cuts = cuts_of(explorer)
        except ValueError as exc:
            return markdown(f"*Cuts not applied: {plain(exc)}*", name="linked-summary")
        where = explorer.where()
        frame = linked_frame(explorer.repo, metrics, where or None, cuts)
        self.frame, self.shown = frame, list(metrics)
        self._show_selected([])
        grid, source = linked_plots(frame, metrics)
        source.selected.on_change("indices", lambda _a, _o, new: self._show_selected(new))
        place = ", ".join(f"{k} {v}" for k, v in where.items()) or "every group"
        lines = [
            f"**{len(frame):,}** of {int(frame.attrs['before']):,} rows of"
            f" {plain(', '.join(metrics))} in {plain(place)}; cuts: {plain(frame.attrs['cuts'])}"
        ]
        lines += [f"*{plain(note)}*" for note in frame.attrs["not_applied"]]
        if frame.attrs["sampled"]:
            lines.append(
                f"*Above {LINKED_ROWS:,} rows each metric is a uniform sample: an object"
                " selected in one may be missing from another's sample.*"
            )
        summary = markdown("  \n".join(lines), name="linked-summary")
        return pn.Column(summary, _bokeh_pane(grid))

    def _show_selected(self, indices: Sequence[int]) -> None:
        """List the rows at *indices* of the drawn frame (at most `SELECTED_ROWS`)."""
        frame = self.frame
        # The table of the rows drawn (the explorer's metric may have moved on since).
        table: Table = "sources" if ID_COLUMN["sources"] in frame else "objects"
        if not len(frame):
            self.count.object = "No rows to select."
            self.rows.value = pd.DataFrame()
            return
        key = ID_COLUMN[table]
        chosen = frame.iloc[sorted(int(i) for i in indices)]
        keys = [k for k in DATA_ID_COLUMNS[table][:2] if k in frame]
        listed = chosen.head(SELECTED_ROWS)[[key, *keys, "mag", *self.shown]].copy()
        # Text, shown as is: exact in the browser, without thousands separators.
        listed[key] = listed[key].map(str).astype(object)
        more = f" (the first {SELECTED_ROWS} listed)" if len(chosen) > SELECTED_ROWS else ""
        self.count.object = f"**{len(chosen):,} selected** of {len(frame):,}{more}"
        self.rows.value = listed.reset_index(drop=True)


def cut_controls(explorer: Selection) -> pn.Param:
    """The side controls of the cuts (the explorer's `CUT_PARAMS`)."""
    return param_controls(
        explorer.param, parameters=list(CUT_PARAMS), show_name=False, width=260, name="cuts"
    )

"""The pages' Bokeh figures, as JSON items that BokehJS embeds (``Bokeh.embed.embed_item``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

from bokeh.core.serialization import Serializer
from bokeh.core.types import ID
from bokeh.embed import json_item
from bokeh.settings import settings

from vigil import plots

from ...cache import LruCache
from ...services.dashboard import DataIdView, MetricView, SpecThreshold
from ._format import data_id_text, embed_json

__all__ = ["dataid_plot", "layout_item", "metric_plot", "plot_thresholds"]


def plot_thresholds(thresholds: list[SpecThreshold]) -> list[plots.Threshold]:
    """The selected thresholds that convert to the metric's unit, as plot lines."""
    return [
        plots.Threshold(t.short_name, t.value, t.spec.threshold_operator or "<=", t.tag)
        for t in thresholds
        if t.selected and t.value is not None
    ]


# The pages' figures come from vigil.plots, whose tests validate them; Bokeh's check of
# every document at each request costs about as much as serialising it.
settings.perform_document_validation.set_value(False)
# Plot data goes to the browser uncompressed: inflating 10,000 points' arrays in
# JavaScript costs the browser more time than the larger page costs the network.
settings.compression_level.set_value(0)


def _item(fig: Any, target: str) -> str:
    return embed_json(json_item(fig, ID(target)))


def metric_plot(view: MetricView, target: str = "metric-plot") -> str | None:
    """The metric page's figure (time/commit series or by-branch), or None if no data."""
    frame = view.frame
    if frame.empty or not frame["value"].notna().any():
        return None
    q = view.query
    title = view.metric.name + (
        f" · {view.series.dataset or ''} {data_id_text(view.series.data_id)}" if view.series else ""
    )
    labels: dict[str, Any] = {
        "unit": view.metric.unit or None,
        "title": title,
        "y_label": f"{view.metric.name} [{view.metric.unit}]" if view.metric.unit else None,
    }
    options: dict[str, Any] = {
        "thresholds": plot_thresholds(view.thresholds),
        "branches": view.shown_branches,
        "main": view.main_branch,
    }
    markers = _markers(view)
    # The same points drawn the same way give the same item: a popular series is drawn
    # once per change of its data, not once per request.
    drawn_key = None
    if view.data_key is not None:
        drawn_key = (
            target,
            view.data_key,
            q.view,
            q.x,
            q.last,
            tuple(options["thresholds"]),
            tuple(options["branches"]),
            tuple(markers),
            tuple(sorted(labels.items())),
        )
        found = _DRAWN.get(drawn_key)
        if found is not None:
            return found
    if q.view == "branch":
        data = plots.branch_data(frame, last=q.last, **options)
        build = plots.branch_figure
    else:
        data = plots.series_data(frame, x=q.x, markers=markers, **options)
        build = plots.series_figure
        # The page shows a shift-clicked point's code changes under the plot.
        labels["hint"] = plots.HOVER_HINT
    item = layout_item(data, build, labels, target)
    if drawn_key is not None:
        _DRAWN.put(drawn_key, item)
    return item


def layout_item(
    data: plots.PlotData, build: Callable[..., Any], labels: dict[str, Any], target: str
) -> str:
    """The JSON item of ``build(data, **labels)``: a figure of the same layout and labels
    drawn before is refilled with *data*'s sources instead of being built again."""
    key = (target, data.layout, tuple(sorted(labels.items())))
    return _FIGURES.item(key, data.sources, lambda: build(data, **labels), target)


def _markers(view: MetricView) -> list[plots.Marker]:
    marks = []
    for m in view.markers:
        what = m.specification or m.kind.replace("_", " ")
        size = f" ({m.relative_size:+.1%})" if m.relative_size is not None else ""
        marks.append(plots.Marker(m.job_id, m.kind, f"#{m.id} {what}{size}, {m.status}", m.id))
    return marks


class _FigureCache:
    """Serialised figures by layout, with their sources' data left as placeholders.

    Building a Bokeh figure and serialising its hundred-odd models costs far more than
    its data; a figure whose layout (`vigil.plots.PlotData.layout`, labels, target) was
    drawn before is only refilled with the new data, encoded by Bokeh's serialiser as
    `bokeh.embed.json_item` would.
    """

    def __init__(self, size: int = 128) -> None:
        self._templates: LruCache[Hashable, str] = LruCache(size)

    def item(
        self,
        key: Hashable,
        sources: dict[str, dict[str, Any]],
        build: Callable[[], Any],
        target: str,
    ) -> str:
        template = self._templates.get(key)
        if template is None:
            template = self._template(build(), target, sources)
            self._templates.put(key, template)
        for number, data in enumerate(sources.values()):
            encoded = embed_json(Serializer(deferred=False).encode(data))
            template = template.replace(f'"{_placeholder(number)}"', encoded, 1)
        return template

    @staticmethod
    def _template(fig: Any, target: str, sources: dict[str, dict[str, Any]]) -> str:
        item = json_item(fig, ID(target))
        numbers = {name: number for number, name in enumerate(sources)}
        for model in _models(item["doc"]):
            attributes = model.get("attributes", {})
            if model.get("name") == "ColumnDataSource" and attributes.get("name") in numbers:
                attributes["data"] = _placeholder(numbers[attributes["name"]])
        return embed_json(item)


def _placeholder(number: int) -> str:
    # By position, not by the source's name: a name holds a branch name, which JSON and
    # `embed_json` may write differently from the text searched for.
    return f"@@vigil-source:{number}@@"


def _models(node: Any) -> Iterator[dict[str, Any]]:
    """Every serialised model in a Bokeh JSON document."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _models(value)
    elif isinstance(node, (list, tuple)):  # a map's entries are (key, value) tuples
        for value in node:
            yield from _models(value)


_FIGURES = _FigureCache()
# Whole items of the metric page by the identity of their data (about 0.5 MB each).
_DRAWN: LruCache[Hashable, str] = LruCache(16)


def dataid_plot(view: DataIdView, target: str = "dataid-plot") -> str | None:
    """The per-dataId grid, or None when there is nothing to lay out."""
    if view.col_key is None or not view.rows:
        return None
    import pandas as pd

    # Aggregates (a dataId without the grid's keys) stay in the table only.
    cells = [
        r
        for r in view.rows
        if view.col_key in r.data_id and (view.row_key is None or view.row_key in r.data_id)
    ]
    if not cells:
        return None
    frame = pd.DataFrame(
        {
            "row": [r.data_id[view.row_key] if view.row_key else None for r in cells],
            "col": [r.data_id[view.col_key] for r in cells],
            "value": [float("nan") if r.value is None else r.value for r in cells],
        }
    )
    threshold = plot_thresholds([view.threshold])[0] if view.threshold else None
    grid = f"{view.row_key} and {view.col_key}" if view.row_key else view.col_key
    fig = plots.dataid_grid(
        frame.rename(columns={"row": view.row_key or "row", "col": view.col_key}),
        row=view.row_key,
        col=view.col_key,
        threshold=threshold,
        unit=view.metric.unit or None,
        title=f"{view.metric.name} per {grid}",
    )
    return _item(fig, target)

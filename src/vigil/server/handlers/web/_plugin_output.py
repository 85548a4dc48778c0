"""What plugins draw (`vigil.plugins`), made safe for a page.

A blob renderer or a QA plot returns a Bokeh model, an HTML fragment or None. Its output
is as untrusted as the data it draws: an HTML fragment keeps only harmless markup (no
script, style, event-handler attribute or ``javascript:`` URL, by `sanitise_html`), and
so does the HTML text of a Bokeh model's `~bokeh.models.Markup` widgets; a model reaches
the page as a JSON item written with `_format.embed_json`, like Vigil's own figures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nh3
from bokeh.core.types import ID
from bokeh.embed import json_item
from bokeh.model import Model
from bokeh.models.widgets.markups import Markup

from vigil.plugins import PluginQaValue, load_plugins

from ._format import embed_json

__all__ = [
    "PluginDrawing",
    "QaPlotFigure",
    "call_plugin",
    "draw",
    "qa_plot_figures",
    "sanitise_html",
]

_log = logging.getLogger(__name__)

_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "*": {"class", "title", "lang"}}


def sanitise_html(fragment: str) -> str:
    """*fragment* with only harmless tags and attributes (see the module's docstring)."""
    return nh3.clean(fragment, attributes=_ATTRIBUTES)


@dataclass(frozen=True, slots=True)
class PluginDrawing:
    """A plugin's drawing, ready for a template: a Bokeh JSON item, or sanitised HTML."""

    plot_json: str | None = None
    html: str | None = None


def draw(output: Any, target: str) -> PluginDrawing | None:
    """*output* of a plugin as a drawing for the element *target*; None for None.

    Raises
    ------
    TypeError
        When *output* is neither a Bokeh model, a string nor None.
    """
    if output is None:
        return None
    if isinstance(output, str):
        return PluginDrawing(html=sanitise_html(output))
    if isinstance(output, Model):
        for model in output.references():
            if isinstance(model, Markup) and not getattr(model, "render_as_text", False):
                model.text = sanitise_html(model.text)
        return PluginDrawing(plot_json=embed_json(json_item(output, ID(target))))
    raise TypeError(f"expected a Bokeh model, an HTML string or None, got {type(output).__name__}")


def call_plugin(
    name: str, plugin: Any, *args: Any, target: str
) -> tuple[PluginDrawing | None, str | None]:
    """Call *plugin* and draw its output: (drawing, None), or (None, why it failed).

    A failing plugin is logged and reported on the page; the page itself still renders.
    """
    try:
        return draw(plugin(*args), target), None
    except Exception as exc:
        _log.warning("plugin %r failed: %s: %s", name, type(exc).__name__, exc, exc_info=True)
        return None, f"the plugin {name!r} failed: {type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class QaPlotFigure:
    """A plugin's plot of one QA key of a processing (``_plugins.html``, ``qa_plots``)."""

    key: str
    title: str
    target: str
    drawing: PluginDrawing | None
    error: str | None


def _tuple(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def qa_plot_figures(values: Sequence[Any]) -> list[QaPlotFigure]:
    """The plots that QA plot plugins draw of a processing's QA *values* (`QaValue`):
    one for each QA key that has a plugin, from every unit's and step's values of it."""
    plots = load_plugins().qa_plots
    given: dict[str, list[PluginQaValue]] = {}
    titles: dict[str, str] = {}
    for qa in values:
        if qa.key not in plots:
            continue
        titles.setdefault(qa.key, qa.display_name or qa.key)
        given.setdefault(qa.key, []).append(
            PluginQaValue(
                unit=qa.unit,
                step=qa.step,
                key=qa.key,
                status=qa.status,
                value=qa.value,
                values=tuple(qa.values),
                reference=qa.reference,
                normal=_tuple(qa.normal),
                warning=_tuple(qa.warning),
            )
        )
    out = []
    for number, (key, items) in enumerate(given.items()):
        target = f"qa-plot-{number}"
        drawing, error = call_plugin(key, plots[key], key, items, target=target)
        if drawing is not None or error is not None:
            out.append(QaPlotFigure(key, titles[key], target, drawing, error))
    return out

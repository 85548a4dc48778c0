"""Typed constructors of the Panel objects the explorer builds.

Panel's panes and widgets take unannotated ``**params`` (``Markdown(object=None,
**params)``), so a type checker sees every call to them as untyped and its result as
unknown. The names here are the same constructors, declared to return their own class.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import panel as pn
from panel.io.document import hold
from panel.io.server import Server
from panel.io.threads import StoppableThread

__all__ = [
    "alert",
    "button",
    "dataframe_pane",
    "file_download",
    "holoviews_pane",
    "markdown",
    "one_redraw",
    "param_controls",
    "plain",
    "serve",
    "tabs",
    "tabulator",
]

T = TypeVar("T")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")  # ">" is HTML-escaped


def plain(text: object) -> str:
    """*text* (a name, a path, a message) as literal Markdown: HTML and Markdown
    characters escaped, so that it shows as written and never as markup."""
    # Markdown first: the entities HTML escaping writes (``&#x27;``) hold a "#" that
    # must stay as written.
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", str(text)), quote=True)


def _constructor(cls: type[T]) -> Callable[..., T]:
    """*cls* as a callable returning an instance of *cls*, whatever its parameters."""
    return cls


alert = _constructor(pn.pane.Alert)
button = _constructor(pn.widgets.Button)
dataframe_pane = _constructor(pn.pane.DataFrame)
file_download = _constructor(pn.widgets.FileDownload)
_holoviews = _constructor(pn.pane.HoloViews)


@cache
def _canvas_renderer() -> Any:
    import holoviews as hv

    return hv.renderer("bokeh").instance(webgl=False)


def holoviews_pane(object: Any = None, **params: Any) -> pn.pane.HoloViews:
    """A HoloViews pane whose Bokeh plots draw on a 2D canvas rather than with WebGL.

    Without a GPU (a browser on a server or a remote desktop, Chromium with
    ``--disable-gpu``) WebGL runs in software, and copying each WebGL frame onto the page
    took longer than drawing the whole plot on a canvas; the explorer's plots hold at
    most ``DATASHADE_ROWS`` points (an image above), which a canvas draws quickly.
    """
    params.setdefault("renderer", _canvas_renderer())
    return _holoviews(object, **params)


markdown = _constructor(pn.pane.Markdown)
param_controls = _constructor(pn.Param)
tabs = _constructor(pn.Tabs)
tabulator = _constructor(pn.widgets.Tabulator)

# pn.serve is annotated but for its **kwargs, which makes it untyped to a checker too.
serve: Callable[..., StoppableThread | Server] = pn.serve


@contextmanager
def one_redraw() -> Iterator[None]:
    """Send the page the changes made inside in one message, and let Bokeh list the
    document's models once at the end instead of after each view replaced (in a
    session; outside one, nothing)."""
    with hold(freeze=True):
        yield

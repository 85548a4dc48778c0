"""Typed constructors of the Panel objects the explorer builds.

Panel's panes and widgets take unannotated ``**params`` (``Markdown(object=None,
**params)``), so a type checker sees every call to them as untyped and its result as
unknown. The names here are the same constructors, declared to return their own class.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import TypeVar

import panel as pn
from panel.io.server import Server
from panel.io.threads import StoppableThread

__all__ = [
    "alert",
    "button",
    "dataframe_pane",
    "file_download",
    "holoviews_pane",
    "markdown",
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
holoviews_pane = _constructor(pn.pane.HoloViews)
markdown = _constructor(pn.pane.Markdown)
param_controls = _constructor(pn.Param)
tabs = _constructor(pn.Tabs)
tabulator = _constructor(pn.widgets.Tabulator)

# pn.serve is annotated but for its **kwargs, which makes it untyped to a checker too.
serve: Callable[..., StoppableThread | Server] = pn.serve

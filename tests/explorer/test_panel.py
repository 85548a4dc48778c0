"""`plain`: a name or message shown as written in a Markdown pane, never as markup."""

from __future__ import annotations

import html
import re

import markdown as md
import pytest

from vigil.explorer._panel import plain


@pytest.mark.parametrize(
    "text",
    [
        "the patch's sources",
        '<script>alert("x")</script>',
        "*bold* _under_ `code` [link](javascript:alert(1)) # heading",
        "a & b < c > d \\ e",
    ],
)
def test_plain_text_renders_as_written(text: str) -> None:
    rendered = md.markdown(plain(text))
    assert "<script" not in rendered and "<em>" not in rendered and "<a " not in rendered
    assert "<code>" not in rendered and "<h1>" not in rendered
    # What a browser shows: the rendered HTML's text with its entities decoded.
    shown = html.unescape(re.sub(r"</?p>", "", rendered))
    assert shown == text

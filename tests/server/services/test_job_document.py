"""The quick test of a job document (orjson's output searched once) agrees with the walk
over every value that names the field: whatever the quick test passes, the walk passes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.server.exceptions import InvalidJobError
from vigil.server.services._job_document import MAX_DEPTH, _plainly_storable, _walk

_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=12,
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
)
_DOCUMENTS = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=30,
)


def _walk_passes(document: Any) -> bool:
    try:
        _walk(document, [], 0)
    except InvalidJobError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_TEXT, _DOCUMENTS, max_size=5))
def test_what_the_quick_test_passes_the_walk_passes(document: dict[str, Any]) -> None:
    if _plainly_storable(document):
        assert _walk_passes(document)


def _nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        document = {"a": document}
    return document


@pytest.mark.parametrize("depth", range(MAX_DEPTH - 3, MAX_DEPTH + 3))
def test_the_depth_limit_is_the_walks(depth: int) -> None:
    document = _nested(depth)
    assert _plainly_storable(document) == _walk_passes(document)


@pytest.mark.parametrize(
    "text", ["\x00", "\x08", "\x0b", "\x1f", "\x7f", "\ud800", "plain\\u0000text", "\\b"]
)
def test_a_suspect_character_goes_to_the_walk(text: str) -> None:
    assert not _plainly_storable({"meta": {"note": text}})

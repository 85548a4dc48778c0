"""Formatting for the templates (Jinja2 filters) and links to code and CI.

Untrusted strings (anything a job, a log run or a monitor event carries) reach a page
only through these rules:

- a URL from user data is linked only when `safe_url` accepts it (an absolute http or
  https URL); templates show any other value as plain text (``_macros.link``);
- JSON inside a ``<script type="application/json">`` element is `embed_json`;
- HTML text and attributes are escaped by Jinja2's autoescaping, and values put in a
  query string go through ``urlencode`` (the filter, or `urllib.parse.urlencode`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from ...urls import safe_url

__all__ = [
    "FILTERS",
    "commit_url",
    "compare_url",
    "data_id_text",
    "embed_json",
    "fmt_size",
    "fmt_time",
    "fmt_value",
    "repository_url",
    "safe_url",
    "series_url",
    "short_sha",
]


def fmt_value(value: Any, digits: int = 4) -> str:
    """A measured value for reading: 4 significant digits, ``NaN`` for no number."""
    if value is None:
        return "NaN"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "NaN"
    if number != 0 and (abs(number) >= 1e6 or abs(number) < 1e-3):
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}g}"


def fmt_time(value: datetime | None, seconds: bool = False) -> str:
    """A UTC time as ``2026-05-25 02:00``; empty for None."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def fmt_size(size: int) -> str:
    """A byte count as ``12.3 kB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def short_sha(sha: str | None, length: int = 8) -> str:
    """The first characters of a commit SHA."""
    return (sha or "")[:length]


def data_id_text(data_id: Mapping[str, Any] | None) -> str:
    """A dataId as ``tract=9813 patch=40 band=i``; ``(all)`` when empty."""
    if not data_id:
        return "(all)"
    return " ".join(f"{k}={v}" for k, v in data_id.items())


def _web_base(git_url: str | None) -> str | None:
    if not git_url:
        return None
    url = git_url.strip()
    if url.startswith("git@") and ":" in url:
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    base = safe_url(url)
    return base.removesuffix("/").removesuffix(".git") if base else None


def commit_url(git_url: str | None, sha: str | None) -> str | None:
    """The web page of commit *sha* in repository *git_url* (GitHub/GitLab style)."""
    base = _web_base(git_url)
    if base is None or not sha:
        return None
    return f"{base}/commit/{quote(sha, safe='')}"


def compare_url(git_url: str | None, before: str | None, after: str | None) -> str | None:
    """The web page of the commits from *before* to *after* (GitHub/GitLab style)."""
    base = _web_base(git_url)
    if base is None or not before or not after:
        return None
    return f"{base}/compare/{quote(before, safe='')}...{quote(after, safe='')}"


def repository_url(meta: Mapping[str, Any]) -> str | None:
    """The tested repository of a job: ``meta.git.repository_url`` if any."""
    git = meta.get("git")
    if isinstance(git, Mapping):
        url = git.get("repository_url") or git.get("url")
        if isinstance(url, str):
            return url
    return None


# Characters that could end the script element, open an HTML comment in it, or end a
# JavaScript string (U+2028/9), written as JSON escapes: the text still parses to the
# same value, whatever strings it holds.
_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("'", "\\u0027"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def embed_json(value: Any) -> str:
    """*value* as JSON safe inside ``<script type="application/json">``.

    ``<``, ``>``, ``&``, ``'``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes, so
    no string in *value* can close the element (``</script>``), open a comment
    (``<!--``) or be read as markup; `json.loads` and ``JSON.parse`` give *value* back.
    """
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    for char, escape in _SCRIPT_ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return text


FILTERS = {
    "value": fmt_value,
    "time": fmt_time,
    "size": fmt_size,
    "sha": short_sha,
    "data_id": data_id_text,
    "commit_url": commit_url,
    "compare_url": compare_url,
    "safe_url": safe_url,
}
"""The filters the dashboard's templates use: ``{{ m.value | value }}``..."""


def series_url(metric: str, dataset: str | None, data_id: Mapping[str, Any]) -> str:
    """The metric page of exactly one series: its whole dataId (``{}`` for the aggregate,
    which the metric page then shows rather than its default) and its dataset."""
    params = {"data_id": orjson.dumps(dict(data_id), option=orjson.OPT_SORT_KEYS).decode()}
    if dataset:
        params["dataset"] = dataset
    return f"/metrics/{quote(metric, safe='')}?{urlencode(params)}"

"""Strings from jobs on the pages: URLs linked only for http(s), every string encoded for
where it lands (HTML text and attributes, URL query strings, JSON inside a page, Bokeh
data), so that no value a CI token can send breaks a page or runs in a reader's browser.

The same in Chromium (a ``javascript:`` link clicked, the plot of hostile branches drawn)
is ``tests/browser/test_security.py``; the headers are ``tests/reliability/test_security.py``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from vigil.server.factory import Factory
from vigil.server.handlers.web._format import commit_url, compare_url, embed_json, safe_url

from ._web_data import HTML, MAIN_RMS, History, make_job, store_history
from .test_metric_page import column_length, models_of, plot_item, source_named

# Every string here is a valid git branch name (``git check-ref-format --branch``).
HOSTILE_BRANCHES = ['feat/a"b', "feat/a\\b", "feat/</script>", "feat/<!--x", "feat/a&b=c#d"]

UNSAFE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.domain)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example.org/x",
    "/jobs/1",
    "https:",
    "http://",
    "https://exa mple.org/",
    "",
]


class _Links(HTMLParser):
    """Every URL-valued attribute of a page (href, src, action, formaction)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction") and value is not None:
                self.urls.append(value)


def page_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def is_web_or_local(url: str) -> bool:
    """A link a browser follows without running anything: http(s), a path, a fragment
    (or the empty favicon every page names, ``data:,``)."""
    if url == "data:,":
        return True
    cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
    return cleaned.startswith(("http://", "https://", "/", "#", "?")) and not cleaned.startswith(
        "//"
    )


# The one rule for URLs from user data ---------------------------------------------------------


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_safe_url_refuses_what_is_not_an_absolute_http_url(url: str) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://ci.example.org/job/1",
        "http://jenkins:8080/job/x/12/",
        "HTTPS://GitHub.com/lsst/afw/actions/runs/1?x=1&y=2#z",
    ],
)
def test_safe_url_keeps_http_and_https(url: str) -> None:
    assert safe_url(url) == url
    assert safe_url(f"  {url}\n") == url


def test_code_links_are_built_only_on_http_repositories() -> None:
    assert commit_url("https://github.com/lsst/afw.git", "abc") == (
        "https://github.com/lsst/afw/commit/abc"
    )
    assert commit_url("git@github.com:lsst/afw.git", "abc") == (
        "https://github.com/lsst/afw/commit/abc"
    )
    for hostile in ("javascript:alert(1)//", "git@x:y\njavascript:z", "data:,x", "ftp://x/y"):
        assert commit_url(hostile, "abc") is None
        assert compare_url(hostile, "a", "b") is None
    # A SHA is a path segment, whatever it holds.
    assert (
        commit_url("https://h/r", "a/../../b?c#d") == "https://h/r/commit/a%2F..%2F..%2Fb%3Fc%23d"
    )


# JSON inside a page -----------------------------------------------------------------------------


def test_embedded_json_cannot_end_its_script_element_and_parses_back() -> None:
    value = {
        "branch": "feat/</script><script>alert(1)</script>",
        "comment": "<!-- <script>",
        "quotes": "\"'`",
        "lines": "a\u2028b\u2029c",
        "amp": "&amp; &lt;",
        "slash": "a\\b/c",
    }
    text = embed_json(value)
    for forbidden in ("<", ">", "&", "'", "\u2028", "\u2029"):
        assert forbidden not in text, forbidden
    assert json.loads(text) == value


# Links from a job's metadata ---------------------------------------------------------------------


def _hostile_job(factory: Factory, night: int, ci_url: str) -> int:
    job = make_job(night, rms=4.0, extras=False).to_dict()
    job["identifier"] = f"hostile-{night}"
    job["meta"]["env"]["ci_url"] = ci_url
    job["meta"]["git"]["repository_url"] = "javascript:alert('repo')//"
    job["meta"]["packages"]["afw"]["git_url"] = "javascript:alert('package')//"
    return int(factory.create_job_service().ingest(job, None).id)


@pytest.mark.parametrize(
    "ci_url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.domain)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_a_ci_url_that_is_not_http_is_shown_as_text_never_as_a_link(
    client: TestClient, factory: Factory, ci_url: str
) -> None:
    history = store_history(factory)
    bad = _hostile_job(factory, 10, ci_url)
    pages = ["/", "/jobs", f"/jobs/{bad}", f"/compare?a={history.main[-1]}&b={bad}"]
    for path in pages:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, path
        urls = page_urls(response.text)
        assert urls, path
        unsafe = [u for u in urls if not is_web_or_local(u)]
        assert unsafe == [], (path, unsafe)
        assert not any("alert" in u for u in urls), path
    # The job's page still names its CI run and its commit, without a link.
    job_page = client.get(f"/jobs/{bad}", headers=HTML).text
    assert "CI run" in job_page and "open" in job_page
    # The compare page's twin gives no URL it would not link.
    twin = client.get(f"/compare?a={history.main[-1]}&b={bad}&format=json").json()
    assert twin["b"]["ci_url"] is None
    assert twin["a"]["ci_url"] == "https://ci.example.org/job/nightly/105"


def test_http_ci_and_code_links_are_still_links(client: TestClient, factory: Factory) -> None:
    history = store_history(factory)
    html = client.get(f"/jobs/{history.main[-1]}", headers=HTML).text
    urls = page_urls(html)
    assert "https://ci.example.org/job/nightly/105" in urls
    assert f"https://github.com/example/pipe/commit/{5:040x}" in urls
    listing = page_urls(client.get("/jobs", headers=HTML).text)
    assert "https://ci.example.org/job/nightly/105" in listing


# Branch names, in query strings and in the plot --------------------------------------------------


def _store_hostile_branches(factory: Factory) -> History:
    history = store_history(factory)
    jobs = factory.create_job_service()
    for i, branch in enumerate(HOSTILE_BRANCHES):
        job = make_job(2 + i % 4, branch=branch, rms=6.0 + i, extras=False).to_dict()
        job["identifier"] = f"hostile-branch-{i}"
        history.branch.append(jobs.ingest(job, None).id)
    return history


def test_hostile_branch_names_leave_the_main_line_drawn(
    client: TestClient, factory: Factory
) -> None:
    _store_hostile_branches(factory)
    for x in ("time", "commit"):
        html = client.get(f"/metrics/demo.rms?x={x}", headers=HTML).text
        item = plot_item(html)
        # Each line's source holds its points (not the placeholder the figure cache
        # fills in, as it did when a branch name changed under JSON encoding).
        assert column_length(source_named(item, "branch:main"), "x") == len(MAIN_RMS)
        for branch in HOSTILE_BRANCHES:
            assert column_length(source_named(item, f"branch:{branch}"), "x") == 1, branch
        labels = {m["attributes"]["label"]["value"] for m in models_of(item, "LegendItem")}
        assert set(HOSTILE_BRANCHES) <= labels
    # The by-branch view names each branch as a factor.
    item = plot_item(client.get("/metrics/demo.rms?view=branch", headers=HTML).text)
    factors = models_of(item, "FactorRange")[0]["attributes"]["factors"]
    assert set(HOSTILE_BRANCHES) <= set(factors) and "main" in factors
    points = column_length(source_named(item, "points"), "x")
    assert points == len(MAIN_RMS) + 2 + len(HOSTILE_BRANCHES)


def test_hostile_branch_names_round_trip_through_links_and_forms(
    client: TestClient, factory: Factory
) -> None:
    history = _store_hostile_branches(factory)
    for job_id, branch in zip(history.branch[2:], HOSTILE_BRANCHES, strict=True):
        html = client.get(f"/jobs/{job_id}", headers=HTML).text
        links = [u for u in page_urls(html) if u.startswith(("/jobs?branch=", "/compare?branch="))]
        assert links, branch
        for link in links:
            assert parse_qs(urlsplit(link.replace("&amp;", "&")).query)["branch"] == [branch]
        # Shown as the text it is.
        assert str(escape(branch)) in html, branch
        if str(escape(branch)) != branch:
            assert branch not in html, branch
    index = client.get("/compare?format=json").json()
    by_name = {b["name"]: b["compare_url"] for b in index["branches"]}
    for branch in HOSTILE_BRANCHES:
        assert parse_qs(urlsplit(by_name[branch]).query)["branch"] == [branch]


def test_no_user_string_ends_a_script_element_early(client: TestClient, factory: Factory) -> None:
    _store_hostile_branches(factory)
    for path in ("/metrics/demo.rms", "/metrics/demo.rms?view=branch", "/jobs", "/compare"):
        html = client.get(path, headers=HTML).text
        # Each <script> element ends where the page meant it to: its content has no
        # "</script" and no "<!--", whatever the data.
        for body in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S | re.I):
            assert "<!--" not in body and "<script" not in body.lower(), path
        for _, body in re.findall(
            r"<script([^>]*type=\"application/json\"[^>]*)>(.*?)</script>", html, re.S
        ):
            json.loads(body)

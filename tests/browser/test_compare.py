"""The compare page in Chromium: sorting, swipe, blink, difference threshold, synced zoom."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

Page = Any


@pytest.fixture(scope="session")
def branch(server: str) -> str:
    """A pull-request branch of the demo."""
    branches = httpx.get(f"{server}/compare", params={"format": "json"}).json()["branches"]
    assert branches, "the demo has no branch besides main"
    return str(branches[0]["name"])


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def open_compare(page: Page, branch: str, extra: str = "") -> Page:
    page.goto(f"/compare?branch={branch}{extra}")
    page.wait_for_selector('[data-testid="image-pair"]')
    # The difference images are computed once both images of each pair are decoded.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=diff-canvas]')]"
        ".every(c => c.dataset.above !== undefined)"
    )
    return page


def transform(page: Page, panel: str, index: int = 0) -> str:
    return str(
        page.locator(f'[data-testid="{panel}"] .cmp-layer')
        .nth(index)
        .evaluate("e => e.style.transform")
    )


def test_index_and_branch_page(
    page: Page, branch: str, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto("/compare")
    page.get_by_role("link", name=re.compile("Compare with main")).first.click()
    page.wait_for_selector('[data-testid="delta-table"]')
    assert query(page)["branch"] == [branch]
    title = page.get_by_test_id("compare-title").inner_text()
    assert branch in title and "main" in title
    rows = page.get_by_test_id("delta-row")
    assert rows.count() > 5
    assert page.get_by_test_id("image-pair").count() == 5
    open_compare(page, branch)
    screenshot(page, "compare")


def test_table_sorts_and_the_url_keeps_the_order(page: Page, branch: str) -> None:
    open_compare(page, branch)
    ranks = page.get_by_test_id("delta-row").evaluate_all("rs => rs.map(r => +r.dataset.rank)")
    assert ranks == sorted(ranks)  # worst first
    page.locator('th[data-key="z"]').click()
    zs = page.get_by_test_id("delta-row").evaluate_all(
        "rs => rs.map(r => r.dataset.z).filter(z => z !== '').map(Number)"
    )
    assert zs == sorted(zs, reverse=True) and len(zs) > 3
    assert query(page)["sort"] == ["z"] and query(page)["dir"] == ["desc"]
    page.locator('th[data-key="z"]').click()
    assert query(page)["sort"] == ["z"] and "dir" not in query(page)  # ascending: the default
    # The permalink names the two jobs and keeps the order; opening it restores it.
    permalink = page.get_by_test_id("permalink").get_attribute("href")
    assert re.match(r"/compare\?a=\d+&b=\d+", permalink)
    assert "sort=z" in permalink and "dir=" not in permalink
    page.goto(permalink)
    assert page.locator('th[data-key="z"]').get_attribute("class") == "num sorted-asc"
    zs = page.get_by_test_id("delta-row").evaluate_all(
        "rs => rs.map(r => r.dataset.z).filter(z => z !== '').map(Number)"
    )
    assert zs == sorted(zs)


def test_filters_reload_with_the_query_in_the_url(page: Page, branch: str) -> None:
    open_compare(page, branch)
    total = page.get_by_test_id("delta-row").count()
    page.get_by_test_id("view-swipe").click()
    page.locator('th[data-key="percent"]').click()
    page.get_by_test_id("filter-q").fill("runtime")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=runtime"))
    assert page.get_by_test_id("delta-row").count() == 1 < total
    # The reload keeps the branch, the order and the image view.
    state = query(page)
    assert state["branch"] == [branch] and state["sort"] == ["percent"]
    assert state["view"] == ["swipe"]
    assert page.get_by_test_id("images").get_attribute("data-view") == "swipe"


def test_swipe_slider_moves_the_clip(
    page: Page, branch: str, screenshot: Callable[[Page, str], Path]
) -> None:
    open_compare(page, branch)
    page.get_by_test_id("view-swipe").click()
    clip = page.get_by_test_id("swipe-clip").first
    assert clip.is_visible()
    assert page.get_by_test_id("panel-a").first.is_hidden()
    assert "50%" in clip.evaluate("e => e.style.clipPath")
    slider = page.get_by_test_id("swipe")
    slider.focus()
    slider.press("Home")
    assert clip.evaluate("e => e.style.clipPath").endswith(" 0%)")
    for _ in range(20):
        slider.press("ArrowRight")
    assert clip.evaluate("e => e.style.clipPath").endswith(" 20%)")
    # The clip's left edge moved with it: B shows from 20 % of the panel's width.
    box = page.get_by_test_id("panel-swipe").first.bounding_box()
    divider = page.locator(".cmp-divider").first.bounding_box()
    assert divider["x"] + divider["width"] / 2 == pytest.approx(
        box["x"] + 0.2 * box["width"], abs=3
    )
    assert query(page)["view"] == ["swipe"] and query(page)["swipe"] == ["20"]
    screenshot(page, "compare-swipe")


def test_blink_alternates_and_pauses(page: Page, branch: str) -> None:
    open_compare(page, branch)
    page.get_by_test_id("view-blink").click()
    panel = page.get_by_test_id("panel-blink").first
    rate = page.get_by_test_id("blink-rate")
    rate.focus()
    rate.press("Home")  # fastest: 100 ms
    assert page.get_by_test_id("blink-rate-value").inner_text() == "100"
    assert query(page)["rate"] == ["100"]
    seen = set()
    for _ in range(2):
        for side in ("b", "a"):
            page.wait_for_function(
                "([e, s]) => e.dataset.showing === s", arg=[panel.element_handle(), side]
            )
            seen.add(
                panel.evaluate("e => getComputedStyle(e.querySelector('.cmp-blink-b')).visibility")
            )
    assert seen == {"visible", "hidden"}
    page.get_by_test_id("blink-toggle").click()
    assert page.get_by_test_id("blink-toggle").inner_text() == "Play"
    frozen = panel.get_attribute("data-showing")
    page.wait_for_timeout(350)
    assert panel.get_attribute("data-showing") == frozen
    page.get_by_test_id("blink-toggle").click()
    page.wait_for_function(
        "([e, s]) => e.dataset.showing !== s", arg=[panel.element_handle(), frozen]
    )


def test_difference_threshold_changes_the_canvas(page: Page, branch: str) -> None:
    open_compare(page, branch)
    canvas = page.get_by_test_id("diff-canvas").first
    before = canvas.evaluate("c => c.toDataURL()")
    above = int(canvas.get_attribute("data-above"))
    assert above > 0
    slider = page.get_by_test_id("threshold")
    slider.focus()
    slider.press("End")
    assert page.get_by_test_id("threshold-value").inner_text() == "255"
    assert canvas.get_attribute("data-above") == "0"
    assert "> 255: 0 px" in page.get_by_test_id("diff-label").first.inner_text()
    after = canvas.evaluate("c => c.toDataURL()")
    assert after != before
    slider.press("Home")
    assert int(canvas.get_attribute("data-above")) > above
    assert query(page)["threshold"] == ["0"]


def test_zoom_and_pan_are_synced(page: Page, branch: str) -> None:
    open_compare(page, branch)
    panel_a = page.get_by_test_id("panel-a").first
    panel_a.scroll_into_view_if_needed()
    box = panel_a.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.wheel(0, -600)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=image-pair]').dataset.zoom > 1.5"
    )
    zoomed = transform(page, "panel-a")
    assert "scale(" in zoomed and "scale(1)" not in zoomed
    assert transform(page, "panel-b") == zoomed
    assert transform(page, "panel-diff") == zoomed
    # Another pair keeps its own view.
    assert transform(page, "panel-a", 1) in ("", "translate(0px, 0px) scale(1)")

    panel_b = page.get_by_test_id("panel-b").first.bounding_box()
    page.mouse.move(panel_b["x"] + 150, panel_b["y"] + 150)
    page.mouse.down()
    page.mouse.move(panel_b["x"] + 200, panel_b["y"] + 180, steps=5)
    page.mouse.up()
    panned = transform(page, "panel-b")
    assert panned != zoomed
    assert transform(page, "panel-a") == panned
    # The swipe and blink views show the same part of the image.
    page.get_by_test_id("view-swipe").click()
    scale = re.search(r"scale\(([\d.]+)\)", panned)
    assert scale is not None and scale[1] in transform(page, "panel-swipe")

    page.get_by_test_id("view-side").click()
    page.get_by_test_id("panel-a").first.dblclick()
    assert transform(page, "panel-a") == "translate(0px, 0px) scale(1)"


def test_permalink_restores_the_image_view(page: Page, branch: str) -> None:
    open_compare(page, branch, "&view=blink&rate=700&threshold=40&swipe=30")
    section = page.get_by_test_id("images")
    assert section.get_attribute("data-view") == "blink"
    assert section.get_attribute("data-blinking") == "true"
    assert page.get_by_test_id("blink-rate-value").inner_text() == "700"
    assert page.get_by_test_id("threshold-value").inner_text() == "40"
    assert page.get_by_test_id("swipe").input_value() == "30"
    permalink = page.get_by_test_id("permalink").get_attribute("href")
    for part in ("view=blink", "rate=700", "threshold=40", "swipe=30"):
        assert part in permalink


def test_unknown_branch_is_a_not_found_page(page: Page, allowed_console: list[str]) -> None:
    allowed_console.append(r"status of 404")
    response = page.goto("/compare?branch=no-such-branch")
    assert response is not None and response.status == 404
    assert "no-such-branch" in page.locator("main").inner_text()

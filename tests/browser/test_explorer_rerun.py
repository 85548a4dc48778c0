"""What changed between two reruns, in Chromium: ``vigil explore A --compare B`` lists every
metric of both, the planted change first, a metric of A alone as "missing in B", the
chosen tract in its title; a click on a metric opens its per-group comparison."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog

from .conftest import free_port
from .test_explorer import _env, _start, _stop

PLANTED = "psf_cmodel_mag_diff_i"
"""The metric B moves: its i-band CModel fluxes are 1 % brighter (about +10.8 mmag)."""

ONLY_IN_A = "psf_snr_copy_i"
"""A stored metric that only A has."""


@pytest.fixture(scope="module")
def reruns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``a`` and ``b`` under the returned folder: one demo drawn twice with the same seed,
    `PLANTED` moved in B, `ONLY_IN_A` in A alone."""
    base = tmp_path_factory.mktemp("explore-rerun")
    a, b = base / "a", base / "b"
    for root in (a, b):
        generate_catalog(root, tracts=2, objects_per_tract=4000, visits=6, seed=11)
    for path in sorted((b / "objects").rglob("*.parquet")):
        table = pq.read_table(path).to_pandas()
        table["i_cModelFlux"] = table["i_cModelFlux"] * 1.01
        table.to_parquet(path, index=False)
    for root in (a, b):
        compute_repository(root)
    shutil.copytree(a / "metrics" / "psf_snr_i", a / "metrics" / ONLY_IN_A)
    return base


@pytest.fixture(scope="module")
def rerun_url(reruns: Path, chromium: Path) -> Iterator[str]:
    """``vigil explore A --compare B``."""
    port = free_port()
    command = [sys.executable, "-m", "vigil", "explore", str(reruns / "a")]
    command += ["--compare", str(reruns / "b"), "--port", str(port), "--no-show"]
    url = f"http://127.0.0.1:{port}/explorer"
    process = _start(command, url, _env(), reruns / "explore.log")
    try:
        yield url
    finally:
        _stop(process)


def _overview(page: Any) -> Any:
    """The overview table of the Compare tab (its header names "value in A")."""
    return page.locator(".tabulator").filter(has_text="value in A").first


def _title(page: Any) -> str:
    """The text of the overview's title paragraph."""
    return str(page.locator("p").filter(has_text="What changed, every metric").first.inner_text())


def _cells(table: Any, field: str) -> list[str]:
    texts = table.locator(f'.tabulator-row .tabulator-cell[tabulator-field="{field}"]')
    return [text.strip() for text in texts.all_inner_texts()]


def _open_compare(page: Any, url: str) -> Any:
    page.goto(url)
    page.locator(".bk-tab", has_text="Compare").first.click(timeout=120_000)
    page.get_by_text("What changed, every metric").first.wait_for(timeout=120_000)
    table = _overview(page)
    expect(table.locator(".tabulator-row").first).to_be_visible()
    return table


def test_the_planted_change_is_first_and_a_missing_metric_says_so(
    checked_page: Any, rerun_url: str, screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    table = _open_compare(page, rerun_url)
    metrics = _cells(table, "metric")
    assert metrics[0] == PLANTED
    assert ONLY_IN_A in metrics and len(metrics) == len(set(metrics))
    row = metrics.index(ONLY_IN_A)
    assert _cells(table, "note")[row] == "missing in B"
    assert _cells(table, "status_b")[row] == "missing"
    assert _cells(table, "value_b")[row] in ("", "NaN", "-")  # no value, never a 0
    change = float(_cells(table, "change")[0])
    assert 9.0 < change < 12.5  # 2.5 log10(1.01) = 10.8 mmag
    title = _title(page)
    assert "every tract" in title and "every visit" in title
    screenshot(page, "explorer-rerun-overview")


def test_a_click_opens_the_metric_of_the_chosen_tract(
    checked_page: Any, rerun_url: str, screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    table = _open_compare(page, f"{rerun_url}?metric=psf_snr_i&tract=9814")
    title = _title(page)
    assert "tract 9814" in title
    assert _cells(table, "metric")[0] == PLANTED
    cell = table.locator('.tabulator-cell[tabulator-field="metric"]').filter(
        has_text=re.compile(f"^{PLANTED}$")
    )
    cell.first.click()
    page.get_by_text(re.compile(f"{PLANTED} in b minus in a, tract 9814")).first.wait_for(
        timeout=60_000
    )
    screenshot(page, "explorer-rerun-clicked")

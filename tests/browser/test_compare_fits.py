"""The compare page's FITS pairs in Chromium: the readout under the pointer gives the
values of A, B and A - B at that pixel (as numpy computes them), colour bars carry the
unit, and a broken file shows a note."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from numpy.typing import NDArray

from vigil.server.config import Settings
from vigil.verify import Job, Metric

from .conftest import serve

pytestmark = pytest.mark.browser

Page = Any
START = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
WIDTH, HEIGHT = 48, 32


def _fits(data: NDArray[Any]) -> bytes:
    hdu = fits.PrimaryHDU(data)
    hdu.header["BUNIT"] = "nJy"
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def _images() -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A smooth source over noise, and the same with the source moved and a hot pixel."""
    rng = np.random.default_rng(19)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    source = 900.0 * np.exp(-((x - 20.0) ** 2 + (y - 12.0) ** 2) / 18.0)
    moved = 900.0 * np.exp(-((x - 21.5) ** 2 + (y - 12.0) ** 2) / 18.0)
    a = (source + rng.normal(50.0, 3.0, size=(HEIGHT, WIDTH))).astype(np.float32)
    b = (moved + rng.normal(50.0, 3.0, size=(HEIGHT, WIDTH))).astype(np.float32)
    b[25, 40] = 5000.0
    return a, b


@pytest.fixture(scope="module")
def fits_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh database with two jobs that share a FITS image and a broken FITS file."""
    from vigil.server.database import create_database_engine
    from vigil.server.factory import Factory
    from vigil.server.migration import upgrade

    folder = tmp_path_factory.mktemp("browser-compare-fits")
    settings = Settings(data_dir=folder)
    engine = create_database_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    a, b = _images()
    files = [
        {"calexp.fits": _fits(a), "broken.fits": b"SIMPLE  = this is not FITS"},
        {"calexp.fits": _fits(b), "broken.fits": _fits(b)},
    ]
    ids = []
    with Factory.standalone(settings) as factory:
        for n, artifacts in enumerate(files):
            job = Job(
                metrics=[Metric("fits.rms", unit="nJy")],
                meta={
                    "dataset": "fits_data",
                    "env": {"env_name": "local", "date": (START + timedelta(days=n)).isoformat()},
                    "git": {"branch": "main", "commit": f"{n + 1:040x}"},
                },
                identifier=f"fits-{n}",
            )
            job.measure("fits.rms", 3.0 + n)
            job_id = factory.create_job_service().ingest(job.to_dict(), None).id
            for name, content in artifacts.items():
                factory.create_artifact_service().upload(job_id, name, io.BytesIO(content))
            ids.append(job_id)
    return {"folder": folder, "a": a, "b": b, "ids": ids}


@pytest.fixture(scope="module")
def server(fits_data: dict[str, Any], chromium: Path) -> Iterator[str]:
    """``vigil serve`` on the FITS database (replaces the demo server in this module)."""
    folder = fits_data["folder"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATA_DIR"] = str(folder)
    with serve(env, folder / "server.log") as base:
        yield base


def _open(page: Page, fits_data: dict[str, Any]) -> Any:
    a_id, b_id = fits_data["ids"]
    response = page.goto(f"/compare?a={a_id}&b={b_id}")
    assert response is not None and response.status == 200
    pair = page.locator('[data-testid="fits-pair"][data-name="calexp.fits"]')
    pair.and_(page.locator('[data-state="drawn"]')).wait_for()
    return pair


def _hover_pixel(page: Page, panel: Any, col: int, row: int) -> None:
    """Move the pointer to the centre of FITS pixel (col, row) of an unzoomed panel."""
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    assert box is not None
    scale = box["width"] / WIDTH  # the image fills the panel's width
    x = box["x"] + (col + 0.5) * scale
    y = box["y"] + (HEIGHT - 1 - row + 0.5) * scale  # FITS row 1 is at the bottom
    page.mouse.move(x, y)


def test_readout_gives_the_values_numpy_gives(page: Page, fits_data: dict[str, Any]) -> None:
    a, b = fits_data["a"], fits_data["b"]
    expected_difference = a.astype(np.float64) - b.astype(np.float64)
    pair = _open(page, fits_data)
    readout = pair.locator('[data-testid="fits-readout"]')
    for panel_id, (col, row) in (
        ("fits-panel-a", (20, 12)),
        ("fits-panel-diff", (40, 25)),  # the hot pixel of B
        ("fits-panel-b", (3, 30)),
    ):
        _hover_pixel(page, pair.locator(f'[data-testid="{panel_id}"]'), col, row)
        page.wait_for_function(
            "([el, c, r]) => el.dataset.col === String(c) && el.dataset.row === String(r)",
            arg=[readout.element_handle(), col, row],
        )
        shown = readout.evaluate("el => ({...el.dataset, text: el.textContent})")
        assert float(shown["a"]) == a[row, col]
        assert float(shown["b"]) == b[row, col]
        assert float(shown["diff"]) == pytest.approx(expected_difference[row, col], rel=1e-6)
        assert f"x {col + 1}, y {row + 1}:" in shown["text"] and "nJy" in shown["text"]
    assert float(shown["diff"]) != 0.0

    # One stretch for A and B, a symmetric one for A - B, both in the images' unit.
    bar = pair.locator('[data-testid="colorbar-images"]')
    both = np.concatenate([a.ravel(), b.ravel()]).astype(np.float64)
    assert float(bar.get_attribute("data-low") or "nan") == pytest.approx(np.percentile(both, 0.5))
    assert bar.get_attribute("data-unit") == "nJy"
    assert "nJy" in bar.inner_text()
    diff_bar = pair.locator('[data-testid="colorbar-diff"]')
    low, high = (float(diff_bar.get_attribute(k) or "nan") for k in ("data-low", "data-high"))
    assert low == -high and high > 0


def test_the_readout_follows_zoom(page: Page, fits_data: dict[str, Any]) -> None:
    a, b = fits_data["a"], fits_data["b"]
    pair = _open(page, fits_data)
    panel = pair.locator('[data-testid="fits-panel-a"]')
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8)
    page.mouse.wheel(0, -600)
    page.wait_for_function("(el) => Number(el.dataset.zoom) > 1.5", arg=pair.element_handle())
    zoom = float(pair.get_attribute("data-zoom") or "1")
    # The point under the pointer stays put when zooming: the same pixel as before.
    col = int(0.8 * WIDTH)
    row = HEIGHT - 1 - int(0.8 * box["height"] / box["width"] * WIDTH)
    page.mouse.move(box["x"] + box["width"] * 0.8 + 1, box["y"] + box["height"] * 0.8 + 1)
    readout = pair.locator('[data-testid="fits-readout"]')
    page.wait_for_function("(el) => el.dataset.col !== undefined", arg=readout.element_handle())
    shown = readout.evaluate("el => ({...el.dataset})")
    got_col, got_row = int(shown["col"]), int(shown["row"])
    assert abs(got_col - col) <= 1 and abs(got_row - row) <= 1, (zoom, shown)
    assert float(shown["a"]) == a[got_row, got_col]
    assert float(shown["b"]) == b[got_row, got_col]


def test_a_broken_fits_file_shows_a_note(page: Page, fits_data: dict[str, Any]) -> None:
    _open(page, fits_data)
    broken = page.locator('[data-testid="fits-pair"][data-name="broken.fits"]')
    note = broken.locator('[data-testid="fits-note"]')
    note.wait_for()
    assert "broken.fits of job A cannot be read as FITS" in note.inner_text()
    assert broken.get_attribute("data-state") == "note"
    assert broken.locator('[data-testid="fits-body"]').is_hidden()

"""The explorer in Chromium: a visit metric on the focal plane, each detector drawn in its
colour, its number in the hover, and a tap that drills to it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vigil.explorer._focal_plane import detector_medians, layout, worst_visit
from vigil.explorer._outlines import focal_frames
from vigil.explorer.query import Repository

from .test_explorer import _plots_drawn, explore_url, repo_root

__all__ = ["explore_url", "repo_root"]  # the fixtures this module uses

METRIC = "visit_psf_size_residual_i"

# The focal plane's boxes: their data, the colour Bokeh's own mapper gives each value,
# and where on the screen each box's centre is drawn.
BOXES = """() => {
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.type !== 'GlyphRenderer' || !m.glyph || m.glyph.type !== 'Quad') continue;
    const data = m.data_source.data;
    if (!data.status) continue;
    const plot = [...doc.all_models].find(p => p.renderers && p.renderers.includes(m));
    const view = doc.views_manager.find_one(plot);
    if (!view) return null;
    const mapper = m.glyph.fill_color.transform;
    const rgba = mapper.rgba_mapper.v_compute([...data.value]);
    const rect = view.canvas_view.el.getBoundingClientRect();
    return [...data.detector].map((d, i) => {
      const x = (data.x_min[i] + data.x_max[i]) / 2, y = (data.y_min[i] + data.y_max[i]) / 2;
      return {
        detector: Number(d), value: data.value[i], status: String(data.status[i]),
        width: Math.abs(view.frame.x_scale.compute(data.x_max[i])
                        - view.frame.x_scale.compute(data.x_min[i])),
        colour: [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]],
        px: rect.left + view.frame.x_scale.compute(x),
        py: rect.top + view.frame.y_scale.compute(y),
      };
    });
  }
  return null;
}"""


def _boxes(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(BOXES)
    return found


def _pixel(page: Any, box: dict[str, Any]) -> tuple[int, int, int]:
    """The colour drawn at the centre of *box*."""
    png = page.screenshot(clip={"x": box["px"], "y": box["py"], "width": 1, "height": 1})
    pixel: Any = Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))
    return int(pixel[0]), int(pixel[1]), int(pixel[2])


def test_a_visit_metric_on_the_focal_plane(
    checked_page: Any,
    explore_url: str,
    repo_root: Path,
    screenshot: Callable[[Any, str], Path],
) -> None:
    page = checked_page
    with Repository(repo_root / "demo") as repo:
        values = repo.aggregate(METRIC, ["visit", "detector"])
        places = layout(focal_frames(repo), sorted(values["visit"].unique()))
    medians = detector_medians(values).set_index("detector")["value"]

    page.goto(f"{explore_url}?metric={METRIC}")
    page.get_by_text("Focal plane").first.wait_for(timeout=120_000)
    _plots_drawn(page, 4)
    page.get_by_text("Focal plane").first.scroll_into_view_if_needed()
    page.mouse.wheel(0, 400)
    page.wait_for_function(f"() => ({BOXES})() !== null")
    page.wait_for_timeout(500)
    boxes = _boxes(page)

    # Every detector of the layout is drawn, with its median over the band's visits.
    assert [b["detector"] for b in boxes] == places["detector"].tolist()
    valued = [b for b in boxes if b["detector"] in medians.index]
    assert len(valued) > len(boxes) / 2
    for box in valued:
        assert box["value"] == pytest.approx(medians[box["detector"]])
    # Each box is painted in the colour its value maps to (the low and high ends differ).
    finite = [b for b in valued if np.isfinite(b["value"]) and b["width"] > 6]
    low = min(finite, key=lambda b: b["value"])
    high = max(finite, key=lambda b: b["value"])
    assert low["colour"] != high["colour"]
    for box in (low, high):
        assert _pixel(page, box) == pytest.approx(tuple(box["colour"]), abs=6)
    screenshot(page, "explorer-focal-plane")

    # The hover names the detector; a tap opens it in its worst visit.
    target = max(finite, key=lambda b: b["width"])
    detector = target["detector"]
    page.mouse.move(target["px"], target["py"])
    tooltip = page.locator(".bk-tooltip-content").filter(
        has_text=re.compile(rf"detector:\s*{detector}\b")
    )
    tooltip.first.wait_for()
    with Repository(repo_root / "demo") as repo:
        info = next(i for i in repo.metrics() if i.name == METRIC)
    visit = worst_visit(values, detector, info.acceptable)
    page.mouse.click(target["px"], target["py"])
    page.get_by_text(f"{METRIC} / visit {visit} / detector {detector}").first.wait_for(
        timeout=60_000
    )
    # The focal plane now shows that visit's values.
    page.get_by_text(
        re.compile(r"detectors, \d+ outside the range \(heavy outline\); tap one to open it\.$")
    ).first.wait_for()

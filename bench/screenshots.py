"""The README's screenshots: the demo served by ``vigil serve``, photographed by Chromium.

    .venv/bin/python bench/screenshots.py [--out docs/images] [--dir bench/.work/screenshots]

Loads the six-month demo (`vigil.demo`, once: the folder is reused), starts a server on
127.0.0.1, and writes PNGs of the overview, a metric page (PA1 on HSC, band i, with its
injected regression), a deblender job with its residual images, and the compare page of
the pull request whose spline background made the residuals worse (its first push
against main): the delta table and the residual images with their difference. Each PNG
is reduced to a 256-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import CHROMIUM, CHROMIUM_ARGS, PLOTS_DRAWN, WORK, start_server

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1280


@dataclass(slots=True)
class Shot:
    """One screenshot: the page, what to do first, and which part to keep."""

    name: str
    path: str
    height: int = 900
    element: str | None = None
    action: str | None = None


def demo_pair(folder: Path) -> tuple[int, int]:
    """Load the demo; return the main job and the branch job of the residual regression."""
    from vigil.demo import DemoHistory, injected_changes
    from vigil.demo.loader import demo_settings, load_history, prepare_database
    from vigil.server.factory import Factory
    from vigil.server.storage import JobFilter

    settings = demo_settings(folder)
    prepare_database(settings)
    print(f"Loading the demo into {folder} (once) ...", flush=True)
    load_history(settings, DemoHistory())
    change = next(
        c
        for c in injected_changes()
        if c.metric == "deblend.blend_residual_rms" and c.branch != "main"
    )
    with Factory.standalone(settings) as factory:
        jobs = factory.create_job_service()
        branch_job = jobs.get_by_identifier(change.identifier)
        facts = branch_job.facts
        baseline = jobs.list_jobs(
            JobFilter(
                branch=settings.default_branch,
                dataset=facts.dataset,
                environment=facts.environment,
                until=facts.run_at,
            ),
            limit=1,
        ).items[0]
    return baseline.id, branch_job.id


def shots(a: int, b: int, job: int) -> list[Shot]:
    """What to photograph."""
    return [
        Shot("overview", "/", height=1000),
        Shot(
            "metric",
            "/metrics/validate_drp.PA1?dataset=validation_data_hsc&band=i&period=all",
            height=900,
        ),
        Shot("job", f"/jobs/{job}", height=1400),
        Shot("compare", f"/compare?a={a}&b={b}", height=1250),
        Shot(
            "compare-images",
            f"/compare?a={a}&b={b}&threshold=40",
            element='[data-testid="images"]',
            action="zoom",
        ),
    ]


def palette_png(png: bytes) -> bytes:
    """*png* with a 256-colour palette (Pillow, installed with Bokeh)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    reduced = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return out.getvalue()


def photograph(base: str, out: Path, todo: list[Shot]) -> None:
    """Write each shot of *todo* as ``out/<name>.png``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for shot in todo:
                page = browser.new_page(viewport={"width": WIDTH, "height": shot.height})
                page.goto(base + shot.path)
                page.wait_for_function(PLOTS_DRAWN, timeout=60_000)
                if shot.action == "zoom":
                    _zoom_first_pair(page)
                page.wait_for_timeout(300)
                if shot.element:
                    # The sticky top bar would cover the element's first lines.
                    page.add_style_tag(content=".topbar { position: static; }")
                    png = page.locator(shot.element).screenshot()
                else:
                    png = page.screenshot()
                data = palette_png(png)
                target = out / f"{shot.name}.png"
                target.write_bytes(data)
                print(f"  {target}: {len(data) / 1024:.0f} KB", flush=True)
                page.close()
        finally:
            browser.close()


def _zoom_first_pair(page: Any) -> None:
    """Show only the first two image pairs, the first zoomed on its brightest source."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=diff-canvas]')]"
        ".every(c => c.dataset.above !== undefined)"
    )
    page.evaluate(
        "() => document.querySelectorAll('[data-testid=image-pair]')"
        ".forEach((e, i) => { if (i > 1) e.remove(); })"
    )
    panel = page.get_by_test_id("panel-a").first
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.wheel(0, -700)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--dir", type=Path, default=WORK / "screenshots")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    a, b = demo_pair(args.dir)
    server, base = start_server(args.dir)
    try:
        photograph(base, args.out.resolve(), shots(a, b, job=a))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

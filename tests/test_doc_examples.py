"""The Python examples of the documentation run: each page's blocks in order, in a scratch
folder, on the names the page's text gives them (a series of values, a demo repository).

Every page of ``docs/`` with a Python block is either run here (`SETUP`), run by a test of
its own (`RUN_ELSEWHERE`), or set aside with the reason (`NOT_RUN`), so a new page with
examples cannot go untested unnoticed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vigil.demo.catalog import generate_catalog

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _series(folder: Path, conformance: Path) -> dict[str, Any]:
    # A main line that steps up half way, and a branch result above it.
    rng = np.random.default_rng(3)
    values = list(np.r_[rng.normal(10, 0.1, 20), rng.normal(11, 0.1, 20)])
    return {"values": values, "main_values": values[:20], "branch_value": 10.8}


def _verify_metrics(folder: Path, conformance: Path) -> dict[str, Any]:
    shutil.copytree(conformance / "lsst-verify" / "verify_metrics", folder / "verify_metrics")
    return {"residuals": np.random.default_rng(1).normal(0, 15, 200)}


def _demo_metrics(folder: Path, conformance: Path) -> dict[str, Any]:
    shutil.copytree(
        conformance / "lsst-verify" / "verify_metrics", folder / "path" / "to" / "verify_metrics"
    )
    return {}


def _repositories(folder: Path, conformance: Path) -> dict[str, Any]:
    for name, seed in (("demo-repo", 1), ("other-repo", 2)):
        generate_catalog(folder / name, tracts=2, objects_per_tract=300, visits=2, seed=seed)
    return {}


SETUP: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "analysis.md": _series,
    "compute.md": lambda folder, conformance: {},
    "demo.md": _demo_metrics,
    "explorer.md": _repositories,
    "repository.md": _repositories,
    "sdk.md": _verify_metrics,
}
"""Pages run here, with what their text assumes: files in the scratch folder, and names."""

RUN_ELSEWHERE = {
    "lsst.md": "tests/butler/test_docs.py",
    "plugins.md": "tests/plugins/test_docs.py",
    "regressions.md": "tests/server/regressions/test_webhook_security.py",
}
"""Pages whose examples a test of their own runs."""

NOT_RUN = {
    "client.md": "dispatches to a server at vigil.example.org",
    "dashboard.md": "reads a running server and shows plots in a notebook",
    "monitor.md": "sends the logs of the reader's own pipeline to a server",
    "sasquatch.md": "needs lsst.analysis.tools, a Butler dataset and a server",
}
"""Pages whose examples need what a test does not have, with the reason."""


def python_blocks(page: str) -> list[str]:
    """The Python blocks of *page*, in order."""
    return re.findall(r"^```python\n(.*?)^```$", (DOCS / page).read_text(), re.M | re.S)


def test_every_page_with_examples_is_run_or_set_aside() -> None:
    pages = {p.name for p in DOCS.glob("*.md") if python_blocks(p.name)}
    listed = [*SETUP, *RUN_ELSEWHERE, *NOT_RUN]
    assert sorted(listed) == sorted(set(listed)), "a page is listed twice"
    assert pages == set(listed)


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(SETUP))
def test_python_examples_run(page: str, tmp_path: Path, conformance: Path) -> None:
    scope = SETUP[page](tmp_path, conformance)
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        for block in python_blocks(page):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(block, str(DOCS / page), "exec"), scope)
    finally:
        os.chdir(cwd)

"""docs/plugins.md: each block of code is the example plugin's file, each Python block runs,
and the console lines run in a scratch folder as a user would type them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from vigil.plugins import PluginBlob, PluginQaValue

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
EXAMPLE = Path(__file__).resolve().parent / "vigil_example"
BIN = Path(sys.executable).parent


def _blocks() -> list[tuple[str, str, str]]:
    """(comment, kind, text) of every fenced block that follows an HTML comment."""
    pattern = r"^<!-- (.*?) -->\n```(\w+)\n(.*?)^```$"
    return [(m[1], m[2], m[3]) for m in re.finditer(pattern, DOC.read_text(), re.M | re.S)]


def test_every_block_is_the_example_plugin() -> None:
    blocks = _blocks()
    assert [kind for _, kind, _ in blocks] == ["toml", "console", "python", "python", "python"]
    for comment, kind, text in blocks:
        if kind == "console":
            continue
        whole = not comment.startswith("part of ")
        path = ROOT / comment.removeprefix("part of ")
        assert path.is_file(), comment
        if whole:
            assert text == path.read_text(), f"{comment} differs from docs/plugins.md"
        else:
            assert text in path.read_text(), f"{comment} does not hold the block"


def _run(number: int) -> types.ModuleType:
    """The Python block *number* of the page, executed as a module."""
    comment, _, text = _blocks()[number]
    module = types.ModuleType(f"docs_plugins_{Path(comment).stem}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(compile(text, comment, "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


def test_each_python_block_runs() -> None:
    metrics = _run(2)
    aggregator, definition = metrics.METRICS
    assert aggregator.reduce(np.arange(101.0)) == 50.0
    assert definition.bind("i").describe()["compute"] == "i_cModelFlux / i_psfFlux"

    blobs = _run(3)
    blob = PluginBlob(
        "b1", "example.residuals", {"x": {"value": [1, 2]}, "residual": {"value": [0.1, -0.1]}}
    )
    assert blobs.residuals(blob).title.text == "Residuals by position"
    table = blobs.summary(PluginBlob("b2", "summary", {"note": {"value": "<b>"}}))
    assert (
        table == '<table class="example-summary"><tr><td>note</td><td>&lt;b&gt;</td></tr></table>'
    )

    qa = _run(4)
    values = [PluginQaValue("b0", "CHECK_CCDs", "NOISE_AMP", "normal", 3.5, (3.5, 3.4, 3.6, 3.5))]
    assert qa.noise_per_amplifier("NOISE_AMP", values).title.text == "NOISE_AMP per amplifier"


@pytest.mark.slow
def test_the_console_lines_run(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "vigil_example")
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(site)
    (_, _, console) = _blocks()[1]
    outputs = []
    for line in console.splitlines():
        argv = shlex.split(line.removeprefix("$ "))
        if argv[:2] == ["pip", "install"]:
            # Into a folder of the test's rather than the virtualenv, and offline.
            argv = [sys.executable, "-m", *argv, "--no-deps", "--quiet", "--target", str(site)]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert (
        "NOISE_AMP = vigil_example.qa:noise_per_amplifier  (vigil-example)  loaded" in (outputs[1])
    )
    assert sorted(p.name for p in (tmp_path / "repo" / "metrics").iterdir()) == [
        "example_flux_ratio_g",
        "example_flux_ratio_i",
        "example_flux_ratio_r",
    ]

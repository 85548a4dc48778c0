"""Entry points are read once, and a broken plugin is left out with its reason, never
stopping Vigil."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.compute import UnknownMetricError, aggregator_from_name, default_registry
from vigil.plugins import BLOB_RENDERERS, METRICS, QA_PLOTS, Plugins, clear_plugins, load_plugins

BIN = Path(sys.executable).parent

BROKEN = {
    "vigil_broken/__init__.py": (
        "from vigil.compute import Median, MetricDefinition, SignalToNoise\n"
        "from vigil.compute.aggregators import Percentile\n"
        "NOT_A_METRIC = 42\n"
        "CLASH = MetricDefinition(name='psf_snr_{band}', description='again',"
        " quantity=SignalToNoise())\n"
        "SHADOWED = MetricDefinition(name='psf_snr_z', description='again',"
        " quantity=SignalToNoise())\n"
        "BUILTIN_AGGREGATOR = Median()\n"
        "TWICE = [MetricDefinition(name='broken_twice', description='once',"
        " quantity=SignalToNoise()), MetricDefinition(name='broken_twice',"
        " description='twice', quantity=SignalToNoise())]\n"
        "RENDERER = 'not callable'\n"
        "def plot(key, values):\n"
        "    return None\n"
    ),
    "vigil_broken-0.1.dist-info/METADATA": (
        "Metadata-Version: 2.1\nName: vigil-broken\nVersion: 0.1\n"
    ),
    "vigil_broken-0.1.dist-info/entry_points.txt": (
        f"[{METRICS}]\n"
        "missing = vigil_broken.nowhere:METRICS\n"
        "number = vigil_broken:NOT_A_METRIC\n"
        "clash = vigil_broken:CLASH\n"
        "shadowed = vigil_broken:SHADOWED\n"
        "median = vigil_broken:BUILTIN_AGGREGATOR\n"
        "twice = vigil_broken:TWICE\n"
        f"[{BLOB_RENDERERS}]\n"
        "example.residuals = vigil_broken:RENDERER\n"
        f"[{QA_PLOTS}]\n"
        "NOISE_AMP = vigil_broken:plot\n"
    ),
}


@pytest.fixture
def broken_site(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution whose every entry point is wrong (one QA plot aside),
    on ``sys.path`` beside the example."""
    site = tmp_path / "broken"
    for name, text in BROKEN.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    sys.path.append(str(site))
    clear_plugins()
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("vigil_broken", None)
    clear_plugins()


def test_without_plugins_vigil_is_unchanged() -> None:
    clear_plugins()
    loaded = load_plugins()
    assert loaded.entries == [] and load_plugins() is loaded  # read once
    assert [d.name for d in default_registry().definitions()][
        -1
    ] == "visit_psf_size_residual_{band}"
    with pytest.raises(ValueError, match="unknown aggregator 'iqr'"):
        aggregator_from_name("iqr")


def test_the_example_adds_a_metric_an_aggregator_a_renderer_and_a_qa_plot(
    example_plugins: Plugins,
) -> None:
    assert example_plugins.errors == []
    assert {(e.group, e.name, e.distribution) for e in example_plugins.entries} == {
        (METRICS, "flux_ratio", "vigil-example"),
        (BLOB_RENDERERS, "example.residuals", "vigil-example"),
        (BLOB_RENDERERS, "example.summary_metric", "vigil-example"),
        (QA_PLOTS, "NOISE_AMP", "vigil-example"),
    }
    registry = default_registry()
    bound = registry.resolve("example_flux_ratio_i")
    assert bound.describe()["compute"] == "i_cModelFlux / i_psfFlux"
    assert bound.selection() == ["i_extendedness < 0.5", "i_psfFlux > 0"]
    assert [m.name for m in registry.expand("example_flux_ratio_{band}", ["g", "r"])] == [
        "example_flux_ratio_g",
        "example_flux_ratio_r",
    ]
    assert aggregator_from_name("iqr").name == "iqr"


def test_a_broken_plugin_is_left_out_with_its_distribution_and_reason(
    example_plugins: Plugins, broken_site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = load_plugins()
    reasons = {e.name: e.error for e in loaded.errors}
    assert all(e.distribution == "vigil-broken" for e in loaded.errors)
    assert "ModuleNotFoundError" in (reasons["missing"] or "")
    assert "got int" in (reasons["number"] or "")
    assert "clashes with the built-in 'psf_snr_{band}'" in (reasons["clash"] or "")
    assert "clashes with the built-in 'psf_snr_{band}'" in (reasons["shadowed"] or "")
    assert "'median' is a built-in" in (reasons["median"] or "")
    assert "clashes with 'broken_twice'" in (reasons["twice"] or "")
    assert "expected a function, got str" in (reasons["example.residuals"] or "")
    # The second QA plot of one key is refused; the example's first one stays.
    assert "already has a vigil.qa_plots entry point" in (reasons["NOISE_AMP"] or "")
    assert loaded.qa_plots["NOISE_AMP"].__module__ == "vigil_example.qa"
    assert "left out" in caplog.text and "vigil-broken" in caplog.text
    # What works still works.
    assert default_registry().resolve("example_flux_ratio_r").name == "example_flux_ratio_r"
    assert default_registry().resolve("psf_snr_z").definition.name == "psf_snr_{band}"
    with pytest.raises(UnknownMetricError):
        default_registry().resolve("broken_twice")  # an entry point is added whole or not
    result = CliRunner().invoke(app, ["plugins"])
    assert result.exit_code == 1
    assert "example.residuals = vigil_example.blobs:residuals  (vigil-example)  loaded" in (
        result.output
    )
    assert "missing = vigil_broken.nowhere:METRICS  (vigil-broken)  left out:" in result.output


def test_vigil_plugins_lists_what_is_installed(example_site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(example_site)}
    listed = subprocess.run(
        [str(BIN / "vigil"), "plugins"], env=env, capture_output=True, text=True, check=True
    )
    assert listed.stdout.count("(vigil-example)  loaded") == 4
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    empty = subprocess.run(
        [str(BIN / "vigil"), "plugins"], env=bare, capture_output=True, text=True, check=True
    )
    assert empty.stdout.startswith("No plugin is installed")

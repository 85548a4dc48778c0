"""``vigil compute`` computes a plugin's metric, with its own actions, into a repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vigil.demo.catalog import generate_catalog

BIN = Path(sys.executable).parent


def test_vigil_compute_computes_the_plugin_metric(example_site: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    generate_catalog(root, tracts=1, objects_per_tract=3000, visits=2, seed=5)
    env = {**os.environ, "PYTHONPATH": str(example_site)}
    done = subprocess.run(
        [str(BIN / "vigil"), "compute", str(root), "--metric", "example_flux_ratio_{band}"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((root / "vigil-repo.yaml").read_text())
    entry = config["metrics"]["example_flux_ratio_r"]
    assert entry["definition"] == "example_flux_ratio_{band}"
    assert entry["aggregate"] == "iqr"
    assert entry["selection"] == ["r_extendedness < 0.5", "r_psfFlux > 0"]

    stored = pd.read_parquet(root / "metrics" / "example_flux_ratio_r")
    objects = pd.read_parquet(root / "objects")
    stars = objects[(objects["r_extendedness"] < 0.5) & (objects["r_psfFlux"] > 0)]
    assert len(stored) == len(stars) > 0
    expected = (stars["r_cModelFlux"] / stars["r_psfFlux"]).to_numpy(dtype=float)
    np.testing.assert_allclose(np.sort(stored["value"].to_numpy(dtype=float)), np.sort(expected))

    # Without the plugin the metric is unknown: a one-line error, exit 1.
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    unknown = subprocess.run(
        [str(BIN / "vigil"), "compute", str(root), "--metric", "example_flux_ratio_r"],
        env=bare,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 1
    assert "example_flux_ratio" in unknown.stderr and "Traceback" not in unknown.stderr

"""The simulated quick-look pipeline: DESI's steps and markers, QA files, failures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vigil.demo import quicklook
from vigil.monitor.config import HeaderSpec
from vigil.monitor.header import read_exposure
from vigil.monitor.mapping import load_step_mapping


@pytest.mark.parametrize("name", ["science", "arc", "flat", "metrics"])
def test_the_built_in_mappings_are_desi_s(mapping_dir: Path, name: str) -> None:
    original = json.loads((mapping_dir / f"ql_mapping_{name}.json").read_text())
    built_in = quicklook.BUILTIN_TRENDS if name == "metrics" else quicklook.BUILTIN_MAPPINGS[name]
    assert built_in == original


def test_exposures_are_fits_files_whose_header_the_monitor_reads(tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    generator = quicklook.ExposureGenerator(tmp_path, seed=7, first_expid=41, start=start)
    paths = [generator.write_next() for _ in range(6)]
    assert paths[0].name == "desi-00000041.fits"
    exposures = [read_exposure(p, HeaderSpec()) for p in paths]
    assert [e.exposure for e in exposures] == [f"{n:08d}" for n in range(41, 47)]
    assert [e.flavor for e in exposures][:2] == ["arc", "flat"]
    first = exposures[0]
    assert first.night == "20260228" and first.observed_at == start
    assert 1.0 <= (first.airmass or 0) <= 2.0 and first.exposure_time == 5.0
    science = [e for e in exposures if e.flavor == "science"]
    assert science and all(e.program in {"dark", "bright", "grey", "backup"} for e in science)
    assert all(e.seeing and e.sky_brightness for e in exposures)
    # Same seed, same exposures.
    again = quicklook.ExposureGenerator(tmp_path / "again", seed=7, first_expid=41, start=start)
    assert (
        again.header()
        == generator.__class__(tmp_path, seed=7, first_expid=41, start=start).header()
    )


def _unit(
    tmp_path: Path, camera: str, exposure: str, flavor: str, failure_rate: float
) -> subprocess.CompletedProcess[str]:
    command = [
        part.format(
            unit=camera,
            exposure=exposure,
            flavor=flavor,
            night="20260301",
            program="dark",
            path="",
            output=str(tmp_path),
        )
        for part in quicklook.unit_command(step_seconds=0, seed=3, failure_rate=failure_rate)
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("flavor", ["science", "arc", "flat"])
def test_a_camera_logs_every_marker_and_writes_its_qa(
    mapping_dir: Path, tmp_path: Path, flavor: str
) -> None:
    result = _unit(tmp_path, "r3", "00000012", flavor, failure_rate=0.0)
    assert result.returncode == 0, result.stderr
    steps = load_step_mapping(mapping_dir / f"ql_mapping_{flavor}.json").steps
    for step in steps:
        assert step.start in result.stdout and step.end in result.stdout
    for step in steps:
        for qa in step.qa:
            document = json.loads((tmp_path / f"ql-{qa.name}-r3-00000012.json").read_text())
            assert qa.key in document["METRICS"] and f"{qa.key}_NORMAL_RANGE" in document["PARAMS"]
    assert all(line.split(":", 1)[0] in {"INFO", "WARNING"} for line in result.stdout.splitlines())


def test_a_failing_camera_writes_a_traceback_and_exits_1(tmp_path: Path) -> None:
    result = _unit(tmp_path, "z9", "00000005", "science", failure_rate=1.0)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: no good fibers found on camera z9" in result.stderr


def test_the_script_imports_only_the_standard_library() -> None:
    code = (
        "import runpy, sys; sys.argv = ['x', '--help'];\n"
        f"try: runpy.run_path({str(quicklook.PIPELINE_SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('vigil', 'numpy', 'astropy'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"

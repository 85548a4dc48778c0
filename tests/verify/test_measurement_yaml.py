from __future__ import annotations

from pathlib import Path

import astropy.units as u
import pytest

from vigil.verify import DocumentError, Job, Measurement


def test_faro_measurements_with_datum_blobs(conformance: Path) -> None:
    folder = conformance / "lsst-verify/faro-expected"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) == 16
    measurements = [Measurement.read(f) for f in files]
    am1 = Measurement.read(folder / "AM1_expected_0_i.yaml")
    assert am1.metric == "AM1"
    assert am1.quantity.unit == u.marcsec
    (blob,) = am1.blobs
    assert blob["bins"].unit == "marcsec"
    assert blob["bins"].quantity.unit == u.marcsec
    assert len(blob["values"].value) == len(blob["bins"].value) - 1 or len(blob["values"].value)
    assert all(m.identifier for m in measurements)


@pytest.mark.parametrize("repo", ["metricvalue_repo1", "metricvalue_repo2"])
def test_butler_measurement_trees(conformance: Path, tmp_path: Path, repo: str) -> None:
    files = sorted((conformance / "lsst-verify/verify-tests" / repo).rglob("metricvalue_*.yaml"))
    assert files
    job = Job.from_measurement_files(files, meta={"instrument": "TestCam"})
    assert len(job.measurements) == len(files)
    assert {m.metric.split(".")[0] for m in job.measurements} == {"verify"}
    again = Job.read(job.write(tmp_path / "gathered.verify.json"))
    assert [m.value for m in again.measurements] == [m.value for m in job.measurements]
    assert len(again.blobs) == len(job.blobs)


def test_a_file_that_is_not_a_measurement(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("!<lsst.verify.Blob>\nname: x\ndata: {}\n")
    with pytest.raises(DocumentError, match="is a lsst.verify.Blob, not a measurement"):
        Measurement.read(path)
    path.write_text("metric: a.b\nunit: mmag\n")
    with pytest.raises(DocumentError, match="field 'value': is missing"):
        Measurement.read(path)

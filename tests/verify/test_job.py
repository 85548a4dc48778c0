from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import astropy.units as u
import pytest

from vigil.verify import (
    DocumentError,
    Job,
    Measurement,
    Metric,
    MetricSet,
    UnitError,
    UnknownMetricError,
)

REAL_JOBS = ["squash/verify_job.json", "squash/Cfht_output_r.json"]


def _canonical(data: Any) -> Any:
    """JSON data with tag lists sorted (tags are sets) for comparison."""
    if isinstance(data, dict):
        return {
            k: sorted(v) if k == "tags" and isinstance(v, list) else _canonical(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_canonical(v) for v in data]
    return data


@pytest.mark.parametrize("name", REAL_JOBS)
def test_real_jobs_round_trip_with_nothing_lost(
    conformance: Path, tmp_path: Path, name: str
) -> None:
    source = conformance / name
    job = Job.read(source)
    written = job.write(tmp_path / "job.verify.json")
    text = written.read_text()
    assert "NaN" not in text  # written back as null
    again = Job.read(written)
    assert again.to_json() == job.to_json()
    # Compared with the original file, NaN tokens read as null, everything else equal.
    original = json.loads(
        json.dumps(json.loads(source.read_text()), allow_nan=True).replace("NaN", "null")
    )
    assert _canonical(json.loads(text)) == _canonical(original)


def test_verify_job_contents(conformance: Path) -> None:
    job = Job.read(conformance / "squash/verify_job.json")
    assert len(job.measurements) == 30
    assert len(job.blobs) == 33
    assert len(job.metrics) == 62
    assert len(job.specs) == 628
    assert len(job.meta["packages"]) == 124
    assert job.meta["env"]["env_name"] == "jenkins"
    nan = [m for m in job.measurements if math.isnan(m.value)]
    assert nan, "the real job has NaN measurements"
    assert all(m.value != 0 for m in nan)
    am1 = next(m for m in job.measurements if m.metric == "validate_drp.AM1")
    assert am1.identifier == "96e1cc32cf4a43e59b6cc3ec242a8ee1"
    blob = job.blobs[am1.blob_refs[0]]
    assert blob["D"].quantity == 5.0 * u.arcmin


def test_evaluation_of_real_job(conformance: Path) -> None:
    job = Job.read(conformance / "squash/Cfht_output_r.json")
    verdicts = job.evaluate()
    assert {v.status for v in verdicts} == {"pass", "fail", "nan"}
    for verdict in verdicts:
        assert verdict.spec.metric_name == verdict.measurement.metric


def test_build_a_job_in_a_few_lines(tmp_path: Path) -> None:
    job = Job(meta={"instrument": "HSC", "filter_name": "r"})
    m = job.measure(
        "validate_drp.PA1",
        16.7 * u.mmag,
        data_id={"tract": 9813, "band": "r"},
        notes={"nstars": 1200},
        blobs={"residuals": [1.0, 2.0, float("nan")] * u.mmag},
    )
    path = job.write(tmp_path / "PA1.verify.json")
    data = json.loads(path.read_text())
    (written,) = data["measurements"]
    assert written["data_id"] == {"tract": 9813, "band": "r"}
    assert written["notes"] == {"nstars": 1200}
    assert written["value"] == 16.7 and written["unit"] == "mmag"
    (blob,) = data["blobs"]
    assert blob["data"]["residuals"]["value"] == [1.0, 2.0, None]
    assert written["blob_refs"] == [blob["identifier"]]
    again = Job.read(path)
    assert again.measurements[0].identifier == m.identifier
    assert again.measurements[0].data_id == {"tract": 9813, "band": "r"}


def test_measure_checks_metric_and_unit() -> None:
    job = Job(metrics=[Metric("validate_drp.PA1", unit="mmag")])
    job.measure("validate_drp.PA1", 0.0167 * u.mag)
    job.measure("validate_drp.PA1", 12.0)  # the metric's unit by default
    assert job.measurements[1].unit == "mmag"
    with pytest.raises(UnknownMetricError, match="validate_drp.PA9"):
        job.measure("validate_drp.PA9", 1 * u.mmag)
    with pytest.raises(UnitError, match="does not convert"):
        job.measure("validate_drp.PA1", 3 * u.arcsec)


def test_spec_evaluation_with_unit_conversion() -> None:
    from vigil.verify import ThresholdSpecification

    spec = ThresholdSpecification(
        "validate_drp.PA1.srd",
        threshold_value=0.005,
        threshold_unit="mag",
        operator="<=",
        metadata_query={"filter_name": "r"},
    )
    job = Job(specs=[spec], meta={"filter_name": "r"})
    job.measure("validate_drp.PA1", 16.7 * u.mmag)
    job.measure("validate_drp.PA1", 4.0 * u.mmag, data_id={"tract": 1})
    assert [v.status for v in job.evaluate()] == ["fail", "pass"]
    job.meta["filter_name"] = "g"
    assert job.evaluate() == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["measurements"][3].__setitem__("value", "abc"), "measurements[3].value"),
        (lambda d: d["measurements"][2].__setitem__("unit", "bogons"), "measurements[2].unit"),
        (lambda d: d["measurements"][0].__setitem__("unit", "mag/s"), "measurements[0].unit"),
        (lambda d: d["measurements"][1].pop("metric"), "measurements[1].metric"),
        (
            lambda d: d["measurements"][1].__setitem__("data_id", {"tract": [1]}),
            "measurements[1].data_id.tract",
        ),
        (
            lambda d: d["specs"][5]["threshold"].__setitem__("operator", "=<"),
            "specs[5].threshold.operator",
        ),
        (lambda d: d["metrics"][4].__setitem__("unit", 7), "metrics[4].unit"),
        (lambda d: d.__setitem__("measurements", {}), "measurements"),
        (lambda d: d.__setitem__("meta", []), "meta"),
    ],
)
def test_bad_jobs_name_source_and_field(conformance: Path, mutate: Any, field: str) -> None:
    data = json.loads((conformance / "squash/Cfht_output_r.json").read_text())
    mutate(data)
    with pytest.raises(DocumentError) as info:
        Job.from_dict(data, source="job.json")
    assert info.value.field == field
    assert str(info.value).startswith(f"job.json, field '{field}'")


def test_incompatible_unit_with_the_jobs_own_metric(conformance: Path) -> None:
    data = json.loads((conformance / "squash/Cfht_output_r.json").read_text())
    index = next(i for i, m in enumerate(data["measurements"]) if m["unit"] == "mmag")
    data["measurements"][index]["unit"] = "arcsec"
    with pytest.raises(UnitError, match="does not convert") as info:
        Job.from_dict(data)
    assert info.value.field == f"measurements[{index}].unit"


def test_strict_requires_defined_metrics(conformance: Path) -> None:
    data = json.loads((conformance / "squash/Cfht_output_r.json").read_text())
    data["measurements"][0]["metric"] = "validate_drp.NOPE"
    assert Job.from_dict(data)  # lenient by default
    with pytest.raises(UnknownMetricError, match="validate_drp.NOPE"):
        Job.from_dict(data, strict=True, source="x.json")


def test_non_json_file(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text("measurements: [1, 2]\n")
    with pytest.raises(DocumentError, match=r"job.json: is not valid JSON: .* line 1, column 1"):
        Job.read(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DocumentError, match="not UTF-8"):
        Job.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(DocumentError, match="must be a JSON object"):
        Job.read(path)


def test_measurement_values_never_become_zero() -> None:
    for raw in (None, float("nan"), "NaN"):
        m = Measurement.from_dict({"metric": "a.b", "value": raw, "unit": ""})
        assert math.isnan(m.value)


def test_metric_set_lookup_error_is_specific() -> None:
    with pytest.raises(UnknownMetricError, match="unknown metric 'a.b'"):
        MetricSet()["a.b"]


@pytest.mark.parametrize(
    ("digits", "tract"),
    [(b"1" + b"0" * 30, "1" + "0" * 30), (b"-9223372036854775809", None), (b"9" * 4400, None)],
    ids=["30-digits", "below-int64", "4400-digits"],
)
def test_a_data_id_integer_beyond_64_bits_is_refused_never_read_as_a_float(
    tmp_path: Path, digits: bytes, tract: str | None
) -> None:
    # The fast JSON parser read 10**30 as 1e+30, and a dataId became another one; 4,301
    # digits and more made Python's int() give up.
    path = tmp_path / "job.json"
    path.write_bytes(
        b'{"measurements": [{"metric": "demo.PA1", "value": 1, "unit": "mmag", "data_id":'
        b' {"tract": ' + digits + b'}}], "x": ' + digits + b"}"
    )
    with pytest.raises(DocumentError) as info:
        Job.read(path)
    assert info.value.field == "measurements[0].data_id.tract"
    assert "beyond 64 bits" in str(info.value)
    with pytest.raises(DocumentError, match="beyond 64 bits"):
        Job().measure("demo.PA1", 1.0, "mmag", data_id={"tract": 2**64})
    assert Job().measure("demo.PA1", 1.0, "mmag", data_id={"tract": 2**64 - 1})


def test_a_measured_metric_is_named_as_a_metric_is() -> None:
    bad = {"metric": "x.<script>alert(1)</script>", "value": 1.0, "unit": ""}
    with pytest.raises(DocumentError) as info:
        Measurement.from_dict(bad, field_name="measurements[2]")
    assert info.value.field == "measurements[2].metric"
    with pytest.raises(DocumentError):
        Metric("x.<script>alert(1)</script>")
    with pytest.raises(DocumentError):
        Job().measure("demo.PA1.design", 1.0)
    # lsst.verify's measurement files may leave the package out: it comes from context.
    assert Measurement.from_dict({"metric": "AB1_design", "value": 1.0}).metric == "AB1_design"

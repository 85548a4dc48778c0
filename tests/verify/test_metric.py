from __future__ import annotations

from pathlib import Path

import pytest

from vigil.verify import DocumentError, Metric, MetricSet


def test_all_real_metrics_load(conformance: Path) -> None:
    metrics = MetricSet.load(conformance / "lsst-verify/verify_metrics")
    assert len(metrics) == 1032
    assert len(metrics.packages) == 12
    pa1 = metrics["validate_drp.PA1"]
    assert pa1.unit == "mmag"
    assert pa1.tags == {"photometry"}
    assert pa1.reference["doc"] == "LPM-17"
    assert sum(len(name) > 64 for name in metrics) == 208


def test_anchors_and_merge_keys(conformance: Path) -> None:
    metrics = MetricSet.load(conformance / "lsst-verify/verify_metrics/metrics/ap_association.yaml")
    merged = metrics["ap_association.DiaPipelineTime"]
    assert merged.description == "Wall-clock time elapsed in DiaPipelineTask."  # own key wins
    assert merged.unit == "s"  # inherited through <<: *RunningTime
    assert {"ap_verify", "monitoring"} <= merged.tags
    assert "confluence" in metrics["ap_association.AssociationCpuTime"].reference["url"]


def test_empty_unit_is_dimensionless(conformance: Path) -> None:
    metrics = MetricSet.load(conformance / "lsst-verify/verify_metrics/metrics/jointcal.yaml")
    assert any(m.unit == "" for m in metrics.values())


def test_json_round_trip() -> None:
    metric = Metric(
        "pkg.m", unit="mmag", description="d", tags=frozenset({"a", "b"}), direction="lower"
    )
    assert Metric.from_dict(metric.to_dict()) == metric


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pkg.yaml"
    path.write_text(text)
    return path


def test_bad_unit_names_file_metric_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "good:\n  unit: mmag\nbad:\n  unit: parsecs_per_bogon\n")
    with pytest.raises(DocumentError) as info:
        MetricSet.load(path)
    assert info.value.source == str(path)
    assert info.value.field == "bad.unit"
    assert "parsecs_per_bogon" in str(info.value)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "m1:\n  unit: mmag\n  description: [unclosed\n")
    with pytest.raises(DocumentError, match=r"pkg.yaml, document 1: is not valid YAML at line"):
        MetricSet.load(path)


def test_definition_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "m1: 3\n")
    with pytest.raises(DocumentError, match="field 'm1'"):
        MetricSet.load(path)


def test_missing_folder() -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        MetricSet.load("/nonexistent/metrics")

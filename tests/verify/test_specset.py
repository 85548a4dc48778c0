from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigil.verify import (
    DocumentError,
    SpecificationResolutionError,
    SpecificationSet,
    ThresholdSpecification,
)
from vigil.verify.files import load_path
from vigil.verify.specset import merge_documents


@pytest.fixture(scope="module")
def real_specs(conformance: Path) -> SpecificationSet:
    return SpecificationSet.load(conformance / "lsst-verify/verify_metrics")


def test_every_real_document_resolves(real_specs: SpecificationSet) -> None:
    assert len(real_specs) == 1705
    assert len(real_specs.partials) == 126


def test_inheritance_from_specs_and_partials(real_specs: SpecificationSet) -> None:
    spec = real_specs["validate_drp.PA1.hsc_design_r"]
    assert spec.threshold_value == 5.0
    assert spec.threshold_unit == "mmag"
    assert spec.operator == "<="
    # Metadata queries of the partial chain hsc-r -> hsc are merged.
    assert spec.metadata_query["filter_name"] == "HSC-R"
    assert spec.metadata_query["instrument"] == "HSC"
    assert "design" in spec.tags


def test_partial_in_same_file(real_specs: SpecificationSet) -> None:
    spec = real_specs["validate_drp.AA1.design"]
    assert (spec.threshold_value, spec.threshold_unit, spec.operator) == (
        50.0,
        "milliarcsecond",
        "<=",
    )
    assert spec.tags == {"AA1", "achromatic", "design"}
    assert "validate_drp:AA1#AA1-base" in real_specs.partials


def test_duplicate_key_and_provenance_query(
    conformance: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="vigil.verify"):
        specs = SpecificationSet.load(conformance / "lsst-verify/verify_metrics/specs/jointcal")
    assert any("duplicate key 'config'" in w for w in specs.warnings)
    assert any("provenance_query" in r.getMessage() for r in caplog.records)
    assert specs["jointcal.astrometry_final_ndof.hsc_11_visits"].threshold_value == 14262


def test_numeric_strings_in_yaml_thresholds(real_specs: SpecificationSet) -> None:
    # YAML 1.1 reads '1e-6' as a string; lsst.verify accepted it as a number.
    values = [
        s.threshold_value for n, s in real_specs.items() if "rhoStatistics" in n or "rho" in n
    ]
    assert values and all(isinstance(v, float) for v in values)


def test_applicable_specs_follow_metadata(real_specs: SpecificationSet) -> None:
    meta = {
        "instrument": "HSC",
        "filter_name": "HSC-R",
        "dataset_repo_url": "https://github.com/lsst/validation_data_hsc.git",
        "dataset_name": "validation_data_hsc",
    }
    names = {s.name for s in real_specs.applicable(meta, metric="validate_drp.PA1")}
    assert "validate_drp.PA1.hsc_design_r" in names
    assert "validate_drp.PA1.hsc_design_g" not in names
    assert all(
        s.metric_name == "validate_drp.PA1" for s in real_specs.applicable(meta, "validate_drp.PA1")
    )
    assert real_specs.direction("validate_drp.PA1") == "lower"
    subset = real_specs.subset("validate_drp.PA1", metadata=meta, tags=["design"])
    assert "validate_drp.PA1.hsc_design_r" in subset and len(subset) < len(names)


def test_unit_conversion_in_evaluation() -> None:
    spec = ThresholdSpecification(
        "validate_drp.PA1.x", threshold_value=0.005, threshold_unit="mag", operator="<="
    )
    assert spec.check(16.7, "mmag") is False
    assert spec.check(4.9, "mmag") is True
    assert spec.check(float("nan"), "mmag") is None


def test_merge_documents_appends_lists_and_merges_dicts() -> None:
    merged = merge_documents(
        {"tags": ["a"], "q": {"x": 1}, "v": 1}, {"tags": ["b"], "q": {"y": 2}, "v": 2}
    )
    assert merged == {"tags": ["a", "b"], "q": {"x": 1, "y": 2}, "v": 2}


def _package(tmp_path: Path, text: str) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.yaml").write_text(text)
    return package


def test_unresolved_base_names_file_document_and_field(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        "---\nname: design\nmetric: m\nbase: '#nowhere'\n"
        "threshold: {value: 1, unit: mmag, operator: '<='}\n",
    )
    with pytest.raises(SpecificationResolutionError) as info:
        SpecificationSet.load(package)
    assert info.value.document == 1 and info.value.field == "base"
    assert "pkg:m#nowhere" in str(info.value) and "m.yaml" in str(info.value)


def test_cycle_is_reported(tmp_path: Path) -> None:
    package = _package(tmp_path, "---\nid: a\nbase: '#b'\n---\nid: b\nbase: '#a'\n")
    with pytest.raises(SpecificationResolutionError, match="cannot resolve base"):
        SpecificationSet.load(package)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "name: s\nmetric: m\nthreshold: {value: 1, unit: mmag, operator: '~'}\n",
            "threshold.operator",
        ),
        (
            "name: s\nmetric: m\nthreshold: {value: abc, unit: mmag, operator: '<'}\n",
            "threshold.value",
        ),
        (
            "name: s\nmetric: m\nthreshold: {value: 1, unit: bogons, operator: '<'}\n",
            "threshold.unit",
        ),
        ("name: s\nthreshold: {value: 1, unit: mmag, operator: '<'}\n", "metric"),
        ("metric: m\nthreshold: {value: 1}\n", "name"),
        ("- just\n- a list\n", None),
    ],
)
def test_malformed_spec_documents(tmp_path: Path, text: str, field: str | None) -> None:
    with pytest.raises(DocumentError) as info:
        SpecificationSet.load(_package(tmp_path, text))
    assert info.value.field == field
    assert "m.yaml" in str(info.value)


def test_legacy_specifications_file_is_rejected(conformance: Path) -> None:
    legacy = conformance / "lsst-verify/verify-tests/specifications.yaml"
    with pytest.raises(DocumentError) as info:
        load_path(legacy)
    message = str(info.value)
    assert "specifications.yaml" in message and "document 1" in message and "line 5" in message


def test_verify_tests_specs(conformance: Path) -> None:
    specs = SpecificationSet.load(conformance / "lsst-verify/verify-tests/specs")
    assert len(specs) > 0
    assert all(s.name.startswith("validate_drp.") for s in specs.values())

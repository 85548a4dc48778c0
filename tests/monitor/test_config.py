"""The monitor configuration: DESI's mapping files read as they are, and errors that name
the key at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.monitor.config import HEADER_FIELDS, expand_units, load_config, parse_config
from vigil.monitor.errors import MonitorConfigError
from vigil.monitor.mapping import convert_mappings, load_step_mapping, load_trend_mapping


def _config(mapping_dir: Path, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "pipeline": "desi-quicklook",
        "exposures": {"watch": "raw", "pattern": "*/*/desi-*.fits.fz"},
        "units": "b0-b9 r0-r9 z0-z9",
        "run": {"command": ["ql", "--camera", "{unit}", "--expid", "{exposure}"]},
        "flavors": {
            flavor: {"mapping": str(mapping_dir / f"ql_mapping_{flavor}.json")}
            for flavor in ("science", "arc", "flat")
        },
        "qa": {"NOISE_AMP": {"normal": [-1, 1], "warning": [-2, 2], "reference": 3.5}},
        "trends": str(mapping_dir / "ql_mapping_metrics.json"),
    }
    document.update(changes)
    return document


def test_a_configuration_reads_desi_mapping_files(mapping_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(_config(mapping_dir)))
    config = load_config(path)
    assert config.pipeline == "desi-quicklook"
    assert len(config.units) == 30 and config.units[:3] == ("b0", "b1", "b2")
    assert config.exposures.watch == tmp_path / "raw"
    science = config.flavors["science"]
    assert [s.name for s in science] == ["CHECK_CCDs", "CHECK_FIBERS", "CHECK_SPECTRA"]
    assert science[0].start == "Starting to run step Initialize"
    assert science[2].end == "Pipeline completed"
    assert [q.key for q in science[0].qa] == ["NOISE_AMP", "BIAS_AMP", "LITFRAC_AMP", "XWSIGMA"]
    assert science[2].qa[3].status_key == "FIDSNR_TGT_STATUS"
    assert config.flavors["arc"][2].end == "Pipeline processing finished"
    assert config.qa["NOISE_AMP"].normal is not None
    assert {t.name: t.path for t in config.trends}[
        "noise"
    ] == "TASKS->CHECK_CCDs->METRICS->NOISE_AMP"
    assert config.steps_for("SCIENCE") == science
    assert config.steps_for("zero") is None
    assert config.header.keys == HEADER_FIELDS


def test_converting_the_desi_mapping_files(mapping_dir: Path, tmp_path: Path) -> None:
    files = sorted(mapping_dir.glob("ql_mapping_*.json"))
    converted = convert_mappings(files)
    assert set(converted["flavors"]) == {"science", "arc", "flat"}
    assert set(converted["trends"]) == {"skybrightness", "airmass", "bias", "noise"}
    assert "CHECKARC" in converted["qa"] and "SKYRBAND" in converted["qa"]
    # The converted configuration, written as YAML and read back, has the very same steps.
    document = {
        "pipeline": "ql",
        "exposures": {"source": "api"},
        "units": ["b0"],
        "run": {"command": "ql {unit}"},
        **converted,
    }
    path = tmp_path / "converted.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_config(path)
    for flavor in ("science", "arc", "flat"):
        original = load_step_mapping(mapping_dir / f"ql_mapping_{flavor}.json")
        assert config.flavors[flavor] == original.steps
    assert config.trends == load_trend_mapping(mapping_dir / "ql_mapping_metrics.json")
    assert config.run.command == ("ql", "{unit}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pipelines": "x"}, r"pipelines.*did you mean 'pipeline'"),
        ({"units": 5}, r"units: units are a list"),
        ({"units": "b0 b0"}, r"units: unit 'b0' appears twice"),
        ({"run": {"command": []}}, r"run.command: is required"),
        (
            {"run": {"command": ["ql", "{camera}"]}},
            r"run.command\[1\]: unknown placeholder \{camera\}",
        ),
        (
            {"run": {"command": ["ql"], "max_parallel": 0}},
            r"run.max_parallel: must be a whole number",
        ),
        ({"qa": {"NOISE_AMP": {"normal": [2, 1]}}}, r"qa.NOISE_AMP.normal: .*low <= high"),
        ({"qa": {"NOISE_AMP": {"warning": [-2, 2]}}}, r"qa.NOISE_AMP.normal: is required"),
        ({"exposures": {"pattern": "*"}}, r"exposures.watch: is required"),
        (
            {"flavors": {"science": {"steps": [{"name": "A"}]}}},
            r"flavors.science.steps\[0\]: needs a non-empty text 'start'",
        ),
        ({"flavors": {}}, r"flavors: needs at least one flavor"),
        ({"default_flavor": "dark"}, r"default_flavor: 'dark' is not one of the flavors"),
        ({"server": {"url": "vigil.example.org"}}, r"server.url: must start with http"),
    ],
)
def test_a_malformed_configuration_names_the_key(
    mapping_dir: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(MonitorConfigError, match=message):
        parse_config(_config(mapping_dir, **change), source="monitor.yaml")


def test_a_missing_or_broken_mapping_file_is_named(tmp_path: Path, mapping_dir: Path) -> None:
    broken = tmp_path / "ql_mapping_science.json"
    broken.write_text(json.dumps({"flavor": "science", "step_list": [{"name": "X", "start": ""}]}))
    with pytest.raises(MonitorConfigError, match=r"ql_mapping_science.json: step_list\[0\]"):
        parse_config(_config(mapping_dir, flavors={"science": {"mapping": str(broken)}}))
    with pytest.raises(MonitorConfigError, match="cannot read the file"):
        parse_config(
            _config(mapping_dir, flavors={"science": {"mapping": str(tmp_path / "no.json")}})
        )


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pipeline: x\nunits: [b0\n")
    with pytest.raises(MonitorConfigError, match=r"bad.yaml: not valid YAML \(line"):
        load_config(path)


def test_unit_ranges_expand() -> None:
    assert expand_units("b0-b2 r7-9") == ("b0", "b1", "b2", "r7", "r8", "r9")
    assert expand_units(["ccd1", "ccd2"]) == ("ccd1", "ccd2")

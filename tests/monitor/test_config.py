"""The monitor configuration: DESI's mapping files read as they are, and errors that name
the key at fault."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from vigil.cli import app
from vigil.monitor.config import HEADER_FIELDS, expand_units, load_config, parse_config
from vigil.monitor.errors import MonitorConfigError
from vigil.monitor.mapping import convert_mappings, load_step_mapping, load_trend_mapping

cli = CliRunner()


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


def _science(mapping_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((mapping_dir / "ql_mapping_science.json").read_text())
    return document


def _latin1(mapping_dir: Path) -> bytes:
    document = _science(mapping_dir)
    document["step_list"][0]["display_name"] = "Vérifier les CCD"
    return json.dumps(document, indent=2, ensure_ascii=False).encode("latin-1")


def _edited(mapping_dir: Path, edit: Any) -> bytes:
    document = _science(mapping_dir)
    edit(document)
    return json.dumps(document, indent=2).encode()


def _no_status_suffix(document: dict[str, Any]) -> None:
    document["step_list"][0]["qa_list"][1]["status_key"] = "BIAS_AMP"


def _step_twice(document: dict[str, Any]) -> None:
    document["step_list"].append(dict(document["step_list"][0], start="Another marker"))


def _qa_twice(document: dict[str, Any]) -> None:
    qa_list = document["step_list"][1]["qa_list"]
    qa_list.append(dict(qa_list[0]))


def _marker_twice(document: dict[str, Any]) -> None:
    document["step_list"][2]["start"] = document["step_list"][0]["start"]


def _wrong_flavor(document: dict[str, Any]) -> None:
    document["flavor"] = "sciense"


_BAD_MAPPINGS: list[tuple[str, Any, str]] = [
    ("latin1", _latin1, r"not UTF-8 text \(byte 0xe9 on line 5\); save it as UTF-8"),
    (
        "truncated",
        lambda d: (d / "ql_mapping_science.json").read_bytes()[:200],
        r"not valid JSON \(line \d+, column \d+: ",
    ),
    (
        "key twice",
        lambda d: b'{"flavor": "science", "flavor": "arc", "step_list": []}',
        r"flavor: appears twice in one object of the file",
    ),
    (
        "wrong flavor",
        lambda d: _edited(d, _wrong_flavor),
        r"flavor: 'sciense' is not the flavor of the file name \('science'\)",
    ),
    (
        "no _STATUS",
        lambda d: _edited(d, _no_status_suffix),
        r"step_list\[0\]\.qa_list\[1\]\.status_key: 'BIAS_AMP' must be the value's key"
        r" followed by _STATUS \(BIAS_AMP_STATUS\)",
    ),
    (
        "step twice",
        lambda d: _edited(d, _step_twice),
        r"step_list\[3\]\.name: step 'CHECK_CCDs' appears twice \(also step_list\[0\]\)",
    ),
    (
        "QA twice",
        lambda d: _edited(d, _qa_twice),
        r"step_list\[1\]\.qa_list\[2\]: QA 'NGOODFIB' appears twice in step 'CHECK_FIBERS'",
    ),
    (
        "start marker twice",
        lambda d: _edited(d, _marker_twice),
        r"step_list\[2\]\.start: the start marker 'Starting to run step Initialize' is also"
        r" step 'CHECK_CCDs''s",
    ),
]


def _one_error_line(result: Any, pattern: str) -> None:
    """Exit status 1, no traceback, one line that names the file and the field."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert re.match(rf"^error: {pattern}", lines[0]), lines[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [(content, message) for _, content, message in _BAD_MAPPINGS],
    ids=[name for name, _, _ in _BAD_MAPPINGS],
)
def test_a_bad_mapping_file_is_one_line_naming_the_file_and_the_field(
    mapping_dir: Path, tmp_path: Path, content: Any, message: str
) -> None:
    mapping = tmp_path / "ql_mapping_science.json"
    mapping.write_bytes(content(mapping_dir))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump(_config(mapping_dir, flavors={"science": {"mapping": str(mapping)}}))
    )
    for command in (
        ["monitor", "check", "--config", str(config)],
        ["monitor", "run", "--config", str(config)],
        ["monitor", "convert", str(mapping)],
    ):
        result = cli.invoke(app, command)
        _one_error_line(result, re.escape(str(mapping)) + ": " + message)


def test_a_mapping_file_for_another_flavor_is_named(mapping_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    arc = mapping_dir / "ql_mapping_arc.json"
    config.write_text(
        yaml.safe_dump(_config(mapping_dir, flavors={"science": {"mapping": str(arc)}}))
    )
    result = cli.invoke(app, ["monitor", "check", "--config", str(config)])
    _one_error_line(
        result,
        re.escape(
            f"{arc}: flavor: the file is for flavor 'arc', but the configuration gives it"
            " for 'science'"
        ),
    )
    # Outside a file name that says it, a flavor must be one of DESI's.
    steps = tmp_path / "steps.json"
    document = _science(mapping_dir)
    document["flavor"] = "sciense"
    steps.write_text(json.dumps(document))
    result = cli.invoke(app, ["monitor", "convert", str(steps)])
    _one_error_line(result, re.escape(f"{steps}: flavor: unknown flavor 'sciense'; DESI's are"))
    # Two files for one flavor.
    copy = tmp_path / "science.json"
    copy.write_text((mapping_dir / "ql_mapping_science.json").read_text())
    files = [str(mapping_dir / "ql_mapping_science.json"), str(copy)]
    result = cli.invoke(app, ["monitor", "convert", *files])
    _one_error_line(
        result, re.escape(f"{copy}: flavor: flavor 'science' is also given by another file")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"qa": {"NOISE_AMP": {"normal": [-1, 1], "warning": [-0.5, 2]}}},
            r"qa\.NOISE_AMP\.warning: \[-0\.5, 2\.0\] must contain the normal range"
            r" \[-1\.0, 1\.0\]",
        ),
        (
            {"trends": {"noise": {"path": "TASKS->CHECK_CCD->METRICS->NOISE_AMP"}}},
            r"trends\.noise\.path: step 'CHECK_CCD' is not a step of any flavor",
        ),
        (
            {"trends": {"noise": {"path": "TASKS->CHECK_CCDs->NOISE_AMP"}}},
            r"trends\.noise\.path: 'TASKS->CHECK_CCDs->NOISE_AMP' is not"
            r" TASKS->STEP->METRICS->KEY",
        ),
    ],
)
def test_inconsistent_ranges_and_trends_are_one_line(
    mapping_dir: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(_config(mapping_dir, **change)))
    result = cli.invoke(app, ["monitor", "check", "--config", str(config)])
    _one_error_line(result, re.escape(str(config)) + ": " + message)


def test_a_latin1_configuration_is_one_line(mapping_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    text = yaml.safe_dump(_config(mapping_dir, pipeline="desi-quicklook"))
    config.write_bytes(("# Caméras b, r et z\n" + text).encode("latin-1"))
    result = cli.invoke(app, ["monitor", "check", "--config", str(config)])
    _one_error_line(result, re.escape(f"{config}: not UTF-8 text (byte 0xe9 on line 1)"))


def test_the_four_real_mapping_files_still_load(mapping_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(_config(mapping_dir)))
    result = cli.invoke(app, ["monitor", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "science: CHECK_CCDs → CHECK_FIBERS → CHECK_SPECTRA (11 QA)" in result.output
    assert "arc:" in result.output and "flat:" in result.output
    files = sorted(str(p) for p in mapping_dir.glob("ql_mapping_*.json"))
    assert len(files) == 4
    converted = cli.invoke(app, ["monitor", "convert", *files])
    assert converted.exit_code == 0, converted.output
    assert set(yaml.safe_load(converted.output)["flavors"]) == {"science", "arc", "flat"}

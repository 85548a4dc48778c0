"""QA files in DESI Quick Look's shapes, judged by the configuration's ranges first."""

from __future__ import annotations

import json
from pathlib import Path

from vigil.monitor.config import QaRule
from vigil.monitor.mapping import load_step_mapping
from vigil.monitor.qa import QaStatus, Range
from vigil.monitor.qafiles import QaCollector, QaReading, judge, read_qa_document

SINGLE = {
    "EXPID": "00000003",
    "CAMERA": "b0",
    "PANAME": "Preproc",
    "METRICS": {"NOISE_AMP": [3.4, 3.6, 4.6, 3.5], "NOISE_AMP_STATUS": "NORMAL"},
    "PARAMS": {
        "NOISE_AMP_NORMAL_RANGE": [-0.5, 0.5],
        "NOISE_AMP_WARN_RANGE": [-1.0, 1.0],
        "NOISE_AMP_REF": [3.4, 3.6, 3.3, 3.5],
    },
}
MERGED = {
    "GENERAL_INFO": {"AIRMASS": 1.2},
    "TASKS": {
        "CHECK_CCDs": {"METRICS": {"BIAS_AMP": [1.0, 2.0, 3.0, 4.0], "BIAS_AMP_STATUS": "ALARM"}},
        "CHECK_FIBERS": {
            "METRICS": {"NGOODFIB": 470, "NGOODFIB_STATUS": "ALARM"},
            "PARAMS": {
                "NGOODFIB_NORMAL_RANGE": [-5, 5],
                "NGOODFIB_WARN_RANGE": [-10, 10],
                "NGOODFIB_REF": 497,
            },
        },
    },
}


def test_both_shapes_are_read() -> None:
    single = read_qa_document(SINGLE)
    assert [(r.key, r.step, r.reported) for r in single] == [("NOISE_AMP", None, "NORMAL")]
    merged = read_qa_document(MERGED)
    assert [(r.key, r.step) for r in merged] == [
        ("BIAS_AMP", "CHECK_CCDs"),
        ("NGOODFIB", "CHECK_FIBERS"),
    ]
    assert read_qa_document(["not", "a", "document"]) == []


def test_the_pipeline_ranges_apply_unless_the_configuration_sets_its_own() -> None:
    reading = read_qa_document(SINGLE)[0]
    # 4.6 - 3.3 = 1.3: outside WARNING [-1, 1] -> alarm, although the pipeline said NORMAL.
    assert judge(reading, None).status is QaStatus.ALARM
    wide = QaRule("NOISE_AMP", normal=Range(-2, 2), warning=Range(-3, 3))
    assert judge(reading, wide).status is QaStatus.NORMAL
    # Without ranges anywhere the pipeline's own verdict is kept.
    bare = QaReading(key="BIAS_AMP", value=[1.0], reported="ALARM")
    assert judge(bare, None).status is QaStatus.ALARM


def test_the_collector_reads_new_and_changed_files_once(mapping_dir: Path, tmp_path: Path) -> None:
    steps = load_step_mapping(mapping_dir / "ql_mapping_science.json").steps
    collector = QaCollector(steps, {}, extra_keys=[("CHECK_SPECTRA", "PEAKCOUNT")])
    (tmp_path / "ql-getrms-b0-00000003.json").write_text(json.dumps(SINGLE))
    (tmp_path / "ql-mergedQA-b0-00000003.json").write_text(json.dumps(MERGED))
    (tmp_path / "ql-half-b0-00000003.json").write_text('{"METRICS": ')
    events = collector.collect(tmp_path, "ql-*-b0-00000003.json")
    by_key = {e["key"]: e for e in events}
    assert by_key["NOISE_AMP"]["step"] == "CHECK_CCDs"  # from the mapping, not the file
    assert by_key["NOISE_AMP"]["display_name"] == "Noise AMP"
    assert by_key["NOISE_AMP"]["status"] == "alarm"
    assert by_key["NOISE_AMP"]["statuses"] == ["normal", "normal", "alarm", "normal"]
    assert by_key["NGOODFIB"]["status"] == "alarm" and by_key["NGOODFIB"]["normal"] == [-5, 5]
    assert by_key["BIAS_AMP"]["status"] == "alarm"
    assert collector.collect(tmp_path, "ql-*-b0-00000003.json") == []
    (tmp_path / "ql-half-b0-00000003.json").write_text(
        json.dumps(
            {
                "METRICS": {"PEAKCOUNT": 250.0},
                "PARAMS": {"PEAKCOUNT_NORMAL_RANGE": [-40, 40], "PEAKCOUNT_REF": 265.0},
            }
        )
    )
    again = collector.collect(tmp_path, "ql-*-b0-00000003.json")
    assert [(e["key"], e["step"], e["status"]) for e in again] == [
        ("PEAKCOUNT", "CHECK_SPECTRA", "normal")
    ]

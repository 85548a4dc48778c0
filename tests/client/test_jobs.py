"""Reading, merging and writing lsst.verify Job JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.client import JobFileError, dump_job, ensure_identifier, load_job, merge_jobs
from vigil.client.jobs import without_blobs

from ._support import CFHT_JOB, VERIFY_JOB, small_job


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_merge_real_jobs_keeps_everything_once() -> None:
    cfht, verify = load_job(CFHT_JOB), load_job(VERIFY_JOB)
    merged = merge_jobs([cfht, verify])

    assert len(merged["measurements"]) == 60
    # Both files carry the same 33 blobs: deduplicated by identifier.
    assert len(merged["blobs"]) == 33
    assert len({m["name"] for m in merged["metrics"]}) == len(merged["metrics"]) == 62
    assert len(merged["specs"]) == 628
    assert merged["meta"]["filter_name"] == "r"
    assert merged["meta"]["env"]["env_name"] == "jenkins"
    assert len(merged["meta"]["packages"]) == 124


def test_merge_later_job_wins_and_inputs_are_untouched() -> None:
    cfht, verify = load_job(CFHT_JOB), load_job(VERIFY_JOB)
    before = json.dumps(cfht, sort_keys=True)
    merged = merge_jobs([cfht, verify])
    pa1 = next(m for m in merged["metrics"] if m["name"] == "validate_drp.PA1")
    assert pa1["tags"] == ["photometry"]  # verify_job.json's, the later one
    merged["meta"]["filter_name"] = "z"
    assert json.dumps(cfht, sort_keys=True) == before


def test_meta_is_merged_recursively() -> None:
    first = small_job(meta={"env": {"env_name": "local", "user": "ann"}, "a": 1})
    second = small_job(meta={"env": {"user": "bob"}, "b": 2})
    meta = merge_jobs([first, second])["meta"]
    assert meta == {"env": {"env_name": "local", "user": "bob"}, "a": 1, "b": 2}


def test_nan_is_read_and_written_as_null() -> None:
    job = load_job(CFHT_JOB)
    text = dump_job(job)
    assert "NaN" in CFHT_JOB.read_text()
    assert "NaN" not in text
    parsed = _strict(text)
    assert isinstance(parsed, dict)
    assert parsed["measurements"][14]["value"] is None
    assert parsed["measurements"][0]["value"] == job["measurements"][0]["value"]


def test_identifier_is_kept_only_when_inputs_agree() -> None:
    job = small_job()
    identifier = ensure_identifier(job)
    assert len(identifier) == 32
    assert ensure_identifier(job) == identifier
    assert merge_jobs([job, job])["identifier"] == identifier
    other = small_job(identifier="other")
    assert "identifier" not in merge_jobs([job, other])


def test_without_blobs_drops_blobs_and_their_references() -> None:
    stripped = without_blobs(small_job())
    assert stripped["blobs"] == []
    assert all("blob_refs" not in m for m in stripped["measurements"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "does not hold a Job"),
     ('{"measurements": {}}', "'measurements' must be a list")],
)  # fmt: skip
def test_bad_job_files_are_named_in_the_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "job.json"
    path.write_text(content)
    with pytest.raises(JobFileError, match=expected) as error:
        load_job(path)
    assert str(path) in error.value.message


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="Cannot read job file"):
        load_job(tmp_path / "absent.json")

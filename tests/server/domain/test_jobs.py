"""Reading a job's first-class columns from its metadata."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from vigil.server.domain import extract_job_facts, extract_packages


def test_facts_of_a_dispatch_verify_job(conformance: Path) -> None:
    meta = json.loads((conformance / "squash" / "verify_job.json").read_text())["meta"]
    facts = extract_job_facts(meta)
    assert facts.environment == "jenkins"
    assert facts.dataset == "validation_data_cfht"  # ci_dataset is "unknown"
    assert facts.instrument == "CFHT"
    assert facts.filter_name == "r"
    assert facts.run_at == datetime(2018, 7, 30, 18, 25, 52, 410342, tzinfo=UTC)
    assert facts.ci_id is None  # "unknown" is no value
    assert facts.ci_url == "https://example.com"


def test_facts_from_the_dispatch_client_git_block() -> None:
    meta = {
        "env": {"env_name": "github-actions", "ci_id": "99", "ci_dataset": "rc2_subset"},
        "git": {
            "branch": "tickets/DM-1",
            "commit": "abc123",
            "author": "Ada",
            "author_email": "ada@example.org",
            "pull_request": "https://github.com/o/r/pull/42",
        },
        "dataset": "ignored_because_ci_dataset_wins",
    }
    facts = extract_job_facts(meta)
    assert facts.branch == "tickets/DM-1"
    assert facts.commit_sha == "abc123"
    assert facts.pull_request == 42
    assert facts.author_email == "ada@example.org"
    assert facts.dataset == "rc2_subset"
    assert facts.ci_id == "99"


def test_pull_request_forms() -> None:
    for value, expected in [(7, 7), ("7", 7), ("#7", 7), ({"number": 7}, 7), ("x", None)]:
        assert extract_job_facts({"git": {"pull_request": value}}).pull_request == expected


def test_dataset_from_meta_then_repo_url() -> None:
    assert extract_job_facts({"dataset": "hsc_rc2"}).dataset == "hsc_rc2"
    url = {"dataset_repo_url": "https://github.com/lsst/validation_data_hsc.git"}
    assert extract_job_facts(url).dataset == "validation_data_hsc"
    assert extract_job_facts({}).dataset is None


def test_packages_of_a_dispatch_verify_job(conformance: Path) -> None:
    meta = json.loads((conformance / "squash" / "verify_job.json").read_text())["meta"]
    packages = {p.name: p for p in extract_packages(meta)}
    assert len(packages) == 124
    assert packages["pybind11"].version == "2.1.1.lsst2"
    assert packages["pybind11"].git_sha == "bfe630dada77c6421032137d69208da9379e5e62"


def test_packages_as_a_list() -> None:
    packages = extract_packages({"packages": [{"name": "numpy", "version": "1.26"}, {}]})
    assert [(p.name, p.version) for p in packages] == [("numpy", "1.26")]

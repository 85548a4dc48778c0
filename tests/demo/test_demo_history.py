"""The demo history: deterministic, valid lsst.verify jobs, with its ground truth in the values."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vigil.demo import (
    DEBLEND_METRICS,
    VALIDATE_DRP_METRICS,
    DemoDefinitions,
    DemoHistory,
    InjectedChange,
    generate_history,
    injected_changes,
    load_definitions,
)
from vigil.demo import definitions as definitions_module
from vigil.verify import Job, query_metadata


def _night(job: dict[str, Any]) -> int:
    return (date.fromisoformat(job["meta"]["env"]["date"][:10]) - date(2026, 5, 25)).days


def _series(
    jobs: list[dict[str, Any]],
    metric: str,
    dataset: str,
    data_id: dict[str, Any],
    branch: str = "main",
) -> list[tuple[int, float, dict[str, Any]]]:
    """(night, value, job) of one series on one branch, in time order."""
    points = []
    for job in jobs:
        meta = job["meta"]
        if meta["dataset_name"] != dataset or meta["git"]["branch"] != branch:
            continue
        for m in job["measurements"]:
            if m["metric"] == metric and m.get("data_id", {}) == data_id:
                points.append((_night(job), m["value"], job))
    return points


def _texts(seed: int, days: int, definitions: DemoDefinitions) -> list[str]:
    jobs = generate_history(seed=seed, days=days, definitions=definitions)
    return [json.dumps(j, sort_keys=True, default=str) for j in jobs]


def test_same_seed_same_jobs(definitions: DemoDefinitions) -> None:
    first = _texts(7, 8, definitions)
    again = _texts(7, 8, load_definitions())
    other = _texts(8, 8, definitions)
    assert first == again
    assert len(first) > 40
    assert first != other


def test_a_shorter_history_is_a_prefix_of_a_longer_one(definitions: DemoDefinitions) -> None:
    short = list(generate_history(seed=3, days=10, definitions=definitions))
    long = list(generate_history(seed=3, days=20, definitions=definitions))
    assert [j["identifier"] for j in short] == [j["identifier"] for j in long[: len(short)]]
    assert json.dumps(short, default=str) == json.dumps(long[: len(short)], default=str)


def test_identifiers_are_unique_and_fixed_by_seed_and_start(jobs: list[dict[str, Any]]) -> None:
    identifiers = [j["identifier"] for j in jobs]
    assert len(set(identifiers)) == len(identifiers)
    assert all(i.startswith("demo-2026-20260525-") and len(i) <= 128 for i in identifiers)


def test_six_months_of_nightly_ci(history: DemoHistory, jobs: list[dict[str, Any]]) -> None:
    assert 1000 < len(jobs) == len(history) < 1200
    kinds = Counter(
        (j["meta"]["dataset_name"], j["meta"].get("filter_name"), j["meta"]["git"]["branch"])
        for j in jobs
        if j["meta"]["git"]["branch"] == "main"
    )
    for filter_name in ("HSC-G", "HSC-R", "HSC-I"):
        assert 165 <= kinds["validation_data_hsc", filter_name, "main"] <= 178
    for filter_name in ("r", "i"):
        assert 165 <= kinds["validation_data_cfht", filter_name, "main"] <= 178
    branches = {j["meta"]["git"]["branch"] for j in jobs} - {"main"}
    assert len(branches) >= 5
    assert all(b.startswith("tickets/DM-") for b in branches)
    times = [j["meta"]["env"]["date"] for j in jobs]
    assert times == sorted(times)


def test_jobs_read_back_strictly(jobs: list[dict[str, Any]]) -> None:
    for data in jobs:
        job = Job.from_dict(data, strict=True)
        assert len(job.measurements) == len(data["measurements"])
        assert job.identifier == data["identifier"]
    # And through JSON text, where NaN is written as null.
    job = Job.from_dict(json.loads(Job.from_dict(jobs[0]).to_json()), strict=True)
    assert job.to_dict()["measurements"] == jobs[0]["measurements"]


def test_meta_has_the_squash_era_and_vigil_shape(jobs: list[dict[str, Any]]) -> None:
    validate = next(j for j in jobs if j["meta"].get("filter_name") == "HSC-R")
    meta = validate["meta"]
    assert meta["instrument"] == "HSC"
    assert meta["dataset_repo_url"] == "https://github.com/lsst/validation_data_hsc.git"
    assert meta["env"]["env_name"] == "jenkins"
    assert set(meta["env"]) >= {"ci_id", "ci_name", "ci_url", "ci_dataset", "date"}
    assert meta["env"]["ci_dataset"] == "validation_data_hsc"
    assert set(meta["git"]) == {
        "branch",
        "commit",
        "author",
        "author_email",
        "committed_at",
        "pull_request",
        "repository_url",
    }
    assert len(meta["git"]["commit"]) == 40
    assert meta["packages"]["validate_drp"]["git_sha"] == meta["git"]["commit"]
    for name, package in meta["packages"].items():
        assert set(package) == {"name", "git_url", "git_sha", "git_branch", "eups_version"}
        assert package["name"] == name
    pr = next(j for j in jobs if j["meta"]["git"]["branch"] != "main")
    assert pr["meta"]["env"]["env_name"] == "github-actions"
    assert isinstance(pr["meta"]["git"]["pull_request"], int)
    assert pr["meta"]["packages"]["scarlet_lite"]["git_branch"] == pr["meta"]["git"]["branch"]


def test_jobs_carry_their_metrics_and_applicable_specs(jobs: list[dict[str, Any]]) -> None:
    for data in (jobs[0], jobs[5], jobs[-1]):
        measured = {m["metric"] for m in data["measurements"]}
        assert {m["name"] for m in data["metrics"]} == measured
        assert measured in (set(VALIDATE_DRP_METRICS), set(DEBLEND_METRICS))
        assert data["specs"]
        for spec in data["specs"]:
            assert spec["name"].rsplit(".", 1)[0] in measured
            assert query_metadata(spec["metadata_query"], data["meta"])
    hsc_r = next(j for j in jobs if j["meta"].get("filter_name") == "HSC-R")
    names = {s["name"] for s in hsc_r["specs"]}
    assert "validate_drp.PA1.hsc_design_r" in names
    assert "validate_drp.PA1.hsc_design_g" not in names


def test_per_patch_and_per_tract_data_ids(jobs: list[dict[str, Any]]) -> None:
    hsc_i = next(j for j in jobs if j["meta"].get("filter_name") == "HSC-I")
    data_ids = [(m["metric"], m.get("data_id")) for m in hsc_i["measurements"]]
    assert ("validate_drp.PA1", {"tract": 9813, "patch": 40, "band": "i"}) in data_ids
    assert ("validate_drp.AM1", {"tract": 9813, "band": "i"}) in data_ids
    assert ("validate_drp.PA1", {"band": "i"}) in data_ids
    deblend = next(j for j in jobs if j["meta"]["dataset_name"] == "deblend_benchmark_hsc")
    blends = {m.get("data_id", {}).get("blend") for m in deblend["measurements"]}
    assert len(blends - {None}) == 5


def test_packages_change_a_little_between_nights(jobs: list[dict[str, Any]]) -> None:
    nightly = [j for j in jobs if j["meta"].get("filter_name") == "HSC-R"]
    changed_per_night = []
    for before, after in itertools.pairwise(nightly):
        old, new = before["meta"]["packages"], after["meta"]["packages"]
        changed = [n for n in new if n in old and new[n]["git_sha"] != old[n]["git_sha"]]
        for name in changed:
            assert new[name]["eups_version"] != old[name]["eups_version"]
            assert new[name]["eups_version"].startswith("w.2026.")
        changed_per_night.append(len(changed))
    assert statistics.mean(changed_per_night) < 3
    assert sum(1 for n in changed_per_night if n) > len(changed_per_night) / 2


def test_levels_are_realistic(jobs: list[dict[str, Any]]) -> None:
    values = [
        v for _, v, _ in _series(jobs, "validate_drp.PA1", "validation_data_hsc", {"band": "r"})
    ]
    early = [v for v in values[:90] if not math.isnan(v)]
    assert 7.0 < statistics.mean(early) < 12.0
    assert 0.015 < statistics.stdev(early) / statistics.mean(early) < 0.04


def test_some_values_are_nan_and_written_as_null(jobs: list[dict[str, Any]]) -> None:
    nan = [(j, m) for j in jobs for m in j["measurements"] if math.isnan(m["value"])]
    assert 10 <= len(nan) <= 100
    # The HSC astrometry failure of night 64.
    failed = next(j for j in jobs if j["identifier"].endswith("validate_drp-hsc-r-n064"))
    am1 = [m for m in failed["measurements"] if m["metric"] == "validate_drp.AM1"]
    assert am1 and all(math.isnan(m["value"]) for m in am1)
    text = Job.from_dict(failed).to_json().decode()
    assert '"value": null' in text or '"value":null' in text
    assert "NaN" not in text
    again = Job.from_dict(json.loads(text), strict=True)
    assert again.nan_count == sum(1 for m in failed["measurements"] if math.isnan(m["value"]))


def test_some_specifications_fail_and_some_pass(jobs: list[dict[str, Any]]) -> None:
    statuses: Counter[str] = Counter()
    for data in jobs[:12]:
        statuses.update(v.status for v in Job.from_dict(data).evaluate())
    assert statuses["pass"] > 0
    assert statuses["fail"] > 0


def test_ground_truth_does_not_depend_on_the_values(history: DemoHistory) -> None:
    assert injected_changes() == history.injected_changes()
    kinds = Counter(c.kind for c in history.injected_changes())
    assert set(kinds) == {"regression", "improvement", "outlier"}


def test_ground_truth_names_the_first_bad_job(
    history: DemoHistory, jobs: list[dict[str, Any]]
) -> None:
    by_identifier = {j["identifier"]: j for j in jobs}
    for change in history.injected_changes():
        job = by_identifier[change.identifier]
        assert job["meta"]["git"]["commit"] == change.commit
        assert job["meta"]["git"]["branch"] == change.branch
        assert _night(job) == change.index
        if change.package and change.branch == "main":
            assert change.package in job["meta"]["packages"]
    pa1 = [
        c
        for c in history.injected_changes()
        if c.metric == "validate_drp.PA1" and c.data_id == {"band": "r"}
    ]
    assert len(pa1) == 1
    assert (pa1[0].index, pa1[0].size, pa1[0].kind) == (97, 0.2, "regression")
    night_before = next(j for j in jobs if j["identifier"].endswith("validate_drp-hsc-r-n096"))
    assert night_before["meta"]["git"]["commit"] != pa1[0].commit


def _mean(points: list[float]) -> float:
    finite = [p for p in points if not math.isnan(p)]
    return statistics.mean(finite)


@pytest.mark.parametrize("kind", ["regression", "improvement"])
def test_injected_main_line_changes_are_in_the_values(
    history: DemoHistory, jobs: list[dict[str, Any]], kind: str
) -> None:
    changes = [c for c in history.injected_changes() if c.kind == kind and c.branch == "main"]
    assert changes
    for change in changes:
        points = _series(jobs, change.metric, change.dataset, change.data_id)
        before = [v for n, v, _ in points if change.index - 20 <= n < change.index]
        after = [v for n, v, _ in points if change.index <= n < change.index + 20]
        assert _mean(before) == pytest.approx(change.baseline, rel=0.05), change
        ratio = _mean(after) / _mean(before)
        assert ratio == pytest.approx(1 + change.size, abs=0.06), change


def test_branch_regressions_are_in_the_values(
    history: DemoHistory, jobs: list[dict[str, Any]]
) -> None:
    changes = [c for c in history.injected_changes() if c.branch != "main"]
    assert {c.metric for c in changes} == {"deblend.runtime", "deblend.blend_residual_rms"}
    for change in changes:
        branch = _series(jobs, change.metric, change.dataset, change.data_id, change.branch)
        end = change.end_index if change.end_index is not None else 10_000
        bad = [v for n, v, _ in branch if change.index <= n <= end]
        main = _series(jobs, change.metric, change.dataset, change.data_id)
        reference = [v for n, v, _ in main if change.index - 10 <= n < change.index]
        assert _mean(bad) / _mean(reference) == pytest.approx(1 + change.size, abs=0.1)
        fixed = [v for n, v, _ in branch if n > end]
        if change.end_index is not None:
            assert fixed
            assert _mean(fixed) / _mean(reference) == pytest.approx(1.0, abs=0.1)


def test_the_outlier_is_one_night(history: DemoHistory, jobs: list[dict[str, Any]]) -> None:
    (outlier,) = [c for c in history.injected_changes() if c.kind == "outlier"]
    assert outlier.end_index == outlier.index
    points = {n: v for n, v, _ in _series(jobs, outlier.metric, outlier.dataset, outlier.data_id)}
    assert points[outlier.index] > outlier.baseline * (1 + outlier.size / 2)
    assert points[outlier.index + 1] < outlier.baseline * (1 + outlier.size / 2)


def test_injected_change_serialises() -> None:
    change = injected_changes(days=100)[0]
    assert isinstance(change, InjectedChange)
    assert json.loads(json.dumps(change.to_dict()))["metric"] == change.metric
    # Changes after the last night are not part of a shorter history.
    assert all(c.index < 100 for c in injected_changes(days=100))


def test_built_in_definitions_without_verify_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(definitions_module, "default_metrics_path", lambda: tmp_path / "none")
    definitions = load_definitions()
    assert definitions.source == "built-in"
    assert set(VALIDATE_DRP_METRICS) | set(DEBLEND_METRICS) <= set(definitions.metrics)
    for data in generate_history(days=2, definitions=definitions):
        job = Job.from_dict(data, strict=True)
        assert job.specs
        assert any(v.status == "fail" for v in job.evaluate()) or "deblend" in data["identifier"]


def test_verify_metrics_path_is_read_at_run_time(conformance: Path) -> None:
    path = conformance / "lsst-verify" / "verify_metrics"
    definitions = load_definitions(path)
    assert definitions.source == str(path)
    assert len(definitions.specs) > 100
    with pytest.raises(FileNotFoundError):
        load_definitions(conformance / "no-such-folder")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="night"):
        DemoHistory(days=0)
    with pytest.raises(ValueError, match="seed"):
        DemoHistory(seed=-1)

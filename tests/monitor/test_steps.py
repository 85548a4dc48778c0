"""Step states follow the start and end log markers of DESI's real mapping files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.monitor.mapping import load_step_mapping
from vigil.monitor.steps import StepState, StepTracker

FLAVORS = {
    "science": "Pipeline completed",
    "arc": "Pipeline processing finished",
    "flat": "Pipeline completed",
}


def _lines(steps: list[str]) -> list[str]:
    return [f"INFO:ql_pipeline.py: {text}" for text in steps]


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_a_clean_run_walks_every_step(mapping_dir: Path, flavor: str) -> None:
    mapping = load_step_mapping(mapping_dir / f"ql_mapping_{flavor}.json")
    assert mapping.flavor == flavor
    tracker = StepTracker(mapping.steps)
    names = [s.name for s in mapping.steps]
    assert tracker.states == {name: StepState.PENDING for name in names}

    seen: list[tuple[str, StepState]] = []
    log = ["QuickLook pipeline starting", *[s.start for s in mapping.steps], FLAVORS[flavor]]
    for line in _lines(log):
        transitions, checkpoint = tracker.feed(line)
        seen.extend((t.step, t.state) for t in transitions)
        if transitions:
            assert checkpoint is not None
    # Each step runs then succeeds, the next starting on the line that ends it.
    expected = []
    for i, name in enumerate(names):
        expected.append((name, StepState.RUNNING))
        if i + 1 < len(names):
            expected.append((name, StepState.SUCCEEDED))
    expected.append((names[-1], StepState.SUCCEEDED))
    assert [x for x in seen if x[1] is StepState.RUNNING] == [
        x for x in expected if x[1] is StepState.RUNNING
    ]
    assert sorted(seen) == sorted(expected)
    assert tracker.finish(0) == []
    assert tracker.succeeded


def test_the_end_marker_of_a_step_starts_the_next(mapping_dir: Path) -> None:
    steps = load_step_mapping(mapping_dir / "ql_mapping_science.json").steps
    tracker = StepTracker(steps)
    tracker.feed("INFO: Starting to run step Initialize")
    assert tracker.current == "CHECK_CCDs"
    transitions, checkpoint = tracker.feed("INFO: Starting to run step Flexure")
    assert [(t.step, t.state) for t in transitions] == [
        ("CHECK_CCDs", StepState.SUCCEEDED),
        ("CHECK_FIBERS", StepState.RUNNING),
    ]
    assert checkpoint == "CHECK_FIBERS"
    assert tracker.feed("INFO: Running BoxcarExtract") == ([], None)


def test_a_crash_fails_the_running_step_and_skips_the_rest(mapping_dir: Path) -> None:
    steps = load_step_mapping(mapping_dir / "ql_mapping_science.json").steps
    tracker = StepTracker(steps)
    tracker.feed("INFO: Starting to run step Initialize")
    tracker.feed("INFO: Starting to run step Flexure")
    transitions = tracker.finish(1)
    assert [(t.step, t.state) for t in transitions] == [
        ("CHECK_FIBERS", StepState.FAILED),
        ("CHECK_SPECTRA", StepState.SKIPPED),
    ]
    assert tracker.states["CHECK_CCDs"] is StepState.SUCCEEDED
    assert not tracker.succeeded


def test_exit_zero_without_the_last_end_marker_is_a_failure(mapping_dir: Path) -> None:
    steps = load_step_mapping(mapping_dir / "ql_mapping_arc.json").steps
    tracker = StepTracker(steps)
    for step in steps:
        tracker.feed(step.start)
    assert tracker.finish(0)[-1].state is StepState.FAILED


def test_a_step_whose_start_never_came_is_skipped(mapping_dir: Path) -> None:
    steps = load_step_mapping(mapping_dir / "ql_mapping_flat.json").steps
    tracker = StepTracker(steps)
    transitions, _ = tracker.feed("Starting to run step Flexure")
    assert [(t.step, t.state) for t in transitions] == [
        ("CHECK_CCDs", StepState.SKIPPED),
        ("CHECK_FIBERS", StepState.RUNNING),
    ]


@pytest.mark.parametrize("flavor", ["science", "arc", "flat"])
def test_every_qa_of_the_real_mappings_has_a_description(mapping_dir: Path, flavor: str) -> None:
    """DESI's files give none: each QA gets DESI's own short description, a mapping's wins."""
    from vigil.monitor.mapping import parse_step_list

    steps = load_step_mapping(mapping_dir / f"ql_mapping_{flavor}.json").steps
    described = {qa.key: qa.description for step in steps for qa in step.qa}
    assert described and all(described.values()), described
    assert "Read noise" in (described.get("NOISE_AMP") or "NOISE_AMP is science-only")
    own = parse_step_list(
        [
            {
                "name": "CHECK_CCDs",
                "start": "a",
                "end": "b",
                "qa_list": [{"status_key": "NOISE_AMP_STATUS", "description": "Our noise."}],
            }
        ]
    )
    assert own[0].qa[0].description == "Our noise."

"""The overview's parts without a server: sparklines and the per-metric summary."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from vigil.server.domain import JobFacts, JobSummary, SpecificationInfo
from vigil.server.handlers.web._overview_plots import SPARK_HEIGHT, sparkline
from vigil.server.services._dashboard_overview import judge_main_line
from vigil.server.services.dashboard import KeyMetric, KeyPoint
from vigil.server.storage.dashboard import MeasurementValue

START = datetime(2026, 3, 1, tzinfo=UTC)


def _key(values: list[float], threshold: float | None, status: str = "pass") -> KeyMetric:
    spec = SpecificationInfo("m.x.design", "m.x", "threshold", threshold, "mmag", "<=")
    return KeyMetric(
        metric="m.x",
        unit="mmag",
        series_key="k",
        dataset="d",
        data_id={"band": "r"},
        points=[KeyPoint(i, START + timedelta(days=i), v) for i, v in enumerate(values)],
        point_count=len(values),
        requirement=True,
        spec=spec if threshold is not None else None,
        threshold=threshold,
        status=status,
    )


def _ys(svg: str) -> list[float]:
    found = re.search(r'points="([^"]*)"', svg)
    assert found is not None
    return [float(p.split(",")[1]) for p in found.group(1).split()]


def test_sparkline_draws_higher_values_higher_and_the_threshold_near_them() -> None:
    svg = str(sparkline(_key([4.0, 6.0, 5.0], 5.5, "fail")))
    ys = _ys(svg)
    assert ys[1] < ys[2] < ys[0]  # SVG's y grows downwards
    assert all(0 <= y <= SPARK_HEIGHT for y in ys)
    spec = re.search(r'class="spark-spec"[^>]*y1="([^"]*)"', svg)
    assert spec is not None and ys[1] < float(spec.group(1)) < ys[2]
    assert 'class="spark-last fail"' in svg
    assert "<title>m.x (d, band=r): 3 main-line values" in svg


def test_a_far_threshold_does_not_flatten_the_history() -> None:
    svg = str(sparkline(_key([12.0, 13.0, 12.5], 0.5)))
    assert 'class="spark-spec"' not in svg
    # It is marked on the edge it lies beyond: below the values, the bottom edge.
    edge = re.search(r'class="spark-spec off"[^>]*y1="([^"]*)"', svg)
    assert edge is not None and float(edge.group(1)) == SPARK_HEIGHT - 1
    above = re.search(
        r'class="spark-spec off"[^>]*y1="([^"]*)"', str(sparkline(_key([1.0, 2.0], 90.0)))
    )
    assert above is not None and float(above.group(1)) == 1.0
    assert min(_ys(svg)) < 10 and max(_ys(svg)) > SPARK_HEIGHT - 10
    # One value, or equal values: a level line in the middle, never a division by zero.
    for values in ([3.0], [2.0, 2.0]):
        ys = _ys(str(sparkline(_key(values, None, "none"))))
        assert all(abs(y - SPARK_HEIGHT / 2) < 1 for y in ys)


def _spec(name: str, value: float, *tags: str) -> SpecificationInfo:
    return SpecificationInfo(name, "m.x", "threshold", value, "mmag", "<=", tags=list(tags))


def test_only_untagged_failures_keep_the_strictest_passing_level() -> None:
    specs = {
        "m.x": [
            _spec("m.x.minimum", 10.0, "minimum"),
            _spec("m.x.design", 6.0, "design"),
            _spec("m.x.stretch", 4.0, "stretch"),
            _spec("m.x.FY17", 5.0),
            _spec("m.x.ORR", 5.5),
        ]
    }
    job = JobSummary(1, "j", START, JobFacts(dataset="d"))
    values = [MeasurementValue(1, 1, "m.x", 5.8, "mmag", {}, "k")]
    failing, per_metric = judge_main_line(values, specs, {1: {}}, {1: job})
    assert [f.spec.name for f in failing] == ["m.x.stretch", "m.x.FY17", "m.x.ORR"]
    (summary,) = per_metric
    assert summary.failing_level == "stretch" and summary.passing_level == "design"
    assert summary.others == 2 and summary.headline.spec.name == "m.x.stretch"
    # Without the stretch level, only untagged specifications fail: design still passes.
    specs["m.x"] = [s for s in specs["m.x"] if s.name != "m.x.stretch"]
    _, (summary,) = judge_main_line(values, specs, {1: {}}, {1: job})
    assert (summary.failing_level, summary.passing_level) == (None, "design")
    assert summary.passing_spec is not None and summary.passing_spec.name == "m.x.design"

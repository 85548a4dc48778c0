"""The compare page's judgement: robust noise, unusualness, worst-first order, selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.server.services.compare import (
    MIN_HISTORY,
    CompareQuery,
    SeriesDelta,
    judge,
    order_worst_first,
    robust_noise,
    select_deltas,
)
from vigil.server.storage.compare import SeriesMeasurement


def series(metric: str = "pkg.m", **data_id: object) -> SeriesMeasurement:
    return SeriesMeasurement(1, f"key-{metric}-{data_id}", metric, dict(data_id), None, "")


def test_noise_is_the_standard_deviation_of_white_noise() -> None:
    values = np.random.default_rng(7).normal(10.0, 2.0, size=400)
    sigma, used = robust_noise(list(values))
    assert used == 400
    assert sigma == pytest.approx(2.0, rel=0.15)


def test_noise_ignores_a_step_and_missing_values() -> None:
    rng = np.random.default_rng(8)
    drawn = [float(v) for v in rng.normal(10.0, 1.0, size=200)]
    values: list[float | None] = [*drawn[:100], *(v + 50.0 for v in drawn[100:])]  # a step
    values[60] = None
    values[70] = math.nan
    sigma, used = robust_noise(values)
    assert used == 198
    assert sigma == pytest.approx(1.0, rel=0.2)


def test_one_wild_value_widens_the_noise_at_most_twice() -> None:
    # A wild value is evidence of heavy tails: the noise widens, but boundedly, so that
    # later changes of the series can still be seen.
    rng = np.random.default_rng(8)
    values = list(rng.normal(10.0, 1.0, size=200))
    clean, _ = robust_noise(values)
    values[50] = 1e6
    wild, _ = robust_noise(values)
    assert clean is not None and wild is not None
    assert clean < wild <= 2.1 * clean  # twice the body, which moves a little too


def test_too_few_points_give_no_noise() -> None:
    assert robust_noise([1.0, 2.0, None, 3.0, 4.0, math.nan]) == (None, 4)
    sigma, used = robust_noise([1.0, 2.0, 1.5, 1.2, 1.8][:MIN_HISTORY])
    assert sigma is not None and used == MIN_HISTORY


def test_a_rise_of_a_lower_is_better_metric_is_worse() -> None:
    noise = [10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 10.1, 9.9] * 4
    delta = judge(series(), 10.0, 12.0, unit="mmag", direction="lower", noise=noise)
    assert delta.delta == pytest.approx(2.0)
    assert delta.percent == pytest.approx(20.0)
    assert delta.sigma is not None and delta.sigma_delta == pytest.approx(delta.sigma * 2**0.5)
    assert delta.z is not None and delta.z >= 3.0 and delta.p_value is not None
    assert delta.unusual is True
    assert delta.change == "worse"
    assert delta.score == pytest.approx(delta.z)

    better = judge(series(), 10.0, 12.0, unit="mmag", direction="higher", noise=noise)
    assert better.change == "better"
    assert better.score == pytest.approx(-delta.z)

    unknown = judge(series(), 10.0, 12.0, unit="mmag", direction=None, noise=noise)
    assert unknown.change == "changed"
    assert unknown.score == pytest.approx(abs(delta.z))


def test_small_changes_are_within_noise() -> None:
    noise = [10.0, 10.5, 9.5, 10.2, 9.8, 10.4, 9.6, 10.1]
    delta = judge(series(), 10.0, 10.3, unit="", direction="lower", noise=noise)
    assert delta.unusual is False
    assert delta.change == "within noise"
    same = judge(series(), 10.0, 10.0, unit="", direction="lower", noise=noise)
    assert same.change == "unchanged"


def test_nan_changes_are_changes() -> None:
    noise = [1.0, 1.1, 0.9, 1.0, 1.05]
    became = judge(series(), 3.2, None, unit="", direction="lower", noise=noise)
    assert became.change == "became NaN"
    assert became.unusual is True and became.delta is None
    assert became.score == math.inf
    recovered = judge(series(), None, 3.2, unit="", direction="lower", noise=noise)
    assert recovered.change == "no longer NaN"
    assert recovered.unusual is True
    both = judge(series(), None, None, unit="", direction="lower", noise=noise)
    assert both.change == "both NaN"
    assert both.unusual is False


def test_without_history_the_change_is_not_judged() -> None:
    delta = judge(series(), 10.0, 12.0, unit="", direction="lower", noise=[10.0, 10.1])
    assert delta.sigma is None and delta.z is None and delta.unusual is None
    assert delta.history == 2
    assert delta.change == "worse"  # the direction still says which way it went
    assert delta.score == 0.0


def test_a_change_after_a_constant_history_stands_out() -> None:
    delta = judge(series(), 5.0, 5.5, unit="", direction="lower", noise=[5.0] * 10)
    assert delta.sigma == 0.0 and delta.z is None
    assert delta.unusual is True and delta.change == "worse"
    assert delta.score > 1e6


def test_percent_of_zero_is_undefined() -> None:
    delta = judge(series(), 0.0, 1.0, unit="", direction=None, noise=[])
    assert delta.percent is None and delta.delta == 1.0


def make(metric: str, a: float | None, b: float | None, direction: str | None) -> SeriesDelta:
    noise = [10.0, 10.05, 9.95, 10.0, 10.1, 9.9, 10.05, 9.95] * 4
    return judge(series(metric), a, b, unit="", direction=direction, noise=noise)


def sample() -> list[SeriesDelta]:
    deltas = [
        make("p.better", 10.0, 8.0, "lower"),
        make("p.noise", 10.0, 10.05, "lower"),
        make("p.nan", 10.0, None, "lower"),
        make("p.worse", 10.0, 11.0, "lower"),
        make("p.much_worse", 10.0, 13.0, "lower"),
        make("p.higher_better_dropped", 10.0, 9.0, "higher"),
        judge(series("p.no_history"), 10.0, 30.0, unit="", direction="lower", noise=[]),
    ]
    order_worst_first(deltas)
    return deltas


def test_worst_first() -> None:
    names = [d.metric for d in sample()]
    assert names == [
        "p.nan",
        "p.much_worse",
        "p.higher_better_dropped",
        "p.worse",
        "p.noise",
        "p.no_history",
        "p.better",
    ]
    assert [d.rank for d in sample()] == list(range(7))


def test_selection_filters_and_sorts_with_missing_values_last() -> None:
    deltas = sample()
    chosen = select_deltas(deltas, CompareQuery(a=1, b=2, unusual_only=True))
    assert [d.metric for d in chosen] == [
        "p.nan",
        "p.much_worse",
        "p.higher_better_dropped",
        "p.worse",
        "p.better",
    ]
    by_text = select_deltas(deltas, CompareQuery(a=1, b=2, text="WORSE"))
    assert [d.metric for d in by_text] == ["p.much_worse", "p.worse"]
    for descending in (False, True):
        by_z = select_deltas(deltas, CompareQuery(a=1, b=2, sort="z", descending=descending))
        assert [d.metric for d in by_z[-2:]] == ["p.nan", "p.no_history"]  # no z: last
        zs = [d.z for d in by_z[:-2]]
        assert zs == sorted(zs, reverse=descending)  # type: ignore[type-var]
    reverse = select_deltas(deltas, CompareQuery(a=1, b=2, descending=True))
    assert [d.rank for d in reverse] == list(range(6, -1, -1))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (CompareQuery(), "a"),
        (CompareQuery(a=1), "b"),
        (CompareQuery(a=1, b=2, branch="x"), "branch"),
        (CompareQuery(branch="  "), "branch"),
        (CompareQuery(a=1, b=2, history=2), "history"),
        (CompareQuery(a=1, b=2, sort="colour"), "sort"),
    ],
)
def test_bad_queries_say_what_to_give(query: CompareQuery, field: str) -> None:
    from vigil.server.exceptions import InvalidRequestError

    with pytest.raises(InvalidRequestError) as caught:
        query.check()
    assert caught.value.field == field

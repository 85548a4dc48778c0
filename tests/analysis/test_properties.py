"""Properties every answer must have, on generated series."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.analysis import analyse_series, change_points, gate

from ._data import load_series

VERDICTS = {"regression", "improvement", "change", "no change", "not enough data"}

values = st.lists(
    st.one_of(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.just(math.nan),
        st.none(),
        st.sampled_from([0.0, 1.0, 2.0]),  # ties and plateaus
    ),
    max_size=120,
)


@st.composite
def steppy(draw: st.DrawFn) -> list[float | None]:
    """A noisy series with up to three steps, outliers and missing values."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(10, 300))
    level = np.zeros(n)
    for _ in range(draw(st.integers(0, 3))):
        level[int(rng.integers(0, n)) :] += rng.normal(0, 4)
    x = level + rng.standard_t(draw(st.sampled_from([2, 5, 100])), n)
    x[rng.random(n) < 0.02] += 50
    return [None if rng.random() < 0.05 else float(v) for v in x]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_never_an_index_out_of_range(series: list[float | None]) -> None:
    analysis = analyse_series(series, "lower")
    finite = [i for i, v in enumerate(series) if v is not None and math.isfinite(v)]
    previous = 0
    for cp in analysis.change_points:
        assert cp.index in finite and cp.previous_index in finite
        assert previous <= cp.previous_index < cp.index < len(series)
        # At least min_segment finite values on each side.
        assert finite.index(cp.index) >= 5 and len(finite) - finite.index(cp.index) >= 5
        assert 0 <= cp.p_value <= 1 and cp.kind in ("regression", "improvement")
        previous = cp.index
    if analysis.status == "ok":
        assert analysis.segments[0].start == 0 and analysis.segments[-1].stop == len(series)
        assert len(analysis.segments) == len(analysis.change_points) + 1
    else:
        assert analysis.change_points == () and analysis.reason


@settings(max_examples=60, deadline=None)
@given(steppy())
def test_deterministic(series: list[float | None]) -> None:
    assert change_points(series) == change_points(list(series))


@settings(max_examples=60, deadline=None)
@given(
    steppy(),
    st.floats(min_value=1e-3, max_value=1e3),
    st.floats(min_value=-1e4, max_value=1e4),
)
def test_invariant_to_shift_and_scale(
    series: list[float | None], scale: float, shift: float
) -> None:
    moved = [None if v is None else v * scale + shift for v in series]
    before, after = change_points(series, "lower"), change_points(moved, "lower")
    # A p-value right at alpha may round either way; everything else must agree.
    strong = [cp for cp in before if cp.p_value < 1e-4]
    indices = {cp.index for cp in after}
    assert all(cp.index in indices for cp in strong)
    for cp in after:
        match = [b for b in before if b.index == cp.index]
        if match:
            assert math.isclose(cp.effect_size, match[0].effect_size, rel_tol=1e-6)
            assert math.isclose(cp.size, match[0].size * scale, rel_tol=1e-6, abs_tol=1e-9)
            assert cp.kind == match[0].kind


@settings(max_examples=60, deadline=None)
@given(steppy(), st.sampled_from([2.0**600, 2.0**-600, 2.0**-1000 * 2.0**60, 2.0**900]))
def test_identical_verdicts_at_any_scale(series: list[float | None], factor: float) -> None:
    """Multiplying by a power of two is exact in floating point: the verdicts (positions,
    kinds, effect sizes, p-values, status) must be identical, not merely close."""
    moved = [None if v is None else v * factor for v in series]
    before, after = analyse_series(series, "lower"), analyse_series(moved, "lower")
    assert after.status == before.status and after.reason == before.reason
    assert [(c.index, c.kind, c.effect_size, c.p_value) for c in after.change_points] == [
        (c.index, c.kind, c.effect_size, c.p_value) for c in before.change_points
    ]
    for cp, ref in zip(after.change_points, before.change_points, strict=True):
        assert cp.size == ref.size * factor and math.isfinite(cp.size)


# Values whose products with 2**-600 stay normal floats (no subnormal rounding).
_ordinary = st.floats(-1e3, 1e3).filter(lambda v: v == 0 or abs(v) > 1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_ordinary, min_size=3, max_size=40),
    st.lists(_ordinary, min_size=1, max_size=3),
    st.sampled_from([2.0**600, 2.0**-600, 2.0**900]),
)
def test_identical_gate_verdicts_at_any_scale(
    baseline: list[float], new: list[float], factor: float
) -> None:
    before = gate(baseline, new, "lower")
    after = gate([v * factor for v in baseline], [v * factor for v in new], "lower")
    assert (after.verdict, after.effect_size, after.p_value, after.method) == (
        before.verdict,
        before.effect_size,
        before.p_value,
        before.method,
    )


@settings(max_examples=60, deadline=None)
@given(steppy())
def test_flipping_the_sign_flips_the_kinds(series: list[float | None]) -> None:
    flipped = [None if v is None else -v for v in series]
    strong = [cp for cp in change_points(series, "lower") if cp.p_value < 1e-4]
    kinds = {cp.index: cp.kind for cp in change_points(flipped, "lower")}
    opposite = {"regression": "improvement", "improvement": "regression"}
    assert all(kinds.get(cp.index) == opposite[cp.kind] for cp in strong)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 140), st.integers(1, 10))
def test_missing_values_only_move_positions(at: int, count: int) -> None:
    series = load_series("step_up")  # 120 values, a change at 60
    padded = series[:at] + [None] * count + series[at:]
    (cp,) = change_points(padded)
    assert cp.index == 60 + (count if at <= 60 else 0)


@settings(max_examples=150, deadline=None)
@given(values, values, st.sampled_from(["lower", "higher", None]))
def test_gate_always_answers(baseline: list[float | None], new: list[float | None], d: str) -> None:
    result = gate(baseline, new, d)
    assert result.verdict in VERDICTS
    assert result.message
    if result.verdict != "not enough data":
        assert result.p_value is not None and 0 <= result.p_value <= 1

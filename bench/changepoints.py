"""Change-point detection figures: Vigil's detector against ruptures PELT and a z-score.

Run: .venv/bin/python bench/changepoints.py [--quick] [--seed N] [--series N]

A generated benchmark (seeded) of series with known change points: steps of 1 to 5 noise
sigmas, Gaussian and heavy-tailed (Student t, 3 degrees of freedom) noise, single
outliers and outlier bursts, NaN gaps, and series with no change at all. For each
detector it prints precision, recall and F1 (a detection counts when it is within 5
points of a true change point, each true one matched once) per step size, the
false-alarm rate on the no-change series, and the time for one 10,000-point series.

Baselines:
- ruptures PELT, model "l1" (the strongest robust peer measured here), and ruptures
  Binseg, model "l2", on the series standardised with a robust noise estimate (median
  absolute deviation of first differences), BIC penalty ``log(n) * sigma**2`` (``sigma =
  1`` after standardising), ``min_size=5``, ``jump=1``.
- a lookback z-score detector (as benchmark dashboards use): a value is flagged when it is
  more than 5 standard deviations from the mean of the 30 values before it (since the
  last flag, at least 10); flags less than 5 points apart are one change.

The detector's defaults were tuned on ``--seed 7``; the printed run uses seed 2024 by
default, so the figures are on series not seen while tuning.

The edge figures (``bench/_edges.py``): detection delay of 3, 4 and 6 sigma steps judged
as each new value arrives (Vigil: an early-warning suspicion or a confirmed change point),
false alarms on flat series per run and per series, short excursions (8 to 20 values at
2.5 sigma), findings per smooth-trend series, change points per periodic series, and the
subset property between levels of alpha; the peers in the same run.

The compare page's calibration: on series of pure noise (Gaussian, Student t with 5 and
3 degrees of freedom, Laplace), the share of pairs of successive jobs whose delta gets
``|z| >= 3`` from `vigil.analysis.difference_significance` (what the compare page and the
branch view show), beside the z of before (the delta over one value's noise).

Aims: F1 >= 0.9 on steps of 2 sigma and more, under 5 % false alarms on no-change series,
better than both baselines, under 50 ms for 10,000 points, at most 0.5 % of no-change
compare rows flagged (Gaussian, Student t(5), Laplace).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from _edges import print_edges

from vigil.analysis import change_points, difference_significance, gate, noise_sigma

MARGIN = 5
STEP_SIZES = (1, 2, 3, 4, 5)
TIMING_POINTS = 10_000
DEFAULT_SEED = 2024
TUNING_SEED = 7

FloatArray = npt.NDArray[np.float64]
Detector = Callable[[FloatArray], list[int]]


@dataclass
class Series:
    """One generated series and its true change points."""

    values: FloatArray
    truth: list[int]
    step: int  # step size in sigmas, 0 for no change
    noise: str  # "gaussian" or "student-t"
    outliers: bool


@dataclass
class Score:
    """Counts of one detector on a group of series."""

    true_positives: int = 0
    detections: int = 0
    truths: int = 0
    series_with_alarm: int = 0
    series: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_positives / self.detections if self.detections else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truths if self.truths else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.series_with_alarm / self.series if self.series else 0.0


# Data ---------------------------------------------------------------------------------


def noise(rng: np.random.Generator, n: int, kind: str) -> FloatArray:
    """Unit-variance noise: Gaussian, or Student t with 3 degrees of freedom."""
    if kind == "gaussian":
        return rng.standard_normal(n)
    return rng.standard_t(3, n) / math.sqrt(3.0)


def generate(rng: np.random.Generator, step: int, kind: str, outliers: bool) -> Series:
    """A series of 100 to 500 points with 1 to 3 steps of *step* sigmas (none for 0)."""
    count = 0 if step == 0 else int(rng.integers(1, 4))
    n = int(rng.integers(max(100, 50 * (count + 1)), 501))
    truth: list[int] = []
    while len(truth) < count:
        # Levels last at least 30 points: a change must be seen to last before it counts.
        candidate = int(rng.integers(30, n - 30))
        if all(abs(candidate - t) >= 30 for t in truth):
            truth.append(candidate)
    truth.sort()
    level = np.zeros(n)
    current = 0.0
    for t in truth:
        current += step * float(rng.choice([-1.0, 1.0]))
        level[t:] = current
    values = 100.0 + level + noise(rng, n, kind)
    if outliers:
        # Single spikes of 6 to 15 sigmas and one burst of 2 or 3 values.
        for i in rng.choice(n, size=int(rng.integers(1, 4)), replace=False):
            values[i] += float(rng.choice([-1.0, 1.0]) * rng.uniform(6, 15))
        start = int(rng.integers(0, n - 3))
        values[start : start + int(rng.integers(2, 4))] += float(
            rng.choice([-1.0, 1.0]) * rng.uniform(6, 15)
        )
    if rng.random() < 0.3:
        # NaN gaps: a failed run leaves no value.
        values[rng.choice(n, size=n // 20, replace=False)] = np.nan
    return Series(values, truth, step, kind, outliers)


def benchmark_set(seed: int, per_step: int, no_change: int) -> list[Series]:
    """*per_step* series for each step size and *no_change* series without a change."""
    rng = np.random.default_rng(seed)
    series = []
    for step in (0, *STEP_SIZES):
        for i in range(no_change if step == 0 else per_step):
            kind = "gaussian" if i % 2 == 0 else "student-t"
            series.append(generate(rng, step, kind, outliers=i % 3 == 0))
    return series


# Detectors ----------------------------------------------------------------------------


def finite(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Finite values and their positions."""
    positions = np.flatnonzero(np.isfinite(values))
    return values[positions], positions


def robust_noise(x: FloatArray) -> float:
    """Noise standard deviation from the MAD of first differences."""
    d = np.diff(x)
    sigma = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)
    return sigma if sigma > 0 else float(np.std(x)) or 1.0


def vigil_detector(values: FloatArray) -> list[int]:
    return [cp.index for cp in change_points(values)]


def _ruptures(values: FloatArray, make: Callable[[], object]) -> list[int]:
    x, positions = finite(values)
    z = (x - np.median(x)) / robust_noise(x)
    breaks = make().fit(z).predict(pen=math.log(x.size))  # type: ignore[attr-defined]
    return [int(positions[b]) for b in breaks[:-1]]


def pelt_detector(values: FloatArray) -> list[int]:
    import ruptures

    return _ruptures(values, lambda: ruptures.Pelt(model="l1", min_size=5, jump=1))


def binseg_detector(values: FloatArray) -> list[int]:
    import ruptures

    return _ruptures(values, lambda: ruptures.Binseg(model="l2", min_size=5, jump=1))


def zscore_detector(
    values: FloatArray, lookback: int = 30, threshold: float = 5.0, min_history: int = 10
) -> list[int]:
    x, positions = finite(values)
    found: list[int] = []
    start = 0  # the history restarts at the last flagged change
    for i in range(x.size):
        history = x[max(start, i - lookback) : i]
        if history.size < min_history:
            continue
        sd = float(np.std(history, ddof=1))
        if sd == 0:
            continue
        if abs(x[i] - float(np.mean(history))) / sd > threshold:
            if not found or i - found[-1] >= MARGIN:
                found.append(i)
            start = i
    return [int(positions[i]) for i in found]


DETECTORS: dict[str, Detector] = {
    "vigil (E-Divisive means)": vigil_detector,
    "ruptures PELT l1, BIC": pelt_detector,
    "ruptures Binseg l2, BIC": binseg_detector,
    "lookback z-score > 5": zscore_detector,
}


# Scoring ------------------------------------------------------------------------------


def matches(found: Sequence[int], truth: Sequence[int], margin: int = MARGIN) -> int:
    """True positives: one-to-one matches within *margin*, closest pairs first."""
    pairs = sorted(
        (abs(f - t), i, j)
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(f - t) <= margin
    )
    used_found: set[int] = set()
    used_truth: set[int] = set()
    for _, i, j in pairs:
        if i not in used_found and j not in used_truth:
            used_found.add(i)
            used_truth.add(j)
    return len(used_found)


@dataclass
class Outcome:
    """One detector's answer on one series."""

    series: Series
    found: int
    true_positives: int
    seconds: float


def run(detector: Detector, series: list[Series]) -> list[Outcome]:
    """The detector on every series."""
    outcomes = []
    for s in series:
        start = time.perf_counter()
        found = detector(s.values)
        elapsed = time.perf_counter() - start
        outcomes.append(Outcome(s, len(found), matches(found, s.truth), elapsed))
    return outcomes


def step_is(step: int) -> Callable[[Series], bool]:
    """Keep the series with steps of *step* sigmas (0: no change)."""
    return lambda s: s.step == step


def big_steps(s: Series) -> bool:
    """Keep the series with steps of 2 sigmas or more."""
    return s.step >= 2


def both(
    first: Callable[[Series], bool], second: Callable[[Series], bool]
) -> Callable[[Series], bool]:
    """Keep the series both keep."""
    return lambda s: first(s) and second(s)


def tally(outcomes: list[Outcome], keep: Callable[[Series], bool]) -> Score:
    """Counts over the outcomes whose series *keep* accepts."""
    sc = Score()
    for o in outcomes:
        if keep(o.series):
            sc.series += 1
            sc.detections += o.found
            sc.truths += len(o.series.truth)
            sc.true_positives += o.true_positives
            sc.series_with_alarm += o.found > 0
            sc.seconds.append(o.seconds)
    return sc


def timing_series(seed: int) -> FloatArray:
    """A 10,000-point series with 20 steps of 2 to 4 sigmas, outliers and NaN."""
    rng = np.random.default_rng(seed + 1)
    level = np.zeros(TIMING_POINTS)
    for t in np.sort(rng.choice(np.arange(100, TIMING_POINTS - 100), 20, replace=False)):
        level[t:] += rng.uniform(2, 4) * rng.choice([-1.0, 1.0])
    values = level + rng.standard_t(3, TIMING_POINTS) / math.sqrt(3)
    values[rng.choice(TIMING_POINTS, 30, replace=False)] += 12
    values[rng.choice(TIMING_POINTS, 100, replace=False)] = np.nan
    return values


def time_detector(detector: Detector, values: FloatArray, repeat: int) -> tuple[float, float]:
    """Best and median wall time of *repeat* runs, in seconds (the machine is shared:
    the best is the detector's own cost, the median shows the noise)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        detector(values)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


# Report -------------------------------------------------------------------------------


KINDS: dict[str, Callable[[Series], bool]] = {
    "Gaussian": lambda s: s.noise == "gaussian" and not s.outliers,
    "Gaussian + outliers": lambda s: s.noise == "gaussian" and s.outliers,
    "Student t": lambda s: s.noise == "student-t" and not s.outliers,
    "Student t + outliers": lambda s: s.noise == "student-t" and s.outliers,
}


def print_detection(
    detectors: dict[str, Detector], series: list[Series]
) -> dict[str, list[Outcome]]:
    """The precision/recall/F1 table, by step size and by kind of noise."""
    header = f"{'detector':26} {'step':>7} {'precision':>9} {'recall':>7} {'F1':>6}"
    print(header)
    print("-" * len(header))
    results: dict[str, list[Outcome]] = {}
    for name, detector in detectors.items():
        outcomes = results[name] = run(detector, series)
        for step in STEP_SIZES:
            sc = tally(outcomes, step_is(step))
            print(f"{name:26} {step:>7} {sc.precision:9.3f} {sc.recall:7.3f} {sc.f1:6.3f}")
        sc = tally(outcomes, big_steps)
        print(f"{name:26} {'>= 2':>7} {sc.precision:9.3f} {sc.recall:7.3f} {sc.f1:6.3f}")
        print()
    print("F1 on steps >= 2 sigma, and false alarms on no-change series, by kind of noise")
    header = f"{'detector':26} " + " ".join(f"{kind:>22}" for kind in KINDS)
    print(header)
    print("-" * len(header))
    for name, outcomes in results.items():
        cells = []
        for keep in KINDS.values():
            f1 = tally(outcomes, both(keep, big_steps)).f1
            alarms = tally(outcomes, both(keep, step_is(0)))
            cells.append(f"{f1:.3f} / {alarms.false_alarm_rate:5.1%}")
        print(f"{name:26} " + " ".join(f"{cell:>22}" for cell in cells))
    print()
    return results


def print_gate(seed: int, trials: int) -> None:
    """How often `gate` calls unchanged results a regression, and finds shifted ones."""
    rng = np.random.default_rng(seed + 2)
    shifts = (0, 2, 3, 5)
    print(
        f"gate: regressions called, out of {trials} trials, against 30 baseline values "
        "(lower is better; shift in noise sigmas; 0 = false alarms)"
    )
    header = f"{'noise':12} {'new values':>10} " + " ".join(f"{f'+{s} sigma':>10}" for s in shifts)
    print(header)
    print("-" * len(header))
    for kind in ("gaussian", "student-t"):
        for count in (1, 3):
            cells = []
            for shift in shifts:
                called = 0
                for _ in range(trials):
                    baseline = 100 + noise(rng, 30, kind)
                    new = 100 + shift + noise(rng, count, kind)
                    called += gate(baseline, new, "lower").verdict == "regression"
                cells.append(f"{called / trials:10.1%}")
            print(f"{kind:12} {count:>10} " + " ".join(cells))
    print()


COMPARE_HISTORY = 30  # the compare page's default
COMPARE_AIM = 0.005


def compare_noise(rng: np.random.Generator, n: int, kind: str) -> FloatArray:
    """Unit-variance noise of the compare figure: also Student t(5) and Laplace."""
    if kind == "student-t5":
        return rng.standard_t(5, n) / math.sqrt(5 / 3)
    if kind == "laplace":
        return rng.laplace(size=n) / math.sqrt(2.0)
    return noise(rng, n, kind)


def compare_false_flags(seed: int, series: int, kind: str) -> tuple[float, float]:
    """Share of no-change pairs the compare page flags (``|z| >= 3``): now, and with the
    z of before (the delta over one value's noise, ``1.4826 MAD(diff) / sqrt(2)``).

    Each series is pure noise; every job from the history length on is compared with the
    one before it, its noise estimated from the last `COMPARE_HISTORY` values up to it.
    """
    rng = np.random.default_rng(seed + 3)
    flagged = before = pairs = 0
    for _ in range(series):
        x = 100.0 + compare_noise(rng, COMPARE_HISTORY + 20, kind)
        for b in range(COMPARE_HISTORY, x.size):
            history = x[b - COMPARE_HISTORY : b]
            z = difference_significance(history, x[b - 1], x[b]).z
            flagged += z is not None and abs(z) >= 3.0
            before += abs(x[b] - x[b - 1]) >= 3.0 * noise_sigma(history)
            pairs += 1
    return flagged / pairs, before / pairs


def print_compare(seed: int, series: int) -> float:
    """The compare page's false flags on no-change pairs, by kind of noise; the largest."""
    kinds = ("gaussian", "student-t5", "laplace", "student-t")
    print(
        f"compare: rows flagged |z| >= 3 on no-change pairs of jobs ({series} series x 20 "
        f"pairs each, {COMPARE_HISTORY} history points; Gaussian 3 sigma is 0.27 %)"
    )
    header = f"{'noise':12} {'now':>8} {'before (one value noise)':>26}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for kind in kinds:
        now, before = compare_false_flags(seed, series, kind)
        label = "student-t(3)" if kind == "student-t" else kind
        print(f"{label:12} {now:8.2%} {before:26.2%}")
        if kind != "student-t":
            worst = max(worst, now)
    print()
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--per-step", type=int, default=60, help="series per step size")
    parser.add_argument("--no-change", type=int, default=100, help="series without change")
    parser.add_argument("--quick", action="store_true", help="fewer series, no PELT timing")
    parser.add_argument("--only-vigil", action="store_true", help="skip the baselines")
    args = parser.parse_args()
    per_step, no_change = (12, 40) if args.quick else (args.per_step, args.no_change)
    series = benchmark_set(args.seed, per_step, no_change)
    tuned = " (the tuning seed: figures not independent)" if args.seed == TUNING_SEED else ""
    print(
        f"{len(series)} series (seed {args.seed}{tuned}): {per_step} per step size of "
        f"{', '.join(map(str, STEP_SIZES))} sigma, {no_change} without change; 100 to 500 "
        f"points, Gaussian and Student-t(3) noise, outliers in a third, NaN gaps in 30 %; "
        f"margin {MARGIN} points\n"
    )
    detectors = dict(list(DETECTORS.items())[:1]) if args.only_vigil else DETECTORS
    results = print_detection(detectors, series)

    print(
        f"{'detector':26} {'false alarms (no change)':>26} "
        f"{'ms per 10,000 points, best (median)':>36}"
    )
    timing = timing_series(args.seed)
    times: dict[str, float] = {}
    for name, detector in detectors.items():
        alarms = tally(results[name], step_is(0))
        slow = name.startswith("ruptures")
        if slow and args.quick:
            ms = "(skipped)"
        else:
            best, median = time_detector(detector, timing, 1 if slow else 7)
            times[name] = best * 1000
            ms = f"{best * 1000:.1f} ({median * 1000:.1f})"
        cell = f"{alarms.series_with_alarm}/{alarms.series} = {alarms.false_alarm_rate:.1%}"
        print(f"{name:26} {cell:>26} {ms:>36}")
    print()
    print_gate(args.seed, 100 if args.quick else 400)
    compare_rate = print_compare(args.seed, 100 if args.quick else 500)
    edges = print_edges(args.seed, args.quick, not args.only_vigil)

    names = list(detectors)
    ours = results[names[0]]
    f1_big = {s: tally(ours, step_is(s)).f1 for s in STEP_SIZES[1:]}
    rate = tally(ours, step_is(0)).false_alarm_rate
    ms_ours = times[names[0]]
    print("aims:")
    print(
        "  F1 >= 0.9 on steps >= 2 sigma: "
        + ", ".join(f"{s} sigma {f:.3f}" for s, f in f1_big.items())
        + f" -> {'met' if min(f1_big.values()) >= 0.9 else 'NOT met'}"
    )
    print(f"  false alarms < 5 %: {rate:.1%} -> {'met' if rate < 0.05 else 'NOT met'}")
    print(
        f"  compare false flags on no-change pairs <= {COMPARE_AIM:.1%} (Gaussian, t(5), "
        f"Laplace): worst {compare_rate:.2%} -> "
        + ("met" if compare_rate <= COMPARE_AIM else "NOT met")
    )
    print(
        f"  < 50 ms for 10,000 points: {ms_ours:.1f} ms (best of 7) -> "
        + ("met" if ms_ours < 50 else "NOT met")
    )
    for label, value, aim, at_least in (
        ("4-sigma steps flagged on the first bad run", edges["4 sigma first run"], 0.9, True),
        ("3-sigma steps flagged within 3 points", edges["3 sigma within 3"], 0.8, True),
        ("false alarms on flat series (confirmed)", edges["false alarms per series"], 0.01, False),
        ("false alarms on flat series (per run)", edges["false alarms per run"], 0.01, False),
        ("short-excursion recall", edges["excursion recall"], 0.9, True),
        ("findings per drift series", edges["findings per drift series"], 1.0, False),
        ("stricter alpha not a subset", edges["subset violations"], 0.0, False),
    ):
        met = value >= aim if at_least else value <= aim
        shown = f"{value:.2f}" if label.startswith("findings") else f"{value:.1%}"
        sign = ">=" if at_least else "<="
        print(f"  {label} {sign} {aim:g}: {shown} -> {'met' if met else 'NOT met'}")
    if len(names) > 1:
        better = all(
            f1_big[s] > tally(results[other], step_is(s)).f1
            and rate <= tally(results[other], step_is(0)).false_alarm_rate
            for other in names[1:]
            for s in STEP_SIZES[1:]
        )
        print(
            "  better than both baselines (F1 on every step >= 2 sigma, false alarms): "
            + ("met" if better else "NOT met")
        )


if __name__ == "__main__":
    main()

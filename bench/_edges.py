"""The edge figures of ``bench/changepoints.py``: detection delay, short excursions, drifts,
seasons and the subset property between levels of ``alpha``, for Vigil and its peers.

Each generator is seeded and has a known truth:

- delay: 60 values of noise, then a step of 3, 4 or 6 sigmas (lower is better, so the step
  up is a regression); the new values arrive one at a time and the series is judged after
  each. Vigil is flagged by a suspicion (`vigil.analysis.suspect`) or a confirmed change
  point within 3 values of the step; a peer by a change point within 3 values. False
  alarms: the same procedure on flat series (40 runs each), counted per run (a suspicion
  or change point raised on that run) and per series (a confirmed change point at the
  end).
- excursions: 100 to 300 values with one excursion of 8 to 20 values at 2.5 sigmas; found
  when both ends are within 3 values of a change point.
- drifts: smooth trends (linear, square root, saturating exponential) over 150 to 300
  values; every change point and every drift is one finding (aim: at most one per series).
- seasons: sinusoids of period 7, 30 and 120 values, amplitude 3 sigmas, 300 to 600
  values; change points per series.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from vigil.analysis import analyse_series, change_points, suspect

FloatArray = npt.NDArray[np.float64]
Finder = Callable[[FloatArray], list[int]]

WITHIN = 3


def _noise(rng: np.random.Generator, n: int, kind: str) -> FloatArray:
    if kind == "gaussian":
        return rng.standard_normal(n)
    return rng.standard_t(3, n) / math.sqrt(3.0)


def _standard(x: FloatArray) -> FloatArray:
    d = np.diff(x)
    sigma = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)
    return (x - np.median(x)) / (sigma if sigma > 0 else float(np.std(x)) or 1.0)


def pelt_l1(values: FloatArray) -> list[int]:
    import ruptures

    z = _standard(np.asarray(values, dtype=float))
    breaks = ruptures.Pelt(model="l1", min_size=5, jump=1).fit(z).predict(pen=math.log(z.size))
    return list(breaks[:-1])


def binseg_l2(values: FloatArray) -> list[int]:
    import ruptures

    z = _standard(np.asarray(values, dtype=float))
    breaks = ruptures.Binseg(model="l2", min_size=5, jump=1).fit(z).predict(pen=math.log(z.size))
    return list(breaks[:-1])


def vigil(values: FloatArray) -> list[int]:
    return [cp.index for cp in change_points(values, "lower")]


PEERS: dict[str, Finder] = {"ruptures Pelt (l1)": pelt_l1, "ruptures Binseg (l2)": binseg_l2}


def _first_flag(
    seen: Callable[[int], FloatArray], n0: int, horizon: int, finder: Finder | None
) -> int | None:
    for j in range(1, horizon + 1):
        values = seen(j)
        if finder is None:
            if suspect(values, "lower") is not None:
                return j
            found = vigil(values)
        else:
            found = finder(values)
        if any(abs(i - n0) <= WITHIN for i in found):
            return j
    return None


def delay(seed: int, trials: int, peers: dict[str, Finder]) -> dict[str, dict[str, float]]:
    """Per detector: share of 3, 4 and 6 sigma steps flagged on the first bad run and
    within 3 runs, and the false-alarm rates on flat series."""
    finders: dict[str, Finder | None] = {"vigil (suspect + confirm)": None, **peers}
    results: dict[str, dict[str, float]] = {}
    for name, finder in finders.items():
        rng = np.random.default_rng(seed)
        row: dict[str, float] = {}
        for step in (3, 4, 6):
            first = within = 0
            for i in range(trials):
                kind = "gaussian" if i % 2 == 0 else "student-t"
                base = 100 + _noise(rng, 60, kind)
                new = 100 + step + _noise(rng, 8, kind)
                flagged = _first_flag(
                    lambda j, b=base, w=new: np.concatenate([b, w[:j]]), 60, 8, finder
                )
                first += flagged == 1
                within += flagged is not None and flagged <= 3
            row[f"{step}s 1st run"] = first / trials
            row[f"{step}s <= 3 runs"] = within / trials
        runs = raised = series_alarms = 0
        for i in range(max(10, trials // 4)):
            kind = "gaussian" if i % 2 == 0 else "student-t"
            x = 100 + _noise(rng, 100, kind)
            before: set[int] = set()
            for end in range(61, 101):
                runs += 1
                values = x[:end]
                found = set(vigil(values) if finder is None else finder(values))
                alarm = bool(found - before)
                if finder is None:
                    alarm = alarm or suspect(values, "lower") is not None
                raised += alarm
                before = found
            series_alarms += bool(vigil(x) if finder is None else finder(x))
        row["false / run"] = raised / runs
        row["false / series"] = series_alarms / max(10, trials // 4)
        results[name] = row
    return results


def excursions(seed: int, trials: int, finders: dict[str, Finder]) -> dict[str, float]:
    """Share of excursions whose both ends are found, per detector."""
    found = dict.fromkeys(finders, 0)
    total = 0
    rng = np.random.default_rng(seed)
    lengths = (8, 10, 12, 14, 17, 20)
    for i in range(trials):
        length = lengths[i % len(lengths)]
        n = int(rng.integers(100, 300))
        x = _noise(rng, n, "gaussian")
        start = int(rng.integers(30, n - 30 - length))
        x[start : start + length] += 2.5 * float(rng.choice([-1.0, 1.0]))
        total += 1
        for name, finder in finders.items():
            indices = finder(x)
            found[name] += all(
                any(abs(k - end) <= WITHIN for k in indices) for end in (start, start + length)
            )
    return {name: count / total for name, count in found.items()}


TRENDS: dict[str, Callable[[FloatArray, int], FloatArray]] = {
    "linear": lambda t, n: 0.1 * t,
    "square root": lambda t, n: 20 * np.sqrt((t + 1) / n),
    "saturating": lambda t, n: 8 * (1 - np.exp(-t / (n / 4))),
}


def drifts(seed: int, trials: int, finders: dict[str, Finder]) -> dict[str, dict[str, float]]:
    """Findings per drift series (change points, plus drifts for Vigil), per trend."""
    out: dict[str, dict[str, float]] = {name: {} for name in ["vigil", *finders]}
    for label, trend in TRENDS.items():
        rng = np.random.default_rng(seed)
        counts: dict[str, list[int]] = {name: [] for name in out}
        for _ in range(trials):
            n = int(rng.integers(150, 300))
            x = trend(np.arange(n, dtype=float), n) + rng.standard_normal(n)
            analysis = analyse_series(x, "lower")
            counts["vigil"].append(len(analysis.change_points) + len(analysis.drifts))
            for name, finder in finders.items():
                counts[name].append(len(finder(x)))
        for name, values in counts.items():
            out[name][label] = float(np.mean(values))
    return out


def seasons(seed: int, trials: int, finders: dict[str, Finder]) -> dict[str, dict[str, float]]:
    """Change points per periodic series, per period."""
    out: dict[str, dict[str, float]] = {name: {} for name in finders}
    for period in (7, 30, 120):
        rng = np.random.default_rng(seed + period)
        counts: dict[str, list[int]] = {name: [] for name in finders}
        for _ in range(trials):
            n = int(rng.integers(300, 600))
            t = np.arange(n)
            x = 3 * np.sin(2 * math.pi * t / period + rng.uniform(0, 6)) + rng.standard_normal(n)
            for name, finder in finders.items():
                counts[name].append(len(finder(x)))
        for name, values in counts.items():
            out[name][f"period {period}"] = float(np.mean(values))
    return out


def subset_violations(seed: int, trials: int) -> float:
    """Share of series on which a stricter alpha found a change point a laxer one did not."""
    rng = np.random.default_rng(seed)
    alphas = (0.05, 0.01, 0.001, 1e-4)
    bad = 0
    for _ in range(trials):
        n = int(rng.integers(60, 300))
        x = rng.standard_normal(n)
        for _ in range(int(rng.integers(0, 4))):
            start = int(rng.integers(5, n - 5))
            x[start : start + int(rng.integers(5, 40))] += rng.normal(0, 2.5)
        found = [{cp.index for cp in change_points(x, alpha=a)} for a in alphas]
        bad += any(not strict <= lax for lax, strict in itertools.pairwise(found))
    return bad / trials


def print_edges(seed: int, quick: bool, with_peers: bool) -> dict[str, float]:
    """Print every edge table; return Vigil's figures for the aims."""
    peers = PEERS if with_peers else {}
    finders: dict[str, Finder] = {"vigil": vigil, **peers}
    trials = 60 if quick else 300
    start = time.perf_counter()

    table = delay(seed, trials, peers)
    print(
        f"detection delay: a step after 60 values, judged as each new value arrives "
        f"({trials} steps per size, Gaussian and Student-t noise; flagged within "
        f"{WITHIN} values of the step)"
    )
    columns = list(next(iter(table.values())))
    print(f"{'detector':28} " + " ".join(f"{c:>13}" for c in columns))
    for name, row in table.items():
        print(f"{name:28} " + " ".join(f"{row[c]:13.1%}" for c in columns))
    print("(s: noise sigmas; false / run: flat runs raising a suspicion or a new change point;")
    print(" false / series: flat series ending with a confirmed change point)")
    print()

    recall = excursions(seed, trials, finders)
    print("short excursions (8 to 20 values at 2.5 sigma): both ends found")
    for name, value in recall.items():
        print(f"  {name:28} {value:6.1%}")
    print()

    per_drift = drifts(seed, max(20, trials // 5), peers)
    print("findings per drift series (change points; for Vigil also drifts)")
    labels = list(TRENDS)
    print(f"  {'detector':28} " + " ".join(f"{label:>12}" for label in labels))
    for name, row in per_drift.items():
        print(f"  {name:28} " + " ".join(f"{row[label]:12.2f}" for label in labels))
    print()

    per_season = seasons(seed, max(10, trials // 10), finders)
    print("change points per periodic series (amplitude 3 sigma)")
    periods = list(next(iter(per_season.values())))
    print(f"  {'detector':28} " + " ".join(f"{p:>12}" for p in periods))
    for name, row in per_season.items():
        print(f"  {name:28} " + " ".join(f"{row[p]:12.2f}" for p in periods))
    print()

    violations = subset_violations(seed, trials)
    print(f"stricter alpha finding what a laxer one did not: {violations:.1%} of series")
    print(f"(edge figures in {time.perf_counter() - start:.0f} s)\n")
    ours = table["vigil (suspect + confirm)"]
    return {
        "4 sigma first run": ours["4s 1st run"],
        "3 sigma within 3": ours["3s <= 3 runs"],
        "false alarms per series": ours["false / series"],
        "false alarms per run": ours["false / run"],
        "excursion recall": recall["vigil"],
        "findings per drift series": max(per_drift["vigil"].values()),
        "subset violations": violations,
    }

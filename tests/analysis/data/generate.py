"""Write the analysis test series (run once; the CSV files are committed).

    .venv/bin/python tests/analysis/data/generate.py

Each ``<name>.csv`` holds one value a line (an empty line is a missing value); the
expected answers are in ``cases.json``, written by hand from how each series is built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def write(name: str, values: np.ndarray | list[float]) -> None:
    lines = ["" if not np.isfinite(v) else f"{v:.6g}" for v in np.asarray(values, float)]
    (HERE / f"{name}.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = np.random.default_rng(20240521)
    normal = rng.normal
    # A latency-like metric goes up by 4 sigma after 60 nights.
    write("step_up", np.r_[normal(10, 0.5, 60), normal(12, 0.5, 60)])
    # A completeness-like metric drops by 5 sigma after 80 nights.
    write("step_down", np.r_[normal(5, 0.3, 80), normal(3.5, 0.3, 40)])
    # Up 3 sigma at 50, down 2 sigma at 110.
    write("two_steps", np.r_[normal(0, 1, 50), normal(3, 1, 60), normal(1, 1, 50)])
    write("no_change_gaussian", normal(100, 2, 200))
    write("no_change_student_t", 50 + rng.standard_t(2, 200))
    single = normal(0, 1, 100)
    single[40] = 50
    write("single_outlier", single)
    burst = normal(20, 1, 120)
    burst[60:63] += 15
    write("outlier_burst", burst)
    # A step at position 70 with missing values around it: 65-69 and scattered ones.
    gaps = np.r_[normal(1, 0.1, 70), normal(1.5, 0.1, 70)]
    gaps[[3, 17, 18, 19, 40, 65, 66, 67, 68, 69, 90, 91, 130]] = np.nan
    write("nan_gaps", gaps)
    write("constant", [3.0] * 50)
    write("too_short", normal(0, 1, 7))
    write("all_nan", [np.nan] * 20)
    # A 15-night excursion of 4 sigma in the middle of 150 nights.
    bump = normal(0, 1, 150)
    bump[70:85] += 4
    write("bump", bump)
    # A count that never varies except for one lasting jump.
    write("quantized", [100.0] * 40 + [103.0] * 40)
    # A regression in the last 8 of 100 nights.
    write("end_step", np.r_[normal(10, 1, 92), normal(15, 1, 8)])
    # Gate baselines.
    write("baseline", normal(10, 0.5, 40))
    write("baseline_heavy", 10 + 0.5 * rng.standard_t(3, 40))
    # A baseline whose level moved up 4 sigma 15 nights ago.
    write("baseline_moved", np.r_[normal(10, 0.5, 40), normal(12, 0.5, 15)])


if __name__ == "__main__":
    main()

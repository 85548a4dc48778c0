"""The hover's value formatter: the JavaScript that BokehJS runs, run by Node.js, gives
the same text as the pages' `fmt_value` (values around 1e-5 are not rounded to 0)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest

from vigil import plots
from vigil.server.handlers.web._format import fmt_value

NODE = shutil.which("node")

VALUES = [
    2.963023092854847e-05,  # validate_drp.TE1 of the conformance verify_job.json
    2.3541785266530193e-06,  # validate_drp.TE2
    -1.5e-7,
    0.0,
    0.001,
    0.0123456,
    5.41,
    10.0,
    16.72336186802337,
    541000.0,
    999999.0,
    1e6,
    12345678.0,
    -42.1357,
]

RUN = """
const format = new Function("value", process.argv[1])
const values = JSON.parse(require("fs").readFileSync(0, "utf8"))
console.log(JSON.stringify(values.map((v) => format(v === null ? NaN : v))))
"""


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_hover_shows_what_the_pages_show() -> None:
    assert NODE is not None
    values = [*VALUES, math.nan]
    out = subprocess.run(
        [NODE, "-e", RUN, plots.SIGNIFICANT],
        input=json.dumps([None if math.isnan(v) else v for v in values]),
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(out.stdout)
    assert shown == [fmt_value(v) for v in values]
    assert shown[:2] == ["2.963e-05", "2.354e-06"]
    assert shown[VALUES.index(541000.0)] == "5.41e+05"


def test_the_series_hover_uses_it() -> None:
    import pandas as pd
    from bokeh.models import CustomJSHover, HoverTool

    df = pd.DataFrame(
        {
            "value": [2.9e-5, 3.1e-5],
            "time": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "branch": ["main", "main"],
            "job_id": [1, 2],
        }
    )
    fig = plots.series_plot(df)
    hover = next(t for t in fig.tools if isinstance(t, HoverTool) and t.formatters)
    assert isinstance(hover.tooltips, list)
    assert ("value", "@value{significant}") in hover.tooltips
    formatter = hover.formatters["@value"]
    assert isinstance(formatter, CustomJSHover) and formatter.code == plots.SIGNIFICANT

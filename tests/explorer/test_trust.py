"""The explorer tells the truth: exact ids, unknown for what cannot be read, the band's
visits only, a notebook that opens anywhere, a ranked comparison, honest large plots."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models.annotations import ColorBar
from bokeh.models.mappers import LinearColorMapper

from vigil.compute import compute_repository
from vigil.compute.errors import ComputeError
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import _views
from vigil.explorer._rollup import rollup
from vigil.explorer.app import ALL, DATASHADE_ROWS, Explorer, create_explorer
from vigil.explorer.query import Repository


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 8,000 objects and six visits, metrics computed."""
    root = tmp_path_factory.mktemp("trust") / "demo"
    made = generate_catalog(root, tracts=2, objects_per_tract=8000, visits=6, seed=11)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def rerun(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tracts and visits drawn with another seed: every value differs a little."""
    root = tmp_path_factory.mktemp("trust-rerun") / "rerun"
    generate_catalog(root, tracts=2, objects_per_tract=8000, visits=6, seed=12)
    compute_repository(root)
    return root


def _explorer(root: Path, other: Path | None = None) -> Explorer:
    found: Explorer = create_explorer(root, other).explorer  # type: ignore[attr-defined]
    return found


# -- 64-bit ids ----------------------------------------------------------------------------


def test_ids_beyond_javascript_numbers_travel_as_exact_text(catalog: DemoCatalog) -> None:
    explorer = _explorer(catalog.root)
    explorer.open_metric("psf_snr_i", {"tract": 9813, "patch": 40})
    frame = explorer.sources_frame()
    ids = frame["objectId"]
    assert ids.max() > 2**53  # HSC ids: a JavaScript number rounds them
    view: Any = explorer.sources_view()
    shown = next(p for p in view.select(pn.widgets.Tabulator)).value
    assert list(shown["objectId"]) == [str(int(i)) for i in ids]
    # Small integer keys stay numbers; a float column is left alone.
    assert shown["tract"].dtype.kind == "i" and shown["value"].dtype.kind == "f"


def test_exact_ids_keeps_small_integers() -> None:
    frame = pd.DataFrame({"objectId": [43162995395672079, 1], "visit": [1228, 1230]})
    out = _views.exact_ids(frame)
    assert list(out["objectId"]) == ["43162995395672079", "1"]
    assert out["visit"].tolist() == [1228, 1230]
    assert frame["objectId"].dtype.kind == "i"  # the input is not changed


# -- unknown, never ok -----------------------------------------------------------------------


def test_an_unreadable_metric_file_makes_the_metric_unknown(
    catalog: DemoCatalog, tmp_path: Path
) -> None:
    """The file holding the planted bad patch is unreadable: the rest is in range, and
    the quick look says unknown (with the file), not ok."""
    root = tmp_path / "unreadable"
    shutil.copytree(catalog.root, root)
    patch = catalog.problem("bad_patch")
    hidden = root / "metrics" / patch.metric / f"tract={patch.data_id['tract']}.parquet"
    hidden.write_bytes(hidden.read_bytes()[:100])
    fine = root / "metrics" / "visit_psf_size_residual_g" / "visit=1228.parquet"
    fine.write_bytes(b"PAR1 not parquet PAR1")
    with Repository(root) as repo:
        table = rollup(repo).set_index("metric")
    for metric, path in ((patch.metric, hidden), ("visit_psf_size_residual_g", fine)):
        assert table.loc[metric, "status"] == "unknown", metric
        assert path.name in table.loc[metric, "reason"]
    assert table.loc["psf_size_residual_r", "status"] == "bad"  # its own files are fine
    assert table.loc["psf_size_residual_r", "reason"] == ""
    view = create_explorer(root)
    quicklook = next(
        t
        for t in view.select(pn.widgets.Tabulator)
        if isinstance(t, pn.widgets.Tabulator) and "reason" in t.value
    )
    styles = quicklook.style.to_html() if quicklook.style is not None else ""
    assert "#d6d8db" in styles  # grey, not the green of ok


def test_a_metric_that_fails_is_unknown_with_the_reason(
    catalog: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Repository(catalog.root) as repo:
        original = repo.aggregate_levels

        def failing(metric: str, *args: Any, **kwargs: Any) -> list[pd.DataFrame]:
            if metric == "visit_psf_size_residual_g":
                raise ComputeError("planted failure")
            return original(metric, *args, **kwargs)

        monkeypatch.setattr(repo, "aggregate_levels", failing)
        row = rollup(repo).set_index("metric").loc["visit_psf_size_residual_g"]
    assert row["status"] == "unknown"
    assert row["reason"] == "cannot be computed: planted failure"


# -- the band's visits ---------------------------------------------------------------------------


def test_the_visit_list_follows_the_band(catalog: DemoCatalog) -> None:
    explorer = _explorer(catalog.root)
    with Repository(catalog.root) as repo:
        visits = repo.visits()
    by_band = {b: sorted(visits[visits["band"] == b]["visit"]) for b in ("g", "i")}
    explorer.open_metric("visit_psf_size_residual_i")
    assert explorer.param.visit.objects == [ALL, *by_band["i"]]
    # A g-band visit asked for an i-band metric (a link, a drill) is not taken.
    explorer.apply_selection({"metric": "visit_psf_size_residual_i", "visit": by_band["g"][0]})
    assert explorer.visit == ALL
    with pytest.raises(ValueError):
        explorer.visit = by_band["g"][0]
    # A g-band visit chosen, then an i-band metric: the visit is forgotten, nothing fails.
    explorer.open_metric("visit_psf_size_residual_g", {"visit": by_band["g"][0]})
    assert explorer.visit == by_band["g"][0]
    explorer.metric = "visit_psf_size_residual_i"
    assert explorer.visit == ALL and explorer.param.visit.objects == [ALL, *by_band["i"]]
    plots: Any = explorer.metric_view()
    assert len(plots) == 2
    assert "visit" in str(explorer.groups_view())  # the i-band visits are listed


def test_a_selection_without_values_draws_empty_plots(
    catalog: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    explorer = _explorer(catalog.root)
    explorer.open_metric("visit_psf_size_residual_i")
    monkeypatch.setattr(explorer, "where", lambda: {"visit": 1228})  # a g-band visit
    frame = explorer.values_frame()
    assert frame.empty and {"coord_ra", "coord_dec", "mag", "value"} <= set(frame.columns)
    plots: Any = explorer.metric_view()
    assert plots[0].object.data.empty


# -- the notebook ------------------------------------------------------------------------------

_RUN_CELLS = """
import json, sys
notebook = json.load(open(sys.argv[1]))
scope = {}
for cell in notebook["cells"]:
    if cell["cell_type"] == "code":
        exec("".join(cell["source"]), scope)
values = scope["values"]
print(json.dumps({"rows": len(values), "median": float(values["value"].median())}))
"""


def test_the_notebook_opens_from_any_folder(
    catalog: DemoCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made from a repository given by a relative path, run headless in another folder."""
    monkeypatch.chdir(catalog.root.parent)
    explorer = _explorer(Path(catalog.root.name))
    assert not explorer.repo.path.is_absolute()
    explorer.open_metric("psf_size_residual_i", {"tract": 9814, "patch": 40})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    notebook = elsewhere / "vigil-explore.ipynb"
    notebook.write_bytes(explorer.notebook_bytes().getvalue())
    assert f"Repository({str(catalog.root.resolve())!r})" in notebook.read_text().replace(
        "\\\\", "\\"
    )
    result = subprocess.run(
        [sys.executable, "-c", _RUN_CELLS, notebook.name],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    expected = explorer.values_frame()
    assert answer["rows"] == len(expected) > 0
    assert answer["median"] == pytest.approx(float(expected["value"].median()))


# -- the comparison -------------------------------------------------------------------------------


def _compared(explorer: Explorer) -> pd.DataFrame:
    column: Any = explorer.comparison()
    frame: pd.DataFrame = next(part for part in column if part.name == "comparison").object
    return frame


def test_the_comparison_follows_the_selection_and_ranks_by_difference(
    catalog: DemoCatalog, rerun: Path
) -> None:
    explorer = _explorer(catalog.root, rerun)
    explorer.open_metric("psf_size_residual_i")
    every = _compared(explorer)
    assert list(every.columns[:2]) == ["tract", "patch"] and len(every) == 162
    sizes = every["delta"].abs().to_numpy()
    assert (np.diff(sizes) <= 0).all() and sizes[0] > sizes[-1]  # largest change first
    explorer.tract = 9814
    one = _compared(explorer)
    assert set(one["tract"]) == {9814} and len(one) == 81
    explorer.open_metric("visit_psf_size_residual_i", {"visit": 1236})
    detectors = _compared(explorer)
    assert set(detectors["visit"]) == {1236} and "detector" in detectors
    both = detectors[detectors["missing"] == ""]
    assert (np.diff(both["delta"].abs().to_numpy()) <= 0).all()
    assert (detectors["missing"] != "").sum() == detectors["delta"].isna().sum()


def test_missing_groups_come_first_and_say_so(catalog: DemoCatalog, tmp_path: Path) -> None:
    other = tmp_path / "one-tract"
    shutil.copytree(catalog.root, other)
    for path in (other / "metrics").glob("*/tract=9814.parquet"):
        path.unlink()
    (other / "objects" / "tract=9814.parquet").unlink()
    explorer = _explorer(catalog.root, other)
    explorer.open_metric("psf_size_residual_i")
    frame = _compared(explorer)
    lacking = frame["missing"] != ""
    assert lacking.sum() == 81 and lacking.iloc[:81].all()
    assert set(frame.loc[lacking, "missing"]) == {"missing in one-tract"}
    column: Any = explorer.comparison()
    title = next(part for part in column if part.name == "comparison-title").object
    assert "81 group(s) missing on one side" in title


# -- large plots and the quick look's values -----------------------------------------------------


def _rendered(pane: Any) -> Any:
    return hv.render(pane.object, backend="bokeh")


def test_large_plots_keep_titles_axes_and_robust_colours() -> None:
    rng = np.random.default_rng(3)
    rows = DATASHADE_ROWS + 5000
    frame = pd.DataFrame(
        {
            "coord_ra": rng.uniform(149.0, 151.0, rows),
            "coord_dec": rng.uniform(1.0, 3.0, rows),
            "mag": rng.uniform(17.0, 25.0, rows),
            "value": rng.normal(0.0, 1.0, rows),
        }
    )
    frame.loc[:9, "value"] = 1e6  # a few wild outliers
    for size in (len(frame), 2000):
        part = frame.iloc[:size] if size < len(frame) else frame
        row: Any = _views.metric_plots(part, "psf_snr_i", DATASHADE_ROWS)
        scatter, sky = (_rendered(pane) for pane in row)
        assert scatter.title.text.startswith(f"psf_snr_i ({size:,} sources)")
        assert (scatter.xaxis[0].axis_label, scatter.yaxis[0].axis_label) == (
            "magnitude",
            "psf_snr_i",
        )
        assert (sky.xaxis[0].axis_label, sky.yaxis[0].axis_label) == ("RA (deg)", "Dec (deg)")
        assert sky.title.text == "psf_snr_i on the sky"
        flipped = getattr(sky.x_range, "flipped", None)
        if flipped is None:  # an explicit range: the start is the larger end
            flipped = sky.x_range.start > sky.x_range.end
        assert flipped  # RA grows to the left
        mapper = next(iter(sky.select(ColorBar))).color_mapper
        assert isinstance(mapper, LinearColorMapper)
        assert mapper.low is not None and mapper.high is not None
        low, high = np.percentile(part["value"], [1, 99])
        assert (mapper.low, mapper.high) == pytest.approx((low, high))
        assert mapper.high < 10  # the outliers do not stretch the scale


def test_the_quick_look_shows_the_value_the_api_gives_for_a_fit(catalog: DemoCatalog) -> None:
    with Repository(catalog.root) as repo:
        expected = float(repo.aggregate("stellar_locus_width")["value"].iloc[0])
        row = rollup(repo).set_index("metric").loc["stellar_locus_width"]
    assert np.isfinite(expected)
    assert row["value"] == pytest.approx(expected)
    assert row["status"] == "ok"


def test_the_notebook_of_a_fit_shows_its_aggregates_only(catalog: DemoCatalog) -> None:
    from vigil.explorer.notebook import make_notebook

    explorer = _explorer(catalog.root)
    explorer.open_metric("stellar_locus_width", {"tract": 9814})
    text = explorer.notebook_bytes().getvalue().decode()
    assert "repo.aggregate(metric, by, where or None)" in text
    assert "repo.values" not in text  # a fit has no per-source values
    assert "repo.values" in json.dumps(make_notebook(catalog.root, metric="psf_snr_i"))
